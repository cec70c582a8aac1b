"""Observables in datasets (`jaxglass spectra DATASET`), study targets and per-channel scaling."""

import dataclasses
import functools
import json
import warnings

import numpy as np
import pytest
from scipy import constants as sc

from jaxglass import cli, data, observables, phonons, study, units
from jaxglass.data import observables as dob
from jaxglass.models import Standardizer, fit_ridge, predict
from jaxglass.potentials import kob_andersen


def _rec(out, k):
    return data.read_record(out / "structures" / f"{k:05d}.npz")


def _direct(out, k, cfg, ocfg):
    """The observables of record k from the observables module, with the LJ → argon mapping written
    out here from CODATA constants (not through jaxglass.data.observables)."""
    s = data.load_structure(out, k)
    m = phonons.modes(kob_andersen(), s)
    c = np.sqrt(119.8 * sc.k / (39.948 * sc.atomic_mass * 3.405e-10**2)) / (2 * np.pi) / 1e12  # THz/ω
    phys = dataclasses.replace(s, positions=s.positions * 3.405, box=s.box * 3.405,
                               masses=np.full(s.n_atoms, 39.948))
    f, v, g, sig = np.asarray(m.frequencies) * c, m.eigenvectors, cfg.freq_grid() * c, cfg.freq_sigma * c
    per = units.THZ_TO_MEV * c  # per meV → per LJ ω unit
    T = 0.1 * 119.8
    q = np.linspace(1.0, 8.0, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a soft imaginary mode, if any
        nd = observables.neutron_dos(phys, f, g, sig, eigenvectors=v, cross_sections={"A": 18.5, "B": 3.312})
        ins = observables.ins_sqw(phys, f, q, g, sig, T, eigenvectors=v, lengths={"A": 10.3, "B": 5.13})
        ixs = observables.ixs_sqw(phys, f, q, g, sig, T, eigenvectors=v, form_factors={"A": 28.0, "B": 15.0})
        ram = np.asarray(observables.shuker_gammon(f, g, sig, T).intensity)  # 2D: Shuker-Gammon
    return dict(ndos_total=np.asarray(nd.intensity) * per, ndos_partial=np.asarray(nd.partial) * per,
                ins_sqw=np.asarray(ins.intensity) * per, ixs_sqw=np.asarray(ixs.intensity) * per,
                ins_powder_err=np.asarray(ins.powder_error), ixs_powder_err=np.asarray(ixs.powder_error),
                raman=ram / np.trapezoid(ram, cfg.freq_grid()))


def _interrupting(real, at: int):
    """``real`` that raises KeyboardInterrupt (Ctrl-C) on its ``at``-th call instead of returning."""
    calls = []

    def wrapped(*a, **kw):
        calls.append(1)
        if len(calls) == at:
            raise KeyboardInterrupt
        return real(*a, **kw)

    return wrapped


def test_extend_dataset_is_resumable_and_matches_direct_observables(tmp_path, toy, monkeypatch):
    out = tmp_path / "ds"
    data.build_dataset(out, toy, progress=False,
                       compute=functools.partial(data.compute_record, observables=False))
    before = {k: _rec(out, k) for k in range(4)}
    assert not any(key in before[0] for key in dob.OBS_KEYS)
    ocfg = dob.default_observable_config("lj2d")
    assert ocfg.temperature == pytest.approx(11.98)
    # Ctrl-C in the middle of record 2: records 0, 1 are finished, 2 is untouched (still readable)
    real = dob.compute_observables
    monkeypatch.setattr(dob, "compute_observables", _interrupting(real, 3))
    with pytest.raises(KeyboardInterrupt):
        dob.extend_dataset(out, progress=False)
    monkeypatch.setattr(dob, "compute_observables", real)
    assert dob.has_observables(_rec(out, 1), ocfg) and not dob.has_observables(_rec(out, 2), ocfg)
    assert not list((out / "structures").glob(".*tmp*"))  # no temp file left behind
    # resume: only the missing records; then nothing
    assert dob.extend_dataset(out, limit=1, progress=False) == [2]
    from jaxglass import modes

    monkeypatch.setattr(modes, "EIGH_REPORT_MIN_DOF", 10)  # the toy's dense solves announce themselves
    assert dob.extend_dataset(out, progress=False) == [3]
    assert dob.extend_dataset(out, progress=False) == []
    log = (out / "build.log").read_text()
    assert "spectra: finished" in log and "spectra: 00003 dense eigen-solve" in log
    assert "spectra: 00002 dense eigen-solve" not in log
    for k in range(4):
        rec = _rec(out, k)
        for key, val in before[k].items():  # every earlier array is unchanged
            assert np.array_equal(rec[key], val), key
        ref = _direct(out, k, toy, ocfg)
        for key, val in ref.items():
            np.testing.assert_allclose(rec[key], val, rtol=1e-9, atol=1e-12 * np.abs(val).max(), err_msg=key)
        np.testing.assert_allclose(rec["ndos_partial"].sum(0), rec["ndos_total"], rtol=1e-12)
        assert np.trapezoid(rec["raman"], toy.freq_grid()) == pytest.approx(1.0)
    # the neutron DOS integrates (over meV) to d · mean(σ M_avg/M) = 2 · mean σ in mbarn
    rec = _rec(out, 3)
    sig = np.where(rec["species"] == 0, 18.5, 3.312).mean() * 1e3
    assert np.trapezoid(rec["ndos_total"], toy.freq_grid()) == pytest.approx(2 * sig, rel=0.02)
    # manifest: grids, units and the LJ mapping; load_dataset stacks the arrays
    man = json.loads((out / "manifest.json").read_text())["observables"]
    assert man["q"] == pytest.approx(list(np.linspace(1, 8, 8))) and "mbarn" in man["units"]["ins_sqw"]
    assert man["lj_mapping"]["thz_per_omega"] == pytest.approx(dob.lj_thz_per_omega())
    ds = data.load_dataset(out)
    assert ds.observables["ins_sqw"].shape == (4, 8, toy.n_freq)
    Y, label, unit = study.targets(ds, "ins")
    np.testing.assert_allclose(Y, ds.observables["ins_sqw"].mean(1))
    assert "INS" in label and "mbarn" in unit
    # a different temperature is refused for a dataset extended at another one
    with pytest.raises(ValueError, match="same settings"):
        dob.extend_dataset(out, dataclasses.replace(ocfg, temperature=50.0), progress=False)


def test_generate_stores_observables_equal_to_extension(tmp_path, toy):
    out = tmp_path / "ds"
    small = dataclasses.replace(toy, n_structures=2)
    data.build_dataset(out, small, progress=False)  # compute_record computes the observables
    rec = _rec(out, 1)
    ocfg = dob.default_observable_config("lj2d")
    assert dob.has_observables(rec, ocfg) and dob.extend_dataset(out, progress=False) == []
    assert rec["ins_powder_err"].shape == rec["ixs_powder_err"].shape == (8,)
    ref = _direct(out, 1, small, ocfg)
    for key, val in ref.items():
        np.testing.assert_allclose(rec[key], val, rtol=1e-9, atol=1e-12 * np.abs(val).max(), err_msg=key)
    assert set(data.load_dataset(out).observables) >= {"ndos_total", "ins_sqw", "ixs_sqw", "raman"}


def test_channel_scaling_one_scale_per_partial():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20, 3, 12)) * np.array([1.0, 10.0, 0.1])[None, :, None] + 2.0
    s = Standardizer.make(X, scaling="channel")
    for c in range(3):  # one scale per channel: sqrt of the channel's mean column variance
        assert np.allclose(s.scale[c], np.sqrt(X[:, c].var(0).mean()))
    flat = Standardizer.make(X.reshape(20, -1), scaling="channel", feature_shape=(3, 12))
    np.testing.assert_allclose(flat.scale, s.scale.reshape(-1))
    np.testing.assert_allclose(flat.mean, s.mean.reshape(-1))
    # a single channel (total g(r), targets) is the pooled scaling
    p, q = Standardizer.make(X[:, 0], scaling="channel"), Standardizer.fit_pooled(X[:, 0])
    np.testing.assert_allclose(p.scale, q.scale) and np.testing.assert_allclose(p.mean, q.mean)
    with pytest.raises(ValueError, match="feature_shape"):
        Standardizer.make(X.reshape(20, -1), scaling="channel", feature_shape=(4, 12))
    # ridge with per-channel scaling is invariant to rescaling one partial (units of g_BB do not
    # change its weight in the penalty); one pooled scale is not
    Y = X[:, 0, :5] * 0.3 - X[:, 1, 2:7] * 0.02 + 0.1 * rng.standard_normal((20, 5))
    X2 = X.copy()
    X2[:, 2] *= 1e3
    for scaling, same in (("channel", True), ("pooled", False)):
        a = predict(fit_ridge(X, Y, 1e-2, scaling=scaling), X)
        b = predict(fit_ridge(X2, Y, 1e-2, scaling=scaling), X2)
        assert np.allclose(a, b, rtol=1e-8, atol=1e-10) == same, scaling


