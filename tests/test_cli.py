"""Command line: user errors exit 2 with a message (no traceback), exit statuses for non-converged
relaxations and imaginary modes, outputs checked before computing, datasets refused when incomplete
or incompatible, and the external-data commands (train/evaluate/predict on arrays, predict from
structures and S(Q), rdf)."""

import argparse
import json

import numpy as np
import pytest
from _toy import fake_record
from test_models import planted

from jaxglass import cli, data
from jaxglass.cli import _common, main
from jaxglass.cli import models as cli_models
from jaxglass.rdf import rdf
from jaxglass.sq import pair_correlation_from_sq, sq_from_pair_correlation


def _run(capsys, argv):
    rc = main(argv)
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


def _ab_glass(n=40, seed=1):
    from jaxglass.generate import random_packing

    return random_packing(n, 1.2, 2, {"A": 0.7, "B": 0.3}, min_distance=0.7, seed=seed)


# ------------------------------------------------------------------------------------------------
# hardening
# ------------------------------------------------------------------------------------------------


def test_version_and_every_option_has_help_and_default(capsys):
    rc, out, _ = _run(capsys, ["--version"])
    assert rc == 0 and out.strip() == "jaxglass 0.1.0"
    assert _run(capsys, ["train", "--help"])[0] == 0
    assert _run(capsys, ["nonsense"])[0] == 2
    parser = cli.build_parser()
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sp in subs.choices.items():
        assert isinstance(sp.formatter_class(name), argparse.ArgumentDefaultsHelpFormatter), name
        for act in sp._actions:
            if act.option_strings and act.dest != "help":
                assert act.help and len(act.help) > 8, f"{name} {act.option_strings}: no help"


