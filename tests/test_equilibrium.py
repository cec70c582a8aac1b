"""Derivatives at equilibrium: the implicit derivative of the relaxed positions (and of a PDOS feature
at the minimum) with respect to potential parameters vs central finite differences of structures fully
re-relaxed at θ ± h (same start, tight fmax); translation projection; errors off a minimum."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import UserError
from jaxglass.equilibrium import equilibrium_positions, relaxed_positions, solve_hessian
from jaxglass.generate import random_packing
from jaxglass.hessian import hvp_fn
from jaxglass.minimize import minimize
from jaxglass.modes import pdos
from jaxglass.potentials import kob_andersen
from jaxglass.space import displacement

FMAX = 1e-11  # relaxation tolerance of the finite-difference references
H = 1e-4  # finite-difference step of the parameters


def _ka(n, dim, seed=0):
    s = random_packing(n, 1.2, dim, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=seed)
    pot = kob_andersen()
    return minimize(pot, s, fmax=1e-10).structure, pot


@pytest.fixture(scope="module")
def ka2d():
    return _ka(40, 2)


def _with(pot, name, t):
    """``pot`` with the AB entry of the pair table ``name`` moved by ``t`` (kept symmetric)."""
    p = dict(pot.params[0])
    a = jnp.asarray(p[name])
    p[name] = a + t * jnp.zeros_like(a).at[0, 1].set(1.0).at[1, 0].set(1.0)
    return pot.with_params([p])


def _fd_positions(pot, s, name, w):
    """Central FD of Σ w·x* over re-relaxed structures (minimum-image differences)."""
    xp = minimize(_with(pot, name, H), s, fmax=FMAX).structure.positions
    xm = minimize(_with(pot, name, -H), s, fmax=FMAX).structure.positions
    dx = displacement(np.asarray(xp - xm), np.asarray(s.box), s.periodic)
    return float(np.vdot(w, dx)) / (2 * H)


def _check_positions(s, pot, names, rtol):
    w = np.random.default_rng(3).normal(size=s.positions.shape)
    for name in names:
        g = jax.grad(lambda t, n=name: jnp.vdot(w, relaxed_positions(_with(pot, n, t), s, fmax=FMAX)))(0.0)
        np.testing.assert_allclose(float(g), _fd_positions(pot, s, name, w), rtol=rtol, err_msg=name)


def test_relaxed_positions_derivative_vs_rerelaxed_fd_2d(ka2d):
    s, pot = ka2d
    _check_positions(s, pot, ("epsilon", "sigma"), 1e-5)


def test_relaxed_positions_derivative_vs_rerelaxed_fd_3d():
    s, pot = _ka(32, 3, seed=1)
    _check_positions(s, pot, ("epsilon",), 1e-5)


def test_pdos_feature_at_equilibrium_vs_rerelaxed_fd(ka2d):
    s, pot = ka2d
    nb = pot.neighbors(s)
    grid, sigma, band = jnp.linspace(0.0, 40.0, 81), 1.5, slice(20, 40)

    def feature(p, x):
        d = pdos(p, s.with_positions(x), grid, sigma, nbrs=nb, partial=False, backend="jax")
        return jnp.sum(d.total[band])

    def at_equilibrium(t):
        p = _with(pot, "epsilon", t)
        return feature(p, relaxed_positions(p, s, fmax=FMAX, nbrs=nb))

    g_eq = float(jax.grad(at_equilibrium)(0.0))
    g_fixed = float(jax.grad(lambda t: feature(_with(pot, "epsilon", t), s.positions))(0.0))

    def host(t):
        p = _with(pot, "epsilon", t)
        x = minimize(p, s, fmax=FMAX).structure
        return float(jnp.sum(pdos(p, x, grid, sigma, partial=False).total[band]))

    fd = (host(H) - host(-H)) / (2 * H)
    assert np.isfinite(g_eq) and np.isfinite(g_fixed)
    np.testing.assert_allclose(g_eq, fd, rtol=1e-5)


def test_unrelaxed_structure_raises_naming_structure(ka2d):
    s, pot = ka2d
    rough = s.with_positions(s.positions + 0.02 * np.random.default_rng(0).normal(size=s.positions.shape))
    with pytest.raises(UserError) as err:
        equilibrium_positions(pot, rough)
    assert err.value.field == "structure"
    with pytest.raises(UserError) as err:
        jax.grad(lambda t: jnp.sum(relaxed_positions(_with(pot, "epsilon", t), rough, max_steps=2)))(0.0)
    assert err.value.field == "structure"
    # a maximum (E -> -E): CG meets negative curvature
    p = dict(pot.params[0])
    upside_down = pot.with_params([dict(p, epsilon=-jnp.asarray(p["epsilon"]))])
    nb = tuple(jnp.asarray(i) for i in pot.neighbors(s))
    with pytest.raises(UserError, match="curvature") as err:
        solve_hessian(upside_down, s, nb, jnp.ones_like(s.positions).at[0].set(2.0))
    assert err.value.field == "structure"


def test_translations_projected_out(ka2d):
    s, pot = ka2d
    w = np.random.default_rng(4).normal(size=s.positions.shape)

    def vjp(cot):
        _, pull = jax.vjp(lambda p: equilibrium_positions(p, s, fmax=1e-9), pot)
        return jnp.asarray(pull(cot)[0].params[0]["epsilon"])

    a, b = vjp(jnp.asarray(w)), vjp(jnp.asarray(w + np.array([0.7, -1.3])))
    np.testing.assert_allclose(b, a, rtol=1e-8, atol=1e-10)
    # the solve: H u = b minus its mean, u with zero mean
    nb = tuple(jnp.asarray(i) for i in pot.neighbors(s))
    u = solve_hessian(pot, s, nb, jnp.asarray(w))
    np.testing.assert_allclose(np.asarray(u).mean(0), 0.0, atol=1e-12)
    np.testing.assert_allclose(hvp_fn(pot, s, nb)(u), w - w.mean(0), atol=1e-8)
