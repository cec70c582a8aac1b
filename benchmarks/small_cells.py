"""Γ-point modes of a small periodic cell (shorter than twice the cutoff): three routes, one run.

System: 3C-SiC, 64 atoms (2×2×2 conventional cells, a = 4.35817 Å, box 8.72 Å), Vashishta 2007
(two-body cutoff 7.35 Å > box / 2), perfect and rattled (0.05 Å, seeded). Routes:

* ``images``: jaxglass's Hessian of the small cell by summing periodic images (image neighbour
  lists), then ``numpy.linalg.eigvalsh``;
* ``fold``: the Hessian of the 2×2×2 replicated cell (512 atoms, minimum-image path), folded back
  onto the small cell by summing the columns of the 8 replicas, then ``eigvalsh``;
* ``phonopy``: phonopy's finite displacements (supercell = the cell itself, ±0.01 Å) with forces
  from :class:`jaxglass.calculator.JaxglassCalculator`, ``produce_force_constants`` and its Γ
  frequencies (skipped with a note when phonopy is not importable).

Printed as a table (time of the first and a second call, ratio to ``images``, largest frequency
difference from ``images`` in THz) and saved as JSON. Usage::

    .venv/bin/python benchmarks/small_cells.py [--out benchmarks/results/small_cells.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

import jaxglass
from jaxglass._io import atomic_write_text
from jaxglass.generate.lattices import zincblende
from jaxglass.hessian import hessian, mass_weight
from jaxglass.potentials import vashishta_sic_2007
from jaxglass.structure import replicate
from jaxglass.units import FREQ_THZ

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "small_cells.json")
A_SIC = 4.35817  # Å, Vashishta 2007 3C-SiC lattice constant (LAMMPS with SiC.vashishta)


def _freqs(H, masses) -> np.ndarray:
    lam = np.linalg.eigvalsh(np.asarray(mass_weight(H, masses, 3)))
    return FREQ_THZ * np.sign(lam) * np.sqrt(np.abs(lam))


def _images(pot, s):
    H = hessian(pot, s).block_until_ready()
    return _freqs(H, s.masses)


def _fold(pot, s):
    n = s.n_atoms
    big = replicate(s, (2, 2, 2))
    Hb = np.asarray(hessian(pot, big).block_until_ready())
    H = Hb.reshape(8, n, 3, 8, n, 3)[0].sum(axis=2).reshape(3 * n, 3 * n)
    return _freqs(H, s.masses)


def _phonopy(pot, s):
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    from jaxglass.calculator import JaxglassCalculator
    from jaxglass.structure import to_ase

    atoms = to_ase(s)
    unit = PhonopyAtoms(
        symbols=atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell[:],
        masses=atoms.get_masses(),
    )
    ph = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int), primitive_matrix="P")
    ph.generate_displacements(distance=0.01, is_plusminus=True)
    calc = JaxglassCalculator(pot)
    forces = []
    for sc in ph.supercells_with_displacements:
        a = atoms.copy()
        a.set_positions(sc.positions)
        a.calc = calc
        forces.append(a.get_forces().copy())
    ph.forces = np.asarray(forces)
    ph.produce_force_constants()
    ph.run_qpoints([[0.0, 0.0, 0.0]])
    return np.sort(np.asarray(ph.qpoints.frequencies[0])), len(forces)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DEFAULT_OUT, help="JSON results file (atomic write)")
    args = ap.parse_args()
    jaxglass.enable_x64()
    pot = vashishta_sic_2007()
    perfect = zincblende(A_SIC, (2, 2, 2))
    rng = np.random.default_rng(0)
    rattled = perfect.with_positions(perfect.positions + 0.05 * rng.standard_normal(perfect.positions.shape))
    rows = []
    for label, s in (("perfect", perfect), ("rattled", rattled)):
        ref, t_img1 = _timed(lambda s=s: _images(pot, s))
        _, t_img2 = _timed(lambda s=s: _images(pot, s))
        routes = {"images": (ref, t_img1, t_img2, None)}
        f, t1 = _timed(lambda s=s: _fold(pot, s))
        _, t2 = _timed(lambda s=s: _fold(pot, s))
        routes["fold 2x2x2"] = (f, t1, t2, None)
        try:
            (f, ncalls), t1 = _timed(lambda s=s: _phonopy(pot, s))
            (_, _), t2 = _timed(lambda s=s: _phonopy(pot, s))
            routes["phonopy FD"] = (f, t1, t2, ncalls)
        except ImportError as err:
            print(f"phonopy route skipped: {err}")
        for name, (f, t1, t2, ncalls) in routes.items():
            rows.append(dict(
                structure=label, route=name, first_s=round(t1, 3), second_s=round(t2, 3),
                ratio_to_images=round(t2 / t_img2, 2), max_abs_dfreq_thz=float(np.max(np.abs(f - ref))),
                max_freq_thz=float(f[-1]), n_imaginary=int(np.sum(f < -1e-3)), force_calls=ncalls,
            ))
    print(f"{'structure':9} {'route':12} {'first s':>8} {'second s':>9} {'ratio':>6} {'max|Δν| THz':>12} "
          f"{'ν_max THz':>10}")
    for r in rows:
        print(f"{r['structure']:9} {r['route']:12} {r['first_s']:8.3f} {r['second_s']:9.3f} "
              f"{r['ratio_to_images']:6.2f} {r['max_abs_dfreq_thz']:12.2e} {r['max_freq_thz']:10.4f}")
    meta = dict(
        system="3C-SiC 64 atoms, Vashishta 2007, box 8.72 Å < 2 × 7.35 Å", machine=platform.platform(),
        cpus=os.cpu_count(), load=[round(x, 2) for x in os.getloadavg()], jaxglass=jaxglass.__version__,
    )
    atomic_write_text(args.out, json.dumps(dict(meta=meta, rows=rows), indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
