"""The one registry of glass families: generator, default potential, grids and units.

Every other view derives from :data:`REGISTRY`: :func:`generator` (the generator objects),
:func:`jaxglass.generate.family_potential`, the dataset builder's grids and default
sizes (:mod:`jaxglass.data`) and the command line's ``--system`` choices. Adding a family is one entry here.

This module holds plain data (the generators are imported only when :func:`generator` is called),
so any module may import it.
"""

from __future__ import annotations

import dataclasses
import importlib

from .errors import UserError


@dataclasses.dataclass(frozen=True)
class FamilyDefaults:
    """Grids and default sizes per family (frequency unit: THz, or ω in LJ units)."""

    n_atoms_small: int
    n_atoms_paper: int
    freq_max: float
    freq_sigma: float
    r_min: float
    r_max: float
    r_sigma: float
    species: tuple[str, ...]
    freq_unit: str = "THz"
    length_unit: str = "Å"


@dataclasses.dataclass(frozen=True)
class Family:
    """One glass family: ``generate.<module>.<attr>`` is its generator object (``attr=None``: the
    module itself), ``generate.<potential[0]>.<potential[1]>()`` its default potential, ``defaults``
    its grids, sizes, species and units."""

    name: str
    module: str
    attr: str | None
    potential: tuple[str, str]
    defaults: FamilyDefaults

    @property
    def reduced_units(self) -> bool:
        """Lennard-Jones reduced units (lengths in σ, frequencies in LJ ω units)."""
        return self.defaults.length_unit == "sigma"


_LJ_UNITS = dict(freq_unit="omega (LJ units)", length_unit="sigma")
_AMC = FamilyDefaults(160, 800, 60.0, 0.5, 1.0, 6.0, 0.05, ("C",))
_LJ2D = FamilyDefaults(256, 1024, 80.0, 0.5, 0.6, 3.5, 0.03, ("A", "B"), **_LJ_UNITS)
_LJ3D = FamilyDefaults(256, 1000, 50.0, 0.5, 0.6, 2.7, 0.03, ("A", "B"), **_LJ_UNITS)
_SIC = FamilyDefaults(400, 1000, 36.0, 0.3, 1.2, 7.0, 0.05, ("Si", "C"))
_CUALZR = FamilyDefaults(250, 1000, 12.0, 0.1, 2.0, 7.5, 0.05, ("Cu", "Zr", "Al"))
# r_max 7.5 Å: r_max + 5 r_sigma below half the shortest 300-atom box edge (15.57 Å); highest mode
# measured 11.6 THz (a partial melt; the f = 1 glass 10.9, the B2 crystal 8.5)
_HEA = FamilyDefaults(300, 1024, 12.0, 0.1, 2.0, 7.5, 0.05, ("Ti", "Zr", "Cu", "Ni"))
_KA = ("lj", "potential")  # Kob-Andersen, all LJ generators

REGISTRY: dict[str, Family] = {
    f.name: f
    for f in (
        Family("amc", "amc", None, ("amc", "potential"), _AMC),
        Family("lj2d", "lj", "LJ2D", _KA, _LJ2D),
        Family("lj3d", "lj", "LJ3D", _KA, _LJ3D),
        Family("sic", "sic", None, ("sic", "potential"), _SIC),
        Family("cualzr", "cualzr", None, ("cualzr", "default_potential"), _CUALZR),
        Family("hea", "hea", None, ("hea", "default_potential"), _HEA),
        # the alternative Kob-Andersen generators (composition / quench-rate knobs) on the LJ grids
        Family("lj2d-comp", "lj_knobs", "LJ2D_COMP", _KA, _LJ2D),
        Family("lj3d-comp", "lj_knobs", "LJ3D_COMP", _KA, _LJ3D),
        Family("lj2d-quench", "lj_knobs", "LJ2D_QUENCH", _KA, _LJ2D),
        Family("lj3d-quench", "lj_knobs", "LJ3D_QUENCH", _KA, _LJ3D),
    )
}

#: Family names in registry order (the command line's ``--system`` choices).
NAMES: tuple[str, ...] = tuple(REGISTRY)


def get(name: str) -> Family:
    """The :class:`Family` called ``name``; an unknown name is a ``ValueError`` listing the valid ones."""
    if name not in REGISTRY:
        raise UserError(f"system: unknown family {name!r}; choose one of {sorted(REGISTRY)}")
    return REGISTRY[name]


def smallest_cell(name: str):
    """The smallest cell the generator of family ``name`` builds with its default potential
    (:class:`jaxglass.generate.base.SmallestCell`: ``n_atoms`` and the rule); a pure function of the
    family's lattice and box rules, nothing is built."""
    return generator(name).smallest_cell()


def check_n_atoms(name: str, n_atoms: int) -> None:
    """Refuse (``UserError`` naming ``n_atoms``, the value, the minimum and the fix) an ``n_atoms``
    below the smallest cell of family ``name``, before any work: the rule the generator applies."""
    smallest_cell(name).check(n_atoms, f"the {name} family")


def protocols(name: str) -> dict:
    """The named protocols of family ``name``: its generator's ``PROTOCOLS`` (name → settings), the
    one list a dataset's ``protocol`` is checked against and resolved in."""
    return generator(name).PROTOCOLS


def generator(name: str):
    """The generator object of family ``name``: ``.generate(n_atoms, knob, seed, *, size)`` and
    ``.crystal(n_atoms, *, size)`` (:mod:`jaxglass.generate.base`); its module is imported on first use."""
    f = get(name)
    module = importlib.import_module(f"jaxglass.generate.{f.module}")
    return module if f.attr is None else getattr(module, f.attr)
