"""Smoothed g(r) of structure files and the features a trained model takes, as ``jaxglass rdf`` and
``jaxglass predict`` compute them: from structures (every frame of every file, on the model's r grid
with its Gaussian width) or from a measured S(Q) (:func:`jaxglass.sq.g_from_sq`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .._io import atomic_savez, atomic_write_text, read_array, write_csv
from ..errors import UserError
from ..validation import Real, nonnegative, positive, smoothing_width, validate

#: ``r_sigma`` of the functions below (and of ``jaxglass train --r-sigma``, which stores it for them).
_R_SIGMA = [None, smoothing_width,
            "the Gaussian width of the g(r) smoothing (the model's length unit), e.g. 0.05"]


def structure_frames(files: Sequence, index: str = ":"):
    """``(label, Structure)`` for every frame of every file (trajectories frame by frame; ``index`` is
    an ase index such as ``":"`` or ``"-1"``); a label is ``file`` or ``file@k``."""
    from ..structure import read_frames

    out = []
    for f in files:
        frames = read_frames(f, index=index)
        for k, s in enumerate(frames):
            out.append((f"{f}" if len(frames) == 1 else f"{f}@{k}", s))
    return out


@validate({"r_sigma": _R_SIGMA})
def model_sigma(meta: dict, r_sigma: float | None = None) -> float:
    """The Gaussian width of a model's g(r) features: ``r_sigma``, the model file's, or its dataset's."""
    if r_sigma is not None:
        return float(r_sigma)
    if meta.get("r_sigma"):
        return float(meta["r_sigma"])
    if meta.get("dataset"):
        man = Path(meta["dataset"]) / "manifest.json"
        if man.is_file():
            from .. import data

            return float(data.read_manifest(man)["config"]["r_sigma"])
    raise UserError(
        "r_sigma: the model file does not record the Gaussian width of its g(r) features; "
        "give it (same length unit as the model's r grid)"
    )


def model_r(est, meta: dict) -> np.ndarray:
    """The r grid of a model's g(r) features (the estimator's, else the model file's)."""
    r = est.r if est.r is not None else meta.get("r")
    if r is None:
        raise UserError(
            "model: no r grid stored; train it with its r grid (estimator r=..., `jaxglass train "
            "--r-grid`) to predict from structures or S(Q)"
        )
    return np.asarray(r, np.float64)


@validate({"r_sigma": _R_SIGMA})
def features_from_structures(
    est, meta: dict, files: Sequence, *, index: str = ":", r_sigma: float | None = None
):
    """``(X, labels, info)``: the model's g(r) features of every frame of ``files``."""
    from ..rdf import rdf
    from ..structure import with_species_names

    r = model_r(est, meta)
    sigma = model_sigma(meta, r_sigma)
    frames = structure_frames(files, index)
    names = meta.get("species_names")
    partial = len(est.feature_shape_) == 2
    if partial and not names:
        raise UserError(
            "model: partial g(r) channels but no species names stored; predict from features (arrays) instead"
        )
    X, labels = [], []
    for label, s in frames:
        if meta.get("dim") and s.dim != meta["dim"]:
            raise UserError(
                f"structure: {label} is {s.dim}D, the model was trained on {meta['dim']}D structures"
            )
        if names and not set(s.species_names) <= set(names):
            raise UserError(
                f"structure: {label} has species {list(s.species_names)}, the model knows "
                f"{names} (trained on {meta.get('system', 'other')} structures)"
            )
        if partial:
            s = with_species_names(s, names)
        g = rdf(s, r, sigma)
        if partial:
            iu = np.triu_indices(len(names))
            X.append(np.asarray(g.partial)[iu[0], iu[1], :])
        else:
            X.append(np.asarray(g.total))
        labels.append(label)
    info = dict(
        source="structure",
        files=[str(f) for f in files],
        frames=len(frames),
        r_sigma=sigma,
        g_of_r="jaxglass.rdf, Gaussian-smoothed on the model's r grid",
    )
    return np.stack(X), labels, info


