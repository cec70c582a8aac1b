"""The one registry of observables: every kind :func:`spectrum` computes, and what the rest of the
package needs to know about it.

One :class:`Observable` per kind, in display order, in :data:`REGISTRY`; :data:`KINDS` is its key
tuple. Everything that lists the kinds derives from it: :func:`spectrum` dispatches through it, the
study targets and their labels (:mod:`jaxglass.study`, :mod:`jaxglass.data.observables`), the axis
labels of :func:`jaxglass.plots.plot_spectrum`, the ``--kind`` / ``--target`` choices of the command
line and the checks of :mod:`jaxglass.workflows.spectrum`. The record arrays a dataset stores are
declared once in :data:`jaxglass.data.schema.OBSERVABLE_FIELDS`; an entry names its key there
(``record_key``) and nothing more.

Adding an observable: its function in the module of its probe (:mod:`~jaxglass.observables.neutron`,
:mod:`~jaxglass.observables.xray`, :mod:`~jaxglass.observables.raman`), returning a
:class:`~jaxglass.observables.Spectrum`, and one entry below.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from ..errors import UserError
from ..scattering_data import check_form_factor_range
from ..structure import Structure
from ..units import THZ_TO_CM1, THZ_TO_MEV
from ..validation import Each, broadening, q_magnitude, temperature_kelvin, validate
from ._common import PDOS_UNIT, Spectrum, pdos_spectrum
from .neutron import NEUTRON_UNIT, XRAY_UNIT, ins_sqw, neutron_dos
from .raman import RAMAN_UNIT, raman_spectrum
from .xray import ixs_sqw

#: Figure axes: name → factor from THz to the axis unit.
AXES = {"frequency": 1.0, "energy": THZ_TO_MEV, "wavenumber": THZ_TO_CM1}


@dataclasses.dataclass(frozen=True)
class Observable:
    """One observable kind.

    Attributes:
      name: the kind (``spectrum(kind, ...)``, ``--kind``, ``--target``).
      label: short name for help texts and tables.
      target_label: its name as a study target (the dataset array the models predict).
      unit: unit of :attr:`Spectrum.intensity` as :func:`spectrum` returns it for THz modes and the
        main model (a constant of the function's module, e.g. ``neutron.NEUTRON_UNIT``).
      axis: x axis of its figure, a key of :data:`AXES` (``"frequency"``: THz or the family's
        unit, ``"energy"``: meV, ``"wavenumber"``: cm⁻¹).
      x_label, y_label: figure axis labels (``{freq_unit}`` is filled in).
      compute: ``compute(structure, modes, grid, sigma, temperature, q, **kwargs) -> Spectrum``
        (``kwargs``: ``eigenvectors`` and the function's own options).
      needs_q: takes |Q| shell centres ``q`` (Å⁻¹, 2π included).
      from_zero: an energy-loss spectrum, whose default grid starts at ω = 0 (else the modes' range).
      record_key: the dataset record array (a key of :data:`jaxglass.data.schema.FIELDS`) the study
        uses as its target; ``None`` if datasets do not store it.
      spectrum_kinds: other :attr:`Spectrum.kind` values its ``compute`` returns (a fallback model).
      check_q: cheap check of ``q`` before the modes are computed, or ``None``.
    """

    name: str
    label: str
    target_label: str
    unit: str
    axis: str
    x_label: str
    y_label: str
    compute: Callable[..., Spectrum]
    needs_q: bool = False
    from_zero: bool = True
    record_key: str | None = None
    spectrum_kinds: tuple[str, ...] = ()
    check_q: Callable[[Sequence[float]], None] | None = None

    def __post_init__(self):
        if self.axis not in AXES:
            raise ValueError(f"Observable {self.name}: axis {self.axis!r} not in {tuple(AXES)}")

    @property
    def stored_in_datasets(self) -> bool:
        return self.record_key is not None

    @property
    def axis_scale(self) -> float:
        """Factor from THz to the figure's axis unit."""
        return AXES[self.axis]


_PER_MEV = "mbarn meV$^{-1}$ atom$^{-1}$"
_LOSS = "energy transfer $\\hbar\\omega$ (meV)"

#: Every observable, in display order.
REGISTRY: dict[str, Observable] = {o.name: o for o in (
    Observable(
        "pdos", "PDOS", "PDOS", PDOS_UNIT, "frequency", "frequency ({freq_unit})",
        "PDOS (states / {freq_unit} / mode)",
        lambda s, m, grid, sigma, temperature, q, eigenvectors=None, **_: pdos_spectrum(
            s, m, grid, sigma, eigenvectors=eigenvectors),
        from_zero=False, record_key="pdos_total"),
    Observable(
        "ndos", "neutron-weighted DOS", "neutron-weighted DOS", NEUTRON_UNIT, "energy", _LOSS,
        f"neutron-weighted DOS ({_PER_MEV})",
        lambda s, m, grid, sigma, temperature, q, **kw: neutron_dos(s, m, grid, sigma, **kw),
        record_key="ndos_total"),
    Observable(
        "ins", "INS S(Q,w)", "INS S(Q,ω), Q-averaged", NEUTRON_UNIT, "energy", _LOSS,
        f"$S(Q,\\omega)$ ({_PER_MEV})",
        lambda s, m, grid, sigma, temperature, q, **kw: ins_sqw(s, m, q, grid, sigma, temperature, **kw),
        needs_q=True, record_key="ins_sqw"),
    Observable(
        "ixs", "IXS S(Q,w)", "IXS S(Q,ω), Q-averaged", XRAY_UNIT, "energy", _LOSS,
        "$S(Q,\\omega)$ (e$^2$ meV$^{-1}$ atom$^{-1}$)",
        lambda s, m, grid, sigma, temperature, q, **kw: ixs_sqw(s, m, q, grid, sigma, temperature, **kw),
        needs_q=True, record_key="ixs_sqw", check_q=check_form_factor_range),
    Observable(
        "raman", "Raman", "Raman (unit area)", RAMAN_UNIT, "wavenumber",
        "Raman shift (cm$^{-1}$)", "Raman intensity (arb. units)",
        lambda s, m, grid, sigma, temperature, q, **kw: raman_spectrum(s, m, grid, sigma, temperature, **kw),
        record_key="raman", spectrum_kinds=("raman-sg",)),
)}
#: The observable kinds, in display order.
KINDS: tuple[str, ...] = tuple(REGISTRY)
#: The kinds a dataset stores (study targets), in display order.
TARGETS: tuple[str, ...] = tuple(k for k, o in REGISTRY.items() if o.stored_in_datasets)


def observable(kind: str, argument: str = "kind") -> Observable:
    """The registry entry of ``kind`` (a :data:`KINDS` name or a :attr:`Spectrum.kind` such as
    ``"raman-sg"``); an unknown kind raises :class:`~jaxglass.errors.UserError` naming ``argument``."""
    if kind in REGISTRY:
        return REGISTRY[kind]
    for o in REGISTRY.values():
        if kind in o.spectrum_kinds:
            return o
    raise UserError(f"{argument}: expected one of {KINDS}, got {kind!r}")


def choices_help(kinds: Sequence[str] = KINDS) -> str:
    """``"pdos (PDOS), ndos (neutron-weighted DOS), ..."``: the kinds with their labels, for help texts."""
    return ", ".join(f"{k} ({REGISTRY[k].label})" for k in kinds)


@validate({
    "sigma": [broadening, "the Gaussian broadening in THz, e.g. 0.3"],
    "temperature": [temperature_kelvin, "the temperature in K; use e.g. 1e-3 for T → 0"],
    "q": [None, Each(q_magnitude), "the |Q| values in 1/Å (2π included), e.g. 2 4 6"],
})
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
    """Dispatch to one observable of :data:`REGISTRY` on a fixed grid (fixed output shapes for
    dataset records).

    ``kind``: ``"pdos"`` (per-mode normalised), ``"ndos"`` (neutron-weighted DOS), ``"ins"``,
    ``"ixs"`` (need ``q``, Å⁻¹) or ``"raman"``; ``kwargs`` go to the observable's function.
    """
    if kind not in REGISTRY:
        raise UserError(f"kind: expected one of {KINDS}, got {kind!r}")
    obs = REGISTRY[kind]
    if obs.needs_q and q is None:
        raise UserError(f"q: the {kind} spectrum needs |Q| values (Å⁻¹, 2π included), e.g. q=[2, 4, 6]")
    return obs.compute(structure, modes, grid, sigma, temperature, q, eigenvectors=eigenvectors, **kwargs)
