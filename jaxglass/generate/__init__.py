"""Structure generators: crystals and glasses with a disorder knob.

``SYSTEMS[name]`` gives the family object (``.generate(n_atoms, knob, seed, *, size)`` and
``.crystal(n_atoms, *, size)``, see :mod:`jaxglass.generate.base`) for the five glass families:
``amc``, ``lj2d``, ``lj3d``, ``sic``, ``cualzr``, and the alternative Kob-Andersen generators
``lj2d-comp``, ``lj3d-comp`` (composition knob) and ``lj2d-quench``, ``lj3d-quench`` (quench-rate
knob) of :mod:`jaxglass.generate.lj_knobs`. Family modules are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from .. import families as _families
from ..errors import UserError
from .base import Generated
from .lattices import fcc, graphene, random_packing, square, triangular, zincblende

# family name -> (module, attribute holding generate/crystal; None = the module itself), derived
# from the one registry, jaxglass.families
_FAMILIES = {name: (f.module, f.attr) for name, f in _families.REGISTRY.items()}


class _Registry(Mapping):
    def __getitem__(self, name: str):
        if name not in _FAMILIES:
            raise UserError(f"system: unknown family {name!r}; choose one of {sorted(_FAMILIES)}")
        mod, attr = _FAMILIES[name]
        module = importlib.import_module(f"{__name__}.{mod}")
        return module if attr is None else getattr(module, attr)

    def __iter__(self) -> Iterator[str]:
        return iter(_FAMILIES)

    def __len__(self) -> int:
        return len(_FAMILIES)


SYSTEMS = _Registry()

# family name -> (module, function returning the family's default potential)
_POTENTIALS = {name: f.potential for name, f in _families.REGISTRY.items()}


def family_potential(name: str):
    """The default potential the generator of family ``name`` relaxes its structures with."""
    if name not in _POTENTIALS:
        raise UserError(f"system: unknown family {name!r}; choose one of {sorted(_POTENTIALS)}")
    mod, fn = _POTENTIALS[name]
    return getattr(importlib.import_module(f"{__name__}.{mod}"), fn)()

__all__ = [
    "SYSTEMS",
    "Generated",
    "family_potential",
    "fcc",
    "graphene",
    "random_packing",
    "square",
    "triangular",
    "zincblende",
]
