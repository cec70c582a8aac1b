"""Shared pieces of the partial-melt glass generators (a-SiC, Cu-Zr-Al).

A partial melt keeps a crystal and replaces a *compact region* holding a fraction ``f`` of the
atoms by a liquid-like configuration, anneals that region hot with the rest of the crystal pinned,
quenches it and relaxes everything:

1. :func:`melt_region`: the ``round(f N)`` atoms nearest (minimum image) to a random centre. The
   region is the ball of radius ``R`` around the centre, ``R`` halfway between the distance of the
   last atom inside and the first atom outside, so it holds exactly the chosen atoms and about the
   volume ``f V``; for ``f = 1`` it is the whole cell.
2. :func:`random_fill`: the chosen atoms (species kept, so the composition is exact) are put back
   at random points of that region by random sequential addition with species-pair minimum
   distances to every atom already placed, pinned or not: the "infinitely hot" melt at the
   crystal's density. This costs nothing compared with melting the region by MD, and no memory of
   the crystal is left inside the region.
3. Hot NVT anneal of the region (pinned crystal around it), linear quench, relaxation
   (:func:`melt_quench_relax_batch`: the MD of one or several structures of one cell stepped in one
   compiled program, :func:`jaxglass.md.nvt_langevin_batch`, then each relaxed on its own with
   :func:`jaxglass.minimize.minimize`).

Also here: the :class:`Protocol` of the metallic families, their potential look-up
(:func:`resolve_potential`), the lattice-constant fit (:func:`lattice_minimum`) and the numpy
helpers the families record in ``info`` (pair distances, the height of the
first peak of g(r), bonds and coordination by per-pair cutoffs).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..potentials import eam, vashishta
from ..potentials.base import Potential
from ..potentials.eam import read_setfl
from ..space import displacement, periodic_kdtree
from ..structure import Structure


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Anneal / quench settings of the metallic families. Temperatures in K, ``dt`` in fs,
    ``gamma`` in 1/ps; ``chunk``: MD steps per jitted call."""

    t_hot: float = 2000.0
    n_hot: int = 150
    t_end: float = 300.0
    n_quench: int = 250
    dt_fs: float = 2.0
    gamma_per_ps: float = 20.0
    fmax_tol: float = 1e-4
    max_steps: int = 5000
    chunk: int = 50
    #: MD with the analytic EAM sampled on setfl tables (:func:`jaxglass.potentials.eam.for_md`: forces
    #: within ~1e-4 eV/Å, ~2.3× cheaper); the relaxation and the Hessian use the analytic potential.
    md_tables: bool = True


def quench_rate(prot) -> float:
    """Linear quench rate (K/s) of a protocol; ``inf`` without a quench."""
    if not prot.n_quench:
        return float("inf")
    return (prot.t_hot - prot.t_end) / (prot.n_quench * prot.dt_fs * 1e-15)


@functools.cache
def _setfl_potential(path: str) -> Potential:
    return read_setfl(path)


def resolve_potential(potential, setfl, species, default):
    """The potential of a metallic family: ``potential``, a setfl file read once per path, or
    ``default()``; a :class:`~jaxglass.errors.UserError` unless it has every one of ``species``."""
    if potential is not None and setfl is not None:
        raise UserError("potential, setfl: give at most one of them")
    if setfl is not None:
        pot = _setfl_potential(str(Path(setfl).resolve()))
    elif potential is not None:
        pot = potential
    else:
        pot = default()
    if not isinstance(pot, Potential):
        raise UserError(f"potential: expected a jaxglass Potential, got {type(pot).__name__}")
    missing = [s for s in species if s not in pot.species]
    if missing:
        raise UserError(f"potential: {pot.name} lacks the species {missing} (needs {tuple(species)})")
    return pot


def composition(s: Structure) -> dict[str, int]:
    """Atom count per species name."""
    sp = np.asarray(s.species)
    return {name: int(np.sum(sp == k)) for k, name in enumerate(s.species_names)}


