"""Amorphous monolayer carbon (AMC) by Stone-Wales bond switching of graphene.

Protocol (the bond-switch route of Wooten, Winer and Weaire, PRL 54, 1392 (1985),
applied to graphene as in Kumar, Wilson and Thorpe, JPCM 24, 485003 (2012)):

1. **Graphene** (:func:`jaxglass.generate.graphene`, rectangular 4-atom cells, periodic in x and y,
   vacuum along z) at the Lindsay-Broido lattice constant ``a = 2.49205`` Å. The bond graph is kept
   as a *rotation system*: each atom's three neighbours in counter-clockwise order. Rings are the
   faces of this planar (toroidal) embedding, traced exactly and locally, so a move's effect on
   ring sizes is known before it is made.
2. **K random Stone-Wales switches.** A C-C bond ``i-j`` rotates by 90° about its midpoint: with
   ``i``'s neighbours ``(j, p, q)`` and ``j``'s ``(i, r, s)`` counter-clockwise, bonds ``i-q`` and
   ``j-s`` become ``i-s`` and ``j-q``; the two rings sharing the bond lose one atom, the two rings
   at its ends gain one (in graphene: 5-7-7-5). Moves creating a ring smaller than 5 or larger
   than 8 are rejected and redrawn. The geometry follows each switch (the two atoms rotate; the
   network is relaxed in plane with the Keating proxy below), and a switch is also rejected when
   the relaxed network is not a sound sp2 sheet
   (:meth:`~jaxglass.generate._amc_switches.Network.geometry_ok`): an atom folded over its
   neighbours, a bond outside :data:`BOND_RANGE` or an angle outside :data:`ANGLE_RANGE`, or
   non-bonded atoms closer than the Tersoff cutoff. Without that rule,
   about one in four 160-atom networks at knob 1 changed its bonding in the final Tersoff
   relaxation (bonds stretched to 1.72 Å broke, squeezed pairs bonded, making 4- or 11-rings).
3. **Metropolis anneal** at ``kT_a`` of further random switches (same ring rule) *at a fixed
   number of hexagons*: switches that would change it are rejected before any relaxation, so K
   alone sets the hexagon fraction and the anneal rearranges the defects (it removes the
   high-energy motifs that random switching leaves, e.g. adjacent pentagons and 5-8 contacts).
   Measured on 160-atom cells: an unconstrained anneal at 0.5 eV heals the sparse defects of
   small K back to graphene (knob 0 gave perfect graphene), and one at 2 eV makes the hexagon
   fraction non-monotonic in K. The energy of a trial is a proxy: the *relaxed Keating energy*
   (:data:`KEATING_ALPHA`), all atoms relaxed in plane for a fixed number of FIRE steps (jitted,
   warm-started from the current network; ~5 ms per trial for 160 atoms), accepted with
   probability ``min(1, exp(-ΔE / kT_a))`` -- the WWW recipe with a valence force field instead
   of the full potential. Measured: with 4N trials few switches pass the ring, hexagon and
   geometry rules (160 atoms: 0-7 accepted, lowering the Keating energy by up to 13 %), so the
   anneal is a polish; ``info`` records every rejection count.
4. **Tersoff relaxation**: tiny random z noise (``z_noise`` Å, so that the sheet may buckle out of
   plane where pentagons and heptagons curve it), then LB Tersoff
   (:func:`~jaxglass.potentials.lindsay_broido_carbon`) relaxation of the positions together with
   the in-plane box lengths (:func:`jaxglass.minimize.minimize_with_box`, zero stress); the z box
   length (vacuum) is kept.

Knob: ``knob`` in [0, 1] sets the number of random switches geometrically,
``K/N = 0.006 * 60**knob`` (0.006 at knob 0, 0.046 at 0.5, 0.36 at 1), at least one switch.
The design estimate was hexagon fractions 0.95 -> 0.39 over that range. ``knob_values`` records K, K/N,
kT_a, the hexagon fraction and ring counts 4..9 measured on the relaxed geometry
(:func:`ring_statistics`).

Ring statistics of any carbon sheet: :func:`ring_statistics` (bonds by a distance cutoff, 1.85 Å
by default; rings as the faces of the planar embedding, or by King's shortest-path criterion on
the periodic graph).
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._config import require_x64
from ..analysis.rings import ring_statistics
from ..errors import UserError
from ..minimize import minimize_with_box
from ..neighbors import pair_list
from ..potentials.keating import keating
from ..potentials.tersoff import lindsay_broido_carbon
from ..structure import Structure, make_structure
from ._amc_switches import (
    ANGLE_RANGE,
    BOND_RANGE,
    NONBONDED_MIN,
    RING_MAX,
    RING_MIN,
    Network,
    SwitchesStalled,
    anneal,
    face_counts,
    random_switches,
    rotation_system,
    sw_geometry,
    sw_topology,
)
from .base import Generated, SmallestCell, check_knob
from .lattices import graphene

__all__ = [
    "A_GRAPHENE",
    "KEATING_ALPHA",
    "KEATING_BETA",
    "PROTOCOLS",
    "crystal",
    "generate",
    "knob_to_switch_fraction",
    "potential",
    "ring_statistics",
    "smallest_cell",
    "stone_wales",
]

#: How often the random-switch stage may start again from graphene after it stalls
#: (:class:`~jaxglass.generate._amc_switches.SwitchesStalled`) before :func:`generate` gives up.
SWITCH_RESTARTS = 3

#: LB Tersoff graphene lattice constant (Å), LAMMPS with ``BNC.tersoff``.
A_GRAPHENE = 2.49205
#: Its C-C bond length a/√3 (Å): the Keating reference length.
BOND = A_GRAPHENE / np.sqrt(3.0)

#: Keating valence force field of the Metropolis proxy (P. N. Keating, Phys. Rev. 145, 637 (1966),
#: the usual WWW choice), with d the graphene bond:
#: ``E = 3α/(16 d²) Σ_bonds (r·r - d²)² + 3β/(8 d²) Σ_angles (r_ij·r_ik + d²/2)²``. α and β (eV/Å²)
#: were fitted here to LB Tersoff graphene: the biaxial modulus, E/N = E0 + (9/8)(α+β)d² ε², i.e.
#: 127.4 eV per unit strain² (re-checked in tests/test_generate_amc.py), and the uniaxial modulus
#: with relaxed internal coordinates, 59.8 eV (24-atom cell, ±0.4 % strains). For reference, the planar
#: Stone-Wales defect costs 7.46 eV with this proxy and 5.95 eV with LB Tersoff (both measured here).
KEATING_ALPHA = 20.09
KEATING_BETA = 7.266

# The proxy network's geometry rules (smallest non-bonded distance, bond and angle ranges) and the
# ring rule of the switches, :data:`RING_MIN` to :data:`RING_MAX`, are defined with the switch
# machinery (:mod:`jaxglass.generate._amc_switches`) and imported here.

#: K/N at knob 0 and knob 1.
KN_RANGE = (0.006, 0.36)

#: Protocol settings per size. ``n_atoms``: default size; ``anneal_per_atom``: Metropolis trials
#: per atom; ``kT_a``: anneal temperature (eV); ``keating_steps``: most FIRE steps per trial relaxation;
#: ``fmax``: final force tolerance (eV/Å, also |dH/dlnL|/N in eV); ``z_noise``: σ of the z noise (Å).
PROTOCOLS: dict[str, dict[str, Any]] = {
    "small": dict(n_atoms=160, anneal_per_atom=4.0, kT_a=0.5, keating_steps=300, fmax=1e-4, z_noise=0.02),
    "paper": dict(n_atoms=800, anneal_per_atom=10.0, kT_a=0.5, keating_steps=600, fmax=1e-5, z_noise=0.02),
}

_MIN_REPS = (6, 3)  # shortest wrap-around cycles 2*nx and 4*ny bonds >= 12 > any allowed ring


@functools.lru_cache(maxsize=1)
def potential():
    """The Lindsay-Broido Tersoff carbon potential AMC structures are relaxed with (one shared object)."""
    return lindsay_broido_carbon()


def knob_to_switch_fraction(knob: float) -> float:
    """``K/N = 0.006 * 60**knob``: the number of random Stone-Wales switches per atom."""
    lo, hi = KN_RANGE
    return float(lo * (hi / lo) ** float(knob))


# ---------------------------------------------------------------------------------------------
# Stone-Wales defects of a given sheet


def stone_wales(structure: Structure, bond: tuple[int, int], *, cutoff: float = 1.85) -> Structure:
    """A Stone-Wales defect: rotate bond ``(i, j)`` of a 3-coordinated sheet by 90° (rebonding).

    Host-side helper (unrelaxed: the two atoms are rotated about the bond midpoint in the plane
    of the periodic axes); the other atoms stay. Raises ValueError if ``i-j`` is not a bond.
    """
    nbr, xy, box2, ax = _sheet_graph(structure, cutoff)
    i, j = (int(b) for b in bond)
    if j not in nbr[i]:
        raise UserError(f"bond: atoms {i} and {j} are not bonded (cutoff {cutoff} Å)")
    rows = [list(r) for r in rotation_system(xy, box2, np.asarray(nbr))]
    if sw_topology(rows, i, rows[i].index(j)) is None:
        raise UserError(f"bond: ({i}, {j}) sits in a triangle or square; no Stone-Wales switch")
    xy = sw_geometry(xy, box2, i, j)
    pos = np.array(structure.positions, dtype=np.float64)
    pos[:, ax] = xy
    return structure.with_positions(jnp.asarray(pos))


def _sheet_axes(structure: Structure) -> list[int]:
    per = [a for a, p in enumerate(structure.periodic) if p]
    if len(per) != 2:
        raise UserError(
            f"structure: a sheet needs exactly two periodic axes (its plane), got periodic="
            f"{structure.periodic}"
        )
    return per


def _sheet_graph(structure: Structure, cutoff: float):
    """3-regular bond graph (lists), in-plane coordinates, in-plane box and plane axes."""
    ax = _sheet_axes(structure)
    i, j = pair_list(structure, cutoff)
    n = structure.n_atoms
    nbr: list[list[int]] = [[] for _ in range(n)]
    for a, b in zip(i.tolist(), j.tolist()):
        nbr[a].append(b)
        nbr[b].append(a)
    bad = [a for a in range(n) if len(nbr[a]) != 3]
    if bad:
        raise UserError(
            f"structure: expected a 3-coordinated sp2 sheet, but {len(bad)} atoms (e.g. {bad[:5]}) have "
            f"another number of neighbours within {cutoff} Å"
        )
    xy = np.asarray(structure.positions, dtype=np.float64)[:, ax]
    box2 = np.asarray(structure.box, dtype=np.float64)[ax]
    return nbr, xy, box2, ax


# ---------------------------------------------------------------------------------------------
# Keating proxy of the Metropolis anneal


def keating_potential():
    """The Keating proxy of the Metropolis anneal as a potential (:func:`jaxglass.potentials.keating`)."""
    return keating(KEATING_ALPHA, KEATING_BETA, BOND, dims=(2,))


_KEATING = keating_potential()


# ---------------------------------------------------------------------------------------------
# Generators


def _reps(n_atoms: int) -> tuple[int, int]:
    """Rectangular 4-atom cells (nx, ny) with 4 nx ny closest to n_atoms and a near-square box."""
    best = None
    for ny in range(_MIN_REPS[1], max(_MIN_REPS[1], int(np.sqrt(n_atoms))) + 2):
        nx = max(_MIN_REPS[0], int(round(n_atoms / (4 * ny))))
        aspect = (nx * A_GRAPHENE) / (ny * np.sqrt(3.0) * A_GRAPHENE)
        score = abs(4 * nx * ny - n_atoms) / n_atoms + 0.05 * abs(np.log(aspect))
        if best is None or score < best[0]:
            best = (score, nx, ny)
    return best[1], best[2]


def smallest_cell() -> SmallestCell:
    """The smallest sheet: 72 atoms, 6 x 3 rectangular 4-atom graphene cells."""
    return SmallestCell(4 * _MIN_REPS[0] * _MIN_REPS[1],
                        f"a {_MIN_REPS[0]} x {_MIN_REPS[1]} graphene supercell, so that no ring can wrap "
                        "around the periodic box")


def _check_n(n_atoms: int) -> None:
    if int(n_atoms) != n_atoms:
        raise UserError(f"n_atoms: expected a whole number, got {n_atoms}")
    smallest_cell().check(n_atoms, "AMC")


def _resolve(n_atoms: int | None, size: str, protocol: dict[str, Any] | None = None
             ) -> tuple[int, dict[str, Any]]:
    if size not in PROTOCOLS:
        raise UserError(f"size: expected one of {tuple(PROTOCOLS)}, got {size!r}")
    proto = dict(PROTOCOLS[size])
    unknown = sorted(set(protocol or {}) - set(proto))
    if unknown:
        raise UserError(f"protocol: unknown setting(s) {unknown}; the settings are {sorted(proto)}")
    proto.update(protocol or {})
    if n_atoms is None:
        n_atoms = proto["n_atoms"]
    _check_n(n_atoms)
    return int(n_atoms), proto


def _relax_sheet(s: Structure, fmax: float, max_steps: int = 20000):
    return minimize_with_box(potential(), s, axes=(0, 1), fmax=fmax, max_steps=max_steps)


def crystal(n_atoms: int | None = None, *, size: str = "small") -> Generated:
    """Relaxed graphene (LB Tersoff, in-plane box relaxed) of about ``n_atoms`` atoms.

    ``n_atoms=None`` uses the size default (160 for ``"small"``, 800 for ``"paper"``).
    """
    require_x64("jaxglass.generate.amc.crystal")
    t0 = time.perf_counter()
    n_atoms, proto = _resolve(n_atoms, size)
    nx, ny = _reps(n_atoms)
    s = graphene(A_GRAPHENE, (nx, ny))
    res = _relax_sheet(s, proto["fmax"])
    rs = ring_statistics(res.structure)
    box = np.asarray(res.structure.box)
    return Generated(
        structure=res.structure,
        potential=potential(),
        knob=0.0,
        knob_values=dict(
            K=0, K_per_N=0.0, kT_a=0.0, hexagon_fraction=rs["hexagon_fraction"], **_ring_keys(rs)
        ),
        info=dict(
            generator="amc.crystal",
            size=size,
            n_atoms=res.structure.n_atoms,
            reps=(nx, ny),
            lattice_constant=float(box[0] / nx),
            energy_per_atom=res.energy / res.structure.n_atoms,
            fmax=res.fmax,
            fmax_tol=proto["fmax"],
            converged=res.converged,
            ring_statistics=rs,
            wall_time=time.perf_counter() - t0,
        ),
    )


def _ring_keys(rs: dict[str, Any]) -> dict[str, int]:
    out = {f"n_ring{k}": int(rs["counts"].get(k, 0)) for k in range(4, 10)}
    out["n_ring_other"] = int(sum(c for k, c in rs["counts"].items() if k < 4 or k > 9))
    return out


def _switched_network(n_atoms: int, knob: float, rng: np.random.Generator, proto: dict[str, Any]):
    """Steps 1-3 of the protocol: graphene, K random switches, hexagon-conserving anneal."""
    nx, ny = _reps(n_atoms)
    g = graphene(A_GRAPHENE, (nx, ny))
    n = g.n_atoms
    nbr0, xy, box2, ax = _sheet_graph(g, 1.85)
    rows = rotation_system(xy, box2, np.asarray(nbr0))
    timing = {}
    t1 = time.perf_counter()

    # 1. K random switches (ring rule only); a stalled network starts again from graphene with the
    #    same generator's next draws, so the result stays a function of the seed
    kn = knob_to_switch_fraction(knob)
    K = max(1, int(round(kn * n)))
    tries, stalled = 0, []
    while True:
        net = Network(xy, box2, [list(r) for r in rows], proto["keating_steps"], _KEATING)
        e_graphene = net.energy
        try:
            t, n_geom_random = random_switches(net, K, rng)
            tries += t
            break
        except SwitchesStalled as err:
            tries += err.tries
            stalled.append(err.done)
            if len(stalled) > SWITCH_RESTARTS:
                raise RuntimeError(f"amc: the random switches stalled {len(stalled)} times (placed {stalled} "
                                   f"of {K}); knob {knob} asks for more defects than the ring rule and the "
                                   "relaxed-geometry checks allow: use a smaller knob") from err
    e_random = net.energy
    timing["random_switches"] = time.perf_counter() - t1
    t1 = time.perf_counter()

    # 2. Metropolis anneal of further switches at kT_a (relaxed Keating energy), hexagons conserved
    kT = float(proto["kT_a"])
    n_trials = int(round(proto["anneal_per_atom"] * n))
    counts = anneal(net, n_trials, kT, rng)
    counts["n_geom_rejected"] += n_geom_random
    timing["anneal"] = time.perf_counter() - t1
    return dict(
        g=g,
        net=net,
        ax=ax,
        box2=box2,
        n=n,
        K=K,
        kT=kT,
        reps=(nx, ny),
        timing=timing,
        tries=tries,
        stalled=stalled,
        n_trials=n_trials,
        **counts,
        e_graphene=e_graphene,
        e_random=e_random,
        net_counts=face_counts(net.rows),
    )


def _tersoff_relax(st: dict[str, Any], rng: np.random.Generator, proto: dict[str, Any]):
    """Step 4: LB Tersoff relaxation with the in-plane box, from a slightly rough sheet; the
    minimizer's result and the out-of-plane axis."""
    g, ax, n = st["g"], st["ax"], st["n"]
    pos = np.array(g.positions, dtype=np.float64)
    pos[:, ax] = np.mod(st["net"].xy, st["box2"])
    z_axis = [a for a in range(3) if a not in ax][0]
    pos[:, z_axis] += rng.normal(scale=proto["z_noise"], size=n)
    s = make_structure(pos, ["C"] * n, np.asarray(g.box), periodic=g.periodic, min_distance=1.0)
    return _relax_sheet(s, proto["fmax"]), z_axis


