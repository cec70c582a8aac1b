"""The structure → spectrum study of Wang, Cheng & Chen (2026) on a jaxglass dataset.

Given a dataset (:func:`jaxglass.data.load_dataset`: smoothed g(r) features, PDOS targets) this
module

1. splits it once into a training and a held-out test set (seeded; the crystalline reference, if
   present, always trains),
2. fits three models on the training set: the linear map ``PDOS = W g + b`` with an L2 penalty
   (ridge; closed form, ``l2`` by exact leave-one-out cross-validation), the same map with an L1 (elastic-net)
   penalty (coordinate descent on the Gram matrix to a relative duality gap ``en_tol``; ``l1`` by
   k-fold cross-validation along a warm-started path), and the flax CNN
   baseline (:mod:`jaxglass.models.cnn`, early stopping on a split of the training set),
3. scores them on the test set (MSE in PDOS units², R²),
4. draws learning curves: test MSE against the number of training structures (random subsets of
   the training set, several seeds; the linear model re-tunes ``l2`` by cross-validation on every
   subset (leave-one-out), the CNN keeps its default architecture and budget),
5. writes a JSON + markdown table and PNG figures: learning curve, weight maps W(ω, r) (L1 and L2)
   with the mean g(r) and PDOS on their edges, and predicted vs reference PDOS for a crystal-like,
   a medium and a highly disordered test structure.

Every finished learning-curve point is appended to ``learning_curve.partial.json`` in the output
folder, so an interrupted study resumes where it stopped (the file is ignored if the study
configuration or the dataset changed).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._config import require_x64
from ._io import atomic_write_text
from .errors import UserError
from .observables.registry import TARGETS  # the spectra a model can predict: the kinds datasets store
from .validation import Each, Integral, Options, Real, check, nonnegative

FEATURES = ("total", "partial")
MODELS = ("ridge", "elastic-net", "cnn")
SCALINGS = ("channel", "pooled", "column")


#: What each :class:`StudyConfig` field accepts (checked on construction; see :mod:`jaxglass.validation`).
STUDY_CONSTRAINTS = {
    "test_fraction": [Real(0, 1, closed="neither"), "the held-out fraction, e.g. 0.2"],
    "seed": [Integral(0, None), "a non-negative integer seed, e.g. 0"],
    "features": [Options(*FEATURES)],
    "train_sizes": [Each(Integral(2, 10**7)), "learning-curve training-set sizes, e.g. 25 50 100"],
    "n_seeds": [Integral(1, 10**4), "random subsets per training size, e.g. 5"],
    "cv_folds": [Integral(2, 10**4)],
    "ridge_cv": [Options("loo", "kfold")],
    "l2_grid": [Each(nonnegative)],
    "l1_grid": [Each(nonnegative)],
    "en_l2": [nonnegative],
    "en_tol": [Real(0, 1, closed="neither")],
    "en_max_sweeps": [Integral(1, None)],
    "en_cv_folds": [Integral(2, 10**4)],
    "cnn_max_epochs": [Integral(1, 10**7), "the CNN's epoch budget, e.g. 300"],
    "cnn_batch_size": [Integral(1, None)],
    "target": [Options(*TARGETS)],
    "scaling": [Options(*SCALINGS)],
}


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """Static settings of :func:`run_study`.

    ``train_sizes`` are the learning-curve sizes (those ≥ the training-set size are dropped and the
    full training set is always added); ``n_seeds`` random subsets per size give the error bars.
    ``l2_grid`` / ``l1_grid`` are the cross-validation grids (penalties as defined in
    :mod:`jaxglass.models.linear`); the elastic net uses ``l2 = en_l2`` and is solved to a relative
    duality gap ``en_tol`` (at most ``en_max_sweeps`` sweeps; the gap reached is reported); a choice
    on a grid edge warns. ``cnn_*`` override the
    :class:`~jaxglass.models.CNNConfig` defaults.

    ``target`` picks the spectrum to predict (:func:`jaxglass.data.target_arrays`:
    ``pdos``, ``ndos``, ``ins``, ``ixs``, ``raman``). ``scaling`` is the input scaling of every model
    (:class:`~jaxglass.models.Standardizer`): ``"channel"`` (default) gives each partial g_αβ(r) its
    own pooled scale and equals ``"pooled"`` for the total g(r); targets are always scaled pooled.
    """

    test_fraction: float = 0.2
    seed: int = 0
    features: str = "total"
    train_sizes: tuple[int, ...] = (25, 50, 100, 200, 400, 800)
    n_seeds: int = 5
    cv_folds: int = 5
    ridge_cv: str = "loo"
    l2_grid: tuple[float, ...] = tuple(float(x) for x in np.logspace(-8, 1, 19))
    l1_grid: tuple[float, ...] = tuple(float(x) for x in np.logspace(-6, -2, 9))
    en_l2: float = 1e-7
    en_tol: float = 1e-4
    en_max_sweeps: int = 1000
    en_cv_folds: int = 3
    cnn_max_epochs: int = 300
    cnn_batch_size: int = 32
    target: str = "pdos"
    scaling: str = "channel"

    def __post_init__(self):
        for name, constraints in STUDY_CONSTRAINTS.items():  # before any conversion: NaN, strings ...
            check(name, getattr(self, name), *constraints)
        object.__setattr__(self, "train_sizes", tuple(int(n) for n in self.train_sizes))
        object.__setattr__(self, "l2_grid", tuple(float(x) for x in self.l2_grid))
        object.__setattr__(self, "l1_grid", tuple(float(x) for x in self.l1_grid))

    def cnn_config(self, seed: int = 0):
        from .models import CNNConfig

        return CNNConfig(max_epochs=self.cnn_max_epochs, batch_size=self.cnn_batch_size, seed=seed,
                         input_scaling=self.scaling)


# ----------------------------------------------------------------------------------------------
# Data preparation
# ----------------------------------------------------------------------------------------------


def features(ds, kind: str = "total") -> np.ndarray:
    """Model inputs of a dataset: ``(K, R)`` total g(r), or ``(K, C, R)`` partial g_ab(r) over the
    ``C = S(S+1)/2`` unordered species pairs (upper triangle, row-major)."""
    if kind == "total":
        return np.asarray(ds.rdf_total, np.float64)
    if kind == "partial":
        S = ds.rdf_partial.shape[1]
        iu = np.triu_indices(S)
        return np.asarray(ds.rdf_partial[:, iu[0], iu[1], :], np.float64)
    raise UserError(f"features: kind must be one of {FEATURES}, got {kind!r}")


def feature_labels(ds, kind: str = "total") -> list[str]:
    if kind == "total":
        return ["g(r)"]
    S = len(ds.species_names)
    iu = np.triu_indices(S)
    return [f"g_{ds.species_names[a]}{ds.species_names[b]}(r)" for a, b in zip(*iu)]


def targets(ds, target: str = "pdos") -> tuple[np.ndarray, str, str]:
    """Model outputs ``(K, F)`` of a dataset for ``target``, with its label and unit
    (:func:`jaxglass.data.target_arrays`)."""
    from .data.observables import target_arrays

    return target_arrays(ds, target)


#: Fewest training structures a study or a dataset model is fitted on (the linear models' minimum).
MIN_TRAIN = 3


def split_indices(knob: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (train, test) positions; the crystalline reference (knob < 0) is kept in training."""
    knob = np.asarray(knob)
    n = knob.size
    glass = np.flatnonzero(knob >= 0)
    n_test = int(round(test_fraction * n))
    if n < MIN_TRAIN + 1:
        raise UserError(
            f"dataset: {n} structure(s) are too few for a study: the models need at least {MIN_TRAIN} "
            f"training structures and 1 test structure (test_fraction={test_fraction} holds out {n_test}); "
            f"generate more structures (at least {MIN_TRAIN + 1}; 20 or more for meaningful scores)"
        )
    if n_test < 1 or n - n_test < MIN_TRAIN or n_test > glass.size:
        raise UserError(
            f"split: {n} structures cannot be split with test_fraction={test_fraction}; "
            "generate more structures or change the fraction"
        )
    rng = np.random.default_rng([seed, 104729])
    test = np.sort(rng.choice(glass, n_test, replace=False))
    train = np.setdiff1d(np.arange(n), test)
    return train, test