def lattice_minimum(potential, unit_cell: Structure, grid: np.ndarray) -> float:
    """Lattice constant (Å) minimising the energy of ``unit_cell`` scaled by ``a`` (positions and box
    given for a = 1; its box must exceed twice the cutoff at ``grid[0]``): the energy on ``grid``,
    then three parabola fits on shrinking brackets around the minimum."""
    import jax
    import jax.numpy as jnp

    from ..neighbors import neighbor_list

    ref = unit_cell
    smallest = ref.replace(positions=ref.positions * grid[0], box=ref.box * grid[0])
    cap = int(neighbor_list(smallest, potential.cutoff).shape[1])  # one list capacity for all a
    idx_cache: dict[float, tuple] = {}

    @jax.jit
    def e_of(s, nbrs):
        return potential.energy(s, nbrs)

    def energy(a: float) -> float:
        s = ref.replace(positions=ref.positions * a, box=ref.box * a)
        if a not in idx_cache:
            idx_cache[a] = tuple(
                jnp.asarray(neighbor_list(s, t.cutoff, capacity=cap)) for t in potential.terms
            )
        return float(e_of(s, idx_cache[a])) / s.n_atoms

    e = np.array([energy(a) for a in grid])
    k = int(np.clip(np.argmin(e), 1, len(grid) - 2))
    lo, hi = grid[k - 1], grid[k + 1]
    for _ in range(3):
        pts = np.linspace(lo, hi, 5)
        ev = np.array([energy(a) for a in pts])
        c = np.polyfit(pts, ev, 2)
        a0 = float(-c[1] / (2.0 * c[0]))
        half = 0.25 * (hi - lo)
        lo, hi = a0 - half, a0 + half
    return a0


def min_image(dr: np.ndarray, box: np.ndarray) -> np.ndarray:
    return displacement(dr, box, (True,) * np.shape(dr)[-1])


def melt_region(
    positions: np.ndarray, box: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float]:
    """Indices of the ``round(fraction N)`` atoms nearest a random centre, the centre, and ``R``."""
    n = len(positions)
    k = int(round(float(fraction) * n))
    centre = rng.random(3) * box
    d = np.linalg.norm(min_image(positions - centre, box), axis=1)
    order = np.argsort(d, kind="stable")
    chosen = np.sort(order[:k])
    if k == 0:
        radius = 0.0
    elif k >= n:
        radius = np.inf
    else:
        radius = 0.5 * (d[order[k - 1]] + d[order[k]])
    return chosen, centre, float(radius)


def random_fill(
    positions: np.ndarray,
    species: np.ndarray,
    box: np.ndarray,
    chosen: np.ndarray,
    centre: np.ndarray,
    radius: float,
    min_dist: np.ndarray,
    rng: np.random.Generator,
    *,
    batch: int = 32,
    max_batches: int = 4000,
    max_relax: int = 3,
) -> np.ndarray:
    """Move the ``chosen`` atoms to random points of the ball (centre, radius), in random order.

    ``min_dist[a, b]`` is the closest allowed distance between species ``a`` and ``b``; every new
    point respects it against all atoms not (yet) removed. Random sequential addition can jam near
    the end at liquid densities: if no point is found after ``max_batches`` batches of ``batch``
    candidates, the distances for that atom are relaxed by 10 % and the search repeated (at most
    ``max_relax`` times, down to 0.9^max_relax of ``min_dist``; the melt's soft push and the MD
    resolve the closer contacts). Fills that never jam are unchanged. Raises ``RuntimeError`` if
    even the relaxed distances fail.
    """
    pos = np.array(positions, dtype=np.float64)
    placed = np.ones(len(pos), bool)
    placed[chosen] = False
    for i in rng.permutation(chosen):
        others = np.flatnonzero(placed)
        base2 = min_dist[species[i], species[others]] ** 2
        for level in range(max_relax + 1):
            dmin2 = base2 * 0.81**level
            for _ in range(max_batches):
                cand = rng.random((batch, 3)) * box
                if np.isfinite(radius):
                    inside = np.sum(min_image(cand - centre, box) ** 2, axis=1) < radius**2
                    cand = cand[inside]
                if len(cand) == 0:
                    continue
                dr = min_image(cand[:, None, :] - pos[others][None, :, :], box)
                ok = np.all(np.sum(dr * dr, axis=-1) >= dmin2[None, :], axis=1)
                if ok.any():
                    pos[i] = cand[np.argmax(ok)]
                    placed[i] = True
                    break
            if placed[i]:
                break
        else:
            raise RuntimeError(
                f"random_fill: no free point for atom {i} after {max_relax + 1} rounds of "
                f"{batch * max_batches} candidates, the last at {0.9**max_relax:.2f} x the minimum "
                "distances; the density is too high for them"
            )
    return pos


