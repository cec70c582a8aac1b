"""Dataset builder: records, determinism, resume after interruption, corrupt/foreign files."""

import json

import _toy
import numpy as np
import pytest

from jaxglass import data


def test_build_resume_and_load(tmp_path, toy):
    out = tmp_path / "ds"
    done = data.build_dataset(out, toy, progress=False)
    assert done == [0, 1, 2, 3]
    ds = data.load_dataset(out)
    assert ds.pdos_total.shape == (4, 240) and ds.rdf_partial.shape == (4, 2, 2, 60)
    assert ds.pdos_partial.shape == (4, 2, 240) and ds.species_names == ("A", "B")
    assert np.all(ds.pdos_partial[0, 1] == 0)  # the crystal has no B particles
    assert ds.knob[0] == -1.0 and np.all((ds.knob[1:] >= 0) & (ds.knob[1:] <= 1))
    # the PDOS integrates to the fraction of modes inside the grid (per mode normalisation)
    for k in range(4):
        rec = data.read_record(out / "structures" / f"{k:05d}.npz")
        assert ds.n_atoms[k] == len(rec["positions"])  # the real count, not the configured size
        f = rec["frequencies"]
        inside = np.mean((f > 2.0) & (f < ds.freq[-1] - 2.0)) + 0.5 * np.mean(np.abs(f) <= 2.0)
        assert np.trapezoid(ds.pdos_total[k], ds.freq) == pytest.approx(inside, abs=0.02)
    man = json.loads((out / "manifest.json").read_text())
    assert man["format"] == "jaxglass-dataset" and man["config"]["system"] == "lj2d"
    # resume: nothing to do; deleting one record recomputes exactly that one, identically
    assert data.build_dataset(out, toy, progress=False) == []
    before = data.read_record(out / "structures" / "00002.npz")
    (out / "structures" / "00002.npz").unlink()
    assert data.build_dataset(out, toy, progress=False) == [2]
    after = data.read_record(out / "structures" / "00002.npz")
    assert np.array_equal(before["positions"], after["positions"])
    assert np.array_equal(before["pdos_total"], after["pdos_total"])
    # growing the dataset keeps finished work
    bigger = data.DatasetConfig(**{**toy.__dict__, "n_structures": 5})
    assert data.build_dataset(out, bigger, progress=False) == [4]


def test_interrupted_build_keeps_finished_structures(tmp_path, toy):
    out = tmp_path / "ds"
    calls = []

    def stop_after_two(k):
        calls.append(k)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        data.build_dataset(out, toy, progress=False, on_done=stop_after_two)
    # a half-written temp file from the interruption must not count as finished
    (out / "structures" / ".00002.999.tmp.npz").write_bytes(b"partial")
    assert sorted(p.name for p in (out / "structures").glob("0*.npz")) == ["00000.npz", "00001.npz"]
    assert data.build_dataset(out, toy, progress=False) == [2, 3]
    assert not list((out / "structures").glob(".*.tmp.npz"))


def test_corrupt_foreign_and_mismatched(tmp_path, toy):
    out = tmp_path / "ds"
    data.build_dataset(out, toy, progress=False)
    (out / "structures" / "00001.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="00001.npz: not a readable dataset record"):
        data.build_dataset(out, toy, progress=False)
    other = data.DatasetConfig(**{**toy.__dict__, "seed": 5})
    with pytest.raises(ValueError, match="different settings"):
        data.build_dataset(out, other, progress=False)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="no manifest"):
        data.build_dataset(foreign, toy, progress=False)
    (foreign / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="not a jaxglass dataset manifest"):
        data.build_dataset(foreign, toy, progress=False)


def test_config_validation():
    with pytest.raises(ValueError, match="unknown family"):
        data.DatasetConfig.make("glass9", 3)
    with pytest.raises(ValueError, match="n_structures"):
        data.DatasetConfig.make("amc", 0)
    with pytest.raises(ValueError, match="size"):
        data.DatasetConfig.make("amc", 3, size="huge")
    cfg = data.DatasetConfig.make("lj3d", 20, seed=3)
    knobs = [cfg.plan(k)[0] for k in range(20)]
    assert knobs[0] == -1.0
    # stratified: every quarter of the range is sampled
    hist, _ = np.histogram(knobs[1:], bins=4, range=(0, 1))
    assert np.all(hist >= 4)
    assert [cfg.plan(k) for k in range(20)] == [cfg.plan(k) for k in range(20)]
    # structure k does not depend on the dataset size (growing a dataset keeps finished work valid)
    small = data.DatasetConfig.make("lj3d", 5, seed=3)
    assert [small.plan(k) for k in range(5)] == [cfg.plan(k) for k in range(5)]


