"""NVT molecular dynamics (BAOAB Langevin, jax-md's integrator steps) on jaxglass potentials.

Used by the glass generators for melting, quenching and partial melting (pinned atoms).

Units follow the potential: metal units (eV, Å, amu) have the time unit Å·sqrt(amu/eV) =
10.1805 fs (:data:`jaxglass.units.METAL_TIME_FS`); LJ units use τ = σ sqrt(m/ε). ``kT`` is in energy
units (:data:`jaxglass.units.KB_EV` × T[K] for metal units).

The engine (see :func:`nvt_langevin_batch`) runs ``chunk`` steps of one or several replicas at a
time inside one compiled ``lax.fori_loop``, with nothing leaving the device inside a chunk:

* the integrator is BAOAB (Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34), written with
  ``jax_md.simulate``'s momentum / position / stochastic steps in jax-md's order;
* forces come from :meth:`jaxglass.potentials.base.Potential.forces` (pair terms summed explicitly,
  no scatter);
* Verlet lists (radius ``cutoff + skin``, the ``(N, K)`` padded format of :mod:`jaxglass.neighbors`)
  are rebuilt on the device whenever an atom has moved more than ``skin / 2`` since the last build,
  checked at every position where a force is evaluated, so every force is exact; the rebuild is an
  O(N) cell-list search when the box holds at least 3 cells per axis, else all pairs (both with a
  sort-free compaction, :func:`jaxglass.neighbors.device_neighbor_fn`), of the longest list only: the
  lists of shorter-ranged terms are filtered from it (:func:`jaxglass.neighbors.device_sublist_fn`);
* a site term (force ∝ K² per atom) steps on the slots of its list inside its cutoff, or inside its
  per-species-pair ``Term.pair_cutoffs``, compacted at every step to a narrower fixed width; a
  sub-list that overflows is reported like a list that does (widths grow, the chunk runs again);
* ``precision="float32"`` runs the stage in single precision (positions, momenta, parameters); the
  returned structure is float64 again, for the float64 relaxation and Hessian that follow.

Replicas of one batch share the box, the potential and the temperature schedule and are stepped by
one program (``vmap``); their lists are rebuilt together when any replica needs it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._config import require_x64
from .errors import UserError
from .neighbors import (
    cell_grid,
    check_box,
    device_neighbor_fn,
    device_sublist_fn,
    neighbor_list,
    within_pair_reach,
)
from .potentials.base import Potential
from .space import displacement, wrap
from .structure import Structure

PRECISIONS = {"float64": jnp.float64, "float32": jnp.float32}
#: Width headroom of the device lists (as jax-md's ``capacity_multiplier``) and of the cells; an
#: overflow widens every list by this factor and re-runs the chunk.
CAPACITY_HEADROOM = 1.3
#: Headroom of a list of at least :data:`WIDE_LIST` neighbours at its first build. The count in a sphere
#: holding 30-140 atoms of a dense liquid varies by a few per cent (its variance ∝ S(0), small for a
#: dense liquid; Hansen & McDonald, *Theory of Simple Liquids*, Ch. 2), so 10 % spares the force
#: passes padded slots (benchmarks/md.py, one quiet core: 1,000 KA atoms 2.28 -> 1.95 ms per step,
#: 1,024 2D KA 0.74 -> 0.59); a rare overflow costs one recompilation.
WIDE_LIST_HEADROOM = 1.1
WIDE_LIST = 32


@dataclasses.dataclass(frozen=True)
class MDResult:
    structure: Structure
    n_steps: int
    n_rebuilds: int
    final_kT: float
    kinetic_kT: float  # instantaneous temperature (energy units) of the mobile atoms


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The static shape of a batch's lists: what one compiled engine is specialised to.

    Per term: the list's ``reaches`` (cutoff + skin), width and cell grid; ``source``: the list it is
    filtered from at a rebuild (the longest one; ``None``: searched); ``step_reaches`` and
    ``step_capacity``: the range (the term's cutoff, or its ``pair_cutoffs`` table; ``None``: no
    sub-list) and width of the sub-list of the slots inside it, compacted at every step for a site
    term, whose force costs ∝ K² per atom."""

    box: tuple[float, ...]
    periodic: tuple[bool, ...]
    reaches: tuple[float, ...]
    capacity: tuple[int, ...]
    cells: tuple[tuple[int, ...] | None, ...]
    cell_capacity: tuple[int, ...]
    source: tuple[int | None, ...]
    step_reaches: tuple[float | tuple[tuple[float, ...], ...] | None, ...]
    step_capacity: tuple[int, ...]
    one_by_one: bool = False  # step the replicas in turn (CPU) instead of vectorised (accelerators)

    def build(self, R):
        """The lists at positions ``R`` ``(N, d)`` and whether one overflowed: the source lists by a
        search (:func:`device_neighbor_fn`), the others filtered from their source."""
        out: list = [None] * len(self.reaches)
        for t, (r, k) in enumerate(zip(self.reaches, self.capacity)):
            if self.source[t] is None:
                out[t] = device_neighbor_fn(self.box, self.periodic, r, k, cells=self.cells[t],
                                            cell_capacity=self.cell_capacity[t])(R)
        for t, (r, k) in enumerate(zip(self.reaches, self.capacity)):
            if self.source[t] is not None:
                out[t] = device_sublist_fn(self.box, self.periodic, r, k)(R, out[self.source[t]][0])
        over = jnp.any(jnp.stack([cnt > k for (_, cnt), k in zip(out, self.capacity)]))
        return tuple(i for i, _ in out), over

    def narrow(self, R, idx, sp):
        """The lists a force at ``R`` uses (``sp``: the atoms' species in the potential's order): the
        slots inside the term's range for the terms with a ``step_reaches``, the list itself for the
        others; and whether a sub-list overflowed."""
        out, over = [], jnp.bool_(False)
        for i, r, k in zip(idx, self.step_reaches, self.step_capacity):
            if r is not None:
                i, cnt = device_sublist_fn(self.box, self.periodic, r, k)(R, i, sp)
                over = over | (cnt > k)
            out.append(i)
        return tuple(out), over

    def build_batch(self, R):
        """The lists of a batch of positions ``(B, N, d)``."""
        return jax.jit(jax.vmap(lambda x: self.build(x)[0]))(R)

    def wider(self) -> _Layout:
        return dataclasses.replace(
            self, capacity=tuple(_round_capacity(CAPACITY_HEADROOM * k) for k in self.capacity),
            cell_capacity=tuple(int(np.ceil(CAPACITY_HEADROOM * c / 8) * 8) for c in self.cell_capacity),
            step_capacity=tuple(_round_capacity(CAPACITY_HEADROOM * k) if k else 0
                                for k in self.step_capacity))