def push_apart(
    positions: np.ndarray,
    species: np.ndarray,
    box: np.ndarray,
    mobile: np.ndarray,
    target: np.ndarray,
    *,
    n_iter: int = 200,
    tol: float = 1e-3,
) -> tuple[np.ndarray, float]:
    """Soft-sphere push-off: move mobile atoms until no pair is closer than ``target[a, b]``.

    Each sweep moves the atoms of every overlapping pair apart along the pair vector by half the
    overlap each (the whole overlap onto a mobile atom whose partner is pinned), summed over
    pairs. Cheap, deterministic, and it takes a random fill to distances where the real
    potential's forces are moderate, so MD can start from it. Returns the positions and the
    largest remaining overlap (Å).
    """
    from scipy.spatial import cKDTree

    pos = np.mod(np.array(positions, dtype=np.float64), box)
    mob = np.asarray(mobile, bool)
    reach = float(np.max(target))
    worst = 0.0
    for _ in range(n_iter):
        pos = np.where(pos >= box, 0.0, pos)
        pairs = cKDTree(pos, boxsize=box).query_pairs(reach, output_type="ndarray")
        if len(pairs) == 0:
            return pos, 0.0
        i, j = pairs[:, 0], pairs[:, 1]
        keep = mob[i] | mob[j]
        i, j = i[keep], j[keep]
        dr = min_image(pos[j] - pos[i], box)
        r = np.linalg.norm(dr, axis=1)
        over = target[species[i], species[j]] - r
        sel = over > 0
        worst = float(over[sel].max()) if sel.any() else 0.0
        if worst <= tol:
            return pos, worst
        i, j, dr, r, over = i[sel], j[sel], dr[sel], r[sel], over[sel]
        u = dr / np.maximum(r, 1e-9)[:, None]
        wi = np.where(mob[i], np.where(mob[j], 0.5, 1.0), 0.0)
        wj = np.where(mob[j], np.where(mob[i], 0.5, 1.0), 0.0)
        move = np.zeros_like(pos)
        np.add.at(move, i, -(wi * over)[:, None] * u)
        np.add.at(move, j, (wj * over)[:, None] * u)
        pos = np.mod(pos + 0.5 * move, box)  # under-relaxed: overlapping moves add up
    return pos, worst


@dataclasses.dataclass(frozen=True)
class MeltStart:
    """A partial melt before its MD: the structure after the random fill and push-off (the crystal
    itself when nothing melts), the mobile (melted) atoms, the region, and what the fill recorded."""

    structure: Structure
    mobile: np.ndarray
    centre: np.ndarray
    radius: float
    info: dict
    timings: dict


def melt_start(s0: Structure, f: float, rng, min_dist, push_dist) -> MeltStart:
    """Steps 1-2 of the module docstring for one structure: the region of ``round(f N)`` atoms
    (:func:`melt_region`), refilled at random (:func:`random_fill`, ``min_dist``) and pushed apart
    (:func:`push_apart`, ``push_dist``), drawing from ``rng`` in that order."""
    import jax.numpy as jnp

    pos0, box, sp = np.asarray(s0.positions), np.asarray(s0.box), np.asarray(s0.species)
    chosen, centre, radius = melt_region(pos0, box, f, rng)
    mobile = np.zeros(s0.n_atoms, bool)
    mobile[chosen] = True
    if not len(chosen):
        return MeltStart(s0, mobile, centre, radius, {}, {})
    t = time.perf_counter()
    pos = random_fill(pos0, sp, box, chosen, centre, radius, min_dist, rng)
    pos, overlap = push_apart(pos, sp, box, mobile, push_dist)
    return MeltStart(s0.with_positions(jnp.asarray(pos)), mobile, centre, radius,
                     {"push_overlap": overlap}, {"fill_s": time.perf_counter() - t})


