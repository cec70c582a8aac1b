"""Periodic space: minimum-image displacements and wrapping, in 2D and 3D orthorhombic cells.

The one copy of the periodic-boundary arithmetic in jaxglass (and of the periodic k-d tree the
host-side neighbour searches use). Every function works on numpy arrays
(host code: neighbour lists, generators) and on jax arrays (inside ``jit``/``grad``/``vmap``),
returning the same array kind it is given. ``periodic`` is a static sequence of booleans, one per
axis; non-periodic axes are never wrapped. ``box`` holds the cell lengths (the cell spans
``[0, box)`` along each axis).

>>> import numpy as np
>>> displacement(np.array([0.9, 0.2]), np.array([1.0, 1.0]), (True, False)).round(6).tolist()
[-0.1, 0.2]
>>> wrap(np.array([[1.25, -0.5]]), np.array([1.0, 1.0]), (True, True)).tolist()
[[0.25, 0.5]]
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np


def _xp(*arrays):
    return jnp if any(isinstance(a, jax.Array) for a in arrays) else np


def displacement(dr, box, periodic: Sequence[bool]):
    """Minimum-image convention for difference vectors ``dr`` ``(..., d)``."""
    per = np.asarray(periodic, dtype=bool)
    if not per.any():
        return dr
    xp = _xp(dr, box)
    wrapped = dr - box * xp.round(dr / box)
    return wrapped if per.all() else xp.where(per, wrapped, dr)


def wrap(positions, box, periodic: Sequence[bool]):
    """Positions shifted into ``[0, box)`` along the periodic axes."""
    per = np.asarray(periodic, dtype=bool)
    if not per.any():
        return positions
    xp = _xp(positions, box)
    wrapped = xp.mod(positions, box)
    return wrapped if per.all() else xp.where(per, wrapped, positions)


def shift(positions, dr, box, periodic: Sequence[bool]):
    """Move ``positions`` by ``dr`` and wrap them back into the cell."""
    return wrap(positions + dr, box, periodic)


def pair_distances(positions, box, periodic: Sequence[bool]):
    """All minimum-image difference vectors ``x_j - x_i`` ``(N, N, d)`` (small systems only)."""
    return displacement(positions[None, :, :] - positions[:, None, :], box, periodic)


def periodic_kdtree(positions, box, periodic: Sequence[bool], reach: float):
    """A ``scipy.spatial.cKDTree`` over ``positions`` (host arrays) with the cell's periodicity.

    Periodic axes wrap (``boxsize``); non-periodic axes get a box large enough, given the largest
    query distance ``reach``, never to wrap.
    """
    from scipy.spatial import cKDTree

    per = np.asarray(periodic)
    p = np.array(positions, dtype=np.float64)
    size = np.array(box, dtype=np.float64)
    if (~per).any():
        lo = p[:, ~per].min(axis=0)
        hi = p[:, ~per].max(axis=0)
        p[:, ~per] -= lo
        size[~per] = (hi - lo) + 2.0 * reach + 1.0
    if per.any():
        p[:, per] = np.mod(p[:, per], size[per])
        # cKDTree requires coordinates strictly below boxsize.
        p[:, per] = np.where(p[:, per] >= size[per], 0.0, p[:, per])
    return cKDTree(p, boxsize=size)
