"""The LAMMPS ``eam/alloy`` (setfl) file format: :func:`parse_setfl` reads a file into
:class:`SetflData` (host-side NumPy tables, with messages naming the file and line for a broken
file); :func:`jaxglass.potentials.eam.read_setfl` turns it into a potential. The other way:
:func:`tabulate_setfl` samples any multi-species EAM potential (e.g. the analytic
:func:`~jaxglass.potentials.eam.zhou_johnson_wadley`) on the setfl grids and :func:`write_setfl`
writes the file, which LAMMPS reads with ``pair_style eam/alloy``.

Format (LAMMPS ``pair_style eam/alloy`` documentation, after Daw & Baskes, Phys. Rev. B 29, 6443
(1984)): three comment lines; the element count and names; ``Nrho drho Nr dr cutoff``; per element a
line ``Z mass a lattice`` followed by F(rho) (Nrho values) and rho(r) (Nr values); then r·phi(r) for
every pair i >= j (Nr values each).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .._io import read_text
from ..errors import UserError


@dataclasses.dataclass(frozen=True)
class SetflData:
    """Raw contents of a setfl file (host-side numpy)."""

    comments: tuple[str, str, str]
    elements: tuple[str, ...]
    nrho: int
    drho: float
    nr: int
    dr: float
    cutoff: float
    atomic_numbers: tuple[int, ...]
    masses: tuple[float, ...]
    frho: np.ndarray  # (n_el, nrho) F(ρ)
    rhor: np.ndarray  # (n_el, nr) f(r)
    z2r: np.ndarray  # (n_el, n_el, nr) r φ(r), symmetric


def _floats(line: str) -> list[float]:
    body = line.split("#", 1)[0]
    return [float(tok.replace("D", "E").replace("d", "e")) for tok in body.split()]


def _setfl_header(path: Path, lines: list[str]):
    """Elements and grid ``(nrho, drho, nr, dr, cutoff)`` of lines 4-5 of a setfl file."""
    el_tok = lines[3].split("#", 1)[0].split()
    try:
        nel = int(el_tok[0])
    except (IndexError, ValueError) as err:
        raise UserError(f"{path}: line 4 must be 'N el_1 ... el_N', got {lines[3]!r}") from err
    if nel < 1 or len(el_tok) < nel + 1:
        raise UserError(f"{path}: line 4 names {len(el_tok) - 1} elements, expected {nel}")
    elements = tuple(el_tok[1 : nel + 1])
    hdr = lines[4].split("#", 1)[0].split()
    if len(hdr) < 5:
        raise UserError(f"{path}: line 5 must be 'Nrho drho Nr dr cutoff', got {lines[4]!r}")
    try:
        nrho, drho, nr, dr, cut = int(hdr[0]), float(hdr[1]), int(hdr[2]), float(hdr[3]), float(hdr[4])
    except ValueError as err:
        raise UserError(f"{path}: line 5 must be 'Nrho drho Nr dr cutoff' (two integers, three numbers), "
                        f"got {lines[4]!r}") from err
    if nrho < 5 or nr < 5 or not all(np.isfinite(x) and x > 0 for x in (drho, dr, cut)):
        raise UserError(f"{path}: bad grid header Nrho={nrho} drho={drho} Nr={nr} dr={dr} cutoff={cut}")
    return elements, (nrho, drho, nr, dr, cut)


class _SetflReader:
    """The body of a setfl file from line 6 on: values spread over lines freely."""

    def __init__(self, path: Path, lines: list[str]):
        self.path, self.lines = path, lines
        self.pos = 5
        self.spill: list[float] = []  # values read past the end of the previous table (same line)

    def take(self, n: int, what: str) -> np.ndarray:
        """The next ``n`` values."""
        path, lines = self.path, self.lines
        vals = self.spill
        while len(vals) < n:
            if self.pos >= len(lines):
                raise UserError(f"{path}: file ends while reading {what} ({len(vals)} of {n} values)")
            try:
                vals.extend(_floats(lines[self.pos]))
            except ValueError as err:
                raise UserError(f"{path}: line {self.pos + 1} while reading {what}: {err}") from err
            self.pos += 1
        self.spill = vals[n:]
        out = np.asarray(vals[:n], dtype=np.float64)
        if not np.isfinite(out).all():
            raise UserError(f"{path}: {what} holds NaN or inf (near line {self.pos}); the tables must be "
                            "finite")
        return out

    def element_line(self, el: str) -> tuple[int, float]:
        """``Z`` and mass from the ``Z mass a0 lattice`` line opening the block of element ``el``."""
        path, lines = self.path, self.lines
        if self.spill:
            raise UserError(f"{path}: {len(self.spill)} extra values before the block of element {el}")
        while self.pos < len(lines) and not lines[self.pos].split("#", 1)[0].strip():
            self.pos += 1
        if self.pos >= len(lines):
            raise UserError(f"{path}: file ends before the block of element {el}")
        line = lines[self.pos]
        tok = line.split("#", 1)[0].split()
        try:
            z, mass = int(float(tok[0])), float(tok[1])
            if not (np.isfinite(mass) and mass > 0):
                raise ValueError(f"mass {mass}")
        except (IndexError, ValueError, OverflowError) as err:
            raise UserError(f"{path}: expected 'Z mass a0 lattice' for {el}, got {line!r}") from err
        self.pos += 1
        return z, mass


def parse_setfl(path: str | Path) -> SetflData:
    """Read a LAMMPS setfl (``eam/alloy``) file into numpy arrays.

    Layout: 3 comment lines; ``N el_1 ... el_N``; ``Nrho drho Nr dr cutoff``; then per element
    a line ``Z mass a0 lattice`` followed by ``Nrho`` values of F(ρ) and ``Nr`` of f(r); then
    the ``r φ(r)`` tables for ``i ≥ j`` (lower triangle, row by row), ``Nr`` values each.
    Values may be spread over lines freely; ``#`` starts a comment.
    """
    path = Path(path)
    lines = read_text(path, "a LAMMPS setfl (eam/alloy) file", field="path").splitlines()
    if len(lines) < 6:
        raise UserError(f"{path}: too short for a setfl file ({len(lines)} lines)")
    comments = (lines[0], lines[1], lines[2])
    elements, (nrho, drho, nr, dr, cut) = _setfl_header(path, lines)
    nel = len(elements)
    reader = _SetflReader(path, lines)
    znum, mass = [], []
    frho = np.empty((nel, nrho))
    rhor = np.empty((nel, nr))
    for i, el in enumerate(elements):
        z, m = reader.element_line(el)
        znum.append(z)
        mass.append(m)
        frho[i] = reader.take(nrho, f"F(rho) of {el}")
        rhor[i] = reader.take(nr, f"f(r) of {el}")
    z2r = np.empty((nel, nel, nr))
    for i in range(nel):
        for j in range(i + 1):
            z2r[i, j] = reader.take(nr, f"r*phi(r) of {elements[i]}-{elements[j]}")
            z2r[j, i] = z2r[i, j]
    if reader.spill:
        raise UserError(f"{path}: {len(reader.spill)} extra values after the last pair table")
    return SetflData(
        comments=comments,
        elements=elements,
        nrho=nrho,
        drho=drho,
        nr=nr,
        dr=dr,
        cutoff=cut,
        atomic_numbers=tuple(znum),
        masses=tuple(mass),
        frho=frho,
        rhor=rhor,
        z2r=z2r,
    )


def _rows(values: np.ndarray, per_line: int = 5) -> list[str]:
    """Values as lines of ``per_line`` numbers in ``%.16e`` (17 significant digits: exact round trip)."""
    return [" ".join(f"{v:.16e}" for v in values[k : k + per_line]) for k in range(0, len(values), per_line)]


def write_setfl(path: str | Path, data: SetflData) -> Path:
    """Write ``data`` as a setfl (``eam/alloy``) file; the inverse of :func:`parse_setfl`.

    Layout as in :func:`parse_setfl`, five values per line, every number with 17 significant
    digits, so ``parse_setfl(write_setfl(p, d))`` returns the same floats. The per-element line
    is ``Z mass 0.0 none`` (lattice constant and lattice type are not used by ``eam/alloy``).
    """
    path = Path(path)
    nel = len(data.elements)
    if data.frho.shape != (nel, data.nrho) or data.rhor.shape != (nel, data.nr):
        raise UserError(
            f"data: tables of shape frho {data.frho.shape}, rhor {data.rhor.shape} do not match "
            f"{nel} elements, nrho={data.nrho}, nr={data.nr}"
        )
    if data.z2r.shape != (nel, nel, data.nr):
        raise UserError(f"data: z2r has shape {data.z2r.shape}, expected {(nel, nel, data.nr)}")
    lines = [c.replace("\n", " ") for c in data.comments]
    lines.append(f"{nel} " + " ".join(data.elements))
    lines.append(f"{data.nrho} {data.drho!r} {data.nr} {data.dr!r} {data.cutoff!r}")
    for i in range(nel):
        lines.append(f"{int(data.atomic_numbers[i])} {float(data.masses[i])!r} 0.0 none")
        lines += _rows(np.asarray(data.frho[i], dtype=np.float64))
        lines += _rows(np.asarray(data.rhor[i], dtype=np.float64))
    for i in range(nel):
        for j in range(i + 1):
            lines += _rows(np.asarray(data.z2r[i, j], dtype=np.float64))
    path.write_text("\n".join(lines) + "\n")
    return path


def tabulate_setfl(
    potential,
    *,
    nr: int = 2000,
    nrho: int = 2000,
    rho_max: float = 100.0,
    r_min: float = 0.5,
    comments: tuple[str, str, str] | None = None,
) -> SetflData:
    """Sample an EAM potential's functions on the setfl grids (for :func:`write_setfl`).

    ``potential`` is an :class:`~jaxglass.potentials.eam.EAMPotential` with analytic or tabulated
    functions (its ``functions``, ``species``, ``cutoff``, ``masses``, ``atomic_numbers``). Grids
    as LAMMPS's ``tools/eam_database/create_eam.py``: ``r_k = k dr``, ``dr = cutoff/(nr - 1)``
    (the last node at the cutoff) with functions evaluated at ``max(r_k, r_min)`` (no pair of atoms
    comes closer than ``r_min`` Å); ``ρ_k = k dρ``, ``dρ = rho_max/(nrho - 1)``. The pair table
    holds ``r φ(r)`` at ``r = max(r_k, r_min)``. Needs float64 (the tables keep 17 digits).
    """
    import jax.numpy as jnp

    from .._config import require_x64

    require_x64("jaxglass.potentials.tabulate_setfl")
    if int(nr) < 5 or int(nrho) < 5:
        raise UserError(f"nr, nrho: need at least 5 grid points each, got nr={nr}, nrho={nrho}")
    if not (rho_max > 0 and 0 <= r_min < potential.cutoff):
        raise UserError(f"rho_max, r_min: need rho_max > 0 and 0 <= r_min < cutoff, got {rho_max}, {r_min}")
    fn = potential.functions
    if fn is None:
        raise UserError(f"potential: {potential.name} carries no one-dimensional EAM functions")
    species = tuple(potential.species)
    nel = len(species)
    cutoff = float(potential.cutoff)
    r = jnp.maximum(jnp.linspace(0.0, cutoff, int(nr)), float(r_min))
    rho = jnp.linspace(0.0, float(rho_max), int(nrho))
    frho = np.stack([np.asarray(fn.embedding(jnp.full(rho.shape, k), rho)) for k in range(nel)])
    rhor = np.stack([np.asarray(fn.density(jnp.full(r.shape, k), r)) for k in range(nel)])
    z2r = np.empty((nel, nel, int(nr)))
    for i in range(nel):
        for j in range(nel):
            z2r[i, j] = np.asarray(r * fn.pair(jnp.full(r.shape, i), jnp.full(r.shape, j), r))
    if comments is None:
        comments = (f"{potential.name}, tabulated by jaxglass.potentials.tabulate_setfl",
                    str(potential.citation), f"nr={nr} nrho={nrho} rho_max={rho_max} r_min={r_min}")
    return SetflData(
        comments=tuple(comments),
        elements=species,
        nrho=int(nrho),
        drho=float(rho_max) / (int(nrho) - 1),
        nr=int(nr),
        dr=cutoff / (int(nr) - 1),
        cutoff=cutoff,
        atomic_numbers=tuple(int(potential.atomic_numbers[s]) for s in species),
        masses=tuple(float(potential.masses[s]) for s in species),
        frho=frho,
        rhor=rhor,
        z2r=0.5 * (z2r + z2r.transpose(1, 0, 2)),
    )


def select_elements(data: SetflData, elements: Sequence[str], path) -> SetflData:
    """The tables of ``elements`` (a subset of the file's, in the given order)."""
    elements = tuple(str(e) for e in elements)
    missing = [e for e in elements if e not in data.elements]
    if missing or not elements or len(set(elements)) != len(elements):
        raise UserError(
            f"elements: {list(elements)} must be distinct elements of the setfl file {path} "
            f"(it has {list(data.elements)}); missing {missing}"
        )
    k = [data.elements.index(e) for e in elements]
    return dataclasses.replace(
        data,
        elements=elements,
        atomic_numbers=tuple(data.atomic_numbers[i] for i in k),
        masses=tuple(data.masses[i] for i in k),
        frho=data.frho[k],
        rhor=data.rhor[k],
        z2r=data.z2r[np.ix_(k, k)],
    )
