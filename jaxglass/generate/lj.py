"""Kob-Andersen Lennard-Jones glasses in 2D (A65B35) and 3D (A80B20) by partial melting.

Potential: :func:`~jaxglass.potentials.kob_andersen` (Kob & Andersen, PRL 73, 1376 (1994);
2D composition A65B35 after Brüning et al., J. Phys.: Condens. Matter 21, 035117 (2009)),
reduced units (σ_AA, ε_AA, m = 1), number density ρ = 1.2, cutoff 2.5 σ_αβ smoothed to second
order. One potential object is shared by all calls (:func:`potential`).

Families
--------
Two families live here, for the registry (:func:`jaxglass.families.generator`):

* ``LJ2D = SimpleNamespace(name="lj2d", dim=2, generate=generate_2d, crystal=crystal_2d)``
* ``LJ3D = SimpleNamespace(name="lj3d", dim=3, generate=generate_3d, crystal=crystal_3d)``

with the contract signatures ``generate(n_atoms, knob, seed, *, size="small")`` and
``crystal(n_atoms, *, size="small")`` (:mod:`jaxglass.generate.base`).

Cells
-----
Crystalline references of A particles at ρ = 1.2 (:func:`crystal_2d`, :func:`crystal_3d`):

* 2D: triangular lattice, ``a = (2 / (√3 ρ))^½ = 0.9806``, in ``nx × ny`` rectangular 2-atom cells
  (``a × a√3``), ``N = 2 nx ny``. :func:`reps_2d` picks the count nearest ``n_atoms`` among cells
  with box aspect ratio in [0.75, 1.35] (256 -> 16 × 8, 15.69 × 13.59 σ; 1024 -> 32 × 16).
* 3D: fcc, ``a = (4 / ρ)^⅓ = 1.4938``, ``n³`` cubes, ``N = 4 n³`` with the ``n`` nearest
  ``(n_atoms / 4)^⅓`` (256 -> 4³; 1000 -> 864 = 4·6³).

Minimum image with the MD neighbour list needs every box length above ``2 (2.5 + skin)`` with the
skin :data:`SKIN` = 0.45 σ: 3D needs ``n >= 4`` (256 atoms), 2D ``nx >= 7, ny >= 4`` (56 atoms)
(:func:`smallest_cell`); smaller ``n_atoms`` raise ``ValueError``. The glasses use the same cell as
the crystal, so one size has one shape for every knob value.

Protocol (:class:`Protocol`, settings per size in :data:`PROTOCOLS`)
----------------------------------------------------------------------
1. Start from the A crystal.
2. Partial melt: a slab holding ``k = round(f N)`` atoms, the ``k`` atoms with the smallest
   ``(x - x0) mod L_x`` from a random plane ``x0`` (a random subset of the last lattice plane, so
   ``k`` is exact), is given the standard composition: ``round(x_B k)`` of its atoms, chosen at
   random, become B (``x_B`` = 0.35 in 2D, 0.20 in 3D). The rest of the crystal stays pure A and
   pinned.
3. NVT Langevin (:func:`jaxglass.md.nvt_langevin`, jax-md BAOAB): ``n_melt`` steps at
   ``kT_melt = 2.0`` (the slab melts: a fully melted cell at the end of this stage has a first
   peak of 2.1 (3D) / 2.7 (2D), a liquid), then a linear quench to ``kT_end = 0.05`` over ``n_quench`` steps;
   ``dt = 0.005``, friction ``gamma = 1``; pinned atoms never move.
4. Relaxation of all atoms at fixed box: L-BFGS (:func:`jaxglass.minimize.minimize`) to
   ``fmax = 1e-4``, then FIRE with ``fire_dt = 0.0015`` to ``fmax_tol = 1e-6`` (ε/σ). The second
   stage is there because :func:`~jaxglass.minimize.minimize`'s own FIRE polish uses
   ``dt_max = 0.05``, above the Verlet stability limit ``2 / ω_max`` of these glasses (ω_max ≈ 71
   in 2D, 46 in 3D at ρ = 1.2): when L-BFGS stalled at round-off near 1e-6 the polish drove fmax
   *up* to 1e-2 -- 2e-1 over 20,000 steps. FIRE with ``dt_max = 10 fire_dt = 0.015`` is stable.

Knob: the melt fraction ``f = knob`` (0: the relaxed crystal, no MD; 1: the whole cell melted
and quenched at the standard composition -- the standard KA glass). The overall B fraction is
``x_B = f x_B,std``, so the knob is at once the melt fraction and the composition scaled
from pure A to the standard mixture.

Why this knob (measured on 256-atom cells)
------------------------------------------
First-peak heights of the total g(r) (numpy histogram of all pair distances, bins 0.05 σ, exact
shell areas/volumes). Two candidate knobs were compared first with a 1000 + 2000-step protocol
(seed 1): the partial melt and a full melt-quench at scaled composition ("x_B knob": random start
with ``x_B = knob x_B,std``, minimised, 1000 steps at kT = 2, quench over 2000 steps):

=============================  =====  =====  =====  =====  =====
knob                           0.0    0.25   0.5    0.75   1.0
=============================  =====  =====  =====  =====  =====
3D partial melt, f = knob      13.8   9.9    7.1    4.9    4.4
3D full melt-quench, x_B knob  7.4    5.7    4.5    4.5    4.4
2D partial melt, f = knob      16.3   8.3    5.6    4.8    6.4
2D full melt-quench, x_B knob  11.8   7.6    5.2    4.5    6.3
=============================  =====  =====  =====  =====  =====

A full melt-quench starts far from the crystal (pure A quenched from a random start is a
defective polycrystal: 7.4 in 3D, and its relaxation stalled in 2D) and is flat from x_B ≈ 0.1 on;
the partial melt spans the whole range from the crystal, so it is the knob in both dimensions.
With the final "small" protocol (this module; seeds 1 and 2, ranges over seeds):

======  ====  =========  =======  =======  =======  =======  =======  =======  =======
knob    0     0.125      0.25     0.375    0.5      0.625    0.75     0.875    1
======  ====  =========  =======  =======  =======  =======  =======  =======  =======
3D      13.8  11.6       9.2-9.6  8.5-8.6  6.9-7.0  5.5-6.3  5.0-5.2  4.5-4.8  4.3
2D      16.3  12.9-13.5  8.8      6.7      5.1-5.6  5.6-6.4  5.2-5.6  4.3-4.9  6.2-6.6
2D NN   16.3  12.9-13.5  8.8      6.7      5.1-5.6  5.6-6.4  5.2-5.6  3.4      3.0-3.4
======  ====  =========  =======  =======  =======  =======  =======  =======  =======

(The design estimate was 9.3 -> 4.8 in 3D, 14.0 -> 5.5 in 2D for a full melt-quench at x_B 0 -> x_B,std.)
3D: monotone over the whole range (seed spread <= 0.8). The quench rate barely moves g(r)
(a design assumption; :mod:`jaxglass.generate.lj_knobs` varies it), so the short "small" quench
is enough.

2D caveats. (i) The standard A65B35 glass has a sharp A-B peak at r ≈ 0.875 σ (strong A-B
attraction, ε_AB = 1.5), so the *highest* bin of its total g(r) (6.2-6.6) lies above that of the
intermediate structures (4.3-6.4), whose first shell is broader; a full melt-quench at scaled x_B
shows the same (4.5 at x_B = 0.26, 6.3 at 0.35): no path from the crystal to the standard 2D glass
makes that maximum monotone. Row "2D NN" is the nearest-neighbour (A-A / crystal) shell peak,
the highest bin at r >= 0.9 σ (``first_peak_heights(s)["shell"]``), which excludes the A-B peak.
(ii) Between f = 0.5 and 0.75 both stay on a plateau (5.1-6.4, not monotone within the seed
spread): the pure-A triangular crystal at ρ = 1.2 is strongly compressed (+1.97 ε per atom, the
glass -2.7), and on relaxation the remaining crystal expands into the softer glass, its
nearest-neighbour distance moving from 0.975 to 1.025 σ while its peak stays sharp. The 2D knob is
therefore monotone in the coarse sense tested (crystal > knob 0.5 > knob 1 for the NN-shell peak),
not point by point.

Every structure of the second table relaxed to fmax <= 1e-6 with no imaginary modes
(phonons.count_imaginary). (In the first comparison, relaxed by ``minimize`` alone, two of the 20
-- 2D x_B knob 0 and 2D f = 0.5 -- stalled above 1e-6, see step 4; those two peaks are approximate.)

``info`` records the generator, seed, size, cell, protocol, quench rate, MD rebuilds, the
relaxation (both stages), energy per atom, ``fmax``/``fmax_tol``/``converged``, the first-peak
heights (:func:`first_peak_heights`) and timings; ``knob_values`` the melt fraction, the number of
melted atoms and the overall and melt-region B fractions.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import numpy as np

from .._config import require_x64
from ..errors import UserError
from ..md import nvt_langevin_batch
from ..minimize import minimize
from ..potentials.base import Potential
from ..potentials.lj import CITATION_KA, CITATION_KA2D, KA_2D, KA_3D, KA_CUTOFF, kob_andersen
from ..space import displacement
from ..structure import Structure, make_structure
from .base import Generated, SmallestCell, check_batch, check_knob, check_n_atoms, check_seed

__all__ = [
    "DENSITY",
    "LJ2D",
    "LJ3D",
    "PROTOCOLS",
    "Protocol",
    "SKIN",
    "X_B",
    "citation",
    "crystal_2d",
    "crystal_3d",
    "first_peak_heights",
    "generate_2d",
    "generate_3d",
    "lattice",
    "lattice_constant",
    "potential",
    "relax",
    "relaxed_lattice",
    "reps_2d",
    "reps_3d",
    "smallest_cell",
]

#: Number density (reduced units) of the standard Kob-Andersen models.
DENSITY = 1.2
#: Standard B fraction per dimension: A65B35 (2D), A80B20 (3D).
X_B = {2: KA_2D["x_B"], 3: KA_3D["x_B"]}
#: Neighbour-list skin (σ) for the MD; the cell must exceed 2 (2.5 + SKIN) along every axis.
SKIN = 0.45
SPECIES = ("A", "B")
_ASPECT = (0.75, 1.35)


@dataclasses.dataclass(frozen=True)
class Protocol:
    """Melt-quench-relax settings (reduced units)."""

    kT_melt: float = 2.0
    n_melt: int = 300
    kT_end: float = 0.05
    n_quench: int = 1000
    dt: float = 0.005
    gamma: float = 1.0
    chunk: int = 40
    fmax_lbfgs: float = 1e-4
    fire_dt: float = 0.0015
    fmax_tol: float = 1e-6
    max_steps: int = 20000


PROTOCOLS = {
    # 1.5 τ melt, 5 τ quench (rate 0.39 / τ): ~5-15 s per 256-atom structure on 2 CPU cores.
    "small": Protocol(),
    # 10 τ melt, 100 τ quench (rate 0.0195 / τ), for ~1000 atoms: the published protocol.
    "paper": Protocol(n_melt=2000, n_quench=20000),
    # 10 τ melt, 50 τ quench (rate 0.039 / τ), 12,000 instead of 22,000 MD steps: the same glass
    # ensemble as "paper" within about 2 standard errors of 8 seeds (256 atoms; energy, g(r) peak,
    # PDOS moments) for lj2d at knobs 1 and 0.5 (two borderline flags, |z| 2.1 and 2.4). lj3d at
    # knob 1, 16 seeds: ν_max 2.7 % higher (z 2.5), the other moments leaning the same way (z 1-1.5);
    # a 200 τ quench (8 seeds) puts ν_max back at the 50 τ value, so that flag looks like noise, while
    # E_IS and ⟨ν²⟩ keep their slow drift; "paper" stays the lj3d recommendation, "paper-half" a
    # defensible option. docs/datasets.md "Protocol audit"; examples/protocol_audit.py.
    "paper-half": Protocol(n_melt=2000, n_quench=10000),
}


@functools.cache
def potential() -> Potential:
    """The Kob-Andersen potential (one shared object, so jitted code can be reused)."""
    return kob_andersen()


def citation(dim: int) -> str:
    """The Kob-Andersen reference (plus the 2D A65B35 composition's in 2D) for ``info["citation"]``."""
    return CITATION_KA if dim == 3 else f"{CITATION_KA}; composition A65B35: {CITATION_KA2D}"


def _min_length() -> float:
    return 2.0 * (KA_CUTOFF + SKIN)


def lattice_constant(dim: int) -> float:
    """Triangular (2D) or fcc cube (3D) lattice constant at :data:`DENSITY`."""
    return float(np.sqrt(2.0 / (np.sqrt(3.0) * DENSITY))) if dim == 2 else float((4.0 / DENSITY) ** (1 / 3))


def _min_reps(dim: int) -> tuple[int, ...]:
    """The fewest cells per axis with every box length above ``2 (2.5 + SKIN)``."""
    a, lmin = lattice_constant(dim), _min_length()
    if dim == 2:
        return int(np.floor(lmin / a)) + 1, int(np.floor(lmin / (a * np.sqrt(3.0)))) + 1
    return (int(np.floor(lmin / a)) + 1,) * 3


def smallest_cell(dim: int) -> SmallestCell:
    """The smallest cell of the ``dim``-dimensional family: ``2 nx ny`` (2D) or ``4 n³`` (3D) atoms
    with the fewest cells whose box lengths all exceed ``2 (cutoff 2.5 + SKIN)``: 56 (2D), 256 (3D)."""
    reps = _min_reps(dim)
    what = f"{reps[0]} x {reps[1]} rectangular cells" if dim == 2 else f"{reps[0]}³ fcc cubes"
    return SmallestCell(
        (2 if dim == 2 else 4) * int(np.prod(reps)),
        f"{what}: every box length above 2 (cutoff 2.5 + skin {SKIN}) = {_min_length():.2f} σ at "
        f"ρ = {DENSITY}")


def reps_2d(n_atoms: int) -> tuple[int, int]:
    """Rectangular cells ``(nx, ny)`` of the triangular lattice, ``N = 2 nx ny`` nearest ``n_atoms``.

    Only cells with every box length above ``2 (2.5 + SKIN)`` qualify; among those with aspect
    ratio ``nx a / (ny a √3)`` in [0.75, 1.35] the count nearest ``n_atoms`` wins (ties: aspect
    nearest 1). Raises ``ValueError`` when ``n_atoms`` is below the smallest such cell
    (:func:`smallest_cell`).
    """
    n_atoms = check_n_atoms(n_atoms)
    smallest_cell(2).check(n_atoms, "the 2D Kob-Andersen cell")
    nx_min, ny_min = _min_reps(2)
    cands = []
    for ny in range(ny_min, n_atoms // (2 * nx_min) + 2):
        for nx in {
            max(nx_min, int(np.floor(n_atoms / (2 * ny)))),
            max(nx_min, int(np.ceil(n_atoms / (2 * ny)))),
        }:
            aspect = nx / (ny * np.sqrt(3.0))
            cands.append((abs(2 * nx * ny - n_atoms), abs(np.log(aspect)), nx, ny, aspect))
    good = [c for c in cands if _ASPECT[0] <= c[4] <= _ASPECT[1]] or cands
    best = min(good, key=lambda c: (c[0], c[1]))
    return best[2], best[3]


def reps_3d(n_atoms: int) -> int:
    """fcc cubes per side ``n``, ``N = 4 n³`` nearest ``n_atoms``; at least 4 (256 atoms,
    :func:`smallest_cell`): a smaller ``n_atoms`` raises ``ValueError``."""
    n_atoms = check_n_atoms(n_atoms)
    smallest_cell(3).check(n_atoms, "the 3D Kob-Andersen cell")
    return max(_min_reps(3)[0], int(round((n_atoms / 4.0) ** (1.0 / 3.0))))


def lattice(dim: int, n_atoms: int) -> tuple[Structure, tuple[int, ...]]:
    """Unrelaxed pure-A crystal (species names ("A", "B")) in the cell chosen for ``n_atoms``.

    Triangular (2D, :func:`reps_2d` cells) or fcc (3D, :func:`reps_3d` cubes) at :data:`DENSITY`;
    returns the structure and the repetitions per axis.
    """
    a = lattice_constant(dim)
    if dim == 2:
        nx, ny = reps_2d(n_atoms)
        reps: tuple[int, ...] = (nx, ny)
        cell = np.array([a, a * np.sqrt(3.0)])
        basis = np.array([[0.0, 0.0], [0.5, 0.5]])
    else:
        n = reps_3d(n_atoms)
        reps = (n, n, n)
        cell = np.full(3, a)
        basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], dtype=float)
    grids = np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1)
    pos = ((basis[None] + shifts[:, None]) * cell).reshape(-1, dim)
    s = make_structure(pos, np.zeros(len(pos), np.int32), cell * np.asarray(reps), species_names=SPECIES,
                       masses=np.ones(len(pos)))
    return s, reps


