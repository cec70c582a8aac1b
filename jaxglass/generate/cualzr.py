"""Cu46Zr46Al8 metallic glass by partial melting of a B2 (CsCl) CuZr crystal.

Potential: by default the analytic EAM of Zhou, Johnson and Wadley, Phys. Rev. B 69, 144113 (2004)
for Cu, Zr, Al (:func:`~jaxglass.potentials.zhou_johnson_wadley`, bundled, cutoff 7.155 Å). Any
other EAM for these elements can be passed as ``potential=`` (a :class:`Potential`) or
``setfl=`` (a LAMMPS ``eam/alloy`` file read with :func:`~jaxglass.potentials.read_setfl`, e.g. the
Cheng-Ma-Sheng ``ZrCuAl2011.eam.alloy`` of PRL 102, 245501 (2009); the package ships no setfl
file).

Crystal reference. B2 CuZr (Cu on the cube corners, Zr at the centres) at the potential's own
equilibrium lattice constant, found by :func:`b2_lattice_constant` (energy of perfect B2 CuZr on a
grid, refined by a parabola): 3.1907 Å for ZJW (3.25257 Å for Cheng-Ma-Sheng, LAMMPS). Then
8 % of the sites, chosen at random in equal numbers from the two sublattices, become Al:
Cu46Zr46Al8 (composition exact up to rounding to whole atoms), and the positions are relaxed.
Minimum image with the EAM cutoff needs every box length above ``2 (r_c + skin)``
(:data:`SKIN` = 0.5 Å): for ZJW 15.3 Å, so the smallest cubic cell is 5×5×5 B2 cells, 250 atoms
in 15.95 Å (a 4×4×4 cell, 12.8 Å, is too small). :func:`supercell` takes the cube ``n×n×n``
(2 n³ atoms: 250, 432, 686, 1024, ...) whose count is nearest ``n_atoms`` among those that fit.

Glass (partial melt, :mod:`jaxglass.generate.partial_melt`):

1. the ``round(f N)`` atoms nearest a random centre (a compact, ball-shaped region of volume
   ≈ f V) are removed and put back, species kept, at random points of the region (minimum
   distances 0.7 × the mean of the ZJW ``r_e`` of the two species), then pushed apart to
   0.85 × that mean (:func:`~jaxglass.generate.partial_melt.push_apart`): a liquid-like start at
   the crystal's density;
2. NVT Langevin anneal of the region at ``t_hot`` (well above the melting point; the rest of the
   crystal pinned), then a linear quench to ``t_end`` (:class:`Protocol`, :data:`PROTOCOLS`);
3. L-BFGS relaxation of all atoms at fixed box to ``fmax_tol``.

Knob: melt fraction ``f = knob``: 0 is the (Al-substituted, relaxed) B2 crystal, 1 the whole cell
melted and quenched. The design estimate for slower protocols (not measured here): f ≥ 0.35 gives a
glass, f ≤ 0.25 lets the crystal regrow into the melt; the 0.5 ps "small" quench leaves little time
for regrowth, and the first peak of g(r) already drops at f = 0.1. Measured (250 atoms, ZJW, small protocol;
highest 0.05 Å bin of the total g(r)): 14.4 (crystal), 10.2 (f = 0.1), 8.4 (0.25), 5.7 (0.5),
3.7-4.3 (0.75) and 3.7-4.4 (1) over three seeds: monotone up to f ≈ 0.75, then saturated within
the sample-to-sample noise (the design estimate was 8.6 -> 3.2 across the range). Energies
-5.496 (crystal) -> -5.37 eV/atom (f = 1). No imaginary modes at f = 0.5 and 1. Cost: 6-13 s per
structure on a quiet 2-core machine, 16-60 s when it is busy (one MD and one L-BFGS compilation
per call, 400 MD steps of 2 fs, 60-330 L-BFGS steps). A compact region rather than scattered
atoms: isolated disordered atoms in an intact crystal are pulled back towards lattice sites.

``info`` records the protocol, the lattice constant, composition, timings, relaxation result and
the mean coordination (neighbours within 1.25 × the mean ``r_e`` of the pair).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._config import require_x64
from ..minimize import minimize
from ..potentials.base import Potential
from ..potentials.eam import ZJW_PARAMETERS, zhou_johnson_wadley
from ..structure import Structure, make_structure
from . import partial_melt as pm
from .base import Generated, SmallestCell, check_batch, check_knob, check_n_atoms

__all__ = [
    "AL_FRACTION",
    "PROTOCOLS",
    "Protocol",
    "SPECIES",
    "b2_crystal",
    "b2_lattice_constant",
    "crystal",
    "default_potential",
    "generate",
    "generate_batch",
    "smallest_cell",
    "supercell",
]

#: Species order of the structures.
SPECIES = ("Cu", "Zr", "Al")
#: B2 CuZr lattice constant (Å) of the default potential, :func:`b2_lattice_constant` of ZJW 2004
#: (3.19072; tests/test_generate_cualzr.py checks it): with it :func:`smallest_cell` knows the
#: family's smallest cell before any energy is computed. (The minimum, 5^3 cells, holds for any
#: ``a`` in (3.062, 3.827) Å.)
A_B2_DEFAULT = 3.19072
#: Al fraction of Cu46Zr46Al8 (half of the Al on each B2 sublattice).
AL_FRACTION = 0.08
#: Neighbour-list skin (Å) for MD and relaxation.
SKIN = 0.5
#: Nearest-neighbour radius scale: pairs closer than these multiples of the mean ZJW r_e.
_R_E = np.array([ZJW_PARAMETERS[s]["r_e"] for s in SPECIES])
_R_MEAN = 0.5 * (_R_E[:, None] + _R_E[None, :])
MIN_DIST = 0.7 * _R_MEAN
PUSH_DIST = 0.85 * _R_MEAN
COORD_CUTOFFS = 1.25 * _R_MEAN


#: Anneal / quench settings (the metallic families share the class).
Protocol = pm.Protocol

PROTOCOLS = {
    # 0.3 ps at 2000 K, 0.5 ps quench (3.4e15 K/s).
    "small": Protocol(),
    # 10 ps at 2000 K, 100 ps quench (1.7e13 K/s), 1 fs steps.
    "paper": Protocol(n_hot=10000, n_quench=100000, dt_fs=1.0, gamma_per_ps=5.0),
    # The same melt, a 50 ps quench (3.4e13 K/s): 60,000 instead of 110,000 MD steps. At 250 atoms,
    # 4 seeds, knob 1: E_IS, the g(r) peak, mean ν, ⟨ν²⟩ and ν_max equal the 100 ps glass's within
    # 1.2 standard errors, but the low-ν weight still falls with the quench length (0.0254 vs 0.0238,
    # z 1.5, monotone from 5 ps on); "paper" stays the recommendation. docs/datasets.md "Protocol
    # audit"; examples/protocol_audit.py.
    "paper-half": Protocol(n_hot=10000, n_quench=50000, dt_fs=1.0, gamma_per_ps=5.0),
}


@functools.cache
def default_potential() -> Potential:
    """ZJW 2004 EAM for Cu, Zr, Al (one shared object, so jitted code can be reused)."""
    return zhou_johnson_wadley(SPECIES)


def _resolve_potential(potential: Potential | None, setfl: str | Path | None) -> Potential:
    return pm.resolve_potential(potential, setfl, SPECIES, default_potential)


def b2_crystal(a: float, n: int, al_sites: np.ndarray | None = None) -> Structure:
    """``n×n×n`` B2 CuZr cells (Cu at corners, Zr at centres); ``al_sites`` (indices) become Al."""
    grids = np.meshgrid(*[np.arange(n)] * 3, indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1).astype(float)
    basis = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    pos = ((basis[None] + shifts[:, None]) * a).reshape(-1, 3)
    sp = np.tile([0, 1], len(shifts))
    if al_sites is not None:
        sp[np.asarray(al_sites, int)] = 2
    return make_structure(pos, sp, np.full(3, n * float(a)), species_names=SPECIES)


@functools.cache
def b2_lattice_constant(potential: Potential) -> float:
    """Equilibrium lattice constant (Å) of perfect B2 CuZr: grid 2.9-3.6 Å, then parabola fits."""
    require_x64("jaxglass.generate.cualzr.b2_lattice_constant")
    n = int(np.ceil(2.0 * potential.cutoff / 2.9)) + 1
    return pm.lattice_minimum(potential, b2_crystal(1.0, n), np.linspace(2.9, 3.6, 15))


def smallest_cell(a: float | None = None, cutoff: float | None = None) -> SmallestCell:
    """The smallest cube :func:`supercell` allows for lattice constant ``a`` (Å) and ``cutoff`` (Å);
    defaults: those of the default potential (:data:`A_B2_DEFAULT`, ZJW's cutoff): 250 atoms."""
    a = A_B2_DEFAULT if a is None else float(a)
    cutoff = default_potential().cutoff if cutoff is None else float(cutoff)
    n_min = int(np.floor(2.0 * (cutoff + SKIN) / a)) + 1
    return SmallestCell(2 * n_min**3, f"the cutoff ({cutoff:.3f} Å) requires every box length above "
                                      f"{2 * (cutoff + SKIN):.2f} Å: {n_min}^3 B2 cells of {a:.4f} Å")


def supercell(n_atoms: int, a: float, cutoff: float) -> int:
    """Cells per edge ``n`` of the cube (2 n³ atoms) nearest ``n_atoms`` with box > 2 (cutoff + skin)."""
    smallest = smallest_cell(a, cutoff)
    smallest.check(n_atoms, "Cu46Zr46Al8 with this potential")
    n_min = round((smallest.n_atoms // 2) ** (1 / 3))
    cands = range(n_min, n_min + 12)
    return min(cands, key=lambda n: abs(2 * n**3 - int(n_atoms)))


def _al_sites(n_cells: int, rng: np.random.Generator) -> np.ndarray:
    n = 2 * n_cells**3
    n_al = int(round(AL_FRACTION * n))
    k_cu = n_al // 2
    k_zr = n_al - k_cu
    cu_sites = np.arange(0, n, 2)
    zr_sites = np.arange(1, n, 2)
    return np.sort(
        np.concatenate([rng.choice(cu_sites, k_cu, replace=False), rng.choice(zr_sites, k_zr, replace=False)])
    )


def mean_coordination(s: Structure) -> dict[str, float]:
    """Mean number of neighbours within :data:`COORD_CUTOFFS` (per species and overall)."""
    return pm.mean_coordination(s, COORD_CUTOFFS)


def _start(n_atoms: int, seed: int, pot: Potential) -> tuple[Structure, float, int, np.random.Generator]:
    a = b2_lattice_constant(pot)
    n_cells = supercell(check_n_atoms(n_atoms), a, pot.cutoff)
    rng = np.random.default_rng(seed)
    return b2_crystal(a, n_cells, _al_sites(n_cells, rng)), a, n_cells, rng


def crystal(
    n_atoms: int = 250,
    *,
    size: str = "small",
    seed: int = 0,
    potential: Potential | None = None,
    setfl: str | Path | None = None,
) -> Generated:
    """B2 CuZr with 8 % Al on random sites (chosen by ``seed``), relaxed at fixed box."""
    check_knob(0.0, size)
    require_x64("jaxglass.generate.cualzr.crystal")
    t0 = time.perf_counter()
    pot = _resolve_potential(potential, setfl)
    prot = PROTOCOLS[size]
    s, a, n_cells, _ = _start(n_atoms, seed, pot)
    res = minimize(pot, s, fmax=prot.fmax_tol, skin=SKIN, max_steps=prot.max_steps)
    info = {
        "generator": "cualzr.crystal",
        "seed": int(seed),
        "size": size,
        "potential": pot.name,
        "n_atoms": s.n_atoms,
        "cells": n_cells,
        "lattice_constant": a,
        "box": np.asarray(s.box).tolist(),
        "composition": pm.composition(s),
        **pm.relax_info(res, s.n_atoms, prot),
        **mean_coordination(res.structure),
        "wall_time_s": time.perf_counter() - t0,
    }
    return Generated(res.structure, pot, 0.0, {"melt_fraction": 0.0, "n_melted": 0}, info)


def generate(
    n_atoms: int = 250,
    knob: float = 0.5,
    seed: int = 0,
    *,
    size: str = "small",
    potential: Potential | None = None,
    setfl: str | Path | None = None,
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Partially melted and quenched Cu46Zr46Al8 (module docstring).

    Args:
      n_atoms: target atom count (rounded to a cube of B2 cells; at least 250 with ZJW).
      knob: melt fraction ``f`` in [0, 1].
      seed: seeds the Al sites, the region, the random fill (numpy) and the thermostat (jax).
      size: ``"small"`` or ``"paper"`` (:data:`PROTOCOLS`).
      potential, setfl: another EAM (default ZJW 2004), as a potential or a setfl file path.
      protocol: overrides the size's protocol.
      progress: called as ``progress(steps_done, n_steps)`` during the anneal-quench MD.
    """
    return generate_batch(n_atoms, [knob], [seed], size=size, potential=potential, setfl=setfl,
                          protocol=protocol, progress=progress)[0]


def generate_batch(
    n_atoms: int,
    knobs,
    seeds,
    *,
    size: str = "small",
    potential: Potential | None = None,
    setfl: str | Path | None = None,
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Generated]:
    """Several glasses of one size at once: :func:`generate` per ``(knob, seed)``, the anneal-quench MD
    of all of them stepped in one compiled program
    (:func:`~jaxglass.generate.partial_melt.melt_quench_relax_batch`); each is then relaxed on its own.
    The cell depends on ``n_atoms`` and the potential only (the Al count too), never on the knob or
    the seed, so the replicas always share it. ``info["md_batch"]`` records how many were stepped
    together."""
    knobs, seeds = check_batch(knobs, seeds, size)
    require_x64("jaxglass.generate.cualzr.generate")
    t0 = time.perf_counter()
    pot = _resolve_potential(potential, setfl)
    prot = PROTOCOLS[size] if protocol is None else protocol
    starts = [_start(n_atoms, seed, pot) for seed in seeds]
    runs = pm.melt_quench_relax_batch(pot, [st[0] for st in starts], knobs, [st[3] for st in starts], seeds,
                                      prot, MIN_DIST, PUSH_DIST, SKIN, progress)
    return [_glass(st, run, f, seed, size, pot, prot, t0)
            for st, run, f, seed in zip(starts, runs, knobs, seeds)]


def _glass(start, run, f: float, seed: int, size: str, pot: Potential, prot: Protocol,
           t0: float) -> Generated:
    """The :class:`Generated` of one glass: ``start`` from :func:`_start`, ``run`` one structure's
    result of :func:`~jaxglass.generate.partial_melt.melt_quench_relax_batch`."""
    s0, a, n_cells, _ = start
    res, n_melt, centre, radius, md_info, timings = run
    n = s0.n_atoms
    info = {
        "generator": "cualzr.generate",
        "seed": int(seed),
        "size": size,
        "potential": pot.name,
        "n_atoms": n,
        "cells": n_cells,
        "lattice_constant": a,
        "box": np.asarray(s0.box).tolist(),
        "composition": pm.composition(s0),
        **pm.melt_info(prot, centre, radius, MIN_DIST, PUSH_DIST, md_info),
        **pm.relax_info(res, n, prot),
        **mean_coordination(res.structure),
        **timings,
        "wall_time_s": time.perf_counter() - t0,
    }
    return Generated(res.structure, pot, f, {"melt_fraction": f, "n_melted": n_melt}, info)
