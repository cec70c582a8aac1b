"""Export a dataset to one compressed file and import it back (a resumable dataset directory).

The file layout follows :mod:`jaxglass.data.schema`: each record key is stored over the structures
as its field's ``export`` layout says (per-atom and per-mode arrays concatenated with counts, the
rest stacked), as ``export_dtype`` where the field names one. See docs/datasets.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_savez, read_npz
from ..errors import UserError
from .build import prepare_manifest
from .config import DatasetConfig
from .schema import (
    OBSERVABLE_FIELDS,
    RECORD_FIELDS,
    Field,
    finished_records,
    has_all,
    make_record,
    manifest_path,
    parse_manifest,
    read_manifest,
    read_record,
    record_path,
    write_manifest,
    write_record,
)

EXPORT_FORMAT = "jaxglass-dataset-export"
EXPORT_VERSION = 1
#: Arrays stored as float32 in exports: relative rounding 6e-8 (positions: < 1e-5 Å in a 100 Å box,
#: far below relaxation tolerances; spectra and g(r) are smooth features fitted at ~1e-3 accuracy).
EXPORT_FLOAT32 = tuple(f.name for f in RECORD_FIELDS + OBSERVABLE_FIELDS if f.export_dtype == "float32")
_COUNTS = {"atoms": "n_atoms", "modes": "n_modes"}  # ragged layouts and the count array of each


def _pack(fields: tuple[Field, ...], recs: list[dict[str, Any]], arrays: dict[str, Any]) -> None:
    """Add the arrays of ``fields`` over ``recs`` to ``arrays`` (masses: see :func:`_pack_masses`)."""
    json_fields = [f.name for f in fields if f.export == "json"]
    if json_fields:
        arrays["meta"] = np.array(json.dumps([[str(r[key]) for key in json_fields] for r in recs]))
    for f in fields:
        if f.export in _COUNTS:
            arrays[f.name] = np.concatenate([r[f.name] for r in recs])
        elif f.export == "stack":
            arrays[f.name] = np.stack([r[f.name] for r in recs])
        elif f.export == "scalar":
            arrays[f.name] = np.array([r[f.name] for r in recs])
        elif f.export == "shared":
            v = recs[0][f.name]
            arrays[f.name] = np.array(str(v) if f.dtype == "json" else [str(x) for x in v])
        elif f.export == "masses":
            _pack_masses(recs, arrays)
        if f.export_dtype is not None:
            arrays[f.name] = np.asarray(arrays[f.name], f.export_dtype)


def _pack_masses(recs: list[dict[str, Any]], arrays: dict[str, Any]) -> None:
    """Masses per species (``masses_by_species``), or per atom (``masses``) if they differ within one."""
    species = np.concatenate([r["species"] for r in recs])
    masses = np.concatenate([r["masses"] for r in recs])
    table = np.zeros(len(recs[0]["species_names"]))
    table[species] = masses
    per_species = bool(np.array_equal(table[species], masses))
    arrays["masses_by_species" if per_species else "masses"] = table if per_species else masses


def export_dataset(path: str | Path, out_file: str | Path) -> dict[str, Any]:
    """Pack the finished records of a dataset into one compressed ``.npz`` file.

    Stored: the manifest; per structure its index, positions (float32), species (int8), box, periodic
    flags, knob, seed, knob values and generator info (JSON), energy per atom, frequencies (float32),
    imaginary-mode count, total and partial g(r) and PDOS (float32), and the observables of
    :mod:`jaxglass.data.observables` (float32) when every record has them. Masses are stored per species
    (per atom if a dataset has per-atom masses). Ragged per-structure arrays (atoms, modes) are
    concatenated with counts. :func:`import_dataset` restores a resumable dataset directory.
    Returns counts and the file size.
    """
    path, out_file = Path(path), Path(out_file)
    man = manifest_path(path)
    if not man.exists():
        raise UserError(f"{path}: no manifest.json, not a jaxglass dataset")
    manifest = read_manifest(man)
    cfg = DatasetConfig(**manifest["config"])
    idx = finished_records(path, cfg.n_structures)
    if not idx:
        raise UserError(f"{path}: no finished structures to export")
    recs = [read_record(record_path(path, k), manifest["grids"]) for k in idx]
    names = [str(x) for x in recs[0]["species_names"]]
    for k, r in zip(idx, recs):
        if [str(x) for x in r["species_names"]] != names:
            raise UserError(f"{record_path(path, k)}: species names differ from the dataset's {names}")
    arrays: dict[str, Any] = dict(
        format=np.array(EXPORT_FORMAT),
        format_version=np.int64(EXPORT_VERSION),
        manifest=np.array(json.dumps(manifest)),
        indices=np.asarray(idx, np.int64),
        n_atoms=np.array([len(r["species"]) for r in recs], np.int64),
        n_modes=np.array([len(r["frequencies"]) for r in recs], np.int64),
    )
    _pack(RECORD_FIELDS, recs, arrays)
    with_obs = all(has_all(r, OBSERVABLE_FIELDS) for r in recs)
    if with_obs and len({str(r["obs_config"]) for r in recs}) == 1:  # one obs_config for all records
        _pack(OBSERVABLE_FIELDS, recs, arrays)
    atomic_savez(out_file, arrays, compressed=True)
    size = out_file.stat().st_size
    return dict(n_structures=len(idx), n_atoms_total=int(arrays["n_atoms"].sum()), bytes=size,
                bytes_per_structure=size / len(idx))


def _unpack(fields: tuple[Field, ...], d: dict[str, Any], i: int, ranges: dict[str, slice],
            meta: list[list[str]]) -> dict[str, Any]:
    """Structure ``i``'s arrays of ``fields`` from an export's arrays ``d``."""
    json_fields = [f.name for f in fields if f.export == "json"]
    rec: dict[str, Any] = {}
    for f in fields:
        if f.export in _COUNTS:
            rec[f.name] = d[f.name][ranges[f.export]]
        elif f.export == "stack":
            rec[f.name] = d[f.name][i]
        elif f.export == "scalar":
            rec[f.name] = np.dtype(f.dtype).type(d[f.name][i])
        elif f.export == "shared":
            rec[f.name] = d[f.name]
        elif f.export == "json":
            rec[f.name] = meta[i][json_fields.index(f.name)]
        elif f.export == "masses":
            continue  # from the species, below
        if f.export_dtype is not None:
            rec[f.name] = rec[f.name].astype(f.dtype)
    if "masses" in (f.name for f in fields):
        species = rec["species"]
        masses = d["masses_by_species"][species] if "masses_by_species" in d else d["masses"][ranges["atoms"]]
        rec["masses"] = np.asarray(masses, np.float64)
    return rec


#: Members every export holds besides the record fields (masses: ``masses_by_species`` or ``masses``).
_EXPORT_MEMBERS = ("format", "format_version", "manifest", "indices", "n_atoms", "n_modes", "meta")
_EXPORT_FIX = "export the dataset again (`jaxglass export DATASET FILE`) or copy the file again"


def _read_export(file: Path) -> tuple[dict[str, Any], dict[str, Any], list[list[str]]]:
    """``(arrays, manifest, meta)`` of an export, every member read and checked (CRC, presence, the
    manifest, counts against array lengths); anything wrong raises :class:`UserError` naming ``file``."""
    d = read_npz(file, "dataset export", _EXPORT_FIX, ("format",), field="file")
    if str(d["format"]) != EXPORT_FORMAT:
        raise UserError(f"{file}: not a jaxglass dataset export (written by export_dataset / "
                        "`jaxglass export`)", field="file")
    if "format_version" in d and int(d["format_version"]) > EXPORT_VERSION:
        raise UserError(f"{file}: export format version {int(d['format_version'])} is newer than this "
                        f"jaxglass reads ({EXPORT_VERSION}); upgrade jaxglass", field="file")
    names = [f.name for f in RECORD_FIELDS if f.export not in ("masses", "json")]  # json: in meta
    missing = [k for k in (*_EXPORT_MEMBERS, *names) if k not in d]
    if not ({"masses", "masses_by_species"} & set(d)):
        missing.append("masses_by_species")
    if missing:
        raise UserError(f"{file}: corrupt dataset export (missing member(s) {missing}); {_EXPORT_FIX}",
                        field="file")
    manifest = parse_manifest(str(d["manifest"]), f"{file} (member manifest)")
    try:
        meta = json.loads(str(d["meta"]))
    except json.JSONDecodeError as err:
        raise UserError(f"{file}: corrupt dataset export (member meta: {err}); {_EXPORT_FIX}",
                        field="file") from err
    n = len(d["indices"])
    want = dict(n_atoms=n, n_modes=n, meta=n)  # member -> expected length
    want.update({f.name: n for f in RECORD_FIELDS if f.export in ("stack", "scalar")})
    want.update({f.name: int(np.sum(d[_COUNTS[f.export]])) for f in RECORD_FIELDS if f.export in _COUNTS})
    got = dict(meta=len(meta), **{k: len(d[k]) for k in want if k != "meta"})
    bad = {k: f"{got[k]} != {v}" for k, v in want.items() if got[k] != v}
    if bad:
        raise UserError(f"{file}: corrupt dataset export (member lengths {bad}, for {n} structures); "
                        f"{_EXPORT_FIX}", field="file")
    return d, manifest, meta


def import_dataset(file: str | Path, out: str | Path) -> list[int]:
    """Unpack a file written by :func:`export_dataset` into the dataset directory ``out``.

    ``out`` may be new, or hold the same dataset (same configuration): records already there are
    kept, missing ones are written (atomically). Float32-stored arrays come back as float64. The
    result is an ordinary dataset directory: ``build_dataset`` resumes or grows it. Returns the
    indices written.
    """
    file, out = Path(file), Path(out)
    d, manifest, meta = _read_export(file)
    cfg = DatasetConfig(**manifest["config"])
    fresh = not manifest_path(out).exists()
    prepare_manifest(out, cfg)  # creates out/manifest.json, or checks that an existing dataset matches
    if fresh:  # keep the original provenance (version, creation time, grids) and say where it came from
        manifest["imported_from"] = dict(file=str(file), precision="float32: " + ", ".join(EXPORT_FLOAT32))
        write_manifest(out, manifest)
    ends = {layout: np.cumsum(d[count]) for layout, count in _COUNTS.items()}
    written = []
    for i, k in enumerate(int(x) for x in d["indices"]):
        if record_path(out, k).exists():
            continue
        ranges = {layout: slice(end[i] - d[_COUNTS[layout]][i], end[i]) for layout, end in ends.items()}
        values = _unpack(RECORD_FIELDS, d, i, ranges, meta)
        if all(f.name in d for f in OBSERVABLE_FIELDS):  # an older export may lack newer keys: none then
            values.update(_unpack(OBSERVABLE_FIELDS, d, i, ranges, meta))
        write_record(out, k, make_record(values))
        written.append(k)
    return written