def _dataset_fingerprint(ds) -> str:
    h = hashlib.sha256()
    for a in (ds.indices, ds.rdf_total, ds.pdos_total):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Model fitting
# ----------------------------------------------------------------------------------------------


def make_estimator(name: str, cfg: StudyConfig, seed: int = 0, **axes):
    """The unfitted estimator the study fits as model ``name`` (``ridge``, ``elastic-net``, ``cnn`` or
    ``lasso``), configured by ``cfg`` (grids, folds, tolerances, CNN budget, input scaling) with
    ``seed`` for its folds or initialisation; ``axes`` (``r``, ``freq``, units) are stored with it.

    ridge: ``l2`` by exact leave-one-out (``ridge_cv="loo"``) or ``cv_folds``-fold CV over
    ``l2_grid``; elastic net: ``l2 = en_l2``, ``l1`` by ``en_cv_folds``-fold CV over ``l1_grid``, CV
    and final fit to a relative duality gap ``en_tol`` within ``en_max_sweeps`` sweeps; lasso: the
    same with ``l2 = 0``; CNN: the :class:`~jaxglass.models.CNNConfig` of :meth:`StudyConfig.cnn_config`.
    """
    from .models import make_estimator as make

    if name == "ridge":
        return make("ridge", l2_grid=cfg.l2_grid, cv="loo" if cfg.ridge_cv == "loo" else cfg.cv_folds,
                    seed=seed, scaling=cfg.scaling, **axes)
    if name in ("elastic-net", "lasso"):
        l2 = dict(l2=cfg.en_l2) if name == "elastic-net" else {}
        return make(name, **l2, l1_grid=cfg.l1_grid, cv=cfg.en_cv_folds, seed=seed, tol=cfg.en_tol,
                    max_sweeps=cfg.en_max_sweeps, cv_tol=cfg.en_tol, cv_max_sweeps=cfg.en_max_sweeps,
                    scaling=cfg.scaling, **axes)
    if name == "cnn":
        c = cfg.cnn_config(seed)
        return make("cnn", max_epochs=c.max_epochs, batch_size=c.batch_size, seed=c.seed,
                    input_scaling=c.input_scaling, **axes)
    raise UserError(f"name: unknown model {name!r}; choose from {MODELS + ('lasso',)}")


