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
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..neighbors import neighbor_list
from ..structure import Structure, displacement

SiteEnergy = Callable[[jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]
PairEnergy = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]

#: Frequency conversion: nu [THz] = FREQ_THZ * sqrt(lambda [eV / Å^2 / amu]).
FREQ_THZ = 15.633302


@dataclasses.dataclass(frozen=True, eq=False)
class Term:
    """One contribution to the energy, with its own cutoff and neighbour list.

    Exactly one of ``site_energy`` / ``pair_energy`` is set.

    ``site_energy(dr, mask, si, sj)``: energy of site ``i`` from ``dr`` ``(K, d)`` neighbour
    vectors, ``mask`` ``(K,)`` bool (real neighbour), ``si`` scalar species index of ``i`` and
    ``sj`` ``(K,)`` species indices (potential's own species order).

    ``pair_energy(r, si, sj)``: energy of one unordered pair at distance ``r`` (vectorised over
    any batch shape). The site energy is then half the sum over neighbours.
    """

    cutoff: float
    site_energy: SiteEnergy | None = None
    pair_energy: PairEnergy | None = None

    def __post_init__(self):
        if (self.site_energy is None) == (self.pair_energy is None):
            raise ValueError("Term: give exactly one of site_energy or pair_energy")
        if not self.cutoff > 0:
            raise ValueError(f"Term.cutoff: must be positive, got {self.cutoff}")

    @property
    def is_pair(self) -> bool:
        return self.pair_energy is not None

    def site(self, dr: jax.Array, mask: jax.Array, si: jax.Array, sj: jax.Array) -> jax.Array:
        if self.site_energy is not None:
            return self.site_energy(dr, mask, si, sj)
        r = jnp.linalg.norm(dr, axis=-1)
        e = self.pair_energy(r, jnp.broadcast_to(si, sj.shape), sj)
        return 0.5 * jnp.sum(jnp.where(mask, e, 0.0))


@dataclasses.dataclass(frozen=True, eq=False)
class Potential:
    """An interatomic potential: species it knows, energy terms, unit system, and citation.

    ``units`` is ``"metal"`` (eV, Å, amu; frequencies in THz) or ``"lj"`` (reduced units;
    frequencies are angular, in units of sqrt(ε / (m σ²))).
    """

    name: str
    species: tuple[str, ...]
    terms: tuple[Term, ...]
    units: str = "metal"
    dims: tuple[int, ...] = (3,)
    citation: str = ""

    @property
    def cutoff(self) -> float:
        return max(t.cutoff for t in self.terms)

    @property
    def freq_factor(self) -> float:
        """Multiply sqrt(eigenvalue of the mass-weighted Hessian) by this to get frequencies."""
        return FREQ_THZ if self.units == "metal" else 1.0

    @property
    def freq_unit(self) -> str:
        return "THz" if self.units == "metal" else "omega (LJ units)"

    # -- host-side helpers -------------------------------------------------------------------
    def check(self, structure: Structure) -> None:
        if structure.dim not in self.dims:
            raise ValueError(
                f"structure.dim: {self.name} is defined for dimension(s) {self.dims}, got a "
                f"{structure.dim}D structure"
            )
        self.species_map(structure)

    def species_map(self, structure: Structure) -> np.ndarray:
        """Map the structure's species indices to this potential's species indices."""
        out = []
        for s in structure.species_names:
            if s not in self.species:
                raise ValueError(
                    f"species: {s!r} is unknown to potential {self.name} (it knows {self.species})"
                )
            out.append(self.species.index(s))
        return np.asarray(out, dtype=np.int32)

    def neighbors(self, structure: Structure, skin: float = 0.0) -> tuple[np.ndarray, ...]:
        """One padded neighbour list per term (host-side)."""
        self.check(structure)
        return tuple(neighbor_list(structure, t.cutoff, skin=skin) for t in self.terms)

    # -- pure functions (jit / grad / vmap) ----------------------------------------------------
    def site_energies(self, structure: Structure, nbrs: Sequence[jax.Array]) -> jax.Array:
        """Per-atom energies ``(N,)`` summed over terms."""
        if len(nbrs) != len(self.terms):
            raise ValueError(f"nbrs: expected {len(self.terms)} neighbour lists, got {len(nbrs)}")
        sp = jnp.asarray(self.species_map(structure))[structure.species]
        total = jnp.zeros(structure.n_atoms, dtype=structure.positions.dtype)
        for term, idx in zip(self.terms, nbrs):
            dr, mask, sj = local_environment(structure, jnp.asarray(idx), sp, term.cutoff)
            total = total + jax.vmap(term.site)(dr, mask, sp, sj)
        return total

    def energy(self, structure: Structure, nbrs: Sequence[jax.Array]) -> jax.Array:
        """Total potential energy (eV, or ε for LJ)."""
        return jnp.sum(self.site_energies(structure, nbrs))

    def energy_fn(self, structure: Structure, nbrs: Sequence[jax.Array]) -> Callable[[jax.Array], jax.Array]:
        """``positions -> energy`` with the other fields of ``structure`` and the lists fixed."""
        nb = tuple(jnp.asarray(i) for i in nbrs)

        def f(positions: jax.Array) -> jax.Array:
            return self.energy(structure.with_positions(positions), nb)

        return f


def local_environment(structure: Structure, idx: jax.Array, sp: jax.Array, cutoff: float):
    """Neighbour vectors ``(N, K, d)`` (padding replaced by a safe far vector), mask, species."""
    n, d = structure.positions.shape
    pos = structure.positions
    mask = idx < n
    safe_idx = jnp.where(mask, idx, 0)
    dr = displacement(pos[safe_idx] - pos[:, None, :], structure.box, structure.periodic)
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
    return -jax.jit(jax.grad(potential.energy_fn(structure, nbrs)))(structure.positions)


# -- smooth cutoff helpers shared by potentials ----------------------------------------------


def where_safe(cond: jax.Array, x: jax.Array, safe: float) -> jax.Array:
    """``x`` where ``cond`` else ``safe``: use before a function that is singular outside ``cond``."""
    return jnp.where(cond, x, safe)
