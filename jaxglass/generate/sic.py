"""Amorphous silicon carbide (a-SiC) by partial melting of 3C-SiC.

Potential for the spectra: Vashishta et al. 2007 (:func:`~jaxglass.potentials.vashishta_sic_2007`,
J. Appl. Phys. 101, 103515), which is the one fitted to SiC phonons (Tersoff-1989
a-SiC has spurious modes up to 190 THz). It is also used for the anneal: with this package's
implementations a Vashishta force call on the 400-atom cell costs about a third of a Tersoff-1989
one (the 7.35 Å two-body part is a cheap pair term; the three-body part has a 2.9 Å list), so
"fast MD with the short-ranged Tersoff potential" would be slower here, and annealing with the
potential that relaxes and vibrates the structure avoids Tersoff's bonds parked at its cutoff.

Cell. Minimum image with the 7.35 Å Vashishta cutoff needs every box length above 14.7 Å, plus
twice the neighbour-list skin (0.3 Å here, :data:`SKIN`). The smallest such cell is not the
4×4×4 cube (512 atoms, 17.43 Å) but the tetragonal cell spanned by ``a/2 [110]``, ``a/2 [-110]``
and ``a [001]`` (4 atoms, ``a/√2 × a/√2 × a``) repeated 5×5×4: 400 atoms in
15.41 × 15.41 × 17.43 Å (the crystal's x, y axes along [110], [-110]). :func:`supercell` picks,
among such tetragonal cells ``(n, n, round(n/√2))`` and the cubes ``(n, n, n)``, the one whose atom
count is nearest ``n_atoms`` (400, 512, 576, 980, 1000, 1728, ...); fewer than 400 atoms is
refused with a ``ValueError``.

Protocol (:class:`Protocol`; ``size="small"`` and ``"paper"`` settings in :data:`PROTOCOLS`):

1. 3C-SiC at the Vashishta lattice constant ``a = 4.35817`` Å (LAMMPS with ``SiC.vashishta``).
2. Partial melt (:mod:`jaxglass.generate.partial_melt`): the ``round(f N)`` atoms nearest a random
   centre (a compact, ball-shaped region of volume ≈ f V) are removed and put back, species kept,
   at random points of the same region (random sequential addition, closest distances
   :data:`MIN_DIST`), then pushed apart (:func:`~jaxglass.generate.partial_melt.push_apart`, a
   cheap numpy soft-sphere step, mobile atoms only) to Si-Si 2.2, Si-C 1.7, C-C 2.3 Å
   (:data:`PUSH_DIST`), where the Vashishta pair forces are moderate: an "infinitely hot" liquid
   at the crystal's density.
3. NVT Langevin anneal of the region at ``t_hot`` with every other atom pinned
   (:func:`jaxglass.md.nvt_langevin`), then a linear quench to ``t_end``; with ``md_tables`` (the
   default) the MD steps the two-body term on r² tables (:func:`jaxglass.potentials.vashishta.for_md`).
4. L-BFGS relaxation of all atoms (fixed box) with Vashishta 2007 to ``fmax_tol``.

Regrowth. The melted region sits in a template of pinned crystal, and Vashishta SiC at the
crystal's density regrows that template fast: at 1,000 atoms, knob 0.5 (seeds 3, 4), the share of
melted atoms left farther than 0.3 Å from every site of the starting crystal after relaxation
(``info["off_site_fraction"]`` × N / n_melted) is 0.45-0.58 after 0.1 ps at 3000 K and a 0.3 ps
quench, 0.16-0.35 after a 1 ps quench and 0.13-0.42 after 2 ps; with the 2 ps anneal and 10 ps
quench of ``"paper-slow"`` 7 of 13 glasses relaxed to the crystal itself (energy equal to 1e-11
eV/atom). Annealing hotter does not help (400 atoms, 1 ps at 4000 or 5000 K: 0.17-0.3 left). So
``"paper"`` (:data:`PROTOCOLS`) quenches as fast as ``"small"`` does (0.1 ps at 3000 K, then 0.3 ps
instead of 0.2 ps down to 300 K); the ~2 Å shell at the template that ends on lattice sites even
then is the crystal-amorphous interface.

Knob: melt fraction ``f = knob`` (0: the relaxed crystal; 1: the whole cell melted and quenched).
A compact region was chosen over randomly scattered atoms: isolated disordered atoms inside an
intact crystal are pulled back towards lattice sites by the surrounding crystal, so the response
of g(r) to f would be weak and non-linear, while a melted ball is an amorphous inclusion whose
share of the cell grows linearly with f. Measured (seed 0, 400 atoms, small protocol; highest
0.05 Å bin of the total g(r)): first peak 20.9 (f = 0), 19.2 (0.1), 16.9 (0.25), 14.9 (0.5),
8.2 (0.75), 8.0 (1); energy -6.340 -> -5.81 eV/atom; no imaginary modes at f = 0.5 and 1; the
f = 1 glass has its highest mode at 37 THz. Cost: 25-100 s per structure on a busy 2-core
machine (one MD and one L-BFGS compilation per call, ~300 MD steps, 300-600 L-BFGS steps).

``info`` records the protocol, timings, the relaxation result and bond statistics from
:func:`~jaxglass.generate.partial_melt.bond_statistics` with the bond cutoffs
:data:`BOND_CUTOFFS` (Si-Si 2.6, Si-C 2.3, C-C 1.85 Å): heteronuclear bond fraction (1 in the
crystal; the design estimate for Tersoff-quenched a-SiC was 0.51-0.57, Vashishta glasses stay far more
chemically ordered because its Si-Si and C-C pairs are repulsive), mean coordination per species
and coordination histograms.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable

import numpy as np

from .._config import require_x64
from ..minimize import minimize
from ..potentials.base import Potential
from ..potentials.vashishta import vashishta_sic_2007
from ..structure import Structure, make_structure
from . import partial_melt as pm
from .base import Generated, SmallestCell, check_batch, check_knob, check_n_atoms

__all__ = [
    "A_VASHISHTA",
    "BOND_CUTOFFS",
    "MIN_DIST",
    "PROTOCOLS",
    "Protocol",
    "crystal",
    "generate",
    "generate_batch",
    "potential",
    "smallest_cell",
    "supercell",
]

#: 3C-SiC lattice constant (Å) of Vashishta 2007 (LAMMPS with ``SiC.vashishta``).
A_VASHISHTA = 4.35817
#: Neighbour-list skin (Å) for MD and relaxation: 2 (7.35 + 0.3) Å < 15.41 Å (the 400-atom cell).
SKIN = 0.3
#: Species order of the structures (and of the potential).
SPECIES = ("Si", "C")
#: Closest distances (Å) of the random fill, [Si, C] x [Si, C].
MIN_DIST = np.array([[1.5, 1.2], [1.2, 1.3]])
#: Distances (Å) the soft push-off then opens every pair to: Vashishta pair forces there are at
#: most ~8 eV/Å (the C-C pair is purely repulsive: 85 eV at 1.3 Å), so MD can start.
PUSH_DIST = np.array([[2.2, 1.7], [1.7, 2.3]])
#: Bond cutoffs (Å) for the statistics in ``info``, [Si, C] x [Si, C]. Si-C 2.3: in the empty gap
#: (2.1-2.4 Å) between the Si-C bond peak (1.7-2.1) and the second shell of Vashishta a-SiC;
#: C-C 1.85 = 1.2 × the diamond bond; Si-Si 2.6 = 1.1 × the silicon bond. (The Vashishta C-C
#: and Si-Si pairs are purely repulsive: its a-SiC has no C-C pair below 2.5 Å and no Si-Si bond
#: peak, so the heteronuclear fraction stays high; Tersoff-1989 glasses give 0.51-0.57.)
BOND_CUTOFFS = np.array([[2.6, 2.3], [2.3, 1.85]])


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Anneal / quench settings. Temperatures in K, ``dt`` in fs, ``gamma`` in 1/ps.

    The strong Langevin friction (100/ps, a 10 fs damping time) carries off the ~4.5 eV/atom the
    random fill holds above the crystal (mostly Coulomb energy of like charges next to each other)
    before it can heat the region past what 1 fs steps integrate; it leaves the sampled
    distribution canonical. ``chunk``: MD steps per jitted call (between host checks; the neighbour
    lists are rebuilt on the device as needed, so it does not change the trajectory).
    """

    t_hot: float = 3000.0
    n_hot: int = 100
    t_end: float = 300.0
    n_quench: int = 200
    dt_fs: float = 1.0
    gamma_per_ps: float = 100.0
    fmax_tol: float = 1e-4
    max_steps: int = 5000
    chunk: int = 50
    #: MD with the Vashishta two-body term on r² tables (:func:`jaxglass.potentials.vashishta.for_md`:
    #: forces within ~1e-5 eV/Å, the two-body force ~3× cheaper); relaxation and Hessian stay analytic
    md_tables: bool = True


