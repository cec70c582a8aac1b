"""The :class:`Structure` PyTree: the one type every stage of jaxglass passes around.

A structure is an orthorhombic cell (box lengths per axis) holding ``N`` atoms in ``d = 2`` or
``d = 3`` dimensions. Array fields (positions, species, box, masses) are PyTree leaves, so a
``Structure`` can be passed through ``jit``/``vmap``/``grad``; the species names and the
per-axis periodicity are static metadata.

Units: lengths in Å and masses in amu for atomistic systems; reduced units (σ, m) for
Lennard-Jones systems.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from . import space as _space
from ._masses import ATOMIC_MASSES  # noqa: F401  (the one mass table, re-exported here)
from .errors import UserError

#: Species names used for reduced-unit Lennard-Jones particles (unit mass).
LJ_TYPES = ("A", "B")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Structure:
    """Atoms in an orthorhombic, optionally periodic cell.

    Attributes:
      positions: ``(N, d)`` Cartesian coordinates.
      species: ``(N,)`` int32 indices into :attr:`species_names`.
      box: ``(d,)`` cell lengths (the cell spans ``[0, box)`` along each axis).
      masses: ``(N,)`` atomic masses (amu, or reduced units for LJ types ``A``/``B``).
      species_names: static tuple of species names, e.g. ``("Si", "C")``.
      periodic: static tuple of ``d`` booleans; non-periodic axes are never wrapped.
    """

    positions: jax.Array
    species: jax.Array
    box: jax.Array
    masses: jax.Array
    species_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    periodic: tuple[bool, ...] = dataclasses.field(metadata=dict(static=True))

    @property
    def n_atoms(self) -> int:
        return self.positions.shape[0]

    @property
    def dim(self) -> int:
        return self.positions.shape[1]

    @property
    def volume(self) -> jax.Array:
        """Cell volume (area in 2D), counting only periodic axes' lengths times the others."""
        return jnp.prod(self.box)

    def symbols(self) -> list[str]:
        """Species name of every atom (host-side)."""
        sp = np.asarray(self.species)
        return [self.species_names[s] for s in sp]

    def replace(self, **changes: Any) -> Structure:
        return dataclasses.replace(self, **changes)

    def with_positions(self, positions: jax.Array) -> Structure:
        return dataclasses.replace(self, positions=positions)

    def count(self, name: str) -> int:
        """Number of atoms of species ``name``."""
        if name not in self.species_names:
            return 0
        return int(np.sum(np.asarray(self.species) == self.species_names.index(name)))


