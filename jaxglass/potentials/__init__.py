"""Interatomic potentials for the five glass families (see :mod:`jaxglass.potentials.base`)."""

from .base import FREQ_THZ, Potential, Term, energy, forces
from .lj import kob_andersen, lennard_jones

__all__ = ["FREQ_THZ", "Potential", "Term", "energy", "forces", "kob_andersen", "lennard_jones"]