def test_cli_spectra_dataset_and_study_target_ins(tmp_path, toy_family, capsys):
    pytest.importorskip("matplotlib")
    ds_dir = tmp_path / "ds"
    cfg = data.DatasetConfig.make("lj2d", 10, n_atoms=64, n_freq=120, n_r=60, r_max=2.5)
    data.build_dataset(ds_dir, cfg, progress=False,
                       compute=functools.partial(data.compute_record, observables=False))
    argv = ["study", "--system", "lj2d", "--dataset", str(ds_dir), "--out", str(tmp_path / "st"),
            "--target", "ins", "--train-sizes", "5", "--n-seeds", "1", "--cnn-max-epochs", "5",
            "--models", "ridge", "cnn", "--features", "partial", "--quiet"]
    assert cli.main(argv) == 2
    assert "jaxglass spectra DATASET" in capsys.readouterr().err
    assert cli.main(["spectra", str(ds_dir), "--quiet"]) == 0
    assert "10 record(s)" in capsys.readouterr().out
    assert cli.main(["spectra", str(tmp_path)]) == 2  # a directory that is no dataset
    assert "not a jaxglass dataset" in capsys.readouterr().err
    assert cli.main(argv) == 0
    res = json.loads((tmp_path / "st" / "study.json").read_text())
    assert res["target"] == "ins" and res["config"]["scaling"] == "channel"
    assert res["mse_units"] == "(mbarn/atom per LJ omega unit)^2" and res["n_freq"] == 120
    assert res["feature_shape"] == [3, 60]
    ridge = next(r for r in res["models"] if r["model"] == "ridge")
    # the same numbers from the library, on the Q-averaged INS target
    ds = data.load_dataset(ds_dir)
    X, Y = study.features(ds, "partial"), ds.observables["ins_sqw"].mean(1)
    tr, te = study.split_indices(ds.knob, 0.2, 0)
    model, _ = study.fit_ridge_cv(X[tr], Y[tr], study.StudyConfig(train_sizes=(5,)))
    mse = study.scores(Y[te], study.predict_any(model, X[te]))["mse"]
    assert mse == pytest.approx(ridge["mse"], rel=1e-10)
    assert "INS" in (tmp_path / "st" / "study.md").read_text()


