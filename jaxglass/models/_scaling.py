"""Feature/target scaling: the one standardiser of :mod:`jaxglass.models`.

:class:`Standardizer` works on numpy arrays (float64, used by the closed-form ridge and its
cross-validation) and on JAX arrays (inside compiled training loops) with the same rules: the
result's leaves have the array type of the input.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError

SCALINGS = ("pooled", "column", "channel")


def _xp(X):
    return np if isinstance(X, np.ndarray) else jnp


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Standardizer:
    """Affine scaling ``z = (x − mean)/scale`` over the sample axis 0.

    ``mean`` and ``scale`` have the shape of one sample (``X.shape[1:]``). :meth:`fit` scales every
    column by its own standard deviation; columns whose standard deviation is zero, or below ``rtol``
    times the largest one (e.g. g(r) = 0 inside the core, or the ω = 0 bin of a PDOS), get
    ``scale = 1``: they are only centred, never blown up. :meth:`fit_pooled` uses one scale for all
    columns, :meth:`fit_channel` one per channel (partial g_αβ(r)).
    """

    mean: jax.Array
    scale: jax.Array

    @staticmethod
    def _check(X, what):
        if X.ndim < 2 or X.shape[0] < 1:
            raise UserError(f"Standardizer.{what}: expected (K, ...) with K >= 1, got shape {X.shape}")

    @classmethod
    def fit(cls, X, *, rtol: float = 1e-6) -> Standardizer:
        xp = _xp(X)
        X = xp.asarray(X)
        cls._check(X, "fit")
        mean = X.mean(axis=0)
        std = X.std(axis=0)
        floor = rtol * xp.max(std)
        scale = xp.where(std > floor, std, xp.ones_like(std))
        return cls(mean, scale)

    @classmethod
    def fit_pooled(cls, X) -> Standardizer:
        """Per-column mean, one pooled scale ``sqrt(mean column variance)`` for all columns.

        A loss on data scaled this way is proportional to the MSE in data units, so columns that
        hardly vary (the empty high-frequency tail of a PDOS) are not amplified to unit variance.
        """
        xp = _xp(X)
        X = xp.asarray(X)
        cls._check(X, "fit_pooled")
        mean = X.mean(axis=0)
        s = xp.sqrt(xp.mean(X.var(axis=0)))
        s = xp.where(s > 0, s, xp.ones_like(s))
        return cls(mean, xp.full_like(mean, s))

    @classmethod
    def fit_channel(cls, X, feature_shape: tuple[int, ...] | None = None) -> Standardizer:
        """Per-column mean, one pooled scale per channel (axis 1 of a ``(K, C, R)`` sample shape).

        For partial g_αβ(r) inputs ``(K, C, R)`` channel ``c`` is divided by
        ``sqrt(mean_r var(X[:, c, r]))``: every partial enters a penalty with the same weight,
        while within a channel the columns keep their relative scale (as :meth:`fit_pooled`).
        ``feature_shape`` is the sample shape ``(C, R)`` when ``X`` comes flattened to
        ``(K, C·R)``; a sample with one axis is one channel, i.e. the same as :meth:`fit_pooled`.
        """
        xp = _xp(X)
        X = xp.asarray(X)
        cls._check(X, "fit_channel")
        shape = tuple(X.shape[1:]) if feature_shape is None else tuple(feature_shape)
        if int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise UserError(f"Standardizer.fit_channel: feature_shape {shape} does not match the "
                             f"sample shape {tuple(X.shape[1:])}")
        Xc = X.reshape((X.shape[0], shape[0], -1)) if len(shape) > 1 else X.reshape((X.shape[0], 1, -1))
        mean = X.mean(axis=0)
        s = xp.sqrt(xp.mean(Xc.var(axis=0), axis=1))  # (C,)
        s = xp.where(s > 0, s, xp.ones_like(s))
        scale = xp.broadcast_to(s[:, None], Xc.shape[1:]).reshape(X.shape[1:])
        return cls(mean, scale)

    @classmethod
    def identity(cls, shape: tuple[int, ...], dtype=None, xp=jnp) -> Standardizer:
        dtype = dtype or (np.float64 if xp is np else jnp.result_type(float))
        return cls(xp.zeros(shape, dtype), xp.ones(shape, dtype))

    @classmethod
    def make(cls, X, standardize: bool = True, scaling: str = "pooled",
             feature_shape: tuple[int, ...] | None = None) -> Standardizer:
        """The scaler a model uses: ``scaling`` ``"pooled"``, ``"column"`` or ``"channel"`` (one
        scale per channel of ``feature_shape``, see :meth:`fit_channel`); identity if not
        ``standardize``."""
        if scaling not in SCALINGS:
            raise UserError(f"scaling: expected one of {SCALINGS}, got {scaling!r}")
        if not standardize:
            return cls.identity(X.shape[1:], X.dtype, _xp(X))
        if scaling == "channel":
            return cls.fit_channel(X, feature_shape)
        return cls.fit_pooled(X) if scaling == "pooled" else cls.fit(X)

    def transform(self, X) -> jax.Array:
        return (_xp(X).asarray(X) - self.mean) / self.scale

    def inverse_transform(self, Z) -> jax.Array:
        return _xp(Z).asarray(Z) * self.scale + self.mean


def scalers(X, Y, standardize: bool, scaling: str = "pooled",
             feature_shape: tuple[int, ...] | None = None) -> tuple[Standardizer, Standardizer]:
    """Input and target scalers; ``feature_shape`` gives the channels of a flattened ``X``
    (targets ``(K, F)`` are one channel: ``"channel"`` scales them like ``"pooled"``)."""
    xs = Standardizer.make(X, standardize, scaling, feature_shape)
    return xs, Standardizer.make(Y, standardize, scaling)
