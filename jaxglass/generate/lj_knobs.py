"""Alternative Kob-Andersen generators: a composition knob and a quench-rate knob (full melt-quench).

The partial-melt families ``lj2d``/``lj3d`` (:mod:`jaxglass.generate.lj`) move from a pinned crystal
to the glass. These four families test whether the structure → spectrum results depend on that
generator. They share everything else with it: the Kob-Andersen potential
(:func:`jaxglass.generate.lj.potential`), ρ = 1.2, the same cell per size (the crystal's box:
:func:`~jaxglass.generate.lj.reps_2d` / :func:`~jaxglass.generate.lj.reps_3d`), the Langevin MD
(:func:`jaxglass.md.nvt_langevin`, ``dt = 0.005``, ``gamma = 1``, skin 0.45) and the two-stage
relaxation to ``fmax <= 1e-6`` (:func:`jaxglass.generate.lj.relax`); datasets then take the same
Hessian + PDOS path.

Protocol (:class:`KnobProtocol`; no atom is pinned)
----------------------------------------------------
1. A random start in the cell: random sequential addition with no pair closer than 0.7 σ (2D) /
   0.8 σ (3D), ``round(x_B N)`` atoms chosen at random become B (numpy, ``seed``), then L-BFGS to
   ``fmax <= 10`` ε/σ (removes the hardest overlaps so the MD starts stably). A random start, not
   the lattice: the perfect A lattice superheats (after 2 τ at kT = 4 a 256-atom fcc cell still had
   91 % crystalline atoms, the triangular one 100 % at kT = 6).
2. ``n_hot`` steps at ``kT_hot = 4``, then a linear quench ``kT_hot → kT_end = 0.05`` over
   ``n_quench`` steps. In 3D kT = 4 is a liquid for every x_B (pure A from the random start after
   2 τ: no crystalline atoms, g(r) peak 2.9). In 2D it is close to the melting point of pure A at
   ρ = 1.2 (soft-sphere scaling of the 2D LJ melting line gives kT_m ≈ 4): pure A from the random
   start re-orders within 2 τ (mean |ψ6| 0.89, peak 4.7; x_B = 0.35: |ψ6| 0.49, peak 2.2), so at
   small x_B the 2D series starts from a hot ordered state rather than a liquid.
3. Relaxation at fixed box as in ``lj`` (L-BFGS to 1e-4, FIRE to 1e-6).

Families
--------
* ``lj2d-comp`` / ``lj3d-comp`` (composition knob): ``x_B = knob · x_B,max`` with ``x_B,max`` =
  0.35 (2D, A65B35) / 0.20 (3D, A80B20), the standard KA compositions, quenched at a fixed rate
  (``n_quench = 2000``: 0.395 / τ, the rate of the ``lj`` small protocol). Knob 0 (pure A) ends
  crystalline (2D: the perfect triangular lattice; 3D: a defective crystal); B frustrates it. The
  crystalline-atom fraction (:func:`jaxglass.analysis.order.crystalline_fraction`) across the knob
  is in docs/study.md ("The Lennard-Jones question").
* ``lj2d-quench`` / ``lj3d-quench`` (quench-rate knob) at the standard composition:
  ``n_quench = round(n_slow (n_fast / n_slow)^knob)``, so ``log10`` of the quench rate
  ``(kT_hot - kT_end) / (n_quench dt)`` is linear in the knob: knob 0 is the slowest quench
  (``n_slow = 20000`` steps, 100 τ, 0.0395 / τ), knob 1 the fastest (``n_fast = 20``, 0.1 τ,
  39.5 / τ): three decades.

``crystal`` of every family is the relaxed A lattice (the same as ``lj``'s).
``knob_values``: ``x_B`` (overall B fraction), ``n_B``, ``n_quench``, ``quench_rate`` (kT per τ),
``log10_quench_rate``. Structure ``k`` is reproducible: numpy and the thermostat are seeded by
``seed`` alone.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from .._config import require_x64
from ..errors import UserError
from ..md import nvt_langevin
from ..minimize import minimize
from ..structure import make_structure
from . import lj
from .base import Generated, check_knob, check_n_atoms, check_seed

__all__ = [
    "KNOB_PROTOCOLS",
    "KnobProtocol",
    "MIN_DISTANCE",
    "LJ2D_COMP",
    "LJ2D_QUENCH",
    "LJ3D_COMP",
    "LJ3D_QUENCH",
    "comp_x_b",
    "generate_comp",
    "generate_quench",
    "quench_steps",
    "random_start",
]


@dataclasses.dataclass(frozen=True)
class KnobProtocol:
    """Melt-quench settings of the composition and quench-rate families (reduced units)."""

    kT_hot: float = 4.0
    n_hot: int = 400
    kT_end: float = 0.05
    n_quench: int = 2000  # composition knob: fixed rate (kT_hot - kT_end) / (n_quench dt)
    n_slow: int = 20000  # quench-rate knob 0
    n_fast: int = 20  # quench-rate knob 1
    dt: float = 0.005
    gamma: float = 1.0
    chunk: int = 40
    relax: lj.Protocol = lj.Protocol()


KNOB_PROTOCOLS = {
    "small": KnobProtocol(),
    # longer melts; the composition knob quenched at the paper rate 0.0195 / τ
    "paper": KnobProtocol(n_hot=2000, n_quench=20000, n_slow=200000, n_fast=200),
}


#: Smallest pair distance (σ) of the random start per dimension.
MIN_DISTANCE = {2: 0.7, 3: 0.8}


def random_start(box: np.ndarray, n: int, min_distance: float, rng: np.random.Generator,
                 max_tries: int = 10000) -> np.ndarray:
    """Random sequential addition of ``n`` points in the periodic ``box``, none closer than ``min_distance``.

    Raises ``ValueError`` when an atom finds no place in ``max_tries`` attempts.
    """
    box = np.asarray(box, dtype=np.float64)
    pos = np.zeros((n, len(box)))
    for i in range(n):
        for _ in range(max_tries):
            p = rng.random(len(box)) * box
            d = pos[:i] - p
            d -= box * np.round(d / box)
            if i == 0 or np.min(np.einsum("ij,ij->i", d, d)) >= min_distance**2:
                pos[i] = p
                break
        else:
            raise UserError(
                f"min_distance: could not place atom {i} of {n} at least {min_distance} apart in box "
                f"{box.tolist()}; lower min_distance or the number of atoms"
            )
    return pos


def comp_x_b(dim: int, knob: float) -> float:
    """The B fraction of the composition knob: ``knob · x_B,std`` (0.35 in 2D, 0.20 in 3D)."""
    return float(knob) * lj.X_B[dim]


def quench_steps(knob: float, protocol: KnobProtocol) -> int:
    """Quench length of the quench-rate knob: ``round(n_slow (n_fast / n_slow)^knob)``, at least 1."""
    return max(1, int(round(protocol.n_slow * (protocol.n_fast / protocol.n_slow) ** float(knob))))


def _rate(prot: KnobProtocol, n_quench: int) -> float:
    return (prot.kT_hot - prot.kT_end) / (n_quench * prot.dt)


def _melt_quench(
    dim: int, n_atoms: int, x_b: float, n_quench: int, seed: int, size: str, prot: KnobProtocol, name: str,
    knob: float, progress=None,
) -> Generated:
    require_x64(f"jaxglass.generate.lj_knobs ({name})")
    n_req = check_n_atoms(n_atoms)
    seed = check_seed(seed)
    t0 = time.perf_counter()
    s0, reps = lj.lattice(dim, n_req)
    n = s0.n_atoms
    box = np.asarray(s0.box)
    rng = np.random.default_rng(seed)
    n_b = int(round(x_b * n))
    species = np.zeros(n, np.int32)
    species[rng.permutation(n)[:n_b]] = 1
    pos = random_start(box, n, MIN_DISTANCE[dim], rng)
    s = make_structure(pos, species, box, species_names=lj.SPECIES, masses=np.ones(n))
    pre = minimize(lj.potential(), s, method="lbfgs", fmax=10.0, max_steps=500)
    ramp = np.linspace(prot.kT_hot, prot.kT_end, n_quench + 1)[1:]
    kts = np.concatenate([np.full(prot.n_hot, prot.kT_hot), ramp])
    t = time.perf_counter()
    md = nvt_langevin(
        lj.potential(), pre.structure, kT=kts, n_steps=len(kts), dt=prot.dt, gamma=prot.gamma, seed=seed,
        skin=lj.SKIN, chunk=prot.chunk, progress=progress,
    )
    md_s = time.perf_counter() - t
    s, rinfo = lj.relax(md.structure, prot.relax)
    rate = _rate(prot, n_quench)
    info = {
        "generator": f"{name}.generate",
        "seed": seed,
        "size": size,
        "n_atoms": n,
        "n_atoms_requested": n_req,
        "n_A": n - n_b,
        "n_B": n_b,
        "reps": list(reps),
        "box": box.tolist(),
        "density": lj.DENSITY,
        "units": "lj",
        "citation": lj.citation(dim),
        "protocol": dataclasses.asdict(prot),
        "quench_rate": rate,
        "skin": lj.SKIN,
        "prerelax_steps": pre.n_steps,
        "md_steps": md.n_steps,
        "md_rebuilds": md.n_rebuilds,
        "md_final_kinetic_kT": md.kinetic_kT,
        "md_s": md_s,
        **rinfo,
        "first_peak": lj.first_peak_heights(s),
        "wall_time_s": time.perf_counter() - t0,
    }
    knob_values = {
        "x_B": n_b / n,
        "n_B": n_b,
        "n_quench": int(n_quench),
        "quench_rate": rate,
        "log10_quench_rate": math.log10(rate),
    }
    return Generated(s, lj.potential(), float(knob), knob_values, info)


def generate_comp(
    dim: int, n_atoms: int = 256, knob: float = 0.5, seed: int = 0, *, size: str = "small",
    protocol: KnobProtocol | None = None, progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Full melt-quench at ``x_B = knob · x_B,std`` and the fixed quench rate (module docstring);
    ``progress(steps_done, n_steps)`` is called during the MD."""
    check_knob(knob, size)
    prot = KNOB_PROTOCOLS[size] if protocol is None else protocol
    return _melt_quench(dim, n_atoms, comp_x_b(dim, knob), prot.n_quench, seed, size, prot,
                        f"lj{dim}d-comp", knob, progress)