def fit_model(name: str, X, Y, cfg: StudyConfig, seed: int = 0, **axes):
    """:func:`make_estimator` fitted on ``X``, ``Y``; returns the fitted estimator."""
    return make_estimator(name, cfg, seed, **axes).fit(X, Y)


def fit_dataset_model(ds, name: str, cfg: StudyConfig, *, dataset=None, dim: int | None = None):
    """Fit model ``name`` (:func:`make_estimator`) on the training split of a dataset, as
    :func:`run_study` does; returns the fitted estimator, ready for ``save``.

    Its axes are the dataset's ``r`` and ``freq`` grids and units, and its :attr:`metadata` records
    what a later evaluation on the dataset needs: ``kind`` (``name``), ``dataset`` (the resolved
    path, if given), ``system``, ``features``, ``target``, ``scaling``, ``test_fraction``, ``seed``,
    ``train_indices``/``test_indices`` (dataset indices), ``hyper`` (the fit's ``info_``),
    ``train_mse``, ``freq``, ``r``, ``freq_unit``, ``length_unit``, ``r_sigma``, ``species_names`` and
    ``dim`` (if given). :func:`check_dataset` checks a dataset against this metadata.
    """
    X, (Y, _, y_unit) = features(ds, cfg.features), targets(ds, cfg.target)
    tr, te = split_indices(ds.knob, cfg.test_fraction, cfg.seed)
    est = fit_model(name, X[tr], Y[tr], cfg, cfg.seed, r=np.asarray(ds.r), freq=np.asarray(ds.freq),
                    r_unit=ds.length_unit, freq_unit=ds.freq_unit, y_unit=y_unit)
    meta = dict(kind=name, system=ds.config.system, features=cfg.features, target=cfg.target,
                scaling=cfg.scaling, test_fraction=cfg.test_fraction, seed=cfg.seed,
                train_indices=[int(ds.indices[i]) for i in tr], test_indices=[int(ds.indices[i]) for i in te],
                hyper=est.info_, train_mse=scores(Y[tr], predict_any(est, X[tr]))["mse"],
                freq=np.asarray(ds.freq).tolist(), r=np.asarray(ds.r).tolist(), freq_unit=ds.freq_unit,
                length_unit=ds.length_unit, r_sigma=ds.config.r_sigma, species_names=list(ds.species_names))
    if dataset is not None:
        meta["dataset"] = str(Path(dataset).resolve())
    if dim is not None:
        meta["dim"] = int(dim)
    est.metadata = meta
    return est