# -- analysis (numpy) ---------------------------------------------------------------------------


def first_peak_heights(structure: Structure, bin_width: float = 0.05, shell_min: float = 0.9) -> dict:
    """First-peak heights of the total g(r) (histogram of all pair distances, no smoothing).

    Returns ``total`` (highest bin below ``r_max = min(1.6, L/2)`` σ: the first peak; 2D/3D shell
    normalisation ``2 n(r) / (N ρ S_d(r) Δr)``), ``r_total`` (its bin centre) and ``shell`` (highest
    bin with ``r >= shell_min``: the A-A / crystal nearest-neighbour peak, which excludes the
    A-B peak at ~0.85 σ of the 2D A65B35 glass).
    """
    from scipy.spatial import cKDTree

    box = np.asarray(structure.box, dtype=np.float64)
    pos = np.mod(np.asarray(structure.positions, dtype=np.float64), box)
    pos = np.where(pos >= box, 0.0, pos)
    n, d = pos.shape
    r_max = min(1.6, 0.5 * float(box.min()))
    pairs = cKDTree(pos, boxsize=box).query_pairs(r_max, output_type="ndarray")
    dr = pos[pairs[:, 1]] - pos[pairs[:, 0]]
    dr = displacement(dr, box, (True,) * d)
    r = np.linalg.norm(dr, axis=1)
    edges = np.arange(0.0, r_max + 1e-12, bin_width)
    hist, _ = np.histogram(r, edges)
    shell = np.pi * np.diff(edges**2) if d == 2 else 4.0 / 3.0 * np.pi * np.diff(edges**3)
    g = 2.0 * hist / (n * (n / np.prod(box)) * shell)
    rc = 0.5 * (edges[1:] + edges[:-1])
    k = int(np.argmax(g))
    return {"total": float(g[k]), "r_total": float(rc[k]), "shell": float(g[rc >= shell_min].max())}


