"""Model selection: k-fold splits, cross-validation of the linear models, grid-edge warnings.

Penalties ``l1``, ``l2`` are those of the objective in :mod:`jaxglass.models.linear`. Default grids
(documented here and used by the estimators of :mod:`jaxglass.models.estimators`):

* ridge ``l2``: :data:`DEFAULT_L2_GRID`, 25 values ``10⁻¹⁰ … 10²`` (3 per decade);
* lasso / elastic-net ``l1``: :func:`default_l1_grid`, 26 values from ``l1_max`` (the smallest ``l1``
  for which all weights are zero) down to ``10⁻⁵ l1_max`` (5 per decade), computed on the training
  data;
* elastic-net ``l2``: :data:`DEFAULT_EN_L2_GRID` ``(10⁻⁷, 10⁻⁵, 10⁻³)``.

When the selected value is the smallest or the largest of its grid, :func:`warn_grid_edge` issues a
:class:`GridEdgeWarning` (the optimum may lie outside the grid: extend it).
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from ._enet import enet_method, enet_path, gram_problem, pad_factor_rows
from ._homotopy import enet_path_homotopy
from ._metrics import mse, r2
from ._scaling import Standardizer
from .linear import LinearSPRConfig, as_features, as_targets, compiled_trainer, prepare_training

DEFAULT_L2_GRID: tuple[float, ...] = tuple(float(x) for x in np.logspace(-10, 2, 25))
DEFAULT_EN_L2_GRID: tuple[float, ...] = (1e-7, 1e-5, 1e-3)


class GridEdgeWarning(UserWarning):
    """The cross-validated penalty is at the edge of its grid."""


def warn_grid_edge(name: str, value: float, grid, stacklevel: int = 3) -> bool:
    """Warn (and return True) if ``value`` is the smallest or largest entry of a grid of > 1 values."""
    g = np.asarray(grid, np.float64).ravel()
    if g.size < 2 or not (value == g.min() or value == g.max()):
        return False
    side = "smallest" if value == g.min() else "largest"
    warnings.warn(f"cross-validation chose {name}={value:.3g}, the {side} value of its grid "
                  f"[{g.min():.3g}, {g.max():.3g}]; the optimum may lie outside: extend {name}_grid",
                  GridEdgeWarning, stacklevel=stacklevel)
    return True


def _np_scaler(A: np.ndarray, standardize: bool, scaling: str, feature_shape=None):
    s = Standardizer.make(np.asarray(A, np.float64), standardize, scaling, feature_shape)
    return s.mean, s.scale


def kfold_indices(n: int, k: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` seeded (train, val) index pairs; the val sets partition ``range(n)`` (sizes differ by ≤ 1)."""
    if not 2 <= k <= n:
        raise UserError(f"kfold_indices: need 2 <= k <= n, got k={k}, n={n}")
    perm = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(perm, k)
    return [(np.sort(np.concatenate(folds[:i] + folds[i + 1:])), np.sort(f)) for i, f in enumerate(folds)]


@dataclasses.dataclass(frozen=True)
class CVResult:
    """Cross-validation outcome. ``mse[i, j, f]``: held-out MSE (data units) of fold ``f`` for
    ``(l1_grid[i], l2_grid[j])``; ``r2[i, j, f]`` the per-target-averaged R²; ``table`` one dict per
    grid point (``l1, l2, mse_mean, mse_std, r2_mean``)."""

    best_l1: float
    best_l2: float
    best_config: LinearSPRConfig
    l1_grid: np.ndarray
    l2_grid: np.ndarray
    mse: np.ndarray
    r2: np.ndarray
    table: list[dict[str, float]]