def check_dataset(metadata: dict[str, Any], ds, where: str = "dataset") -> None:
    """``UserError`` (field ``dataset``) unless ``ds`` holds the system, ``r``/``freq`` grids, units
    and (for partial features) species a model with this :func:`fit_dataset_model` metadata was
    trained on; ``where`` names the dataset in the messages."""
    if metadata.get("system") and metadata["system"] != ds.config.system:
        raise UserError(f"dataset: {where} holds {ds.config.system!r} structures, the model was trained on "
                        f"{metadata['system']!r}; use a {metadata['system']} dataset")
    for key, have, unit in (("r", ds.r, ds.length_unit), ("freq", ds.freq, ds.freq_unit)):
        want = metadata.get(key)
        if want is None:
            continue
        want, have = np.asarray(want, np.float64), np.asarray(have, np.float64)
        if want.shape != have.shape or not np.allclose(want, have, rtol=1e-9, atol=1e-12):
            raise UserError(
                f"dataset: {where} has a different {key} grid: model {want.size} points [{want.min():g}, "
                f"{want.max():g}], dataset {have.size} points [{have.min():g}, {have.max():g}] ({unit}); "
                "use a dataset built with the model's grids")
    for key, have in (("length_unit", ds.length_unit), ("freq_unit", ds.freq_unit)):
        if metadata.get(key) is not None and metadata[key] != have:
            raise UserError(f"dataset: {where} uses {key} {have!r}, the model {metadata[key]!r}")
    names = metadata.get("species_names")
    if metadata.get("features") == "partial" and names not in (None, list(ds.species_names)):
        raise UserError(f"dataset: {where} has species {list(ds.species_names)}, the model's partial g(r) "
                        f"channels are for {names}")


def _fitter(name: str) -> Callable:
    def fit(X, Y, cfg: StudyConfig, seed: int = 0):
        est = fit_model(name, X, Y, cfg, seed)
        return est.model_, est.info_

    fit.__name__ = f"fit_{name.replace('-', '_')}"
    fit.__doc__ = (f"``(model, info)`` of the study's {name} estimator fitted on ``X``, ``Y`` "
                   "(:func:`fit_model`): the fitted map and the estimator's ``info_``.")
    return fit


def predict_any(model, X) -> np.ndarray:
    """Predictions ``(K, F)`` of a fitted estimator, :class:`~jaxglass.models.LinearSPR` or
    :class:`~jaxglass.models.CNNModel`."""
    from .models import CNNModel, predict, predict_cnn

    if hasattr(model, "predict"):  # an estimator
        return np.asarray(model.predict(X), np.float64).reshape(len(X), -1)
    if isinstance(model, CNNModel):
        return np.asarray(predict_cnn(model, X), np.float64)
    return np.asarray(predict(model, X), np.float64)


def scores(Y, P) -> dict[str, float]:
    from .models import mse, r2

    s = r2(Y, P)
    return dict(mse=mse(Y, P), r2_mean=s.mean, r2_overall=s.overall)


#: Below this many samples an R² is reported as unstable (:func:`scores_checked`).
MIN_R2_SAMPLES = 20