def _as_species(
    species: Any, n: int, species_names: Sequence[str] | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    arr = np.asarray(species)
    if arr.shape != (n,):
        raise UserError(
            f"species: expected shape ({n},) to match positions, got {arr.shape}; "
            "give one species (name or index) per atom"
        )
    if arr.dtype.kind in "US" or arr.dtype == object:
        names_in = [str(s) for s in arr.tolist()]
        if species_names is None:
            seen: list[str] = []
            for s in names_in:
                if s not in seen:
                    seen.append(s)
            species_names = tuple(seen)
        species_names = tuple(species_names)
        lookup = {s: i for i, s in enumerate(species_names)}
        unknown = sorted({s for s in names_in if s not in lookup})
        if unknown:
            raise UserError(
                f"species: names {unknown} are not in species_names={species_names}; "
                "add them to species_names"
            )
        return np.array([lookup[s] for s in names_in], dtype=np.int32), species_names
    if arr.dtype.kind not in "iu":
        raise TypeError(f"species: expected integer indices or names, got dtype {arr.dtype}")
    if species_names is None:
        raise UserError("species_names: required when species are given as integer indices")
    species_names = tuple(str(s) for s in species_names)
    if n and (arr.min() < 0 or arr.max() >= len(species_names)):
        raise UserError(
            f"species: indices must lie in [0, {len(species_names)}) for species_names="
            f"{species_names}, got range [{arr.min()}, {arr.max()}]"
        )
    return arr.astype(np.int32), species_names


def default_masses(species_names: Sequence[str]) -> np.ndarray:
    """Mass per species name: standard atomic weights, or 1 for Lennard-Jones types ``A``/``B``.

    ``B`` is both boron and the small Kob-Andersen particle: a name set that contains a type which is
    not an element (``A``) is read as a Lennard-Jones mixture, and all its LJ types get mass 1.
    """
    lj = any(s in LJ_TYPES and s not in ATOMIC_MASSES for s in species_names)
    out = []
    for s in species_names:
        if lj and s in LJ_TYPES:
            out.append(1.0)
        elif s in ATOMIC_MASSES:
            out.append(ATOMIC_MASSES[s])
        elif s in LJ_TYPES:
            out.append(1.0)
        else:
            raise UserError(
                f"species_names: no default mass for species {s!r}; pass masses= explicitly "
                f"(known: {sorted(ATOMIC_MASSES)} and LJ types {LJ_TYPES})"
            )
    return np.asarray(out, dtype=np.float64)


def make_structure(
    positions: Any,
    species: Any,
    box: Any,
    *,
    species_names: Sequence[str] | None = None,
    masses: Any = None,
    periodic: bool | Sequence[bool] = True,
    min_distance: float | None = 0.5,
    wrap: bool = True,
) -> Structure:
    """Build and validate a :class:`Structure` (host-side, not jittable).

    Args:
      positions: ``(N, d)`` coordinates, ``d`` in {2, 3}.
      species: ``(N,)`` species names (str) or integer indices into ``species_names``.
      box: ``(d,)`` positive cell lengths (a scalar is broadcast to all axes).
      species_names: order of species; inferred from first appearance when names are given.
      masses: ``(N,)`` per-atom masses; defaults to standard atomic weights (1 for LJ ``A``/``B``).
      periodic: one bool for all axes or one per axis.
      min_distance: raise if two atoms are closer than this (same length unit as positions);
        ``None`` skips the check.
      wrap: wrap periodic coordinates into ``[0, box)``.

    Raises:
      ValueError: a bad value; the message names the offending field.
      TypeError: a bad type; the message names the offending field.
    """
    pos = np.asarray(positions, dtype=np.float64)
    if pos.ndim != 2 or pos.shape[1] not in (2, 3):
        raise UserError(f"positions: expected shape (N, 2) or (N, 3), got {pos.shape}")
    n, d = pos.shape
    if n == 0:
        raise UserError("positions: a structure needs at least one atom")
    bad = ~np.isfinite(pos)
    if bad.any():
        rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
        raise UserError(f"positions: non-finite (NaN/inf) coordinates for atoms {rows}")
    box_arr = np.asarray(box, dtype=np.float64)
    if box_arr.ndim == 0:
        box_arr = np.full((d,), float(box_arr))
    if box_arr.shape != (d,):
        raise UserError(
            f"box: expected {d} orthorhombic cell lengths for {d}D positions, got shape {box_arr.shape}"
        )
    if not np.all(np.isfinite(box_arr)) or np.any(box_arr <= 0):
        raise UserError(f"box: cell lengths must be finite and positive, got {box_arr.tolist()}")
    if isinstance(periodic, (bool, np.bool_)):
        per = (bool(periodic),) * d
    else:
        per = tuple(bool(p) for p in periodic)
        if len(per) != d:
            raise UserError(f"periodic: expected {d} flags, got {len(per)}")
    sp, names = _as_species(species, n, species_names)
    if masses is None:
        m = default_masses(names)[sp]
    else:
        m = np.asarray(masses, dtype=np.float64)
        if m.shape != (n,):
            raise UserError(f"masses: expected shape ({n},), got {m.shape}")
        if not np.all(np.isfinite(m)) or np.any(m <= 0):
            raise UserError("masses: every mass must be finite and positive")
    if wrap:
        pos = _space.wrap(pos, box_arr, per)
    if min_distance is not None and n > 1:
        check_min_distance(pos, box_arr, per, min_distance)
    return Structure(
        positions=jnp.asarray(pos),
        species=jnp.asarray(sp),
        box=jnp.asarray(box_arr),
        masses=jnp.asarray(m),
        species_names=names,
        periodic=per,
    )


def check_finite(structure: Structure, what: str) -> None:
    """Raise :class:`UserError` if ``structure``'s positions or box hold NaN/inf (a cheap host check;
    traced values, inside ``jit``/``grad``/``vmap``, are not checked). The public Hessian, spectrum and
    g(r) functions call it once, so that a structure edited after :func:`make_structure` (e.g. by
    :meth:`Structure.with_positions`) with precomputed neighbour lists gives an error, not NaN."""
    for name in ("positions", "box"):
        value = getattr(structure, name)
        if isinstance(value, jax.core.Tracer):
            continue
        bad = ~np.isfinite(np.asarray(value))
        if bad.any():
            rows = np.unique(np.nonzero(bad)[0])[:5].tolist()
            where = f" for atoms {rows}" if name == "positions" else ""
            raise UserError(f"{name}: non-finite (NaN/inf) values{where} in the structure given to {what}; "
                            "check the structure (e.g. a diverged relaxation or MD run)", field=name)


def check_min_distance(pos: np.ndarray, box: np.ndarray, periodic: Sequence[bool], threshold: float) -> None:
    """Raise ``ValueError`` if two atoms are closer than ``threshold`` (minimum image)."""
    tree = _space.periodic_kdtree(pos, box, periodic, threshold)
    pairs = tree.query_pairs(threshold, output_type="ndarray")
    if len(pairs):
        i, j = (int(x) for x in pairs[0])
        dr = pos[j] - pos[i]
        dr = _space.displacement(dr, box, periodic)
        raise UserError(
            f"positions: {len(pairs)} atom pair(s) closer than min_distance={threshold}, e.g. atoms "
            f"{i} and {j} at distance {np.linalg.norm(dr):.4g}; remove overlapping atoms or pass "
            "min_distance=None to skip this check"
        )


STRUCTURE_FIELDS = ("positions", "species", "box", "masses", "species_names", "periodic")


def to_arrays(structure: Structure) -> dict[str, np.ndarray]:
    """The structure as plain numpy arrays (for ``.npz`` records; inverse of :func:`from_arrays`)."""
    return {f: np.asarray(getattr(structure, f)) for f in STRUCTURE_FIELDS}


def from_arrays(arrays) -> Structure:
    """A :class:`Structure` from a mapping with the :data:`STRUCTURE_FIELDS` arrays (e.g. an ``.npz``)."""
    return Structure(
        positions=jnp.asarray(arrays["positions"]),
        species=jnp.asarray(arrays["species"]),
        box=jnp.asarray(arrays["box"]),
        masses=jnp.asarray(arrays["masses"]),
        species_names=tuple(str(x) for x in arrays["species_names"]),
        periodic=tuple(bool(x) for x in arrays["periodic"]),
    )


def replicate(structure: Structure, reps: Sequence[int]) -> Structure:
    """Tile a structure ``reps[k]`` times along each axis (host-side)."""
    reps = tuple(int(r) for r in reps)
    d = structure.dim
    if len(reps) != d or any(r < 1 for r in reps):
        raise UserError(f"reps: expected {d} positive integers, got {reps}")
    pos = np.asarray(structure.positions)
    box = np.asarray(structure.box)
    grids = np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1) * box
    new_pos = (pos[None, :, :] + shifts[:, None, :]).reshape(-1, d)
    k = shifts.shape[0]
    return Structure(
        positions=jnp.asarray(new_pos),
        species=jnp.asarray(np.tile(np.asarray(structure.species), k)),
        box=jnp.asarray(box * np.asarray(reps)),
        masses=jnp.asarray(np.tile(np.asarray(structure.masses), k)),
        species_names=structure.species_names,
        periodic=structure.periodic,
    )


