"""Structure-property models: PDOS ≈ W g(r) + b (:mod:`.linear`) and a 1D CNN baseline (:mod:`.cnn`).

Importing this package loads neither Flax nor optax; they are imported when a model is trained
(optax) or a CNN is built (Flax).
"""

from .cnn import CNNConfig, CNNModel, fit_cnn, load_cnn, predict_cnn, save_cnn
from .linear import (
    CVResult,
    LinearSPR,
    LinearSPRConfig,
    R2Scores,
    Standardizer,
    cross_validate,
    cross_validate_ridge,
    fit_linear,
    fit_ridge,
    kfold_indices,
    load_model,
    loo_ridge,
    mse,
    physical_weights,
    predict,
    r2,
    save_model,
)

__all__ = [
    "CNNConfig",
    "CNNModel",
    "CVResult",
    "LinearSPR",
    "LinearSPRConfig",
    "R2Scores",
    "Standardizer",
    "cross_validate",
    "cross_validate_ridge",
    "fit_cnn",
    "fit_linear",
    "fit_ridge",
    "kfold_indices",
    "load_cnn",
    "load_model",
    "loo_ridge",
    "mse",
    "physical_weights",
    "predict",
    "predict_cnn",
    "r2",
    "save_cnn",
    "save_model",
]