def anneal_quench(pot, starts: list[MeltStart], seeds, prot, skin: float,
                  progress=None) -> list[tuple[Structure, dict, dict]]:
    """Step 3's MD: every start with a melted region annealed at ``prot.t_hot`` and quenched to
    ``prot.t_end`` (K), the rest of its atoms pinned, all of them stepped together in one compiled
    program (:func:`jaxglass.md.nvt_langevin_batch`; seed ``seeds[b]``; ``progress(steps_done,
    n_steps)`` between its chunks). Returns ``(structure, md_info, timings)`` per start; a start with
    nothing melted comes back as it is. ``md_info["md_batch"]`` is the number of replicas stepped
    together, ``timings["md_s"]`` the MD time shared evenly among them."""
    from ..md import nvt_langevin_batch
    from ..units import KB_EV, METAL_TIME_FS

    out = [(st.structure, dict(st.info), dict(st.timings)) for st in starts]
    todo = [b for b, st in enumerate(starts) if st.mobile.any()]
    if not todo:
        return out
    t = time.perf_counter()
    temps = temperature_schedule(prot.t_hot, prot.t_end, prot.n_hot, prot.n_quench)
    if len(temps):
        md_pot = md_potential(pot) if prot.md_tables else pot
        mds = nvt_langevin_batch(
            md_pot,
            [starts[b].structure for b in todo],
            kT=KB_EV * temps,
            n_steps=len(temps),
            dt=prot.dt_fs / METAL_TIME_FS,
            gamma=prot.gamma_per_ps * METAL_TIME_FS * 1e-3,
            seeds=[int(seeds[b]) for b in todo],
            mobile=[starts[b].mobile for b in todo],
            skin=skin,
            chunk=prot.chunk,
            progress=progress,
        )
        for b, md in zip(todo, mds):
            _, md_info, timings = out[b]
            md_info.update(md_rebuilds=md.n_rebuilds, md_final_T=md.kinetic_kT / KB_EV,
                           md_potential=md_pot.name, md_batch=len(todo))
            out[b] = (md.structure, md_info, timings)
    seconds = (time.perf_counter() - t) / len(todo)
    for b in todo:
        out[b][2]["md_s"] = seconds
    return out


def melt_quench_relax_batch(pot, s0s, fs, rngs, seeds, prot, min_dist, push_dist, skin: float,
                            progress=None) -> list[tuple]:
    """The partial-melt protocol of the metal-units families (a-SiC, CuZrAl, HEA) for several
    structures of one cell: each start prepared on its own (:func:`melt_start` with ``s0s[b]``,
    ``fs[b]``, ``rngs[b]``), their MD stepped together (:func:`anneal_quench`, seeds ``seeds``), then
    all atoms of each relaxed with L-BFGS to ``prot.fmax_tol``. Per structure, ``(result, n_melt,
    centre, radius, md_info, timings)``, the same as a batch of that structure alone up to the
    round-off of the batched force sums (which the chaotic MD amplifies over a long protocol)."""
    from ..minimize import minimize

    starts = [melt_start(s0, f, rng, min_dist, push_dist) for s0, f, rng in zip(s0s, fs, rngs)]
    out = []
    for st, (s, md_info, timings) in zip(starts, anneal_quench(pot, starts, seeds, prot, skin, progress)):
        t = time.perf_counter()
        res = minimize(pot, s, fmax=prot.fmax_tol, skin=skin, max_steps=prot.max_steps)
        timings["relax_s"] = time.perf_counter() - t
        out.append((res, int(st.mobile.sum()), st.centre, st.radius, md_info, timings))
    return out


def relax_info(res, n_atoms: int, prot) -> dict:
    """A relaxation's entries in a generator's ``info``: energy per atom, largest force, its
    tolerance, whether it converged, its steps and message."""
    return {"energy_per_atom": res.energy / n_atoms, "fmax": res.fmax, "fmax_tol": prot.fmax_tol,
            "converged": res.converged, "relax_steps": res.n_steps, "relax_message": res.message}


def melt_info(prot, centre, radius: float, min_dist, push_dist, md_info: dict) -> dict:
    """A partial melt's entries in a generator's ``info``: the protocol and its quench rate, the
    melted ball, the random fill's distances and the MD record of :func:`anneal_quench`."""
    return {"protocol": dataclasses.asdict(prot), "quench_rate_K_per_s": quench_rate(prot),
            "melt_centre": np.asarray(centre).tolist(), "melt_radius": radius,
            "min_dist": np.asarray(min_dist).tolist(), "push_dist": np.asarray(push_dist).tolist(), **md_info}


def md_potential(pot: Potential) -> Potential:
    """The potential an MD stage steps with when its protocol has ``md_tables``: an analytic EAM on
    setfl tables (:func:`jaxglass.potentials.eam.for_md`), the Vashishta two-body term on r² tables
    (:func:`jaxglass.potentials.vashishta.for_md`), any other potential as it is."""
    return vashishta.for_md(eam.for_md(pot))


