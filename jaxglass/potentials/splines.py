"""Piecewise-cubic tables on uniform grids: LAMMPS's EAM interpolant and the C2 cubic spline.

Every table is an array ``(..., n_intervals, order + 1)`` of coefficients in powers of
``u = (x - x_k)/Δ`` on interval ``k``; the evaluators take the coefficient rows already gathered.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError

__all__ = [
    "c2_spline_coefficients",
    "cubic",
    "cubic_slope",
    "lammps_spline_coefficients",
    "table_eval",
]


def lammps_spline_coefficients(y: np.ndarray) -> np.ndarray:
    """Per-interval cubic coefficients ``(n-1, 4)`` of LAMMPS's EAM interpolant, in powers of p.

    Row ``k`` holds ``(c0, c1, c2, c3)`` with ``y(p) = c0 + c1 p + c2 p² + c3 p³`` on
    ``[x_k, x_k+1]``, ``p = (x - x_k)/Δ``. Built from the equations of ``PairEAM::interpolate``
    (LAMMPS ``src/MANYBODY/pair_eam.cpp``): Hermite cubic with fourth-order finite-difference
    node slopes. Needs at least 5 nodes.
    """
    y = np.asarray(y, dtype=np.float64)
    n = y.shape[0]
    if n < 5:
        raise UserError(f"table: need at least 5 points for the LAMMPS spline, got {n}")
    d = np.empty(n)
    d[0] = y[1] - y[0]
    d[1] = 0.5 * (y[2] - y[0])
    d[n - 2] = 0.5 * (y[n - 1] - y[n - 3])
    d[n - 1] = y[n - 1] - y[n - 2]
    d[2 : n - 2] = ((y[0 : n - 4] - y[4:n]) + 8.0 * (y[3 : n - 1] - y[1 : n - 3])) / 12.0
    dy = y[1:] - y[:-1]
    c2 = 3.0 * dy - 2.0 * d[:-1] - d[1:]
    c3 = d[:-1] + d[1:] - 2.0 * dy
    return np.stack([y[:-1], d[:-1], c2, c3], axis=1)


def c2_spline_coefficients(y: np.ndarray) -> np.ndarray:
    """Same layout as :func:`lammps_spline_coefficients` for the C2 not-a-knot cubic spline."""
    from scipy.interpolate import CubicSpline

    y = np.asarray(y, dtype=np.float64)
    cs = CubicSpline(np.arange(y.shape[0], dtype=np.float64), y, bc_type="not-a-knot")
    c = cs.c  # (4, n-1), highest power first, in units of the grid step (Δ = 1 here)
    return np.stack([c[3], c[2], c[1], c[0]], axis=1)


def table_eval(coef: jax.Array, delta: float, which: jax.Array, x: jax.Array, extrapolate: bool):
    """Evaluate piecewise cubics ``coef[which]`` ``(n_tab, n-1, 4)`` at ``x`` (broadcast). Points beyond
    the last node continue linearly (``extrapolate``) or stay at the end value; below 0 they use the
    first interval's cubic."""
    nint = coef.shape[1]
    t = x / delta
    k = jnp.clip(jnp.floor(t), 0, nint - 1)
    p = t - k  # derivative 1/Δ; floor carries no gradient
    ki = k.astype(jnp.int32)
    c = coef[which, ki]  # (..., 4)
    pc = jnp.minimum(p, 1.0)
    val = cubic(c, pc)
    if extrapolate:
        val = val + cubic_slope(c, pc) * (p - pc)
    return val


def cubic(c: jax.Array, u: jax.Array) -> jax.Array:
    """``c0 + c1 u + c2 u² + c3 u³``, coefficients in the last axis of ``c``."""
    return ((c[..., 3] * u + c[..., 2]) * u + c[..., 1]) * u + c[..., 0]


def cubic_slope(c: jax.Array, u: jax.Array) -> jax.Array:
    """d/du of :func:`cubic`."""
    return (3.0 * c[..., 3] * u + 2.0 * c[..., 2]) * u + c[..., 1]
