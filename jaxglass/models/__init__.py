"""Structure-property models: PDOS ≈ W g(r) + b (:mod:`.linear`) and a 1D CNN baseline (:mod:`.cnn`).

Fitting goes through the estimators (:mod:`.estimators`): scikit-learn-style ``Ridge``, ``Lasso``,
``ElasticNet`` and ``CNN`` with ``fit``/``predict``/``score``/``save``/``weight_map``, built by name
with :func:`make_estimator`; every model file jaxglass writes is read back by :func:`load_model`
(imported on first use, since they load scikit-learn's base classes when available).

Below them: :mod:`.linear` (the fitted map :class:`LinearSPR` and its solvers :func:`fit_ridge`,
:func:`fit_elastic_net`, :func:`fit_linear`), :mod:`.cnn` (the network and :func:`fit_cnn`),
:mod:`._selection` (all cross-validation: k-fold/LOO, default grids, grid-edge warnings, and
:func:`select_ridge_l2` / :func:`select_enet`, the penalty choice of the estimators),
:mod:`._constraints` (linear equality constraints ``C W = K`` on the map's feature columns:
the constrained ridge and elastic net, :class:`WeightConstraints`),
:mod:`._files` (the model-file format), :mod:`._training` (the training loop shared by
:func:`fit_linear` and the CNN), :mod:`._scaling` (the one :class:`Standardizer`), :mod:`._metrics`
(MSE, R²), :mod:`._enet` (elastic net on the Gram matrix) and :mod:`._prox` (the L1 proximal step as
optax transformations: :func:`prox_l1`, :func:`proximal_adam`).

Importing this package loads neither Flax nor optax; they are imported when a model is trained
(optax) or a CNN is built (Flax).
"""

from ._constraints import WeightConstraints
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
    select_enet,
    select_enet_constrained,
    select_ridge_l2,
    select_ridge_l2_constrained,
)
from .cnn import CNNConfig, CNNModel, fit_cnn, load_cnn, predict_cnn, save_cnn
from .linear import (
    LinearSPR,
    LinearSPRConfig,
    fit_elastic_net,
    fit_linear,
    fit_ridge,
    load_linear,
    physical_weights,
    predict,
    save_linear,
)

_ESTIMATORS = ("CNN", "ElasticNet", "Lasso", "Ridge", "load_model", "make_estimator")


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
    "WeightConstraints",
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
    "load_linear",
    "load_model",
    "make_estimator",
    "loo_ridge",
    "mse",
    "physical_weights",
    "predict",
    "predict_cnn",
    "prox_l1",
    "proximal_adam",
    "r2",
    "select_enet",
    "select_enet_constrained",
    "select_ridge_l2",
    "select_ridge_l2_constrained",
    "save_cnn",
    "save_linear",
    "soft_threshold",
]
