"""Equiatomic TiZrCuNi high-entropy-alloy (HEA) glass by partial melting of its B2 (Ti,Zr)(Cu,Ni) crystal.

Composition. Equiatomic Ti25Zr25Cu25Ni25, the four-element core of the Ti-Zr-(Hf)-Cu-Ni
high-entropy metallic glasses: Al0.5TiZrPdCuNi can be made either as a crystalline HEA or as a
metallic glass at the same composition ("Electronic transport properties of the Al0.5TiZrPdCuNi
alloy in the high-entropy alloy and metallic glass forms", Sci. Rep. 12 (2022),
doi:10.1038/s41598-022-06133-7), and Ti16.6Zr16.6Hf16.6Ni20Cu20Al10 is a metallic glass made by
equiatomic substitution ("Crystallization behaviour in a new multicomponent
Ti16.6Zr16.6Hf16.6Ni20Cu20Al10 metallic glass developed by the equiatomic substitution technique").
Why this one: it has to form a glass under the potential for the knob to reach one, and every
element must be in Table III of the potential below (Hf is not). Its atomic size mismatch is
large: δ = sqrt(Σ c_i (1 - r_i/r̄)²) = 10.3 % with the ZJW ``r_e`` (Ti 2.93, Zr 3.20, Cu 2.56,
Ni 2.49 Å), well above δ ≤ 6.6 %, the empirical bound for high-entropy solid solutions (the Ω-δ
criterion, Mater. Chem. Phys. 2012), and far above the 1.2 % of the FCC CoCuFeNi this family used
first. CoCuFeNi is no glass former: its FCC crystal regrew into any melt of f ≤ 0.5, and the knob
was a switch.

Potential: the analytic EAM of X. W. Zhou, R. A. Johnson and H. N. G. Wadley, Phys. Rev. B 69,
144113 (2004) (:func:`~jaxglass.potentials.zhou_johnson_wadley`, Ti, Zr, Cu, Ni from that paper's
Table III as in LAMMPS ``tools/eam_database``, cross pairs by its mixing rule, cutoff
√5 r_e(Zr) = 7.155 Å with a 0.5 Å C2 taper). ``potential=`` or ``setfl=`` take another EAM holding
the four elements (e.g. this one written as a setfl by :func:`~jaxglass.potentials.write_setfl`).

Crystal reference (knob = 0): B2 (CsCl) with Ti and Zr at random on the cube corners and Cu and Ni
at random on the centres (exactly N/4 of each, occupancy drawn by ``seed``): the pseudo-binary
B2 of the Ti-Zr-Hf / Co-Ni-Cu high-entropy shape-memory alloys (B2 austenite in
Cu15Ni35Hf12.5Ti25Zr12.5, S.-Y. Kuo et al., Materials 16, 3212 (2023); TiZrHfCoNiCu,
T. A. Kosorukova et al., Materials 12, 4227 (2019)), early (Ti, Zr) on one sublattice, late
(Cu, Ni) on the other as in B2 TiNi and CuZr. Lattice constant :func:`b2_lattice_constant`
(energy of a fixed 432-atom occupancy, unrelaxed, grid refined by parabolas: 3.1137 Å for ZJW);
positions relaxed at fixed box. Measured (300 atoms, ZJW, tests/test_hea.py): the B2 stays B2
(every atom within 0.1 a of its site with its 8 nearest neighbours on the other sublattice,
0 imaginary modes, highest mode 8.5 THz, -5.287 eV/atom), whereas a *random* BCC solid solution
of the same composition (a = 3.18 Å, its own energy minimum) amorphises during the relaxation
itself (first g(r) peak 26.6 -> 4.4, -5.160 eV/atom, the energy of the quenched glass); a random
FCC did the same in a scratch run. With δ = 10 % no random lattice is mechanically stable, so the
chemical order on two sublattices is what keeps this HEA crystalline. Minimum image with the cutoff
needs every box length above ``2 (r_c + skin)`` = 15.31 Å (:data:`SKIN` 0.5 Å), i.e. 5 cells, and
equal numbers of Ti and Zr need an even count of corner sites: :func:`supercell` picks the
``n×n×n``, ``n×n×(n+1)`` or ``n×(n+1)×(n+1)`` cell with an even cell count nearest ``n_atoms``: 300
(5×5×6, small), 1024 (8×8×8, paper).

Glass (knob = f, the melt fraction; :func:`jaxglass.generate.partial_melt.melt_quench_relax_batch`,
the protocol of the Cu-Zr-Al family): the ``round(f N)`` atoms nearest a random centre are put
back at random points of their ball (species kept; closest distances 0.7 × the mean ``r_e`` of the
pair), pushed apart to 0.85 × that mean, annealed at ``t_hot`` (2000 K, as Cu-Zr-Al) with the rest
of the crystal pinned, quenched linearly to 300 K by Langevin NVT (:func:`jaxglass.md.nvt_langevin`)
and all atoms relaxed with L-BFGS to ``fmax_tol``. f = 1 melts the whole cell. :data:`PROTOCOLS`:
``small`` 0.3 ps hot + 0.5 ps quench (2 fs steps, 3.4e15 K/s), ``paper`` 5 ps + 50 ps (1 fs,
3.4e13 K/s). The box stays at the crystal's volume.

Measured knob response (300 atoms, ``small`` protocol, seeds 0/1/2; highest 0.05 Å bin of the
total g(r), energy in eV/atom averaged over the seeds): crystal 12.7/12.3/12.6, -5.287;
f = 0.25 8.6/8.1/8.1, -5.244; 0.5 5.5/6.1/6.1, -5.206; 0.75 4.1/4.3/4.6, -5.167;
1 3.6/3.8/3.9, -5.162. The first peak falls monotonically with f for every seed, fast up to
f = 0.5 and then towards the glass value; the mean energy rises monotonically, but the last step
(0.005 eV/atom) is inside the seed scatter (±0.005-0.009): the 25 % of crystal left at f = 0.75 is a
shell under two cells thick, and the glass next to it is constrained by it. No regrowth: the two
mixed sublattices and the size mismatch frustrate the B2 template (CoCuFeNi's FCC regrew).
The f = 0 and f = 1 structures of seed 0 have no imaginary modes (highest modes 8.5, 10.9 THz).

``info`` records the protocol, lattice constant, composition, timings, the relaxation result and
the mean coordination (neighbours within 1.25 × the mean ``r_e`` of the pair).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .._config import require_x64
from ..errors import UserError
from ..minimize import minimize
from ..potentials.base import Potential
from ..potentials.eam import ZJW_PARAMETERS, zhou_johnson_wadley
from ..structure import Structure, make_structure
from . import partial_melt as pm
from .base import Generated, SmallestCell, check_batch, check_knob, check_n_atoms

__all__ = [
    "PROTOCOLS",
    "SPECIES",
    "SUBLATTICES",
    "b2_lattice_constant",
    "crystal",
    "default_potential",
    "generate",
    "generate_batch",
    "random_b2",
    "smallest_cell",
    "supercell",
]

#: Species order of the structures (equiatomic).
SPECIES = ("Ti", "Zr", "Cu", "Ni")
#: Species indices on the B2 cube corners and on the cube centres.
SUBLATTICES = ((0, 1), (2, 3))
#: Neighbour-list skin (Å) for MD and relaxation.
SKIN = 0.5
#: B2 lattice constant (Å) of the default potential, :func:`b2_lattice_constant` of ZJW 2004
#: (3.11339; tests/test_hea.py checks it): with it :func:`smallest_cell` knows the family's smallest
#: cell before any energy is computed (the minimum, 5x5x6 cells, holds for any ``a`` in
#: (3.062, 3.827) Å).
A_B2_DEFAULT = 3.11339
_R_E = np.array([ZJW_PARAMETERS[s]["r_e"] for s in SPECIES])
_R_MEAN = 0.5 * (_R_E[:, None] + _R_E[None, :])
MIN_DIST = 0.7 * _R_MEAN
PUSH_DIST = 0.85 * _R_MEAN
COORD_CUTOFFS = 1.25 * _R_MEAN

PROTOCOLS = {
    # 0.3 ps at 2000 K, 0.5 ps quench to 300 K (3.4e15 K/s), 2 fs steps.
    "small": pm.Protocol(t_hot=2000.0),
    # 5 ps at 2000 K, 50 ps quench (3.4e13 K/s), 1 fs steps.
    "paper": pm.Protocol(t_hot=2000.0, n_hot=5000, n_quench=50000, dt_fs=1.0, gamma_per_ps=5.0),
}


@functools.cache
def default_potential() -> Potential:
    """ZJW 2004 EAM for Ti, Zr, Cu, Ni (one shared object, so jitted code can be reused)."""
    return zhou_johnson_wadley(SPECIES)


def random_b2(a: float, reps: tuple[int, int, int], rng: np.random.Generator) -> Structure:
    """B2 ``reps`` cubic cells of side ``a`` (Å): Ti and Zr on the corners, Cu and Ni on the centres,
    each on exactly half of its sublattice (sites drawn by ``rng``); ``prod(reps)`` must be even."""
    cells = int(np.prod(reps))
    if cells % 2:
        raise UserError(f"reps: equal Ti/Zr and Cu/Ni halves need an even number of cells, got {reps}")
    grid = np.stack(np.meshgrid(*[np.arange(r) for r in reps], indexing="ij"), -1).reshape(-1, 3)
    frac = np.concatenate([grid, grid + 0.5])  # corners first, then centres
    sp = np.concatenate([rng.permutation(np.repeat(pair, cells // 2)) for pair in SUBLATTICES])
    return make_structure(frac * a, sp, np.asarray(reps, float) * a, species_names=SPECIES)


@functools.cache
def b2_lattice_constant(potential: Potential) -> float:
    """Lattice constant (Å) of the B2 alloy: a fixed 6×6×6 occupancy (seed 0), unrelaxed, energy
    minimised over a (grid 2.9-3.4 Å, then parabolas)."""
    require_x64("jaxglass.generate.hea.b2_lattice_constant")
    n = int(np.ceil(2.0 * potential.cutoff / 2.9)) + 1
    n += n % 2
    unit = random_b2(1.0, (n, n, n), np.random.default_rng(0))
    return pm.lattice_minimum(potential, unit, np.linspace(2.9, 3.4, 11))


def _cells(a: float, cutoff: float) -> list[tuple[int, int, int]]:
    """The allowed cell shapes: ``(n, n, n)``, ``(n, n, n+1)``, ``(n, n+1, n+1)`` from the fewest cells
    per edge with every box length above ``2 (cutoff + skin)``, with an even cell count."""
    n_min = int(np.floor(2.0 * (cutoff + SKIN) / a)) + 1
    cands = [(n, n + (k > 1), n + (k > 0)) for n in range(n_min, n_min + 12) for k in range(3)]
    return [r for r in cands if (r[0] * r[1] * r[2]) % 2 == 0]


def smallest_cell(a: float | None = None, cutoff: float | None = None) -> SmallestCell:
    """The smallest cell :func:`supercell` allows for lattice constant ``a`` (Å) and ``cutoff`` (Å);
    defaults: those of the default potential (:data:`A_B2_DEFAULT`, ZJW's cutoff): 300 atoms (5x5x6)."""
    a = A_B2_DEFAULT if a is None else float(a)
    cutoff = default_potential().cutoff if cutoff is None else float(cutoff)
    r = min(_cells(a, cutoff), key=lambda r: r[0] * r[1] * r[2])
    return SmallestCell(
        2 * r[0] * r[1] * r[2],
        f"the cutoff ({cutoff:.3f} Å) requires every box length above {2 * (cutoff + SKIN):.2f} Å "
        f"({r[0]} B2 cells of {a:.4f} Å) and equal Ti/Zr halves an even number of cells: "
        f"{r[0]}x{r[1]}x{r[2]}")


def supercell(n_atoms: int, a: float, cutoff: float) -> tuple[int, int, int]:
    """Cells per edge, ``(n, n, n)``, ``(n, n, n+1)`` or ``(n, n+1, n+1)``, with an even cell count,
    ``2 n_x n_y n_z`` nearest ``n_atoms`` and every box length above ``2 (cutoff + skin)``."""
    smallest_cell(a, cutoff).check(n_atoms, f"the {''.join(SPECIES)} HEA with this potential")
    return min(_cells(a, cutoff), key=lambda r: (abs(2 * r[0] * r[1] * r[2] - int(n_atoms)), r))


def mean_coordination(s: Structure) -> dict[str, float]:
    """Mean number of neighbours within :data:`COORD_CUTOFFS` (per species and overall)."""
    return pm.mean_coordination(s, COORD_CUTOFFS)


def _start(n_atoms: int, seed: int, pot: Potential):
    a = b2_lattice_constant(pot)
    reps = supercell(check_n_atoms(n_atoms), a, pot.cutoff)
    rng = np.random.default_rng(seed)
    return random_b2(a, reps, rng), a, reps, rng


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
        **pm.relax_info(res, s0.n_atoms, prot),
        **mean_coordination(res.structure),
    }