def test_bad_structure_files_exit_2_with_the_file_named(tmp_path, capsys):
    cases = {
        "empty.extxyz": ("", "empty file"),
        "junk.extxyz": ("hello world\n", "not a readable structure file"),
        "unknown.extxyz": ('2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                           "Xq 0 0 0\nSi 1 1 1\n", "'Xq' is not a chemical element"),
        "ab.extxyz": ('2\nLattice="5 0 0 0 5 0 0 0 5" Properties=species:S:1:pos:R:3 pbc="T T T"\n'
                      "A 0 0 0\nB 1 1 1\n", "Lennard-Jones types A/B"),
    }
    for name, (text, msg) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        rc, _, err = _run(capsys, ["pdos", str(f), "--potential", "ka", "--out", str(tmp_path / "o")])
        assert rc == 2 and msg in err and name in err, (name, err)
    rc, _, err = _run(capsys, ["rdf", str(tmp_path / "missing.xyz"), "--out", str(tmp_path / "o")])
    assert rc == 2 and "missing.xyz: no such structure file" in err


def test_out_checked_before_computing(tmp_path, capsys, monkeypatch):
    f = tmp_path / "taken"
    f.write_text("keep me")
    for argv in (["quench", "--n", "20"], ["generate", "--system", "lj2d", "--n-structures", "2"]):
        rc, _, err = _run(capsys, argv + ["--out", str(f)])
        assert rc == 2 and "is an existing file, not a folder" in err
    assert f.read_text() == "keep me"
    rc, _, err = _run(capsys, ["train", "--features", str(f), "--targets", str(f), "--out", str(tmp_path)])
    assert rc == 2 and "is an existing folder; give a file name" in err
    # a finished computation is never thrown away: an output folder that cannot be created (the path
    # became a file meanwhile) falls back to a fresh folder in the working directory
    assert _common.writable_dir(tmp_path / "new") == tmp_path / "new"
    monkeypatch.chdir(tmp_path)
    alt = _common.writable_dir(f / "sub")
    assert alt.parent == tmp_path and alt.name.startswith("jaxglass-out-") and alt.is_dir()
    assert "writing the results to" in capsys.readouterr().err


def test_pdos_exit_status_for_imaginary_modes_and_unconverged_relaxation(tmp_path, capsys):
    from jaxglass.structure import write

    f = tmp_path / "g.extxyz"
    write(str(f), _ab_glass())  # a random packing, not at a minimum: imaginary modes
    base = ["pdos", str(f), "--potential", "ka"]
    rc, _, err = _run(capsys, base + ["--out", str(tmp_path / "a")])
    assert rc == 4 and "imaginary mode(s)" in err and "--allow-imaginary" in err
    assert (tmp_path / "a" / "pdos.npz").is_file()  # written before the exit status reports it
    rc, _, err = _run(capsys, base + ["--relax", "--max-steps", "2", "--out", str(tmp_path / "c")])
    assert rc == 3 and "did not converge" in err and "--allow-unconverged" in err
    rc, _, _ = _run(capsys, base + ["--relax", "--max-steps", "2", "--allow-unconverged", "--allow-imaginary",
                                    "--out", str(tmp_path / "d")])
    assert rc == 0


def test_generate_rejects_zero_atoms_before_writing_and_empty_manifest_is_replaced(tmp_path, capsys):
    out = tmp_path / "ds"
    rc, _, err = _run(capsys, ["generate", "--system", "lj2d", "--n-structures", "2", "--n-atoms", "0",
                               "--out", str(out), "--workers", "0"])
    assert rc == 2 and "--n-atoms" in err and not out.exists()
    # a manifest whose build finished nothing (failed at once) does not block a corrected rerun
    bad = data.DatasetConfig.make("lj2d", 2, n_atoms=60, n_freq=20, n_r=10)
    data.prepare_manifest(out, bad)
    good = data.DatasetConfig.make("lj2d", 2, n_atoms=56, n_freq=20, n_r=10)
    assert data.build_dataset(out, good, workers=0, progress=False, compute=fake_record) == [0, 1]
    with pytest.raises(ValueError, match="different settings"):  # once records exist, it is protected
        data.build_dataset(out, bad, workers=0, progress=False, compute=fake_record)


def test_generate_protocol_option(tmp_path, capsys, monkeypatch):
    """--protocol NAME: the family's own names only (exit 2 naming the option, the family and the
    names); the name reaches the manifest and the records; resuming with another one is refused."""
    import _toy

    from jaxglass.data import records

    out = tmp_path / "ds"
    base = ["generate", "--system", "lj2d", "--n-structures", "1", "--no-crystal", "--n-atoms", "100",
            "--out", str(out), "--workers", "0", "--quiet"]
    rc, _, err = _run(capsys, [*base, "--protocol", "fast"])
    assert rc == 2 and "--protocol: 'fast' is not a protocol of the lj2d family" in err, err
    assert "('small', 'paper', 'paper-half')" in err and not out.exists()
    rc, _, err = _run(capsys, ["generate", "--system", "sic", "--n-structures", "2", "--out", str(out),
                               "--protocol", "paper-half"])
    assert rc == 2 and not out.exists()
    assert "the sic family; it accepts ('small', 'paper', 'paper-slow')" in err
    seen = []
    fam = _toy.protocol_family(seen)
    monkeypatch.setattr(records, "_family", lambda system: fam)
    rc, _, err = _run(capsys, [*base, "--protocol", "paper-half"])
    assert rc == 0, err
    assert data.read_manifest(out / "manifest.json")["config"]["protocol"] == "paper-half"
    info = json.loads(str(data.read_record(data.record_path(out, 0))["info"]))
    assert info["protocol_name"] == "paper-half" and seen == [fam.PROTOCOLS["paper-half"]]
    rc, _, err = _run(capsys, [*base, "--protocol", "paper"])
    assert rc == 2 and "different settings {'protocol': ('paper-half', 'paper')}" in err, err


def _fake_dataset(path, n=24, n_r=10, n_freq=20, system="lj2d"):
    cfg = data.DatasetConfig.make(system, n, n_atoms=None, n_freq=n_freq, n_r=n_r)
    data.build_dataset(path, cfg, workers=0, progress=False, compute=fake_record)
    return cfg


def test_incomplete_corrupt_and_incompatible_datasets(tmp_path, capsys):
    ds = tmp_path / "ds"
    _fake_dataset(ds)
    model = tmp_path / "m.npz"
    (ds / "structures" / "00003.npz").unlink()
    rc, _, err = _run(capsys, ["train", str(ds), "--out", str(model)])
    assert rc == 2 and "incomplete dataset, 23 of 24" in err and "--partial" in err
    rc, out, _ = _run(capsys, ["train", str(ds), "--out", str(model), "--partial"])
    assert rc == 0 and model.is_file()
    rc, _, err = _run(capsys, ["plot", str(ds), "--out", str(tmp_path / "p.png")])
    assert rc == 2 and "--partial" in err
    # predict from a structure file with a dataset model: its grid, σ, dimension and species
    from jaxglass.generate import random_packing
    from jaxglass.structure import write

    glass = _ab_glass(80)  # box 8.2 > 2 (r_max + 5σ)
    write(str(tmp_path / "g.extxyz"), glass)
    rc, _, err = _run(capsys, ["predict", str(model), "--structure", str(tmp_path / "g.extxyz"), "--out",
                               str(tmp_path / "pred")])
    assert rc == 0, err
    cfg = data.load_dataset(ds, allow_partial=True).config
    want = rdf(glass, cfg.r_grid(), cfg.r_sigma).total
    got = np.load(tmp_path / "pred" / "predictions.npz")["features"][0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    write(str(tmp_path / "g3.extxyz"), random_packing(30, 1.2, 3, {"A": 1.0}, min_distance=0.7, seed=0))
    rc, _, err = _run(capsys, ["predict", str(model), "--structure", str(tmp_path / "g3.extxyz"), "--out",
                               str(tmp_path / "pred")])
    assert rc == 2 and "is 3D, the model was trained on 2D structures" in err
    # another grid or another system: refused, naming the difference
    other = tmp_path / "other"
    _fake_dataset(other, n_r=12)
    rc, _, err = _run(capsys, ["evaluate", str(model), "--dataset", str(other), "--split", "all"])
    assert rc == 2 and "different r grid" in err
    lj3d = tmp_path / "lj3d"
    _fake_dataset(lj3d, system="lj3d")
    rc, _, err = _run(capsys, ["evaluate", str(model), "--dataset", str(lj3d), "--split", "all"])
    assert rc == 2 and "holds 'lj3d' structures, the model was trained on 'lj2d'" in err
    # a 5-structure test split: R² flagged unstable
    rc, out, err = _run(capsys, ["evaluate", str(model), "--out", str(tmp_path / "ev.json")])
    assert rc == 0 and "R² unstable: only 5 samples" in err and "(unstable)" in out
    assert json.loads((tmp_path / "ev.json").read_text())["r2_status"].startswith("unstable")
    # corrupt manifest: the error names the file
    (ds / "manifest.json").write_text("{not json")
    rc, _, err = _run(capsys, ["train", str(ds), "--out", str(model), "--partial"])
    assert rc == 2 and f"{ds / 'manifest.json'}: corrupt manifest" in err


def test_r2_undefined_for_constant_targets(capsys):
    Y = np.ones((30, 4))
    sc = cli_models._scores_checked(Y, Y + 0.01)
    assert sc["r2_mean"] is None and sc["r2_status"].startswith("undefined")
    assert "R² undefined" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------
# external data
# ------------------------------------------------------------------------------------------------


def test_train_evaluate_predict_on_plain_arrays(tmp_path, capsys):
    X, Y, _ = planted(120, R=40, F=30, noise=0.01, seed=2)[:3]
    X = X.reshape(len(X), -1)
    r, freq = np.linspace(0.5, 4.0, 40), np.linspace(0.0, 30.0, 30)
    for name, a in dict(X=X, Y=Y, r=r, f=freq).items():
        np.save(tmp_path / f"{name}.npy", a)
    (tmp_path / "split.json").write_text(json.dumps({"test": list(range(100, 120))}))
    m = tmp_path / "ridge.npz"
    xy = ["--features", str(tmp_path / "X.npy"), "--targets", str(tmp_path / "Y.npy")]
    rc, out, err = _run(capsys, ["train", *xy, "--split", str(tmp_path / "split.json"), "--r-grid",
                                 str(tmp_path / "r.npy"), "--omega-grid", str(tmp_path / "f.npy"),
                                 "--r-sigma", "0.05", "--out", str(m)])
    assert rc == 0, err
    assert "on 100 of 120 samples (20 held out)" in out
    rc, out, err = _run(capsys, ["evaluate", str(m), "--out", str(tmp_path / "ev.json")])
    ev = json.loads((tmp_path / "ev.json").read_text())
    assert rc == 0 and ev["n"] == 20 and ev["r2_status"] == "ok" and ev["r2_overall"] > 0.99
    from jaxglass.models import load_model

    est = load_model(m)
    assert est.r_unit == "Å" and np.allclose(est.r, r) and np.allclose(est.freq, freq)
    rc, out, err = _run(capsys, ["predict", str(m), "--features", str(tmp_path / "X.npy"),
                                 "--out", str(tmp_path / "pred")])
    assert rc == 0, err
    z = np.load(tmp_path / "pred" / "predictions.npz")
    np.testing.assert_allclose(z["y"], est.predict(X), rtol=0, atol=1e-12)
    csv = np.loadtxt(tmp_path / "pred" / "predictions.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(csv[:, 0], freq)
    np.testing.assert_allclose(csv[:, 1:].T, z["y"], rtol=1e-12)
    # wrong shapes and mixed sources: exit 2
    np.save(tmp_path / "bad.npy", X[:, :30])
    rc, _, err = _run(capsys, ["predict", str(m), "--features", str(tmp_path / "bad.npy"), "--out",
                               str(tmp_path / "p2")])
    assert rc == 2 and "the model takes (40,)" in err
    rc, _, err = _run(capsys, ["predict", str(m), "--features", str(tmp_path / "X.npy"), "--sq", "x.csv",
                               "--out", str(tmp_path / "p3")])
    assert rc == 2 and "exactly one of" in err
    rc, _, err = _run(capsys, ["train", *xy, "--r-grid", str(tmp_path / "f.npy"), "--out",
                               str(tmp_path / "m2.npz")])
    assert rc == 2 and "--r-grid: 30 values" in err
    rc, _, err = _run(capsys, ["train", *xy, "--model", "ridge", "--l1", "0.1", "--out",
                               str(tmp_path / "m3.npz")])
    assert rc == 2 and "ridge has no L1 penalty" in err
    # a fixed penalty skips the cross-validation and is stored
    rc, _, err = _run(capsys, ["train", *xy, "--l2", "1e-4", "--out", str(tmp_path / "m4.npz")])
    assert rc == 0 and load_model(tmp_path / "m4.npz").l2_ == 1e-4


def test_sq_to_gr_transform_against_analytic_references():
    """Forward: a Gaussian shell h(r) = A exp(-(r-r0)²/2s²) has S(Q) - 1 = ρ (4π/Q) s√(2π) A
    exp(-Q²s²/2) [r0 sin Q r0 + Q s² cos Q r0] (the r < 0 tail, e^{-r0²/2s²} ~ 1e-22, neglected).
    Back: without window the round trip is exact where S - 1 has decayed by Q_max; with the Lorch
    window r·h(r) comes back averaged over a box of width 2π/Q_max (odd extension at r < 0)."""
    A, r0, s, rho = 1.5, 2.0, 0.2, 0.8
    r = np.linspace(1e-4, 8.0, 3001)
    h = A * np.exp(-0.5 * ((r - r0) / s) ** 2)
    q = np.linspace(1e-6, 60.0, 4001)  # Q_max s = 12: S - 1 ~ e^-72 at the end
    sq = sq_from_pair_correlation(r, 1 + h, q, rho)
    ref = 1 + rho * 4 * np.pi / q * s * np.sqrt(2 * np.pi) * A * np.exp(-0.5 * (q * s) ** 2) * (
        r0 * np.sin(q * r0) + q * s**2 * np.cos(q * r0))
    np.testing.assert_allclose(sq, ref, rtol=0, atol=1e-8)
    rr = np.linspace(0.5, 5.0, 91)
    back = pair_correlation_from_sq(q, ref, rr, rho)
    np.testing.assert_allclose(back, 1 + A * np.exp(-0.5 * ((rr - r0) / s) ** 2), rtol=0, atol=1e-7)
    qq = q[q <= 40.0]
    lorch = pair_correlation_from_sq(qq, ref[q <= 40.0], rr, rho, window="lorch")
    delta = 2 * np.pi / qq.max()  # the window's Q_max is the last Q given
    u = np.linspace(-delta / 2, delta / 2, 2001)
    x = rr[:, None] + u[None, :]
    xh = x * A * (np.exp(-0.5 * ((x - r0) / s) ** 2) - np.exp(-0.5 * ((x + r0) / s) ** 2))  # odd extension
    box = np.trapezoid(xh, u, axis=1) / delta / rr
    np.testing.assert_allclose(lorch - 1, box, rtol=0, atol=1e-7)
    assert np.max(np.abs(lorch - back)) > 1e-2  # the window's broadening is real, and reproduced


def test_predict_from_structures_and_sq_and_the_rdf_command(tmp_path, capsys):
    from jaxglass.models import Ridge
    from jaxglass.structure import write

    glasses = [_ab_glass(60, seed) for seed in range(2)]
    traj = tmp_path / "traj.extxyz"
    write(str(traj), glasses[0])
    write(str(traj), glasses[1], append=True)
    rc, out, err = _run(capsys, ["rdf", str(traj), "--r-max", "3.0", "--n-r", "61", "--sigma", "0.05",
                                 "--out", str(tmp_path / "rdf")])
    assert rc == 0, err
    z = np.load(tmp_path / "rdf" / "rdf.npz")
    r = z["r"]
    ref = [rdf(g, r, 0.05) for g in glasses]
    # extxyz stores positions to 1e-8: g(r) agrees to ~1e-7
    np.testing.assert_allclose(z["total"], np.stack([np.asarray(x.total) for x in ref]), rtol=1e-6, atol=1e-9)
    csv = np.loadtxt(tmp_path / "rdf" / "rdf.csv", delimiter=",", skiprows=1)
    header = (tmp_path / "rdf" / "rdf.csv").read_text().splitlines()[0].split(",")
    assert header == ["r", "g_total", "g_A-A", "g_A-B", "g_B-B"] and csv.shape == (61, 5)
    np.testing.assert_allclose(csv[:, 2], np.mean([np.asarray(x.partial)[0, 0] for x in ref], 0), rtol=1e-6,
                               atol=1e-9)
    # a model on this grid (targets: any smooth function of g), then predict from the trajectory
    rng = np.random.default_rng(0)
    G = np.stack([np.asarray(x.total) for x in ref] * 5) + 0.01 * rng.normal(size=(10, 61))
    est = Ridge(l2=1e-3, r=r, freq=np.linspace(0, 5, 7), r_unit="σ", freq_unit="ω").fit(G, G[:, ::10] ** 2)
    mfile = tmp_path / "m.npz"
    est.save(mfile)
    rc, _, err = _run(capsys, ["predict", str(mfile), "--structure", str(traj), "--out", str(tmp_path / "p")])
    assert rc == 2 and "--r-sigma" in err  # not stored in a bare estimator file
    rc, out, err = _run(capsys, ["predict", str(mfile), "--structure", str(traj), "--r-sigma", "0.05",
                                 "--out", str(tmp_path / "p")])
    assert rc == 0, err
    p = np.load(tmp_path / "p" / "predictions.npz")
    np.testing.assert_allclose(p["features"], z["total"], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(p["y"], est.predict(z["total"]), rtol=1e-10)
    # S(Q) from an analytic g: the transform reproduces its Gaussian-smoothed g on the model grid
    A, r0, s, rho = 1.0, 1.1, 0.1, 1.0
    q = np.linspace(0.05, 80.0, 4000)
    sq = 1 + rho * 4 * np.pi / q * s * np.sqrt(2 * np.pi) * A * np.exp(-0.5 * (q * s) ** 2) * (
        r0 * np.sin(q * r0) + q * s**2 * np.cos(q * r0))
    np.savetxt(tmp_path / "sq.csv", np.column_stack([q, sq]), delimiter=",", header="Q,S", comments="")
    rc, out, err = _run(capsys, ["predict", str(mfile), "--sq", str(tmp_path / "sq.csv"), "--r-sigma", "0.05",
                                 "--window", "none", "--density", str(rho), "--dim", "3", "--out",
                                 str(tmp_path / "psq")])
    assert rc == 0, err
    g_sq = np.load(tmp_path / "psq" / "predictions.npz")["features"][0]
    s_eff = np.hypot(s, 0.05)  # a Gaussian shell smoothed by a Gaussian: widths add in quadrature
    want = 1 + A * s / s_eff * np.exp(-0.5 * ((r - r0) / s_eff) ** 2)
    assert np.max(np.abs(g_sq - want)[r > 0.5]) < 5e-3
    meta = json.loads((tmp_path / "psq" / "predict.json").read_text())
    assert meta["density"] == rho and meta["q_max"] == pytest.approx(80.0)
    assert "held at S(Q_min)" in meta["low_q"] and meta["window"].startswith("none")
    rc, _, err = _run(capsys, ["predict", str(mfile), "--sq", str(tmp_path / "sq.csv"), "--out",
                               str(tmp_path / "psq2")])
    assert rc == 2 and "--density" in err


def test_unexpected_error_is_reported_as_a_bug_and_traceback_shows_it(capsys, monkeypatch):
    from jaxglass.cli import rdf as cli_rdf

    def boom(args):
        raise KeyError("internal")

    monkeypatch.setattr(cli_rdf.Rdf, "run", staticmethod(boom))
    rc, _, err = _run(capsys, ["rdf", "x.extxyz"])
    assert rc == 1 and "internal error: KeyError" in err and "bug" in err and "--traceback" in err
    with pytest.raises(KeyError):
        main(["--traceback", "rdf", "x.extxyz"])


def test_library_field_is_named_by_its_option():
    from jaxglass.cli.main import build_parser, with_flags

    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices
    assert with_flags("r_grid: values must increase", sub["train"]).startswith("--r-grid:")
    assert with_flags("features/targets: 3 vs 4", sub["train"]).startswith("--features/--targets:")
    assert with_flags("dataset: x (allow_partial=True)", sub["plot"], "allow_partial").endswith(
        "(on the command line: --partial)")
    assert with_flags("nothing: here", sub["rdf"]) == "nothing: here"
