"""The phonon engine in one namespace: :mod:`jaxglass.hessian` + :mod:`jaxglass.modes`.

Hessian assembly (pair/site blocks, Hessian-vector products, dynamical matrix) lives in
:mod:`jaxglass.hessian`; eigen-solves, frequencies, modes, DOS and partial DOS (with the
degeneracy-safe derivative rules) in :mod:`jaxglass.modes`. This module re-exports both so that
``from jaxglass import phonons; phonons.pdos(...)`` reads as one pipeline.
"""

from .hessian import (
    as_f64,
    dynamical_hvp,
    dynamical_matrix,
    hessian,
    hvp,
    hvp_fn,
    mass_weight,
)
from .modes import (
    PDOS,
    Modes,
    count_imaginary,
    default_grid,
    dos,
    dos_from_dynamical,
    eigvalsh,
    frequencies,
    gaussian,
    modes,
    partial_dos_from_dynamical,
    pdos,
    species_projector,
    species_weights,
    to_frequencies,
)

__all__ = [
    "PDOS",
    "Modes",
    "as_f64",
    "count_imaginary",
    "default_grid",
    "dos",
    "dos_from_dynamical",
    "dynamical_hvp",
    "dynamical_matrix",
    "eigvalsh",
    "frequencies",
    "gaussian",
    "hessian",
    "hvp",
    "hvp_fn",
    "mass_weight",
    "modes",
    "partial_dos_from_dynamical",
    "pdos",
    "species_projector",
    "species_weights",
    "to_frequencies",
]
