"""The generator contract shared by all glass families.

Each family module (``amc``, ``lj``, ``sic``, ``cualzr``, ``hea``) provides

    generate(n_atoms: int, knob: float, seed: int, *, size: str = "small") -> Generated
    crystal(n_atoms: int, *, size: str = "small") -> Generated

``knob`` is the *normalised* disorder knob in [0, 1]: 0 is crystal-like, 1 the most disordered
setting the family supports; each module documents how it maps to physical settings (recorded in
``Generated.knob_values``). ``n_atoms`` is a target; generators round to what the lattice allows
and report the actual count. ``size`` selects protocol lengths: ``"small"`` (fast, for demos and
tests) or ``"paper"`` (longer anneals/quenches for publication-scale datasets).

Each generator object also has ``PROTOCOLS``, its named protocols (``name -> settings``, at least
``"small"`` and ``"paper"``, the sizes' own; e.g. lj's ``"paper-half"``), and ``generate`` takes
``protocol=`` (one of those settings objects; ``None``: ``PROTOCOLS[size]``). A dataset's
``protocol`` names one of them (:func:`jaxglass.families.protocols`).

Every generator is deterministic given ``seed`` and returns a structure relaxed to a minimum
(``info["fmax"]`` below ``info["fmax_tol"]``) with the potential used for its spectra.

Each family also provides

    smallest_cell() -> SmallestCell

the smallest cell it builds with its default potential (a pure function of the family's lattice and
box rules, no structure built): :func:`jaxglass.families.check_n_atoms` refuses a smaller ``n_atoms``
before a dataset build starts, with the same message the generator itself raises. Generators whose
protocol runs molecular dynamics take ``progress=`` (a ``progress(steps_done, n_steps)`` callable,
passed to :func:`jaxglass.md.nvt_langevin`).

Families whose glasses of one size share one cell (lj2d, lj3d, sic, cualzr, hea) also provide

    generate_batch(n_atoms, knobs, seeds, *, size="small", protocol=None, progress=None) -> list[Generated]

the same as ``generate`` per ``(knob, seed)``, with the MD of all of them stepped in one compiled program
(:func:`jaxglass.md.nvt_langevin_batch`); ``jaxglass generate --batch B --workers 0`` uses it.
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


@dataclasses.dataclass(frozen=True)
class SmallestCell:
    """The smallest cell a family builds: its atom count and the rule that excludes smaller ones."""

    n_atoms: int
    reason: str

    def check(self, n_atoms: int, family: str) -> None:
        """A :class:`~jaxglass.errors.UserError` naming ``n_atoms``, the value, the minimum and the fix
        when ``n_atoms`` is below :attr:`n_atoms`."""
        if int(n_atoms) < self.n_atoms:
            raise UserError(
                f"n_atoms: {family} needs at least {self.n_atoms} atoms ({self.reason}), got "
                f"n_atoms={n_atoms}; ask for n_atoms >= {self.n_atoms}", field="n_atoms")


def check_knob(knob: float, size: str) -> None:
    if not (0.0 <= float(knob) <= 1.0):
        raise UserError(f"knob: the normalised disorder knob must lie in [0, 1], got {knob}")
    if size not in SIZES:
        raise UserError(f"size: expected one of {SIZES}, got {size!r}")


def check_batch(knobs: Any, seeds: Any, size: str) -> tuple[list[float], list[int]]:
    """The knobs and seeds of a ``generate_batch`` call as lists (each knob checked with
    :func:`check_knob`, each seed with :func:`check_seed`); a :class:`~jaxglass.errors.UserError`
    unless there is one seed per knob and at least one of each."""
    knobs, seeds = list(knobs), list(seeds)
    for knob in knobs:
        check_knob(knob, size)  # size and knobs first: a bad one is named before any work
    if len(knobs) != len(seeds) or not knobs:
        raise UserError(f"knobs, seeds: one seed per knob and at least one knob, got {len(knobs)} knobs and "
                        f"{len(seeds)} seeds")
    return [float(k) for k in knobs], [check_seed(s) for s in seeds]


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