# -- relaxation ---------------------------------------------------------------------------------


def relax(s: Structure, prot: Protocol) -> tuple[Structure, dict[str, Any]]:
    """L-BFGS to ``fmax_lbfgs``, then FIRE at a stable time step to ``fmax_tol`` (fixed box).

    Returns the relaxed structure and the ``info`` entries (energy, fmax, steps, messages, time).
    """
    pot = potential()
    t = time.perf_counter()
    r1 = minimize(pot, s, method="lbfgs", fmax=prot.fmax_lbfgs, max_steps=prot.max_steps)
    if r1.fmax <= prot.fmax_tol:  # e.g. a perfect lattice: already at the minimum
        r2 = dataclasses.replace(r1, n_steps=0, message="skipped: L-BFGS result within fmax_tol")
    else:
        r2 = minimize(
            pot,
            r1.structure,
            method="fire",
            fmax=prot.fmax_tol,
            fire_dt=prot.fire_dt,
            max_steps=max(1, prot.max_steps - r1.n_steps),
        )
    info = {
        "energy_per_atom": r2.energy / s.n_atoms,
        "fmax": r2.fmax,
        "fmax_tol": prot.fmax_tol,
        "converged": r2.converged,
        "relax_steps_lbfgs": r1.n_steps,
        "relax_steps_fire": r2.n_steps,
        "relax_message": (
            f"lbfgs to {prot.fmax_lbfgs:g}: {r1.message} | fire to {prot.fmax_tol:g}: {r2.message}"
        ),
        "relax_s": time.perf_counter() - t,
    }
    return r2.structure, info


