"""Every value checked once, at the edge (:mod:`jaxglass.validation`).

The constraint objects and the memory check; the public functions' arguments (non-finite, zero,
negative and absurd values raise ``UserError`` naming the argument, before any work); and the
commands ``pdos``, ``rdf``, ``spectra``, ``train``, ``perturb`` with the same values: exit status 2,
no traceback, the option named. Inputs are tiny and almost every case fails before any computation.
"""

import math

import numpy as np
import pytest

from jaxglass import kpm, modes, rdf
from jaxglass.cli.main import main
from jaxglass.errors import UserError
from jaxglass.models import make_estimator
from jaxglass.models.estimators import ElasticNet, Ridge
from jaxglass.perturb_study import run as perturb_run
from jaxglass.study import split_indices
from jaxglass.validation import (
    Integral,
    Options,
    Real,
    check,
    check_args,
    finite,
    memory_check,
    memory_limit,
    nonnegative,
    positive,
    validate,
)
from jaxglass.workflows import pdos as wf
from jaxglass.workflows.spectrum import structure_spectrum

NAN, INF = float("nan"), float("inf")

# ----------------------------------------------------------------------------------------------
# Constraint objects


def test_real():
    assert positive.ok(1e-300) and positive.ok(3)
    assert positive.ok(np.float32(2.0)) and positive.ok(np.array(1.5))
    for bad in (0, -1.0, NAN, INF, -INF, True, "1", None, np.ones(2), 1j):
        assert not positive.ok(bad), bad
    assert nonnegative.ok(0) and not nonnegative.ok(-1e-12)
    assert finite.ok(-5) and not finite.ok(INF) and not finite.ok(NAN)
    assert Real(0, None, finite=False).ok(INF) and not Real(finite=False).ok(NAN)
    unit = Real(0, 1, closed="neither")
    assert unit.ok(0.5) and not unit.ok(0) and not unit.ok(1)
    assert Real(0, 1, closed="left").ok(0) and not Real(0, 1, closed="left").ok(1)
    assert Real(0, 1, closed="right").ok(1) and not Real(0, 1, closed="right").ok(0)
    assert unit.describe() == "a finite number in (0, 1)"
    assert positive.describe() == "a finite number > 0" and nonnegative.describe() == "a finite number >= 0"
    assert Real(None, 2, closed="neither").describe() == "a finite number < 2"
    with pytest.raises(ValueError, match="closed"):
        Real(0, 1, closed="open")


def test_integral_and_options():
    two = Integral(2, None)
    assert two.ok(2) and two.ok(np.int64(10**12)) and not two.ok(1) and not two.ok(2.0) and not two.ok(True)
    assert two.describe() == "an integer >= 2" and Integral(0, 9).describe() == "an integer in [0, 9]"
    opts = Options("auto", "dense")
    assert opts.ok("auto") and not opts.ok("kpm") and not opts.ok(np.ones(3))
    assert opts.describe() == "one of ('auto', 'dense')"


def test_check_messages():
    check("sigma", None, None, positive)
    check("sigma", 0.3, None, positive)
    msg = r"^sigma: expected a finite number > 0 or None, got inf; give it$"
    with pytest.raises(UserError, match=msg) as e:
        check("sigma", INF, None, positive, "give it")
    assert e.value.field == "sigma"
    with pytest.raises(UserError, match=r"^n: expected an integer >= 2, got 1$"):
        check("n", 1, Integral(2, None))
    with pytest.raises(UserError, match=r"got an array of shape \(3,\)"):
        check("x", np.zeros(3), finite)
    with pytest.raises(UserError, match="got nan"):
        check("x", NAN, finite)


def test_traced_values_are_not_checked():
    import jax

    @validate({"sigma": [positive]})
    def f(x, sigma):
        return x * sigma

    assert float(jax.grad(f, argnums=1)(2.0, 1.0)) == 2.0
    assert float(jax.jit(f)(2.0, -1.0)) == -2.0  # traced: no value to check
    with pytest.raises(UserError, match="^sigma:"):
        f(2.0, -1.0)