def cross_validate(X, Y, l1_grid: Sequence[float], l2_grid: Sequence[float], k: int = 5,
                   config: LinearSPRConfig | None = None, seed: int = 0) -> CVResult:
    """k-fold cross-validation of :func:`fit_linear` over the ``l1 × l2`` grid.

    Each fold's scalers are fitted on its training part; early stopping (if ``config.patience``)
    uses a split carved from the training part, never the held-out fold. The whole grid of a fold is
    trained in one ``vmap``-ed compiled call. The best pair minimises the mean held-out MSE.
    """
    config = config or LinearSPRConfig()
    l1s = np.asarray(l1_grid, np.float64).ravel()
    l2s = np.asarray(l2_grid, np.float64).ravel()
    if l1s.size == 0 or l2s.size == 0 or (l1s < 0).any() or (l2s < 0).any():
        raise UserError("cross_validate: l1_grid and l2_grid must be non-empty and >= 0")
    Xf, _ = as_features(X)
    Yf = as_targets(Y, Xf.shape[0])
    g1, g2 = np.meshgrid(l1s, l2s, indexing="ij")
    n1, n2 = l1s.size, l2s.size
    mse_t = np.zeros((n1, n2, k))
    r2_t = np.zeros((n1, n2, k))
    for f, (tr, va) in enumerate(kfold_indices(Xf.shape[0], k, seed)):
        Xs, Ys, Xvs, Yvs, xs, ys, fshape, has_val = prepare_training(Xf[tr], Yf[tr], config, None, None)
        batched = compiled_trainer(config, Xs.shape[0], has_val, batched=True)
        dt = Xs.dtype
        p, *_ = batched(Xs, Ys, Xvs, Yvs, jnp.asarray(g1.ravel(), dt), jnp.asarray(g2.ravel(), dt),
                        jax.random.PRNGKey(config.seed))
        Yhold = np.asarray(Yf[va])
        Zhold = xs.transform(Xf[va])
        for g in range(n1 * n2):
            pred = ys.inverse_transform(Zhold @ p["W"][g].T + p["b"][g])
            i, j = divmod(g, n2)
            mse_t[i, j, f] = mse(Yhold, pred)
            r2_t[i, j, f] = r2(Yhold, pred).mean
    mean = mse_t.mean(-1)
    i, j = np.unravel_index(np.argmin(mean), mean.shape)
    table = [
        dict(l1=float(l1s[a]), l2=float(l2s[c]), mse_mean=float(mean[a, c]), mse_std=float(mse_t[a, c].std()),
             r2_mean=float(r2_t[a, c].mean()))
        for a in range(n1) for c in range(n2)
    ]
    best_l1, best_l2 = float(l1s[i]), float(l2s[j])
    return CVResult(best_l1, best_l2, dataclasses.replace(config, l1=best_l1, l2=best_l2), l1s, l2s,
                    mse_t, r2_t, table)


def cross_validate_ridge(X, Y, l2_grid: Sequence[float], k: int = 5, seed: int = 0,
                         standardize: bool = True, scaling: str = "pooled") -> tuple[float, np.ndarray]:
    """k-fold cross-validation of the closed-form :func:`fit_ridge` over ``l2_grid``.

    Returns ``(best_l2, mse)`` with ``mse[j, f]`` the held-out MSE (data units) of fold ``f`` for
    ``l2_grid[j]``. Each fold's scalers are fitted on its training part, exactly as in
    :func:`fit_ridge`; one SVD per fold, ``X̃c = U S Vᵀ``, then gives every grid point,
    ``Wᵀ = V diag(s/(s² + K F l2)) Uᵀ Ỹc``. Pure numpy and cheap, so it is the tuner used inside
    learning curves.
    """
    l2s = np.asarray(l2_grid, np.float64).ravel()
    if l2s.size == 0 or (l2s < 0).any():
        raise UserError("cross_validate_ridge: l2_grid must be non-empty and >= 0")
    Xf = np.asarray(X, np.float64).reshape(len(X), -1)
    Yf = np.asarray(Y, np.float64)
    if Yf.ndim != 2 or Yf.shape[0] != Xf.shape[0]:
        raise UserError(f"Y: expected shape ({Xf.shape[0]}, F), got {Yf.shape}")
    k = min(int(k), Xf.shape[0])
    out = np.zeros((l2s.size, k))
    for f, (tr, va) in enumerate(kfold_indices(Xf.shape[0], k, seed)):
        xm, xsd = _np_scaler(Xf[tr], standardize, scaling, np.shape(X)[1:])
        ym, ysd = _np_scaler(Yf[tr], standardize, scaling)
        Xs, Ys = (Xf[tr] - xm) / xsd, (Yf[tr] - ym) / ysd
        xc, yc = Xs.mean(0), Ys.mean(0)
        U, sv, Vt = np.linalg.svd(Xs - xc, full_matrices=False)
        UtY = U.T @ (Ys - yc)
        Zv = (Xf[va] - xm) / xsd - xc
        keep = sv > sv.max() * max(Xs.shape) * np.finfo(np.float64).eps
        lam_scale = len(tr) * Yf.shape[1]
        for j, l2 in enumerate(l2s):
            d = np.where(keep, sv / (sv**2 + lam_scale * l2), 0.0) if l2 > 0 else np.where(keep, 1 / sv, 0.0)
            Wt = Vt.T @ (d[:, None] * UtY)
            pred = (Zv @ Wt + yc) * ysd + ym
            out[j, f] = float(np.mean((Yf[va] - pred) ** 2))
    return float(l2s[int(np.argmin(out.mean(1)))]), out