@validate({
    "density": [Real(0, 1e3, closed="right"), "the number density of the sample (atoms per length unit^d of "
                "the model's r grid, e.g. 0.05 atoms/Å^3 for a silicate glass, 1.2 σ^-3 for KA)"],
    "q_min": [None, nonnegative, "the lowest Q used (1/length, 2π included; None: the file's)"],
    "q_max": [None, positive, "the highest Q used (1/length, 2π included; None: the file's)"],
    "r_sigma": _R_SIGMA,
})
def features_from_sq(
    est,
    meta: dict,
    sq,
    *,
    density: float | None,
    dim: int | None = None,
    window: str = "lorch",
    q_min: float | None = None,
    q_max: float | None = None,
    smoothing: bool = True,
    r_sigma: float | None = None,
):
    """``(X, labels, info)``: the model's total g(r) feature from a measured S(Q) file ``sq`` (two
    columns: Q in 1/length with 2π included, S(Q)) at number ``density``."""
    from ..sq import g_from_sq

    if len(est.feature_shape_) != 1:
        raise UserError(
            "sq: the model takes partial g(r) channels; a measured S(Q) gives the total g(r) only"
        )
    t = read_array(sq, "sq")
    if t.ndim != 2 or t.shape[1] < 2:
        raise UserError(f"sq: expected two columns Q, S(Q), got shape {t.shape}")
    q, s = t[:, 0], t[:, 1]
    if np.any(np.diff(q) <= 0) or q[0] < 0:
        raise UserError("sq: Q must be non-negative and increase strictly")
    r = model_r(est, meta)
    dim = dim or int(meta.get("dim") or 3)
    sigma = model_sigma(meta, r_sigma) if smoothing else None
    g, info = g_from_sq(q, s, r, density, dim=dim, window=window, sigma=sigma, q_min=q_min, q_max=q_max)
    length = meta.get("length_unit") or est.r_unit or "length unit"
    info.update(source="sq", file=str(sq), q_unit=f"1/{length} (2 pi included)")
    return g[None, :], [str(sq)], info


def write_predictions(out: Path, freq, Y, X, r, labels: Sequence[str], info: dict, funit: str) -> list[Path]:
    """Write ``predictions.csv`` (frequency + one column per spectrum), ``predictions.npz`` and
    ``predict.json`` (``info``) into ``out``, atomically; returns the paths written."""
    out = Path(out)
    write_csv(
        out / "predictions.csv",
        np.column_stack([freq, Y.T]),
        ",".join([f"frequency_{funit}"] + [f"y[{lab}]".replace(",", ";") for lab in labels]),
    )
    atomic_savez(
        out / "predictions.npz",
        dict(
            frequency=freq,
            y=Y,
            features=X,
            r=np.asarray(r if r is not None else [], np.float64),
            labels=np.array(labels),
            metadata=np.array(json.dumps(info)),
        ),
    )
    atomic_write_text(out / "predict.json", json.dumps(info, indent=2))
    return [out / "predictions.csv", out / "predictions.npz", out / "predict.json"]


def rdf_of_frames(frames, r, sigma: float, warn: Callable[[str], None] | None = None) -> dict:
    """Smoothed total and partial g(r) of ``(label, Structure)`` frames on ``r`` (width ``sigma``): a
    dict of per-frame arrays, frame means, species names, pair names and number densities."""
    from ..rdf import norm_dim, rdf
    from ..structure import with_species_names

    names: list[str] = []
    for _, s in frames:
        names += [n for n in s.species_names if n not in names]
    dims = {norm_dim(s) for _, s in frames}
    if len(dims) != 1:
        raise UserError(f"files: frames mix {sorted(dims)}-periodic cells; give files of one kind")
    r = np.asarray(r, np.float64)
    tot, part, dens = [], [], []
    for label, s in frames:
        half = 0.5 * min(float(b) for b, p in zip(np.asarray(s.box), s.periodic) if p)
        if r[-1] > half and warn:
            warn(
                f"{label}: r_max {r[-1]:g} exceeds half the shortest periodic box length ({half:g}); g(r) "
                "beyond it counts periodic images twice over"
            )
        g = rdf(with_species_names(s, names), r, sigma)
        tot.append(np.asarray(g.total))
        part.append(np.asarray(g.partial))
        per = [float(b) for b, p in zip(np.asarray(s.box), s.periodic) if p]
        dens.append(s.n_atoms / float(np.prod(per)))
    iu = np.triu_indices(len(names))
    return dict(
        r=r,
        total=np.stack(tot),
        partial=np.stack(part),
        species_names=names,
        pair_names=[f"{names[i]}-{names[j]}" for i, j in zip(*iu)],
        number_density=dens,
        dim=dims.pop(),
    )


def write_rdf(out: Path, res: dict, meta: dict) -> list[Path]:
    """Write ``rdf.csv`` (frame means: r, total, one column per species pair), ``rdf.npz`` (per frame)
    and ``rdf.json`` (``meta``) into ``out``, atomically; returns the paths written."""
    out = Path(out)
    names = res["species_names"]
    iu = np.triu_indices(len(names))
    mean_t, mean_p = res["total"].mean(0), res["partial"].mean(0)
    write_csv(
        out / "rdf.csv",
        np.column_stack([res["r"], mean_t, *mean_p[iu[0], iu[1]]]),
        ",".join(["r", "g_total"] + [f"g_{p}" for p in res["pair_names"]]),
    )
    atomic_savez(
        out / "rdf.npz",
        dict(
            r=res["r"],
            total=res["total"],
            partial=res["partial"],
            mean_total=mean_t,
            mean_partial=mean_p,
            species_names=np.array(names),
            frames=np.array(meta["frames"]),
            number_density=np.asarray(res["number_density"]),
            metadata=np.array(json.dumps(meta)),
        ),
    )
    atomic_write_text(out / "rdf.json", json.dumps(meta, indent=2))
    return [out / "rdf.csv", out / "rdf.npz", out / "rdf.json"]
