"""The device-side training loop shared by :func:`~jaxglass.models.fit_linear` and the CNN.

Mini-batching with padding weights, early stopping on a validation MSE, and the seeded
train/validation split, all independent of the model being trained.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError


def batches(n: int, batch_size: int | None) -> tuple[int, int]:
    bs = n if batch_size is None else min(int(batch_size), n)
    return bs, math.ceil(n / bs)


def train_loop(step, val_loss, params, opt_state, Xt, Yt, Xv, Yv, key, hyper, *, batch_size, n_batches,
               max_epochs, patience, has_val):
    """Epoch loop in ``lax.while_loop`` with early stopping; traceable (jit/vmap it from outside).

    ``step(params, opt_state, xb, yb, wb, t, hyper) -> (params, opt_state, batch_mse)`` with sample
    weights ``wb`` (0 for the padding of the last, partial batch); ``val_loss(params, Xv, Yv)``.
    Returns ``(params, n_epochs, best_epoch, train_hist, val_hist)``; ``params`` are the best-validation
    parameters when ``has_val``, else the final ones.
    """
    n = Xt.shape[0]
    full = n_batches == 1 and batch_size == n
    dtype = Xt.dtype

    def epoch_fn(params, opt_state, ekey, epoch):
        t0 = epoch * n_batches
        if full:
            w = jnp.ones((n,), dtype)
            params, opt_state, loss = step(params, opt_state, Xt, Yt, w, t0, hyper)
            return params, opt_state, loss
        pad = n_batches * batch_size - n
        perm = jax.random.permutation(ekey, n)
        idx = jnp.concatenate([perm, perm[:pad]]).reshape(n_batches, batch_size)
        wts = jnp.concatenate([jnp.ones((n,), dtype), jnp.zeros((pad,), dtype)])
        wts = wts.reshape(n_batches, batch_size)

        def body(carry, inp):
            params, opt_state, t = carry
            i, wb = inp
            params, opt_state, loss = step(params, opt_state, Xt[i], Yt[i], wb, t, hyper)
            return (params, opt_state, t + 1), loss * wb.sum()

        (params, opt_state, _), losses = jax.lax.scan(body, (params, opt_state, t0), (idx, wts))
        return params, opt_state, losses.sum() / n

    inf = jnp.asarray(jnp.inf, dtype)
    hist0 = jnp.full((max_epochs,), jnp.nan, dtype)
    carry0 = (jnp.int32(0), params, opt_state, params, inf, jnp.int32(-1), key, hist0, hist0)

    def cond(c):
        epoch, best_epoch = c[0], c[5]
        go = epoch < max_epochs
        if has_val and patience is not None:
            go = go & (epoch - 1 - best_epoch < patience)
        return go

    def body(c):
        epoch, params, opt_state, best, best_val, best_epoch, key, th, vh = c
        key, ekey = jax.random.split(key)
        params, opt_state, tl = epoch_fn(params, opt_state, ekey, epoch)
        th = th.at[epoch].set(tl)
        if has_val:
            vl = val_loss(params, Xv, Yv)
            vh = vh.at[epoch].set(vl)
            better = vl < best_val
            best = jax.tree.map(lambda a, b: jnp.where(better, a, b), params, best)
            best_val = jnp.where(better, vl, best_val)
            best_epoch = jnp.where(better, epoch, best_epoch)
        else:
            best, best_epoch = params, epoch
        return (epoch + 1, params, opt_state, best, best_val, best_epoch, key, th, vh)

    epoch, _, _, best, _, best_epoch, _, th, vh = jax.lax.while_loop(cond, body, carry0)
    return best, epoch, best_epoch, th, vh


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, val) index split with at least one sample on each side."""
    if n < 2:
        raise UserError(f"need at least 2 samples to carve a validation split, got {n}")
    n_val = min(max(1, int(round(fraction * n))), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[n_val:]), np.sort(perm[:n_val])


def history(n_epochs, best_epoch, th, vh, has_val) -> dict[str, Any]:
    n_epochs = int(n_epochs)
    return dict(
        n_epochs=n_epochs,
        best_epoch=int(best_epoch),
        train_mse=np.asarray(th)[:n_epochs],
        val_mse=np.asarray(vh)[:n_epochs] if has_val else None,
    )