def temperature_schedule(t_hot: float, t_end: float, n_hot: int, n_quench: int) -> np.ndarray:
    """``n_hot`` steps at ``t_hot`` then a linear ramp to ``t_end`` over ``n_quench`` steps (K)."""
    ramp = np.linspace(t_hot, t_end, n_quench + 1)[1:] if n_quench > 0 else np.zeros(0)
    return np.concatenate([np.full(n_hot, float(t_hot)), ramp])


# -- analysis helpers (numpy) ------------------------------------------------------------------


#: Distance (Å) from a site of the starting crystal beyond which :func:`off_site_fraction` counts an
#: atom as off the lattice; a random point lies this close to a 3C-SiC site with probability ~1 %.
OFF_SITE_TOL = 0.3


def off_site_fraction(structure: Structure, crystal: Structure, tol: float = OFF_SITE_TOL) -> float:
    """Share of the atoms of ``structure`` farther than ``tol`` from every atom of ``crystal`` (the
    starting crystal of a partial melt, same cell; species ignored): 0 for the crystal, about the
    melt fraction for a melted region that stayed amorphous, less where the crystal regrew into it."""
    box = np.asarray(crystal.box, dtype=np.float64)
    tree = periodic_kdtree(crystal.positions, box, crystal.periodic, tol)
    q = np.mod(np.asarray(structure.positions, dtype=np.float64), box)
    d, _ = tree.query(np.where(q >= box, 0.0, q))  # the cell is periodic (a partial melt's)
    return float(np.mean(d > tol))


def pair_distances(structure: Structure, r_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs ``i < j`` closer than ``r_max`` (minimum image): ``(i, j, r)``."""
    from scipy.spatial import cKDTree

    pos = np.mod(np.asarray(structure.positions, dtype=np.float64), np.asarray(structure.box))
    box = np.asarray(structure.box, dtype=np.float64)
    pos = np.where(pos >= box, 0.0, pos)
    tree = cKDTree(pos, boxsize=box)
    pairs = tree.query_pairs(r_max, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    i, j = pairs[:, 0], pairs[:, 1]
    r = np.linalg.norm(min_image(pos[j] - pos[i], box), axis=1)
    return i, j, r


def mean_coordination(structure: Structure, cutoffs: np.ndarray) -> dict[str, float]:
    """Mean number of neighbours within ``cutoffs[a, b]``, overall and per species (keys
    ``mean_coordination`` and ``mean_coordination_<species>``), from :func:`bond_statistics`."""
    st = bond_statistics(structure, cutoffs)
    return {k: v for k, v in st.items() if k.startswith("mean_coordination")}


def bond_statistics(structure: Structure, cutoffs: np.ndarray) -> dict:
    """Bonds by species-pair cutoffs ``cutoffs[a, b]`` (indices of ``structure.species_names``).

    Returns bond counts per pair type, the heteronuclear fraction, mean coordination per species
    and the coordination histogram (0..8+) per species.
    """
    names = structure.species_names
    sp = np.asarray(structure.species)
    i, j, r = pair_distances(structure, float(np.max(cutoffs)))
    bonded = r < cutoffs[sp[i], sp[j]]
    i, j = i[bonded], j[bonded]
    coord = np.bincount(i, minlength=structure.n_atoms) + np.bincount(j, minlength=structure.n_atoms)
    out: dict = {"n_bonds": int(len(i))}
    for a in range(len(names)):
        for b in range(a, len(names)):
            cnt = int(np.sum(((sp[i] == a) & (sp[j] == b)) | ((sp[i] == b) & (sp[j] == a))))
            out[f"bonds_{names[a]}-{names[b]}"] = cnt
    hetero = int(np.sum(sp[i] != sp[j]))
    out["heteronuclear_fraction"] = hetero / len(i) if len(i) else float("nan")
    for a, name in enumerate(names):
        c = coord[sp == a]
        out[f"mean_coordination_{name}"] = float(c.mean()) if len(c) else float("nan")
        out[f"coordination_histogram_{name}"] = np.bincount(np.minimum(c, 8), minlength=9).tolist()
    out["mean_coordination"] = float(coord.mean())
    return out
