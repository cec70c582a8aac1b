"""Kernel polynomial method: against the dense route, stochastic error, jit and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import vashishta_short

import jaxglass.errors
from jaxglass import kpm, phonons
from jaxglass.generate import random_packing, zincblende
from jaxglass.hessian import as_f64, dynamical_hvp, dynamical_matrix
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen


@pytest.fixture(scope="module")
def ka2d():
    pot = kob_andersen()
    s = random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0)
    s = as_f64(minimize(pot, s, fmax=1e-8).structure)
    return pot, s, pot.neighbors(s)


def _exact_probes(s):
    nd = s.positions.size
    return jnp.sqrt(nd) * jnp.eye(nd).reshape(nd, *s.positions.shape)


def _dense_bounds(pot, s, nb):
    lam = np.linalg.eigvalsh(np.asarray(dynamical_matrix(pot, s, nb)))
    return lam, (lam[0] - 0.01 * lam[-1], 1.01 * lam[-1])


def test_spectral_bounds_enclose_spectrum(ka2d):
    pot, s, nb = ka2d
    lam, _ = _dense_bounds(pot, s, nb)
    v0 = jax.random.normal(jax.random.PRNGKey(0), s.positions.shape)
    a, b = kpm.spectral_bounds(lambda v: dynamical_hvp(pot, s, nb, v), v0)
    assert a <= lam[0] and b >= lam[-1]
    assert b < 1.2 * lam[-1]  # not uselessly wide


def test_chebyshev_moments_match_dense_traces():
    """Moments of a random symmetric matrix against Tr T_n(X) from its eigenvalues (n up to 40)."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 30))
    a = (a + a.T) / 20.0
    lam = np.linalg.eigvalsh(a)
    assert np.abs(lam).max() < 1
    z = np.sqrt(30) * np.eye(30)
    mu = jax.vmap(lambda v: kpm.chebyshev_moments(lambda x: jnp.asarray(a) @ x, v, 41))(jnp.asarray(z))
    mu = np.asarray(mu.mean(0)) / 30
    ref = np.array([np.mean(np.cos(n * np.arccos(lam))) for n in range(41)])
    np.testing.assert_allclose(mu, ref, atol=1e-12)


def test_exact_trace_converges_to_dense_pdos(ka2d):
    """With the exact trace (unit probes) the KPM DOS tends to the dense Gaussian DOS.

    Away from ν = 0 the error falls faster than 1/M (2.4e-3 → 1.6e-4 from M = 256 to 1024); the two
    translational zero modes sit on the √λ cusp at λ = 0 and are smeared over ν ≲ sqrt(π h / M)
    (2 of 80 modes here: the error at ν ≈ 0 falls only as 1/M; negligible for large N).
    """
    pot, s, nb = ka2d
    _, ab = _dense_bounds(pot, s, nb)
    grid, sigma = jnp.linspace(0.0, 40.0, 121), 1.5
    dense = phonons.pdos(pot, s, grid, sigma)
    proj = phonons.species_projector(s).reshape(-1, *s.positions.shape)
    z = _exact_probes(s)
    scale = float(dense.total.max())
    far = np.asarray(grid) > 6.0
    errs, errs_far = [], []
    for m in (256, 1024):
        mu = kpm.moments(pot, s, nb, z, ab, m, proj)
        dens = mu @ kpm.frequency_dos_coefficients(grid, sigma, 1.0, ab[0], ab[1], m).T
        e = np.abs(np.asarray(dens - dense.partial)) / scale
        errs.append(e.max())
        errs_far.append(e[:, far].max())
    assert errs_far[0] < 5e-3 and errs_far[1] < 5e-4
    assert errs[1] < errs[0] / 2.5 and errs[1] < 0.03


