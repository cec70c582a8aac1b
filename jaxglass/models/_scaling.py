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

SCALINGS = ("pooled", "column")


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
    columns.
    """

    mean: jax.Array
    scale: jax.Array

    @staticmethod
    def _check(X, what):
        if X.ndim < 2 or X.shape[0] < 1:
            raise ValueError(f"Standardizer.{what}: expected (K, ...) with K >= 1, got shape {X.shape}")

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
    def identity(cls, shape: tuple[int, ...], dtype=None, xp=jnp) -> Standardizer:
        dtype = dtype or (np.float64 if xp is np else jnp.result_type(float))
        return cls(xp.zeros(shape, dtype), xp.ones(shape, dtype))

    @classmethod
    def make(cls, X, standardize: bool = True, scaling: str = "pooled") -> Standardizer:
        """The scaler a model uses: ``scaling`` ``"pooled"`` or ``"column"``; identity if not
        ``standardize``."""
        if scaling not in SCALINGS:
            raise ValueError(f"scaling: expected one of {SCALINGS}, got {scaling!r}")
        if not standardize:
            return cls.identity(X.shape[1:], X.dtype, _xp(X))
        return cls.fit_pooled(X) if scaling == "pooled" else cls.fit(X)

    def transform(self, X) -> jax.Array:
        return (_xp(X).asarray(X) - self.mean) / self.scale

    def inverse_transform(self, Z) -> jax.Array:
        return _xp(Z).asarray(Z) * self.scale + self.mean


def _scalers(X, Y, standardize: bool, scaling: str = "pooled") -> tuple[Standardizer, Standardizer]:
    return Standardizer.make(X, standardize, scaling), Standardizer.make(Y, standardize, scaling)
