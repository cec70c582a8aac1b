"""Linear structure-property relation (SPR): PDOS ≈ W g(r) + b, with elastic-net regularisation.

Wang, Cheng & Chen (2026) found that the phonon density of states of a glass is, to a good
approximation, a linear function of its radial distribution function. This module fits that map.

Objective (the one both :func:`fit_linear` and :func:`fit_ridge` minimise)
-------------------------------------------------------------------------
Features ``X`` ``(K, R)`` (or ``(K, C, R)``, flattened to ``(K, C·R)``) and targets ``Y`` ``(K, F)``
are centred per column and scaled with statistics of the training set, ``x̃ = (x − μ_x)/s_x`` and
``ỹ = (y − μ_y)/s_y``. With ``scaling="pooled"`` (default) ``s_x`` is one number for all columns,
``sqrt(mean column variance)`` (likewise ``s_y``), so the penalties act on ``W`` in the units of the
data and no nearly constant column (g(r) inside the core, the empty tail of a PDOS) is blown up to
unit variance; ``scaling="column"`` divides every column by its own standard deviation (on the
study datasets it was never better, and on the glassy half of the AMC set it let test errors grow
20-fold through such columns). ``standardize=False`` makes ``μ = 0, s = 1``. In these units the model is
``ỹ = W x̃ + b`` with ``W`` ``(F, D)`` and ``b`` ``(F,)``, and the objective is

    L(W, b) = 1/(K F) Σ_k Σ_f (ỹ_kf − W_f·x̃_k − b_f)²  +  l1 Σ|W_fd|  +  l2 Σ W_fd²,

i.e. the mean squared error over samples *and* outputs plus the penalties on ``W`` (``b`` is not
penalised). Because the data term is averaged over the ``F`` outputs, the problem decouples into ``F``
per-output problems with penalties ``F·l1`` and ``F·l2`` against a per-output MSE. For comparison with
scikit-learn's ``ElasticNet`` (``1/(2K)‖y − Xw‖² + αρ‖w‖₁ + α(1−ρ)/2 ‖w‖²`` per output):
``αρ = F·l1/2`` and ``α(1−ρ) = F·l2``.

The closed-form minimiser for ``l1 = 0`` (:func:`fit_ridge`), with centred ``X̃c, Ỹc``, is
``Wᵀ = (X̃cᵀX̃c + K F l2 I)⁻¹ X̃cᵀỸc`` and ``b = ȳ̃ − W x̄̃``.

Solvers
-------
:func:`fit_ridge` is the closed form. :func:`fit_elastic_net` (any ``l1``, ``l2``) runs coordinate
descent on the Gram matrix, accelerated, to a stated duality gap (:mod:`jaxglass.models._enet`); it is
the elastic-net solver of the study and of the estimators. :func:`fit_linear` is the first-order
alternative described below (mini-batches, early stopping), kept for very large problems.

Optimiser of :func:`fit_linear`: proximal gradient
-------------------------------------------------
The smooth part (MSE + ``l2`` term) is differentiated with JAX and fed to an optax transformation;
the ``l1`` term is handled by its proximal operator (soft-thresholding) after every step, which
gives exact zeros in ``W`` (a subgradient step would only make weights jitter around zero). With
``optimizer="sgd"`` this is ISTA (threshold ``η_t l1``); with ``optimizer="adam"`` it is the
diagonally preconditioned proximal step of ProxGen (Yun, Lozano & Yang, NeurIPS 2021): the Adam step
for coordinate ``i`` is ``η_t m̂_i/(√v̂_i + ε)``, so its threshold is ``η_t l1/(√v̂_i + ε)``.
A cosine learning-rate decay (default) lets Adam settle on the minimiser instead of oscillating
around it; run to convergence, the ``l1 = 0`` fit agrees with :func:`fit_ridge` (see the tests).
Both proximal steps are optax transformations, :func:`jaxglass.models.prox_l1` (chained after
``optax.sgd``) and :func:`jaxglass.models.proximal_adam` (:mod:`jaxglass.models._prox`).

Early stopping monitors the validation MSE (standardised units) and returns the parameters of the
best epoch. The whole training loop (epochs inside a ``lax.while_loop``, mini-batches inside a
``lax.scan``) is one compiled function; ``l1`` and ``l2`` are traced, so a hyper-parameter grid
compiles once and :func:`cross_validate` trains the whole grid of a fold at once with ``vmap``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._io import atomic_savez
from ..errors import UserError
from ._constraints import admm_enet, as_constraints, project_columns, project_intercept, scaled
from ._files import FORMAT_VERSION, LINEAR_FORMAT, file_metadata, read_npz, scaler_arrays, scaler_from
from ._scaling import SCALINGS, Standardizer, scalers
from ._training import batches, history, split_validation, train_loop

FORMAT = LINEAR_FORMAT

# ----------------------------------------------------------------------------------------------
# Configuration and model
# ----------------------------------------------------------------------------------------------

_OPTIMIZERS = ("adam", "sgd")
_SCHEDULES = ("cosine", "constant")


@dataclasses.dataclass(frozen=True)
class LinearSPRConfig:
    """Hyper-parameters of :func:`fit_linear` (see the module docstring for the objective).

    ``l1`` (α) and ``l2`` (β) are the penalty weights; ``patience=None`` disables early stopping (and,
    without ``X_val``, no validation split is carved off); ``batch_size=None`` is full batch.
    ``lr_schedule="cosine"`` decays the learning rate to ``final_lr_fraction`` of its initial value
    over ``max_epochs``.
    """

    l1: float = 0.0
    l2: float = 1e-4
    learning_rate: float = 1e-2
    max_epochs: int = 3000
    patience: int | None = 200
    batch_size: int | None = None
    optimizer: str = "adam"
    lr_schedule: str = "cosine"
    final_lr_fraction: float = 1e-3
    val_fraction: float = 0.1
    seed: int = 0
    standardize: bool = True
    scaling: str = "pooled"

    def __post_init__(self):
        if self.l1 < 0 or self.l2 < 0:
            raise UserError(f"LinearSPRConfig: l1, l2 must be >= 0, got l1={self.l1}, l2={self.l2}")
        if self.learning_rate <= 0:
            raise UserError(f"LinearSPRConfig.learning_rate: must be > 0, got {self.learning_rate}")
        if self.max_epochs < 1:
            raise UserError(f"LinearSPRConfig.max_epochs: must be >= 1, got {self.max_epochs}")
        if self.patience is not None and self.patience < 1:
            raise UserError(f"LinearSPRConfig.patience: must be >= 1 or None, got {self.patience}")
        if self.batch_size is not None and self.batch_size < 1:
            raise UserError(f"LinearSPRConfig.batch_size: must be >= 1 or None, got {self.batch_size}")
        if self.optimizer not in _OPTIMIZERS:
            raise UserError(f"LinearSPRConfig.optimizer: {self.optimizer!r} not in {_OPTIMIZERS}")
        if self.lr_schedule not in _SCHEDULES:
            raise UserError(f"LinearSPRConfig.lr_schedule: {self.lr_schedule!r} not in {_SCHEDULES}")
        if not 0 < self.val_fraction < 1:
            raise UserError(f"LinearSPRConfig.val_fraction: must be in (0, 1), got {self.val_fraction}")
        if self.scaling not in SCALINGS:
            raise UserError(f"LinearSPRConfig.scaling: {self.scaling!r} not in {SCALINGS}")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class LinearSPR:
    """Fitted linear map in standardised units: ``ỹ = W x̃ + b``.

    ``W`` ``(F, D)`` with ``D = prod(feature_shape)``; ``feature_shape`` is ``(R,)`` or ``(C, R)``
    (partial RDFs, flattened channel-major). :func:`physical_weights` gives the map in data units.
    """

    W: jax.Array
    b: jax.Array
    x_scaler: Standardizer
    y_scaler: Standardizer
    feature_shape: tuple[int, ...] = dataclasses.field(metadata=dict(static=True))

    @property
    def n_outputs(self) -> int:
        return int(self.W.shape[0])

    def physical_weights(self) -> tuple[jax.Array, jax.Array]:
        """:func:`physical_weights` of this map: ``(W_phys, b_phys)`` in data units."""
        return physical_weights(self)


def as_features(X, feature_shape: tuple[int, ...] | None = None, what: str = "X"):
    """(K, R) or (K, C, R) → (K, D) and feature_shape; checks against a known feature_shape."""
    X = jnp.asarray(X, dtype=jnp.result_type(float))
    if feature_shape is None:
        if X.ndim not in (2, 3):
            raise UserError(f"{what}: expected (K, R) or (K, C, R), got shape {X.shape}")
        feature_shape = tuple(int(s) for s in X.shape[1:])
    elif tuple(X.shape[1:]) != tuple(feature_shape):
        raise UserError(f"{what}: expected samples of shape {tuple(feature_shape)}, got {X.shape}")
    return X.reshape(X.shape[0], -1), feature_shape


def as_targets(Y, n: int, what: str = "Y"):
    Y = jnp.asarray(Y, dtype=jnp.result_type(float))
    if Y.ndim != 2 or Y.shape[0] != n:
        raise UserError(f"{what}: expected shape ({n}, F), got {Y.shape}")
    return Y


def predict(model: LinearSPR, X) -> jax.Array:
    """PDOS predictions in data units, ``(K, F)``; a single sample ``X`` of ``feature_shape`` → ``(F,)``."""
    X = jnp.asarray(X, dtype=model.W.dtype)
    single = tuple(X.shape) == tuple(model.feature_shape)
    Xf, _ = as_features(X[None] if single else X, model.feature_shape)
    Z = model.x_scaler.transform(Xf) @ model.W.T + model.b
    Y = model.y_scaler.inverse_transform(Z)
    return Y[0] if single else Y


def physical_weights(model: LinearSPR) -> tuple[jax.Array, jax.Array]:
    """``(W_phys, b_phys)`` with ``Y = X_flat W_physᵀ + b_phys`` in data units.

    ``W_phys`` is returned with shape ``(F, *feature_shape)``: the readable weight map W(ω, r).
    """
    xs, ys = model.x_scaler, model.y_scaler
    Wp = model.W * ys.scale[:, None] / xs.scale[None, :]
    bp = ys.mean + ys.scale * model.b - Wp @ xs.mean
    return Wp.reshape((Wp.shape[0], *model.feature_shape)), bp


# ----------------------------------------------------------------------------------------------
# Linear fit with optax (proximal gradient)
# ----------------------------------------------------------------------------------------------


_W_ONLY = {"W": True, "b": False}  # the intercepts are not penalised


def _linear_trainer(optimizer: str, learning_rate: float, lr_schedule: str, final_lr_fraction: float,
                    batch_size: int, n_batches: int, max_epochs: int, patience: int | None, has_val: bool):
    """Compiled trainer ``(Xs, Ys, Xvs, Yvs, l1, l2, key) -> (params, n_epochs, best_epoch, th, vh)``."""
    import optax

    from ._prox import prox_l1, proximal_adam

    if lr_schedule == "cosine":
        sched = optax.cosine_decay_schedule(learning_rate, max_epochs * n_batches, alpha=final_lr_fraction)
    else:
        sched = optax.constant_schedule(learning_rate)

    def make_tx(l1):  # the proximal step is an optax transformation (l1 may be traced)
        if optimizer == "adam":
            return proximal_adam(sched, l1, b2=0.999, eps=1e-8, mask=_W_ONLY)
        return optax.chain(optax.sgd(sched), prox_l1(l1, sched, mask=_W_ONLY))

    def smooth_loss(p, xb, yb, wb, l2):
        r = xb @ p["W"].T + p["b"] - yb
        data = jnp.sum(wb[:, None] * r * r) / (jnp.sum(wb) * r.shape[1])
        return data + l2 * jnp.sum(p["W"] ** 2), data

    def step(p, opt_state, xb, yb, wb, t, hyper):
        del t  # the transformations count their own steps (the same count)
        l1, l2 = hyper
        (_, data), g = jax.value_and_grad(smooth_loss, has_aux=True)(p, xb, yb, wb, l2)
        upd, opt_state = make_tx(l1).update(g, opt_state, p)
        return optax.apply_updates(p, upd), opt_state, data

    def val_loss(p, Xv, Yv):
        r = Xv @ p["W"].T + p["b"] - Yv
        return jnp.mean(r * r)

    def train(Xs, Ys, Xvs, Yvs, l1, l2, key):
        D, F = Xs.shape[1], Ys.shape[1]
        p0 = {"W": jnp.zeros((F, D), Xs.dtype), "b": jnp.zeros((F,), Xs.dtype)}
        return train_loop(step, val_loss, p0, make_tx(0.0).init(p0), Xs, Ys, Xvs, Yvs, key, (l1, l2),
                           batch_size=batch_size, n_batches=n_batches, max_epochs=max_epochs,
                           patience=patience, has_val=has_val)

    return train


def prepare_training(X, Y, config: LinearSPRConfig, X_val, Y_val):
    """Flatten, split off validation if needed, fit scalers on the training part, standardise."""
    Xf, fshape = as_features(X)
    Yf = as_targets(Y, Xf.shape[0])
    if X_val is not None:
        if Y_val is None:
            raise UserError("fit: X_val given without Y_val")
        Xv, _ = as_features(X_val, fshape, "X_val")
        Yv = as_targets(Y_val, Xv.shape[0], "Y_val")
        if Yv.shape[1] != Yf.shape[1]:
            raise UserError(f"Y_val: expected {Yf.shape[1]} outputs, got {Yv.shape[1]}")
    elif config.patience is not None:
        tr, va = split_validation(Xf.shape[0], config.val_fraction, config.seed)
        Xf, Yf, Xv, Yv = Xf[tr], Yf[tr], Xf[va], Yf[va]
    else:
        Xv = Yv = None
    xs, ys = scalers(Xf, Yf, config.standardize, config.scaling, fshape)
    has_val = Xv is not None
    Xvs = xs.transform(Xv) if has_val else Xf[:1]
    Yvs = ys.transform(Yv) if has_val else Yf[:1]
    return xs.transform(Xf), ys.transform(Yf), Xvs, Yvs, xs, ys, fshape, has_val


@functools.lru_cache(maxsize=64)
def _compiled(static: tuple, batched: bool):
    train = _linear_trainer(*static)
    if batched:  # vmap over the (l1, l2) grid
        train = jax.vmap(train, in_axes=(None, None, None, None, 0, 0, None))
    return jax.jit(train)


def compiled_trainer(config: LinearSPRConfig, n: int, has_val: bool, batched: bool = False):
    bs, nb = batches(n, config.batch_size)
    static = (config.optimizer, float(config.learning_rate), config.lr_schedule,
              float(config.final_lr_fraction), bs, nb, int(config.max_epochs),
              config.patience if has_val else None, has_val)
    return _compiled(static, batched)


def fit_linear(X, Y, config: LinearSPRConfig | None = None, X_val=None, Y_val=None, *,
               return_history: bool = False):
    """Fit :class:`LinearSPR` by proximal gradient with optax (objective in the module docstring).

    ``X`` ``(K, R)`` or ``(K, C, R)``, ``Y`` ``(K, F)``. With early stopping (``config.patience``) and
    no ``X_val``, a ``val_fraction`` of the data is held out (seeded). Scalers are fitted on the
    training part only. With ``return_history`` also returns a dict ``n_epochs, best_epoch,
    train_mse, val_mse`` (MSE in standardised units per epoch).
    """
    config = config or LinearSPRConfig()
    Xs, Ys, Xvs, Yvs, xs, ys, fshape, has_val = prepare_training(X, Y, config, X_val, Y_val)
    train = compiled_trainer(config, Xs.shape[0], has_val)
    dt = Xs.dtype
    p, n_ep, best_ep, th, vh = train(Xs, Ys, Xvs, Yvs, jnp.asarray(config.l1, dt), jnp.asarray(config.l2, dt),
                                     jax.random.PRNGKey(config.seed))
    model = LinearSPR(p["W"], p["b"], xs, ys, fshape)
    if return_history:
        return model, history(n_ep, best_ep, th, vh, has_val)
    return model


def fit_ridge(X, Y, l2: float, standardize: bool = True, scaling: str = "pooled",
              constraints=None) -> LinearSPR:
    """Closed-form minimiser of the module's objective with ``l1 = 0`` (float64 numpy/scipy).

    ``Wᵀ = (X̃cᵀX̃c + K F l2 I)⁻¹ X̃cᵀỸc`` (or the equivalent ``K×K`` dual form when D > K);
    ``l2 = 0`` gives the minimum-norm least-squares solution. ``constraints``
    (:class:`~jaxglass.models.WeightConstraints` or ``(rows, values[, intercept])``, data units): the
    minimiser subject to ``rows @ W = values`` (and ``rows @ b = intercept``), i.e. the unconstrained
    one with every feature column projected across the outputs (:mod:`jaxglass.models._constraints`).
    """
    import scipy.linalg

    if l2 < 0:
        raise UserError(f"fit_ridge: l2 must be >= 0, got {l2}")
    Xf, fshape = as_features(X)
    Yf = as_targets(Y, Xf.shape[0])
    xs, ys = scalers(Xf, Yf, standardize, scaling, fshape)
    Xs = np.asarray(xs.transform(Xf), np.float64)
    Ys = np.asarray(ys.transform(Yf), np.float64)
    K, D = Xs.shape
    F = Ys.shape[1]
    xm, ym = Xs.mean(0), Ys.mean(0)
    Xc, Yc = Xs - xm, Ys - ym
    lam = K * F * float(l2)
    if lam == 0:
        Wt = np.linalg.lstsq(Xc, Yc, rcond=None)[0]
    elif D <= K:
        Wt = scipy.linalg.solve(Xc.T @ Xc + lam * np.eye(D), Xc.T @ Yc, assume_a="pos")
    else:
        Wt = Xc.T @ scipy.linalg.solve(Xc @ Xc.T + lam * np.eye(K), Yc, assume_a="pos")
    W = Wt.T
    b = ym - W @ xm
    if constraints is not None:
        ct = _scaled_constraints(constraints, xs, ys)
        W = project_columns(W, ct)
        b = project_intercept(ym - W @ xm, ct)
    dt = Xf.dtype
    return LinearSPR(jnp.asarray(W, dt), jnp.asarray(b, dt), xs, ys, fshape)


def _scaled_constraints(constraints, xs: Standardizer, ys: Standardizer):
    """``constraints`` (data units) checked and taken to the standardised units of ``xs``, ``ys``."""
    c = as_constraints(constraints, int(np.size(ys.mean)), int(np.size(xs.mean)))
    return scaled(c, xs.mean, xs.scale, ys.mean, ys.scale)


def fit_elastic_net(X, Y, l1: float, l2: float = 0.0, standardize: bool = True, scaling: str = "pooled", *,
                    tol: float = 1e-7, max_sweeps: int = 20000, W0=None, return_info: bool = False,
                    method: str = "auto", constraints=None):
    """Minimiser of the module's objective on the Gram matrix (:mod:`._enet`), by default exactly (homotopy).

    All targets are solved together; iteration stops when the duality gap summed over targets is at
    most ``tol`` times the objective, so the objective is within a relative ``tol`` of the optimum.
    ``W0`` ``(F, D)`` (standardised units, e.g. ``model.W`` of a neighbouring penalty) warm-starts it.
    With ``return_info`` also returns ``dict(objective, duality_gap, relative_gap, n_sweeps, method)``
    (objective and gap in the units of the module objective; ``n_sweeps``: path events for the
    homotopy). ``method``: ``"homotopy"`` (the exact LARS-EN path from ``W = 0``, all targets
    batched, finished by coordinate descent only if it cannot reach the gap; ``W0`` is not used),
    ``"cd"`` (coordinate descent), ``"fista"`` (FISTA on the Gram matrix; ``max_sweeps`` counts its
    iterations) or ``"auto"`` (the homotopy: the fastest in ``benchmarks/models.py --part enet``).
    Needs float64 (``jaxglass.enable_x64()``) for gaps below ~1e-6.

    ``constraints`` (as :func:`fit_ridge`): the minimiser subject to ``rows @ W = values`` by ADMM
    (:func:`~jaxglass.models._constraints.admm_enet`, ``method`` ignored, ``max_sweeps`` its
    iterations, ``tol`` its relative primal/dual residuals), the result projected onto the
    constraints on its support (exact to round-off); ``info`` then has ``method="admm"``, the
    residuals, ``n_sweeps`` (iterations) and no duality gap (``nan``).
    """
    if constraints is not None:
        return _fit_enet_constrained(X, Y, l1, l2, standardize, scaling, tol, max_sweeps, W0,
                                     return_info, constraints)
    from ._enet import enet_method, enet_solve, gram_problem
    from ._homotopy import enet_solve_homotopy

    if l1 < 0 or l2 < 0:
        raise UserError(f"fit_elastic_net: l1 and l2 must be >= 0, got l1={l1}, l2={l2}")
    Xf, fshape = as_features(X)
    Yf = as_targets(Y, Xf.shape[0])
    xs, ys = scalers(Xf, Yf, standardize, scaling, fshape)
    p = gram_problem(xs.transform(Xf), ys.transform(Yf))
    F = Yf.shape[1]
    method = enet_method(method, Xf.shape[0], Xf.shape[1])
    lam1, lam2 = jnp.asarray(F * l1 / 2, Xf.dtype), jnp.asarray(F * l2, Xf.dtype)
    if method == "homotopy":  # exact from W = 0: a warm start has nothing to add
        sol = enet_solve_homotopy(p, lam1, lam2, tol=tol, max_sweeps=max_sweeps)
    else:
        W0 = None if W0 is None else jnp.asarray(W0, Xf.dtype).T
        sol = enet_solve(p, lam1, lam2, W0, tol=tol, max_sweeps=max_sweeps, method=method)
    model = LinearSPR(sol.W.T, sol.b, xs, ys, fshape)
    if not return_info:
        return model
    obj, gap = 2.0 / F * float(sol.primal.sum()), 2.0 / F * float(sol.gap.sum())
    return model, dict(objective=obj, duality_gap=gap, relative_gap=gap / obj if obj > 0 else 0.0,
                       n_sweeps=int(sol.n_sweeps), converged=bool(gap <= tol * obj), method=method)


def _fit_enet_constrained(X, Y, l1, l2, standardize, scaling, tol, max_sweeps, W0, return_info,
                          constraints):
    from ._enet import gram_problem, primal_and_gap

    Xf, fshape = as_features(X)
    Yf = as_targets(Y, Xf.shape[0])
    xs, ys = scalers(Xf, Yf, standardize, scaling, fshape)
    ct = _scaled_constraints(constraints, xs, ys)
    p = gram_problem(np.asarray(xs.transform(Xf), np.float64), np.asarray(ys.transform(Yf), np.float64))
    F = Yf.shape[1]
    lam1, lam2 = F * l1 / 2, F * l2
    W0 = None if W0 is None else np.asarray(W0, np.float64).T
    W, info = admm_enet(p.G, p.C, lam1, lam2, ct, tol=tol, max_iter=max_sweeps, W0=W0)
    b = project_intercept(np.asarray(p.y_mean) - np.asarray(p.x_mean) @ W, ct)
    dt = Xf.dtype
    model = LinearSPR(jnp.asarray(W.T, dt), jnp.asarray(b, dt), xs, ys, fshape)
    if not return_info:
        return model
    P, _ = primal_and_gap(p, jnp.asarray(W), p.G @ jnp.asarray(W), lam1, lam2)
    return model, dict(objective=2.0 / F * float(jnp.sum(P)), duality_gap=float("nan"),
                       relative_gap=float("nan"), n_sweeps=int(info["iterations"]),
                       converged=info["converged"], method="admm",
                       primal_residual=info["primal_residual"], dual_residual=info["dual_residual"])


# ----------------------------------------------------------------------------------------------
# Persistence
# ----------------------------------------------------------------------------------------------


_LINEAR_KEYS = ("W", "b", "x_mean", "x_scale", "y_mean", "y_scale", "feature_shape", "metadata")


def save_linear(model: LinearSPR, path, metadata: dict[str, Any] | None = None) -> None:
    """Save a :class:`LinearSPR` to ``path`` (npz, atomic); ``metadata`` is stored as JSON."""
    atomic_savez(path, dict(
        format=np.array(FORMAT), format_version=np.array(FORMAT_VERSION),
        W=np.asarray(model.W), b=np.asarray(model.b),
        **scaler_arrays("x", model.x_scaler), **scaler_arrays("y", model.y_scaler),
        feature_shape=np.asarray(model.feature_shape, np.int64),
        metadata=np.array(json.dumps(metadata or {})),
    ))


def load_linear(path, *, with_metadata: bool = False):
    """Load a model written by :func:`save_linear` (and its metadata dict if ``with_metadata``)."""
    d = read_npz(path, FORMAT, _LINEAR_KEYS)
    dt = jnp.result_type(float)
    fshape = tuple(int(s) for s in np.atleast_1d(d["feature_shape"]))
    W = jnp.asarray(d["W"], dt)
    D = int(np.prod(fshape))
    n_out = W.shape[0] if W.ndim == 2 else -1
    want = {"b": (n_out,), "x_mean": (D,), "x_scale": (D,), "y_mean": (n_out,), "y_scale": (n_out,)}
    bad = {k: d[k].shape for k, shape in want.items() if d[k].shape != shape}
    if W.ndim != 2 or W.shape[1] != D or bad:
        raise UserError(f"{path}: corrupt {FORMAT} file (inconsistent array shapes: W {W.shape}, "
                        f"feature_shape {fshape}, {bad}); save the model again", field="path")
    model = LinearSPR(W, jnp.asarray(d["b"], dt), scaler_from(d, "x", dt), scaler_from(d, "y", dt), fshape)
    if with_metadata:
        return model, file_metadata(d, path, FORMAT)
    return model