def test_exact_trace_three_body_sic_moments():
    """Three-body potential (Vashishta Si-C, shortened cutoff), 3C-SiC + noise: species-projected
    moments Tr[P_s T_n(X)]/(N d) from Hessian-vector products = the dense eigen-decomposition's."""
    pot = vashishta_short()
    s = zincblende(4.36, (2, 2, 2))
    rng = np.random.default_rng(1)
    s = as_f64(s.with_positions(s.positions + 0.05 * rng.normal(size=s.positions.shape)))
    nb = pot.neighbors(s)
    D = np.asarray(dynamical_matrix(pot, s, nb))
    lam, vec = np.linalg.eigh(D)
    a, b = lam[0] - 1.0, lam[-1] + 1.0
    proj = phonons.species_projector(s).reshape(-1, *s.positions.shape)
    m = 24
    mu = kpm.moments(pot, s, nb, _exact_probes(s), (a, b), m, proj)
    x = (lam - 0.5 * (a + b)) / (0.5 * (b - a))
    w = np.asarray(phonons.species_projector(s)) @ vec**2  # (S, modes)
    ref = np.stack([w @ np.cos(n * np.arccos(x)) for n in range(m)], axis=1) / len(lam)
    np.testing.assert_allclose(mu, ref, atol=1e-11)


def test_stochastic_pdos_unbiased_and_normalised(ka2d):
    """Random probes: partials sum to the total, ∫ = 1, and the error falls with more vectors."""
    pot, s, nb = ka2d
    grid, sigma = jnp.linspace(-3.0, 52.0, 221), 1.5
    dense = phonons.pdos(pot, s, grid, sigma)
    errs = []
    for r in (4, 64):
        res = kpm.pdos(pot, s, grid, sigma, nbrs=nb, moments=256, vectors=r, key=3)
        np.testing.assert_allclose(res.partial.sum(0), res.total, atol=1e-12)
        assert abs(float(jnp.trapezoid(res.total, grid)) - 1.0) < 0.02
        errs.append(float(jnp.sqrt(jnp.mean((res.total - dense.total) ** 2))))
    assert errs[1] < errs[0] / 2  # ≈ 1/sqrt(R): 4x from 16x the vectors
    assert errs[1] < 0.05 * float(dense.total.max())


def test_dos_lambda_integrates_to_one(ka2d):
    pot, s, nb = ka2d
    _, ab = _dense_bounds(pot, s, nb)
    mu = kpm.moments(pot, s, nb, _exact_probes(s), ab, 128)[0]
    dl = (ab[1] - ab[0]) / 20000
    lam = ab[0] + dl * (jnp.arange(20000) + 0.5)  # midpoints: 1/sqrt(1 - x²) is singular at the ends
    rho = kpm.dos_lambda(mu, ab[0], ab[1], lam)
    assert abs(float(jnp.sum(rho) * dl) - 1.0) < 5e-3
    assert float(rho.min()) > -1e-6  # Jackson kernel: positive density


def test_kpm_pdos_jit_and_gradient_vs_finite_differences(ka2d):
    """Reverse-mode gradient through the Chebyshev recursion = central FD of the same estimator."""
    pot, s, nb = ka2d
    grid, sigma = jnp.linspace(0.0, 40.0, 81), 1.5
    lam, ab = _dense_bounds(pot, s, nb)
    w = jnp.exp(-0.5 * ((grid - 15.0) / 5.0) ** 2)

    def f(x):
        res = kpm.pdos(pot, s.with_positions(x), grid, sigma, nbrs=nb, moments=128, vectors=2, key=1,
                       bounds=ab, partial=False)
        return jnp.sum(w * res.total)

    g = jax.jit(jax.grad(f))(s.positions)
    rng = np.random.default_rng(0)
    u = jnp.asarray(rng.normal(size=s.positions.shape))
    h = 1e-5
    fd = (f(s.positions + h * u) - f(s.positions - h * u)) / (2 * h)
    assert np.isfinite(np.asarray(g)).all()
    np.testing.assert_allclose(float(jnp.vdot(g, u)), float(fd), rtol=1e-5, atol=1e-10)


def test_kpm_pdos_errors(ka2d):
    pot, s, nb = ka2d
    with pytest.raises(ValueError, match="moments"):
        kpm.pdos(pot, s, nbrs=nb, moments=1)
    with pytest.raises(ValueError, match="sigma"):
        kpm.pdos(pot, s, jnp.linspace(0, 1, 5), -1.0, nbrs=nb, moments=8, vectors=1)
    with pytest.raises(ValueError, match="grid, sigma"):
        jax.grad(lambda x: kpm.pdos(pot, s.with_positions(x), nbrs=nb, moments=8).total[0])(s.positions)


