"""The generator contract shared by all glass families.

Each family module (``amc``, ``lj``, ``sic``, ``cualzr``, ``hea``) provides

    generate(n_atoms: int, knob: float, seed: int, *, size: str = "small") -> Generated
    crystal(n_atoms: int, *, size: str = "small") -> Generated

``knob`` is the *normalised* disorder knob in [0, 1]: 0 is crystal-like, 1 the most disordered
setting the family supports; each module documents how it maps to physical settings (recorded in
``Generated.knob_values``). ``n_atoms`` is a target; generators round to what the lattice allows
and report the actual count. ``size`` selects protocol lengths: ``"small"`` (fast, for demos and
tests) or ``"paper"`` (longer anneals/quenches for publication-scale datasets).

Every generator is deterministic given ``seed`` and returns a structure relaxed to a minimum
(``info["fmax"]`` below ``info["fmax_tol"]``) with the potential used for its spectra.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from ..errors import UserError
from ..potentials.base import Potential
from ..structure import Structure

SIZES = ("small", "paper")


@dataclasses.dataclass(frozen=True)
class Generated:
    """A generated, relaxed structure and how it was made."""

    structure: Structure
    potential: Potential
    knob: float
    knob_values: dict[str, Any]
    info: dict[str, Any]


def check_knob(knob: float, size: str) -> None:
    if not (0.0 <= float(knob) <= 1.0):
        raise UserError(f"knob: the normalised disorder knob must lie in [0, 1], got {knob}")
    if size not in SIZES:
        raise UserError(f"size: expected one of {SIZES}, got {size!r}")


def check_n_atoms(n_atoms: Any) -> int:
    """``n_atoms`` as an ``int``; a :class:`~jaxglass.errors.UserError` unless a positive whole number."""
    if isinstance(n_atoms, bool) or not isinstance(n_atoms, (int, np.integer, float, np.floating)):
        raise UserError(f"n_atoms: expected a whole number, got {n_atoms!r}")
    if not float(n_atoms).is_integer() or n_atoms < 1:
        raise UserError(f"n_atoms: expected a positive whole number, got {n_atoms!r}")
    return int(n_atoms)


def check_seed(seed: Any) -> int:
    """``seed`` as an ``int``; a :class:`~jaxglass.errors.UserError` unless a non-negative whole number."""
    if isinstance(seed, bool) or not float(seed).is_integer() or seed < 0:
        raise UserError(f"seed: expected a non-negative whole number, got {seed!r}")
    return int(seed)
