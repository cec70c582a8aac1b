"""Structure-property models: PDOS ≈ W g(r) + b (:mod:`.linear`) and a 1D CNN baseline (:mod:`.cnn`).

Layout: :mod:`.linear` (the fitted map :class:`LinearSPR`, its solvers and files), :mod:`._selection`
(k-fold/LOO cross-validation, default grids, grid-edge warnings), :mod:`._scaling` (the one
:class:`Standardizer`), :mod:`._metrics` (MSE, R²), :mod:`._enet` (elastic-net coordinate descent on
the Gram matrix), :mod:`._prox` (the L1 proximal step as optax transformations: :func:`prox_l1`,
:func:`proximal_adam`), :mod:`.cnn`, and :mod:`.estimators`: scikit-learn-style ``Ridge``, ``Lasso``,
``ElasticNet`` and ``CNN`` with ``fit``/``predict``/``score``/``save``/``load``/``weight_map``
(imported on first use, since it loads scikit-learn's base classes when available).

Importing this package loads neither Flax nor optax; they are imported when a model is trained
(optax) or a CNN is built (Flax).
"""

from ._metrics import R2Scores, mse, r2
from ._prox import prox_l1, proximal_adam, soft_threshold
from ._scaling import Standardizer
from ._selection import (
    CV_MAX_SWEEPS,
    CV_METHOD,
    CV_TOL,
    DEFAULT_EN_L2_GRID,
    DEFAULT_L2_GRID,
    CVResult,
    ENetCVResult,
    GridEdgeWarning,
    cross_validate,
    cross_validate_enet,
    cross_validate_ridge,
    default_l1_grid,
    kfold_indices,
    l1_max,
    loo_ridge,
)
from .cnn import CNNConfig, CNNModel, fit_cnn, load_cnn, predict_cnn, save_cnn
from .linear import (
    LinearSPR,
    LinearSPRConfig,
    fit_elastic_net,
    fit_linear,
    fit_ridge,
    load_model,
    physical_weights,
    predict,
    save_model,
)

_ESTIMATORS = ("CNN", "ElasticNet", "Lasso", "Ridge", "load_estimator")


def __getattr__(name):  # lazy: the estimators import scikit-learn's base classes if installed
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CNN",
    "CNNConfig",
    "CNNModel",
    "CVResult",
    "CV_MAX_SWEEPS",
    "CV_METHOD",
    "CV_TOL",
    "DEFAULT_EN_L2_GRID",
    "DEFAULT_L2_GRID",
    "ENetCVResult",
    "ElasticNet",
    "GridEdgeWarning",
    "Lasso",
    "LinearSPR",
    "LinearSPRConfig",
    "R2Scores",
    "Ridge",
    "Standardizer",
    "cross_validate",
    "cross_validate_enet",
    "cross_validate_ridge",
    "default_l1_grid",
    "fit_cnn",
    "fit_elastic_net",
    "fit_linear",
    "fit_ridge",
    "kfold_indices",
    "l1_max",
    "load_cnn",
    "load_estimator",
    "load_model",
    "loo_ridge",
    "mse",
    "physical_weights",
    "predict",
    "predict_cnn",
    "prox_l1",
    "proximal_adam",
    "r2",
    "save_cnn",
    "save_model",
    "soft_threshold",
]