# -- generators ---------------------------------------------------------------------------------


def relaxed_lattice(dim: int, n_atoms: int = 256, *, size: str = "small") -> Generated:
    """The relaxed pure-A lattice of :func:`lattice` in ``dim`` dimensions (knob 0 reference)."""
    check_knob(0.0, size)
    require_x64("jaxglass.generate.lj.relaxed_lattice")
    t0 = time.perf_counter()
    s, reps = lattice(dim, check_n_atoms(n_atoms))
    prot = PROTOCOLS[size]
    s, rinfo = relax(s, prot)
    info = {
        "generator": f"lj{dim}d.crystal",
        "lattice": "triangular" if dim == 2 else "fcc",
        "size": size,
        "n_atoms": s.n_atoms,
        "n_atoms_requested": int(n_atoms),
        "reps": list(reps),
        "box": np.asarray(s.box).tolist(),
        "lattice_constant": lattice_constant(dim),
        "density": DENSITY,
        "units": "lj",
        "citation": citation(dim),
        **rinfo,
        "first_peak": first_peak_heights(s),
        "wall_time_s": time.perf_counter() - t0,
    }
    knob_values = {"melt_fraction": 0.0, "n_melted": 0, "x_B": 0.0, "x_B_melt": X_B[dim]}
    return Generated(s, potential(), 0.0, knob_values, info)


