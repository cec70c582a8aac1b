"""NVT molecular dynamics (jax-md's BAOAB Langevin integrator) on jaxglass potentials.

Used by the glass generators for melting, quenching and partial melting (pinned atoms).

Units follow the potential: metal units (eV, Å, amu) have the time unit Å·sqrt(amu/eV) =
10.1805 fs (:data:`jaxglass.units.METAL_TIME_FS`); LJ units use τ = σ sqrt(m/ε). ``kT`` is in energy
units (:data:`jaxglass.units.KB_EV` × T[K] for metal units).

The integrator runs ``chunk`` steps at a time inside ``lax.fori_loop``; the neighbour lists (with
skin) are rebuilt on the device inside the loop when needed (``jax_md.partition``, ``Dense`` format:
the same ``(N, K)`` padded index arrays as :mod:`jaxglass.neighbors`), so a chunk never has to be
thrown away for a stale list, and every force is exact (see :func:`nvt_langevin`).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._config import require_x64
from .errors import UserError
from .neighbors import check_box
from .potentials.base import Potential
from .space import wrap
from .structure import Structure


@dataclasses.dataclass(frozen=True)
class MDResult:
    structure: Structure
    n_steps: int
    n_rebuilds: int
    final_kT: float
    kinetic_kT: float  # instantaneous temperature (energy units) of the mobile atoms


def _lists(nfns, idx, refs):
    """jax-md ``NeighborList`` objects (Dense, all-pairs rebuilds) from index arrays and the positions
    they were built at."""
    from jax_md import partition

    err = partition.PartitionError(jnp.zeros((), jnp.uint8))
    return tuple(partition.NeighborList(ix, ref, err, None, ix.shape[1], partition.NeighborListFormat.Dense,
                                        None, None, f.update) for f, ix, ref in zip(nfns, idx, refs))


@functools.lru_cache(maxsize=16)
def _simulator(dt: float, gamma: float, box: tuple[float, ...], cutoffs: tuple[float, ...], skin: float):
    """jax-md BAOAB integrator, on-device neighbour lists and a jitted chunk runner, built once per
    (dt, gamma, box, cutoffs, skin).

    Everything that varies between calls (the potential, a PyTree; structure arrays, pinned mask,
    reference positions, neighbour index arrays, temperatures) is an argument, so repeated generator
    calls reuse the compiled code. The lists (one per potential term, ``Dense`` ``(N, K)`` padded with
    ``N``, radius ``cutoff + skin``) are checked at the very positions where forces are evaluated and
    rebuilt on the device when an atom has moved more than ``skin/2`` since their build, so every
    force is exact whatever the step size. Rebuilds test all pairs (O(N²) on the device): measured
    faster at the generators' N ≈ 1000 than jax-md's cell lists, whose capacity overflows (and
    recompiles) as a partial melt changes the local density.
    """
    from jax_md import partition, simulate, space

    box_j = jnp.asarray(box, jnp.float64)
    disp, shift = space.periodic(box_j)
    nfns = tuple(partition.neighbor_list(disp, box_j, c, dr_threshold=skin, capacity_multiplier=1.3,
                                         disable_cell_list=True, format=partition.Dense) for c in cutoffs)

    def force(R, nbrs=None, structure=None, mob=None, potential=None, **unused):
        """Forces at ``R`` with lists that are valid at ``R`` (the caller updates them there)."""
        idx = tuple(nb.idx for nb in nbrs)
        g = jax.grad(lambda x: potential.energy(structure.with_positions(x), idx))(R)
        return jnp.where(mob[:, None], -g, 0.0)

    init_fn, _ = simulate.nvt_langevin(force, shift, dt, 0.0, gamma=gamma)

    def allocate(R, extra: int = 0):
        """Index arrays and reference positions at ``R``; ``extra`` > 0 adds ``8 extra`` columns."""
        lists = tuple(f.allocate(R, extra_capacity=8 * extra) for f in nfns)
        return tuple(nb.idx for nb in lists), tuple(nb.reference_position for nb in lists)

    def init(key, R, mass, kT, idx, refs, **kw):
        return init_fn(key, R, mass=mass, kT=kT, nbrs=_lists(nfns, idx, refs), **kw)

    @jax.jit
    def run(state, idx, refs, kt_chunk, m, structure, mob, R0, potential):
        """``m`` steps from ``state`` with lists ``idx`` built at ``refs``; returns the state, the
        lists, their reference positions, the number of rebuilds and whether a list overflowed.

        One step is jax-md's BAOAB (``simulate.nvt_langevin``'s step, the same operations in the
        same order) with the lists brought up to date at the new positions just before the force
        is evaluated there; the updated lists are carried to the next step, so each position is
        checked once and each rebuild is done once.
        """
        dt_2 = dt / 2

        def body(i, c):
            st, idx, refs, n_rb, over = c
            st = simulate.momentum_step(st, dt_2)
            st = simulate.position_step(st, shift, dt_2)
            st = simulate.stochastic_step(st, dt, kt_chunk[i], gamma)
            st = simulate.position_step(st, shift, dt_2)
            lists = tuple(nb.update(st.position) for nb in _lists(nfns, idx, refs))
            n_rb = n_rb + jnp.any(jnp.stack([jnp.any(nb.reference_position != ref)
                                             for nb, ref in zip(lists, refs)])).astype(jnp.int32)
            over = over | jnp.any(jnp.stack([nb.did_buffer_overflow for nb in lists]))
            f = force(st.position, nbrs=lists, structure=structure, mob=mob, potential=potential)
            st = simulate.momentum_step(st.set(force=f), dt_2)
            st = st.set(
                position=jnp.where(mob[:, None], st.position, R0),
                momentum=jnp.where(mob[:, None], st.momentum, 0.0),
            )
            return (st, tuple(nb.idx for nb in lists), tuple(nb.reference_position for nb in lists), n_rb,
                    over)

        return jax.lax.fori_loop(0, m, body, (state, idx, refs, jnp.int32(0), jnp.bool_(False)))

    return init, run, allocate


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
    progress: Callable[[int, int], None] | None = None,
) -> MDResult:
    """Langevin NVT dynamics; ``kT`` may be a constant, an ``(n_steps,)`` schedule or ``f(step)``.

    Neighbour lists (radius ``cutoff + skin``) are rebuilt on the device whenever an atom has moved
    ``skin/2`` since the last build, checked where every force is evaluated, so every force is
    exact. A list that outgrows its width is reallocated wider on the host and the chunk re-run
    (deterministic: the RNG key lives in the state).

    Args:
      mobile: optional ``(N,)`` bool mask; atoms with ``False`` are pinned (positions and momenta
        reset after every step), e.g. the crystalline part of a partial melt.
      skin: neighbour-list skin (default 0.15 × cutoff).
      chunk: steps per jitted call (between host checks and ``progress`` calls).
      progress: called as ``progress(steps_done, n_steps)`` after each chunk.
    """
    require_x64("jaxglass.md.nvt_langevin")
    kts, mob = _checked_inputs(potential, structure, kT, n_steps, dt, mobile)
    if skin is None:
        skin = 0.15 * potential.cutoff
    cutoffs = tuple(float(t.cutoff) for t in potential.terms)
    per = np.asarray(structure.box)
    check_box(structure, max(cutoffs) + skin)
    mob_j = jnp.asarray(mob)
    init_fn, run, allocate = _simulator(float(dt), float(gamma), tuple(float(b) for b in per), cutoffs,
                                        float(skin))
    R0 = jnp.asarray(wrap(np.asarray(structure.positions), per, structure.periodic), jnp.float64)
    structure = structure.replace(positions=R0)
    masses = jnp.asarray(structure.masses, jnp.float64)[:, None]
    idx, refs = allocate(R0)
    kt0 = float(kts[0]) if n_steps else 0.0
    state = init_fn(jax.random.PRNGKey(seed), R0, masses, kt0, idx, refs, structure=structure, mob=mob_j,
                    potential=potential)
    state = state.set(momentum=jnp.where(mob_j[:, None], state.momentum, 0.0))
    done, rebuilds, extra = 0, 0, 0
    while done < n_steps:
        m = min(chunk, n_steps - done)
        kt_chunk = jnp.asarray(np.pad(kts[done : done + m], (0, chunk - m), mode="edge"))
        trial, t_idx, t_refs, n_rb, over = run(state, idx, refs, kt_chunk, m, structure, mob_j, R0, potential)
        if bool(over):  # a list outgrew its width: reallocate it wider at the chunk's start, re-run
            extra += 1
            if extra > 32:
                raise RuntimeError("md: neighbour lists keep overflowing; is the structure collapsing?")
            idx, refs = allocate(state.position, extra)
            rebuilds += 1
            continue
        if not np.all(np.isfinite(np.asarray(trial.position))):
            raise RuntimeError("md: positions became non-finite; lower dt or relax the start first")
        state, idx, refs = trial, t_idx, t_refs
        rebuilds += int(n_rb)
        done += m
        if progress is not None:
            progress(done, n_steps)
    return _result(structure, state, masses, mob, per, n_steps, rebuilds, kts)


def _checked_inputs(potential, structure, kT, n_steps, dt, mobile):
    """Validate the arguments of :func:`nvt_langevin`; the ``(n_steps,)`` kT schedule and the mobile mask."""
    if n_steps < 0 or dt <= 0:
        raise UserError(f"n_steps must be >= 0 and dt > 0, got n_steps={n_steps}, dt={dt}")
    if not all(structure.periodic):
        raise UserError("structure.periodic: MD here needs a fully periodic cell")
    potential.check(structure)
    if callable(kT):
        kts = np.array([kT(i) for i in range(n_steps)], dtype=np.float64)
    else:
        kts = np.broadcast_to(np.asarray(kT, dtype=np.float64), (n_steps,)).copy()
    if np.any(kts < 0) or not np.all(np.isfinite(kts)):
        raise UserError("kT: temperatures must be finite and non-negative")
    n = structure.n_atoms
    mob = np.ones(n, bool) if mobile is None else np.asarray(mobile, bool)
    if mob.shape != (n,):
        raise UserError(f"mobile: expected shape ({n},), got {mob.shape}")
    return kts, mob


def _result(structure, state, masses, mob, per, n_steps, rebuilds, kts) -> MDResult:
    """The final (wrapped) structure and the kinetic temperature of the mobile atoms."""
    pos = wrap(np.asarray(state.position), per, structure.periodic)
    p = np.asarray(state.momentum)[mob]
    mm = np.asarray(masses)[mob]
    dof = max(1, p.size)
    ke_kT = float(np.sum(p * p / mm) / dof)
    return MDResult(
        structure.with_positions(jnp.asarray(pos)),
        n_steps,
        rebuilds,
        float(kts[-1]) if n_steps else 0.0,
        ke_kT,
    )