def test_export_import_keeps_observables(tmp_path, toy):
    out = tmp_path / "ds"
    data.build_dataset(out, dataclasses.replace(toy, n_structures=2), progress=False)
    data.export_dataset(out, tmp_path / "x.npz")
    back = tmp_path / "back"
    assert data.import_dataset(tmp_path / "x.npz", back) == [0, 1]
    a, b = _rec(out, 1), _rec(back, 1)
    assert str(a["obs_config"]) == str(b["obs_config"])
    for key in ("ndos_total", "ins_sqw", "ixs_sqw", "ins_powder_err", "raman"):  # stored as float32
        np.testing.assert_allclose(b[key], a[key], rtol=1e-6, atol=1e-6 * np.abs(a[key]).max())
    assert dob.extend_dataset(back, progress=False) == []  # nothing left to compute


def test_spectra_recompute_replaces_older_observables_resumably(tmp_path, toy, monkeypatch, capsys):
    """Observables of other settings (here the former fixed set of Fibonacci directions) are refused
    by a plain `jaxglass spectra DATASET`, replaced by `--recompute` one atomic record at a time, and
    an interrupted recompute finishes with the same command, leaving every other array untouched."""
    out = tmp_path / "ds"
    small = dataclasses.replace(toy, n_structures=3)
    data.build_dataset(out, small, progress=False,
                       compute=functools.partial(data.compute_record, observables=False))
    legacy = dataclasses.replace(dob.default_observable_config("lj2d"), n_directions=4)
    assert dob.extend_dataset(out, legacy, progress=False, recompute=True) == [0, 1, 2]
    before = {k: _rec(out, k) for k in range(3)}
    with pytest.raises(ValueError, match="--recompute"):
        dob.extend_dataset(out, progress=False)
    real = dob.compute_observables
    monkeypatch.setattr(dob, "compute_observables", _interrupting(real, 2))
    assert cli.main(["spectra", str(out), "--recompute", "--quiet"]) == 130
    monkeypatch.setattr(dob, "compute_observables", real)
    ocfg = dob.default_observable_config("lj2d")
    assert dob.has_observables(_rec(out, 0), ocfg) and not dob.has_observables(_rec(out, 1), ocfg)
    assert str(_rec(out, 1)["obs_config"]) == legacy.to_json()  # untouched by the interruption
    assert data.load_dataset(out).observables == {}  # mixed settings: not served to the study
    capsys.readouterr()
    assert cli.main(["spectra", str(out), "--quiet"]) == 0  # resumes (the manifest names the new settings)
    assert "2 record(s)" in capsys.readouterr().out
    assert dob.extend_dataset(out, progress=False, recompute=True) == []
    for k in range(3):
        rec = _rec(out, k)
        for key in data.RECORD_KEYS:
            assert np.array_equal(rec[key], before[k][key]), key
        for key, val in _direct(out, k, small, ocfg).items():
            np.testing.assert_allclose(rec[key], val, rtol=1e-9, atol=1e-12 * np.abs(val).max(), err_msg=key)
    ds = data.load_dataset(out)
    assert ds.observables["ins_powder_err"].shape == (3, 8)
    man = json.loads((out / "manifest.json").read_text())["observables"]
    assert man["config"]["n_directions"] is None and man["units"]["ins_powder_err"].startswith("1")
