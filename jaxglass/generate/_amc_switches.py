"""Stone-Wales bond switches of a 3-regular planar network, and the Metropolis machinery of the AMC
generator (:mod:`jaxglass.generate.amc`, steps 2-3 of its protocol).

The bond graph is a *rotation system*: each atom's three neighbours in counter-clockwise order.
Rings are the faces of this planar (toroidal) embedding (:func:`faces`, :func:`faces_through`), so
a switch's effect on ring sizes is known before it is made (:func:`sw_topology`). :class:`Network`
holds the rotation system with in-plane positions, relaxes them with a Keating proxy (jitted FIRE)
and checks the relaxed geometry; :func:`random_switches` and :func:`anneal` are the two switching
stages.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from scipy.spatial import cKDTree

from ..minimize import FireConfig, fire_init, fire_step
from ..space import displacement
from ..structure import Structure

__all__ = [
    "ANGLE_RANGE",
    "BOND_RANGE",
    "KEATING_FTOL",
    "NONBONDED_MIN",
    "RING_MAX",
    "RING_MIN",
    "SWITCH_TRIES_PER_SWITCH",
    "Network",
    "SwitchesStalled",
    "anneal",
    "face_counts",
    "faces",
    "faces_through",
    "random_switches",
    "restore",
    "rotation_system",
    "sw_geometry",
    "sw_topology",
]

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

#: Attempts per requested switch after which :func:`random_switches` stops (:class:`SwitchesStalled`).
#: Near the largest knobs a network can reach a state from which almost no switch passes the ring
#: rule and :meth:`Network.geometry_ok` (one 800-atom sheet at 279 requested switches stalled at 224
#: after 117,000 attempts); the first 136 paper-size glasses needed at most 80 attempts per switch.
SWITCH_TRIES_PER_SWITCH = 250


class SwitchesStalled(RuntimeError):
    """:func:`random_switches` placed only ``done`` of ``requested`` switches in ``tries`` attempts."""

    def __init__(self, done: int, requested: int, tries: int):
        super().__init__(f"amc: placed only {done} of {requested} random switches in {tries} attempts "
                         "(ring rule and relaxed geometry)")
        self.done, self.requested, self.tries = done, requested, tries


# ---------------------------------------------------------------------------------------------
# Rotation systems (planar embeddings of 3-coordinated networks)


def rotation_system(xy: np.ndarray, box: np.ndarray, nbr: np.ndarray) -> np.ndarray:
    """Sort each atom's neighbours counter-clockwise by the angle of the minimum-image bond."""
    dr = displacement(xy[nbr] - xy[:, None, :], box, (True, True))
    ang = np.arctan2(dr[..., 1], dr[..., 0])
    order = np.argsort(ang, axis=1, kind="stable")
    return np.take_along_axis(nbr, order, axis=1)


def faces(nbr: np.ndarray) -> list[list[int]]:
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


def sw_topology(nbr: list[list[int]], i: int, k: int):
    """Stone-Wales switch of bond ``(i, nbr[i][k])`` in a 3-regular rotation system, in place.

    Returns the saved rows for :func:`restore` (or None if the move is impossible).
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


def restore(nbr: list[list[int]], saved: dict[int, list[int]]) -> None:
    for a, row in saved.items():
        nbr[a] = list(row)


def faces_through(nbr: list[list[int]], atoms, limit: int) -> list[int] | None:
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


def sw_geometry(xy: np.ndarray, box: np.ndarray, i: int, j: int) -> np.ndarray:
    """A copy of ``xy`` with atoms ``i``, ``j`` rotated clockwise by 90° about their bond midpoint."""
    e = displacement(xy[j] - xy[i], box, (True, True))
    mid = xy[i] + 0.5 * e
    h = 0.5 * e
    rot = np.array([h[1], -h[0]])  # clockwise
    out = np.array(xy, copy=True)
    out[i] = mid - rot
    out[j] = mid + rot
    return out


# ---------------------------------------------------------------------------------------------
# Keating proxy (in-plane, jitted)


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


class Network:
    """3-regular planar network: CCW neighbour lists, in-plane positions, fixed in-plane box."""

    def __init__(self, xy: np.ndarray, box: np.ndarray, rows: list[list[int]], steps: int, pot):
        self.pot = pot  # the Keating proxy (jaxglass.generate.amc.keating_potential())
        self.xy = np.array(xy, dtype=np.float64)
        self.box = np.asarray(box, dtype=np.float64)
        self.rows = rows
        self.steps = steps
        self.energy = self.relax()

    def relax(self) -> float:
        x, e, _, _ = _keating_relax(
            self.pot,
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
        before = faces_through(self.rows, (i, j), 4 * RING_MAX)
        saved = sw_topology(self.rows, i, k)
        if saved is None:
            return None
        after = faces_through(self.rows, (i, j), RING_MAX)
        if after is None or min(after) < RING_MIN:
            restore(self.rows, saved)
            return None
        old_xy = self.xy
        self.xy = sw_geometry(self.xy, self.box, i, j)
        self.last_d6 = after.count(6) - (before or []).count(6)
        return saved, old_xy

    def undo(self, undo) -> None:
        saved, old_xy = undo
        restore(self.rows, saved)
        self.xy = old_xy


# ---------------------------------------------------------------------------------------------
# Switching stages


def random_switches(net: Network, n_switches: int, rng: np.random.Generator,
                    max_tries_per_switch: int = SWITCH_TRIES_PER_SWITCH) -> tuple[int, int]:
    """``n_switches`` random switches obeying the ring rule and :meth:`Network.geometry_ok` (each
    relaxed); returns the number of attempts and of geometry rejections. Raises
    :class:`SwitchesStalled` after ``max_tries_per_switch * n_switches`` attempts."""
    tries = done = n_geom_rejected = 0
    while done < n_switches:
        tries += 1
        if tries > max_tries_per_switch * n_switches:
            raise SwitchesStalled(done, n_switches, tries - 1)
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
    return tries, n_geom_rejected


def anneal(net: Network, n_trials: int, kT: float, rng: np.random.Generator) -> dict[str, int]:
    """Metropolis anneal at ``kT`` of ``n_trials`` random switches (relaxed Keating energy) that keep
    the number of hexagons; returns the rejection and acceptance counts."""
    n_ring_rejected = n_accepted = n_hex_rejected = n_geom_rejected = 0
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
    return dict(
        n_ring_rejected=n_ring_rejected,
        n_hex_rejected=n_hex_rejected,
        n_accepted=n_accepted,
        n_geom_rejected=n_geom_rejected,
    )


def face_counts(rows: list[list[int]]) -> dict[int, int]:
    """Number of faces of each size (3..12 always listed) of the rotation system ``rows``."""
    counts = {s: 0 for s in range(3, 13)}
    for f in faces(np.asarray(rows)):
        counts[len(f)] = counts.get(len(f), 0) + 1
    return counts