def _topology_preserved(out: Structure, rows: list[list[int]]) -> bool:
    """Whether the relaxed sheet ``out`` has the bond network ``rows`` (1.85 Å bonds)."""
    try:
        nbr_final, _, _, _ = _sheet_graph(out, 1.85)
        return all(sorted(nbr_final[a]) == sorted(rows[a]) for a in range(len(rows)))
    except ValueError:
        return False


def _protocol_info(proto: dict[str, Any]) -> dict[str, Any]:
    return dict(
        proto,
        knob_map="K/N = 0.006 * 60**knob",
        ring_rule=(RING_MIN, RING_MAX),
        proxy="relaxed in-plane Keating energy (fixed box)",
        anneal_constraint="number of hexagons conserved",
        bond_range=BOND_RANGE,
        angle_range=ANGLE_RANGE,
        nonbonded_min=NONBONDED_MIN,
        keating_alpha=KEATING_ALPHA,
        keating_beta=KEATING_BETA,
        keating_d0=BOND,
    )


def _generate_info(st, res, rs, preserved: bool, z_axis: int, proto, seed: int, size: str) -> dict[str, Any]:
    """``info`` of :func:`generate` up to the timings."""
    n, g, ax, out = st["n"], st["g"], st["ax"], res.structure
    zc = np.asarray(out.positions)[:, z_axis]
    box_out = np.asarray(out.box)
    return dict(
        generator="amc.generate",
        seed=int(seed),
        size=size,
        n_atoms=n,
        reps=st["reps"],
        protocol=_protocol_info(proto),
        switch_attempts=st["tries"],
        switch_restarts=st["stalled"],
        anneal_trials=st["n_trials"],
        anneal_ring_rejected=st["n_ring_rejected"],
        anneal_hexagon_rejected=st["n_hex_rejected"],
        anneal_accepted=st["n_accepted"],
        geometry_rejected=st["n_geom_rejected"],
        keating_energy=dict(
            graphene=st["e_graphene"], after_random=st["e_random"], after_anneal=st["net"].energy
        ),
        network_ring_counts=st["net_counts"],
        ring_statistics=rs,
        topology_preserved=bool(preserved),
        energy_per_atom=res.energy / n,
        excess_energy_per_atom=res.energy / n - _GRAPHENE_E,
        box=box_out.tolist(),
        areal_strain=float(np.prod(box_out[ax]) / np.prod(np.asarray(g.box)[ax]) - 1.0),
        buckling_rms=float(np.std(zc)),
        buckling_max=float(np.max(zc) - np.min(zc)),
        fmax=res.fmax,
        fmax_tol=proto["fmax"],
        converged=res.converged,
        minimizer_steps=res.n_steps,
        minimizer_message=res.message,
    )