def with_species_names(structure: Structure, names: Sequence[str]) -> Structure:
    """Re-express species indices in the order ``names`` (a superset of the structure's species)."""
    names = tuple(names)
    missing = [n for n in structure.species_names if n not in names]
    if missing:
        raise UserError(f"species: {missing} not in the requested species_names {names}")
    remap = np.asarray([names.index(n) for n in structure.species_names], dtype=np.int32)
    return dataclasses.replace(
        structure, species=jnp.asarray(remap[np.asarray(structure.species)]), species_names=names
    )


# ---------------------------------------------------------------------------------------------
# File I/O through ase (optional dependency)


def _require_ase():
    try:
        import ase  # noqa: F401
        import ase.io  # noqa: F401
    except ImportError as err:  # pragma: no cover - exercised only without ase
        raise ImportError(
            "reading/writing structure files needs ase: pip install 'jaxglass[io]' (or pip install ase)"
        ) from err
    return ase


def to_ase(structure: Structure):
    """Convert to an ``ase.Atoms`` (2D structures get a z coordinate of 0 and a unit z axis)."""
    ase = _require_ase()
    pos = np.asarray(structure.positions)
    box = np.asarray(structure.box)
    per = list(structure.periodic)
    if structure.dim == 2:
        pos = np.concatenate([pos, np.zeros((len(pos), 1))], axis=1)
        box = np.concatenate([box, [1.0]])
        per = per + [False]
    names = structure.symbols()
    elements = [n if n in ATOMIC_MASSES else "X" for n in names]
    atoms = ase.Atoms(symbols=elements, positions=pos, cell=np.diag(box), pbc=per)
    atoms.set_masses(np.asarray(structure.masses))
    atoms.info["jaxglass_dim"] = structure.dim
    atoms.info["jaxglass_species_names"] = " ".join(structure.species_names)
    atoms.arrays["jaxglass_species"] = np.asarray(structure.species, dtype=np.int64)
    return atoms