def _layout(structures: Sequence[Structure], potential: Potential, skin: float, neighbors: str,
            vectorize: bool | None = None) -> _Layout:
    """List widths (largest host count × headroom), the cell grid of each searched list, the source
    of each filtered one and the per-step sub-lists of the site terms (see :class:`_Layout`)."""
    s0 = structures[0]
    box = tuple(float(b) for b in np.asarray(s0.box))
    cutoffs = [float(t.cutoff) for t in potential.terms]
    longest = int(np.argmax(cutoffs))
    caps, cells, ccaps, source, step_r, step_k = [], [], [], [], [], []
    for t, c in enumerate(cutoffs):
        reach = c + skin
        kmax = max(neighbor_list(s, c, skin=skin).shape[1] for s in structures)
        headroom = WIDE_LIST_HEADROOM if kmax >= WIDE_LIST else CAPACITY_HEADROOM
        caps.append(_round_capacity(headroom * max(kmax, 1)))
        source.append(None if t == longest else longest)
        grid = cell_grid(box, s0.periodic, reach) if neighbors in ("auto", "cells") and t == longest else None
        if neighbors == "cells" and grid is None and t == longest:
            raise UserError(f"neighbors: 'cells' needs at least 3 cells of side {reach:.4g} per axis; the "
                            "box "
                            f"{box} is too small: use neighbors='auto' or 'all-pairs'")
        if neighbors == "auto" and grid is not None and s0.n_atoms < 2000:
            grid = None  # all pairs is faster at this size (benchmarks/md.py)
        cells.append(grid)
        per_cell = s0.n_atoms / np.prod(grid) if grid else 0.0
        ccaps.append(int(np.ceil((1.5 * per_cell + 8) / 8) * 8) if grid else 0)
        term = potential.terms[t]
        k_step = 0
        if _site_force_per_atom_sq(potential, term):
            inside = max(_count_inside(s, potential, term) for s in structures)
            k_step = _round_capacity(CAPACITY_HEADROOM * max(inside, 1))
        narrow = 0 < k_step < caps[-1]
        step_r.append((c if term.pair_cutoffs is None else term.pair_cutoffs) if narrow else None)
        step_k.append(k_step if narrow else 0)
    return _Layout(box, tuple(s0.periodic), tuple(c + skin for c in cutoffs), tuple(caps), tuple(cells),
                   tuple(ccaps), tuple(source), tuple(step_r), tuple(step_k),
                   one_by_one=len(structures) > 1 and not (
                       jax.default_backend() != "cpu" if vectorize is None else vectorize))


