"""Loading a dataset: :class:`Dataset` (features and targets stacked over structures) and single
relaxed structures. See docs/datasets.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ..errors import UserError
from .config import DatasetConfig
from .observables import load_observables
from .schema import finished_records, manifest_path, read_manifest, read_record, record_path


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset: features (RDFs) and targets (PDOS) stacked over structures."""

    config: DatasetConfig
    r: np.ndarray
    freq: np.ndarray
    rdf_total: np.ndarray  # (K, R)
    rdf_partial: np.ndarray  # (K, S, S, R)
    pdos_total: np.ndarray  # (K, F)
    pdos_partial: np.ndarray  # (K, S, F)
    knob: np.ndarray  # (K,), -1 for the crystal
    n_imaginary: np.ndarray
    species_names: tuple[str, ...]
    freq_unit: str
    length_unit: str
    indices: np.ndarray
    #: observable arrays stacked over structures (:mod:`jaxglass.data.observables`), if every
    #: loaded record has them: ndos_total, ndos_partial, ins_sqw, ixs_sqw, raman, obs_q
    observables: dict = dataclasses.field(default_factory=dict)
    observable_units: dict = dataclasses.field(default_factory=dict)
    #: atoms in each structure (the generators round ``config.n_atoms`` to whole cells)
    n_atoms: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))

    def __len__(self) -> int:
        return len(self.indices)


def load_dataset(path: str | Path, *, allow_partial: bool = True) -> Dataset:
    """Stack the finished records of a dataset directory (missing ones skipped if ``allow_partial``)."""
    path = Path(path)
    man = manifest_path(path)
    if not path.is_dir():
        raise UserError(f"{path}: no such dataset directory" if not path.exists() else
                        f"{path}: is a file, not a dataset directory")
    if not man.exists():
        raise UserError(f"{path}: no manifest.json, not a jaxglass dataset")
    meta = read_manifest(man)
    cfg = DatasetConfig(**meta["config"])
    idx = finished_records(path, cfg.n_structures)
    missing = sorted(set(range(cfg.n_structures)) - set(idx))
    if missing and not allow_partial:
        raise UserError(
            f"{path}: incomplete dataset, {len(idx)} of {cfg.n_structures} "
            f"structures finished (missing {missing[:5]}{' ...' if len(missing) > 5 else ''}); finish it "
            "(resume the build with the same settings, e.g. `jaxglass generate`) or accept it as is "
            "(allow_partial=True)", field="allow_partial")
    recs = [read_record(record_path(path, k), meta["grids"]) for k in idx]
    if not recs:
        raise UserError(f"{path}: no finished structures yet")
    names = tuple(str(x) for x in recs[0]["species_names"])
    obs, obs_units = load_observables(path, recs, meta)
    return Dataset(
        config=cfg,
        r=np.asarray(meta["grids"]["r"]),
        freq=np.asarray(meta["grids"]["freq"]),
        rdf_total=np.stack([r["rdf_total"] for r in recs]),
        rdf_partial=np.stack([r["rdf_partial"] for r in recs]),
        pdos_total=np.stack([r["pdos_total"] for r in recs]),
        pdos_partial=np.stack([r["pdos_partial"] for r in recs]),
        knob=np.array([float(r["knob"]) for r in recs]),
        n_imaginary=np.array([int(r["n_imaginary"]) for r in recs]),
        species_names=names,
        freq_unit=meta["grids"]["freq_unit"],
        length_unit=meta["grids"]["length_unit"],
        indices=np.asarray(idx),
        observables=obs,
        observable_units=obs_units,
        n_atoms=np.array([len(r["positions"]) for r in recs]),
    )


def load_structure(path: str | Path, k: int):
    """The relaxed :class:`~jaxglass.structure.Structure` of record ``k``."""
    from ..structure import from_arrays

    return from_arrays(read_record(record_path(Path(path), k)))