def generate_quench(
    dim: int, n_atoms: int = 256, knob: float = 0.5, seed: int = 0, *, size: str = "small",
    protocol: KnobProtocol | None = None, progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Full melt-quench at the standard composition, quench length :func:`quench_steps` (log rate ∝ knob);
    ``progress(steps_done, n_steps)`` is called during the MD."""
    check_knob(knob, size)
    prot = KNOB_PROTOCOLS[size] if protocol is None else protocol
    return _melt_quench(dim, n_atoms, lj.X_B[dim], quench_steps(knob, prot), seed, size, prot,
                        f"lj{dim}d-quench", knob, progress)


def _family(name: str, dim: int, gen) -> SimpleNamespace:
    def generate(n_atoms: int = 256, knob: float = 0.5, seed: int = 0, *, size: str = "small",
                 protocol: KnobProtocol | None = None, progress=None) -> Generated:
        return gen(dim, n_atoms, knob, seed, size=size, protocol=protocol, progress=progress)

    def crystal(n_atoms: int = 256, *, size: str = "small") -> Generated:
        g = lj.relaxed_lattice(dim, n_atoms, size=size)
        return dataclasses.replace(g, info={**g.info, "generator": f"{name}.crystal"})

    generate.__doc__ = gen.__doc__
    return SimpleNamespace(name=name, dim=dim, generate=generate, crystal=crystal, potential=lj.potential,
                           PROTOCOLS=KNOB_PROTOCOLS, smallest_cell=functools.partial(lj.smallest_cell, dim))


#: Composition-knob families (registry names ``lj2d-comp``, ``lj3d-comp``).
LJ2D_COMP = _family("lj2d-comp", 2, generate_comp)
LJ3D_COMP = _family("lj3d-comp", 3, generate_comp)
#: Quench-rate-knob families (registry names ``lj2d-quench``, ``lj3d-quench``).
LJ2D_QUENCH = _family("lj2d-quench", 2, generate_quench)
LJ3D_QUENCH = _family("lj3d-quench", 3, generate_quench)