def loo_ridge(X, Y, l2_grid: Sequence[float], standardize: bool = True,
              scaling: str = "pooled") -> tuple[float, np.ndarray]:
    """Exact leave-one-out cross-validation of :func:`fit_ridge` over ``l2_grid`` (closed form).

    With the scalers of the whole set (as scikit-learn's ``RidgeCV`` does), the ridge fit with
    intercept has hat matrix ``H = 11ᵀ/K + U diag(s²/(s² + K F l2)) Uᵀ`` (``X̃c = U S Vᵀ``), and the
    held-out residual of sample ``i`` is ``eᵢ/(1 − Hᵢᵢ)``. Returns ``(best_l2, mse)`` with ``mse[j]``
    the LOO MSE in data units. Much less noisy than k-fold CV on a few dozen samples.
    """
    l2s = np.asarray(l2_grid, np.float64).ravel()
    if l2s.size == 0 or (l2s < 0).any():
        raise UserError("loo_ridge: l2_grid must be non-empty and >= 0")
    Xf = np.asarray(X, np.float64).reshape(len(X), -1)
    Yf = np.asarray(Y, np.float64)
    if Yf.ndim != 2 or Yf.shape[0] != Xf.shape[0] or Xf.shape[0] < 3:
        raise UserError(f"loo_ridge: need X (K, ...) and Y (K, F) with K >= 3, got {Xf.shape}, {Yf.shape}")
    xm, xsd = _np_scaler(Xf, standardize, scaling, np.shape(X)[1:])
    ym, ysd = _np_scaler(Yf, standardize, scaling)
    Xs, Ys = (Xf - xm) / xsd, (Yf - ym) / ysd
    K, F = Ys.shape
    Xc, Yc = Xs - Xs.mean(0), Ys - Ys.mean(0)
    U, sv, _ = np.linalg.svd(Xc, full_matrices=False)
    keep = sv > sv.max() * max(Xc.shape) * np.finfo(np.float64).eps
    U, sv = U[:, keep], sv[keep]
    UtY = U.T @ Yc
    out = np.zeros(l2s.size)
    for j, l2 in enumerate(l2s):
        shrink = sv**2 / (sv**2 + K * F * l2)
        fit = U @ (shrink[:, None] * UtY)
        h = 1.0 / K + (U**2) @ shrink
        loo = (Yc - fit) / (1.0 - h)[:, None] * ysd
        out[j] = float(np.mean(loo**2))
    return float(l2s[int(np.argmin(out))]), out


def l1_max(X, Y, standardize: bool = True, scaling: str = "pooled") -> float:
    """Smallest ``l1`` (module objective, any ``l2``) at which every weight of the fit is zero."""
    Xf = np.asarray(X, np.float64).reshape(len(X), -1)
    Yf = np.asarray(Y, np.float64)
    xs = Standardizer.make(Xf, standardize, scaling, np.shape(X)[1:])
    ys = Standardizer.make(Yf, standardize, scaling)
    Xc = xs.transform(Xf)
    Yc = ys.transform(Yf)
    Xc, Yc = Xc - Xc.mean(0), Yc - Yc.mean(0)
    return float(2.0 / Yf.shape[1] * np.abs(Xc.T @ Yc).max() / len(Xf))


