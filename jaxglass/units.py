"""Unit conversion factors, derived from CODATA constants (as phonopy's ``physical_units.py``).

jaxglass works in eV, Å and amu ("metal" units, as LAMMPS) or in Lennard-Jones reduced units.
Frequencies are *ordinary* frequencies ν = ω / 2π in THz for metal units and angular ω in
sqrt(ε / (m σ²)) for LJ units. Every factor below is computed from the SI values of the
constants in :mod:`scipy.constants` (CODATA), never typed in, except :data:`QQR2E_LAMMPS_METAL`,
which is LAMMPS's own rounded Coulomb constant and is kept so energies match LAMMPS to round-off,
and :data:`MBARN_PER_FM2`, an exact ratio of unit definitions. Other modules import their
constants from here.

>>> round(FREQ_THZ, 4)   # ν [THz] = FREQ_THZ · sqrt(λ [eV / Å² / amu])
15.6333
>>> round(THZ_TO_CM1, 3), round(THZ_TO_MEV, 4)
(33.356, 4.1357)
"""

from __future__ import annotations

import math

from scipy import constants as _c

from .errors import UserError

#: Electron volt in joule.
EV = _c.electron_volt
#: Atomic mass unit (dalton) in kg.
AMU = _c.atomic_mass
#: Ångström in metre.
ANGSTROM = _c.angstrom
#: Boltzmann constant in eV / K.
KB_EV = _c.k / _c.electron_volt
#: Reduced Planck constant in eV · s.
HBAR_EV_S = _c.hbar / _c.electron_volt
#: Planck constant in eV · s.
H_EV_S = _c.h / _c.electron_volt

#: ν [THz] = FREQ_THZ · sqrt(λ), λ an eigenvalue of the mass-weighted Hessian in eV / Å² / amu.
FREQ_THZ = math.sqrt(EV / (ANGSTROM**2 * AMU)) / (2.0 * math.pi) / 1e12
#: 1 THz in cm⁻¹ (wavenumber ν / c).
THZ_TO_CM1 = 1e12 / (_c.c * 100.0)
#: 1 THz in meV (energy h ν).
THZ_TO_MEV = H_EV_S * 1e12 * 1e3
#: h · 1 THz / k_B in K (the Bose factor's argument is hν / k_B T = THZ_TO_K · ν[THz] / T[K]).
THZ_TO_K = _c.h * 1e12 / _c.k
#: ħ / (M ω) in Å² for M = 1 amu and ν = 1 THz (ω = 2π ν): the scale of vibrational amplitudes.
HBAR_OVER_AMU_THZ_A2 = _c.hbar / (AMU * 2.0 * math.pi * 1e12) / ANGSTROM**2
#: The metal-units time unit Å · sqrt(amu / eV) in femtoseconds (MD time steps: dt = dt_fs / this).
METAL_TIME_FS = ANGSTROM * math.sqrt(AMU / EV) * 1e15
#: mbarn per fm² (1 barn = 100 fm²): squared scattering lengths (fm²) to cross sections (mbarn).
MBARN_PER_FM2 = 10.0  # an exact ratio of unit definitions (1 fm² = 1e-30 m², 1 mbarn = 1e-31 m²)
#: Coulomb constant e² / (4π ε₀) in eV · Å (CODATA).
COULOMB_EV_A = _c.e**2 / (4.0 * math.pi * _c.epsilon_0) / EV / ANGSTROM
#: LAMMPS's ``qqr2e`` in metal units (rounded from :data:`COULOMB_EV_A`); used by the Vashishta
#: potential so that energies agree with LAMMPS to round-off.
QQR2E_LAMMPS_METAL = 14.399645


def freq_factor(units: str) -> float:
    """Multiply sqrt(eigenvalue of the mass-weighted Hessian) by this to get frequencies."""
    if units == "metal":
        return FREQ_THZ
    if units == "lj":
        return 1.0
    raise UserError(f"units: expected 'metal' or 'lj', got {units!r}")


def freq_unit(units: str) -> str:
    """Label of the frequency unit for a unit system."""
    return "THz" if units == "metal" else "omega (LJ units)"
