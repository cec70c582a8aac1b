"""NVT molecular dynamics (jax-md's BAOAB Langevin integrator) on jaxglass potentials.

Used by the glass generators for melting, quenching and partial melting (pinned atoms).

Units follow the potential: metal units (eV, Å, amu) have the time unit Å·sqrt(amu/eV) =
10.1805 fs (see :data:`METAL_TIME_FS`); LJ units use τ = σ sqrt(m/ε). ``kT`` is in energy units
(``KB_EV`` × T[K] for metal units).

The integrator runs ``chunk`` steps at a time inside ``lax.fori_loop`` with a fixed neighbour
list (with skin). After each chunk the largest displacement since the list was built is checked on
the host; if it exceeds half the skin the chunk is thrown away, the list rebuilt at the chunk's
starting positions, and the chunk re-run (deterministic: the RNG key lives in the state), so
every force ever used is exact.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._config import require_x64
from .neighbors import fixed_capacity_lists
from .potentials.base import Potential
from .space import displacement, wrap
from .structure import Structure

#: Boltzmann constant in eV/K.
KB_EV = 8.617333262e-5
#: The metal-units time unit Å sqrt(amu / eV) in femtoseconds.
METAL_TIME_FS = 10.180505


@dataclasses.dataclass(frozen=True)
class MDResult:
    structure: Structure
    n_steps: int
    n_rebuilds: int
    final_kT: float
    kinetic_kT: float  # instantaneous temperature (energy units) of the mobile atoms


@functools.lru_cache(maxsize=16)
def _simulator(dt: float, gamma: float, box: tuple[float, ...]):
    """jax-md BAOAB integrator and a jitted chunk runner, built once per (dt, gamma, box).

    Everything that varies between calls (the potential, a PyTree; structure arrays, pinned mask,
    reference positions, neighbour lists, temperatures) is an argument, so repeated generator calls
    reuse the compiled code.
    """
    from jax_md import simulate, space

    _, shift = space.periodic(jnp.asarray(box, jnp.float64))

    def force(R, nbrs=None, structure=None, mob=None, potential=None, **unused):
        g = jax.grad(lambda x: potential.energy(structure.with_positions(x), nbrs))(R)
        return jnp.where(mob[:, None], -g, 0.0)

    init_fn, step_fn = simulate.nvt_langevin(force, shift, dt, 0.0, gamma=gamma)

    @jax.jit
    def run(state, nbrs, kt_chunk, m, structure, mob, R0, potential):
        def body(i, st):
            st = step_fn(st, kT=kt_chunk[i], nbrs=nbrs, structure=structure, mob=mob, potential=potential)
            return st.set(
                position=jnp.where(mob[:, None], st.position, R0),
                momentum=jnp.where(mob[:, None], st.momentum, 0.0),
            )

        return jax.lax.fori_loop(0, m, body, state)

    return init_fn, run


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

    Args:
      mobile: optional ``(N,)`` bool mask; atoms with ``False`` are pinned (positions and momenta
        reset after every step), e.g. the crystalline part of a partial melt.
      skin: neighbour-list skin (default 0.15 × cutoff).
      progress: called as ``progress(steps_done, n_steps)`` after each chunk.
    """
    require_x64("jaxglass.md.nvt_langevin")
    if n_steps < 0 or dt <= 0:
        raise ValueError(f"n_steps must be >= 0 and dt > 0, got n_steps={n_steps}, dt={dt}")
    if not all(structure.periodic):
        raise ValueError("structure.periodic: MD here needs a fully periodic cell")
    potential.check(structure)
    if callable(kT):
        kts = np.array([kT(i) for i in range(n_steps)], dtype=np.float64)
    else:
        kts = np.broadcast_to(np.asarray(kT, dtype=np.float64), (n_steps,)).copy()
    if np.any(kts < 0) or not np.all(np.isfinite(kts)):
        raise ValueError("kT: temperatures must be finite and non-negative")
    n = structure.n_atoms
    mob = np.ones(n, bool) if mobile is None else np.asarray(mobile, bool)
    if mob.shape != (n,):
        raise ValueError(f"mobile: expected shape ({n},), got {mob.shape}")
    if skin is None:
        skin = 0.15 * potential.cutoff
    mob_j = jnp.asarray(mob)
    init_fn, run = _simulator(float(dt), float(gamma), tuple(float(b) for b in np.asarray(structure.box)))
    R0 = jnp.asarray(structure.positions, jnp.float64)
    structure = structure.replace(positions=R0)
    masses = jnp.asarray(structure.masses, jnp.float64)[:, None]
    capacity: tuple[int, ...] = ()
    cutoffs = [t.cutoff for t in potential.terms]
    lists, capacity = fixed_capacity_lists(structure, cutoffs, skin, capacity, 1.3)
    nbrs = tuple(jnp.asarray(i) for i in lists)
    kt0 = float(kts[0]) if n_steps else 0.0
    state = init_fn(
        jax.random.PRNGKey(seed), R0, mass=masses, kT=kt0, nbrs=nbrs, structure=structure, mob=mob_j,
        potential=potential,
    )
    state = state.set(momentum=jnp.where(mob_j[:, None], state.momentum, 0.0))

    def run_chunk(state, nbrs, kt_chunk, m):
        return run(state, nbrs, kt_chunk, m, structure, mob_j, R0, potential)

    ref = np.asarray(state.position)
    done, rebuilds = 0, 0
    per = np.asarray(structure.box)

    def moved(trial) -> float:
        dr = np.asarray(trial.position) - ref
        dr = displacement(dr, per, structure.periodic)
        return float(np.sqrt(np.max(np.sum(dr * dr, axis=1))))

    m = chunk  # adaptive: halved when one chunk moves atoms more than skin/2 from a fresh list
    while done < n_steps:
        m = min(m, n_steps - done)
        kt_chunk = jnp.asarray(np.pad(kts[done : done + m], (0, chunk - m), mode="edge"))
        trial = run_chunk(state, nbrs, kt_chunk, m)
        if moved(trial) > 0.5 * skin:
            ref = np.asarray(state.position)
            moved_s = structure.with_positions(state.position)
            lists, capacity = fixed_capacity_lists(moved_s, cutoffs, skin, capacity, 1.3)
            nbrs = tuple(jnp.asarray(i) for i in lists)
            rebuilds += 1
            trial = run_chunk(state, nbrs, kt_chunk, m)
            if moved(trial) > 0.5 * skin:
                if m == 1:
                    raise RuntimeError(
                        f"md: atoms moved more than skin/2 = {0.5 * skin:.3g} in one step; lower dt or "
                        "raise skin (is the temperature or the initial force too high?)"
                    )
                m = max(1, m // 2)
                continue
        if not np.all(np.isfinite(np.asarray(trial.position))):
            raise RuntimeError("md: positions became non-finite; lower dt or relax the start first")
        state = trial
        done += m
        if progress is not None:
            progress(done, n_steps)
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