def default_l1_grid(X, Y, standardize: bool = True, scaling: str = "pooled", n: int = 26,
                    decades: float = 5.0) -> np.ndarray:
    """``n`` values from ``l1_max(X, Y)`` down to ``10^-decades · l1_max``, descending."""
    return l1_max(X, Y, standardize, scaling) * np.logspace(0.0, -decades, n)


#: Cross-validation solves each grid point only to this relative duality gap, in at most
#: :data:`CV_MAX_SWEEPS` sweeps (the chosen penalties are then refitted to the estimator's ``tol``): the
#: held-out MSE, not the last digits of the objective, decides the choice (the tests check that the
#: choice equals that of a brute-force grid solved to a gap of 1e-10).
CV_TOL: float = 1e-3
CV_MAX_SWEEPS: int = 500
#: The CV solver, ``"auto"`` (:func:`~jaxglass.models._enet.enet_method`): the exact homotopy path
#: where samples are fewer than half the features, else FISTA on the Gram matrix (one ``G @ Z`` per
#: iteration, no sequential coordinate loop). Measured on a 160 × 100 → 120 problem (5 folds × 26
#: ``l1`` × 3 ``l2``): FISTA 6.0 s at 100 iterations per point vs 17.9 s for 100 coordinate-descent
#: sweeps, and FISTA's largest gap after 1000 iterations (0.05, 19 s) is 14× smaller than coordinate
#: descent's after 100 sweeps (0.68); the wide case in ``benchmarks/models.py --part cv``.
CV_METHOD: str = "auto"


@dataclasses.dataclass(frozen=True)
class ENetCVResult:
    """Elastic-net cross-validation. ``mse[j, i, f]``: held-out MSE (data units) of fold ``f`` at
    ``(l2_grid[j], l1_grid[i])``; ``rel_gap[j, i, f]``: the relative duality gap reached there
    (``≥ (P − P*)/P``); ``n_sweeps[j, i, f]`` the coordinate-descent sweeps spent; ``edge``: whether a
    chosen value lies on the edge of its grid."""

    best_l1: float
    best_l2: float
    l1_grid: np.ndarray
    l2_grid: np.ndarray
    mse: np.ndarray
    rel_gap: np.ndarray
    edge: bool
    n_sweeps: np.ndarray | None = None

    @property
    def cv_mse(self) -> float:
        return float(self.mse.mean(-1).min())

    @property
    def max_rel_gap(self) -> float:
        """The largest relative duality gap of any fit of the grid (how far from converged CV got)."""
        return float(self.rel_gap.max())


@functools.lru_cache(maxsize=8)
def _path_fn(tol: float, max_sweeps: int, method: str):
    return jax.jit(functools.partial(enet_path, tol=tol, max_sweeps=max_sweeps, method=method))


