"""Hessian assembly by autodiff over neighbour clusters, Hessian-vector products, dynamical matrix.

The Hessian is assembled from *local* second derivatives (see :mod:`jaxglass.potentials.base`):

* pair terms: one ``d x d`` block ``∇∇ φ(|r_ij|)`` per neighbour pair, added to the ``ii``, ``jj``
  blocks and subtracted from ``ij``, ``ji``;
* site terms (EAM, Tersoff, three-body): the Hessian of the site energy ``e_i`` with respect to the
  positions of the cluster {i} ∪ N(i), a ``(K+1) d`` square matrix, scattered into the global matrix.
  Atoms are processed in chunks inside a ``lax.scan`` so peak memory stays at
  O((N d)² + chunk (K+1)² d²).

Nothing here ever forms ``jax.hessian`` of an all-pairs energy. Everything is a pure function of
the potential (a PyTree: its parameters are leaves), the structure and the neighbour lists, so the
Hessian can be jitted, vmapped over structures of equal size and differentiated with respect to
positions and parameters. Units: Hessian in eV/Å² (ε/σ² for LJ), dynamical matrix in eV/Å²/amu.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._config import is_traced, require_x64
from .errors import UserError
from .potentials.base import Potential, Term, local_environment, neighbor_index
from .potentials.hvp_operators import pair_terms_hvp
from .structure import Structure, check_finite


def _pair_blocks(term: Term, dr, mask, sp, sj):
    """``(N, K, d, d)`` half pair Hessian blocks ∇∇ φ(|r|)/2 for each directed neighbour pair."""

    def phi(v, si, s):
        return term.pair_energy(jnp.linalg.norm(v), si, s)

    hess = jax.hessian(phi)
    h = jax.vmap(jax.vmap(hess, in_axes=(0, None, 0)), in_axes=(0, 0, 0))(dr, sp, sj)
    return 0.5 * jnp.where(mask[..., None, None], h, 0.0)


def _site_cluster_hessian(term: Term, dr, mask, si, sj):
    """Hessian of one site energy w.r.t. the cluster positions (centre first): ``(K+1, d, K+1, d)``."""
    k, d = dr.shape

    def e(u):
        return term.site(dr + u[1:] - u[0], mask, si, sj)

    return jax.hessian(e)(jnp.zeros((k + 1, d), dr.dtype))


def _add_pair_term(H, term: Term, idx, dr, mask, sp, sj):
    """Add a pair term's blocks: +h to ii and jj, -h to ij and ji, per directed pair (h halved)."""
    n, d = dr.shape[0], dr.shape[-1]
    ar_d = jnp.arange(d)
    hb = _pair_blocks(term, dr, mask, sp, sj)  # (N, K, d, d)
    j_rows = idx[:, :, None] * d + ar_d  # (N, K, d)
    i_rows = jnp.broadcast_to(jnp.arange(n)[:, None, None] * d + ar_d, j_rows.shape)
    H = H.at[i_rows[..., :, None], i_rows[..., None, :]].add(hb)
    H = H.at[j_rows[..., :, None], j_rows[..., None, :]].add(hb)
    H = H.at[i_rows[..., :, None], j_rows[..., None, :]].add(-hb)
    return H.at[j_rows[..., :, None], i_rows[..., None, :]].add(-hb)


def _add_site_term(H, term: Term, idx, dr, mask, sp, sj, chunk: int):
    """Add a site term's cluster Hessians, ``chunk`` atoms per ``lax.scan`` step."""
    n, k, d = dr.shape
    ar_d = jnp.arange(d)
    c = min(chunk, n)
    pad = -(-n // c) * c - n
    cluster = jnp.concatenate([jnp.arange(n)[:, None], idx], axis=1)  # (N, K+1), centre first
    cluster = jnp.pad(cluster, ((0, pad), (0, 0)), constant_values=n)  # padded atoms -> dummy row
    far = jnp.zeros((d,), dr.dtype).at[0].set(2.0 * term.cutoff + 1.0)
    dr_p = jnp.concatenate([dr, jnp.broadcast_to(far, (pad, k, d))], axis=0)
    mask_p = jnp.pad(mask, ((0, pad), (0, 0)), constant_values=False)
    sp_p = jnp.pad(sp, (0, pad))
    sj_p = jnp.pad(sj, ((0, pad), (0, 0)))
    hfun = jax.vmap(partial(_site_cluster_hessian, term))

    def body(H, xs):
        cl, drc, mc, sic, sjc = xs
        hc = hfun(drc, mc, sic, sjc)  # (c, K+1, d, K+1, d)
        rows = cl[:, :, None] * d + ar_d  # (c, K+1, d)
        return H.at[rows[:, :, :, None, None], rows[:, None, None, :, :]].add(hc), None

    xs = (
        cluster.reshape(-1, c, k + 1),
        dr_p.reshape(-1, c, k, d),
        mask_p.reshape(-1, c, k),
        sp_p.reshape(-1, c),
        sj_p.reshape(-1, c, k),
    )
    # rematerialised under reverse-mode AD: the backward pass recomputes one chunk's cluster
    # Hessians at a time instead of storing the residuals of every chunk
    H, _ = jax.lax.scan(jax.checkpoint(body), H, xs)
    return H


def assemble(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array], chunk: int) -> jax.Array:
    """Raw (unsymmetrised, un-jitted) Hessian ``(N d, N d)`` summed term by term from the neighbour lists.

    :func:`hessian` is the checked, jitted, symmetrised entry point; this is its body, ``chunk``
    atoms per scan step for the site terms.
    """
    n, d = structure.positions.shape
    # One extra (dummy) atom row absorbs the padded neighbour slots; it is sliced off at the end.
    H = jnp.zeros(((n + 1) * d, (n + 1) * d), structure.positions.dtype)
    sp = potential.species_indices(structure)
    for term, idx in zip(potential.terms, nbrs):
        idx = jnp.asarray(idx)
        dr, mask, sj = local_environment(structure, idx, sp, term.cutoff)
        idx = neighbor_index(idx)  # image lists: periodic images of j fold onto j's rows (Γ point)
        if term.is_pair:
            H = _add_pair_term(H, term, idx, dr, mask, sp, sj)
        else:
            H = _add_site_term(H, term, idx, dr, mask, sp, sj, chunk)
    return H[: n * d, : n * d]


