"""One observable of one structure file, as ``jaxglass spectra FILE`` computes and writes it.

:func:`structure_spectrum` takes a structure at (or near) a minimum and returns the PDOS, the
neutron-weighted DOS, the INS or IXS S(Q, ω) on |Q| shells, or the Raman spectrum
(:func:`jaxglass.observables.spectrum`) on the grid rule of :func:`jaxglass.modes.default_grid`
(energy-loss observables start at ω = 0); :func:`write_spectrum` writes ``spectrum.csv``,
``spectrum.npz``, ``spectrum.json`` and ``spectrum.png``.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np

from .. import observables as ob
from .. import phonons
from .._io import atomic_savez, atomic_write_text, write_csv
from ..errors import UserError
from ..modes import default_grid
from ..units import THZ_TO_CM1, THZ_TO_MEV
from ..validation import (
    Each,
    Integral,
    broadening,
    q_magnitude,
    relative_tolerance,
    temperature_kelvin,
    validate,
)


def spectrum_grid(kind: str, frequencies, sigma: float | None, n_points: int):
    """``(grid, sigma)``: :func:`jaxglass.modes.default_grid` of the mode frequencies; the energy-loss
    observables (``from_zero`` in :data:`jaxglass.observables.REGISTRY`: all but the PDOS) start at
    ω = 0."""
    grid, sigma = default_grid(frequencies, sigma, n_points)
    grid = np.asarray(grid)
    if ob.observable(kind).from_zero:
        grid = np.linspace(0.0, float(grid[-1]), n_points)
    return grid, sigma


@validate({
    "temperature": [temperature_kelvin, "the temperature in K (Bose, Debye-Waller); use e.g. 1e-3 for T → 0"],
    "sigma": [None, broadening, "the Gaussian broadening in THz (None: 1 % of the spectral width)"],
    "n_points": [Integral(2, 10**7), "the number of frequency grid points, e.g. 500"],
    "q": [None, Each(q_magnitude), "the |Q| values in 1/Å (2π included), e.g. 2 4 6"],
    "powder_tol": [None, relative_tolerance, "the powder average's standard error per |Q| shell as a "
                   "fraction "
                   "of the shell's maximum, e.g. 0.02"],
})
def structure_spectrum(
    pot,
    s,
    kind: str,
    *,
    modes=None,
    temperature: float = 300.0,
    q=None,
    sigma: float | None = None,
    n_points: int = 500,
    powder_tol: float | None = None,
) -> tuple[ob.Spectrum, object, float]:
    """``(spectrum, modes, sigma)`` of ``kind`` (one of :data:`jaxglass.observables.KINDS`) for ``s``.

    ``temperature`` in K (Bose and Debye–Waller factors); ``q``: |Q| shell centres in 1/Å (2π
    included) for INS/IXS, whose powder average stops sampling at ``powder_tol`` (None:
    :data:`jaxglass.observables.POWDER_TOL`); ``sigma`` in THz (None: 1 % of the spectral width).
    Imaginary modes are left out of the spectrum (count them with ``modes.n_imaginary()``).
    """
    if kind not in ob.REGISTRY:
        raise UserError(f"kind: expected one of {ob.KINDS}, got {kind!r}")
    obs = ob.REGISTRY[kind]
    m = phonons.modes(pot, s) if modes is None else modes
    grid, sigma = spectrum_grid(kind, np.asarray(m.frequencies), sigma, n_points)
    q = np.asarray(q, dtype=float) if obs.needs_q else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # imaginary modes: counted by the caller
        kw = {} if powder_tol is None or not obs.needs_q else dict(powder_tol=powder_tol)
        sp = ob.spectrum(kind, s, m, grid, sigma=sigma, temperature=temperature, q=q, **kw)
    return sp, m, float(sigma)


def spectrum_table(sp: ob.Spectrum) -> tuple[list[str], np.ndarray]:
    """Column labels and rows of a spectrum: one S(Q) curve per shell, or total + partials, or one."""
    inten = np.atleast_2d(np.asarray(sp.intensity))
    if sp.q is not None:
        labels = [f"S(Q={qq:.3f}/A)" for qq in np.asarray(sp.q)]
    elif sp.partial is not None:
        labels = ["total"] + [f"partial_{n}" for n in sp.species_names]
        inten = np.concatenate([inten, np.asarray(sp.partial)])
    else:
        labels = ["intensity"]
    return labels, inten


def write_spectrum(
    out: Path, sp: ob.Spectrum, frequencies, meta: dict, *, freq_unit: str = "THz", title: str = ""
) -> list[Path]:
    """Write ``spectrum.csv`` (frequency, meV, cm⁻¹, one column per curve), ``spectrum.npz`` (with the
    mode ``frequencies`` and ``meta``), ``spectrum.png`` (if matplotlib is installed) and
    ``spectrum.json`` (``meta``) into ``out``, atomically; returns the paths written."""
    out = Path(out)
    labels, inten = spectrum_table(sp)
    fr = np.asarray(sp.frequency)
    cols = [fr, fr * THZ_TO_MEV, fr * THZ_TO_CM1, *inten]
    header = ",".join([f"frequency_{freq_unit}", "energy_meV", "wavenumber_cm-1"] + labels)
    write_csv(out / "spectrum.csv", np.stack(cols, 1), header)
    atomic_savez(
        out / "spectrum.npz",
        dict(
            frequency_THz=fr,
            intensity=np.asarray(sp.intensity),
            q=np.asarray(sp.q) if sp.q is not None else np.zeros(0),
            partial=np.asarray(sp.partial) if sp.partial is not None else np.zeros((0, len(fr))),
            frequencies=np.asarray(frequencies),
            metadata=json.dumps(meta),
        ),
    )
    written = [out / "spectrum.csv", out / "spectrum.npz"]
    try:
        from ..plots import plot_spectrum

        plot_spectrum(fr, inten, labels, sp.kind, out / "spectrum.png", title, freq_unit)
        written.append(out / "spectrum.png")
    except ImportError:
        pass
    atomic_write_text(out / "spectrum.json", json.dumps(meta, indent=2))
    return written