PROTOCOLS = {
    # 0.3 ps: 0.1 ps at 3000 K, quench at 1.35e16 K/s.
    "small": Protocol(),
    # 0.1 ps at 3000 K, 0.3 ps quench (9e15 K/s), 0.5 fs steps: the slowest measured setting whose
    # melted region stays amorphous at 1,000 atoms (module docstring, "Regrowth").
    "paper": Protocol(n_hot=200, n_quench=600, dt_fs=0.5),
    # 2 ps at 3000 K, 10 ps quench (2.7e14 K/s), 0.5 fs steps: the paper protocol until 2026-12-07.
    # Only for knob 1 (the whole cell melted): any smaller melt regrows the crystal epitaxially.
    "paper-slow": Protocol(n_hot=4000, n_quench=20000, dt_fs=0.5),
}


@functools.cache
def potential() -> Potential:
    """The Vashishta 2007 Si-C potential (one shared object, so jitted code can be reused)."""
    return vashishta_sic_2007(SPECIES)


def _tetragonal_cell(a: float) -> tuple[np.ndarray, np.ndarray]:
    """4-atom cell a/√2 × a/√2 × a of zincblende, x ∥ [110], y ∥ [-110]: (frac positions, cell)."""
    frac = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, 0.0, 0.25], [0.0, 0.5, 0.75]])
    return frac, np.array([a / np.sqrt(2.0), a / np.sqrt(2.0), a])