def cross_validate_enet(X, Y, l1_grid: Sequence[float] | None = None, l2_grid: Sequence[float] = (0.0,),
                        k: int = 5, seed: int = 0, standardize: bool = True, scaling: str = "pooled",
                        tol: float = CV_TOL, max_sweeps: int = CV_MAX_SWEEPS,
                        warn: bool = True, method: str = CV_METHOD) -> ENetCVResult:
    """k-fold cross-validation of the elastic net (:func:`jaxglass.models.linear.fit_elastic_net`).

    Per fold the scalers and the Gram matrix come from its training part; the ``l1`` grid is run as
    one warm-started path (largest ``l1`` first, where ``W = 0`` is exact) per ``l2``, all targets at
    once, each point to a relative duality gap ``tol`` or ``max_sweeps`` sweeps, whichever comes first
    (defaults :data:`CV_TOL`, :data:`CV_MAX_SWEEPS`: the cost is bounded by
    ``k · len(l2_grid) · len(l1_grid) · max_sweeps`` passes of ``O(D² F)``; the gaps reached are in
    ``rel_gap``). ``method``: ``"fista"`` (``max_sweeps`` counts its iterations), ``"cd"``
    (coordinate descent), ``"homotopy"`` (exact at every grid point,
    :func:`~jaxglass.models._homotopy.enet_path_homotopy`, a point the path cannot finish is finished
    to ``tol`` within ``max_sweeps``; measured 1.5× slower than FISTA on a 160 × 100 → 120 problem,
    same choice, and 5× faster on a 14 × 1200 → 300 one) or ``"auto"`` (default,
    :data:`CV_METHOD`: the homotopy where a fold has fewer samples than half the features, else FISTA).
    All folds share one compiled path (the Gram matrix is ``D × D`` whatever the fold size; the
    low-rank factor of :func:`~jaxglass.models._enet.gram_problem`, where there is one, is zero-padded
    to the largest fold). ``l1_grid=None`` uses :func:`default_l1_grid` of the whole ``X, Y``. The best
    pair minimises the mean held-out MSE; a choice on a grid edge warns (``warn``).
    """
    Xf = np.asarray(X, np.float64).reshape(len(X), -1)
    Yf = np.asarray(Y, np.float64)
    if Yf.ndim != 2 or Yf.shape[0] != Xf.shape[0]:
        raise UserError(f"Y: expected shape ({Xf.shape[0]}, F), got {Yf.shape}")
    if not 0 < tol < 1 or int(max_sweeps) < 1:
        raise UserError(f"cross_validate_enet: need 0 < tol < 1 and max_sweeps >= 1, got tol={tol}, "
                         f"max_sweeps={max_sweeps}")
    l1s = default_l1_grid(X, Yf, standardize, scaling) if l1_grid is None else np.asarray(l1_grid, float)
    l1s = np.sort(np.asarray(l1s, np.float64).ravel())[::-1]
    l2s = np.asarray(l2_grid, np.float64).ravel()
    if l1s.size == 0 or l2s.size == 0 or (l1s < 0).any() or (l2s < 0).any():
        raise UserError("cross_validate_enet: l1_grid and l2_grid must be non-empty and >= 0")
    k = min(int(k), Xf.shape[0])
    F = Yf.shape[1]
    folds = kfold_indices(Xf.shape[0], k, seed)
    n_rows = max(len(tr) for tr, _ in folds)
    method = enet_method(method, n_rows, Xf.shape[1], path=True)
    if method == "homotopy":  # exact at every grid point (finished by coordinate descent if not)
        def path(p, lams, l2):
            return enet_path_homotopy(p, np.asarray(lams), l2, tol=tol, max_sweeps=max_sweeps)
    else:
        path = _path_fn(float(tol), int(max_sweeps), method)
    out = np.zeros((l2s.size, l1s.size, k))
    gaps = np.zeros_like(out)
    sweeps = np.zeros(out.shape, np.int64)
    for f, (tr, va) in enumerate(folds):
        xs = Standardizer.make(Xf[tr], standardize, scaling, np.shape(X)[1:])
        ys = Standardizer.make(Yf[tr], standardize, scaling)
        p = gram_problem(jnp.asarray(xs.transform(Xf[tr])), jnp.asarray(ys.transform(Yf[tr])))
        p = pad_factor_rows(p, n_rows)  # one compiled path for every fold
        Zv = xs.transform(Xf[va])
        for j, l2 in enumerate(l2s):
            sol = path(p, jnp.asarray(F * l1s / 2), jnp.asarray(F * l2))
            W, b = np.asarray(sol.W), np.asarray(sol.b)  # (n1, D, F), (n1, F)
            pred = (np.einsum("vd,idf->ivf", Zv, W) + b[:, None, :]) * ys.scale + ys.mean
            out[j, :, f] = np.mean((pred - Yf[va][None]) ** 2, axis=(1, 2))
            prim = np.asarray(sol.primal.sum(-1))
            gaps[j, :, f] = np.asarray(sol.gap.sum(-1)) / np.where(prim > 0, prim, 1.0)
            sweeps[j, :, f] = np.asarray(sol.n_sweeps)
    mean = out.mean(-1)
    j, i = np.unravel_index(np.argmin(mean), mean.shape)
    best_l1, best_l2 = float(l1s[i]), float(l2s[j])
    edge = False
    if warn:
        edge = warn_grid_edge("l1", best_l1, l1s, 3) | warn_grid_edge("l2", best_l2, l2s, 3)
    else:
        edge = (l1s.size > 1 and best_l1 in (l1s.min(), l1s.max())) or (
            l2s.size > 1 and best_l2 in (l2s.min(), l2s.max()))
    return ENetCVResult(best_l1, best_l2, l1s, l2s, out, gaps, bool(edge), sweeps)