def from_ase(atoms, *, min_distance: float | None = 0.5) -> Structure:
    """Convert an ``ase.Atoms`` with an orthorhombic cell into a :class:`Structure`."""
    cell = np.asarray(atoms.cell[:])
    if not np.allclose(cell, np.diag(np.diag(cell)), atol=1e-8):
        raise UserError("cell: jaxglass supports orthorhombic cells only; got a non-diagonal cell")
    box = np.diag(cell).copy()
    pos = np.asarray(atoms.get_positions())
    per = tuple(bool(p) for p in atoms.pbc)
    dim = int(atoms.info.get("jaxglass_dim", 3))
    names_info = atoms.info.get("jaxglass_species_names")
    if names_info is not None and "jaxglass_species" in atoms.arrays:
        names = tuple(str(names_info).split())
        species = np.asarray(atoms.arrays["jaxglass_species"], dtype=np.int32)
    else:
        names = None
        species = np.asarray(atoms.get_chemical_symbols())
    masses = np.asarray(atoms.get_masses())
    if dim == 2:
        pos, box, per = pos[:, :2], box[:2], per[:2]
    if np.any(box <= 0):
        raise UserError(f"box: cell lengths must be positive, got {box.tolist()} (set the ase cell)")
    return make_structure(
        pos, species, box, species_names=names, masses=masses, periodic=per, min_distance=min_distance
    )


def write(path: str, structure: Structure, **kwargs: Any) -> None:
    """Write a structure with ase (format from the file name; extxyz keeps species and masses)."""
    _require_ase()
    import ase.io

    ase.io.write(path, to_ase(structure), **kwargs)


def _frame_count(path: str) -> int | None:
    """Frames in a structure file ase reads (``None`` if it cannot read it)."""
    import ase.io

    try:
        return len(ase.io.read(path, index=":"))
    except Exception:
        return None


def _ase_read(path, index: Any):
    """``ase.io.read`` with every failure turned into a ``ValueError`` that names the file and the fix."""
    _require_ase()
    import ase.io

    p = str(path)
    import os

    if not os.path.exists(p):
        raise FileNotFoundError(f"{p}: no such structure file")
    if os.path.isdir(p):
        raise UserError(f"{p}: is a folder; give a structure file (extxyz or any format ase reads)")
    if os.path.getsize(p) == 0:
        raise UserError(f"{p}: empty file; give a structure file (extxyz or any format ase reads)")
    try:
        return ase.io.read(p, index=index)
    except KeyError as err:  # ase maps each species symbol to an atomic number
        sym = err.args[0] if err.args else "?"
        hint = (
            "Lennard-Jones types A/B are read only from files written by jaxglass.structure.write "
            "(species names stored in the extxyz header); otherwise use element symbols"
            if sym in LJ_TYPES
            else "use element symbols (e.g. Si, C, Cu)"
        )
        raise UserError(f"{p}: species {sym!r} is not a chemical element; {hint}") from err
    except (ImportError, MemoryError):
        raise
    except (IndexError, StopIteration) as err:  # an index past the last frame
        n = _frame_count(p)
        if n is None:
            raise UserError(f"{p}: not a readable structure file ({type(err).__name__}: {err})") from err
        raise UserError(
            f"index: {index!r} selects no frame of {p}, which has {n} frame(s); give an index in "
            f"[{-n}, {n - 1}] or a slice such as ':' (all) or '-1' (last)"
        ) from err
    except Exception as err:  # ase.io.formats.UnknownFileTypeError, XYZError, StopIteration, ...
        raise UserError(
            f"{p}: not a readable structure file ({type(err).__name__}: {err}); give a file ase reads "
            "(extxyz, LAMMPS data with format=..., POSCAR, cif, ...)"
        ) from err


def read(path: str, index: Any = -1, *, min_distance: float | None = 0.5) -> Structure:
    """Read a structure with ase (any format ase reads; orthorhombic cells).

    A missing, empty or unreadable file, or a species that is not an element, raises an error that
    names the file (``FileNotFoundError`` / ``ValueError``), never ase's own exception.
    """
    atoms = _ase_read(path, index)
    try:
        return from_ase(atoms, min_distance=min_distance)
    except UserError as err:  # NaN coordinates, a skewed cell, overlapping atoms: name the file
        raise UserError(f"{path}: {err}", field=err.field) from err


def read_frames(path: str, index: Any = ":", *, min_distance: float | None = 0.5) -> list[Structure]:
    """All frames of a structure file (a trajectory, or a one-frame file) as a list of structures.

    ``index`` is ase's frame selection (``":"`` all, ``"-1"`` last, ``"::10"`` every tenth).
    """
    frames = _ase_read(path, index)
    if not isinstance(frames, list):
        frames = [frames]
    if not frames:
        raise UserError(f"{path}: no frames selected by index {index!r}")
    out = []
    for k, atoms in enumerate(frames):
        try:
            out.append(from_ase(atoms, min_distance=min_distance))
        except ValueError as err:
            raise UserError(f"{path}, frame {k}: {err}") from err
    return out