#: Cluster-Hessian elements per scan step of site terms: on the host route, and when traced
#: (under grad/jit/vmap, where the reverse pass keeps each step's residuals, ~100× the step's size).
CHUNK_ELEMENTS, CHUNK_ELEMENTS_TRACED = 2e7, 5e5


def default_chunk(potential: Potential, nbrs, d: int, budget: float = CHUNK_ELEMENTS) -> int:
    """Atoms per scan step of the site terms: one step holds about ``budget`` cluster-Hessian elements."""
    kmax = max(int(np.shape(i)[1]) for i in nbrs)
    per_atom = ((kmax + 1) * d) ** 2
    return int(max(1, min(4096, budget // per_atom)))




def hessian(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array] | None = None,
    *,
    chunk: int | None = None,
    symmetrize: bool = True,
) -> jax.Array:
    """Hessian ∂²E/∂x_ia∂x_jb, ``(N d, N d)`` in eV/Å² (float64).

    Differentiable with respect to the positions and the potential's parameters (both PyTree
    leaves), jittable and vmappable over structures of equal size given their neighbour lists.

    Args:
      potential: the interatomic potential.
      structure: atoms (any dimension the potential supports).
      nbrs: neighbour lists from ``potential.neighbors(structure)`` (built on the host if omitted;
        required when the positions are traced, e.g. under ``jax.grad`` or ``jax.vmap``).
      chunk: atoms per scan step for site terms (memory/speed trade-off).
      symmetrize: average with the transpose (removes round-off asymmetry).
    """
    require_x64("jaxglass.hessian.hessian")
    potential.check(structure)
    structure = as_f64(structure)
    nbrs = neighbors_for(potential, structure, nbrs, "hessian")
    if chunk is None:
        traced = is_traced(potential, structure.positions)
        budget = CHUNK_ELEMENTS_TRACED if traced else CHUNK_ELEMENTS
        chunk = default_chunk(potential, nbrs, structure.dim, budget)
    return _hessian_jit(potential, structure, nbrs, chunk, symmetrize)


@partial(jax.jit, static_argnums=(3, 4))
def _hessian_jit(potential, structure, nbrs, chunk, symmetrize):
    H = assemble(potential, structure, nbrs, chunk)
    return 0.5 * (H + H.T) if symmetrize else H


def hvp(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array], v: jax.Array) -> jax.Array:
    """Hessian-vector product ``H v`` ``(N, d)`` without forming H, O(N) memory.

    For a potential whose forces are explicit sums over gathers (pair terms, EAM:
    :attr:`~jaxglass.potentials.base.Potential.gather_only_forces`), ``H v = -d/dε F(x + ε v)`` by
    forward mode over those forces: no scatter, 1.5-3× cheaper than forward-over-reverse (one core:
    1,024-atom CuZrAl ZJW EAM 48 -> 17 µs per atom, 864 KA atoms 1.9 -> 1.0; benchmarks/hvp.py). Else
    forward-over-reverse of the energy (Tersoff, Keating, Vashishta: as cheap or cheaper there).

    Pure and jittable; ``v`` may carry extra leading axes only through ``jax.vmap``.
    """
    nb = tuple(jnp.asarray(i) for i in nbrs)
    if potential.gather_only_forces:
        return -jax.jvp(lambda x: potential.forces(structure.with_positions(x), nb),
                        (structure.positions,), (v,))[1]

    def grad_e(x):
        return jax.grad(lambda y: potential.energy(structure.with_positions(y), nb))(x)

    return jax.jvp(grad_e, (structure.positions,), (v,))[1]


def hvp_operator(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array]
                 ) -> jax.tree_util.Partial:
    """``v ↦ H v`` at a fixed structure for loops of products (KPM, Lanczos, CG), as a PyTree
    (:class:`jax.tree_util.Partial`: pass it into jitted functions as an argument). Pair terms and the
    EAM are linearised once (:mod:`jaxglass.potentials.hvp_operators`: the radial derivatives of every
    list slot computed here, each product then a gather and a few multiplications per slot; one core,
    traced arguments as in KPM: 864 KA atoms 2.3 -> 0.34 µs per product per atom, 1,024 CuZrAl atoms
    30 -> 0.7-2.6, benchmarks/hvp.py); other site terms (Tersoff, the Vashishta three-body term) use
    :func:`hvp`. Build it once, outside the loop. Pure and jittable."""
    nb = tuple(jnp.asarray(i) for i in nbrs)
    op = potential.hvp_operator(structure, nb)
    if op is not None:
        return op
    # the energy is the sum of its terms where every term's force is written out (not, e.g., a restraint)
    pair = [k for k, t in enumerate(potential.terms) if t.is_pair] if potential.explicit_forces else []
    if not pair:
        return jax.tree_util.Partial(hvp, potential, structure, nb)
    sp = potential.species_indices(structure)
    op = pair_terms_hvp([potential.terms[k] for k in pair], structure, [nb[k] for k in pair], sp)
    if len(pair) == len(potential.terms):
        return op
    # pair terms linearised, site terms by hvp (Vashishta: 73 -> 14 µs per atom for 1,000 a-SiC atoms)
    site = [k for k in range(len(potential.terms)) if k not in pair]
    rest = dataclasses.replace(potential, terms=tuple(potential.terms[k] for k in site))
    rest_op = jax.tree_util.Partial(hvp, rest, structure, tuple(nb[k] for k in site))
    return jax.tree_util.Partial(_sum_of, op, rest_op)


