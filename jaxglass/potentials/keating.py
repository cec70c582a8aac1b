"""Keating valence force field for threefold (sp2) networks, as a site :class:`Term`.

P. N. Keating, Phys. Rev. 145, 637 (1966), in the form used by Wooten-Winer-Weaire bond switching:

    E = 3α/(16 d²) Σ_bonds (r_ij · r_ij - d²)² + 3β/(8 d²) Σ_angles (r_ij · r_ik + d²/2)²,

with ``d`` the reference bond length. The bond graph is the neighbour list: for a network of fixed
topology (the AMC generator's Stone-Wales moves) pass the bond list itself as ``nbrs``; for a relaxed
sp2 sheet the cutoff list at ``cutoff`` (default 1.85 Å, between graphene's first and second
neighbour shells) gives the same bonds. The reference angle is 120° (cos = -1/2), so the angle
term as written is for threefold networks. Site energy of atom ``i``: half its bond terms plus
all angle terms centred at ``i``. Parameters ``alpha``, ``beta`` (eV/Å²) and ``bond`` (Å) are
PyTree leaves.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from .base import Potential, Term

CITATION_KEATING = "P. N. Keating, Phys. Rev. 145, 637 (1966)"


def _keating_site(p, dr, mask, si, sj):
    d2 = p["bond"] ** 2
    r2 = jnp.sum(dr * dr, axis=-1)
    e_bond = 0.5 * (3.0 * p["alpha"] / (16.0 * d2)) * jnp.sum(jnp.where(mask, (r2 - d2) ** 2, 0.0))
    dots = dr @ dr.T
    k = dr.shape[0]
    pair = mask[:, None] & mask[None, :] & (jnp.arange(k)[:, None] < jnp.arange(k)[None, :])
    e_angle = (3.0 * p["beta"] / (8.0 * d2)) * jnp.sum(jnp.where(pair, (dots + 0.5 * d2) ** 2, 0.0))
    return e_bond + e_angle


def keating(
    alpha: float,
    beta: float,
    bond: float,
    *,
    species: tuple[str, ...] = ("C",),
    cutoff: float = 1.85,
    dims: tuple[int, ...] = (2, 3),
    name: str = "Keating VFF",
) -> Potential:
    """A Keating potential with bond-stretch ``alpha``, bond-bend ``beta`` (eV/Å²) and bond ``d`` (Å).

    ``cutoff`` is only used when the neighbour (bond) list is built from distances.
    """
    if not (alpha > 0 and beta >= 0 and bond > 0 and cutoff > bond):
        raise UserError(
            f"alpha, beta, bond, cutoff: need alpha > 0, beta >= 0, bond > 0 and cutoff > bond, got "
            f"{alpha}, {beta}, {bond}, {cutoff}"
        )
    params = dict(alpha=np.float64(alpha), beta=np.float64(beta), bond=np.float64(bond))
    return Potential(
        terms=(Term(params=params, cutoff=float(cutoff), site_fn=_keating_site),),
        name=name,
        species=tuple(species),
        units="metal",
        dims=dims,
        citation=CITATION_KEATING,
    )