def melt_slab(positions: np.ndarray, box: np.ndarray, fraction: float, rng: np.random.Generator):
    """Indices of the ``round(fraction N)`` atoms with the smallest ``(x - x0) mod L_x``, and ``x0``.

    ``x0`` is uniform in ``[0, L_x)``; atoms in the same lattice plane are ordered at random, so the
    slab holds exactly that many atoms.
    """
    n = len(positions)
    k = int(round(float(fraction) * n))
    x0 = float(rng.random() * box[0])
    key = np.round(np.mod(positions[:, 0] - x0, box[0]), 9)
    tie = rng.permutation(n)
    order = np.lexsort((tie, key))
    return np.sort(order[:k]), x0


@dataclasses.dataclass(frozen=True)
class _Start:
    """A partial melt before its MD: the lattice with B atoms and the mobile slab chosen."""

    structure: Structure
    mobile: np.ndarray
    knob: float
    seed: int
    x0: float
    reps: tuple[int, ...]
    n_requested: int


def _start(dim: int, n_atoms: int, knob: float, seed: int, size: str) -> _Start:
    check_knob(knob, size)
    n_req = check_n_atoms(n_atoms)
    seed = check_seed(seed)
    s0, reps = lattice(dim, n_req)
    pos0 = np.asarray(s0.positions)
    rng = np.random.default_rng(seed)
    chosen, x0 = melt_slab(pos0, np.asarray(s0.box), float(knob), rng)
    species = np.zeros(len(pos0), np.int32)
    species[rng.permutation(chosen)[: int(round(X_B[dim] * len(chosen)))]] = 1
    s = make_structure(pos0, species, np.asarray(s0.box), species_names=SPECIES, masses=np.ones(len(pos0)))
    mobile = np.zeros(len(pos0), bool)
    mobile[chosen] = True
    return _Start(s, mobile, float(knob), seed, x0, tuple(reps), n_req)


