"""X-ray observables: inelastic X-ray S(|Q|, ω) with Waasmaier-Kirfel form factors f₀(|Q|)."""

from __future__ import annotations

from ..structure import Structure
from ._common import Spectrum
from .neutron import powder_sqw


def ixs_sqw(structure: Structure, modes, q, grid, sigma: float, temperature: float, **kwargs) -> Spectrum:
    """Inelastic X-ray S(|Q|, ω): :func:`powder_sqw` with Waasmaier-Kirfel f₀(|Q|) (|Q| ≤ 75.4 Å⁻¹)."""
    return powder_sqw(structure, modes, q, grid, sigma, temperature, probe="xray", **kwargs)
