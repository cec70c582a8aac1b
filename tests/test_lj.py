"""Kob-Andersen LJ: energy vs an independent numpy implementation, smooth cutoff, forces."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass.generate import random_packing
from jaxglass.potentials import energy, forces, kob_andersen
from jaxglass.potentials.lj import KA_EPSILON, KA_SIGMA


def _u(x, eps, sig):
    return 4 * eps * ((sig / x) ** 12 - (sig / x) ** 6)


def _du(x, eps, sig):
    return 4 * eps * (-12 * sig**12 / x**13 + 6 * sig**6 / x**7)


def _d2u(x, eps, sig):
    return 4 * eps * (156 * sig**12 / x**14 - 42 * sig**6 / x**8)


def numpy_ka_energy(pos, species, L):
    """All-pairs KA energy with the second-order smoothed cutoff, written from the formula."""
    n = len(pos)
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            dr = pos[j] - pos[i]
            dr -= L * np.round(dr / L)
            r = np.sqrt(dr @ dr)
            eps = KA_EPSILON[species[i], species[j]]
            sig = KA_SIGMA[species[i], species[j]]
            rc = 2.5 * sig
            if r >= rc:
                continue
            x = r - rc
            e += _u(r, eps, sig) - _u(rc, eps, sig) - _du(rc, eps, sig) * x - 0.5 * _d2u(rc, eps, sig) * x**2
    return e


@pytest.mark.parametrize("dim,xb,n", [(2, 0.35, 60), (3, 0.2, 160)])
def test_energy_matches_numpy_reference(dim, xb, n):
    s = random_packing(n, 1.2, dim, {"A": 1 - xb, "B": xb}, min_distance=0.75 if dim == 3 else 0.7, seed=2)
    pot = kob_andersen()
    e = energy(pot, s)
    ref = numpy_ka_energy(np.asarray(s.positions), np.asarray(s.species), np.asarray(s.box))
    assert e == pytest.approx(ref, rel=1e-12)


def test_smooth_cutoff_value_slope_curvature_vanish():
    pot = kob_andersen()
    phi = pot.terms[0].pair_energy
    for si, sj in [(0, 0), (0, 1), (1, 1)]:
        rc = 2.5 * KA_SIGMA[si, sj]
        f = lambda r, si=si, sj=sj: phi(r, jnp.int32(si), jnp.int32(sj))  # noqa: E731
        r0 = jnp.float64(rc - 1e-7)
        assert abs(float(f(r0))) < 1e-15
        assert abs(float(jax.grad(f)(r0))) < 1e-12
        assert abs(float(jax.grad(jax.grad(f))(r0))) < 1e-5
        # beyond the cutoff everything is exactly zero and finite
        r1 = jnp.float64(rc + 0.3)
        assert float(f(r1)) == 0.0 and float(jax.grad(jax.grad(f))(r1)) == 0.0


def test_forces_match_central_differences():
    s = random_packing(50, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=5)
    pot = kob_andersen()
    f = np.asarray(forces(pot, s))
    pos = np.asarray(s.positions)
    h = 1e-6
    for i, a in [(0, 0), (7, 1), (31, 0)]:
        p1, p2 = pos.copy(), pos.copy()
        p1[i, a] += h
        p2[i, a] -= h
        e1 = energy(pot, s.with_positions(jnp.asarray(p1)))
        e2 = energy(pot, s.with_positions(jnp.asarray(p2)))
        fd = -(e1 - e2)
        assert f[i, a] == pytest.approx(fd / (2 * h), rel=1e-6, abs=1e-7)


def test_unknown_species_and_dimension_errors():
    s = random_packing(30, 0.5, 2, {"C": 1.0}, min_distance=0.8, seed=0)
    with pytest.raises(ValueError, match="unknown to potential"):
        energy(kob_andersen(), s)
