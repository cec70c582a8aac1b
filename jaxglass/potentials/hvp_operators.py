"""Hessian-vector products at a fixed structure, linearised once: pair terms and the EAM.

For forces that are sums over neighbour slots of a radial coefficient times the unit vector,
``F_i = Σ_j c_ij e_ij`` with ``e_ij = (x_j - x_i) / r_ij``, the derivative along a displacement
``v`` (``u_ij = v_j - v_i``, ``ṙ_ij = e_ij · u_ij``) is

    -(H v)_i = Ḟ_i = Σ_j [ċ_ij e_ij + (c_ij / r_ij)(u_ij - ṙ_ij e_ij)].

Pair terms (full lists): ``c_ij = φ'(r_ij)`` and ``ċ_ij = φ''(r_ij) ṙ_ij``. The EAM
(``c_ij = F'_i f'_j(r_ij) + F'_j f'_i(r_ij) + φ'_ij(r_ij)``, Daw & Baskes, PRB 29, 6443 (1984),
Eq. 5; ``F'_i = F'_{s_i}(ρ_i)``):

    ρ̇_i = Σ_j f'_j ṙ_ij,        σ_i = F''_i ρ̇_i,
    ċ_ij = σ_i f'_j + σ_j f'_i + k_ij ṙ_ij,     k_ij = F'_i f''_j + F'_j f''_i + φ''_ij.

Everything but ``u`` depends on the structure alone, so the radial functions and their first two
derivatives (forward mode over the potential's own functions, analytic or tabulated) are evaluated
once; a pair slot keeps 5 numbers (``e``, ``k``, ``c / r``), an EAM slot 7 (and ``f'_j``, ``f'_i``),
plus ``F''`` per atom; each product is then one gather per slot (two for the EAM) and a few
multiplications, where differentiating the forces again re-evaluates every function and, with the
potential's parameters and lists as traced arguments (the KPM recursion), re-reads every slot's
species-pair parameters.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp

from ..structure import Structure
from .base import local_environment, neighbor_index


def _value_slope_curvature(g: Callable, r: jax.Array):
    def slope(x):
        return jax.jvp(g, (x,), (jnp.ones_like(x),))[1]

    return g(r), *jax.jvp(slope, (r,), (jnp.ones_like(r),))


#: Atoms per block when the EAM operator's slot arrays are built (:func:`linearized_hvp`): the
#: temporaries of the nested forward-mode derivatives live for one block at a time, not for all slots.
ROW_BLOCK = 4096


def _slots(structure: Structure, idx: jax.Array, sp: jax.Array, list_cutoff: float, cutoff,
           rows: jax.Array | None = None):
    """Unit vectors ``e`` ``(N, K, d)``, distances clipped to ``cutoff`` outside it, the mask of slots
    inside it, centre and neighbour species, neighbour rows (padding -> 0); with ``rows``, for those
    atoms only (``idx`` their rows, :func:`~jaxglass.potentials.base.local_environment`)."""
    dr, mask, sj = local_environment(structure, idx, sp, list_cutoff, rows)
    r = jnp.sqrt(jnp.sum(dr * dr, axis=-1))
    inside = mask & (r < cutoff)
    rs = jnp.where(inside, r, cutoff)
    si = sp if rows is None else sp[rows]
    return dr / rs[..., None], rs, inside, jnp.broadcast_to(si[:, None], sj.shape), sj, \
        jnp.where(mask, neighbor_index(idx), 0)


def _by_row_blocks(fn: Callable, idx: jax.Array, block: int):
    """``fn(rows, idx[rows])`` over blocks of ``block`` atoms (``lax.map``), the outputs' leading
    axes joined back to ``N``; a single call when ``N <= block``. Padding rows (index ``N``, every
    slot empty) fill the last block and are cut off."""
    n = idx.shape[0]
    if n <= block:
        return fn(jnp.arange(n), idx)
    nb = -(-n // block)
    pad = nb * block - n
    rows = jnp.concatenate([jnp.arange(n), jnp.zeros(pad, jnp.int32)]).reshape(nb, block)
    blank = jnp.zeros((pad, *idx.shape[1:]), idx.dtype)
    blank = blank.at[..., 0].set(n) if idx.ndim == 3 else blank + n  # image lists: (index, shift)
    blocks = jnp.concatenate([idx, blank]).reshape(nb, block, *idx.shape[1:])
    out = jax.lax.map(lambda a: fn(*a), (rows, blocks))
    return jax.tree.map(lambda x: x.reshape(nb * block, *x.shape[2:])[:n], out)


def pair_terms_hvp(terms, structure: Structure, nbrs, sp: jax.Array) -> jax.tree_util.Partial:
    """``v (N, d) -> H v`` of pair ``terms`` (their full lists ``nbrs``, per-atom species indices ``sp``)
    at ``structure``: a :class:`jax.tree_util.Partial` over the slot arrays (a PyTree)."""
    parts = []
    for term, idx in zip(terms, nbrs):
        e, rs, inside, si, sj, nbr = _slots(structure, jnp.asarray(idx), sp, term.cutoff, term.cutoff)
        _, dphi, d2phi = _value_slope_curvature(functools.partial(term.pair_energy, si=si, sj=sj), rs)
        zero = jnp.zeros_like(rs)
        k, c_r = jnp.where(inside, d2phi, zero), jnp.where(inside, dphi / rs, zero)
        parts.append((nbr, dict(e=e, k=k, c_r=c_r)))
    return jax.tree_util.Partial(_apply_pairs, tuple(parts))


def _apply_pairs(parts, v):
    out = jnp.zeros_like(v)
    for nbr, s in parts:
        u = v[nbr] - v[:, None, :]
        rdot = jnp.sum(s["e"] * u, axis=-1)
        tangential = s["c_r"][..., None] * (u - rdot[..., None] * s["e"])
        out = out - jnp.sum((s["k"] * rdot)[..., None] * s["e"] + tangential, axis=1)
    return out


def linearized_hvp(functions, cutoff, list_cutoff: float, structure: Structure, idx: jax.Array,
                   sp: jax.Array, block: int | None = None) -> jax.tree_util.Partial:
    """``v (N, d) -> H v`` of the EAM ``functions`` (an ``EAMFunctions``; radial functions zero from
    ``cutoff``) at ``structure`` with the full list ``idx`` (``list_cutoff``: the term's static cutoff)
    and per-atom species indices ``sp``. A :class:`jax.tree_util.Partial` over the precomputed slot
    arrays: a PyTree, so it can be passed into jitted functions and loops as an argument. The arrays
    are built ``block`` atoms (default :data:`ROW_BLOCK`) at a time, so the construction's temporaries
    are those of one block."""
    idx = jnp.asarray(idx)
    block = ROW_BLOCK if block is None else int(block)

    def density(rows, ib):
        _, rs, inside, _, sj, _ = _slots(structure, ib, sp, list_cutoff, cutoff, rows)
        return jnp.sum(jnp.where(inside, functions.density(sj, rs), 0.0), axis=1)

    rho = _by_row_blocks(density, idx, block)
    _, d_embed, d2_embed = _value_slope_curvature(functools.partial(functions.embedding, sp), rho)

    def slots(rows, ib):
        e, rs, inside, si, sj, nbr = _slots(structure, ib, sp, list_cutoff, cutoff, rows)
        _, df_j, d2f_j = _value_slope_curvature(functools.partial(functions.density, sj), rs)
        _, df_i, d2f_i = _value_slope_curvature(functools.partial(functions.density, si), rs)
        _, dphi, d2phi = _value_slope_curvature(functools.partial(functions.pair, si, sj), rs)
        d_embed_i, d_embed_j = d_embed[rows][:, None], d_embed[nbr]
        zero = jnp.zeros_like(rs)
        return nbr, dict(
            e=e,
            g=jnp.where(inside, df_j, zero),
            h=jnp.where(inside, df_i, zero),
            k=jnp.where(inside, d_embed_i * d2f_j + d_embed_j * d2f_i + d2phi, zero),
            c_r=jnp.where(inside, (d_embed_i * df_j + d_embed_j * df_i + dphi) / rs, zero),
        )

    nbr, s = _by_row_blocks(slots, idx, block)
    return jax.tree_util.Partial(_apply, nbr, d2_embed, s)


def _apply(nbr, d2_embed, s, v):
    u = v[nbr] - v[:, None, :]
    rdot = jnp.sum(s["e"] * u, axis=-1)
    sigma = d2_embed * jnp.sum(s["g"] * rdot, axis=1)
    cdot = sigma[:, None] * s["g"] + sigma[nbr] * s["h"] + s["k"] * rdot
    return -jnp.sum(cdot[..., None] * s["e"] + s["c_r"][..., None] * (u - rdot[..., None] * s["e"]), axis=1)