def test_export_import_round_trip(tmp_path, toy):
    from jaxglass.cli import main

    src = tmp_path / "ds"
    data.build_dataset(src, toy, progress=False)
    (src / "structures" / "00002.npz").unlink()  # exports hold the finished records only
    res = data.export_dataset(src, tmp_path / "lj2d.npz")
    assert res["n_structures"] == 3 and res["bytes"] == (tmp_path / "lj2d.npz").stat().st_size
    # one compressed file, smaller than the per-structure records it packs
    assert res["bytes"] < sum(p.stat().st_size for p in (src / "structures").glob("*.npz"))
    assert data.import_dataset(tmp_path / "lj2d.npz", tmp_path / "back") == [0, 1, 3]
    for k in (0, 1, 3):
        a = data.read_record(src / "structures" / f"{k:05d}.npz")
        b = data.read_record(tmp_path / "back" / "structures" / f"{k:05d}.npz")
        assert set(a) == set(b)
        for key in a:
            if key in data.EXPORT_FLOAT32:  # float32 in the file: relative rounding <= 2^-24
                assert b[key].dtype == a[key].dtype and b[key].shape == a[key].shape
                assert np.allclose(b[key], a[key], rtol=6e-8, atol=1e-30), key
                assert np.array_equal(b[key], a[key].astype(np.float32)), key
            else:  # everything else is exact
                assert np.array_equal(b[key], a[key]) and b[key].dtype == a[key].dtype, key
    man = json.loads((tmp_path / "back" / "manifest.json").read_text())
    assert man["config"] == json.loads((src / "manifest.json").read_text())["config"]
    assert "float32" in man["imported_from"]["precision"]
    # the imported directory is an ordinary dataset: it resumes (only 2 is missing) and grows
    # (what the new records hold does not matter here: numpy stand-ins)
    assert data.build_dataset(tmp_path / "back", toy, progress=False, compute=_toy.fake_record) == [2]
    bigger = data.DatasetConfig(**{**toy.__dict__, "n_structures": 5})
    assert data.build_dataset(tmp_path / "back", bigger, progress=False, compute=_toy.fake_record) == [4]
    # importing into the same dataset adds nothing; into another dataset is refused
    assert data.import_dataset(tmp_path / "lj2d.npz", tmp_path / "back") == []
    other = data.DatasetConfig(**{**toy.__dict__, "seed": 9})
    data.build_dataset(tmp_path / "other", other, progress=False, compute=_toy.fake_record)
    with pytest.raises(ValueError, match="different settings"):
        data.import_dataset(tmp_path / "lj2d.npz", tmp_path / "other")
    # command line: same round trip, and clear errors (exit status 2) for foreign input
    assert main(["export", str(src), "--out", str(tmp_path / "cli.npz")]) == 0
    assert main(["import", str(tmp_path / "cli.npz"), "--out", str(tmp_path / "cli")]) == 0
    assert data.load_dataset(tmp_path / "cli").indices.tolist() == [0, 1, 3]
    (tmp_path / "junk.npz").write_bytes(b"junk")
    assert main(["import", str(tmp_path / "junk.npz"), "--out", str(tmp_path / "x")]) == 2
    assert main(["export", str(tmp_path / "nothing"), "--out", str(tmp_path / "y.npz")]) == 2


def test_build_progress_lines_md_and_dense_solve(tmp_path, toy_family, monkeypatch, capsys):
    """In-process build: a structure's MD stage reports ``MD: done/total steps ... ETA`` lines
    (rate-limited: here about 3 per stage) and a large dense eigen-solve its size, estimate and time,
    in build.log and on stdout; without progress (``--quiet``) in build.log only."""
    from jaxglass import modes
    from jaxglass.data import records

    def generate(n_atoms, knob, seed, *, size="small", progress=None):
        for done in range(20, 121, 20):  # a stand-in MD stage: 120 steps in chunks of 20
            progress(done, 120)
        return _toy.toy_generate(n_atoms, knob, seed, size=size)

    monkeypatch.setattr(toy_family, "generate", generate)
    monkeypatch.setattr(records, "MD_PROGRESS_EVERY_S", 0.0)
    monkeypatch.setattr(records, "MD_PROGRESS_LINES", 3)
    monkeypatch.setattr(modes, "EIGH_REPORT_MIN_DOF", 100)  # 64 atoms in 2D: 128 dof
    cfg = data.DatasetConfig.make("lj2d", 2, n_atoms=64, n_freq=40, n_r=20, r_max=2.5)
    glass_only = data.DatasetConfig.make("lj2d", 1, n_atoms=64, n_freq=40, n_r=20, r_max=2.5,
                                         include_crystal=False)  # its structure 0 is a glass
    runs = ((False, tmp_path / "a", cfg, "00001"), (True, tmp_path / "b", glass_only, "00000"))
    for quiet, out, c, k in runs:
        data.build_dataset(out, c, progress=not quiet)
        log, shown = (out / "build.log").read_text(), capsys.readouterr().out
        md = [ln for ln in log.splitlines() if f" {k} MD: " in ln]
        assert 2 <= len(md) <= 4 and "120/120 steps (100 %)" in md[-1] and "ETA 0:00:00" in md[-1], log
        for j in {"00000", k}:  # the crystal (no MD) and the glass
            assert f" {j} dense eigen-solve: 128 x 128 dynamical matrix (eigenvalues and eigenvectors)" in log
            assert f" {j} dense eigen-solve: 128 x 128 finished in " in log
        assert (" MD: " in shown) is (not quiet) and ("dense eigen-solve" in shown) is (not quiet)
    assert " 00000 MD: " not in (tmp_path / "a" / "build.log").read_text()  # the crystal runs no MD


