"""``jaxglass pdos``: dense / values-only / KPM routes, option checks, persistent compilation cache.

References: the dense route with eigenvectors (host LAPACK ``dsyevd``) is the reference for the
values-only route (same eigenvalues: equal to 1e-9 of the peak) and for KPM (a stochastic estimate:
loose tolerance, stated in the test). All through ``jaxglass.cli.main`` as a user runs it.
"""

import json

import jax
import numpy as np
import pytest

from jaxglass import cache as jcache
from jaxglass import cli
from jaxglass.generate import random_packing
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen
from jaxglass.workflows import pdos as wf

pytest.importorskip("ase")


@pytest.fixture(scope="module")
def glass(tmp_path_factory):
    """A 64-atom KA 3D glass (A80B20, ρ = 1.2) relaxed by L-BFGS, as extxyz."""
    from jaxglass.structure import write

    s = random_packing(64, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=3)
    res = minimize(kob_andersen(), s, method="lbfgs", fmax=1e-6)
    assert res.converged
    path = tmp_path_factory.mktemp("glass") / "ka64.extxyz"
    write(str(path), res.structure)
    return str(path)


def _run(glass, out, *extra):
    rc = cli.main(
        ["pdos", glass, "--potential", "ka", "--sigma", "1.5", "--no-plot", "--out", str(out), *extra]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    with np.load(out / "pdos.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return summary, arrays


def test_routes_agree(glass, tmp_path, monkeypatch, capsys):
    from jaxglass import modes

    monkeypatch.setenv("JAXGLASS_COMPILE_CACHE", "0")
    monkeypatch.setattr(modes, "EIGH_REPORT_MIN_DOF", 100)  # 192 dof: the dense solves announce themselves
    s_dense, dense = _run(glass, tmp_path / "dense", "--method", "dense")
    s_vals, vals = _run(glass, tmp_path / "vals", "--no-partial")  # auto: small → dense, values only
    s_kpm, kpm = _run(glass, tmp_path / "kpm", "--method", "kpm", "--moments", "256", "--vectors", "16")
    out = capsys.readouterr().out
    assert "KPM start: N = 64 atoms (192 dof), M = 256 moments, R = 16" in out
    assert "KPM finished" in out
    for what in ("eigenvalues and eigenvectors", "eigenvalues only"):  # before LAPACK starts, then after
        start = out.index(f"pdos: dense eigen-solve: 192 x 192 dynamical matrix ({what}), estimated ")
        assert "pdos: dense eigen-solve: 192 x 192 finished in " in out[start:]
    assert out.count("calibration solve") == 2
    assert (s_dense["route"], s_vals["route"], s_kpm["route"]) == ("dense", "dense-values", "kpm")
    peak = dense["total"].max()
    # values-only LAPACK: the same eigenvalues (the three zero modes are sqrt(round-off) ~ 1e-7 of the
    # maximum in frequency), so the same total DOS to round-off
    np.testing.assert_allclose(
        vals["frequencies"], dense["frequencies"], atol=1e-6 * dense["frequencies"].max()
    )
    # (the default grid starts at the lowest frequency - 4σ: the zero modes' round-off moves it by ~1e-7)
    np.testing.assert_allclose(vals["total"], dense["total"], atol=1e-6 * peak)
    assert vals["partial"].shape[0] == 0 and dense["partial"].shape[0] == 2
    np.testing.assert_allclose(dense["partial"].sum(0), dense["total"], atol=1e-12 * peak)
    # KPM (192 dof, 16 Rademacher vectors per species, M = 256): stochastic trace error ~ 1/sqrt(R N d)
    # ≈ 2 % and a Jackson broadening well below σ. Measured (seed 0): max deviation 7.8 % of the peak
    # (total), 8.9 % (A partial), ∫|Δ| = 0.059
    grid = dense["grid"]
    kt = np.interp(grid, kpm["grid"], kpm["total"])
    assert np.max(np.abs(kt - dense["total"])) < 0.12 * peak
    assert np.trapezoid(np.abs(kt - dense["total"]), grid) < 0.08
    for k in range(2):  # species-resolved DOS from projected vectors
        kp = np.interp(grid, kpm["grid"], kpm["partial"][k])
        assert np.max(np.abs(kp - dense["partial"][k])) < 0.12 * peak
    assert s_kpm["pdos_integral"] == pytest.approx(1.0, abs=0.02)
    assert s_kpm["max_frequency_bound"] >= dense["frequencies"].max()


def test_compile_cache_gets_files_and_is_restored(glass, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("JAXGLASS_COMPILE_CACHE", str(cache))
    jax.clear_caches()  # force compiles in this process (earlier tests filled the in-memory caches)
    before = jax.config.jax_compilation_cache_dir
    _run(glass, tmp_path / "o", "--no-partial")
    files = [p for p in cache.rglob("*") if p.is_file()]
    assert len(files) > 5, files
    assert jax.config.jax_compilation_cache_dir == before  # no global state left behind
    # off switches: neither the env value 0 nor --no-compile-cache creates the default directory
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("JAXGLASS_COMPILE_CACHE", "0")
    assert jcache.compile_cache_dir() is None
    monkeypatch.delenv("JAXGLASS_COMPILE_CACHE")
    assert jcache.compile_cache_dir() == tmp_path / "xdg" / "jaxglass" / "jax"
    assert jcache.compile_cache_dir(disabled=True) is None
    rc = cli.main(
        [
            "--no-compile-cache",
            "pdos",
            glass,
            "--potential",
            "ka",
            "--no-partial",
            "--no-plot",
            "--out",
            str(tmp_path / "o2"),
        ]
    )
    assert rc == 0 and not (tmp_path / "xdg").exists()


def test_auto_threshold():
    n = wf.AUTO_DENSE_MAX_ATOMS
    assert wf.pdos_route("auto", n, True) == "dense"
    assert wf.pdos_route("auto", n, False) == "dense-values"
    assert wf.pdos_route("auto", n + 1, True) == "kpm"
    assert wf.pdos_route("kpm", 10, False) == "kpm"
    assert wf.pdos_route("dense", 10 * n, False) == "dense-values"


@pytest.mark.parametrize(
    "args, field",
    [
        (["--method", "kpm", "--moments", "1"], "--moments"),
        (["--method", "kpm", "--vectors", "0"], "--vectors"),
        (["--sigma", "-1"], "--sigma"),
        (["--n-points", "1"], "--n-points"),
        (["--method", "dense", "--moments", "64"], "--moments"),
        (["--potential", "nope"], "--potential"),
    ],
)
def test_bad_options_exit_2(glass, tmp_path, capsys, args, field):
    argv = ["pdos", glass, "--potential", "ka", "--out", str(tmp_path), *args]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxglass: error:") and field in err and "Traceback" not in err