def test_validate_decorator():
    @validate({"n": [Integral(1, None)], "sigma": [None, positive]})
    def f(a, n=3, *, sigma=None):
        """doc"""
        return a, n, sigma

    assert f(1) == (1, 3, None) and f.__doc__ == "doc" and "n" in f.__parameter_constraints__
    with pytest.raises(UserError, match="^n:"):
        f(1, 0)
    with pytest.raises(UserError, match="^sigma:"):
        f(1, sigma=NAN)
    check_args(f, n=5, sigma=None, unrelated=object())
    with pytest.raises(UserError, match="^n:"):
        check_args(f, n=-1)
    with pytest.raises(TypeError, match="no parameter"):
        validate({"m": [finite]})(lambda n: n)
    with pytest.raises(TypeError, match="declares no"):
        check_args(lambda n: n, n=1)


def test_memory_check(monkeypatch):
    monkeypatch.setenv("JAXGLASS_MEMORY_LIMIT", "2GB")
    assert memory_limit() == 2e9
    memory_check("n_r", 1.9e9, "a grid", "use fewer points")
    msg = r"^n_r: a grid would need 3 GB of memory, more than the 2 GB .*; use fewer points$"
    with pytest.raises(UserError, match=msg):
        memory_check("n_r", 3e9, "a grid", "use fewer points")
    monkeypatch.setenv("JAXGLASS_MEMORY_LIMIT", "500 MB")
    assert memory_limit() == 5e8
    monkeypatch.setenv("JAXGLASS_MEMORY_LIMIT", "1e6")
    assert memory_limit() == 1e6
    monkeypatch.setenv("JAXGLASS_MEMORY_LIMIT", "lots")
    with pytest.raises(UserError, match="^JAXGLASS_MEMORY_LIMIT:"):
        memory_limit()
    monkeypatch.delenv("JAXGLASS_MEMORY_LIMIT")
    assert 1e8 < memory_limit() <= math.inf


def test_kpm_and_rdf_memory_estimates(monkeypatch):
    monkeypatch.setenv("JAXGLASS_MEMORY_LIMIT", "1GB")
    kpm.check_pdos_memory(3000, 2, kpm.DEFAULT_MOMENTS, 16)
    with pytest.raises(UserError, match=r"^moments: KPM with M = 1000000000 .* GB of memory"):
        kpm.check_pdos_memory(3000, 2, 10**9, 4)
    with pytest.raises(UserError, match=r"^vectors: KPM"):
        kpm.check_pdos_memory(3000, 2, 1024, 10**7)
    assert rdf.r_grid(0.0, 6.0, 300).shape == (300,)
    with pytest.raises(UserError, match=r"^n_r: a g\(r\) on 100000000000 grid points would need"):
        rdf.r_grid(0.0, 6.0, 10**11)


# ----------------------------------------------------------------------------------------------
# Public functions: each bad value is refused before any work (potential/structure are not needed)


LIB_CASES = [
    ("sigma", lambda v: modes.pdos(None, None, sigma=v), (NAN, INF, 0.0, -1.0)),
    ("sigma", lambda v: modes.default_grid([0.0, 1.0], v), (NAN, INF, 0.0, -1.0)),
    ("n", lambda v: modes.default_grid([0.0, 1.0], n=v), (1, 0, -3, 2.5)),
    ("sigma", lambda v: modes.dos(np.ones(3), np.ones(5), v), (NAN, INF, 0.0)),
    ("sigma", lambda v: kpm.pdos(None, None, None, v), (NAN, INF, 0.0, -1.0)),
    ("moments", lambda v: kpm.pdos(None, None, moments=v), (1, -5, 1.5, NAN)),
    ("vectors", lambda v: kpm.pdos(None, None, vectors=v), (0, -1, INF)),
    ("sigma", lambda v: rdf.rdf(None, np.ones(3), v), (NAN, INF, 0.0, -1.0)),
    ("chunk", lambda v: rdf.rdf(None, np.ones(3), 0.1, chunk=v), (0, -1)),
    ("n_r", lambda v: rdf.r_grid(0.0, 6.0, v), (1, 0, -1)),
    ("r_max", lambda v: rdf.r_grid(0.0, v, 10), (INF, NAN, 0.0)),
    ("r_min", lambda v: rdf.r_grid(v, 6.0, 10), (-1.0, NAN)),
    ("r_min/r_max", lambda v: rdf.r_grid(v, 6.0, 10), (6.0, 7.0)),
    ("sigma", lambda v: wf.dense_pdos(None, None, None, sigma=v), (NAN, INF, 0.0)),
    ("n_points", lambda v: wf.dense_pdos(None, None, None, n_points=v), (1, 0)),
    ("moments", lambda v: wf.kpm_pdos(None, None, None, moments=v), (15, -1)),
    ("vectors", lambda v: wf.kpm_pdos(None, None, None, vectors=v), (0,)),
    ("sigma", lambda v: structure_spectrum(None, None, "pdos", sigma=v), (NAN, INF, 0.0)),
    ("n_points", lambda v: structure_spectrum(None, None, "pdos", n_points=v), (1,)),
    ("temperature", lambda v: structure_spectrum(None, None, "pdos", temperature=v), (NAN, INF, 0.0, -1.0)),
    ("l2", lambda v: make_estimator("ridge", l2=v), (NAN, INF, -1.0)),
    ("l1", lambda v: make_estimator("lasso", l1=v), (NAN, INF, -1.0)),
    ("l2", lambda v: Ridge(l2=v).fit(np.eye(4), np.eye(4)), (INF, -1.0)),
    ("l1", lambda v: ElasticNet(l1=v, l2=0.1).fit(np.eye(4), np.eye(4)), (NAN,)),
    ("n_random", lambda v: perturb_run("nowhere", "nothing", "out", n_random=v), (-1,)),
    ("n_test", lambda v: perturb_run("nowhere", "nothing", "out", n_test=v), (0, 1.5)),
]


