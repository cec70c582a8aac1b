"""Model files: the one npz format every jaxglass model is written in, and its reader.

A model file is an ``.npz`` archive (written atomically) holding

* ``format``: ``"jaxglass-linear-spr"`` (a :class:`~jaxglass.models.LinearSPR`) or ``"jaxglass-cnn"``
  (a :class:`~jaxglass.models.CNNModel`), and ``format_version`` (:data:`FORMAT_VERSION`);
* the model's arrays: weights (or the Flax parameters as bytes), the means and scales of its input and
  target scalers (``x_mean``, ``x_scale``, ``y_mean``, ``y_scale``) and ``feature_shape``;
* ``metadata``: one JSON object. The keys in :data:`RESERVED_KEYS` hold the estimator state written by
  an estimator's ``save`` (``estimator``: class name, ``params``: hyper-parameters and axes,
  ``fitted``: statistics of the training data and the fit's ``info_``). Every other key belongs to
  the caller: the ``metadata`` dict given to ``save`` comes back unchanged as the loaded
  estimator's ``metadata``.

:func:`jaxglass.models.load_model` reads any such file. A file without estimator state (written by
:func:`~jaxglass.models.linear.save_linear` or :func:`~jaxglass.models.cnn.save_cnn` directly, as
``jaxglass train`` on a dataset does) is read as an estimator too: its kind and axes are taken from
the metadata keys listed in :func:`state_from_metadata`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np

from .._io import read_npz as read_npz_file
from ..errors import UserError
from ._scaling import Standardizer

FORMAT_VERSION = 1
LINEAR_FORMAT = "jaxglass-linear-spr"
CNN_FORMAT = "jaxglass-cnn"
FORMATS = (LINEAR_FORMAT, CNN_FORMAT)
#: Keys of a file's metadata object that hold the estimator state (not the caller's metadata).
RESERVED_KEYS = ("estimator", "params", "fitted")


def read_npz(path, fmt: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
    """Load a model npz, every member read (CRC checked); a missing, unreadable, damaged, foreign or
    wrong-format file, or one missing a member of ``keys``, raises ``UserError`` naming it."""
    fix = "save the model again (`jaxglass train`, or the estimator's save) or copy the file again"
    d = read_npz_file(path, f"{fmt} model file", fix, ("format",), field="path")
    found = str(d["format"])
    if found != fmt:
        raise UserError(f"{path}: not a {fmt} file (format tag {found!r})", field="path")
    try:
        version = int(d.get("format_version", -1))
    except (TypeError, ValueError):
        version = -1
    if version != FORMAT_VERSION:
        raise UserError(f"{path}: unsupported {fmt} format version {version} (expected {FORMAT_VERSION})",
                        field="path")
    missing = [key for key in keys if key not in d]
    if missing:
        raise UserError(f"{path}: corrupt {fmt} file (missing member(s) {missing}); {fix}", field="path")
    return d


def file_metadata(d: dict[str, np.ndarray], path, fmt: str) -> dict[str, Any]:
    """The metadata object of a model file's arrays ``d`` (``{}`` without one); not a JSON object →
    ``UserError`` naming ``path``."""
    if "metadata" not in d:
        return {}
    try:
        meta = json.loads(str(d["metadata"]))
    except json.JSONDecodeError as err:
        meta, why = None, str(err)
    else:
        why = "not a JSON object"
    if not isinstance(meta, dict):
        raise UserError(f"{path}: corrupt {fmt} file (member metadata: {why}); save the model again",
                        field="path")
    return meta


def scaler_arrays(prefix: str, s: Standardizer) -> dict[str, np.ndarray]:
    """The arrays ``{prefix}_mean``, ``{prefix}_scale`` a file stores for a scaler."""
    return {f"{prefix}_mean": np.asarray(s.mean), f"{prefix}_scale": np.asarray(s.scale)}


def scaler_from(d, prefix: str, dtype) -> Standardizer:
    """The scaler stored by :func:`scaler_arrays` under ``prefix``."""
    return Standardizer(jnp.asarray(d[f"{prefix}_mean"], dtype), jnp.asarray(d[f"{prefix}_scale"], dtype))


def metadata_json(state: dict[str, Any], metadata: dict[str, Any] | None) -> dict[str, Any]:
    """The file's metadata object: the caller's ``metadata`` plus the estimator ``state``."""
    metadata = dict(metadata or {})
    clash = sorted(set(metadata) & set(RESERVED_KEYS))
    if clash:
        raise UserError(f"metadata: keys {clash} are reserved for the estimator state; rename them")
    try:
        json.dumps(metadata)
    except TypeError as err:
        raise UserError(f"metadata: not JSON-serialisable ({err}); use numbers, strings, lists") from err
    return {**metadata, **state}


def model_format(path) -> str:
    """The format tag of a model file (one of :data:`FORMATS`); ``UserError`` naming ``path`` if it is
    missing, a folder, unreadable or not a jaxglass model file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: {'is a folder' if p.is_dir() else 'not found'}; give a model file written "
                        "by jaxglass", field="path")
    try:
        with np.load(p, allow_pickle=False) as z:
            fmt = str(z["format"]) if "format" in z.files else None
    except Exception as err:
        raise UserError(f"{p}: not a readable model file ({type(err).__name__}: {err})",
                        field="path") from err
    if fmt not in FORMATS:
        raise UserError(f"{p}: not a jaxglass model file (format tag {fmt!r})", field="path")
    return fmt


def split_metadata(model, raw: dict[str, Any], fmt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(state, metadata)`` of a file's metadata object ``raw``: the estimator state (``estimator``,
    ``params``, ``fitted``; :func:`state_from_metadata` for a file without one) and the caller's
    metadata (every other key)."""
    metadata = {k: v for k, v in raw.items() if k not in RESERVED_KEYS}
    if "estimator" in raw:
        return {k: raw[k] for k in RESERVED_KEYS if k in raw}, metadata
    return state_from_metadata(model, raw, fmt), metadata


#: ``kind`` metadata values → estimator class names.
KINDS = {"ridge": "Ridge", "lasso": "Lasso", "elastic-net": "ElasticNet", "cnn": "CNN"}


def state_from_metadata(model, meta: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Estimator state of a file written without one, from its metadata keys ``kind`` (a key of
    :data:`KINDS`; default ``cnn`` or ``ridge`` by format), ``r``, ``freq`` (axes), ``length_unit``,
    ``freq_unit`` (their units; the targets are then taken as per ``freq_unit``) and ``hyper`` (the
    fit's info). A one-channel CNN takes ``(n_samples, R)`` inputs."""
    kind = meta.get("kind", "cnn" if fmt == CNN_FORMAT else "ridge")
    params: dict[str, Any] = {}
    for key, name in (("r", "r"), ("freq", "freq"), ("length_unit", "r_unit"), ("freq_unit", "freq_unit")):
        if key in meta:
            params[name] = meta[key]
    if "freq_unit" in meta:
        params["y_unit"] = f"1/{meta['freq_unit']}"  # dataset targets are spectra per frequency unit
    fitted: dict[str, Any] = dict(info=meta.get("hyper", {}))
    if fmt == CNN_FORMAT:
        params.update(json.loads(model.config.to_json()))
        if len(model.feature_shape) == 2 and model.feature_shape[0] == 1:
            fitted["feature_shape"] = list(model.feature_shape[1:])
    return dict(estimator=KINDS.get(kind, "CNN" if fmt == CNN_FORMAT else "Ridge"), params=params,
                fitted=fitted)