def test_named_protocol_config_build_records_and_resume(tmp_path, monkeypatch):
    import dataclasses

    from jaxglass import families
    from jaxglass.data import records
    from jaxglass.errors import UserError

    seen = []
    fam = _toy.protocol_family(seen)
    monkeypatch.setattr(records, "_family", lambda system: fam)
    table = fam.PROTOCOLS
    # names come from the family's own dict; the size's own name is stored as None (resumes as before)
    assert families.protocols("lj2d") is table and "paper-half" in table
    for name in families.NAMES:  # every family has its sizes' own protocols under their names
        assert {"small", "paper"} <= set(families.protocols(name)), name
    assert data.DatasetConfig.make("lj2d", 2, protocol="small").protocol is None
    with pytest.raises(UserError, match=r"protocol: 'half' is not a protocol of the lj2d family.*paper-half"):
        data.DatasetConfig.make("lj2d", 2, protocol="half")
    cfg = data.DatasetConfig.make("lj2d", 3, n_atoms=64, n_freq=60, n_r=30, r_max=2.5, protocol="paper-half")
    assert cfg.protocol == "paper-half" and data.DatasetConfig(**dataclasses.asdict(cfg)) == cfg
    out = tmp_path / "ds"
    assert data.build_dataset(out, cfg, progress=False) == [0, 1, 2]
    man = data.read_manifest(out / "manifest.json")
    assert man["config"]["protocol"] == "paper-half" and data.DatasetConfig(**man["config"]) == cfg
    assert seen == [table["paper-half"]] * 2  # the glasses; the crystal has no melt-quench
    names = [json.loads(str(data.read_record(data.record_path(out, k))["info"]))["protocol_name"]
             for k in range(3)]
    assert names == ["small", "paper-half", "paper-half"]
    assert data.load_dataset(out).config == cfg
    # resuming with another protocol (or the size's own) is refused, naming the field; the same resumes
    for other in (None, "paper"):
        with pytest.raises(UserError, match=r"different settings \{'protocol': \('paper-half', "):
            data.build_dataset(out, dataclasses.replace(cfg, protocol=other), progress=False)
    assert data.build_dataset(out, cfg, progress=False) == []
    # batched generation gets the same protocol
    seen.clear()
    recs = data.compute_records(cfg, [1, 2], observables=False)
    assert seen == [table["paper-half"]] * 2 and len(recs) == 2


def test_manifest_without_protocol_resumes(tmp_path, toy):
    """Datasets written before ``protocol`` existed: no key in the manifest, the size's own protocol."""
    out = tmp_path / "ds"
    data.build_dataset(out, toy, progress=False, compute=_toy.fake_record)
    man = json.loads((out / "manifest.json").read_text())
    del man["config"]["protocol"]
    (out / "manifest.json").write_text(json.dumps(man))
    assert toy.protocol is None and data.build_dataset(out, toy, progress=False) == []
    (out / "structures" / "00003.npz").unlink()
    assert data.build_dataset(out, toy, progress=False) == [3]
    info = json.loads(str(data.read_record(data.record_path(out, 3))["info"]))
    assert info["protocol_name"] == "small" and len(data.load_dataset(out)) == 4


def test_build_log_flags_a_glass_at_the_crystal_energy(tmp_path):
    """A glass that relaxed back to the crystal (a protocol whose melt regrew on the crystal around
    it, as the slow a-SiC paper quench does) is flagged in the build log; a real glass is not."""
    from jaxglass.data.progress import RECRYSTALLIZED_TOL, BuildProgress

    cfg = data.DatasetConfig.make("lj2d", 3, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    rep = BuildProgress(tmp_path, cfg, 3, echo=False)
    base = dict(seconds=1.0, where="here", n_atoms=56, n_imaginary=0, relax_steps=10)
    rep.finished(dict(base, k=0, knob=-1.0, energy_per_atom=-6.34))
    rep.finished(dict(base, k=1, knob=0.4, energy_per_atom=-6.34 + 0.1 * RECRYSTALLIZED_TOL))
    rep.finished(dict(base, k=2, knob=0.5, energy_per_atom=-6.30))
    lines = (tmp_path / "build.log").read_text().splitlines()
    flagged = [ln for ln in lines if "the melt recrystallized" in ln]
    assert len(flagged) == 1 and "done  00001" in flagged[0]
