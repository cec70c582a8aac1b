"""Structure generators: crystals and glasses with a disorder knob.

:func:`jaxglass.families.generator` gives the family object (``.generate(n_atoms, knob, seed, *,
size)`` and ``.crystal(n_atoms, *, size)``, see :mod:`jaxglass.generate.base`) for the six glass
families: ``amc``, ``lj2d``, ``lj3d``, ``sic``, ``cualzr``, ``hea`` (equiatomic TiZrCuNi), and the
alternative Kob-Andersen generators ``lj2d-comp``, ``lj3d-comp`` (composition knob) and
``lj2d-quench``, ``lj3d-quench`` (quench-rate knob) of :mod:`jaxglass.generate.lj_knobs`. Family
modules are imported on first use.
"""

from __future__ import annotations

import importlib

from .. import families as _families
from .base import Generated
from .lattices import fcc, graphene, random_packing, square, triangular, zincblende


def family_potential(name: str):
    """The default potential the generator of family ``name`` relaxes its structures with."""
    mod, fn = _families.get(name).potential
    return getattr(importlib.import_module(f"{__name__}.{mod}"), fn)()


__all__ = [
    "Generated",
    "family_potential",
    "fcc",
    "graphene",
    "random_packing",
    "square",
    "triangular",
    "zincblende",
]