def test_sharded_over_four_host_devices_equals_single_device(tmp_path):
    """Atoms split over 4 (forced host) devices: same DOS to round-off, and the compiled program is
    really partitioned (per-device blocks of 16 atoms, collectives)."""
    script = tmp_path / "shard.py"
    script.write_text(
        "import os\n"
        "os.environ['XLA_FLAGS'] = '--xla_force_host_platform_device_count=4'\n"
        "import jax, jax.numpy as jnp, numpy as np\n"
        "import jaxglass; jaxglass.enable_x64()\n"
        "from jaxglass import kpm\n"
        "from jaxglass.generate import random_packing\n"
        "from jaxglass.hessian import as_f64\n"
        "from jaxglass.potentials import kob_andersen\n"
        "assert len(jax.devices()) == 4\n"
        "pot = kob_andersen()\n"
        "from jaxglass.minimize import minimize\n"
        "pot0 = kob_andersen()\n"
        "s = random_packing(64, 1.2, 2, {'A': 0.65, 'B': 0.35}, min_distance=0.7, seed=0)\n"
        "s = as_f64(minimize(pot0, s, fmax=1e-6).structure)\n"
        "nb = pot.neighbors(s); grid = jnp.linspace(-5, 60, 101)\n"
        "a = kpm.pdos(pot, s, grid, 1.5, nbrs=nb, moments=32, vectors=2, key=0)\n"
        "mesh = kpm.atom_mesh()\n"
        "b = kpm.pdos(pot, s, grid, 1.5, nbrs=nb, moments=32, vectors=2, key=0, mesh=mesh)\n"
        "err = float(np.abs(np.asarray(a.partial) - np.asarray(b.partial)).max())\n"
        "ss, nbs = kpm.shard_atoms(s, nb, mesh)\n"
        "txt = kpm._bounds_and_moments.lower(pot, ss, nbs, jax.random.PRNGKey(0), None, 32, 2, True, 40,"
        " mesh).compile().as_text()\n"
        "coll = txt.count('all-gather') + txt.count('all-reduce')\n"
        "print('ERR', err, 'BLOCKS', 'f64[16,2]' in txt, 'COLL', coll)\n"
    )
    import subprocess
    import sys

    env = {k: v for k, v in __import__("os").environ.items() if k != "XLA_FLAGS"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    line = [ln for ln in out.stdout.splitlines() if ln.startswith("ERR")][0].split()
    assert float(line[1]) < 1e-12
    assert line[3] == "True" and int(line[5]) > 0

    with pytest.raises(ValueError, match="evenly"):
        pot = kob_andersen()
        s = as_f64(random_packing(66, 1.2, 2, {"A": 1.0}, min_distance=0.7, seed=0))
        kpm.shard_atoms(s, pot.neighbors(s), kpm.atom_mesh([jax.devices()[0]] * 4))


def test_coherent_sqw_fixed_vectors_vs_modes():
    """KPM S(Q, ν) with fixed starting vectors = observables.one_phonon_structure_factor + broaden_sqw (same
    freq_min, no Debye-Waller) on a relaxed, rattled 64-atom SiC cell; Q off and on a Bragg vector
    (the rigid translations are projected out). M = 512: ≤ 3e-3 of the peak (M = 256 / 1024 / 4096:
    6.6e-3 / 4.3e-4 / 2.7e-5 measured)."""
    from jaxglass import observables as ob

    pot = vashishta_short()
    s = zincblende(4.36, (2, 2, 2))
    s = as_f64(s.with_positions(s.positions + 0.05 * np.random.default_rng(1).normal(size=s.positions.shape)))
    s = as_f64(minimize(pot, s, fmax=1e-5).structure)
    m = phonons.modes(pot, s)
    q = 2 * np.pi / 8.72 * np.array([[3.0, 1.0, 0.0], [2.0, 2.0, 2.0]])
    grid, sigma, fmin = jnp.linspace(-5.0, 35.0, 161), 0.8, 0.5
    sf = ob.one_phonon_structure_factor(s, m, q, freq_min=fmin)
    ref = ob.broaden_sqw(m.frequencies, sf, grid, sigma, 300.0)
    got = kpm.coherent_sqw(pot, s, q, grid, sigma, 300.0, moments=512, freq_min=fmin)
    err = np.abs(np.asarray(got - ref)).max(axis=1) / np.asarray(ref).max(axis=1)
    assert np.all(err < 3e-3), err
    with pytest.raises(ValueError, match="temperature"):
        kpm.coherent_sqw(pot, s, q, grid, sigma, 0.0)


def test_progress_route_equals_one_program(ka2d):
    """``progress=``: the recursion run from the host in chunks gives the one-program result (same
    probes and bounds) to round-off, and reports monotone counts ending at (M, M)."""
    pot, s, nb = ka2d
    grid, sigma, moments = jnp.linspace(-3.0, 52.0, 121), 1.5, 101  # odd M: the last step is cut
    ref = kpm.pdos(pot, s, grid, sigma, nbrs=nb, moments=moments, vectors=3, key=5)
    seen = []
    res = kpm.pdos(pot, s, grid, sigma, nbrs=nb, moments=moments, vectors=3, key=5,
                   progress=lambda done, total: seen.append((done, total)))
    np.testing.assert_allclose(res.partial, ref.partial, rtol=1e-10, atol=1e-12 * float(ref.total.max()))
    assert seen[0] == (2, moments) and seen[-1] == (moments, moments)
    assert all(b[0] > a[0] for a, b in zip(seen, seen[1:])) and len(seen) <= kpm.PROGRESS_CHUNKS + 1
    with pytest.raises(jaxglass.errors.UserError, match="progress"):
        jax.jit(lambda x: kpm.pdos(pot, s.with_positions(x), grid, sigma, nbrs=nb, moments=8, vectors=1,
                                   progress=print).total)(s.positions)


def test_eta_progress_lines():
    """EtaProgress: throttled lines, the ETA from the rate after the first chunk (compilation excluded)."""
    from jaxglass.data.progress import EtaProgress

    now, lines = [0.0], []
    p = EtaProgress("pdos: KPM", lines.append, unit="moments", every=2.0, clock=lambda: now[0])
    for t, done in [(0.0, 2), (30.0, 102), (31.0, 202), (33.0, 402), (35.0, 602), (43.0, 1000)]:
        now[0] = t
        p(done, 1000)
    # the 30 s first chunk (compilation) is not in the rate: 100 moments/s after it
    assert lines[0] == "pdos: KPM: 102/1000 moments (10 %), elapsed 0:00:30, ETA n/a"
    assert lines[1] == "pdos: KPM: 402/1000 moments (40 %), elapsed 0:00:33, ETA 0:00:06"
    assert lines[-1] == "pdos: KPM: 1000/1000 moments (100 %), elapsed 0:00:43, ETA 0:00:00"
    assert len(lines) == 4  # 31 s: within 2 s of the last line


def test_eta_progress_stages_line_budget_and_silent_short_stages():
    """EtaProgress with ``lines`` (about that many lines per stage), ``final=False`` (a stage that never
    wrote a line stays silent) and successive stages through one object (the MD of a build)."""
    from jaxglass.data.progress import EtaProgress

    now, lines = [0.0], []
    p = EtaProgress("MD", lines.append, unit="steps", every=1.0, clock=lambda: now[0], lines=4, final=False)
    for t, done in [(0.0, 10), (5.0, 20), (10.0, 40), (11.0, 50), (20.0, 70), (30.0, 100)]:
        now[0] = t
        p(done, 100)
    # 20 steps is less than 100 / 4 since the last line (none): no line at 5 s; 40 is: a line
    assert [ln.split(",")[0] for ln in lines] == ["MD: 40/100 steps (40 %)", "MD: 70/100 steps (70 %)",
                                                  "MD: 100/100 steps (100 %)"]
    assert lines[-1].endswith("elapsed 0:00:30, ETA 0:00:00")
    # a new stage (done went back): its own clock; a short stage writes nothing, not even the end
    lines.clear()
    for t, done in [(31.0, 50), (31.5, 100)]:
        now[0] = t
        p(done, 100)
    assert lines == []
    now[0] = 40.0
    p(10, 60)  # another total: a new stage again, timed from here
    now[0] = 50.0
    p(60, 60)
    assert lines == []  # no line before the end: still silent (final=False)