@pytest.mark.parametrize("name, call, values", LIB_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(LIB_CASES)
                                                                ])
def test_public_functions_refuse_bad_values(name, call, values):
    for v in values:
        with pytest.raises(UserError, match=f"^{name}:") as e:
            call(v)
        assert e.value.field == name.split("/")[0] or "/" in name


def test_nan_positions_with_precomputed_neighbours_raise():
    """Positions edited after make_structure (NaN/inf) with neighbour lists built before: every public
    Hessian / spectrum / g(r) function refuses them (not a NaN spectrum); inside jit nothing is checked."""
    import jax

    from jaxglass import hessian, sumrules
    from jaxglass.generate import random_packing
    from jaxglass.potentials import kob_andersen

    pot = kob_andersen()
    s = random_packing(64, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0)
    nb = pot.neighbors(s)
    idx = rdf.rdf_neighbors(s, 2.5, 0.1)
    grid = np.linspace(0.0, 5.0, 11)
    for bad in (NAN, INF):
        b = s.with_positions(s.positions.at[3, 1].set(bad))
        calls = (lambda b: hessian.hessian(pot, b, nb), lambda b: hessian.dynamical_matrix(pot, b, nb),
                 lambda b: hessian.hvp_fn(pot, b, nb), lambda b: modes.modes(pot, b, nb),
                 lambda b: modes.frequencies(pot, b, nb), lambda b: modes.pdos(pot, b, grid, 0.5, nbrs=nb),
                 lambda b: kpm.pdos(pot, b, grid, 0.5, nbrs=nb),
                 lambda b: sumrules.trace_dynamical(pot, b, nb), lambda b: rdf.rdf(b, grid, 0.1, idx))
        for call in calls:
            with pytest.raises(UserError, match=r"^positions: non-finite .* atoms \[3\]"):
                call(b)
    bad_box = s.replace(box=s.box.at[0].set(NAN))
    with pytest.raises(UserError, match="^box: non-finite"):
        hessian.hessian(pot, bad_box, nb)
    # traced positions are not checked (no value yet): the jitted Hessian of NaN positions is NaN
    H = jax.jit(lambda x: hessian.hessian(pot, s.with_positions(x), nb))(s.positions.at[3, 1].set(NAN))
    assert np.isnan(np.asarray(H)).any()


def test_potential_spec_numbers():
    from jaxglass.potentials import from_spec

    for bad in ("inf", "nan", "-1", "0"):
        with pytest.raises(UserError, match="^cutoff: expected a finite number > 0, got .*positive"):
            from_spec(f"lj:c2:{bad}")
    with pytest.raises(UserError, match="positive number"):
        from_spec("lj:c2:far")


def test_all_zero_spectrum_blames_the_potential():
    with pytest.raises(UserError, match="^potential: every mode frequency is 0.*no pair of atoms interacts"):
        modes.default_grid(np.zeros(24))


def test_too_few_structures_for_a_study():
    for n in (1, 2, 3):
        with pytest.raises(UserError, match=f"^dataset: {n} structure\\(s\\) are too few for a study"):
            split_indices(np.linspace(0, 1, n), 0.2, 0)
    with pytest.raises(UserError, match="^split: 4 structures cannot be split with test_fraction=0.5"):
        split_indices(np.linspace(0, 1, 4), 0.5, 0)
    tr, te = split_indices(np.linspace(0, 1, 4), 0.2, 0)
    assert len(tr) == 3 and len(te) == 1


