"""Every numeric option of every command, walked with non-finite, zero, negative and absurd values.

The table is built from the argparse parsers themselves (every option whose ``type`` is ``int`` or
``float``), so a new option is covered automatically; :data:`VALID` lists the values that are valid
for an option (e.g. ``--seed 0``, ``--workers 0``). Each bad value must exit 2 with no traceback and a
message naming the option, before any heavy work (a 20 s alarm turns a command that started
computing into a failure). A second test checks that every field a library function declares with
``@validate`` that a command passes on has an option of that name (through ``FIELD_DESTS``).
"""

import argparse
import os
import signal

import numpy as np
import pytest

from jaxglass.cli.main import COMMANDS, FIELD_DESTS, build_parser

BAD = {float: ("nan", "inf", "-inf", "0", "-1", "1e300"), int: ("0", "-1", str(10**15), "nan")}
#: Values that are valid for an option (command, option) -> values; everything else in BAD must fail.
VALID = {
    ("*", "--seed"): {"0", str(10**15)},  # any non-negative integer seeds numpy's generator
    ("*", "--data-seed"): {"0", str(10**15)},
    ("*", "--workers"): {"0"},  # in-process
    ("rdf", "--r-min"): {"0"},
    ("*", "--max-steps"): {str(10**15)},  # a cap, not an amount of work: stops at convergence
    ("pdos", "--seed"): {"-1"},  # the KPM probe key: any integer
    ("train", "--l2"): {"0"},  # no penalty: least squares
    ("train", "--l1"): {"0"},
    ("train", "--test-fraction"): {"0"},  # with --features: fit on every row (evaluate then needs new data)
    ("predict", "--q-min"): {"0"},  # the transform starts at Q = 0
    ("spectra", "--powder-tol"): {"0"},  # no early stop: every sampled vector of a shell (a bounded pool)
    ("predict", "--q-max"): {"1e300"},  # a cap on the file's Q range (predict.json records the Q used)
}


def _valid(cmd: str, opt: str) -> set:
    return VALID.get((cmd, opt), set()) | VALID.get(("*", opt), set())


def _subparsers():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