def _melt_quench(starts: list[_Start], prot: Protocol,
                 progress=None) -> list[tuple[Structure, dict[str, Any]]]:
    """The melt-quench MD of several starts of one size, stepped together (one compiled program,
    :func:`jaxglass.md.nvt_langevin_batch`, reporting to ``progress``); starts with nothing melted are
    returned as they are."""
    out: list[tuple[Structure, dict[str, Any]]] = [(st.structure, {}) for st in starts]
    todo = [b for b, st in enumerate(starts) if st.mobile.any()]
    if not todo:
        return out
    t = time.perf_counter()
    ramp = np.linspace(prot.kT_melt, prot.kT_end, prot.n_quench + 1)[1:]
    kts = np.concatenate([np.full(prot.n_melt, prot.kT_melt), ramp])
    mds = nvt_langevin_batch(potential(), [starts[b].structure for b in todo], kT=kts, n_steps=len(kts),
                             dt=prot.dt, gamma=prot.gamma, seeds=[starts[b].seed for b in todo],
                             mobile=[starts[b].mobile for b in todo], skin=SKIN, chunk=prot.chunk,
                             progress=progress)
    seconds = (time.perf_counter() - t) / len(todo)
    for b, md in zip(todo, mds):
        out[b] = (md.structure, {"md_steps": md.n_steps, "md_rebuilds": md.n_rebuilds,
                                 "md_final_kinetic_kT": md.kinetic_kT, "md_s": seconds,
                                 "md_batch": len(todo)})
    return out