# ----------------------------------------------------------------------------------------------
# Penalty selection: the one place the estimators (and through them the study) choose penalties
# ----------------------------------------------------------------------------------------------


def select_ridge_l2(X, Y, l2_grid: Sequence[float], cv="loo", seed: int = 0, standardize: bool = True,
                    scaling: str = "pooled", stacklevel: int = 4) -> tuple[float, dict]:
    """The ridge ``l2`` of ``l2_grid`` with the lowest cross-validated MSE, and an info dict
    (``l2``, ``cv``: ``"loo"`` or ``"k-fold"``, ``cv_mse``, ``grid_edge``).

    ``cv="loo"``: exact leave-one-out (:func:`loo_ridge`); an integer ``k >= 2``: seeded k-fold
    (:func:`cross_validate_ridge`, ``k`` capped at the number of samples). A choice on the edge of the
    grid warns (:class:`GridEdgeWarning`).
    """
    if isinstance(cv, str) and cv == "loo":
        best, cvm = loo_ridge(X, Y, l2_grid, standardize, scaling)
        cv_mse, label = float(cvm.min()), "loo"
    elif isinstance(cv, (int, np.integer)) and not isinstance(cv, bool) and cv >= 2:
        k = min(int(cv), len(X))
        best, cvm = cross_validate_ridge(X, Y, l2_grid, k, seed, standardize, scaling)
        cv_mse, label = float(cvm.mean(1).min()), f"{k}-fold"
    else:
        raise UserError(f"cv: 'loo' or a number of folds >= 2, got {cv!r}")
    edge = warn_grid_edge("l2", best, l2_grid, stacklevel=stacklevel)
    return float(best), dict(l2=float(best), cv=label, cv_mse=cv_mse, grid_edge=edge)


def select_enet(X, Y, l1: float | None, l2: float | None, l1_grid=None, l2_grid=DEFAULT_EN_L2_GRID, *,
                cv: int = 5, seed: int = 0, tol: float = CV_TOL, max_sweeps: int = CV_MAX_SWEEPS,
                standardize: bool = True, scaling: str = "pooled",
                stacklevel: int = 4) -> tuple[float, float, dict]:
    """Elastic-net penalties ``(l1, l2, info)``: a penalty given as a number is kept, one given as
    ``None`` is chosen by ``cv``-fold cross-validation (:func:`cross_validate_enet`) over its grid
    (``l1_grid=None``: :func:`default_l1_grid`). ``info`` (empty if nothing was chosen): ``cv_mse``,
    ``cv``, ``grid_edge``, ``cv_max_relative_gap``, ``cv_sweeps``. A choice on a grid edge warns."""
    if l1 is not None and l2 is not None:
        return float(l1), float(l2), {}
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise UserError(f"cv: a number of folds >= 2, got {cv!r}")
    k = min(int(cv), len(X))
    res = cross_validate_enet(X, Y, [l1] if l1 is not None else l1_grid, l2_grid if l2 is None else [l2],
                              k=k, seed=seed, tol=tol, max_sweeps=int(max_sweeps), standardize=standardize,
                              scaling=scaling, warn=False)
    edge = False
    if l1 is None:
        edge |= warn_grid_edge("l1", res.best_l1, res.l1_grid, stacklevel=stacklevel)
    if l2 is None:
        edge |= warn_grid_edge("l2", res.best_l2, res.l2_grid, stacklevel=stacklevel)
    info = dict(cv_mse=res.cv_mse, cv=k, grid_edge=bool(edge), cv_max_relative_gap=res.max_rel_gap,
                cv_sweeps=int(res.n_sweeps.sum()))
    return res.best_l1, res.best_l2, info


