"""Best-fit pair kernels for Tr D: per-atom traces, exact recovery for pair potentials, smoothed-g moments.

Units: LJ reduced units for Kob-Andersen (unit masses), eV/Å²/amu for Lindsay-Broido carbon.
"""

import functools

import numpy as np
import pytest

from jaxglass import kernel_fit as kf
from jaxglass import sumrules as sr
from jaxglass.errors import UserError
from jaxglass.generate import graphene, random_packing
from jaxglass.hessian import dynamical_matrix
from jaxglass.potentials import kob_andersen, lindsay_broido_carbon
from jaxglass.rdf import rdf


@functools.cache
def _ka(d):
    n, x_b = {3: (200, 0.2), 2: (80, 0.35)}[d]
    return random_packing(n, 1.2, d, {"A": 1 - x_b, "B": x_b}, min_distance=0.7, seed=2)


class _ExactBasis:
    """The three exact KA trace kernels k_AA, k_AB, k_BB as basis functions (an independent route:
    the fit sees only them and the Hessian's per-atom traces)."""

    def __init__(self, pot, d):
        self.pot, self.d, self.r_cut = pot, d, pot.cutoff

    def values(self, r):
        k = np.asarray(sr.pair_kernel(self.pot, np.asarray(r, np.float64), self.d))
        return np.stack([k[0, 0], k[0, 1], k[1, 1]])


def test_atom_traces_sum_to_eigenvalue_sum():
    """Σ_i t_i = Σ λ_n of the dense dynamical matrix: KA (pair) and Lindsay-Broido Tersoff (three-body)."""
    rng = np.random.default_rng(0)
    sheet = graphene(1.44, (3, 4))
    sheet = sheet.with_positions(sheet.positions + 0.05 * rng.standard_normal(sheet.positions.shape))
    for pot, s in ((kob_andersen(), _ka(2)), (lindsay_broido_carbon(), sheet)):
        t = kf.atom_traces(pot, s)
        lam = np.linalg.eigvalsh(np.asarray(dynamical_matrix(pot, s)))
        assert t.shape == (s.n_atoms,)
        assert t.sum() == pytest.approx(lam.sum(), rel=1e-11)


@pytest.mark.parametrize("d", [2, 3])
def test_fit_recovers_exact_pair_kernel(d):
    """KA: with the exact kernels in the basis the fit on Hessian traces returns them to round-off,
    per atom, and its moment weights equal sumrules.moment_kernel."""
    s, pot = _ka(d), kob_andersen()
    fit = kf.fit_pair_kernel(pot, [s], _ExactBasis(pot, d))
    want = np.array([[[1, 0, 0], [0, 1, 0]], [[0, 1, 0], [0, 0, 1]]], float)
    np.testing.assert_allclose(fit.coef, want, atol=1e-9)
    t = kf.atom_traces(pot, s)
    np.testing.assert_allclose(kf.predict_atom_traces(pot, fit, s), t, rtol=1e-9, atol=1e-9 * np.abs(t).max())
    r = np.linspace(0.8, 2.4, 50)
    np.testing.assert_allclose(kf.kernel_values(fit, r), np.asarray(sr.pair_kernel(pot, r, d)),
                               rtol=1e-8, atol=1e-8)
    comp = sr.composition(s)
    np.testing.assert_allclose(kf.fitted_moment_kernel(fit, r, comp),
                               np.asarray(sr.moment_kernel(pot, r, comp)), rtol=1e-8, atol=1e-10)


def test_gaussian_kernel_on_smoothed_rdf():
    """A Gaussian-basis kernel: Σ_r M_σ g_σ(r) from the smoothed partial RDF equals the kernel's own
    pair sum f² Σ_i t̂_i / (dN) (exact deconvolution; only the r quadrature is left: < 1e-6)."""
    s, pot = _ka(2), kob_andersen()
    basis = kf.gaussian_basis(0.8, 2.3, 16, dim=2)
    fit = kf.fit_pair_kernel(pot, [s], basis, l2=1e-8)
    pair_sum = pot.freq_factor**2 * kf.predict_atom_traces(pot, fit, s).sum() / (2 * s.n_atoms)
    sigma = 0.03
    grid = np.arange(0.4, basis.r_cut + 0.3, sigma / 4)
    M = kf.fitted_moment_kernel(fit, grid, sr.composition(s), r_sigma=sigma)
    via_g = float(np.sum(M * np.asarray(rdf(s, grid, sigma).partial)))
    assert via_g == pytest.approx(pair_sum, rel=1e-6)
    with pytest.raises(UserError, match="smoothing"):
        basis.values(grid, smoothing=2 * basis.width)