def _count_inside(s: Structure, potential: Potential, term) -> int:
    """The largest number of neighbours of an atom inside ``term``'s cutoff, or inside its
    ``pair_cutoffs`` (host, minimum image)."""
    idx = neighbor_list(s, term.cutoff)
    if term.pair_cutoffs is not None:
        idx = within_pair_reach(s, idx, term.pair_cutoffs, potential.species_map(s)[np.asarray(s.species)])
    return int(np.max(np.sum(idx < s.n_atoms, axis=1)))


def _site_force_per_atom_sq(potential: Potential, term) -> bool:
    """Whether ``term``'s force is a site term's of :meth:`Potential.forces` (∝ K² per atom; an EAM
    potential has its own, ∝ K)."""
    return not term.is_pair and type(potential).forces is Potential.forces


def _round_capacity(k: float) -> int:
    """A list width: to a multiple of 16 above 32 (few distinct widths, so structures of one family
    share the compiled engine), of 4 below (three-body site terms cost ∝ K²)."""
    step = 16 if k > 32 else 4
    return int(np.ceil(k / step) * step)


@functools.lru_cache(maxsize=16)
def _engine(dt: float, gamma: float, skin: float, layout: _Layout):
    """``(init, run)`` for one layout: ``run`` is the jitted chunk runner over a batch of replicas.

    Everything that varies between calls (the potential, a PyTree; the batched structures, pinned
    masks, reference positions, lists, temperatures) is an argument, so repeated generator calls
    reuse the compiled code.
    """
    from jax_md import simulate

    per = layout.periodic
    build = layout.build
    shift = lambda R, dR: wrap(R + dR, jnp.asarray(layout.box, R.dtype), per)  # noqa: E731

    def force(R, idx, structure, mob, potential):
        f = potential.forces(structure.with_positions(R), idx)
        return jnp.where(mob[:, None], f, 0.0)

    init_fn, _ = simulate.nvt_langevin(lambda R, **kw: force(R, **kw), shift, dt, 0.0, gamma=gamma)

    def init(key, structure, mob, kT, potential):
        idx, over = build(structure.positions)
        used, step_over = layout.narrow(structure.positions, idx, potential.species_indices(structure))
        st = init_fn(key, structure.positions, mass=structure.masses[:, None], kT=kT, idx=used,
                     structure=structure, mob=mob, potential=potential)
        return (st.set(momentum=jnp.where(mob[:, None], st.momentum, 0.0)), idx, structure.positions,
                over | step_over)

    def run_together(state, idx, ref, kt_chunk, m, structures, mob, potential):
        """``m`` steps of every replica from ``state`` (batched) with lists ``idx`` built at ``ref``;
        returns the state, the lists, their reference positions, the rebuild count and whether a
        list overflowed."""
        dt_2 = dt / 2
        box = structures.box[0]
        sp = potential.species_indices(structures)
        R0 = structures.positions

        def half_kick(st):
            return jax.vmap(simulate.momentum_step, (0, None))(st, dt_2)

        def drift(st):
            return jax.vmap(simulate.position_step, (0, None, None))(st, shift, dt_2)

        def body(i, c):
            st, idx, ref, n_rb, over = c
            st = drift(half_kick(st))
            st = jax.vmap(simulate.stochastic_step, (0, None, None, None))(st, dt, kt_chunk[i], gamma)
            st = drift(st)
            moved = jnp.sum(displacement(st.position - ref, box, per) ** 2, axis=-1)
            stale = jnp.max(moved) > (skin / 2) ** 2
            keep_lists = lambda R: (idx, jnp.zeros(R.shape[0], bool))  # noqa: E731
            new_idx, new_over = jax.lax.cond(stale, jax.vmap(build), keep_lists,
                                             st.position)
            ref = jnp.where(stale, st.position, ref)
            used, step_over = jax.vmap(layout.narrow)(st.position, new_idx, sp)
            new_over = new_over | step_over
            f = jax.vmap(force, (0, 0, 0, 0, None))(st.position, used, structures, mob, potential)
            st = half_kick(st.set(force=f))
            keep = mob[..., None]
            st = st.set(position=jnp.where(keep, st.position, R0), momentum=jnp.where(keep, st.momentum, 0.0))
            return st, new_idx, ref, n_rb + stale.astype(jnp.int32), over | jnp.any(new_over)

        return jax.lax.fori_loop(0, m, body, (state, idx, ref, jnp.int32(0), jnp.bool_(False)))

    def run_one_by_one(state, idx, ref, kt_chunk, m, structures, mob, potential):
        """The replicas in turn (``lax.map``), each with its own rebuilds: on a CPU, vectorising over
        replicas gains nothing and shared rebuilds cost (benchmarks/md.py --batch)."""
        def one(args):
            out = run_together(*jax.tree.map(lambda a: a[None], args[:3]), kt_chunk, m,
                               jax.tree.map(lambda a: a[None], args[3]), args[4][None], potential)
            return jax.tree.map(lambda a: a[0], out[:3]), out[3], out[4]

        (state, idx, ref), n_rb, over = jax.lax.map(one, (state, idx, ref, structures, mob))
        return state, idx, ref, jnp.max(n_rb), jnp.any(over)

    run = run_one_by_one if layout.one_by_one else run_together
    return jax.jit(jax.vmap(init, (0, 0, 0, None, None))), jax.jit(run)


