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
   the relaxed network is not a sound sp2 sheet (:meth:`_Network.geometry_ok`): an atom folded
   over its neighbours, a bond outside :data:`BOND_RANGE` or an angle outside
   :data:`ANGLE_RANGE`, or non-bonded atoms closer than the Tersoff cutoff. Without that rule,
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

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from .._config import require_x64
from ..analysis.rings import ring_statistics
from ..errors import UserError
from ..minimize import FireConfig, fire_init, fire_step, minimize_with_box
from ..neighbors import pair_list
from ..potentials.keating import keating
from ..potentials.tersoff import lindsay_broido_carbon
from ..space import displacement
from ..structure import Structure, make_structure
from .base import Generated, check_knob
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
    "stone_wales",
]

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

#: Smallest distance (Å) allowed between non-bonded atoms of the relaxed proxy network: the LB
#: Tersoff cutoff R + D, so that no non-bonded pair starts inside the potential's range.
NONBONDED_MIN = 2.1

#: Bond lengths (Å) and bond angles (degrees) allowed in the relaxed proxy network.
BOND_RANGE = (1.30, 1.60)
ANGLE_RANGE = (95.0, 150.0)

#: Force tolerance (eV/Å) of the proxy relaxations (energy error ~ f²/k, far below kT_a).
KEATING_FTOL = 1e-3

#: Ring sizes allowed by the switch moves.
RING_MIN, RING_MAX = 5, 8
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
# Rotation systems (planar embeddings of 3-coordinated networks)


def _rotation_system(xy: np.ndarray, box: np.ndarray, nbr: np.ndarray) -> np.ndarray:
    """Sort each atom's neighbours counter-clockwise by the angle of the minimum-image bond."""
    dr = displacement(xy[nbr] - xy[:, None, :], box, (True, True))
    ang = np.arctan2(dr[..., 1], dr[..., 0])
    order = np.argsort(ang, axis=1, kind="stable")
    return np.take_along_axis(nbr, order, axis=1)


