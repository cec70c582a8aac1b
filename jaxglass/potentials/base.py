"""The potential interface shared by every glass family.

Every interatomic potential in jaxglass is written as a sum of *site energies*

    E = sum_terms sum_i e_i({r_ij : j in N_term(i)})

where ``r_ij = x_j - x_i`` (minimum image) runs over the neighbours of atom ``i`` within the term's
cutoff. Pair potentials, EAM (embedding of the density at ``i`` plus half the pair sum) and
Tersoff / Vashishta three-body terms (centred at ``i``) all have this form. It gives

* the energy and forces from one padded ``(N, K)`` neighbour list per term (jit/vmap friendly);
* the Hessian by autodiff *per site*: the ``(K d) x (K d)`` Hessian of ``e_i`` in the neighbour
  vectors, scattered into the global matrix (see :mod:`jaxglass.phonons`), so memory and work grow
  as O(N K^2) instead of the O(N^2 x 3N) tangents of ``jax.hessian`` on an all-pairs energy.

A :class:`Term` is either a general site term (``site_energy(dr, mask, si, sj)``) or a pair term
(``pair_energy(r, si, sj)`` for one unordered pair); pair terms get a cheaper pair-block Hessian.

Padded neighbour slots are replaced by a vector longer than the cutoff before the site function
sees them, so site functions may take norms and angles freely; they must still multiply by
``mask`` (or rely on a cutoff function that is exactly zero beyond the cutoff).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from ..neighbors import neighbor_list
from ..space import displacement
from ..structure import Structure
from ..units import freq_factor, freq_unit

SiteEnergy = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
PairEnergy = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, eq=False)
class Term:
    """One contribution to the energy, with its own cutoff and neighbour list.

    A ``Term`` is a PyTree: ``params`` (a dict of arrays) are its leaves, so ``jax.grad`` with
    respect to a potential's parameters works and two terms of the same form with different numbers
    share one compiled function. ``cutoff`` and the energy function are static; the energy function
    must be a module-level function (not a closure made per instance), so that equal forms hash equal.

    Exactly one of ``site_fn`` / ``pair_fn`` is set.

    ``site_fn(params, dr, mask, si, sj)``: energy of site ``i`` from ``dr`` ``(K, d)`` neighbour
    vectors, ``mask`` ``(K,)`` bool (real neighbour), ``si`` scalar species index of ``i`` and
    ``sj`` ``(K,)`` species indices (potential's own species order).

    ``pair_fn(params, r, si, sj)``: energy of one unordered pair at distance ``r`` (vectorised over
    any batch shape). The site energy is then half the sum over neighbours.

    ``pair_dr2_fn(params, r2, si, sj)`` (optional, pair terms only): ``dφ/d(r²)`` of the pair energy
    at squared distances ``r2``; :meth:`Potential.forces` then sums ``F_i = sum_j 2 φ_s r_ij`` with no
    square root (for tables in ``r²``, as LAMMPS's).

    ``site_grad_fn(params, dr, mask, si, sj)`` (optional, site terms only): the gradient ``(K, d)`` of
    ``site_fn`` in the neighbour vectors, written out by hand; :meth:`Potential.forces` then assembles
    the forces from it (:func:`site_term_forces`) instead of reverse-mode autodiff of the energy.

    ``pair_cutoffs`` (optional, site terms only): ``pair_cutoffs[a][b] <= cutoff``, the distance from
    which a neighbour of species ``b`` adds exactly nothing (energy and gradient) to the site energy of
    a centre of species ``a`` (potential's species order; 0: never). The MD engine keeps only the
    neighbours inside it in the list a force uses (:mod:`jaxglass.md`).
    """

    params: dict
    cutoff: float = dataclasses.field(metadata=dict(static=True))
    site_fn: SiteEnergy | None = dataclasses.field(default=None, metadata=dict(static=True))
    pair_fn: PairEnergy | None = dataclasses.field(default=None, metadata=dict(static=True))
    site_grad_fn: SiteEnergy | None = dataclasses.field(default=None, metadata=dict(static=True))
    pair_dr2_fn: PairEnergy | None = dataclasses.field(default=None, metadata=dict(static=True))
    pair_cutoffs: tuple[tuple[float, ...], ...] | None = dataclasses.field(default=None,
                                                                           metadata=dict(static=True))

    def __post_init__(self):
        if (self.site_fn is None) == (self.pair_fn is None):
            raise UserError("Term: give exactly one of site_fn or pair_fn")
        if self.site_grad_fn is not None and self.site_fn is None:
            raise UserError("Term.site_grad_fn: only a site term (site_fn) can carry a site gradient")
        if self.pair_dr2_fn is not None and self.pair_fn is None:
            raise UserError("Term.pair_dr2_fn: only a pair term (pair_fn) can carry a pair derivative")
        if not float(self.cutoff) > 0:
            raise UserError(f"Term.cutoff: must be positive, got {self.cutoff}")
        if self.pair_cutoffs is not None:
            table = np.asarray(self.pair_cutoffs, dtype=np.float64)
            if self.site_fn is None or table.ndim != 2 or table.shape[0] != table.shape[1]:
                raise UserError("Term.pair_cutoffs: a square species x species table, for a site term only")
            if not np.all((table >= 0.0) & (table <= float(self.cutoff))):
                raise UserError(f"Term.pair_cutoffs: every entry must lie in [0, cutoff = {self.cutoff}], "
                                f"got {table.tolist()}")

    @property
    def is_pair(self) -> bool:
        return self.pair_fn is not None

    def pair_energy(self, r: jax.Array, si: jax.Array, sj: jax.Array) -> jax.Array:
        """Energy of unordered pairs at distance ``r`` (pair terms only)."""
        if self.pair_fn is None:
            raise TypeError("Term.pair_energy: this is a site term (use Term.site)")
        return self.pair_fn(params_as_arrays(self.params), r, si, sj)

    def site(self, dr: jax.Array, mask: jax.Array, si: jax.Array, sj: jax.Array) -> jax.Array:
        """Energy of one site from its ``(K, d)`` neighbour vectors."""
        p = params_as_arrays(self.params)
        if self.site_fn is not None:
            return self.site_fn(p, dr, mask, si, sj)
        r = jnp.linalg.norm(dr, axis=-1)
        e = self.pair_fn(p, r, jnp.broadcast_to(si, sj.shape), sj)
        return 0.5 * jnp.sum(jnp.where(mask, e, 0.0))

    def site_grad(self, dr: jax.Array, mask: jax.Array, si: jax.Array, sj: jax.Array) -> jax.Array:
        """``d e_i / d dr`` ``(K, d)`` of one site: ``site_grad_fn`` if given, else reverse mode."""
        if self.site_grad_fn is not None:
            return self.site_grad_fn(params_as_arrays(self.params), dr, mask, si, sj)
        return jax.grad(self.site)(dr, mask, si, sj)


def params_as_arrays(params: dict, dtype=None) -> dict:
    """Parameter dict with every value a ``jnp`` array (numpy float64 becomes the default float dtype).

    Numbers are stored as numpy float64 at construction and become ``jnp`` arrays here, so a
    potential built before ``jaxglass.enable_x64()`` still evaluates in float64 once x64 is on.
    """
    return {k: jnp.asarray(v, dtype=dtype) for k, v in params.items()}


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, eq=False)
class Potential:
    """An interatomic potential: species it knows, energy terms, unit system, and citation.

    A PyTree whose leaves are the terms' parameters; name, species, units, dimensions and citation
    are static. ``units`` is ``"metal"`` (eV, Å, amu; frequencies in THz) or ``"lj"`` (reduced
    units; frequencies are angular, in units of sqrt(ε / (m σ²))).
    """

    terms: tuple[Term, ...]
    name: str = dataclasses.field(metadata=dict(static=True))
    species: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    units: str = dataclasses.field(default="metal", metadata=dict(static=True))
    dims: tuple[int, ...] = dataclasses.field(default=(3,), metadata=dict(static=True))
    citation: str = dataclasses.field(default="", metadata=dict(static=True))

    def replace(self, **changes) -> Potential:
        return dataclasses.replace(self, **changes)

    @property
    def params(self) -> tuple[dict, ...]:
        """The parameters of every term (the PyTree leaves), in term order."""
        return tuple(t.params for t in self.terms)

    def with_params(self, params: Sequence[dict]) -> Potential:
        """A copy with new term parameters (same structure as :attr:`params`)."""
        if len(params) != len(self.terms):
            raise UserError(f"params: expected {len(self.terms)} parameter dicts, got {len(params)}")
        return self.replace(terms=tuple(dataclasses.replace(t, params=p) for t, p in zip(self.terms, params)))

    @property
    def cutoff(self) -> float:
        return max(t.cutoff for t in self.terms)

    @property
    def freq_factor(self) -> float:
        """Multiply sqrt(eigenvalue of the mass-weighted Hessian) by this to get frequencies."""
        return freq_factor(self.units)

    @property
    def freq_unit(self) -> str:
        return freq_unit(self.units)

    @property
    def gather_only_forces(self) -> bool:
        """Whether :meth:`forces` is explicit and gathers only (every term a pair term): then a
        Hessian-vector product is cheapest as the forward-mode derivative of the forces
        (:func:`jaxglass.hessian.hvp`)."""
        return all(t.is_pair for t in self.terms)

    def hvp_operator(self, structure: Structure, nbrs: Sequence[jax.Array]) -> jax.tree_util.Partial | None:
        """A precomputed ``v ↦ H v`` at ``structure`` for loops of products, where the potential has its
        own (the EAM: :mod:`jaxglass.potentials.hvp_operators`); ``None`` here. Use
        :func:`jaxglass.hessian.hvp_operator`, which covers pair terms and falls back to
        :func:`~jaxglass.hessian.hvp`."""
        return None

    @property
    def explicit_forces(self) -> bool:
        """Whether :meth:`forces` is written out for every term (pair sums, hand-written site
        gradients): then energy plus :meth:`forces` costs less than a reverse-mode
        ``value_and_grad`` of the energy (:func:`jaxglass.minimize.minimize`)."""
        return all(t.is_pair or t.site_grad_fn is not None for t in self.terms)

    # -- host-side helpers -------------------------------------------------------------------
    def check(self, structure: Structure) -> None:
        if structure.dim not in self.dims:
            raise UserError(
                f"structure.dim: {self.name} is defined for dimension(s) {self.dims}, got a "
                f"{structure.dim}D structure"
            )
        self.species_map(structure)

    def species_map(self, structure: Structure) -> np.ndarray:
        """Map the structure's species indices to this potential's species indices."""
        out = []
        for s in structure.species_names:
            if s not in self.species:
                raise UserError(
                    f"species: {s!r} is unknown to potential {self.name} (it knows {self.species})"
                )
            out.append(self.species.index(s))
        return np.asarray(out, dtype=np.int32)

    def species_indices(self, structure: Structure) -> jax.Array:
        """The atoms' species indices in this potential's order, shaped like ``structure.species``
        (any batch shape; traceable in ``structure.species``, the names are static)."""
        return jnp.asarray(self.species_map(structure))[structure.species]

    def neighbors(self, structure: Structure, skin: float = 0.0) -> tuple[np.ndarray, ...]:
        """One padded neighbour list per term (host-side)."""
        self.check(structure)
        return tuple(neighbor_list(structure, t.cutoff, skin=skin, images=True) for t in self.terms)

    # -- pure functions (jit / grad / vmap) ----------------------------------------------------
    def site_energies(
        self, structure: Structure, nbrs: Sequence[jax.Array], deformation: jax.Array | None = None
    ) -> jax.Array:
        """Per-atom energies ``(N,)`` summed over terms.

        ``deformation``: an optional ``(d, d)`` matrix ``F`` applied to every neighbour vector
        (``r -> F r``), i.e. the energy after the affine deformation of cell and positions by ``F``
        (with the same neighbours); its gradient at ``F = I`` is the virial (stress × volume).
        """
        if len(nbrs) != len(self.terms):
            raise UserError(f"nbrs: expected {len(self.terms)} neighbour lists, got {len(nbrs)}")
        sp = self.species_indices(structure)
        total = jnp.zeros(structure.n_atoms, dtype=structure.positions.dtype)
        for term, idx in zip(self.terms, nbrs):
            dr, mask, sj = local_environment(structure, jnp.asarray(idx), sp, term.cutoff)
            if deformation is not None:
                dr = jnp.where(mask[..., None], dr @ jnp.asarray(deformation).T, dr)
            total = total + jax.vmap(term.site)(dr, mask, sp, sj)
        return total

    def energy(self, structure: Structure, nbrs: Sequence[jax.Array]) -> jax.Array:
        """Total potential energy (eV, or ε for LJ)."""
        return jnp.sum(self.site_energies(structure, nbrs))

    def forces(self, structure: Structure, nbrs: Sequence[jax.Array]) -> jax.Array:
        """Forces ``-dE/dx`` ``(N, d)`` with the given lists (pure; jit/vmap friendly).

        Pair terms are summed explicitly from the full (symmetric) lists (:func:`pair_term_forces`,
        no scatter); site terms with a hand-written ``site_grad_fn`` (the Vashishta three-body term)
        are assembled from the per-site gradients with one scatter-add (:func:`site_term_forces`),
        other site terms (Tersoff; EAM has its own ``forces``) are differentiated by reverse mode.
        Equal to ``-jax.grad(energy)`` to round-off (tests/test_md.py, tests/test_vashishta.py).
        """
        return self._forces(structure, nbrs, False)[1]

    def energy_and_forces(self, structure: Structure, nbrs: Sequence[jax.Array]
                          ) -> tuple[jax.Array, jax.Array]:
        """``(energy, forces)`` as :meth:`energy` and :meth:`forces`; a pair term's energy comes out of
        its force pass (the forward-mode derivative carries the pair energy along)."""
        return self._forces(structure, nbrs, True)

    def _forces(self, structure: Structure, nbrs: Sequence[jax.Array], with_energy: bool):
        if len(nbrs) != len(self.terms):
            raise UserError(f"nbrs: expected {len(self.terms)} neighbour lists, got {len(nbrs)}")
        sp = self.species_indices(structure)
        e, f = jnp.zeros((), structure.positions.dtype), jnp.zeros_like(structure.positions)
        site = [(t, jnp.asarray(i)) for t, i in zip(self.terms, nbrs)
                if not t.is_pair and t.site_grad_fn is None]
        for term, idx in zip(self.terms, nbrs):
            if term.site_grad_fn is not None:
                f = f + site_term_forces(term, structure, jnp.asarray(idx), sp)
                if with_energy:
                    e = e + self.replace(terms=(term,)).energy(structure, [idx])
            elif term.is_pair:
                e_t, f_t = pair_term_forces(term, structure, jnp.asarray(idx), sp, with_energy)
                e, f = e + e_t, f + f_t
        if site:
            sub = self.replace(terms=tuple(t for t, _ in site))
            lists = [i for _, i in site]
            e_s, g = jax.value_and_grad(lambda x: sub.energy(structure.with_positions(x), lists))(
                structure.positions)
            e, f = e + e_s, f - g
        return e, f

    def energy_fn(self, structure: Structure, nbrs: Sequence[jax.Array]) -> Callable[[jax.Array], jax.Array]:
        """``positions -> energy`` with the other fields of ``structure`` and the lists fixed."""
        nb = tuple(jnp.asarray(i) for i in nbrs)

        def f(positions: jax.Array) -> jax.Array:
            return self.energy(structure.with_positions(positions), nb)

        return f


def neighbor_index(idx: jax.Array) -> jax.Array:
    """The ``(N, K)`` neighbour indices of a list (the first column of an image list)."""
    return idx[..., 0] if idx.ndim == 3 else idx


#: Slots per block of the pair-force sum on a CPU, and the narrowest list summed in blocks (see
#: :func:`pair_term_forces`; the 2D KA list of 64 slots was 10-16 % slower in blocks).
PAIR_SLOT_BLOCK = 8
PAIR_BLOCKED_WIDTH = 96


def pair_term_forces(term: Term, structure: Structure, idx: jax.Array, sp: jax.Array,
                     with_energy: bool = False) -> tuple[jax.Array, jax.Array]:
    """``(energy, forces (N, d))`` of a pair term from a full (symmetric) list ``idx`` (the energy 0
    unless ``with_energy``): ``F_i = sum_j φ'(r_ij) r_ij / r_ij`` with ``r_ij = x_j - x_i`` and ``φ'``
    by forward-mode autodiff of the pair energy, whose primal is the energy (or ``2 dφ/d(r²)`` from
    ``pair_dr2_fn``, the energy then from ``pair_fn``); no scatter.

    On a CPU the slots are summed in blocks of :data:`PAIR_SLOT_BLOCK` (``lax.scan``), so that each
    block's ``(N, 8)`` intermediates stay in cache instead of XLA streaming ``(N, K)`` arrays through
    memory once per operation: 25-30 % less CPU time for the 1,000-atom KA force, K = 192
    (benchmarks/pair_force_parts.py). Elsewhere, for lists narrower than :data:`PAIR_BLOCKED_WIDTH`
    and when the width is not a multiple of the block, the slots are summed in one pass.
    """
    params = params_as_arrays(term.params) if term.pair_dr2_fn is not None else None

    def block(ib):
        dr, mask, sj = local_environment(structure, ib, sp, term.cutoff)
        r2 = jnp.sum(dr * dr, axis=-1)
        si = jnp.broadcast_to(sp[:, None], sj.shape)
        pair = functools.partial(term.pair_energy, si=si, sj=sj)
        if params is not None:
            de_r = 2.0 * term.pair_dr2_fn(params, r2, si, sj)  # φ'(r) / r
            e = pair(jnp.sqrt(r2)) if with_energy else None
        else:
            r = jnp.sqrt(r2)
            e, de = jax.jvp(pair, (r,), (jnp.ones_like(r),))
            de_r = de / r
        e = 0.5 * jnp.sum(jnp.where(mask, e, 0.0)) if with_energy else jnp.zeros((), r2.dtype)
        return e, jnp.sum(jnp.where(mask, de_r, 0.0)[..., None] * dr, axis=1)

    return sum_over_slot_blocks(block, idx)


def sum_over_slot_blocks(fn: Callable[[jax.Array], jax.Array], idx: jax.Array) -> jax.Array:
    """``fn(idx)`` for an ``fn`` that sums over the slots (axis 1) of a list ``idx``, evaluated on a
    CPU as the sum of ``fn`` over blocks of :data:`PAIR_SLOT_BLOCK` slots (``lax.scan``; see
    :func:`pair_term_forces`); in one call elsewhere, below :data:`PAIR_BLOCKED_WIDTH` slots or when the
    width is not a multiple of the block."""
    n, k, b = idx.shape[0], idx.shape[1], PAIR_SLOT_BLOCK
    if jax.default_backend() != "cpu" or k < PAIR_BLOCKED_WIDTH or k % b:
        return fn(idx)
    blocks = jnp.moveaxis(idx.reshape(n, k // b, b, *idx.shape[2:]), 1, 0)
    first = fn(blocks[0])
    return jax.lax.scan(lambda acc, ib: (jax.tree.map(jnp.add, acc, fn(ib)), None), first, blocks[1:])[0]


def site_term_forces(term: Term, structure: Structure, idx: jax.Array, sp: jax.Array) -> jax.Array:
    """Forces ``(N, d)`` of a site term from its per-site gradients ``g_is = d e_i / d r_is``
    (``r_is = x_j - x_i``, ``j`` the atom in slot ``s`` of row ``i``):

        F_m = sum_s g_ms - sum_{(i, s): j(i, s) = m} g_is,

    the second sum one scatter-add of the ``N K`` slot gradients (any list: full, half or with
    images). For the Vashishta three-body term on 1,000 a-SiC atoms (K = 28) that scatter costs
    0.14 ms against 1.1 ms for finding each slot's mirror in the neighbour's row to gather it,
    and the whole force 5-7 ms against 30-40 ms by reverse-mode autodiff of the energy (scratch
    timings, one core; reverse mode turns every gather of the site function into a scatter).
    """
    n, d = structure.positions.shape
    # the barrier keeps XLA from fusing the neighbour gathers into the O(K^2) site work inside the MD
    # loop (recomputed per use: the Vashishta three-body force took 13 instead of 6.5 ms there)
    dr, mask, sj = jax.lax.optimization_barrier(local_environment(structure, idx, sp, term.cutoff))
    g = jnp.where(mask[..., None], jax.vmap(term.site_grad)(dr, mask, sp, sj), 0.0)  # (N, K, d)
    j = jnp.where(mask, neighbor_index(idx), n).reshape(-1)
    return jnp.sum(g, axis=1) - jax.ops.segment_sum(g.reshape(-1, d), j, num_segments=n + 1)[:n]


def local_environment(structure: Structure, idx: jax.Array, sp: jax.Array, cutoff: float,
                      rows: jax.Array | None = None):
    """Neighbour vectors ``(N, K, d)`` (padding replaced by a safe far vector), mask, species.

    ``idx`` is an ``(N, K)`` minimum-image list or an ``(N, K, 1 + d)`` image list (index and
    integer image shift, see :func:`jaxglass.neighbors.image_neighbor_list`). With ``rows`` (``(B,)``
    atom indices), ``idx`` holds those atoms' rows only, ``(B, K[, 1 + d])``, and so do the outputs.
    """
    n, d = structure.positions.shape
    pos = structure.positions
    centres = pos if rows is None else pos[rows]
    if idx.ndim == 3:
        shifts, idx = idx[..., 1:], idx[..., 0]
    else:
        shifts = None
    mask = idx < n
    safe_idx = jnp.where(mask, idx, 0)
    if shifts is None:
        dr = displacement(pos[safe_idx] - centres[:, None, :], structure.box, structure.periodic)
    else:
        dr = pos[safe_idx] - centres[:, None, :] + shifts.astype(pos.dtype) * structure.box
    far = jnp.zeros((d,), pos.dtype).at[0].set(2.0 * cutoff + 1.0)
    dr = jnp.where(mask[..., None], dr, far)
    sj = jnp.where(mask, sp[safe_idx], 0)
    return dr, mask, sj


def energy(potential: Potential, structure: Structure) -> float:
    """Total energy of a structure (host convenience; builds the neighbour lists)."""
    nbrs = potential.neighbors(structure)
    return float(jax.jit(potential.energy)(structure, nbrs))


def forces(potential: Potential, structure: Structure) -> jax.Array:
    """Forces ``-dE/dx`` ``(N, d)`` (host convenience; builds the neighbour lists)."""
    nbrs = potential.neighbors(structure)
    return jax.jit(potential.forces)(structure, nbrs)
