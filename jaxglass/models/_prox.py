"""The L1 proximal step as optax gradient transformations.

For ``min_w f(w) + l1 ‖w‖₁`` a proximal-gradient step is ``w⁺ = S(w − η u, η l1 d)`` with ``u`` the
optimiser's direction for ``∇f``, ``S(z, t) = sign(z) max(|z| − t, 0)`` (soft-thresholding, the
proximal operator of ``t ‖·‖₁``) and ``d`` the optimiser's diagonal preconditioner (1 for gradient
descent: ISTA). Written as an update, ``w⁺ − w``, it is an :class:`optax.GradientTransformation`:

* :func:`prox_l1` is chained *after* any optimiser whose update is already the full step ``−η u``
  (``optax.chain(optax.sgd(lr), prox_l1(l1, lr))`` is ISTA): it soft-thresholds the updated
  parameters at ``η_t l1``;
* :func:`proximal_adam` is Adam with the threshold scaled by Adam's own preconditioner,
  ``η_t l1 / (√v̂ + ε)`` (ProxGen: Yun, Lozano & Yang, NeurIPS 2021), which is what
  :func:`jaxglass.models.fit_linear` uses (``optimizer="adam"``; ``"sgd"`` uses :func:`prox_l1`).

``learning_rate`` is a number or an optax schedule (a function of the step count); ``l1`` may be a
traced value (a ``vmap``-ed penalty grid). ``mask`` (a pytree of bools like the parameters, or a
function of the parameters returning one) selects the leaves that are penalised (e.g. the weights,
not the intercepts); ``None`` penalises every leaf.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..errors import UserError


class ProxL1State(NamedTuple):
    count: jax.Array  # steps taken (drives a learning-rate schedule)


class ProximalAdamState(NamedTuple):
    count: jax.Array
    adam: Any  # optax.ScaleByAdamState


def soft_threshold(z, t):
    """``sign(z) max(|z| − t, 0)``: the proximal operator of ``t ‖·‖₁`` (``t ≥ 0``, broadcast)."""
    return jnp.sign(z) * jnp.maximum(jnp.abs(z) - t, 0.0)


def _lr(learning_rate, count):
    return learning_rate(count) if callable(learning_rate) else learning_rate


def _mask_tree(mask, params):
    if mask is None:
        return jax.tree.map(lambda _: True, params)
    return mask(params) if callable(mask) else mask


def _thresholded_update(params, updates, thresh, mask):
    """``S(params + updates, thresh) − params`` on masked leaves, ``updates`` elsewhere."""
    def one(p, u, t, m):
        return soft_threshold(p + u, t) - p if m else u

    return jax.tree.map(one, params, updates, thresh, _mask_tree(mask, params))


def prox_l1(l1, learning_rate, *, mask=None):
    """:class:`optax.GradientTransformation` applying the L1 proximal step after an optimiser.

    Its input ``updates`` must be the optimiser's full step (``−η u``); its output is
    ``S(params + updates, η_t l1) − params`` on the masked leaves (``η_t`` = ``learning_rate`` at
    this transformation's step count), so ``optax.apply_updates`` gives the proximal-gradient iterate.
    """
    import optax

    def init(params):
        del params
        return ProxL1State(jnp.zeros((), jnp.int32))

    def update(updates, state, params=None):
        if params is None:
            raise UserError("prox_l1: needs params (call tx.update(updates, state, params))")
        t = _lr(learning_rate, state.count) * l1
        thresh = jax.tree.map(lambda _: t, params)
        return _thresholded_update(params, updates, thresh, mask), ProxL1State(state.count + 1)

    return optax.GradientTransformation(init, update)


def proximal_adam(learning_rate, l1, *, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, mask=None):
    """Adam with the L1 proximal step in Adam's metric (ProxGen): ``w⁺ = S(w − η_t m̂/(√v̂ + ε),
    η_t l1/(√v̂ + ε))`` on the masked leaves, the plain Adam step on the others."""
    import optax

    adam = optax.scale_by_adam(b1=b1, b2=b2, eps=eps)

    def init(params):
        return ProximalAdamState(jnp.zeros((), jnp.int32), adam.init(params))

    def update(grads, state, params=None):
        if params is None:
            raise UserError("proximal_adam: needs params (call tx.update(grads, state, params))")
        direction, astate = adam.update(grads, state.adam, params)
        lr = _lr(learning_rate, state.count)
        steps = jax.tree.map(lambda u: -lr * u, direction)
        corr = 1.0 - b2 ** astate.count

        def thresh(nu):
            return lr * l1 / (jnp.sqrt(nu / corr.astype(nu.dtype)) + eps)

        out = _thresholded_update(params, steps, jax.tree.map(thresh, astate.nu), mask)
        return out, ProximalAdamState(state.count + 1, astate)

    return optax.GradientTransformation(init, update)