def _faces(nbr: np.ndarray) -> list[list[int]]:
    """Faces of a rotation system (``nbr`` (N, z) CCW): orbits of dart ``u->v`` to ``v->succ_v(u)``.

    Works for any coordination ``z`` (rows padded with -1 are not supported; use constant z).
    """
    n, z = nbr.shape
    v = nbr.ravel()
    u = np.repeat(np.arange(n), z)
    m = np.argmax(nbr[v] == u[:, None], axis=1)
    nxt = v * z + (m + 1) % z
    seen = np.zeros(n * z, dtype=bool)
    faces = []
    for d0 in range(n * z):
        if seen[d0]:
            continue
        face = []
        d = d0
        while not seen[d]:
            seen[d] = True
            face.append(int(d // z))
            d = int(nxt[d])
        faces.append(face)
    return faces


def _sw_topology(nbr: list[list[int]], i: int, k: int):
    """Stone-Wales switch of bond ``(i, nbr[i][k])`` in a 3-regular rotation system, in place.

    Returns the saved rows for :func:`_restore` (or None if the move is impossible).
    """
    j = nbr[i][k]
    li = [nbr[i][(k + t) % 3] for t in range(3)]  # j, p, q (CCW)
    mj = nbr[j].index(i)
    lj = [nbr[j][(mj + t) % 3] for t in range(3)]  # i, r, s (CCW)
    p, q = li[1], li[2]
    r, s = lj[1], lj[2]
    if len({i, j, p, q, r, s}) != 6:
        return None  # a triangle or square through the bond
    saved = {a: list(nbr[a]) for a in (i, j, q, s)}
    nbr[i] = [j, s, p]
    nbr[j] = [i, q, r]
    nbr[q][nbr[q].index(i)] = j
    nbr[s][nbr[s].index(j)] = i
    return saved


def _restore(nbr: list[list[int]], saved: dict[int, list[int]]) -> None:
    for a, row in saved.items():
        nbr[a] = list(row)


def _faces_through(nbr: list[list[int]], atoms, limit: int) -> list[int] | None:
    """Sizes of the distinct faces through ``atoms`` (None if one is longer than ``limit``)."""
    seen: set[tuple[int, int]] = set()
    sizes = []
    for a in atoms:
        for k in range(3):
            if (a, k) in seen:
                continue
            u, kk = a, k
            size = 0
            while (u, kk) not in seen:
                seen.add((u, kk))
                v = nbr[u][kk]
                u, kk = v, (nbr[v].index(u) + 1) % 3
                size += 1
                if size > limit:
                    return None
            sizes.append(size)
    return sizes


def _sw_geometry(xy: np.ndarray, box: np.ndarray, i: int, j: int) -> np.ndarray:
    """A copy of ``xy`` with atoms ``i``, ``j`` rotated clockwise by 90° about their bond midpoint."""
    e = displacement(xy[j] - xy[i], box, (True, True))
    mid = xy[i] + 0.5 * e
    h = 0.5 * e
    rot = np.array([h[1], -h[0]])  # clockwise
    out = np.array(xy, copy=True)
    out[i] = mid - rot
    out[j] = mid + rot
    return out


def stone_wales(structure: Structure, bond: tuple[int, int], *, cutoff: float = 1.85) -> Structure:
    """A Stone-Wales defect: rotate bond ``(i, j)`` of a 3-coordinated sheet by 90° (rebonding).

    Host-side helper (unrelaxed: the two atoms are rotated about the bond midpoint in the plane
    of the periodic axes); the other atoms stay. Raises ValueError if ``i-j`` is not a bond.
    """
    nbr, xy, box2, ax = _sheet_graph(structure, cutoff)
    i, j = (int(b) for b in bond)
    if j not in nbr[i]:
        raise UserError(f"bond: atoms {i} and {j} are not bonded (cutoff {cutoff} Å)")
    rows = [list(r) for r in _rotation_system(xy, box2, np.asarray(nbr))]
    if _sw_topology(rows, i, rows[i].index(j)) is None:
        raise UserError(f"bond: ({i}, {j}) sits in a triangle or square; no Stone-Wales switch")
    xy = _sw_geometry(xy, box2, i, j)
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
# Keating proxy (in-plane, jitted)


def keating_potential():
    """The Keating proxy of the Metropolis anneal as a potential (:func:`jaxglass.potentials.keating`)."""
    return keating(KEATING_ALPHA, KEATING_BETA, BOND, dims=(2,))


_KEATING_FIRE = FireConfig(dt=0.03, dt_max=0.15)


@functools.partial(jax.jit, static_argnums=(4,))
def _keating_relax(pot, xy, nbr, box, n_steps):
    """FIRE (:func:`jaxglass.minimize.fire_step`) on the in-plane network with the bond list ``nbr``
    as the Keating neighbour list, until the largest force is below :data:`KEATING_FTOL` or
    ``n_steps`` steps; returns positions, energy, largest force, steps."""
    n = xy.shape[0]
    sheet = Structure(
        positions=xy,
        species=jnp.zeros(n, jnp.int32),
        box=box,
        masses=jnp.ones(n, xy.dtype),
        species_names=("C",),
        periodic=(True, True),
    )

    def energy_and_forces(x):
        e, g = jax.value_and_grad(lambda y: pot.energy(sheet.with_positions(y), (nbr,)))(x)
        return e, -g

    def fmax2(f):
        return jnp.max(jnp.sum(f * f, axis=-1))

    def cond(st):
        return (st[2] < n_steps) & (fmax2(st[4]) > KEATING_FTOL**2)

    def body(st):
        x, state, step, e, f = st
        x, state, e, f = fire_step(x, state, e, f, energy_and_forces, _KEATING_FIRE)
        return x, state, step + 1, e, f

    e0, f0 = energy_and_forces(xy)
    v0, dt0, a0, _ = fire_init(xy, _KEATING_FIRE)
    state = (v0, jnp.asarray(dt0, xy.dtype), jnp.asarray(a0, xy.dtype), jnp.asarray(0))
    x, _, steps, e, f = jax.lax.while_loop(cond, body, (xy, state, jnp.asarray(0), e0, f0))
    return x, e, jnp.sqrt(fmax2(f)), steps


_KEATING = keating_potential()


class _Network:
    """3-regular planar network: CCW neighbour lists, in-plane positions, fixed in-plane box."""

    def __init__(self, xy: np.ndarray, box: np.ndarray, rows: list[list[int]], steps: int):
        self.xy = np.array(xy, dtype=np.float64)
        self.box = np.asarray(box, dtype=np.float64)
        self.rows = rows
        self.steps = steps
        self.energy = self.relax()

    def relax(self) -> float:
        x, e, _, _ = _keating_relax(
            _KEATING,
            jnp.asarray(self.xy),
            jnp.asarray(np.asarray(self.rows, dtype=np.int32)),
            jnp.asarray(self.box),
            self.steps,
        )
        self.xy = np.array(x)
        return float(e)

    def geometry_ok(self) -> bool:
        """The relaxed geometry is a faithful embedding of the network.

        Every atom's bonds keep the network's counter-clockwise order (no atom folded over its
        neighbours), bond lengths and angles lie in :data:`BOND_RANGE` and :data:`ANGLE_RANGE`
        (stretched, squeezed bonds break or rebond under Tersoff), and no two non-bonded atoms are
        closer than :data:`NONBONDED_MIN` (they would bond under the Tersoff potential).
        """
        rows = np.asarray(self.rows)
        dr = displacement(self.xy[rows] - self.xy[:, None, :], self.box, (True, True))
        ang = np.arctan2(dr[..., 1], dr[..., 0])
        t1 = np.mod(ang[:, 1] - ang[:, 0], 2 * np.pi)
        t2 = np.mod(ang[:, 2] - ang[:, 0], 2 * np.pi)
        if np.any(t1 >= t2):
            return False
        gaps = np.degrees(np.stack([t1, t2 - t1, 2 * np.pi - t2], axis=1))  # the three bond angles
        if gaps.min() < ANGLE_RANGE[0] or gaps.max() > ANGLE_RANGE[1]:
            return False
        r = np.sqrt(np.sum(dr * dr, axis=-1))
        if r.min() < BOND_RANGE[0] or r.max() > BOND_RANGE[1]:
            return False
        xy = np.mod(self.xy, self.box)
        xy = np.where(xy >= self.box, 0.0, xy)
        pairs = cKDTree(xy, boxsize=self.box).query_pairs(NONBONDED_MIN, output_type="ndarray")
        for a, b in pairs.tolist():
            if b not in self.rows[a]:
                return False
        return True

    def try_switch(self, rng: np.random.Generator):
        """Propose a random switch obeying the ring rule; returns undo data or None if rejected."""
        n = len(self.rows)
        i = int(rng.integers(n))
        k = int(rng.integers(3))
        j = self.rows[i][k]
        before = _faces_through(self.rows, (i, j), 4 * RING_MAX)
        saved = _sw_topology(self.rows, i, k)
        if saved is None:
            return None
        after = _faces_through(self.rows, (i, j), RING_MAX)
        if after is None or min(after) < RING_MIN:
            _restore(self.rows, saved)
            return None
        old_xy = self.xy
        self.xy = _sw_geometry(self.xy, self.box, i, j)
        self.last_d6 = after.count(6) - (before or []).count(6)
        return saved, old_xy

    def undo(self, undo) -> None:
        saved, old_xy = undo
        _restore(self.rows, saved)
        self.xy = old_xy


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


def _check_n(n_atoms: int) -> None:
    n_min = 4 * _MIN_REPS[0] * _MIN_REPS[1]
    if int(n_atoms) != n_atoms or n_atoms < n_min:
        raise UserError(
            f"n_atoms: AMC needs at least {n_min} atoms (a {_MIN_REPS[0]} x {_MIN_REPS[1]} graphene "
            f"supercell, so that no ring can wrap around the periodic box), got {n_atoms}"
        )


def _resolve(n_atoms: int | None, size: str) -> tuple[int, dict[str, Any]]:
    if size not in PROTOCOLS:
        raise UserError(f"size: expected one of {tuple(PROTOCOLS)}, got {size!r}")
    proto = dict(PROTOCOLS[size])
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
    rows = [list(r) for r in _rotation_system(xy, box2, np.asarray(nbr0))]
    net = _Network(xy, box2, rows, proto["keating_steps"])
    e_graphene = net.energy
    timing = {}
    t1 = time.perf_counter()

    # 1. K random switches (ring rule only)
    kn = knob_to_switch_fraction(knob)
    K = max(1, int(round(kn * n)))
    tries = done = n_geom_rejected = 0
    while done < K:
        tries += 1
        if tries > 1000 * K:
            raise RuntimeError(f"amc: could only place {done} of {K} switches obeying the ring rule")
        undo = net.try_switch(rng)
        if undo is None:
            continue
        e_new = net.relax()
        if not net.geometry_ok():
            net.undo(undo)
            n_geom_rejected += 1
            continue
        net.energy = e_new
        done += 1
    e_random = net.energy
    timing["random_switches"] = time.perf_counter() - t1
    t1 = time.perf_counter()

    # 2. Metropolis anneal of further switches at kT_a (relaxed Keating energy), hexagons conserved
    kT = float(proto["kT_a"])
    n_trials = int(round(proto["anneal_per_atom"] * n))
    n_ring_rejected = n_accepted = n_hex_rejected = 0
    for _ in range(n_trials):
        undo = net.try_switch(rng)
        if undo is None:
            n_ring_rejected += 1
            continue
        if net.last_d6 != 0:
            net.undo(undo)
            n_hex_rejected += 1
            continue
        e_new = net.relax()
        if not net.geometry_ok():
            net.undo(undo)
            n_geom_rejected += 1
            continue
        de = e_new - net.energy
        if de <= 0 or rng.random() < np.exp(-de / kT):
            net.energy = e_new
            n_accepted += 1
        else:
            net.undo(undo)
    timing["anneal"] = time.perf_counter() - t1
    faces = _faces(np.asarray(net.rows))
    net_counts = {s: 0 for s in range(3, 13)}
    for f in faces:
        net_counts[len(f)] = net_counts.get(len(f), 0) + 1
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
        n_trials=n_trials,
        n_ring_rejected=n_ring_rejected,
        n_hex_rejected=n_hex_rejected,
        n_accepted=n_accepted,
        n_geom_rejected=n_geom_rejected,
        e_graphene=e_graphene,
        e_random=e_random,
        net_counts=net_counts,
    )


def generate(n_atoms: int | None, knob: float, seed: int, *, size: str = "small") -> Generated:
    """AMC by K random Stone-Wales switches, a Metropolis anneal and LB Tersoff relaxation.

    Args:
      n_atoms: target atom count (rounded to whole 4-atom graphene cells; None: size default).
      knob: disorder in [0, 1]; ``K/N = 0.006 * 60**knob`` random switches (at least one).
      seed: RNG seed (numpy ``default_rng``): switch choices, Metropolis draws and z noise.
      size: ``"small"`` (N ~ 160, 4N Metropolis trials, fmax 1e-4) or ``"paper"`` (N ~ 800,
        10N trials, 600 Keating FIRE steps per trial, fmax 1e-5); see :data:`PROTOCOLS`.

    Returns a :class:`Generated` with ``knob_values`` {K, K_per_N, kT_a, hexagon_fraction,
    n_ring4..n_ring9, n_ring_other} (rings of the relaxed geometry, :func:`ring_statistics`, faces)
    and ``info`` with
    the protocol, acceptance counts, energies, the network's own face statistics and whether the
    Tersoff relaxation kept the bond network (``topology_preserved``).
    """
    require_x64("jaxglass.generate.amc.generate")
    t0 = time.perf_counter()
    check_knob(knob, size)
    n_atoms, proto = _resolve(n_atoms, size)
    rng = np.random.default_rng(seed)
    st = _switched_network(n_atoms, knob, rng, proto)
    g, net, ax, box2, n, K, kT, timing = (st[k] for k in ("g", "net", "ax", "box2", "n", "K", "kT", "timing"))
    nx, ny = st["reps"]
    t1 = time.perf_counter()

    # 3. LB Tersoff relaxation with the in-plane box, from a slightly rough sheet
    pos = np.array(g.positions, dtype=np.float64)
    pos[:, ax] = np.mod(net.xy, box2)
    z_axis = [a for a in range(3) if a not in ax][0]
    pos[:, z_axis] += rng.normal(scale=proto["z_noise"], size=n)
    s = make_structure(pos, ["C"] * n, np.asarray(g.box), periodic=g.periodic, min_distance=1.0)
    res = _relax_sheet(s, proto["fmax"])
    out = res.structure
    timing["tersoff_relax"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    rs = ring_statistics(out)
    try:
        nbr_final, _, _, _ = _sheet_graph(out, 1.85)
        preserved = all(sorted(nbr_final[a]) == sorted(net.rows[a]) for a in range(n))
    except ValueError:
        preserved = False
    timing["analysis"] = time.perf_counter() - t1
    zc = np.asarray(out.positions)[:, z_axis]
    box_out = np.asarray(out.box)
    knob_values = dict(K=K, K_per_N=K / n, kT_a=kT, hexagon_fraction=rs["hexagon_fraction"], **_ring_keys(rs))
    info = dict(
        generator="amc.generate",
        seed=int(seed),
        size=size,
        n_atoms=n,
        reps=(nx, ny),
        protocol=dict(
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
        ),
        switch_attempts=st["tries"],
        anneal_trials=st["n_trials"],
        anneal_ring_rejected=st["n_ring_rejected"],
        anneal_hexagon_rejected=st["n_hex_rejected"],
        anneal_accepted=st["n_accepted"],
        geometry_rejected=st["n_geom_rejected"],
        keating_energy=dict(graphene=st["e_graphene"], after_random=st["e_random"], after_anneal=net.energy),
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
        timing=timing,
        wall_time=time.perf_counter() - t0,
    )
    return Generated(
        structure=out, potential=potential(), knob=float(knob), knob_values=knob_values, info=info
    )


#: LB Tersoff graphene energy per atom (eV), LAMMPS with ``BNC.tersoff``.
_GRAPHENE_E = -7.977702
