"""Restrained minima and inverse design on the landscape: the implicit derivative of the restrained
minimum x*(R) = argmin E(x) + (k/2)|x - R|² with respect to the reference positions R (and k) against
central finite differences of structures re-relaxed at R ± hV; translations are not projected out
(a uniform shift of R moves x* by the same shift); a short design run lowers its loss and ends at a
minimum of the physical potential."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import UserError
from jaxglass.design import design_on_landscape
from jaxglass.equilibrium import bias_energy, biased_minimum
from jaxglass.generate import random_packing
from jaxglass.minimize import minimize
from jaxglass.modes import pdos
from jaxglass.perturb import Grids
from jaxglass.potentials import kob_andersen
from jaxglass.potentials.base import forces
from jaxglass.space import displacement

FMAX = 1e-11
H = 1e-5


@pytest.fixture(scope="module")
def ka2d():
    pot = kob_andersen()
    s = random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0)
    return minimize(pot, s, fmax=1e-10).structure, pot


def _fd(f, s, h=H):
    """Central difference of Σ w·x* from two re-relaxed structures (minimum-image difference)."""
    xp, xm = f(h), f(-h)
    return np.asarray(displacement(np.asarray(xp - xm), np.asarray(s.box), s.periodic)) / (2 * h)


def test_restrained_minimum_derivative_vs_rerelaxed_fd(ka2d):
    s, pot = ka2d
    rng = np.random.default_rng(0)
    R = s.positions + 0.1 * rng.normal(size=s.positions.shape)
    w, V = rng.normal(size=s.positions.shape), rng.normal(size=s.positions.shape)
    k = 2.0

    def along(t, mode="reverse"):
        return biased_minimum(pot, s, R + t * V, k, fmax=FMAX, mode=mode)

    g = jax.grad(lambda r: jnp.vdot(w, biased_minimum(pot, s, r, k, fmax=FMAX)))(R)
    fd = float(np.vdot(w, _fd(along, s)))
    np.testing.assert_allclose(float(jnp.vdot(g, V)), fd, rtol=1e-6)
    # forward mode: the same directional derivative
    jv = jax.jvp(lambda t: jnp.vdot(w, along(t, "forward")), (0.0,), (1.0,))[1]
    np.testing.assert_allclose(float(jv), fd, rtol=1e-6)
    # the derivative with respect to k (relative check on a larger step, the value is small)
    gk = jax.grad(lambda kk: jnp.vdot(w, biased_minimum(pot, s, R, kk, fmax=FMAX)))(k)
    fdk = float(np.vdot(w, _fd(lambda t: biased_minimum(pot, s, R, k + t, fmax=FMAX), s, 1e-3)))
    np.testing.assert_allclose(float(gk), fdk, rtol=1e-4)
    # x* is a restrained minimum: ∇E + k (x* - R) = 0
    x = biased_minimum(pot, s, R, k, fmax=FMAX)
    nb = pot.neighbors(s.with_positions(x))
    def restrained(z):
        return pot.energy(s.with_positions(z), nb) + bias_energy(s.with_positions(z), R, k)

    total = jax.grad(restrained)(x)
    assert float(jnp.max(jnp.abs(total))) < 1e-10


def test_uniform_shift_of_reference_moves_the_minimum_rigidly(ka2d):
    """E is translation invariant, so x*(R + c) = x*(R) + c: dx*/dR along a uniform shift is the
    shift itself (a solve that projected the translations out would give 0 there)."""
    s, pot = ka2d
    R = s.positions + 0.05 * np.random.default_rng(1).normal(size=s.positions.shape)
    shift = jnp.zeros_like(s.positions).at[:, 0].set(1.0)
    _, tangent = jax.jvp(lambda r: biased_minimum(pot, s, r, 1.0, fmax=FMAX, mode="forward"), (R,), (shift,))
    np.testing.assert_allclose(np.asarray(tangent), np.asarray(shift), atol=1e-8)


def test_biased_minimum_rejects_a_reference_of_the_wrong_shape(ka2d):
    s, pot = ka2d
    with pytest.raises(UserError) as err:
        biased_minimum(pot, s, s.positions[:-1], 1.0)
    assert err.value.field == "reference"
    with pytest.raises(UserError) as err:
        biased_minimum(pot, s, s.positions, -1.0)
    assert err.value.field == "k"


def test_design_on_landscape_lowers_its_loss_and_ends_at_a_minimum():
    pot = kob_andersen()
    start = minimize(pot, random_packing(32, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=2),
                     fmax=1e-8).structure
    other = minimize(pot, random_packing(32, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=5),
                     fmax=1e-8).structure
    grids = Grids(np.linspace(0.6, 2.0, 30), 0.05, np.linspace(0.0, 40.0, 41), 2.0)  # RDF reach < L/2
    target = pdos(pot, other, jnp.asarray(grids.freq), grids.freq_sigma, partial=False).total
    res = design_on_landscape(pot, start, target, grids, k=5.0, steps=4, learning_rate=0.02)
    assert len(res.losses) == 4 and res.losses[-1] < res.losses[0]
    assert len(res.probes) == len(res.probe_shifts) == 4 and min(res.probe_shifts) >= 0
    assert res.converged and res.fmax_end <= 1e-6
    f = np.asarray(forces(pot, res.structure))
    assert np.max(np.linalg.norm(f, axis=1)) <= 1e-6
    np.testing.assert_allclose(res.distance_start**2, res.losses[0], rtol=1e-6)
    W, b = np.zeros((41, 30)), np.asarray(target)  # a surrogate that is already at the target: no move
    lin = design_on_landscape(pot, start, target, grids, route="linear", W=W, b=b, k=5.0, steps=2)
    assert lin.losses == (0.0, 0.0) and np.isclose(lin.distance_end, lin.distance_start, rtol=1e-6)
