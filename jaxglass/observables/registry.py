"""One entry point for datasets and the CLI."""

from __future__ import annotations

from collections.abc import Sequence

import jax.numpy as jnp

from ..errors import UserError
from ..structure import Structure
from ._common import Spectrum, mode_arrays
from .neutron import ins_sqw, neutron_dos
from .raman import raman_spectrum
from .xray import ixs_sqw

KINDS = ("pdos", "ndos", "ins", "ixs", "raman")


def spectrum(
    kind: str,
    structure: Structure,
    modes,
    grid,
    *,
    sigma: float,
    temperature: float = 300.0,
    q: Sequence[float] | None = None,
    eigenvectors=None,
    **kwargs,
) -> Spectrum:
    """Dispatch to one observable on a fixed grid (fixed output shapes for dataset records).

    ``kind``: ``"pdos"`` (per-mode normalised), ``"ndos"`` (neutron-weighted DOS), ``"ins"``,
    ``"ixs"`` (need ``q``, Å⁻¹) or ``"raman"``.
    """
    if kind == "pdos":
        from ..phonons import dos, species_weights

        f, v = mode_arrays(modes, eigenvectors)
        grid = jnp.asarray(grid)
        return Spectrum(frequency=grid, intensity=dos(f, grid, sigma),
                        partial=dos(f, grid, sigma, weights=species_weights(structure, v)), kind="pdos",
                        unit="1/THz per mode", species_names=structure.species_names)
    if kind == "ndos":
        return neutron_dos(structure, modes, grid, sigma, eigenvectors=eigenvectors, **kwargs)
    if kind in ("ins", "ixs"):
        if q is None:
            raise UserError(f"q: the {kind} spectrum needs |Q| values (Å⁻¹, 2π included), e.g. q=[2, 4, 6]")
        fn = ins_sqw if kind == "ins" else ixs_sqw
        return fn(structure, modes, q, grid, sigma, temperature, eigenvectors=eigenvectors, **kwargs)
    if kind == "raman":
        return raman_spectrum(structure, modes, grid, sigma, temperature, eigenvectors=eigenvectors, **kwargs)
    raise UserError(f"kind: expected one of {KINDS}, got {kind!r}")