def _cases():
    cases = []
    for cmd, p in _subparsers().items():
        for a in p._actions:
            if not a.option_strings or a.type not in (int, float):
                continue
            opt = max(a.option_strings, key=len)
            cases += [(cmd, opt, v) for v in BAD[a.type] if v not in _valid(cmd, opt)]
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A tiny structure file, (X, Y) arrays, a fake-record dataset and a ridge model."""
    pytest.importorskip("ase")
    from _toy import fake_record

    from jaxglass import data
    from jaxglass.data import build, schema
    from jaxglass.generate import random_packing
    from jaxglass.models.linear import fit_ridge, save_linear
    from jaxglass.structure import write

    d = tmp_path_factory.mktemp("opts")
    write(str(d / "s.extxyz"), random_packing(8, 1.2, 3, {"A": 0.75, "B": 0.25}, min_distance=0.75, seed=0))
    rng = np.random.default_rng(0)
    np.save(d / "X.npy", rng.random((8, 10)))
    np.save(d / "Y.npy", rng.random((8, 20)))
    cfg = data.DatasetConfig.make("lj2d", 4, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    build.prepare_manifest(d / "ds", cfg)
    for k in range(cfg.n_structures):
        schema.write_record(d / "ds", k, fake_record(cfg, k))
    save_linear(fit_ridge(rng.random((8, 10)), rng.random((8, 20)), 1e-2), d / "m.npz")
    # a model on an r grid with its g(r) width, and a measured S(Q) it can read: `predict --sq` is real
    from jaxglass.models import Ridge

    r = np.linspace(0.5, 3.0, 10)
    Ridge(l2=1e-2, r=r, freq=np.linspace(0, 5, 20)).fit(rng.random((8, 10)), rng.random((8, 20))).save(
        d / "mr.npz", metadata=dict(r_sigma=0.05, dim=3))
    q = np.linspace(0.1, 20.0, 200)
    np.savetxt(d / "sq.csv", np.column_stack([q, 1 + np.sin(q) / q]), delimiter=",", header="Q,S",
               comments="")
    return d


#: The smallest valid command line of each command (positionals and required options).
BASE = {
    "demo": ["demo", "--system", "lj2d"],
    "quench": ["quench", "--system", "lj2d"],
    "pdos": ["pdos", "{s}", "--potential", "ka"],
    "spectra": ["spectra", "{s}", "--potential", "ka"],
    "generate": ["generate", "--system", "lj2d", "--n-structures", "2"],
    "export": ["export", "{ds}"],
    "import": ["import", "{tmp}/none.npz"],
    "plot": ["plot", "{ds}"],
    "train": ["train", "--features", "{X}", "--targets", "{Y}"],
    "evaluate": ["evaluate", "{m}", "--features", "{X}", "--targets", "{Y}"],
    "predict": ["predict", "{m}", "--features", "{X}"],
    "predict --sq": ["predict", "{mr}", "--sq", "{sq}", "--density", "0.05"],
    "rdf": ["rdf", "{s}"],
    "study": ["study", "--system", "lj2d", "--dataset", "{ds}"],
    "perturb": ["perturb", "{ds}", "--model", "{m}"],
}
#: Options that only act together with another one.
WITH = {"--moments": ["--method", "kpm"], "--vectors": ["--method", "kpm"], "--l1": ["--model", "lasso"],
        "--cnn-max-epochs": ["--model", "cnn"]}


#: Options of `predict --sq`: they run on BASE["predict --sq"] (a model with an r grid, an S(Q) file).
SQ_OPTIONS = {"--density", "--q-min", "--q-max", "--r-sigma"}


def _argv(cmd, opt, value, files, tmp_path):
    fmt = dict(s=files / "s.extxyz", X=files / "X.npy", Y=files / "Y.npy", ds=files / "ds", m=files / "m.npz",
               mr=files / "mr.npz", sq=files / "sq.csv", tmp=tmp_path)
    base = BASE["predict --sq"] if cmd == "predict" and (opt is None or opt in SQ_OPTIONS) else BASE[cmd]
    if opt == "--density":
        base = base[:-2]  # the bad value replaces the valid one
    return [a.format(**fmt) for a in [*base, *WITH.get(opt, []), *([f"{opt}={value}"] if opt else [])]]


def test_every_command_has_a_base_command_line():
    assert {b.split()[0] for b in BASE} == {name for name, _ in COMMANDS}


def test_predict_sq_base_is_a_valid_run(files, tmp_path, capsys):
    """The S(Q) cases are real: without the bad value the same command line succeeds."""
    from jaxglass.cli.main import main

    rc = main([*_argv("predict", None, None, files, tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert (tmp_path / "out" / "predictions.npz").is_file()


def _alarm(signum, frame):
    raise TimeoutError("the command started computing instead of refusing the option")


@pytest.mark.parametrize("cmd, opt, value", CASES,
                         ids=[" ".join(c.values if hasattr(c, "values") else c) for c in CASES])
def test_bad_numeric_option_exits_2_naming_it(cmd, opt, value, files, tmp_path, capsys, monkeypatch):
    from jaxglass.data import build

    def no_dask(*a, **k):  # never start worker processes from here: a refused option never gets there
        raise RuntimeError("a Dask build started instead of refusing the option")

    monkeypatch.setattr(build, "build_dask", no_dask)
    argv = _argv(cmd, opt, value, files, tmp_path) + ["--out", str(tmp_path / "out")]
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(os.environ.get("JAXGLASS_TEST_ALARM", "20")))
    try:
        from jaxglass.cli.main import main

        rc = main(argv)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert opt in err, err
    out = tmp_path / "out"
    assert not out.exists() or out.is_file() or not any(p for p in out.rglob("*") if p.is_file()), err


#: ``--n-atoms`` below a family's smallest cell (families.smallest_cell), per command that builds a dataset:
#: refused before any work (no worker started, no file), naming the option, the value and the minimum.
SMALL_CELL_CASES = [("generate", name)
                    for name in ("amc", "lj2d", "lj3d", "sic", "cualzr", "hea", "lj3d-quench")]
SMALL_CELL_CASES += [("demo", "lj3d"), ("demo", "sic"), ("study", "hea")]


@pytest.mark.parametrize("cmd, system", SMALL_CELL_CASES, ids=[" ".join(c) for c in SMALL_CELL_CASES])
def test_n_atoms_below_the_smallest_cell_exits_2_before_work(cmd, system, files, tmp_path, capsys,
                                                             monkeypatch):
    from jaxglass import families
    from jaxglass.cli.main import main
    from jaxglass.data import build

    def no_build(*a, **k):
        raise RuntimeError("the build started instead of refusing --n-atoms")

    monkeypatch.setattr(build, "build_dask", no_build)
    monkeypatch.setattr(build, "_build_here", no_build)
    smallest = families.smallest_cell(system).n_atoms
    argv = {"generate": ["generate", "--system", system, "--n-structures", "2", "--workers", "0"],
            "demo": ["demo", "--system", system, "--workers", "0"],
            "study": ["study", "--system", system, "--n-structures", "2", "--workers", "0"]}[cmd]
    argv = [*argv, "--n-atoms", str(smallest - 1), "--out", str(tmp_path / "out")]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert f"--n-atoms: the {system} family needs at least {smallest} atoms" in err, err
    assert f"got n_atoms={smallest - 1}" in err and f"n_atoms >= {smallest}" in err, err
    out = tmp_path / "out"
    assert not out.exists() or not any(p for p in out.rglob("*") if p.is_file()), err


def test_l1_above_the_datas_l1_max_exits_2(files, tmp_path, capsys):
    """Below the static cap but at or above l1_max of the data: refused once the data are read, naming
    --l1, with the bound (an all-zero model), and no model file."""
    from jaxglass.cli.main import main

    out = tmp_path / "out"
    rc = main([*_argv("train", "--l1", "1000", files, tmp_path), "--out", str(out / "m.npz")])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err, err
    assert "--l1: 1000 would make every weight exactly zero" in err and "l1_max = " in err, err
    assert not (out / "m.npz").exists()


def test_every_declared_field_has_an_option():
    """Each ``@validate`` field of the library functions the commands call is an option of some command
    (under its own name, or through FIELD_DESTS), so its message names the option."""
    from jaxglass import kpm, modes, rdf
    from jaxglass.workflows import pdos as wf
    from jaxglass.workflows.spectrum import structure_spectrum

    library_only = {"lanczos_steps", "chunk"}  # tuning knobs of the library API, no option on purpose
    dests = library_only | {a.dest for p in _subparsers().values() for a in p._actions if a.option_strings}
    funcs = [modes.pdos, kpm.pdos, rdf.rdf, rdf.r_grid, wf.dense_pdos, wf.kpm_pdos, structure_spectrum]
    missing = {}
    for f in funcs:
        for field in f.__parameter_constraints__:
            if FIELD_DESTS.get(field, field) not in dests:
                missing.setdefault(f.__qualname__, []).append(field)
    assert not missing, missing