# ----------------------------------------------------------------------------------------------
# Commands: exit status 2, no traceback, the option named


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A one-frame 8-atom KA 3D structure and a tiny (X, Y) pair for `train`."""
    pytest.importorskip("ase")
    from jaxglass.generate import random_packing
    from jaxglass.structure import write

    d = tmp_path_factory.mktemp("val")
    s = random_packing(8, 1.2, 3, {"A": 0.75, "B": 0.25}, min_distance=0.75, seed=0)
    write(str(d / "s.extxyz"), s)
    rng = np.random.default_rng(0)
    np.save(d / "X.npy", rng.random((8, 5)))
    np.save(d / "Y.npy", rng.random((8, 3)))
    return d


def _cli_cases():
    cases = []
    for v in ("inf", "nan", "0", "-1"):
        cases += [
            (["pdos", "{s}", "--potential", "ka", "--sigma", v], "--sigma"),
            (["pdos", "{s}", "--potential", "ka", "--fmax", v], "--fmax"),
            (["rdf", "{s}", "--sigma", v], "--sigma"),
            (["rdf", "{s}", "--r-max", v], "--r-max"),
            (["spectra", "{s}", "--potential", "ka", "--sigma", v], "--sigma"),
            (["spectra", "{s}", "--potential", "ka", "--temperature", v], "--temperature"),
        ]
    for v in ("inf", "nan", "-1"):
        cases += [
            (["train", "--features", "{X}", "--targets", "{Y}", "--model", "ridge", "--l2", v], "--l2"),
            (["train", "--features", "{X}", "--targets", "{Y}", "--model", "lasso", "--l1", v], "--l1"),
            (["rdf", "{s}", "--r-min", v], "--r-min"),
        ]
    for v in ("1", "0", "-5"):
        cases += [
            (["pdos", "{s}", "--potential", "ka", "--n-points", v], "--n-points"),
            (["spectra", "{s}", "--potential", "ka", "--n-points", v], "--n-points"),
            (["rdf", "{s}", "--n-r", v], "--n-r"),
            (["pdos", "{s}", "--potential", "ka", "--method", "kpm", "--moments", v], "--moments"),
        ]
    cases += [
        (["pdos", "{s}", "--potential", "ka", "--method", "kpm", "--vectors", "0"], "--vectors"),
        (["pdos", "{s}", "--potential", "ka", "--max-steps", "0"], "--max-steps"),
        (["pdos", "{s}", "--potential", "lj:c2:inf"], "--potential"),
        (["rdf", "{s}", "--n-r", str(10**11)], "--n-r"),  # memory estimate, before allocating
        (["rdf", "{s}", "--sigma", "1e-9"], "--sigma"),  # fine bins: memory estimate
        (["rdf", "{s}", "--index", "5"], "--index"),  # a one-frame file
        (["train", "--features", "{X}", "--targets", "{Y}", "--test-fraction", "nan"], "--test-fraction"),
        (["perturb", "{s}", "--model", "{X}", "--n-random", "-1"], "--n-random"),
        (["perturb", "{s}", "--model", "{X}", "--n-test", "0"], "--n-test"),
    ]
    return cases


CLI_CASES = _cli_cases()


@pytest.mark.parametrize("argv, option", CLI_CASES, ids=[" ".join([a[0], *a[-2:]]) for a, _ in CLI_CASES])
def test_commands_refuse_bad_values(files, tmp_path, capsys, argv, option):
    argv = [a.format(s=files / "s.extxyz", X=files / "X.npy", Y=files / "Y.npy") for a in argv]
    out = tmp_path / ("m.npz" if argv[0] == "train" else "out")
    rc = main([*argv, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Traceback" not in err and "internal error" not in err
    assert f"\njaxglass: error: {option}" in f"\n{err}", err
    assert not out.exists() or not any(out.iterdir())


def test_kpm_memory_is_refused_with_the_estimate(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("JAXGLASS_MEMORY_LIMIT", "1GB")
    rc = main(["pdos", str(files / "s.extxyz"), "--potential", "ka", "--method", "kpm", "--moments",
               str(10**8), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("jaxglass: error: --moments: KPM with M = 100000000") and "GB" in err