def crystal(
    n_atoms: int = 300,
    *,
    size: str = "small",
    seed: int = 0,
    potential: Potential | None = None,
    setfl: str | Path | None = None,
) -> Generated:
    """The B2 (Ti,Zr)(Cu,Ni) crystal (sublattice occupancies drawn by ``seed``), relaxed at fixed box."""
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
    n_atoms: int = 300,
    knob: float = 0.5,
    seed: int = 0,
    *,
    size: str = "small",
    potential: Potential | None = None,
    setfl: str | Path | None = None,
    protocol: pm.Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Partially melted and quenched equiatomic TiZrCuNi (module docstring).

    Args:
      n_atoms: target atom count (rounded to a box of B2 cells; at least 300 with ZJW).
      knob: melt fraction ``f`` in [0, 1] (0: the relaxed B2 crystal).
      seed: seeds the occupancy, the melt region, the random fill (numpy) and the thermostat (jax).
      size: ``"small"`` or ``"paper"`` (:data:`PROTOCOLS`).
      potential, setfl: another EAM with Ti, Zr, Cu, Ni (default ZJW 2004), object or setfl path.
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
    protocol: pm.Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Generated]:
    """Several glasses of one size at once: :func:`generate` per ``(knob, seed)``, the anneal-quench MD
    of all of them stepped in one compiled program
    (:func:`~jaxglass.generate.partial_melt.melt_quench_relax_batch`); each is then relaxed on its own.
    The cell depends on ``n_atoms`` and the potential only (the composition is fixed), never on the
    knob or the seed, so the replicas always share it. ``info["md_batch"]`` records how many were
    stepped together."""
    knobs, seeds = check_batch(knobs, seeds, size)
    require_x64("jaxglass.generate.hea.generate")
    t0 = time.perf_counter()
    pot = pm.resolve_potential(potential, setfl, SPECIES, default_potential)
    prot = PROTOCOLS[size] if protocol is None else protocol
    starts = [_start(n_atoms, seed, pot) for seed in seeds]
    runs = pm.melt_quench_relax_batch(pot, [st[0] for st in starts], knobs, [st[3] for st in starts], seeds,
                                      prot, MIN_DIST, PUSH_DIST, SKIN, progress)
    out = []
    for (s0, a, reps, _), (res, n_melt, centre, radius, md_info, timings), f, seed in zip(starts, runs, knobs,
                                                                                          seeds):
        info = _info("generate", seed, size, pot, s0, a, reps, res, prot)
        info.update(**pm.melt_info(prot, centre, radius, MIN_DIST, PUSH_DIST, md_info), **timings,
                    wall_time_s=time.perf_counter() - t0)
        out.append(Generated(res.structure, pot, f, {"melt_fraction": f, "n_melted": n_melt}, info))
    return out
