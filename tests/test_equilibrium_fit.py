"""Planted-parameter recovery through the equilibrium route: a KA 2D glass (N = 32) relaxed with the
planted ε_AB gives a target PDOS; gradient descent (optax.sgd) on ||PDOS(x*(θ), θ) - target||² from
ε_AB + 4 %, with the glass re-relaxed at every step (relaxed_positions), recovers the planted value."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxglass.equilibrium import relaxed_positions
from jaxglass.generate import random_packing
from jaxglass.minimize import minimize
from jaxglass.modes import pdos
from jaxglass.potentials import kob_andersen

PLANTED = 1.5  # ε_AB of Kob-Andersen


def with_eps_ab(pot, e):
    p = dict(pot.params[0])
    p["epsilon"] = jnp.asarray(p["epsilon"]).at[0, 1].set(e).at[1, 0].set(e)
    return pot.with_params([p])


def test_planted_epsilon_ab_recovered():
    pot = kob_andersen()
    s = random_packing(32, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=4)
    s = minimize(with_eps_ab(pot, PLANTED), s, fmax=1e-10).structure
    nb = pot.neighbors(s, skin=0.3)
    grid, sigma = jnp.linspace(0.0, 40.0, 81), 2.0

    def spectrum(p, x):
        return pdos(p, s.with_positions(x), grid, sigma, nbrs=nb, partial=False, backend="jax").total

    target = spectrum(with_eps_ab(pot, PLANTED), s.positions)
    state = {"s": s}

    def loss(e):
        p = with_eps_ab(pot, e)
        x = relaxed_positions(p, state["s"], fmax=1e-10, nbrs=nb)
        return 1e3 * jnp.sum((spectrum(p, x) - target) ** 2), x

    e = jnp.asarray(PLANTED * 1.04)
    opt = optax.sgd(0.1)  # loss ≈ 3 (ε - ε*)² here, so each step contracts the error by ~0.4
    opt_state = opt.init(e)
    history = []
    for _ in range(15):
        (val, x), g = jax.value_and_grad(loss, has_aux=True)(e)
        state["s"] = s.with_positions(x)  # warm start the next relaxation
        history.append(float(val))
        upd, opt_state = opt.update(g, opt_state)
        e = optax.apply_updates(e, upd)
    assert history[-1] < 1e-8 * history[0]
    np.testing.assert_allclose(float(e), PLANTED, rtol=1e-5)