def scores_checked(Y, P) -> dict:
    """:func:`scores` with ``r2_status``: ``"ok"``, ``"undefined: ..."`` when the targets do not vary
    (R² set to None), or ``"unstable: ..."`` below :data:`MIN_R2_SAMPLES` samples."""
    sc = scores(Y, P)
    n = len(Y)
    spread = float(np.var(Y, axis=0).sum())
    scale = float(np.mean(np.asarray(Y) ** 2, axis=0).sum())
    if n < 2 or spread <= 1e-12 * max(scale, 1e-300):
        status = f"undefined: the {n} target spectra (almost) do not vary"
        sc["r2_mean"] = sc["r2_overall"] = None
    elif n < MIN_R2_SAMPLES:
        status = (f"unstable: only {n} samples (< {MIN_R2_SAMPLES}); targets with tiny variance dominate "
                  "the mean R², prefer the MSE or the variance-weighted overall R²")
    else:
        status = "ok"
    sc["r2_status"] = status
    return sc


STOCHASTIC = ("cnn",)  # models whose fit depends on the seed (initialisation, validation split)
#: Model name → ``fit(X, Y, cfg, seed) -> (model, info)``, every one through :func:`fit_model`.
FITTERS: dict[str, Callable] = {name: _fitter(name) for name in MODELS}
fit_ridge_cv = FITTERS["ridge"]


# ----------------------------------------------------------------------------------------------
# The study
# ----------------------------------------------------------------------------------------------


def learning_sizes(cfg: StudyConfig, n_train: int) -> list[int]:
    return sorted({n for n in cfg.train_sizes if n < n_train} | {n_train})


def _log(msg: str, verbose: bool) -> None:
    if verbose:
        print(msg, flush=True)


