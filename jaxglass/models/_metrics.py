"""Regression metrics on ``(K, F)`` arrays (numpy, float64)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import UserError


def mse(Y_true, Y_pred) -> float:
    """Mean squared error over all samples and outputs."""
    a, b = np.asarray(Y_true, np.float64), np.asarray(Y_pred, np.float64)
    if a.shape != b.shape:
        raise UserError(f"mse: shapes differ, {a.shape} vs {b.shape}")
    return float(np.mean((a - b) ** 2))


class R2Scores(NamedTuple):
    """``mean``: R² averaged over targets with non-zero variance; ``overall``: 1 − ΣSSE/ΣSST over all
    entries (variance-weighted); ``per_target``: ``(F,)``, NaN for constant targets."""

    mean: float
    overall: float
    per_target: np.ndarray


def r2(Y_true, Y_pred) -> R2Scores:
    """Coefficient of determination of ``(K, F)`` predictions (``(K,)`` is treated as one target)."""
    a, b = np.asarray(Y_true, np.float64), np.asarray(Y_pred, np.float64)
    if a.shape != b.shape:
        raise UserError(f"r2: shapes differ, {a.shape} vs {b.shape}")
    if a.ndim == 1:
        a, b = a[:, None], b[:, None]
    sse = ((a - b) ** 2).sum(0)
    sst = ((a - a.mean(0)) ** 2).sum(0)
    ok = sst > 1e-12 * max(float(sst.max()), 1e-300)
    per = np.full(sst.shape, np.nan)
    per[ok] = 1.0 - sse[ok] / sst[ok]
    mean = float(per[ok].mean()) if ok.any() else float("nan")
    overall = float(1.0 - sse.sum() / sst.sum()) if sst.sum() > 0 else float("nan")
    return R2Scores(mean, overall, per)
