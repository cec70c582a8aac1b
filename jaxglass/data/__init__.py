"""Datasets of glass structures: structures → RDFs (total + partials) → PDOS (total + partials).

One module per job:

- :mod:`~jaxglass.data.config`: :class:`DatasetConfig` and the knob plan (structure ``k`` is fully
  determined by the configuration and ``k``);
- :mod:`~jaxglass.data.schema`: the record schema (every key once, with shape, dtype and unit), the
  record and manifest files, the build log;
- :mod:`~jaxglass.data.records`: the physics of one record (:func:`compute_record`);
- :mod:`~jaxglass.data.build` and :mod:`~jaxglass.data.dask_build` (with
  :mod:`~jaxglass.data.progress`): resumable builds, serial or on ``dask.distributed``;
- :mod:`~jaxglass.data.dataset`: :func:`load_dataset` and :func:`load_structure`;
- :mod:`~jaxglass.data.transfer`: :func:`export_dataset` / :func:`import_dataset`;
- :mod:`~jaxglass.data.observables`: the spectroscopic observables stored in records
  (:func:`extend_dataset`) and the study targets.

Every name below is importable from ``jaxglass.data``. See docs/datasets.md.
"""

from ..errors import BuildError
from .build import build_dataset, pending_structures, prepare_manifest
from .config import DatasetConfig
from .dask_build import WORKER_MEMORY, default_workers
from .dataset import Dataset, load_dataset, load_structure
from .observables import (
    LJ_ARGON,
    LJ_CROSS_SECTIONS,
    LJ_FORM_FACTORS,
    LJ_LENGTHS,
    TARGET_LABELS,
    TARGETS,
    ObservableConfig,
    compute_observables,
    default_observable_config,
    extend_dataset,
    has_observables,
    is_lj,
    lj_thz_per_omega,
    load_observables,
    manifest_entry,
    q_average,
    target_arrays,
)
from .progress import HEARTBEAT_S
from .records import compute_record, compute_records
from .schema import (
    FORMAT,
    FORMAT_VERSION,
    OBS_KEYS,
    OBSERVABLE_FIELDS,
    RECORD_FIELDS,
    RECORD_KEYS,
    Field,
    make_record,
    read_manifest,
    read_record,
    record_path,
    write_manifest,
    write_record,
)
from .transfer import EXPORT_FLOAT32, EXPORT_FORMAT, EXPORT_VERSION, export_dataset, import_dataset

__all__ = [
    "EXPORT_FLOAT32",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "FORMAT",
    "FORMAT_VERSION",
    "HEARTBEAT_S",
    "LJ_ARGON",
    "LJ_CROSS_SECTIONS",
    "LJ_FORM_FACTORS",
    "LJ_LENGTHS",
    "OBSERVABLE_FIELDS",
    "OBS_KEYS",
    "RECORD_FIELDS",
    "RECORD_KEYS",
    "TARGETS",
    "TARGET_LABELS",
    "WORKER_MEMORY",
    "BuildError",
    "Dataset",
    "DatasetConfig",
    "Field",
    "ObservableConfig",
    "build_dataset",
    "compute_observables",
    "compute_record",
    "compute_records",
    "default_observable_config",
    "default_workers",
    "export_dataset",
    "extend_dataset",
    "has_observables",
    "import_dataset",
    "is_lj",
    "lj_thz_per_omega",
    "load_dataset",
    "load_observables",
    "load_structure",
    "make_record",
    "manifest_entry",
    "pending_structures",
    "prepare_manifest",
    "q_average",
    "read_manifest",
    "read_record",
    "record_path",
    "target_arrays",
    "write_manifest",
    "write_record",
]
