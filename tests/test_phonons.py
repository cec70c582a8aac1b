"""Phonon engine checks against independent references.

Units: Hessians in eV/Å² (ε/σ² for LJ), frequencies in THz (ω in LJ reduced units).
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import make_structure, phonons
from jaxglass.generate import fcc, graphene, random_packing, triangular, zincblende
from jaxglass.hessian import assemble, hvp
from jaxglass.potentials import (
    kob_andersen,
    lindsay_broido_carbon,
    read_setfl,
    vashishta_sic_2007,
)

SETFL = Path(__file__).resolve().parents[2] / "shared/potentials/ZrCuAl2011.eam.alloy"


def _perturb(s, scale, seed):
    rng = np.random.default_rng(seed)
    return s.with_positions(s.positions + rng.normal(scale=scale, size=s.positions.shape))


def _ka2d():
    return random_packing(60, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=4), kob_andersen()


def _amc():
    return _perturb(graphene(2.49205, (3, 2)), 0.03, 0), lindsay_broido_carbon()


def _sic():
    s = zincblende(4.35817, (4, 4, 4), ("Si", "C"))
    return _perturb(s, 0.02, 1), vashishta_sic_2007()


def _cuzr():
    if not SETFL.exists():
        pytest.skip(f"reference potential file {SETFL} not present")
    pot = read_setfl(SETFL, spline="cubic")
    # B2 CuZr with one Al substitution, perturbed; 5^3 cells keep the box above twice the cutoff
    a = 3.2526
    base = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    g = np.stack(np.meshgrid(*[np.arange(5)] * 3, indexing="ij"), -1).reshape(-1, 3)
    pos = ((g[:, None, :] + base[None]) * a).reshape(-1, 3)
    sp = np.tile(["Cu", "Zr"], len(g))
    sp[10] = "Al"
    from jaxglass import make_structure

    s = make_structure(pos, sp, 5 * a, species_names=("Cu", "Zr", "Al"))
    return _perturb(s, 0.03, 2), pot


def _keating():
    from jaxglass.generate.amc import keating_potential

    g = graphene(2.49205, (3, 2))
    s2 = make_structure(np.asarray(g.positions)[:, :2], ["C"] * g.n_atoms, np.asarray(g.box)[:2])
    return _perturb(s2, 0.03, 3), keating_potential()


SYSTEMS = {"ka2d": _ka2d, "amc": _amc, "sic_vashishta": _sic, "cuzral_eam": _cuzr, "amc_keating": _keating}


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_hessian_matches_central_differences_of_forces(name):
    """Columns of the autodiff Hessian vs -dF/dx by central differences (h = 1e-5)."""
    s, pot = SYSTEMS[name]()
    H = np.asarray(phonons.hessian(pot, s))
    n, d = s.positions.shape
    assert H.shape == (n * d, n * d)
    nbrs = pot.neighbors(s, skin=0.5)
    fjit = jax.jit(jax.grad(pot.energy_fn(s, nbrs)))
    h = 1e-5
    pos = np.asarray(s.positions)
    scale = np.abs(H).max()
    for col in (0, d * (n // 2) + 1, n * d - 1):
        i, a = divmod(col, d)
        p1, p2 = pos.copy(), pos.copy()
        p1[i, a] += h
        p2[i, a] -= h
        fd = (np.asarray(fjit(jnp.asarray(p1))) - np.asarray(fjit(jnp.asarray(p2)))).ravel() / (2 * h)
        assert np.max(np.abs(fd - H[:, col])) < 2e-6 * scale, name


@pytest.mark.parametrize("name", ["ka2d", "amc", "amc_keating"])
def test_acoustic_sum_rule_and_symmetry(name):
    """Translational invariance: sum_j H_{ia,jb} = 0 for every i, a, b; and H = H^T."""
    s, pot = SYSTEMS[name]()
    H = np.asarray(phonons.hessian(pot, s, symmetrize=False))
    n, d = s.positions.shape
    blocks = H.reshape(n, d, n, d).sum(axis=2)
    assert np.max(np.abs(blocks)) < 1e-9 * np.abs(H).max()
    assert np.max(np.abs(H - H.T)) < 1e-10 * np.abs(H).max()


def test_jit_and_eager_hessian_agree():
    """The jitted, chunked assembly equals op-by-op (eager) Hessian-vector products and the jitted
    assembly at another chunk size (one eager product: a whole eager assembly took 30 s)."""
    s, pot = _amc()
    nbrs = tuple(jnp.asarray(i) for i in pot.neighbors(s))
    jitted = np.asarray(phonons.hessian(pot, s, nbrs, chunk=5, symmetrize=False))
    np.testing.assert_allclose(np.asarray(assemble(pot, s, nbrs, 8)), jitted, rtol=1e-12, atol=1e-10)
    v = np.random.default_rng(0).normal(size=s.positions.shape)
    with jax.disable_jit():
        eager = np.asarray(hvp(pot, s, nbrs, jnp.asarray(v)))
    np.testing.assert_allclose(eager.ravel(), jitted @ v.ravel(), rtol=1e-10, atol=1e-9)


def test_periodic_crystals_have_exactly_dim_zero_modes():
    pot = kob_andersen()
    a3 = (4 / 1.2) ** (1 / 3)
    s3 = fcc(a3, (4, 4, 4), species="A")
    f3 = np.asarray(phonons.frequencies(pot, s3))
    assert np.sum(np.abs(f3) < 1e-4) == 3
    assert f3[3] > 0.5 and phonons.count_imaginary(f3) == 0
    a2 = np.sqrt(2 / (np.sqrt(3) * 1.2))
    s2 = triangular(a2, (6, 4), species="A")
    f2 = np.asarray(phonons.frequencies(pot, s2))
    assert np.sum(np.abs(f2) < 1e-4) == 2 and f2[2] > 0.1


def test_graphene_gamma_max_lindsay_broido():
    """96-atom LB-Tersoff graphene: Γ max 50.63 THz with LAMMPS (BNC.tersoff); exp. G band ≈ 47.5 THz."""
    s = graphene(2.49205, (4, 6))
    assert s.n_atoms == 96
    f = np.asarray(phonons.frequencies(lindsay_broido_carbon(), s))
    assert f[-1] == pytest.approx(50.63, abs=0.05)
    # a sheet periodic in x, y: exactly the 3 rigid translations are zero modes
    assert np.sum(np.abs(f) < 1e-3) == 3
    assert phonons.count_imaginary(f) == 0


def test_two_atom_chain_analytic():
    """Diatomic LJ dimer in 2D, open box: ω² = 2 k / m_red with k = φ''(r0)/... analytic check."""
    from jaxglass import make_structure
    from jaxglass.potentials.lj import _lj_d2

    pot = kob_andersen()
    r0 = 2 ** (1 / 6) * 0.8 * 1.0  # near the AB minimum; the dimer need not be at equilibrium
    s = make_structure([[5.0, 5.0], [5.0 + r0, 5.0]], ["A", "B"], 20.0, periodic=False, masses=[1.0, 2.0])
    f = np.asarray(phonons.frequencies(pot, s))
    rc = 2.5 * 0.8
    k = _lj_d2(r0, 1.5, 0.8) - _lj_d2(rc, 1.5, 0.8)  # smoothed φ'' = φ''(r) - φ''(rc)
    mu = 1.0 * 2.0 / 3.0
    assert f[-1] == pytest.approx(np.sqrt(k / mu), rel=1e-10)


def test_pdos_normalisation_and_partials():
    s = zincblende(4.35817, (4, 4, 4), ("Si", "C"))
    s = _perturb(s, 0.02, 7)
    pot = vashishta_sic_2007()
    m = phonons.modes(pot, s)
    fmax = float(m.frequencies[-1])
    p = phonons.pdos(pot, s, grid=jnp.linspace(-3, fmax + 3, 2000), sigma=0.3, m=m)
    total = np.asarray(p.total)
    grid = np.asarray(p.grid)
    assert np.trapezoid(total, grid) == pytest.approx(1.0, abs=1e-6)
    part = np.asarray(p.partial)
    assert part.shape == (2, len(grid))
    assert np.allclose(part.sum(0), total, atol=1e-12)
    # C is light: its weight dominates the high-frequency band, Si the low one
    hi = grid > 22
    lo = (grid > 1) & (grid < 12)
    assert np.trapezoid(part[1][hi], grid[hi]) > 3 * np.trapezoid(part[0][hi], grid[hi])
    assert np.trapezoid(part[0][lo], grid[lo]) > np.trapezoid(part[1][lo], grid[lo])
    # each species carries half of the modes (equal numbers of atoms)
    assert np.trapezoid(part[0], grid) == pytest.approx(0.5, abs=1e-6)


def test_dos_rejects_bad_sigma():
    with pytest.raises(ValueError, match="sigma"):
        phonons.dos(jnp.ones(3), jnp.linspace(0, 1, 5), 0.0)


def test_eigvalsh_gradient_finite_at_degeneracy():
    """Hellmann-Feynman JVP: a symmetric function of a degenerate spectrum gets the exact gradient."""
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    a0 = jnp.asarray(q @ np.diag([1.0, 1.0, 1.0, 2.0, 3.0]) @ q.T)  # triple degeneracy
    b = rng.normal(size=(5, 5))
    b = jnp.asarray(b + b.T)

    def f(t):
        return jnp.sum(jnp.exp(-phonons.eigvalsh(a0 + t * b)))

    g = jax.grad(f)(0.0)
    h = 1e-6
    fd = (f(h) - f(-h)) / (2 * h)
    assert np.isfinite(g) and g == pytest.approx(float(fd), rel=1e-6)


@pytest.mark.parametrize("name", ["ka2d", "cuzral_eam", "sic_vashishta"])
def test_hvp_matches_dense_hessian(name):
    """Every HVP route equals the dense Hessian: hessian.hvp (forward mode over explicit forces for pair
    terms and the EAM, forward-over-reverse for Vashishta) and the operators of loops (hvp_fn:
    linearised pair terms and EAM, hvp itself for Vashishta)."""
    from jaxglass.hessian import hvp as hvp_direct

    s, pot = SYSTEMS[name]()
    H = np.asarray(phonons.hessian(pot, s))
    v = np.random.default_rng(1).normal(size=s.positions.shape)
    nb = pot.neighbors(s)
    for got in (phonons.hvp_fn(pot, s)(jnp.asarray(v)), hvp_direct(pot, s, nb, jnp.asarray(v))):
        assert np.allclose(np.asarray(got).ravel(), H @ v.ravel(), rtol=1e-9, atol=1e-8)


def test_count_imaginary_tolerance():
    freqs = np.array([-3.0, -0.001, 0.0, 0.001, 5.0, 10.0])
    assert phonons.count_imaginary(freqs) == 1  # default tol: 1e-3 of the largest |frequency|
    assert phonons.count_imaginary(freqs, tol=1e-4) == 2


def test_modes_report_imaginary_for_unrelaxed_glass():
    s, pot = _ka2d()  # random packing, not minimised: a saddle-rich configuration
    m = phonons.modes(pot, s, eigenvectors=False)
    assert m.n_imaginary() > 0
    assert np.all(np.diff(np.asarray(m.frequencies)) >= 0)


def test_modes_from_precomputed_hessian_or_dynamical_matrix():
    s, pot = _ka2d()
    ref = np.asarray(phonons.modes(pot, s, eigenvectors=False).frequencies)
    H = phonons.hessian(pot, s)
    D = phonons.dynamical_matrix(pot, s)
    np.testing.assert_array_equal(np.asarray(phonons.modes(pot, s, eigenvectors=False, H=H).frequencies), ref)
    np.testing.assert_array_equal(np.asarray(phonons.modes(pot, s, eigenvectors=False, D=D).frequencies), ref)
    with pytest.raises(ValueError, match="H, D"):
        phonons.modes(pot, s, H=H, D=D)