def _finish(dim: int, st: _Start, s: Structure, md_info: dict, prot: Protocol, size: str,
            t0: float) -> Generated:
    s, rinfo = relax(s, prot)
    species = np.asarray(st.structure.species)
    n, k = len(species), int(st.mobile.sum())
    n_b = int(np.sum(species == 1))
    info = {
        "generator": f"lj{dim}d.generate",
        "seed": st.seed,
        "size": size,
        "n_atoms": n,
        "n_atoms_requested": st.n_requested,
        "n_A": n - n_b,
        "n_B": n_b,
        "lattice": "triangular" if dim == 2 else "fcc",
        "reps": list(st.reps),
        "box": np.asarray(st.structure.box).tolist(),
        "lattice_constant": lattice_constant(dim),
        "density": DENSITY,
        "units": "lj",
        "citation": citation(dim),
        "protocol": dataclasses.asdict(prot),
        "quench_rate": ((prot.kT_melt - prot.kT_end) / (prot.n_quench * prot.dt) if prot.n_quench
                        else float("inf")),
        "melt_region": "slab",
        "melt_x0": st.x0,
        "skin": SKIN,
        **md_info,
        **rinfo,
        "first_peak": first_peak_heights(s),
        "wall_time_s": time.perf_counter() - t0,
    }
    knob_values = {"melt_fraction": st.knob, "n_melted": k, "x_B": n_b / n, "x_B_melt": X_B[dim]}
    return Generated(s, potential(), st.knob, knob_values, info)


def _generate_batch(dim: int, n_atoms: int, knobs, seeds, size: str,
                    protocol: Protocol | None, progress=None) -> list[Generated]:
    require_x64("jaxglass.generate.lj.generate")
    t0 = time.perf_counter()
    knobs, seeds = check_batch(knobs, seeds, size)
    prot = PROTOCOLS[size] if protocol is None else protocol
    starts = [_start(dim, n_atoms, kn, sd, size) for kn, sd in zip(knobs, seeds)]
    melted = _melt_quench(starts, prot, progress)
    return [_finish(dim, st, s, md_info, prot, size, t0) for st, (s, md_info) in zip(starts, melted)]


def _generate(
    dim: int, n_atoms: int, knob: float, seed: int, size: str, protocol: Protocol | None, progress
) -> Generated:
    return _generate_batch(dim, n_atoms, [knob], [seed], size, protocol, progress)[0]