def generate(
    n_atoms: int | None, knob: float, seed: int, *, size: str = "small",
    protocol: dict[str, Any] | None = None,
) -> Generated:
    """AMC by K random Stone-Wales switches, a Metropolis anneal and LB Tersoff relaxation.

    Args:
      n_atoms: target atom count (rounded to whole 4-atom graphene cells; None: size default).
      knob: disorder in [0, 1]; ``K/N = 0.006 * 60**knob`` random switches (at least one).
      seed: RNG seed (numpy ``default_rng``): switch choices, Metropolis draws and z noise.
      size: ``"small"`` (N ~ 160, 4N Metropolis trials, fmax 1e-4) or ``"paper"`` (N ~ 800,
        10N trials, 600 Keating FIRE steps per trial, fmax 1e-5); see :data:`PROTOCOLS`.
      protocol: entries that override the size's :data:`PROTOCOLS` settings, e.g.
        ``{"anneal_per_atom": 4.0}``.

    Returns a :class:`Generated` with ``knob_values`` {K, K_per_N, kT_a, hexagon_fraction,
    n_ring4..n_ring9, n_ring_other} (rings of the relaxed geometry, :func:`ring_statistics`, faces)
    and ``info`` with
    the protocol, acceptance counts, energies, the network's own face statistics and whether the
    Tersoff relaxation kept the bond network (``topology_preserved``).
    """
    require_x64("jaxglass.generate.amc.generate")
    t0 = time.perf_counter()
    check_knob(knob, size)
    n_atoms, proto = _resolve(n_atoms, size, protocol)
    rng = np.random.default_rng(seed)
    st = _switched_network(n_atoms, knob, rng, proto)
    timing = st["timing"]
    t1 = time.perf_counter()
    res, z_axis = _tersoff_relax(st, rng, proto)  # 3. LB Tersoff relaxation
    timing["tersoff_relax"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    rs = ring_statistics(res.structure)
    preserved = _topology_preserved(res.structure, st["net"].rows)
    timing["analysis"] = time.perf_counter() - t1
    K, n, kT = st["K"], st["n"], st["kT"]
    knob_values = dict(K=K, K_per_N=K / n, kT_a=kT, hexagon_fraction=rs["hexagon_fraction"], **_ring_keys(rs))
    info = _generate_info(st, res, rs, preserved, z_axis, proto, seed, size)
    info.update(timing=timing, wall_time=time.perf_counter() - t0)
    return Generated(
        structure=res.structure, potential=potential(), knob=float(knob), knob_values=knob_values, info=info
    )


#: LB Tersoff graphene energy per atom (eV), LAMMPS with ``BNC.tersoff``.
_GRAPHENE_E = -7.977702