def run_study(ds, out: str | Path, cfg: StudyConfig | None = None, *, figures: bool = True,
              verbose: bool = True, models: Sequence[str] = MODELS) -> dict[str, Any]:
    """Run the full study on a loaded dataset; writes ``study.json``, ``study.md`` and PNGs to ``out``.

    Returns the result dictionary (also in ``study.json``).
    """
    require_x64("jaxglass.study.run_study")
    cfg = cfg or StudyConfig()
    for m in models:
        if m not in MODELS:
            raise UserError(f"models: unknown model {m!r}; choose from {MODELS}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    X = features(ds, cfg.features)
    Y, y_label, y_unit = targets(ds, cfg.target)
    tr, te = split_indices(ds.knob, cfg.test_fraction, cfg.seed)
    Xtr, Ytr, Xte, Yte = X[tr], Y[tr], X[te], Y[te]
    system = ds.config.system
    _log(f"study {system}: {len(ds)} structures ({len(tr)} train, {len(te)} test), features "
         f"{cfg.features} {X.shape[1:]} ({cfg.scaling} scaling), target {y_label} ({y_unit}) on "
         f"{Y.shape[1]} frequencies", verbose)

    # (a) full-data models
    fitted, rows = {}, []
    for name in models:
        t0 = time.perf_counter()
        model, info = FITTERS[name](Xtr, Ytr, cfg, cfg.seed)
        dt = time.perf_counter() - t0
        P = predict_any(model, Xte)
        row = dict(model=name, n_train=len(tr), n_test=len(te), fit_seconds=dt, **scores(Yte, P),
                   train_mse=scores(Ytr, predict_any(model, Xtr))["mse"], hyper=info)
        rows.append(row)
        fitted[name] = (model, P)
        _log(f"  {name:12s} test MSE {row['mse']:.4e}  R² {row['r2_overall']:.4f}  ({dt:.1f} s, {info})",
             verbose)

    # (b) learning curves
    lc = learning_curve(Xtr, Ytr, Xte, Yte, cfg, out, fingerprint=_dataset_fingerprint(ds),
                        models=[m for m in ("ridge", "cnn") if m in models], verbose=verbose)

    n_atoms = int(np.median(ds.n_atoms)) if len(ds.n_atoms) else ds.config.n_atoms  # real, not configured
    result = dict(
        system=system, n_structures=len(ds), n_atoms=n_atoms, n_train=len(tr), n_test=len(te),
        features=cfg.features, feature_shape=list(X.shape[1:]), n_freq=int(Y.shape[1]),
        freq_unit=ds.freq_unit, length_unit=ds.length_unit, pdos_units="1/" + ds.freq_unit,
        target=cfg.target, target_label=y_label, target_units=y_unit,
        mse_units=f"({y_unit})^2", config=dataclasses.asdict(cfg),
        test_indices=[int(ds.indices[i]) for i in te], models=rows, learning_curve=lc,
    )
    if "ridge" in models and "cnn" in models:
        result["criteria"] = criteria(rows, lc)
    atomic_write_text(out / "study.json", json.dumps(result, indent=2))
    atomic_write_text(out / "study.md", markdown_table(result))
    if figures:
        from . import plots

        plots.plot_learning_curve(result, out / "learning_curve.png")
        for name, tag in (("ridge", "l2"), ("elastic-net", "l1")):
            if name in fitted:
                plots.plot_weight_map(fitted[name][0], ds, tr, out / f"weights_{tag}.png",
                                      title=f"{system}: W(ω, r) → {y_label}, {name} ({tag.upper()})",
                                      labels=feature_labels(ds, cfg.features), Y=Y, y_unit=y_unit)
        pick = pick_examples(ds.knob[te])
        plots.plot_predictions(ds, te, pick, {k: v[1] for k, v in fitted.items()}, out / "predictions.png",
                               Y=Y, y_label=y_label, y_unit=y_unit)
    _log(f"study {system}: wrote {out / 'study.json'}, {out / 'study.md'}"
         + (" and figures" if figures else ""), verbose)
    return result


def learning_curve(Xtr, Ytr, Xte, Yte, cfg: StudyConfig, out: Path, *, fingerprint: str = "",
                   models: Sequence[str] = ("ridge", "cnn"), verbose: bool = True) -> dict[str, Any]:
    """Test MSE vs training-set size; resumes from ``out/learning_curve.partial.json``.

    Each size below the full training set is drawn ``n_seeds`` times; at the full set the CNN is
    retrained with ``n_seeds`` seeds (initialisation and early-stopping split) and ridge, being
    deterministic, once.
    """
    sizes = learning_sizes(cfg, len(Xtr))
    from .models import LinearSPRConfig

    # the key covers everything that defines a point: study settings, data, and the model defaults
    parts = [dataclasses.asdict(cfg), fingerprint, list(models), dataclasses.asdict(cfg.cnn_config()),
             dataclasses.asdict(LinearSPRConfig())]
    blob = json.dumps(parts, default=str).encode()
    key = hashlib.sha256(blob).hexdigest()[:16]
    part = out / "learning_curve.partial.json"
    done: dict[str, float] = {}
    if part.exists():
        try:
            saved = json.loads(part.read_text())
            if saved.get("key") == key:
                done = saved["points"]
        except (ValueError, KeyError):
            done = {}
    def n_runs(m, n):  # the full set has one subset; a deterministic model then needs one run
        return cfg.n_seeds if (n < len(Xtr) or m in STOCHASTIC) else 1

    todo = [(m, n, s) for n in sizes for s in range(cfg.n_seeds) for m in models if s < n_runs(m, n)]
    t_start = time.perf_counter()
    for i, (m, n, s) in enumerate(todo):
        tag = f"{m}|{n}|{s}"
        if tag in done:
            continue
        sub = np.sort(np.random.default_rng([cfg.seed, n, s]).choice(len(Xtr), n, replace=False))
        model, _ = FITTERS[m](Xtr[sub], Ytr[sub], cfg, s)
        done[tag] = scores(Yte, predict_any(model, Xte))["mse"]
        atomic_write_text(part, json.dumps(dict(key=key, points=done)))
        _log(f"  learning curve [{i + 1}/{len(todo)}] {m:6s} n={n:4d} seed {s}: test MSE {done[tag]:.4e} "
             f"({time.perf_counter() - t_start:.0f} s)", verbose)
    res: dict[str, Any] = dict(sizes=sizes)
    for m in models:
        vals = [[done[f"{m}|{n}|{s}"] for s in range(n_runs(m, n))] for n in sizes]
        res[m] = dict(mean=[float(np.mean(v)) for v in vals], std=[float(np.std(v)) for v in vals],
                      values=vals)
    return res


def criteria(rows: list[dict], lc: dict) -> dict[str, Any]:
    """Acceptance test: linear MSE ≤ 1.2 × CNN at full data and < CNN at the smallest size.

    At full data "linear" is the linear model (ridge or elastic net) with the lower cross-validation
    MSE on the training set (chosen without the test set) and the CNN's MSE is its mean over the
    seeds at the full training set; the learning curve uses ridge.
    """
    by = {r["model"]: r for r in rows}
    lin = [m for m in ("ridge", "elastic-net") if m in by]
    best = min(lin, key=lambda m: by[m]["hyper"]["cv_mse"])
    cnn_full = lc["cnn"]["mean"][-1]  # mean over the CNN seeds on the full training set
    full_ratio = by[best]["mse"] / cnn_full
    small_ratio = lc["ridge"]["mean"][0] / lc["cnn"]["mean"][0]
    return dict(linear=best, full_ratio=full_ratio, full_ok=bool(full_ratio <= 1.2),
                cnn_full_mean=cnn_full, full_ratio_ridge=by["ridge"]["mse"] / cnn_full,
                smallest_size=lc["sizes"][0],
                small_ratio=small_ratio, small_ok=bool(small_ratio < 1.0))


def pick_examples(knob_test: np.ndarray) -> list[int]:
    """Positions (in the test set) of the least, the median and the most disordered structure."""
    order = np.argsort(knob_test)
    return [int(order[0]), int(order[len(order) // 2]), int(order[-1])]


def markdown_table(result: dict[str, Any]) -> str:
    u = result["mse_units"]
    lines = [
        f"## {result['system']}: {result['n_structures']} structures of ~{result['n_atoms']} atoms "
        f"({result['n_train']} train / {result['n_test']} test), features: {result['features']} g(r)"
        f", target: {result.get('target_label', 'PDOS')} ({result.get('target_units', '')})",
        "",
        f"| model | test MSE {u} | R² | train MSE | hyper-parameters | fit s |",
        "|---|---|---|---|---|---|",
    ]
    notes = ["", "R² = 1 − ΣSSE/ΣSST over all test entries (variance-weighted; study.json also has the "
             "per-ω mean, which is dominated by frequencies where the PDOS hardly varies)."]
    for r in result["models"]:
        hp = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in r["hyper"].items()
                       if k in ("l1", "l2", "nonzero_fraction", "n_epochs"))
        lines.append(f"| {r['model']} | {r['mse']:.3e} | {r['r2_overall']:.4f} | "
                     f"{r['train_mse']:.3e} | {hp} | {r['fit_seconds']:.1f} |")
    lines += notes
    lc = result["learning_curve"]
    models = [m for m in ("ridge", "cnn") if m in lc]
    lines += ["", "Learning curve (test MSE, mean ± std over seeds):", "",
              "| n_train | " + " | ".join(models) + (" | ratio |" if len(models) == 2 else " |"),
              "|---" * (len(models) + 1 + (len(models) == 2)) + "|"]
    for i, n in enumerate(lc["sizes"]):
        cells = [f"{lc[m]['mean'][i]:.3e} ± {lc[m]['std'][i]:.1e}" for m in models]
        ratio = f" | {lc['ridge']['mean'][i] / lc['cnn']['mean'][i]:.2f}" if len(models) == 2 else ""
        lines.append(f"| {n} | " + " | ".join(cells) + ratio + " |")
    if "criteria" in result:
        c = result["criteria"]
        lines += ["", f"Linear ({c['linear']}, chosen by CV MSE) / CNN (mean over seeds) test MSE at "
                      "full data: "
                      f"{c['full_ratio']:.2f} "
                      f"({'≤' if c['full_ok'] else '>'} 1.2); at n = {c['smallest_size']}: "
                      f"{c['small_ratio']:.2f} ({'<' if c['small_ok'] else '≥'} 1)."]
    return "\n".join(lines) + "\n"
