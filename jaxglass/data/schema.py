"""The on-disk format of a dataset: every record key declared once, plus the record and manifest I/O.

Layout of a dataset directory::

    DIR/manifest.json         format tag, jaxglass version, the full build configuration and grids
    DIR/structures/00000.npz  one record per structure (written atomically: temp file + os.replace)
    DIR/build.log             one line per event of every build run (start, done, failure, worker loss)

A record is an uncompressed ``.npz`` holding the arrays of :data:`RECORD_FIELDS` and, once the
observables are computed (:mod:`jaxglass.data.observables`), those of :data:`OBSERVABLE_FIELDS`.
Shapes are symbolic: ``n_atoms``, ``dim`` (2 or 3), ``n_modes`` (= ``dim * n_atoms``), ``n_species``
(the family's species, in the family's order), ``n_r`` / ``n_freq`` (the manifest's ``grids``) and
``n_q`` (the observables' |Q| shells). Units in braces are the family's (``grids.length_unit``,
``grids.freq_unit``: Å and THz, or σ and ω for the Lennard-Jones families); ``{per}`` is "per meV",
or "per LJ omega unit" for Lennard-Jones. See docs/datasets.md.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_savez, atomic_write_text, read_npz
from ..errors import UserError
from .config import DatasetConfig

FORMAT = "jaxglass-dataset"
FORMAT_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Field:
    """One record key: symbolic ``shape``, ``dtype`` ("json": a JSON text in a 0-d str array),
    ``unit``, and how :func:`jaxglass.data.export_dataset` lays it out over structures (``export``:
    "atoms" / "modes" concatenated with per-structure counts, "stack", "scalar", "json" (one JSON
    list for all), "masses" (per species when possible), "shared" (one value for all)), stored as
    ``export_dtype`` there when narrower than ``dtype``."""

    name: str
    shape: tuple[str, ...]
    dtype: str
    unit: str
    doc: str
    export: str
    export_dtype: str | None = None


_F = Field
#: The arrays every record holds, in the order they are written.
RECORD_FIELDS: tuple[Field, ...] = (
    _F("positions", ("n_atoms", "dim"), "float64", "{length_unit}", "relaxed positions", "atoms", "float32"),
    _F("species", ("n_atoms",), "int32", "", "species index into species_names", "atoms", "int8"),
    _F("box", ("dim",), "float64", "{length_unit}", "orthorhombic box lengths", "stack"),
    _F("masses", ("n_atoms",), "float64", "amu (LJ: mass units)", "atomic masses", "masses"),
    _F("species_names", ("n_species",), "str", "", "the family's species, dataset-wide order", "shared"),
    _F("periodic", ("dim",), "bool", "", "periodic axes", "stack"),
    _F("knob", (), "float64", "", "disorder knob in [0, 1]; -1 for the crystalline reference", "scalar"),
    _F("seed", (), "int64", "", "generator seed (from DatasetConfig.plan)", "scalar"),
    _F("knob_values", (), "json", "", "the generator's physical knob values", "json"),
    _F("info", (), "json", "", "generator info, potential, wall time", "json"),
    _F("energy_per_atom", (), "float64", "eV (LJ: epsilon)", "potential energy per atom", "scalar"),
    _F("frequencies", ("n_modes",), "float64", "{freq_unit}", "Γ-point mode frequencies (imaginary < 0)",
       "modes", "float32"),
    _F("n_imaginary", (), "int64", "", "imaginary-mode count", "scalar"),
    _F("rdf_total", ("n_r",), "float64", "1", "smoothed total g(r) on grids.r", "stack", "float32"),
    _F("rdf_partial", ("n_species", "n_species", "n_r"), "float64", "1", "partial g_ab(r)", "stack",
       "float32"),
    _F("pdos_total", ("n_freq",), "float64", "1/{freq_unit}", "PDOS on grids.freq (unit area)", "stack",
       "float32"),
    _F("pdos_partial", ("n_species", "n_freq"), "float64", "1/{freq_unit}", "per-species PDOS (sum = total)",
       "stack", "float32"),
    _F("pdos_outside", (), "float64", "1", "PDOS weight outside the grid", "scalar"),
)
#: The spectroscopic observables a record may hold (all or none), in the order they are written.
OBSERVABLE_FIELDS: tuple[Field, ...] = (
    _F("ndos_total", ("n_freq",), "float64", "mbarn/atom {per}", "neutron-weighted DOS (σ_coh + σ_inc)",
       "stack", "float32"),
    _F("ndos_partial", ("n_species", "n_freq"), "float64", "mbarn/atom {per}", "its per-species parts",
       "stack", "float32"),
    _F("ins_sqw", ("n_q", "n_freq"), "float64", "mbarn/atom {per}", "coherent one-phonon powder S(|Q|, ω), "
       "neutrons", "stack", "float32"),
    _F("ixs_sqw", ("n_q", "n_freq"), "float64", "electrons^2/atom {per}", "the same with X-ray form factors",
       "stack", "float32"),
    _F("ins_powder_err", ("n_q",), "float64", "1 (fraction of the shell's maximum)", "estimated standard "
       "error of each shell's powder average in ins_sqw (0: every reciprocal-lattice vector used)", "stack",
       "float32"),
    _F("ixs_powder_err", ("n_q",), "float64", "1 (fraction of the shell's maximum)", "the same for ixs_sqw",
       "stack", "float32"),
    _F("raman", ("n_freq",), "float64", "1/{freq_unit} (unit area on the grid)", "unpolarised Stokes Raman",
       "stack", "float32"),
    _F("obs_q", ("n_q",), "float64", "1/Å", "|Q| shell centres (2π included)", "stack", "float32"),
    _F("obs_config", (), "json", "", "the ObservableConfig the arrays were computed with", "shared"),
)
del _F
FIELDS: dict[str, Field] = {f.name: f for f in RECORD_FIELDS + OBSERVABLE_FIELDS}
RECORD_KEYS: tuple[str, ...] = tuple(f.name for f in RECORD_FIELDS)
OBS_KEYS: tuple[str, ...] = tuple(f.name for f in OBSERVABLE_FIELDS)


def make_record(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in schema order; every :data:`RECORD_KEYS` entry and all or none of the observables
    are required, and no other key is allowed (a bug in the caller, hence a plain ``KeyError``)."""
    missing = [k for k in RECORD_KEYS if k not in values]
    extra = [k for k in values if k not in FIELDS]
    has_obs = [k in values for k in OBS_KEYS]
    if missing or extra or (any(has_obs) and not all(has_obs)):
        raise KeyError(f"record: missing {missing}, unknown {extra}, observables {has_obs}")
    return {f.name: values[f.name] for f in RECORD_FIELDS + OBSERVABLE_FIELDS if f.name in values}


