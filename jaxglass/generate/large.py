"""Large glasses (10⁴–10⁶ atoms) for matrix-free spectra: tile a relaxed glass, rattle, relax.

Running each family's melt-quench protocol at 10⁵–10⁶ atoms is out of reach on a laptop, and the
dense route cannot use such structures anyway. :func:`large_glass` builds them in three steps:

1. a relaxed glass from the family's own generator (``families.generator(system).generate``) at its default
   small size and the chosen knob (default 1: the most disordered setting);
2. periodic replicas along every periodic axis, as close to cubic (square for sheets) as the
   target size allows (:func:`jaxglass.structure.replicate`);
3. a Gaussian rattle of every coordinate (amplitude ``rattle`` in Å, or σ for LJ; in-plane only for
   sheets) that breaks the replica periodicity, then a FIRE relaxation with O(N) neighbour lists
   (:func:`jaxglass.minimize.minimize`) back to a force tolerance.

The result is a glass whose short-range order is the family's and whose Γ point samples the small
glass's Brillouin zone on the replica grid until the rattle-and-relax decorrelates the copies; it
is deterministic given ``(system, n_atoms, knob, seed)``. Timings and the imaginary-mode count are in
``Generated.info``.
"""

from __future__ import annotations

import time

import numpy as np

from .. import families
from ..errors import UserError
from ..minimize import minimize
from ..structure import replicate
from .base import Generated, check_knob

#: Default force tolerance of the final relaxation.
FMAX = 1e-4
#: Default base-glass size per family (the generators' own rounding applies).
BASE_ATOMS = {"amc": 800, "lj2d": 1024, "lj3d": 864, "sic": 512, "cualzr": 432, "hea": 300}


def replica_grid(n_base: int, n_atoms: int, periodic: tuple[bool, ...]) -> tuple[int, ...]:
    """Replicas per axis (1 on non-periodic axes) giving at least ``n_atoms`` atoms, near-isotropic."""
    axes = [a for a, p in enumerate(periodic) if p]
    if not axes:
        raise UserError("structure: a large glass needs at least one periodic axis to tile along")
    k = max(1, int(np.ceil((n_atoms / n_base) ** (1.0 / len(axes)) - 1e-9)))
    reps = [k if a in axes else 1 for a in range(len(periodic))]
    # trim one axis at a time while the target is still met
    for a in axes:
        while reps[a] > 1 and n_base * np.prod(reps) // reps[a] * (reps[a] - 1) >= n_atoms:
            reps[a] -= 1
    return tuple(int(r) for r in reps)


def large_glass(
    system: str,
    n_atoms: int,
    *,
    knob: float = 1.0,
    seed: int = 0,
    base: Generated | None = None,
    base_atoms: int | None = None,
    rattle: float | None = None,
    fmax: float | None = None,
    max_steps: int = 5000,
    relax: bool = True,
) -> Generated:
    """A relaxed glass of at least ``n_atoms`` atoms of family ``system`` (see the module docstring).

    Args:
      system: family name (``amc``, ``lj2d``, ``lj3d``, ``sic``, ``cualzr``, ``hea``).
      n_atoms: target size (the result has ``N_base · Π reps ≥ n_atoms`` atoms).
      knob, seed: passed to the family's generator for the base glass.
      base: a generated base glass to tile instead of generating one.
      base_atoms: size of the base glass (default :data:`BASE_ATOMS`).
      rattle: Gaussian displacement amplitude (Å or σ); default 2 % of the cutoff.
      fmax: force tolerance of the final relaxation (default :data:`FMAX`, eV/Å or ε/σ: ample for
        spectra, where a tighter tolerance costs thousands of FIRE steps at 10⁵ atoms).
      max_steps: FIRE step cap; ``info["converged"]`` says whether ``fmax`` was reached.
      relax: skip rattle and relaxation when False (an exact periodic approximant of the base glass).
    """
    check_knob(knob, "small")
    if int(n_atoms) != n_atoms or n_atoms < 1:
        raise UserError(f"n_atoms: must be a positive integer, got {n_atoms}")
    t0 = time.perf_counter()
    if base is None:
        base = families.generator(system).generate(base_atoms or BASE_ATOMS[system], knob, seed)
    t_base = time.perf_counter() - t0
    s0, pot = base.structure, base.potential
    reps = replica_grid(s0.n_atoms, int(n_atoms), s0.periodic)
    s = replicate(s0, reps)
    info = dict(
        system=system,
        base_atoms=int(s0.n_atoms),
        reps=list(reps),
        n_atoms=int(s.n_atoms),
        knob=float(knob),
        seed=int(seed),
        t_base_s=t_base,
    )
    if relax:
        rng = np.random.default_rng(seed + 7919)
        amp = 0.02 * float(pot.cutoff) if rattle is None else float(rattle)
        noise = amp * rng.normal(size=np.shape(s.positions))
        if s.dim == 3 and sum(s.periodic) == 2:  # sheet: in-plane rattle only
            noise[:, [a for a, p in enumerate(s.periodic) if not p]] = 0.0
        s = s.with_positions(np.asarray(s.positions) + noise)
        tol = FMAX if fmax is None else float(fmax)
        t1 = time.perf_counter()
        res = minimize(pot, s, method="fire", fmax=tol, max_steps=max_steps)
        s = res.structure
        info.update(
            rattle=amp,
            fmax=float(res.fmax),
            fmax_tol=tol,
            relax_steps=int(res.n_steps),
            converged=bool(res.converged),
            t_relax_s=time.perf_counter() - t1,
        )
    info["t_total_s"] = time.perf_counter() - t0
    return Generated(
        structure=s,
        potential=pot,
        knob=float(knob),
        knob_values=dict(base.knob_values, reps=list(reps)),
        info=info,
    )
