"""The L1 proximal step as optax transformations, against the closed-form proximal operator.

References: ``prox_{t|.|}(z) = sign(z) max(|z| - t, 0)`` (soft-thresholding); for
``f(w) = 1/2 |w - z|^2 + l1 |w|_1`` the minimiser is ``soft(z, l1)`` exactly (ISTA's fixed point);
one proximal-Adam step from the closed form of Adam's first step (``m_hat = g``, ``v_hat = g^2``).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

optax = pytest.importorskip("optax")

from jaxglass.models import prox_l1, proximal_adam, soft_threshold  # noqa: E402


def _np_soft(z, t):
    return np.sign(z) * np.maximum(np.abs(z) - t, 0.0)


def test_prox_l1_after_sgd_is_one_ista_step_and_respects_mask():
    rng = np.random.default_rng(0)
    params = {"W": jnp.asarray(rng.normal(size=(3, 5))), "b": jnp.asarray(rng.normal(size=3))}
    grads = {"W": jnp.asarray(rng.normal(size=(3, 5))), "b": jnp.asarray(rng.normal(size=3))}
    lr, l1 = 0.3, 0.7
    tx = optax.chain(optax.sgd(lr), prox_l1(l1, lr, mask={"W": True, "b": False}))
    upd, _ = tx.update(grads, tx.init(params), params)
    new = optax.apply_updates(params, upd)
    W0, g = np.asarray(params["W"]), np.asarray(grads["W"])
    np.testing.assert_allclose(np.asarray(new["W"]), _np_soft(W0 - lr * g, lr * l1), rtol=0, atol=1e-15)
    assert np.any(np.asarray(new["W"]) == 0)  # exact zeros, not jitter
    np.testing.assert_allclose(np.asarray(new["b"]), np.asarray(params["b"]) - lr * np.asarray(grads["b"]),
                               atol=1e-15)  # unmasked leaf: plain step
    with pytest.raises(ValueError, match="needs params"):
        prox_l1(l1, lr).update(grads, prox_l1(l1, lr).init(params))


def test_ista_with_prox_l1_converges_to_closed_form_and_vmaps_over_l1():
    z = jnp.asarray([2.0, -0.3, 0.05, -1.5, 0.8])

    def solve(l1):
        tx = optax.chain(optax.sgd(0.5), prox_l1(l1, 0.5))
        w = jnp.zeros_like(z)

        def body(c, _):
            w, s = c
            u, s = tx.update(w - z, s, w)  # gradient of 1/2 |w - z|^2
            return (optax.apply_updates(w, u), s), None

        (w, _), _ = jax.lax.scan(body, (w, tx.init(w)), None, length=60)
        return w

    l1s = jnp.asarray([0.0, 0.1, 0.5, 1.0])
    W = jax.jit(jax.vmap(solve))(l1s)
    for i, l1 in enumerate(np.asarray(l1s)):
        np.testing.assert_allclose(np.asarray(W[i]), _np_soft(np.asarray(z), l1), atol=1e-12)
    np.testing.assert_allclose(np.asarray(soft_threshold(z, 0.5)), _np_soft(np.asarray(z), 0.5))


def test_proximal_adam_first_step_closed_form_and_schedule():
    rng = np.random.default_rng(1)
    w0 = jnp.asarray(rng.normal(size=6))
    g = jnp.asarray(rng.normal(size=6) * np.array([1, 1e-2, 1, 1e-3, 1, 1]))
    lr, l1, eps = 0.2, 0.4, 1e-8
    tx = proximal_adam(lr, l1, eps=eps)
    upd, st = tx.update(g, tx.init(w0), w0)
    # Adam's first step: m_hat = g, v_hat = g^2 -> direction g/(|g| + eps), metric 1/(|g| + eps)
    d = 1.0 / (np.abs(np.asarray(g)) + eps)
    ref = _np_soft(np.asarray(w0) - lr * np.asarray(g) * d, lr * l1 * d)
    np.testing.assert_allclose(np.asarray(w0 + upd), ref, rtol=1e-12, atol=1e-14)
    assert int(st.count) == 1
    # a schedule is evaluated at the transformation's own step count
    sched = optax.constant_schedule(lr)
    upd2, _ = proximal_adam(sched, l1, eps=eps).update(g, tx.init(w0), w0)
    np.testing.assert_allclose(np.asarray(upd2), np.asarray(upd), rtol=1e-14)
