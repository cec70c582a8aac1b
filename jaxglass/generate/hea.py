"""Equiatomic CoCuFeNi high-entropy-alloy (HEA) glass by partial melting of its random FCC solid solution.

Composition. Equiatomic Co25Cu25Fe25Ni25, the quaternary FCC HEA of the 3d transition metals
(FeCoCuNi is the x = 0 alloy of L. Liu, J. B. Zhu, C. Zhang, J. C. Li and Q. Jiang, Mater. Sci.
Eng. A 548, 64 (2012), a single FCC solid solution; it is the Cantor alloy's FCC family
CoCrFeMnNi / CoCrCuFeNi with Cu for Cr, Mn). Why this one: all four elements are in Table III
of the potential below (Cr and Mn are not, so CoCrFeNi or the Cantor alloy are out of reach
without mixing in a later, differently fitted parameter set), and the four are close in size
(ZJW ``r_e`` 2.48-2.56 Å, atomic size mismatch δ ≈ 1.2 %), so the random FCC lattice is a
natural crystal reference for the knob. Masses 55.8-63.5 amu are also close, so the partial
densities of states differ through the force constants rather than the masses; the neutron
weights do differ strongly (b_coh: Co 2.49, Cu 7.72, Fe 9.45, Ni 10.3 fm).

Potential: the analytic EAM of X. W. Zhou, R. A. Johnson and H. N. G. Wadley, Phys. Rev. B 69,
144113 (2004) (:func:`~jaxglass.potentials.zhou_johnson_wadley`, Co, Cu, Fe, Ni from that
paper's Table III, cross pairs by its mixing rule, cutoff √5 r_e(Cu) = 5.716 Å with a 0.5 Å C2
taper), the potential most MD studies of HEAs of these elements use (through LAMMPS's
``tools/eam_database``). ``potential=`` or ``setfl=`` take another EAM holding the four elements
(e.g. this one written as a setfl by :func:`~jaxglass.potentials.write_setfl`).

Crystal reference (knob = 0). FCC at the potential's lattice constant for the random alloy,
:func:`fcc_lattice_constant` (energy of a fixed 500-atom random occupancy, unrelaxed, on a
grid refined by parabolas: 3.5704 Å for ZJW), each site given one of the four species at random
(``seed``; exactly N/4 of each), positions relaxed at fixed box. Minimum image with the cutoff
needs every box length above ``2 (r_c + skin)`` = 12.43 Å (:data:`SKIN` 0.5 Å): the smallest
cell is 4×4×4 conventional cells (256 atoms, 14.2 Å). :func:`supercell` picks the
``n×n×n``, ``n×n×(n+1)`` or ``n×(n+1)×(n+1)`` cell nearest ``n_atoms``: 256 (small), 1008
(6×6×7, paper).

Glass (knob = f, the melt fraction; :func:`jaxglass.generate.partial_melt.melt_quench_relax`,
the protocol of the Cu-Zr-Al family): the ``round(f N)`` atoms nearest a random centre are
put back at random points of their ball (species kept; closest distances 0.7 × the mean ``r_e``
of the pair), pushed apart to 0.85 × that mean, annealed at ``t_hot`` (2500 K, above the melting
range of the alloy) with the rest of the crystal pinned, quenched linearly to 300 K by Langevin
NVT (:func:`jaxglass.md.nvt_langevin`), and all atoms relaxed with L-BFGS to ``fmax_tol``.
f = 1 melts the whole cell. :data:`PROTOCOLS`: ``small`` 0.3 ps hot + 0.5 ps quench (2 fs steps,
4.4e15 K/s), ``paper`` 5 ps + 50 ps (1 fs, 4.4e13 K/s). The box stays at the crystal's volume.

Measured knob response (256 atoms, seed 3, ``small`` protocol; highest 0.05 Å bin of the total
g(r), energy in eV/atom): crystal 26.8, -4.140; f = 0.25 26.8, -4.140; f = 0.5 27.4, -4.140;
f = 0.75 20.7, -4.121; f = 1 5.5, -4.041 (no imaginary modes; highest mode 11.9 THz). The melt
*regrows* the crystal for f ≤ 0.5: the remaining FCC lattice templates it, and not only during the
quench: L-BFGS alone from the random fill (no MD) takes f = 0.5 back to 20.4, -4.119, and even a
relaxed f = 1 glass with half of it replaced by crystal relaxes to the crystal (28.6, -4.139).
The same happens with CoCuFeNiPd (δ ≈ 3.9 %) and AlCoCuFeNi (δ ≈ 5.6 %) in ZJW (energies within
0.03 eV/atom of the crystal up to f = 0.75, a glass only at f = 1). With the ``small`` protocol the
knob is therefore close to a switch: crystal-like up to f ≈ 0.5, partly ordered near 0.75, a glass
at 1. (The Cu-Zr-Al family's B2 reference does not regrow: Al and the Cu/Zr size ratio frustrate it.)

Cost (one process, JIT included, 2-core machine shared with other jobs): a small f = 1 glass
30 s at load 2.6, 56 s at load 8; the paper f = 1 glass (1,008 atoms, 55,000 MD steps of ~14 ms
CPU) 1,954 s at load 7-9. It stayed a glass at 4.4e13 K/s (first peak 5.7, -4.056 eV/atom, no
imaginary modes).

``info`` records the protocol, lattice constant, composition, timings, the relaxation result and
the mean coordination (neighbours within 1.25 × the mean ``r_e`` of the pair, between the first
(2.5 Å) and second (3.56 Å) FCC shells).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path

import numpy as np

from .._config import require_x64
from ..errors import UserError
from ..minimize import minimize
from ..potentials.base import Potential
from ..potentials.eam import ZJW_PARAMETERS, zhou_johnson_wadley
from ..structure import Structure, make_structure
from . import partial_melt as pm
from .base import Generated, check_knob, check_n_atoms
from .lattices import fcc

__all__ = [
    "PROTOCOLS",
    "SPECIES",
    "crystal",
    "default_potential",
    "fcc_lattice_constant",
    "generate",
    "random_fcc",
    "supercell",
]

#: Species order of the structures (equiatomic).
SPECIES = ("Co", "Cu", "Fe", "Ni")
#: Neighbour-list skin (Å) for MD and relaxation.
SKIN = 0.5
_R_E = np.array([ZJW_PARAMETERS[s]["r_e"] for s in SPECIES])
_R_MEAN = 0.5 * (_R_E[:, None] + _R_E[None, :])
MIN_DIST = 0.7 * _R_MEAN
PUSH_DIST = 0.85 * _R_MEAN
COORD_CUTOFFS = 1.25 * _R_MEAN

PROTOCOLS = {
    # 0.3 ps at 2500 K, 0.5 ps quench to 300 K (4.4e15 K/s), 2 fs steps.
    "small": pm.Protocol(t_hot=2500.0),
    # 5 ps at 2500 K, 50 ps quench (4.4e13 K/s), 1 fs steps.
    "paper": pm.Protocol(t_hot=2500.0, n_hot=5000, n_quench=50000, dt_fs=1.0, gamma_per_ps=5.0),
}


@functools.cache
def default_potential() -> Potential:
    """ZJW 2004 EAM for Co, Cu, Fe, Ni (one shared object, so jitted code can be reused)."""
    return zhou_johnson_wadley(SPECIES)


def random_fcc(a: float, reps: tuple[int, int, int], rng: np.random.Generator) -> Structure:
    """FCC ``reps`` conventional cells of side ``a`` (Å), each species on exactly a quarter of the
    sites, the sites of each species drawn by ``rng``."""
    lat = fcc(a, reps)
    n = lat.n_atoms
    sp = rng.permutation(np.repeat(np.arange(len(SPECIES)), n // len(SPECIES)))
    return make_structure(np.asarray(lat.positions), sp, np.asarray(lat.box), species_names=SPECIES)


@functools.cache
def fcc_lattice_constant(potential: Potential) -> float:
    """Lattice constant (Å) of the random FCC alloy: a fixed 5×5×5 random occupancy (seed 0),
    unrelaxed, energy minimised over a (grid 3.3-3.9 Å, then parabolas)."""
    require_x64("jaxglass.generate.hea.fcc_lattice_constant")
    n = int(np.ceil(2.0 * potential.cutoff / 3.3)) + 1
    unit = random_fcc(1.0, (n, n, n), np.random.default_rng(0))
    return pm.lattice_minimum(potential, unit, np.linspace(3.3, 3.9, 13))


def supercell(n_atoms: int, a: float, cutoff: float) -> tuple[int, int, int]:
    """Cells per edge, ``(n, n, n)``, ``(n, n, n+1)`` or ``(n, n+1, n+1)``, with ``4 n_x n_y n_z``
    nearest ``n_atoms`` and every box length above ``2 (cutoff + skin)``."""
    n_min = int(np.floor(2.0 * (cutoff + SKIN) / a)) + 1
    if int(n_atoms) < 4 * n_min**3:
        raise UserError(
            f"n_atoms: the {''.join(SPECIES)} HEA with this potential needs at least {4 * n_min**3} "
            f"atoms: the cutoff ({cutoff:.3f} Å) requires every box length above "
            f"{2 * (cutoff + SKIN):.2f} Å ({n_min}^3 FCC cells of {a:.4f} Å), got n_atoms={n_atoms}"
        )
    cands = [(n, n + (k > 1), n + (k > 0)) for n in range(n_min, n_min + 12) for k in range(3)]
    return min(cands, key=lambda r: (abs(4 * r[0] * r[1] * r[2] - int(n_atoms)), r))


def mean_coordination(s: Structure) -> dict[str, float]:
    """Mean number of neighbours within :data:`COORD_CUTOFFS` (per species and overall)."""
    return pm.mean_coordination(s, COORD_CUTOFFS)


def _start(n_atoms: int, seed: int, pot: Potential):
    a = fcc_lattice_constant(pot)
    reps = supercell(check_n_atoms(n_atoms), a, pot.cutoff)
    rng = np.random.default_rng(seed)
    return random_fcc(a, reps, rng), a, reps, rng


def _info(name: str, seed: int, size: str, pot: Potential, s0: Structure, a: float, reps, res, prot) -> dict:
    return {
        "generator": f"hea.{name}",
        "seed": int(seed),
        "size": size,
        "potential": pot.name,
        "n_atoms": s0.n_atoms,
        "cells": list(reps),
        "lattice_constant": a,
        "box": np.asarray(s0.box).tolist(),
        "composition": pm.composition(s0),
        "energy_per_atom": res.energy / s0.n_atoms,
        "fmax": res.fmax,
        "fmax_tol": prot.fmax_tol,
        "converged": res.converged,
        "relax_steps": res.n_steps,
        **mean_coordination(res.structure),
    }


def crystal(
    n_atoms: int = 256,
    *,
    size: str = "small",
    seed: int = 0,
    potential: Potential | None = None,
    setfl: str | Path | None = None,
) -> Generated:
    """The random FCC CoCuFeNi solid solution (occupancy drawn by ``seed``), relaxed at fixed box."""
    check_knob(0.0, size)
    require_x64("jaxglass.generate.hea.crystal")
    t0 = time.perf_counter()
    pot = pm.resolve_potential(potential, setfl, SPECIES, default_potential)
    prot = PROTOCOLS[size]
    s, a, reps, _ = _start(n_atoms, seed, pot)
    res = minimize(pot, s, fmax=prot.fmax_tol, skin=SKIN, max_steps=prot.max_steps)
    info = _info("crystal", seed, size, pot, s, a, reps, res, prot)
    info["wall_time_s"] = time.perf_counter() - t0
    return Generated(res.structure, pot, 0.0, {"melt_fraction": 0.0, "n_melted": 0}, info)


def generate(
    n_atoms: int = 256,
    knob: float = 0.5,
    seed: int = 0,
    *,
    size: str = "small",
    potential: Potential | None = None,
    setfl: str | Path | None = None,
    protocol: pm.Protocol | None = None,
) -> Generated:
    """Partially melted and quenched equiatomic CoCuFeNi (module docstring).

    Args:
      n_atoms: target atom count (rounded to a box of FCC cells; at least 256 with ZJW).
      knob: melt fraction ``f`` in [0, 1] (0: the relaxed random FCC crystal).
      seed: seeds the occupancy, the melt region, the random fill (numpy) and the thermostat (jax).
      size: ``"small"`` or ``"paper"`` (:data:`PROTOCOLS`).
      potential, setfl: another EAM with Co, Cu, Fe, Ni (default ZJW 2004), object or setfl path.
      protocol: overrides the size's protocol.
    """
    check_knob(knob, size)
    require_x64("jaxglass.generate.hea.generate")
    t0 = time.perf_counter()
    pot = pm.resolve_potential(potential, setfl, SPECIES, default_potential)
    prot = PROTOCOLS[size] if protocol is None else protocol
    s0, a, reps, rng = _start(n_atoms, seed, pot)
    f = float(knob)
    res, n_melt, centre, radius, md_info, timings = pm.melt_quench_relax(
        pot, s0, f, rng, seed, prot, MIN_DIST, PUSH_DIST, SKIN
    )
    info = _info("generate", seed, size, pot, s0, a, reps, res, prot)
    info.update(
        protocol=dataclasses.asdict(prot),
        quench_rate_K_per_s=pm.quench_rate(prot),
        melt_centre=centre.tolist(),
        melt_radius=radius,
        relax_message=res.message,
        **md_info,
        **timings,
        wall_time_s=time.perf_counter() - t0,
    )
    return Generated(res.structure, pot, f, {"melt_fraction": f, "n_melted": n_melt}, info)
