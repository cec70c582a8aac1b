"""Spectroscopic observables from Γ-point modes: INS, IXS S(Q, ω), Raman, neutron-weighted DOS.

Every function takes a :class:`~jaxglass.structure.Structure` and its Γ-point modes, either a
:class:`jaxglass.phonons.Modes` or plain arrays ``frequencies`` ``(M,)`` (THz, negative = imaginary)
and ``eigenvectors`` ``(N d, M)`` (mass-weighted, unit columns), so any eigen-solver can feed them.
Results on a fixed grid come back as a :class:`Spectrum` (fixed shapes: a dataset record can store
them). Grids and broadening widths are ordinary frequencies in THz (the unit of
:mod:`jaxglass.phonons`); every :class:`Spectrum` also carries the grid in meV and cm⁻¹.

Conventions (euphonic's, see its ``calculate_structure_factor`` and ``calculate_debye_waller``):

* coherent one-phonon structure factor per mode ν and scattering vector Q (Å⁻¹, 2π included)::

      S_ν(Q) = 1/(2N) |Σ_κ b_κ/√M_κ (Q·e_κν) exp(iQ·r_κ) exp(-W_κ(Q))|² · ħ/ω_ν

  in mbarn per atom for neutrons (b in fm, Sears 1992) and in electrons² per atom for X-rays
  (b_κ → f_κ(|Q|), Waasmaier-Kirfel 1995); a broadened spectrum is in mbarn/meV (e²/meV) per atom.
* Debye-Waller exponent ``W_κ = Q·W^κ·Q``, ``W^κ_αβ = ħ/(4M_κ) Σ_ν e_κα,ν e_κβ,ν / ω_ν ·
  coth(ħω_ν/2k_BT)`` (Å²; one q-point, Γ of the supercell), summed over modes above ``dw_freq_min``.
* Temperature: ``(n+1)`` on the energy-loss side at ``+ω_ν`` and ``n`` on the gain side at
  ``-ω_ν``, ``n = 1/(exp(hν/k_BT) - 1)``.
* Powder average: Q runs over the reciprocal lattice of the (super)cell, ``2π (h/L_x, k/L_y, l/L_z)``
  (a non-periodic axis uses its box length as the sampling period, i.e. the cell with its vacuum);
  each |Q| shell ``[q - w/2, q + w/2)`` is averaged over all its vectors when it holds at most
  :data:`MAX_SHELL_VECTORS`, else over a random sample grown until the standard error of the mean is
  below :data:`POWDER_TOL` of the shell's maximum (:mod:`jaxglass.observables.powder`); the estimate
  comes back in :attr:`Spectrum.powder_error`. :func:`q_shells` keeps the fixed set of at most
  :data:`N_DIRECTIONS` vectors nearest Fibonacci directions (the former default) for jittable use.
* 2D sheets (a 3D structure with a non-periodic axis): flexural modes make ⟨u²⟩ grow with the cell,
  so the Debye-Waller sum skips modes below :data:`SHEET_DW_FREQ_MIN` = 1 THz (4.1 meV) by default;
  bulk cells use 1e-3 of the largest frequency (drops only the zero translational modes).
* Raman (unpolarised powder, Stokes): ``I_ν ∝ (n_ν+1)/ν_ν · (45 a_ν² + 7 γ_ν²)`` with the Raman
  tensor ``R^ν = Σ_κ ∂α/∂r_κ · e_κν/√M_κ`` of a bond-polarizability model (units Å²/√amu, so
  ``I`` in Å⁴/amu/THz, a relative scale); the Shuker-Gammon form ``C(ν) g(ν) (n+1)/ν`` with
  ``C ∝ ν^p`` is the fallback for families without published bond parameters.

Units: lengths Å, masses amu, frequencies THz (ν, 2π divided out), energies meV, temperatures K.
The functions need float64 (``jaxglass.enable_x64()``); they never switch it on themselves.
"""

from __future__ import annotations

from ._common import (
    N_DIRECTIONS,
    SHEET_DW_FREQ_MIN,
    Spectrum,
    bose_occupation,
    default_dw_freq_min,
    is_sheet,
    mode_arrays,
    pdos_spectrum,
)
from .neutron import (
    broaden_sqw,
    debye_waller,
    ins_sqw,
    neutron_dos,
    neutron_weights,
    one_phonon_structure_factor,
    powder_one_phonon_structure_factor,
    powder_sqw,
    powder_sqw_probes,
)
from .powder import (
    MAX_SHELL_VECTORS,
    POWDER_TOL,
    QShells,
    ShellVectors,
    q_shells,
    shell_vectors,
)
from .raman import (
    BOND_PARAMETERS,
    BondParameters,
    Bonds,
    find_bonds,
    polarizability,
    raman_intensities,
    raman_invariants,
    raman_model,
    raman_spectrum,
    raman_tensors,
    shuker_gammon,
)
from .registry import AXES, KINDS, REGISTRY, TARGETS, Observable, choices_help, observable, spectrum
from .xray import ixs_sqw

__all__ = [
    "AXES", "BOND_PARAMETERS", "BondParameters", "Bonds", "KINDS", "MAX_SHELL_VECTORS", "N_DIRECTIONS",
    "Observable", "POWDER_TOL", "ShellVectors", "shell_vectors",
    "REGISTRY", "TARGETS", "choices_help", "observable", "pdos_spectrum",
    "QShells", "SHEET_DW_FREQ_MIN", "Spectrum", "bose_occupation", "broaden_sqw", "debye_waller",
    "default_dw_freq_min", "find_bonds", "ins_sqw", "is_sheet", "ixs_sqw", "mode_arrays", "neutron_dos",
    "neutron_weights", "polarizability", "powder_sqw", "powder_sqw_probes",
    "powder_one_phonon_structure_factor", "q_shells",
    "raman_intensities", "raman_invariants", "raman_model", "raman_spectrum", "raman_tensors",
    "shuker_gammon", "spectrum", "one_phonon_structure_factor",
]