def constrained_cv_data(X, Y, constraints, standardize: bool = True, scaling: str = "pooled"):
    """``(X̃, Ỹ, c̃, ys)``: ``X``, ``Y`` in the standardised units of the whole set (flattened) and the
    constraints taken to those units (:mod:`jaxglass.models._constraints`), with the target scaler."""
    from ._constraints import as_constraints, scaled

    Xf = np.asarray(X, np.float64).reshape(len(X), -1)
    Yf = np.asarray(Y, np.float64)
    xs = Standardizer.make(Xf, standardize, scaling, np.shape(X)[1:])
    ys = Standardizer.make(Yf, standardize, scaling)
    c = as_constraints(constraints, Yf.shape[1], Xf.shape[1])
    return xs.transform(Xf), ys.transform(Yf), scaled(c, xs.mean, xs.scale, ys.mean, ys.scale), ys


def select_ridge_l2_constrained(X, Y, constraints, l2_grid: Sequence[float], cv="loo", seed: int = 0,
                                standardize: bool = True, scaling: str = "pooled",
                                stacklevel: int = 4) -> tuple[float, dict]:
    """:func:`select_ridge_l2` for the ridge fit under ``constraints``: the constrained fit is
    ``Π W_u + E`` (:mod:`jaxglass.models._constraints`), so its held-out residual splits into that of
    ridge on the targets ``Ỹ Π`` and an ``l2``-independent part: the choice is made on ``Ỹ Π`` in the
    standardised units of the whole set (``cv_mse`` is that part alone, standardised units)."""
    from ._constraints import output_projector

    Xs, Ys, c, _ = constrained_cv_data(X, Y, constraints, standardize, scaling)
    return select_ridge_l2(Xs, Ys @ output_projector(c), l2_grid, cv, seed, False, scaling, stacklevel + 1)


def select_enet_constrained(X, Y, constraints, l1: float | None, l2: float, l1_grid=None, *, cv: int = 5,
                            seed: int = 0, tol: float = 1e-6, max_sweeps: int = 2000,
                            standardize: bool = True, scaling: str = "pooled",
                            stacklevel: int = 4) -> tuple[float, float, dict]:
    """The elastic-net ``l1`` under ``constraints`` by ``cv``-fold CV of the constrained ADMM fits
    (:func:`~jaxglass.models._constraints.admm_enet`, warm-started down ``l1_grid``, default
    :func:`default_l1_grid`; each point to relative residuals ``tol`` within ``max_sweeps``
    iterations) at the fixed ``l2``, in the standardised units of the whole set; ``cv_mse`` in data
    units. A given ``l1`` is kept."""
    from ._constraints import admm_enet, project_intercept

    if l1 is not None:
        return float(l1), float(l2), {}
    if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)) or cv < 2:
        raise UserError(f"cv: a number of folds >= 2, got {cv!r}")
    Xs, Ys, c, ys = constrained_cv_data(X, Y, constraints, standardize, scaling)
    l1s = default_l1_grid(X, Y, standardize, scaling) if l1_grid is None else np.asarray(l1_grid, float)
    l1s = np.sort(np.asarray(l1s, np.float64).ravel())[::-1]
    F = Ys.shape[1]
    k = min(int(cv), len(Xs))
    out = np.zeros((l1s.size, k))
    iters = 0
    for f, (tr, va) in enumerate(kfold_indices(len(Xs), k, seed)):
        p = gram_problem(jnp.asarray(Xs[tr]), jnp.asarray(Ys[tr]))
        W = None
        for i, l1 in enumerate(l1s):
            W, info = admm_enet(p.G, p.C, F * l1 / 2, F * l2, c, tol=tol, max_iter=max_sweeps, W0=W)
            iters += info["iterations"]
            b = project_intercept(np.asarray(p.y_mean) - np.asarray(p.x_mean) @ W, c)
            out[i, f] = np.mean(((Xs[va] @ W + b - Ys[va]) * np.asarray(ys.scale)) ** 2)
    i = int(np.argmin(out.mean(1)))
    edge = warn_grid_edge("l1", float(l1s[i]), l1s, stacklevel=stacklevel)
    return float(l1s[i]), float(l2), dict(cv_mse=float(out.mean(1)[i]), cv=k, grid_edge=bool(edge),
                                          cv_sweeps=int(iters))