def _sum_of(a, b, v):
    return a(v) + b(v)


def dynamical_operator(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array]
                       ) -> jax.tree_util.Partial:
    """``v ↦ D v`` (mass-weighted, as :func:`dynamical_hvp`) from :func:`hvp_operator`; a PyTree."""
    w = 1.0 / jnp.sqrt(structure.masses)[:, None]
    return jax.tree_util.Partial(_weighted, w, hvp_operator(potential, structure, nbrs))


def _weighted(w, op, v):
    return w * op(w * v)


def dynamical_hvp(
    potential: Potential, structure: Structure, nbrs: Sequence[jax.Array], v: jax.Array
) -> jax.Array:
    """Mass-weighted product ``D v = M^{-1/2} H M^{-1/2} v`` for ``v`` ``(N, d)`` (eV/Å²/amu)."""
    w = 1.0 / jnp.sqrt(structure.masses)[:, None]
    return w * hvp(potential, structure, nbrs, w * v)


def hvp_fn(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array] | None = None):
    """Jitted ``v (N, d) -> H v (N, d)`` at a fixed structure (builds the lists if omitted)."""
    require_x64("jaxglass.hessian.hvp_fn")
    structure = as_f64(structure)
    nbrs = neighbors_for(potential, structure, nbrs, "hvp_fn")
    return partial(_apply, jax.jit(hvp_operator)(potential, structure, nbrs))


@jax.jit
def _apply(op, v):
    return op(v)


@partial(jax.jit, static_argnums=2)  # one compiled program, not four eager operations
def mass_weight(H: jax.Array, masses: jax.Array, dim: int) -> jax.Array:
    """Dynamical matrix at Γ: ``M^{-1/2} H M^{-1/2}`` (eV/Å²/amu)."""
    w = 1.0 / jnp.sqrt(jnp.repeat(jnp.asarray(masses), dim))
    return H * w[:, None] * w[None, :]


def dynamical_matrix(
    potential: Potential, structure: Structure, nbrs: Sequence[jax.Array] | None = None, **kwargs
) -> jax.Array:
    """Γ-point dynamical matrix ``M^{-1/2} H M^{-1/2}`` ``(N d, N d)`` in eV/Å²/amu (differentiable)."""
    H = hessian(potential, structure, nbrs, **kwargs)
    return mass_weight(H, as_f64(structure).masses, structure.dim)


def neighbors_for(potential: Potential, structure: Structure, nbrs, what: str) -> tuple[jax.Array, ...]:
    """The given neighbour lists as arrays, or lists built on the host (needs concrete positions).
    Concrete positions and box are checked finite here, once, for every public Hessian / spectrum
    function (:func:`jaxglass.structure.check_finite`)."""
    check_finite(structure, what)
    if nbrs is None:
        if is_traced(structure.positions, structure.box):
            raise UserError(
                f"nbrs: {what} was called with traced positions (inside jax.grad, jit or vmap), but "
                "neighbour lists are built on the host; pass nbrs=potential.neighbors(structure) "
                "built outside the transformed function"
            )
        nbrs = potential.neighbors(structure)
    return tuple(jnp.asarray(i) for i in nbrs)


def as_f64(structure: Structure) -> Structure:
    return structure.replace(
        positions=jnp.asarray(structure.positions, jnp.float64),
        box=jnp.asarray(structure.box, jnp.float64),
        masses=jnp.asarray(structure.masses, jnp.float64),
    )