def record_path(out: str | Path, k: int) -> Path:
    """Where record ``k`` of the dataset in ``out`` lives."""
    return Path(out) / "structures" / f"{k:05d}.npz"


def finished_records(out: str | Path, n_structures: int) -> list[int]:
    """Indices ``k < n_structures`` whose record file exists (not read)."""
    return [k for k in range(n_structures) if record_path(out, k).exists()]


def write_record(out: str | Path, k: int, rec: dict[str, Any]) -> None:
    """Write record ``k`` atomically (temp file + ``os.replace``)."""
    atomic_savez(record_path(out, k), rec)


def read_record(path: Path, grids: dict[str, Any] | None = None) -> dict[str, Any]:
    """Load one structure record, checked against the schema (:func:`check_record`; ``grids``: the
    manifest's, for the ``n_r`` / ``n_freq`` lengths); a truncated, damaged (bad CRC), foreign or
    inconsistent file raises :class:`UserError` naming it and the fix (delete it, resume the build)."""
    fix = "delete it and resume the build (the same `jaxglass generate` command) to recompute it"
    rec = read_npz(path, "dataset record", fix, RECORD_KEYS)
    check_record(rec, path, grids, fix)
    return rec


def check_record(rec: dict[str, Any], path, grids: dict[str, Any] | None = None, fix: str = "") -> None:
    """Check every array of ``rec`` against its field's symbolic shape (sizes read off the record
    itself: ``n_atoms`` from ``species``, ``dim`` from ``box``, ``n_species`` from ``species_names``,
    ``n_q`` from ``obs_q``; ``n_r`` / ``n_freq`` from ``grids``, else from the record); raise
    :class:`UserError` naming ``path`` and the first field that does not fit."""
    def size(key: str) -> int | None:
        a = rec.get(key)
        return None if a is None or np.ndim(a) == 0 else int(np.shape(a)[0])

    sizes = dict(n_atoms=size("species"), dim=size("box"), n_species=size("species_names"),
                 n_q=size("obs_q"), n_r=len(grids["r"]) if grids else size("rdf_total"),
                 n_freq=len(grids["freq"]) if grids else size("pdos_total"))
    if sizes["n_atoms"] is not None and sizes["dim"] is not None:
        sizes["n_modes"] = sizes["n_atoms"] * sizes["dim"]
    for key, a in rec.items():
        f = FIELDS.get(key)
        if f is None:
            continue
        want = tuple(sizes.get(d) for d in f.shape)
        shape = np.shape(a)
        if len(shape) != len(want) or any(w is not None and w != n for w, n in zip(want, shape)):
            expect = "(" + ", ".join(f"{d}={w}" for d, w in zip(f.shape, want)) + ")"
            raise UserError(f"{path}: corrupt dataset record ({key} has shape {shape}, expected {expect})"
                            + (f"; {fix}" if fix else ""))
        if f.dtype not in ("str", "json") and not np.issubdtype(np.asarray(a).dtype, np.number) \
                and np.asarray(a).dtype != bool:
            raise UserError(f"{path}: corrupt dataset record ({key} holds {np.asarray(a).dtype}, expected "
                            f"{f.dtype})" + (f"; {fix}" if fix else ""))