def _cells(a: float) -> list[tuple[str, tuple[int, int, int], int, np.ndarray]]:
    out = []
    for n in range(2, 13):
        m = int(round(n / np.sqrt(2.0)))
        box = np.array([n, n, m]) * _tetragonal_cell(a)[1]
        out.append(("tetragonal", (n, n, m), 4 * n * n * m, box))
        out.append(("cubic", (n, n, n), 8 * n**3, np.full(3, n * a)))
    cut = 2.0 * (potential().cutoff + SKIN)
    return sorted([c for c in out if np.all(c[3] > cut)], key=lambda c: c[2])


def smallest_cell(a: float = A_VASHISHTA) -> SmallestCell:
    """The smallest cell :func:`supercell` allows (400 atoms at the Vashishta lattice constant)."""
    kind, reps, n, _ = _cells(a)[0]
    cut = potential().cutoff
    return SmallestCell(n, f"the Vashishta cutoff ({cut} Å) requires every box length above "
                           f"{2 * (cut + SKIN):.2f} Å: the {kind} {reps[0]}x{reps[1]}x{reps[2]} cell")


def supercell(n_atoms: int, a: float = A_VASHISHTA) -> tuple[str, tuple[int, int, int]]:
    """The allowed cell (``"tetragonal"`` or ``"cubic"``, reps) whose atom count is nearest ``n_atoms``;
    below :func:`smallest_cell` a ``ValueError``."""
    smallest_cell(a).check(n_atoms, "a-SiC")
    best = min(_cells(a), key=lambda c: (abs(c[2] - int(n_atoms)), c[0] != "cubic"))
    return best[0], best[1]


def _build(n_atoms: int) -> tuple[Structure, str, tuple[int, int, int]]:
    kind, reps = supercell(n_atoms)
    a = A_VASHISHTA
    if kind == "cubic":
        fcc_b = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
        frac = np.concatenate([fcc_b, fcc_b + 0.25])
        cell = np.full(3, a)
        sp = np.array([0] * 4 + [1] * 4)
    else:
        frac, cell = _tetragonal_cell(a)
        sp = np.array([0, 0, 1, 1])
    grids = np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1)
    pos = ((frac[None] + shifts[:, None]) * cell).reshape(-1, 3)
    species = np.tile(sp, len(shifts))
    box = cell * np.asarray(reps)
    return make_structure(pos, species, box, species_names=SPECIES), kind, reps


