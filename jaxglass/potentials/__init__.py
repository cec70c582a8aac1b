"""Interatomic potentials for the six glass families (see :mod:`jaxglass.potentials.base`).

=====================  ==============================================  =======================
family                 potential                                       constructor
=====================  ==============================================  =======================
2D / 3D LJ glasses     Kob-Andersen, smooth to 2nd order (reduced),    :func:`kob_andersen`
                       or LAMMPS lj/cut (shifted), lj/smooth/linear
CuAlZr metallic glass  EAM: setfl tables, analytic Zhou-Johnson-Wadley  :func:`read_setfl`,
TiZrCuNi HEA glass                                                     :func:`zhou_johnson_wadley`,
                       (setfl writer for LAMMPS)                       :func:`write_setfl`
a-SiC                  Vashishta 2007 (spectra)                        :func:`vashishta_sic_2007`
a-SiC, AMC             Tersoff 1989 Si-C, Lindsay-Broido carbon        :func:`tersoff_sic_1989`,
                                                                       :func:`lindsay_broido_carbon`
=====================  ==============================================  =======================

:func:`from_spec` builds any of them, or one read from a LAMMPS file, from a short string
(``"vashishta:SiC.vashishta"``, ``"setfl:CuZrAl.eam.alloy:Cu,Zr,Al"``, ``"lj:linear"``...).
"""

from ..units import FREQ_THZ
from .base import Potential, Term, energy, forces
from .eam import EAMPotential, read_setfl, tabulate_setfl, write_setfl, zhou_johnson_wadley
from .lj import kob_andersen, lennard_jones
from .spec import SPEC_FORMS, from_spec
from .tersoff import lindsay_broido_carbon, read_tersoff_file, tersoff_sic_1989
from .vashishta import read_vashishta_file, vashishta_sic_2007

__all__ = [
    "FREQ_THZ",
    "EAMPotential",
    "Potential",
    "SPEC_FORMS",
    "Term",
    "energy",
    "forces",
    "from_spec",
    "kob_andersen",
    "lennard_jones",
    "lindsay_broido_carbon",
    "read_tersoff_file",
    "read_setfl",
    "read_vashishta_file",
    "tabulate_setfl",
    "tersoff_sic_1989",
    "vashishta_sic_2007",
    "write_setfl",
    "zhou_johnson_wadley",
]