def has_all(rec: dict[str, Any], fields: tuple[Field, ...]) -> bool:
    """Whether ``rec`` holds every key of ``fields``."""
    return all(f.name in rec for f in fields)


def manifest_path(out: str | Path) -> Path:
    return Path(out) / "manifest.json"


def read_manifest(man: Path) -> dict[str, Any]:
    """The parsed, checked ``manifest.json`` (:func:`parse_manifest`); a missing, corrupt or foreign
    file raises :class:`UserError` naming it."""
    try:
        text = man.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{man}: corrupt manifest (not UTF-8 text: {err}); {_MANIFEST_FIX}") from err
    return parse_manifest(text, man)


_MANIFEST_FIX = ("rebuild the dataset into a new directory (`jaxglass generate`) or restore manifest.json "
                 "from a copy; the records in structures/ are kept")
_GRID_KEYS = {"r": list, "freq": list, "freq_unit": str, "length_unit": str}


def parse_manifest(text: str, where) -> dict[str, Any]:
    """A manifest's JSON ``text`` parsed and checked: the format tag, a ``config`` whose entries have
    :class:`DatasetConfig`'s types, and ``grids`` (``r``, ``freq`` lists of numbers and their units).
    Anything else raises :class:`UserError` naming ``where`` (the file) and what is wrong."""
    try:
        meta = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{where}: corrupt manifest (not JSON: {err}); {_MANIFEST_FIX}") from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{where}: not a jaxglass dataset manifest (no format tag {FORMAT!r}); choose "
                        "another output directory")
    cfg = meta.get("config")
    if not isinstance(cfg, dict):
        raise UserError(f"{where}: corrupt manifest (no 'config' entry); {_MANIFEST_FIX}")
    types = {"str": (str,), "str | None": (str, type(None)), "int": (int,), "float": (int, float),
             "bool": (bool,)}
    for f in dataclasses.fields(DatasetConfig):
        ok, v = types[f.type], cfg.get(f.name)
        if f.name in cfg and (not isinstance(v, ok) or (bool not in ok and isinstance(v, bool))):
            raise UserError(f"{where}: corrupt manifest (config.{f.name} = {v!r}, expected {f.type}); "
                            f"{_MANIFEST_FIX}")
    try:
        DatasetConfig(**cfg)
    except TypeError as err:
        raise UserError(f"{where}: corrupt manifest (config: {err}); {_MANIFEST_FIX}") from err
    grids = meta.get("grids")
    bad = [k for k, t in _GRID_KEYS.items() if not isinstance(grids, dict) or not isinstance(grids.get(k), t)]
    if not bad and not all(isinstance(x, (int, float)) for x in grids["r"] + grids["freq"]):
        bad = ["r/freq values"]
    if bad:
        raise UserError(f"{where}: corrupt manifest (grids: missing or malformed {bad}); {_MANIFEST_FIX}")
    return meta


def write_manifest(out: str | Path, meta: dict[str, Any]) -> None:
    """Write ``out/manifest.json`` atomically."""
    atomic_write_text(manifest_path(out), json.dumps(meta, indent=1))


def log_path(out: str | Path) -> Path:
    return Path(out) / "build.log"


def log_line(out: str | Path, text: str, echo: bool = True) -> None:
    """Append a time-stamped line to ``out/build.log``; print it (time of day only) when ``echo``."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(log_path(out), "a", encoding="utf-8") as fh:
        fh.write(f"{stamp} {text}\n")
    if echo:
        print(f"{stamp[11:]} {text}", flush=True)