def generate_batch(dim: int, n_atoms: int, knobs, seeds, *, size: str = "small",
                   protocol: Protocol | None = None, progress=None) -> list[Generated]:
    """Several glasses of one size at once: the same as ``generate_2d``/``generate_3d`` per
    ``(knob, seed)``, with the melt-quench MD of all of them stepped in one compiled program
    (:func:`jaxglass.md.nvt_langevin_batch`); each structure is then relaxed on its own. Trajectories
    equal the single runs' up to round-off, which the chaotic MD amplifies over a long protocol: a
    batched structure is another sample of the same ensemble (``info["md_batch"]`` records the batch)."""
    if dim not in (2, 3):
        raise UserError(f"dim: expected 2 or 3, got {dim}")
    return _generate_batch(dim, n_atoms, list(knobs), list(seeds), size, protocol, progress)


def generate_2d(
    n_atoms: int = 256,
    knob: float = 0.5,
    seed: int = 0,
    *,
    size: str = "small",
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """2D Kob-Andersen (A65B35 melt) glass by partial melting of a triangular A crystal.

    Args:
      n_atoms: target count (rounded by :func:`reps_2d`; at least 56).
      knob: melt fraction ``f`` in [0, 1] (module docstring); overall ``x_B = 0.35 f``.
      seed: seeds the slab position and the B sites (numpy) and the thermostat (jax).
      size: ``"small"`` or ``"paper"`` (:data:`PROTOCOLS`).
      protocol: overrides the size's protocol.
      progress: called as ``progress(steps_done, n_steps)`` during the melt-quench MD.
    """
    return _generate(2, n_atoms, knob, seed, size, protocol, progress)


def generate_3d(
    n_atoms: int = 256,
    knob: float = 0.5,
    seed: int = 0,
    *,
    size: str = "small",
    protocol: Protocol | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Generated:
    """3D Kob-Andersen (A80B20 melt) glass by partial melting of an fcc A crystal.

    Args:
      n_atoms: target count (rounded to ``4 n³`` by :func:`reps_3d`; at least 256).
      knob: melt fraction ``f`` in [0, 1] (module docstring); overall ``x_B = 0.20 f``.
      seed: seeds the slab position and the B sites (numpy) and the thermostat (jax).
      size: ``"small"`` or ``"paper"`` (:data:`PROTOCOLS`).
      protocol: overrides the size's protocol.
      progress: called as ``progress(steps_done, n_steps)`` during the melt-quench MD.
    """
    return _generate(3, n_atoms, knob, seed, size, protocol, progress)


def crystal_2d(n_atoms: int = 256, *, size: str = "small") -> Generated:
    """Triangular lattice of A particles at ρ = 1.2 (a minimum; relaxed to record ``fmax``)."""
    return relaxed_lattice(2, n_atoms, size=size)


def crystal_3d(n_atoms: int = 256, *, size: str = "small") -> Generated:
    """fcc lattice of A particles at ρ = 1.2 (a minimum; relaxed to record ``fmax``)."""
    return relaxed_lattice(3, n_atoms, size=size)


#: The 2D family for the registry: ``LJ2D.generate(n_atoms, knob, seed, *, size)``, ``LJ2D.crystal``.
LJ2D = SimpleNamespace(name="lj2d", dim=2, generate=generate_2d, crystal=crystal_2d, potential=potential,
                       PROTOCOLS=PROTOCOLS,
                       generate_batch=functools.partial(generate_batch, 2),
                       smallest_cell=functools.partial(smallest_cell, 2))
#: The 3D family for the registry: ``LJ3D.generate(n_atoms, knob, seed, *, size)``, ``LJ3D.crystal``.
LJ3D = SimpleNamespace(name="lj3d", dim=3, generate=generate_3d, crystal=crystal_3d, potential=potential,
                       PROTOCOLS=PROTOCOLS,
                       generate_batch=functools.partial(generate_batch, 3),
                       smallest_cell=functools.partial(smallest_cell, 3))