def crystal(n_atoms: int = 400, *, size: str = "small") -> Generated:
    """3C-SiC at the Vashishta lattice constant in the cell :func:`supercell` picks (a minimum)."""
    check_knob(0.0, size)
    t0 = time.perf_counter()
    s, kind, reps = _build(check_n_atoms(n_atoms))
    prot = PROTOCOLS[size]
    res = minimize(potential(), s, fmax=prot.fmax_tol, skin=SKIN, max_steps=prot.max_steps)
    info = {
        "generator": "sic.crystal",
        "size": size,
        "n_atoms": s.n_atoms,
        "cell": kind,
        "reps": reps,
        "box": np.asarray(s.box).tolist(),
        "lattice_constant": A_VASHISHTA,
        **pm.relax_info(res, s.n_atoms, prot),
        "bond_cutoffs": BOND_CUTOFFS.tolist(),
        **pm.bond_statistics(res.structure, BOND_CUTOFFS),
        "wall_time_s": time.perf_counter() - t0,
    }
    return Generated(res.structure, potential(), 0.0, {"melt_fraction": 0.0, "n_melted": 0}, info)


def generate(
    n_atoms: int = 400,
    knob: float = 0.5,
    seed: int = 0,
    *,
    size: str = "small",
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """Partially melted and quenched 3C-SiC, relaxed with Vashishta 2007 (module docstring).

    Args:
      n_atoms: target atom count (rounded to an allowed cell; at least 400).
      knob: melt fraction ``f`` in [0, 1].
      seed: seeds the region, the random fill (numpy) and the thermostat (jax).
      size: ``"small"`` or ``"paper"`` (:data:`PROTOCOLS`).
      protocol: overrides the size's protocol.
      progress: called as ``progress(steps_done, n_steps)`` during the anneal-quench MD.
    """
    return generate_batch(n_atoms, [knob], [seed], size=size, protocol=protocol, progress=progress)[0]


def generate_batch(
    n_atoms: int,
    knobs,
    seeds,
    *,
    size: str = "small",
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Generated]:
    """Several glasses of one size at once: :func:`generate` per ``(knob, seed)``, the anneal-quench MD
    of all of them stepped in one compiled program
    (:func:`~jaxglass.generate.partial_melt.melt_quench_relax_batch`); each is then relaxed on its own.
    The cell depends on ``n_atoms`` only, never on the knob or the seed, so the replicas always share
    it. ``info["md_batch"]`` records how many were stepped together."""
    knobs, seeds = check_batch(knobs, seeds, size)
    require_x64("jaxglass.generate.sic.generate")
    n_atoms = check_n_atoms(n_atoms)
    t0 = time.perf_counter()
    prot = PROTOCOLS[size] if protocol is None else protocol
    s0, kind, reps = _build(n_atoms)
    runs = pm.melt_quench_relax_batch(potential(), [s0] * len(seeds), knobs,
                                      [np.random.default_rng(seed) for seed in seeds], seeds, prot, MIN_DIST,
                                      PUSH_DIST, SKIN, progress)
    return [_glass(s0, kind, reps, run, f, seed, size, prot, t0) for run, f, seed in zip(runs, knobs, seeds)]


def _glass(s0: Structure, kind: str, reps, run, f: float, seed: int, size: str, prot: Protocol,
           t0: float) -> Generated:
    """The :class:`Generated` of one glass: ``run`` one structure's result of
    :func:`~jaxglass.generate.partial_melt.melt_quench_relax_batch`."""
    res, n_melt, centre, radius, md_info, timings = run
    n = s0.n_atoms
    info = {
        "generator": "sic.generate",
        "seed": int(seed),
        "size": size,
        "n_atoms": n,
        "cell": kind,
        "reps": reps,
        "box": np.asarray(s0.box).tolist(),
        "lattice_constant": A_VASHISHTA,
        **pm.melt_info(prot, centre, radius, MIN_DIST, PUSH_DIST, md_info),
        **pm.relax_info(res, n, prot),
        "bond_cutoffs": BOND_CUTOFFS.tolist(),
        **pm.bond_statistics(res.structure, BOND_CUTOFFS),
        "off_site_fraction": pm.off_site_fraction(res.structure, s0),
        **timings,
        "wall_time_s": time.perf_counter() - t0,
    }
    return Generated(res.structure, potential(), f, {"melt_fraction": f, "n_melted": n_melt}, info)