def nvt_langevin(
    potential: Potential,
    structure: Structure,
    *,
    kT: float | np.ndarray | Callable[[int], float],
    n_steps: int,
    dt: float,
    gamma: float = 0.1,
    seed: int = 0,
    mobile: np.ndarray | None = None,
    skin: float | None = None,
    chunk: int = 50,
    precision: str = "float64",
    neighbors: str = "auto",
    progress: Callable[[int, int], None] | None = None,
) -> MDResult:
    """Langevin NVT dynamics of one structure; ``kT`` may be a constant, an ``(n_steps,)`` schedule or
    ``f(step)``. The batch of one of :func:`nvt_langevin_batch` (see there for the arguments)."""
    return nvt_langevin_batch(potential, [structure], kT=kT, n_steps=n_steps, dt=dt, gamma=gamma,
                              seeds=[seed],
                              mobile=None if mobile is None else [mobile], skin=skin, chunk=chunk,
                              precision=precision, neighbors=neighbors, progress=progress)[0]


def nvt_langevin_batch(
    potential: Potential,
    structures: Sequence[Structure],
    *,
    kT: float | np.ndarray | Callable[[int], float],
    n_steps: int,
    dt: float,
    gamma: float = 0.1,
    seeds: Sequence[int] | None = None,
    mobile: Sequence[np.ndarray] | None = None,
    skin: float | None = None,
    chunk: int = 50,
    precision: str = "float64",
    neighbors: str = "auto",
    vectorize: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[MDResult]:
    """Langevin NVT dynamics of several replicas stepped together in one compiled program.

    The replicas must have the same number of atoms, box and periodicity (species, masses, positions
    and pinned atoms may differ); each has its own random stream (``seeds``, default ``0, 1, ...``),
    and replica ``b`` follows the same trajectory as :func:`nvt_langevin` with ``seed=seeds[b]`` up to
    round-off of the force summation.

    Neighbour lists (radius ``cutoff + skin``) are rebuilt on the device whenever an atom of any
    replica has moved ``skin/2`` since the last build, checked where every force is evaluated, so every
    force is exact. A list that outgrows its width is reallocated wider on the host and the chunk re-run
    (deterministic: the RNG keys live in the state).

    Args:
      mobile: optional ``(N,)`` bool mask per replica; atoms with ``False`` are pinned (positions and
        momenta reset after every step), e.g. the crystalline part of a partial melt.
      skin: neighbour-list skin (default 0.15 × cutoff).
      chunk: steps per compiled call (between host checks and ``progress`` calls).
      precision: ``"float64"`` (default) or ``"float32"`` for the dynamics; results come back float64.
      neighbors: ``"auto"`` (cell lists for large boxes, else all pairs), ``"cells"`` or ``"all-pairs"``.
      vectorize: step the replicas as one vectorised system (``vmap``; their lists rebuilt together)
        or in turn inside the same program; default: vectorised on accelerators, in turn on a CPU,
        where vectorising gains nothing (``benchmarks/md.py --batch``).
      progress: called as ``progress(steps_done, n_steps)`` after each chunk.
    """
    require_x64("jaxglass.md.nvt_langevin")
    structures = list(structures)
    kts, mob = _checked_inputs(potential, structures, kT, n_steps, dt, mobile, precision, neighbors)
    seeds = list(range(len(structures))) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(structures):
        raise UserError(f"seeds: expected {len(structures)} seeds (one per structure), got {len(seeds)}")
    skin = 0.15 * potential.cutoff if skin is None else float(skin)
    if not skin > 0:
        raise UserError(f"skin: must be positive, got {skin}")
    cutoffs = tuple(float(t.cutoff) for t in potential.terms)
    per = np.asarray(structures[0].box)
    check_box(structures[0], max(cutoffs) + skin)
    structures = [s.replace(positions=jnp.asarray(wrap(np.asarray(s.positions), per, s.periodic)))
                  for s in structures]
    layout = _layout(structures, potential, skin, neighbors, vectorize)
    dtype = PRECISIONS[precision]
    batch = jax.tree.map(lambda *a: jnp.stack(a), *structures)
    batch = batch.replace(positions=batch.positions.astype(dtype), box=batch.box.astype(dtype),
                          masses=batch.masses.astype(dtype))
    pot = jax.tree.map(lambda a: jnp.asarray(a, dtype) if np.issubdtype(np.asarray(a).dtype, np.floating)
                       else jnp.asarray(a), potential)
    kts_d = np.asarray(kts, dtype=np.float64)
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    state, rebuilds = _run_chunks(layout, float(dt), float(gamma), skin, keys, batch, jnp.asarray(mob), kts_d,
                                  pot,
                                  chunk, progress)
    return [_result(s, jax.tree.map(lambda a, b=b: a[b], state), mob[b], per, n_steps, rebuilds, kts)
            for b, s in enumerate(structures)]


def _run_chunks(layout, dt, gamma, skin, keys, batch, mob, kts, pot, chunk, progress):
    """Initialise, then step the batch ``chunk`` steps per compiled call; widen the lists and re-run a
    chunk whose lists overflowed. Returns the final state and the number of list rebuilds."""
    n_steps, dtype = len(kts), batch.positions.dtype
    while True:
        init, run = _engine(dt, gamma, skin, layout)
        state, idx, ref, over = init(keys, batch, mob, jnp.asarray(kts[0] if n_steps else 0.0, dtype), pot)
        if not bool(jnp.any(over)):
            break
        layout = layout.wider()
    done, rebuilds, widen = 0, 0, 0
    while done < n_steps:
        m = min(chunk, n_steps - done)
        kt_chunk = jnp.asarray(np.pad(kts[done : done + m], (0, chunk - m), mode="edge"), dtype)
        trial = run(state, idx, ref, kt_chunk, m, batch, mob, pot)
        if bool(trial[4]):  # a list outgrew its width: widen, rebuild at the chunk's start, re-run
            widen += 1
            if widen > 32:
                raise RuntimeError("md: neighbour lists keep overflowing; is the structure collapsing?")
            layout = layout.wider()
            init, run = _engine(dt, gamma, skin, layout)
            idx, ref, rebuilds = layout.build_batch(state.position), state.position, rebuilds + 1
            continue
        if not bool(jnp.all(jnp.isfinite(trial[0].position))):
            raise RuntimeError("md: positions became non-finite; lower dt or relax the start first")
        state, idx, ref = trial[0], trial[1], trial[2]
        rebuilds += int(trial[3])
        done += m
        if progress is not None:
            progress(done, n_steps)
    return state, rebuilds


def _checked_inputs(potential, structures, kT, n_steps, dt, mobile, precision, neighbors):
    """Validate the arguments of :func:`nvt_langevin_batch`; the ``(n_steps,)`` kT schedule and the
    ``(B, N)`` mobile masks."""
    if not structures:
        raise UserError("structures: give at least one structure")
    if n_steps < 0 or not dt > 0 or not np.isfinite(dt):
        raise UserError(f"n_steps must be >= 0 and dt finite and > 0, got n_steps={n_steps}, dt={dt}")
    if precision not in PRECISIONS:
        raise UserError(f"precision: expected one of {sorted(PRECISIONS)}, got {precision!r}")
    if neighbors not in ("auto", "cells", "all-pairs"):
        raise UserError(f"neighbors: expected 'auto', 'cells' or 'all-pairs', got {neighbors!r}")
    s0 = structures[0]
    for b, s in enumerate(structures):
        if not all(s.periodic):
            raise UserError("structure.periodic: MD here needs a fully periodic cell")
        potential.check(s)
        if (s.n_atoms != s0.n_atoms or s.species_names != s0.species_names
                or not np.array_equal(np.asarray(s.box), np.asarray(s0.box))):
            raise UserError(f"structures[{b}]: every replica of a batch needs the same number of atoms, "
                            "species "
                            "names and box as structures[0]")
        if not np.all(np.isfinite(np.asarray(s.positions))):
            raise UserError(f"structures[{b}].positions: non-finite coordinates")
    if callable(kT):
        kts = np.array([kT(i) for i in range(n_steps)], dtype=np.float64)
    else:
        kts = np.broadcast_to(np.asarray(kT, dtype=np.float64), (n_steps,)).copy()
    if np.any(kts < 0) or not np.all(np.isfinite(kts)):
        raise UserError("kT: temperatures must be finite and non-negative")
    n = s0.n_atoms
    if mobile is None:
        mob = np.ones((len(structures), n), bool)
    else:
        mob = np.asarray([np.asarray(m, bool) for m in mobile])
        if mob.shape != (len(structures), n):
            raise UserError(f"mobile: expected one ({n},) mask per structure, got shape {mob.shape}")
    return kts, mob


def _result(structure, state, mob, per, n_steps, rebuilds, kts) -> MDResult:
    """The final (wrapped, float64) structure and the kinetic temperature of the mobile atoms."""
    pos = wrap(np.asarray(state.position, np.float64), per, structure.periodic)
    p = np.asarray(state.momentum, np.float64)[mob]
    mm = np.asarray(state.mass, np.float64)[mob]
    dof = max(1, p.size)
    ke_kT = float(np.sum(p * p / mm) / dof)
    return MDResult(
        structure.with_positions(jnp.asarray(pos)),
        n_steps,
        rebuilds,
        float(kts[-1]) if n_steps else 0.0,
        ke_kT,
    )
