"""scikit-learn-style estimators: ``Ridge``, ``Lasso``, ``ElasticNet`` (the linear map y = W x + b) and
``CNN`` (the 1D convolutional baseline).

They follow scikit-learn's conventions: hyper-parameters are ``__init__`` arguments stored as given
(``get_params``/``set_params``), fitted state ends in ``_``, ``X`` is ``(n_samples, n_features)``
(or ``(n_samples, C, R)`` for several input channels) and ``Y`` is ``(n_samples, n_targets)`` or
``(n_samples,)``; ``score`` is R² averaged over the targets. They therefore work in
``sklearn.pipeline.Pipeline``, ``sklearn.model_selection.cross_val_score`` and ``clone``. When
scikit-learn is installed they subclass ``sklearn.base.BaseEstimator``/``RegressorMixin`` (for its
tags and HTML repr); it is never required.

Penalties are those of the objective in :mod:`jaxglass.models.linear` (mean squared error over
samples and targets, on pooled-scaled data, + ``l1 Σ|W|`` + ``l2 Σ W²``). A penalty left at ``None``
is chosen by cross-validation over a documented default grid (:mod:`jaxglass.models._selection`):
ridge ``l2`` by exact leave-one-out over ``DEFAULT_L2_GRID``; lasso/elastic-net ``l1`` by ``cv``-fold CV
over ``default_l1_grid`` (26 values, ``l1_max`` … ``1e-5 l1_max``) and elastic-net ``l2`` over
``DEFAULT_EN_L2_GRID``. A choice on the edge of its grid raises a ``GridEdgeWarning``.

Axes and units (``r``, ``freq``, ``r_unit``, ``freq_unit``, ``y_unit``) are optional parameters stored
with the model, so ``weight_map()`` needs nothing but the fitted model, also after ``load``.

Example (synthetic data)::

    >>> import numpy as np, jaxglass
    >>> from jaxglass.models import Ridge
    >>> jaxglass.enable_x64()  # the linear estimators fit in float64
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 8)); Y = X @ rng.normal(size=(8, 3)) + 0.01 * rng.normal(size=(60, 3))
    >>> model = Ridge().fit(X, Y)
    >>> model.predict(X[:2]).shape
    (2, 3)
    >>> round(model.score(X, Y), 3)
    1.0
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..validation import Real, check
from ._files import CNN_FORMAT, metadata_json, model_format, split_metadata
from ._metrics import r2
from ._selection import (
    CV_MAX_SWEEPS,
    CV_TOL,
    DEFAULT_EN_L2_GRID,
    DEFAULT_L2_GRID,
    l1_max,
    select_enet,
    select_enet_constrained,
    select_ridge_l2,
    select_ridge_l2_constrained,
)

#: The static constraint of a fixed penalty ``l1``/``l2`` (:mod:`jaxglass.validation`), checked before any
#: data are read (the command line's parse stage). Why 1e6: with standardised data (any ``scaling``),
#: ``Σ_k x̃_kd² = K·D`` and ``Σ_k ỹ_kf² = K·F`` over the ``D`` features and ``F`` targets, so
#: (Cauchy-Schwarz) :func:`~jaxglass.models.l1_max` ``≤ 2 sqrt(D/F)``: every ``l1`` above that gives
#: ``W = 0`` exactly, and 1e6 is above it for any ``D/F < 2.5e11``; and ridge shrinks each principal
#: direction of ``W`` by ``s/(s + K F l2) ≤ D/(D + F l2)`` (``s ≤ K D`` an eigenvalue of ``X̃ᵀX̃``), at
#: most 1 % of the unpenalised fit at ``l2 = 1e6`` for ``D ≤ 10⁴ F``: larger values only approach the
#: constant model (the training mean). The cross-validation grids end at 1e2. Where the data are at
#: hand, :class:`ElasticNet`/:class:`Lasso` refuse ``l1 ≥ l1_max`` of the data themselves
#: (:func:`check_l1_below_max`).
PENALTY = (None, Real(0, 1e6), "a fixed penalty, at most 1e6 (None: chosen by cross-validation)")

try:  # scikit-learn is optional: subclass its bases only when it is there
    from sklearn.base import BaseEstimator as _SkBase
    from sklearn.base import RegressorMixin as _SkRegressor

    _BASES: tuple[type, ...] = (_SkRegressor, _SkBase)
except ImportError:  # pragma: no cover - exercised only without scikit-learn
    _BASES = ()

class _Estimator(*_BASES):
    """get_params/set_params/score shared by the estimators (scikit-learn's contract)."""

    @classmethod
    def _get_param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return sorted(p.name for p in sig.parameters.values() if p.name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._get_param_names()}

    def set_params(self, **params):
        valid = self._get_param_names()
        for k, v in params.items():
            if k not in valid:
                raise UserError(f"{type(self).__name__}.set_params: unknown parameter {k!r}; valid: {valid}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        sig = inspect.signature(type(self).__init__)
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if not _same(v, sig.parameters[k].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- data handling ---------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "feature_shape_"):
            raise RuntimeError(f"{type(self).__name__}: call fit(X, Y) first (or {type(self).__name__}.load)")

    def _features(self, X, fitting: bool):
        X = np.asarray(X, np.float64)
        if X.ndim not in (2, 3) or X.shape[0] < 1:
            raise UserError(f"X: expected (n_samples, n_features) or (n_samples, C, R), got shape {X.shape}")
        fs = self.feature_shape
        shape = tuple(X.shape[1:]) if fs is None else tuple(int(s) for s in np.atleast_1d(fs))
        if int(np.prod(shape)) != int(np.prod(X.shape[1:])):
            raise UserError(f"X: samples of shape {X.shape[1:]} do not match feature_shape={shape}; "
                             "fix X or the feature_shape parameter")
        if not fitting and shape != self.feature_shape_:
            raise UserError(f"X: samples of shape {X.shape[1:]} do not match the fitted feature shape "
                             f"{self.feature_shape_} (n_features={int(np.prod(self.feature_shape_))})")
        return X.reshape((X.shape[0], *shape)), shape

    def _targets(self, Y, n: int):
        Y = np.asarray(Y, np.float64)
        one = Y.ndim == 1
        Y = Y[:, None] if one else Y
        if Y.ndim != 2 or Y.shape[0] != n:
            raise UserError(f"Y: expected (n_samples={n}, n_targets) or ({n},), got shape {np.shape(Y)}")
        if not np.isfinite(Y).all():
            raise UserError("Y: contains NaN or inf")
        return Y, one

    def _store_data_stats(self, X, Y, shape, one):
        self.feature_shape_ = shape
        self.n_features_in_ = int(np.prod(shape))
        self.n_targets_ = int(Y.shape[1])
        self.x_mean_ = X.mean(0)
        self.x_std_ = X.std(0)
        self.y_mean_ = Y.mean(0)
        self._y_1d = one

    def predict(self, X) -> np.ndarray:
        """Predictions ``(n_samples, n_targets)`` (``(n_samples,)`` if fitted on a 1-D ``Y``)."""
        self._check_fitted()
        X, _ = self._features(X, fitting=False)
        P = self._predict(X)
        return P[:, 0] if self._y_1d else P

    def score(self, X, Y, sample_weight=None) -> float:
        """R² of ``predict(X)``, averaged over the targets with non-zero variance (scikit-learn's
        ``r2_score`` with ``multioutput="uniform_average"``, constant targets skipped)."""
        if sample_weight is not None:
            raise UserError("score: sample_weight is not supported")
        P = self.predict(X)
        return float(r2(np.asarray(Y, np.float64).reshape(P.shape), P).mean)

    # -- files -----------------------------------------------------------------------------------
    @property
    def metadata(self) -> dict[str, Any]:
        """The caller's JSON-serialisable dict stored with the model by :meth:`save` and returned by
        :func:`load_model` (e.g. where the training data came from); not a hyper-parameter."""
        return self.__dict__.setdefault("_metadata", {})

    @metadata.setter
    def metadata(self, value: dict[str, Any]) -> None:
        self.__dict__["_metadata"] = dict(value)

    def save(self, path, metadata: dict[str, Any] | None = None) -> Path:
        """Write the fitted model, its parameters, axes and units to ``path`` (npz, atomic), with
        ``metadata`` (default: :attr:`metadata`) for the caller; :func:`load_model` reads it back."""
        self._check_fitted()
        meta = metadata_json(self._state(), self.metadata if metadata is None else metadata)
        self._write(path, meta)
        return Path(path)

    def _state(self) -> dict[str, Any]:
        fitted = dict(feature_shape=list(self.feature_shape_), y_1d=bool(self._y_1d),
                      x_mean=_tolist(self.x_mean_), x_std=_tolist(self.x_std_),
                      y_mean=_tolist(self.y_mean_), info=getattr(self, "info_", {}))
        params = {k: _jsonable(v) for k, v in self.get_params().items()}
        return dict(estimator=type(self).__name__, params=params, fitted=fitted)

    def _restore(self, model, state: dict[str, Any], metadata: dict[str, Any]):
        f = state.get("fitted", {})
        self.model_ = model
        shape = tuple(int(s) for s in f.get("feature_shape", model.feature_shape))
        self.feature_shape_ = shape
        self.n_features_in_ = int(np.prod(shape))
        self._y_1d = bool(f.get("y_1d", False))
        self.x_mean_ = np.asarray(f["x_mean"]).reshape(shape) if f.get("x_mean") is not None else None
        self.x_std_ = np.asarray(f["x_std"]).reshape(shape) if f.get("x_std") is not None else None
        self.y_mean_ = np.asarray(f["y_mean"]) if f.get("y_mean") is not None else None
        self.info_ = f.get("info", {})
        self.metadata = metadata
        return self

    @classmethod
    def load(cls, path):
        """Load an estimator saved by ``save`` (or any model file, :func:`load_model`)."""
        est = load_model(path)
        if not isinstance(est, cls):
            raise UserError(f"{path}: holds a {type(est).__name__}, not a {cls.__name__}; "
                            "use jaxglass.models.load_model")
        return est


def _with_violation(est, model):
    """``model``, with ``est.info_["constraint_violation"]`` set when ``est`` has constraints."""
    if est.constraints is not None:
        from ._constraints import as_constraints, violation
        from .linear import physical_weights

        W, b = (np.asarray(a) for a in physical_weights(model))
        W = W.reshape(W.shape[0], -1)
        est.info_["constraint_violation"] = violation(W, b, as_constraints(est.constraints, *W.shape))
    return model


def _set_params(est, params: dict[str, Any]) -> None:
    """Store the ``__init__`` arguments as given (scikit-learn's convention)."""
    for k, v in params.items():
        if k not in ("self", "__class__"):
            setattr(est, k, v)


def _same(a, b) -> bool:
    try:
        return bool(a is b or (type(a) is type(b) and a == b))
    except ValueError:  # arrays
        return False


def _tolist(a):
    return None if a is None else np.asarray(a).ravel().tolist()


def _jsonable(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


# ------------------------------------------------------------------------------------------------
# Linear estimators
# ------------------------------------------------------------------------------------------------


class _Linear(_Estimator):
    def fit(self, X, Y):
        """Fit on ``X`` ``(n_samples, n_features)`` (or ``(n_samples, C, R)``) and ``Y``; returns self."""
        from .._config import require_x64

        require_x64(f"{type(self).__name__}.fit")
        X, shape = self._features(X, fitting=True)
        if not np.isfinite(X).all():
            raise UserError("X: contains NaN or inf")
        Y, one = self._targets(Y, X.shape[0])
        if X.shape[0] < 3:
            raise UserError(f"X: need at least 3 samples to fit, got {X.shape[0]}")
        self._store_data_stats(X, Y, shape, one)
        self.model_ = self._fit(X, Y)
        return self

    def _predict(self, X):
        from .linear import predict

        return np.asarray(predict(self.model_, X), np.float64)

    @property
    def coef_(self) -> np.ndarray:
        """Weights in data units, ``(n_targets, *feature_shape)`` (``Y ≈ X W + intercept_``)."""
        from .linear import physical_weights

        self._check_fitted()
        return np.asarray(physical_weights(self.model_)[0])

    @property
    def intercept_(self) -> np.ndarray:
        from .linear import physical_weights

        self._check_fitted()
        return np.asarray(physical_weights(self.model_)[1])

    def _write(self, path, meta):
        from .linear import save_linear

        save_linear(self.model_, path, metadata=meta)

    def weight_map(self, path=None, *, title: str = "", labels=None):
        """Figure of the weight map ``W·σ_x`` (``σ_x``: std of the training inputs per feature) against
        the stored ``r`` and ``freq`` axes (indices if not given), with the mean input on top and the
        mean target on the right; colour bar in ``y_unit``. Saved to ``path`` if given; returns the
        matplotlib figure."""
        from ..plots import save_figure, weight_map_figure

        self._check_fitted()
        W = self.coef_
        R = self.feature_shape_[-1]
        r = np.arange(R) if self.r is None else np.asarray(self.r, np.float64)
        freq = np.arange(W.shape[0]) if self.freq is None else np.asarray(self.freq, np.float64)
        if r.shape != (R,) or freq.shape != (W.shape[0],):
            raise UserError(f"weight_map: r has {r.size} values for {R} features per channel and freq "
                             f"{freq.size} for {W.shape[0]} targets; fix the r / freq parameters")
        x_mean = self.x_mean_ if self.x_mean_ is not None else np.zeros(self.feature_shape_)
        y_mean = self.y_mean_ if self.y_mean_ is not None else np.zeros(W.shape[0])
        fig = weight_map_figure(W, x_mean, self.x_std_, r, freq, y_mean, title=title,
                                labels=labels or self.feature_names, r_unit=self.r_unit,
                                freq_unit=self.freq_unit, y_unit=self.y_unit)
        if path is not None:
            save_figure(fig, path)
        return fig


class Ridge(_Linear):
    """Linear map with an L2 penalty (closed form).

    ``l2=None`` (default) chooses it by cross-validation over ``l2_grid`` (default
    ``DEFAULT_L2_GRID``, 25 values 1e-10 … 1e2): exact leave-one-out for ``cv="loo"`` (default), else
    ``cv``-fold with folds drawn from ``seed`` (:func:`~jaxglass.models.select_ridge_l2`).
    ``standardize``/``scaling`` as in :func:`jaxglass.models.fit_ridge`.

    ``constraints`` (:class:`~jaxglass.models.WeightConstraints` or ``(rows, values[, intercept])``,
    data units, e.g. :func:`jaxglass.sumrules.moment_constraints`): fit subject to
    ``rows @ coef_ = values`` (and ``rows @ intercept_ = intercept``), exact to round-off; ``l2`` is
    then chosen for the constrained fit (:func:`~jaxglass.models.select_ridge_l2_constrained`) and
    ``info_["constraint_violation"]`` is the largest relative residual.
    """

    def __init__(self, l2=None, *, l2_grid=None, cv="loo", seed=0, standardize=True, scaling="pooled",
                 constraints=None, feature_shape=None, r=None, freq=None, r_unit=None, freq_unit=None,
                 y_unit=None, feature_names=None):
        _set_params(self, locals())

    def _fit(self, X, Y):
        from .linear import fit_ridge

        check("l2", self.l2, *PENALTY)
        if self.l2 is not None:
            self.l2_ = float(self.l2)
            self.info_ = dict(l2=self.l2_)
        else:
            grid = DEFAULT_L2_GRID if self.l2_grid is None else self.l2_grid
            if self.constraints is None:
                self.l2_, self.info_ = select_ridge_l2(X, Y, grid, self.cv, int(self.seed), self.standardize,
                                                       self.scaling, stacklevel=5)
            else:
                self.l2_, self.info_ = select_ridge_l2_constrained(
                    X, Y, self.constraints, grid, self.cv, int(self.seed), self.standardize, self.scaling,
                    stacklevel=5)
        model = fit_ridge(X, Y, self.l2_, self.standardize, self.scaling, constraints=self.constraints)
        return _with_violation(self, model)


def check_l1_below_max(l1, X, Y, standardize: bool = True, scaling: str = "pooled") -> None:
    """Refuse (``UserError`` naming ``l1``) a fixed ``l1 > 0`` at or above :func:`~jaxglass.models.l1_max`
    of the data: every weight of the unconstrained fit would be exactly zero (the model predicts the
    training mean), whatever ``l2``."""
    if l1 is None or not l1 > 0:
        return
    top = l1_max(X, Y, standardize, scaling)
    if l1 >= top:
        raise UserError(
            f"l1: {l1:g} would make every weight exactly zero (a model that predicts the training mean): for "
            f"these data the fit is W = 0 for every l1 >= l1_max = {top:.4g} (standardised units, "
            f"jaxglass.models.l1_max); choose l1 below it, e.g. {1e-2 * top:.3g}, or leave it out to choose "
            "it by cross-validation")


class ElasticNet(_Linear):
    """Linear map with L1 + L2 penalties, solved exactly on the Gram matrix by the elastic-net
    homotopy and certified to a relative duality gap ``tol`` (:func:`jaxglass.models.fit_elastic_net`).

    ``l1=None`` / ``l2=None`` (defaults) choose them by ``cv``-fold cross-validation with folds drawn
    from ``seed`` (:func:`~jaxglass.models.select_enet`: ``l1`` along a warm-started path over
    ``l1_grid``, default :func:`~jaxglass.models.default_l1_grid`; ``l2`` over ``l2_grid``, default
    ``DEFAULT_EN_L2_GRID``). Each CV fit stops at a relative duality gap ``cv_tol`` or after
    ``cv_max_sweeps`` sweeps (defaults ``CV_TOL = 1e-3``, ``CV_MAX_SWEEPS``: bounded cost); the
    chosen penalties are then refitted to ``tol`` (at most ``max_sweeps`` sweeps). Fitted: ``l1_``,
    ``l2_``, ``info_`` (objective, duality gap, sweeps, CV MSE, the largest relative gap of the CV
    fits ``cv_max_relative_gap``).

    ``constraints`` (as :class:`Ridge`): fit subject to ``rows @ coef_ = values`` by ADMM, finished by
    an exact projection on the support (:func:`jaxglass.models.fit_elastic_net`); ``tol`` /
    ``max_sweeps`` are then its relative residuals / iterations and ``l1`` is chosen by CV of the
    constrained fits (:func:`~jaxglass.models.select_enet_constrained`, ``cv_tol``,
    ``cv_max_sweeps``; an ``l2`` left at ``None`` is chosen over ``l2_grid`` the same way).
    """

    def __init__(self, l1=None, l2=None, *, l1_grid=None, l2_grid=None, cv=5, seed=0, tol=1e-7,
                 max_sweeps=20000, cv_tol=CV_TOL, cv_max_sweeps=CV_MAX_SWEEPS, standardize=True,
                 scaling="pooled", constraints=None, feature_shape=None, r=None, freq=None, r_unit=None,
                 freq_unit=None, y_unit=None, feature_names=None):
        _set_params(self, locals())

    def _l2_spec(self):
        return self.l2, DEFAULT_EN_L2_GRID if self.l2_grid is None else self.l2_grid

    def _check(self, l2):
        who = type(self).__name__
        check("l1", self.l1, *PENALTY)
        check("l2", l2, *PENALTY)
        for name in ("tol", "cv_tol"):
            if not 0 < getattr(self, name) < 1:
                raise UserError(f"{who}.{name}: must be in (0, 1), got {getattr(self, name)}")
        for name in ("max_sweeps", "cv_max_sweeps"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise UserError(f"{who}.{name}: an integer >= 1, got {v!r}")

    def _fit(self, X, Y):
        from .linear import fit_elastic_net

        l2, l2_grid = self._l2_spec()
        self._check(l2)
        if self.constraints is None:  # (under constraints W = 0 is in general not feasible)
            check_l1_below_max(self.l1, X, Y, self.standardize, self.scaling)
            l1, l2, info = select_enet(X, Y, self.l1, l2, self.l1_grid, l2_grid, cv=self.cv,
                                       seed=int(self.seed), tol=self.cv_tol, max_sweeps=self.cv_max_sweeps,
                                       standardize=self.standardize, scaling=self.scaling, stacklevel=5)
        else:
            l1, l2, info = self._select_constrained(X, Y, l2, l2_grid)
        model, sol = fit_elastic_net(X, Y, l1, l2, self.standardize, self.scaling, tol=self.tol,
                                     max_sweeps=self.max_sweeps, return_info=True,
                                     constraints=self.constraints)
        self.l1_, self.l2_ = float(l1), float(l2)
        self.info_ = dict(l1=self.l1_, l2=self.l2_, **info, **sol,
                          nonzero_fraction=float(np.mean(np.asarray(model.W) != 0)))
        return _with_violation(self, model)

    def _select_constrained(self, X, Y, l2, l2_grid):
        best = None
        for l2v in ([l2] if l2 is not None else l2_grid):
            got = select_enet_constrained(X, Y, self.constraints, self.l1, float(l2v), self.l1_grid,
                                          cv=self.cv, seed=int(self.seed), tol=self.cv_tol,
                                          max_sweeps=self.cv_max_sweeps, standardize=self.standardize,
                                          scaling=self.scaling, stacklevel=7)
            if best is None or got[2].get("cv_mse", 0.0) < best[2].get("cv_mse", 0.0):
                best = got
        return best


class Lasso(ElasticNet):
    """:class:`ElasticNet` with ``l2 = 0``; ``l1=None`` chooses ``l1`` by ``cv``-fold CV over
    ``l1_grid`` (default :func:`~jaxglass.models.default_l1_grid`)."""

    def __init__(self, l1=None, *, l1_grid=None, cv=5, seed=0, tol=1e-7, max_sweeps=20000, cv_tol=CV_TOL,
                 cv_max_sweeps=CV_MAX_SWEEPS, standardize=True, scaling="pooled", constraints=None,
                 feature_shape=None, r=None, freq=None, r_unit=None, freq_unit=None,
                 y_unit=None, feature_names=None):
        super().__init__(l1, 0.0, l1_grid=l1_grid, cv=cv, seed=seed, tol=tol, max_sweeps=max_sweeps,
                         cv_tol=cv_tol, cv_max_sweeps=cv_max_sweeps, standardize=standardize,
                         scaling=scaling, constraints=constraints, feature_shape=feature_shape, r=r,
                         freq=freq, r_unit=r_unit, freq_unit=freq_unit, y_unit=y_unit,
                         feature_names=feature_names)
        del self.l2, self.l2_grid

    def _l2_spec(self):
        return 0.0, (0.0,)


# ------------------------------------------------------------------------------------------------
# CNN
# ------------------------------------------------------------------------------------------------


def _cnn_fields() -> dict[str, Any]:
    import dataclasses

    from .cnn import CNNConfig

    return {f.name: f.default for f in dataclasses.fields(CNNConfig)}


class CNN(_Estimator):
    """The 1D-CNN baseline (:mod:`jaxglass.models.cnn`) as an estimator.

    Parameters are those of :class:`~jaxglass.models.CNNConfig` (same defaults) plus the axes. There is
    no penalty grid: the built-in model selection is early stopping on a seeded ``val_fraction``
    split of the training data (``patience`` epochs). ``X`` ``(n_samples, R)`` is one channel;
    ``(n_samples, C, R)`` or ``feature_shape=(C, R)`` several.
    """

    def __init__(self, channels=(8, 16), kernel_sizes=(7, 5), pool=2, hidden=128, learning_rate=2e-3,
                 max_epochs=300, patience=40, batch_size=32, weight_decay=1e-4, final_lr_fraction=1e-2,
                 val_fraction=0.1, seed=0, standardize=True, target_scaling="pooled", input_scaling="pooled",
                 feature_shape=None, r=None, freq=None, r_unit=None, freq_unit=None, y_unit=None,
                 feature_names=None):
        _set_params(self, locals())

    def _config(self):
        from .cnn import CNNConfig

        return CNNConfig(**{k: getattr(self, k) for k in _cnn_fields()})

    def fit(self, X, Y):
        """Train on ``X``, ``Y`` (early stopping on a validation split); returns self."""
        from .cnn import fit_cnn

        config = self._config()
        X, shape = self._features(X, fitting=True)
        Y, one = self._targets(Y, X.shape[0])
        self._store_data_stats(X, Y, shape, one)
        self.model_, hist = fit_cnn(X, Y, config, return_history=True)
        self.info_ = dict(n_epochs=int(hist["n_epochs"]), best_epoch=int(hist["best_epoch"]))
        return self

    def _predict(self, X):
        from .cnn import predict_cnn

        return np.asarray(predict_cnn(self.model_, X), np.float64)

    def _write(self, path, meta):
        from .cnn import save_cnn

        save_cnn(self.model_, path, metadata=meta)


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------

#: Estimator classes by name (the ``estimator`` entry of a model file).
ESTIMATORS = {"Ridge": Ridge, "ElasticNet": ElasticNet, "Lasso": Lasso, "CNN": CNN}
#: Model kinds (``jaxglass train --model``, the study's model names) → estimator classes.
KINDS = {"ridge": Ridge, "lasso": Lasso, "elastic-net": ElasticNet, "cnn": CNN}


def make_estimator(kind: str, **params):
    """An unfitted estimator of ``kind`` (a key of :data:`KINDS`) with ``params``; a parameter the
    estimator does not have (e.g. ``l1`` for ridge, ``l2`` for lasso) raises ``UserError`` naming it
    and the kinds that have it. ``None`` values are left at the estimator's default."""
    if kind not in KINDS:
        raise UserError(f"kind: {kind!r} is not one of {sorted(KINDS)}")
    cls = KINDS[kind]
    for name in ("l1", "l2"):
        check(name, params.get(name), *PENALTY)
    valid = cls._get_param_names()
    for name, value in params.items():
        if value is not None and name not in valid:
            others = [k for k, c in KINDS.items() if name in c._get_param_names()]
            raise UserError(f"{name}: {kind} has no parameter {name!r}; "
                            + (f"it is one of {others}" if others else f"valid: {valid}"))
    return cls(**{k: v for k, v in params.items() if v is not None})


def load_model(path, *, with_metadata: bool = False):
    """Load any model file jaxglass wrote as a fitted estimator: ``Ridge``, ``Lasso``,
    ``ElasticNet`` or ``CNN``, with its parameters, axes, units, ``info_`` and the caller's
    :attr:`~_Estimator.metadata` (the file format is described in :mod:`jaxglass.models._files`).
    A missing, unreadable or foreign file raises ``UserError`` naming it.

    ``with_metadata=True`` returns ``(estimator, estimator.metadata)``.
    """
    from .cnn import load_cnn
    from .linear import load_linear

    fmt = model_format(path)
    model, raw = (load_cnn if fmt == CNN_FORMAT else load_linear)(path, with_metadata=True)
    state, metadata = split_metadata(model, raw, fmt)
    cls = ESTIMATORS.get(state.get("estimator"))
    if cls is None:
        raise UserError(f"{path}: unknown estimator {state.get('estimator')!r}")
    params = dict(state.get("params", {}))
    for key in ("r", "freq"):
        if params.get(key) is not None:
            params[key] = np.asarray(params[key], np.float64)
    for key in ("feature_shape", "channels", "kernel_sizes", "l1_grid", "l2_grid"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    if params.get("constraints") is not None:
        from ._constraints import WeightConstraints

        c = params["constraints"]
        params["constraints"] = WeightConstraints(*(None if a is None else np.asarray(a, np.float64)
                                                    for a in c))
    valid = cls._get_param_names()
    est = cls(**{k: v for k, v in params.items() if k in valid})
    est._restore(model, state, metadata)
    if isinstance(est, _Linear):
        est.l1_ = float(est.info_.get("l1", 0.0))
        est.l2_ = float(est.info_.get("l2", 0.0))
    return (est, est.metadata) if with_metadata else est
