"""One string names a potential: the ``--potential`` argument of the CLI and :func:`from_spec`.

Accepted forms (``SPEC_FORMS``):

=================================  ===========================================================
``ka``, ``lb-carbon``,             the built-in potentials (Kob-Andersen with the C² cutoff,
``tersoff-sic``, ``vashishta-sic``, Lindsay-Broido carbon, Tersoff 1989 Si-C, Vashishta 2007
``zjw``                            Si-C, analytic Zhou-Johnson-Wadley Cu-Al-Zr EAM)
``zjw:El1,El2,...``                the analytic Zhou-Johnson-Wadley EAM for those elements
                                   (e.g. ``zjw:Ti,Zr,Cu,Ni``, the ``hea`` family's potential)
``tersoff:PATH[:El1,El2,...]``     a LAMMPS ``.tersoff`` file
``vashishta:PATH[:El1,El2,...]``   a LAMMPS ``.vashishta`` file
``setfl:PATH[:El1,El2,...]``       a LAMMPS ``eam/alloy`` (setfl) file
``lj:TREATMENT[:CUTOFF]``          Kob-Andersen parameters with a cut-off treatment: ``c2``
                                   (second-order smooth), ``shift`` (``lj/cut`` +
                                   ``pair_modify shift yes``) or ``linear``
                                   (``lj/smooth/linear``); CUTOFF in σ_αβ (default 2.5)
=================================  ===========================================================

``El1,El2,...`` are the element names that follow the file in LAMMPS's ``pair_coeff * * FILE El1
El2``: they choose the elements and set the potential's species order. Without them, a Tersoff or
Vashishta potential uses every element of the file (in order of first appearance) and a setfl
potential the file's element list.

>>> from_spec("lj:linear").name
'Kob-Andersen LJ (force-shifted, lj/smooth/linear)'
"""

from __future__ import annotations

import os
from pathlib import Path

from .._io import read_text
from ..errors import UserError
from ..validation import check, positive
from .base import Potential

#: The accepted forms of a potential spec, for help texts and error messages.
SPEC_FORMS = (
    "ka",
    "lb-carbon",
    "tersoff-sic",
    "vashishta-sic",
    "zjw",
    "zjw:El1,El2,...",
    "tersoff:PATH[:El1,El2,...]",
    "vashishta:PATH[:El1,El2,...]",
    "setfl:PATH[:El1,El2,...]",
    "lj:{c2,shift,linear}[:CUTOFF]",
)

_LJ_ALIASES = {
    "c2": "c2",
    "smooth2": "c2",
    "shift": "shift",
    "shifted": "shift",
    "truncated-shifted": "shift",
    "lj/cut": "shift",
    "linear": "linear",
    "force-shifted": "linear",
    "lj/smooth/linear": "linear",
}


def _builtin(name: str) -> Potential | None:
    from . import eam, lj, tersoff, vashishta

    table = {
        "ka": lj.kob_andersen,
        "lb-carbon": tersoff.lindsay_broido_carbon,
        "tersoff-sic": tersoff.tersoff_sic_1989,
        "vashishta-sic": vashishta.vashishta_sic_2007,
        "zjw": eam.zhou_johnson_wadley,
    }
    return table[name]() if name in table else None


def _path_and_elements(kind: str, body: str) -> tuple[str, tuple[str, ...] | None]:
    """Split ``PATH[:El1,El2]``; a path that exists as given wins over an element suffix."""
    if not body:
        raise UserError(f"potential spec: '{kind}:' needs a file path, e.g. {kind}:PATH or {kind}:PATH:Si,C")
    path, elements = body, None
    if not os.path.isfile(body) and ":" in body:
        head, tail = body.rsplit(":", 1)
        path = head
        elements = tuple(e.strip() for e in tail.split(",") if e.strip())
        if not elements or not all(e.isalnum() for e in elements):
            raise UserError(
                f"potential spec: {kind}:{body!r}: the part after the last ':' must be element names "
                "separated by commas, e.g. Si,C"
            )
    if not os.path.isfile(path):
        raise UserError(f"potential spec: {kind} file {path!r} not found")
    return path, elements


def _file_elements(path: str) -> tuple[str, ...]:
    """Elements of a Tersoff/Vashishta file (17 tokens per entry), in order of first appearance."""
    tokens = []
    for line in read_text(path, "a LAMMPS tersoff/vashishta file").splitlines():
        tokens.extend(line.split("#", 1)[0].split())
    if not tokens or len(tokens) % 17:
        raise UserError(
            f"potential spec: {path!r} does not look like a LAMMPS tersoff/vashishta file "
            f"({len(tokens)} values, expected entries of 3 elements + 14 numbers)"
        )
    out: list[str] = []
    for k in range(0, len(tokens), 17):
        for e in tokens[k : k + 3]:
            if e not in out:
                out.append(e)
    return tuple(out)


def _lj(body: str) -> Potential:
    from .lj import KA_CUTOFF, kob_andersen

    parts = body.split(":") if body else [""]
    treatment = _LJ_ALIASES.get(parts[0].strip().lower())
    if treatment is None or len(parts) > 2:
        raise UserError(
            f"potential spec: lj:{body!r}: expected lj:TREATMENT[:CUTOFF] with TREATMENT one of "
            "c2 (second-order smooth), shift (lj/cut + pair_modify shift yes), linear "
            "(lj/smooth/linear) and CUTOFF in units of sigma_ab, e.g. lj:shift:2.5"
        )
    cutoff = KA_CUTOFF
    if len(parts) == 2:
        try:
            cutoff = float(parts[1])
        except ValueError:
            raise UserError(
                f"potential spec: lj cutoff {parts[1]!r} must be a positive number (sigma_ab), e.g. 2.5"
            ) from None
        check("cutoff", cutoff, positive, "the lj cutoff is a positive number in units of sigma_ab, e.g. 2.5")
    return kob_andersen(cutoff_treatment=treatment, cutoff=cutoff)


def from_spec(spec: str) -> Potential:
    """The potential named by ``spec`` (one of :data:`SPEC_FORMS`).

    Raises:
      ValueError: for an unknown form (the message lists the accepted forms), a missing file or a
        malformed element list or LJ treatment.
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"potential spec: expected a string, got {type(spec).__name__}")
    spec = os.fspath(spec).strip()
    pot = _builtin(spec)
    if pot is not None:
        return pot
    kind, sep, body = spec.partition(":")
    if sep and kind == "lj":
        return _lj(body)
    if sep and kind == "zjw":
        from .eam import zhou_johnson_wadley

        elements = tuple(e.strip() for e in body.split(",") if e.strip())
        if not elements:
            raise UserError(f"potential spec: {spec!r}: give elements after 'zjw:', e.g. zjw:Ti,Zr,Cu,Ni")
        return zhou_johnson_wadley(elements)
    if sep and kind in ("tersoff", "vashishta", "setfl"):
        path, elements = _path_and_elements(kind, body)
        if kind == "setfl":
            from .eam import read_setfl

            return read_setfl(path, elements=elements)
        species = elements if elements is not None else _file_elements(path)
        name = f"{kind.capitalize()} ({Path(path).name}: {' '.join(species)})"
        if kind == "tersoff":
            from .tersoff import read_tersoff_file

            return read_tersoff_file(path, species, name=name)
        from .vashishta import read_vashishta_file

        return read_vashishta_file(path, species, name=name)
    raise UserError(f"potential spec: unknown potential {spec!r}; accepted forms: {', '.join(SPEC_FORMS)}")
