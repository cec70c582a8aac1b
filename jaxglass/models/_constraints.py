"""Linear equality constraints on the columns of a linear map: ``C W = K`` (and ``C b = k_b``).

``W`` ``(F, D)`` maps ``D`` features to ``F`` outputs (data units, as
:func:`jaxglass.models.physical_weights`); ``C`` ``(M, F)`` are ``M`` rows over the output grid (e.g.
the ν⁰- and ν²-moment weights of a DOS grid) and ``K`` ``(M, D)`` the values every feature column must
have (e.g. 0 and the exact sum-rule kernel, :func:`jaxglass.sumrules.moment_constraints`). The
constraints act on each feature column of ``W`` across the output bins.

Ridge (closed form). In the standardised units of :mod:`jaxglass.models.linear` the objective is
``tr(W A Wᵀ) − 2 tr(W B) + const`` with ``A = X̃cᵀX̃c + K F l2 I`` (``D × D``, the same for every
output) and ``B = X̃cᵀỸc``. The Lagrangian ``tr(W A Wᵀ) − 2 tr(W B) + tr(Λᵀ(C̃W − K̃))`` is stationary at
``2 W A = 2 Bᵀ − C̃ᵀΛ``, i.e. ``W = W_u − ½ C̃ᵀ Λ A⁻¹`` with the unconstrained ``W_u = Bᵀ A⁻¹``; the
constraint fixes ``½ Λ A⁻¹ = (C̃C̃ᵀ)⁻¹(C̃ W_u − K̃)``, so

    W = W_u − C̃ᵀ (C̃C̃ᵀ)⁻¹ (C̃ W_u − K̃):

because the loss Hessian is ``A ⊗ I_F`` (every output sees the same features), the constrained ridge
solution is the unconstrained one with each feature column projected (Euclidean, across outputs)
onto ``{w : C̃ w = k̃_d}`` (:func:`project_columns`). With ``Π = I − C̃ᵀ(C̃C̃ᵀ)⁻¹C̃`` and
``E = C̃ᵀ(C̃C̃ᵀ)⁻¹K̃`` this is ``W = Π W_u + E``; ``Π W_u`` is the ridge fit of the targets ``Ỹ Π``
and ``E`` is orthogonal to it, so the penalty chosen by cross-validation for the constrained fit is
the one chosen for the targets ``Ỹ Π`` (the rest of the residual does not depend on ``l2``).

Intercept. With ``C̃ W = K̃`` the free intercept ``b = ȳ − W x̄`` has ``C̃ b = C̃ ȳ − K̃ x̄``, the same
for every ``W``; since the centred residuals sum to zero, the loss is ``Σ‖ỹc − W x̃c‖² + n‖b − b_free‖²``
and the constrained intercept (``C̃ b = k̃_b``) is ``b_free`` projected the same way, whatever ``W``.

Elastic net (no closed form): ADMM (Boyd et al., Found. Trends Mach. Learn. 3, 1 (2011), §6.4) with
the split ``W = Z``: the ``W``-step minimises the quadratic part plus ``ρ/2‖W − Z + U‖²`` subject to the
constraints (the same projection, of ``(G + (λ₂ + ρ) I)⁻¹(C + ρ(Z − U))``), the ``Z``-step
soft-thresholds, and ``ρ`` is adapted by residual balancing (§3.4.1). The returned weights keep the
support of ``Z`` and are projected onto the constraints on that support (:func:`project_on_support`),
so the constraints hold to round-off.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import UserError


class WeightConstraints(NamedTuple):
    """``rows`` ``(M, F)`` over the outputs, ``values`` ``(M, D)`` (or ``(M, *feature_shape)``) for the
    feature columns of ``W`` and ``intercept`` ``(M,)`` for ``b`` (``None``: ``b`` left free), all in
    data units: the fitted map has ``rows @ W = values`` and ``rows @ b = intercept``."""

    rows: np.ndarray
    values: np.ndarray
    intercept: np.ndarray | None = None


def as_constraints(c, n_outputs: int, n_features: int) -> WeightConstraints:
    """``c`` (a :class:`WeightConstraints` or a ``(rows, values[, intercept])`` sequence, e.g. from a
    model file) as float64 arrays of checked shapes; ``UserError`` naming the mismatch."""
    if not isinstance(c, (tuple, list)) or len(c) not in (2, 3):
        raise UserError("constraints: expected (rows, values) or (rows, values, intercept), got "
                        f"{type(c).__name__}")
    rows = np.atleast_2d(np.asarray(c[0], np.float64))
    values = np.asarray(c[1], np.float64)
    M = rows.shape[0]
    values = values.reshape(M, -1) if values.size == M * n_features else values
    intercept = None if len(c) < 3 or c[2] is None else np.asarray(c[2], np.float64).ravel()
    if rows.shape != (M, n_outputs) or values.shape != (M, n_features) or (
            intercept is not None and intercept.shape != (M,)):
        raise UserError(
            f"constraints: expected rows (M, {n_outputs}), values (M, {n_features}) and intercept (M,) "
            f"for {n_outputs} targets and {n_features} features, got rows {rows.shape}, values "
            f"{np.shape(c[1])}, intercept {None if intercept is None else intercept.shape}")
    if not (np.isfinite(rows).all() and np.isfinite(values).all()
            and (intercept is None or np.isfinite(intercept).all())):
        raise UserError("constraints: rows, values and intercept must be finite")
    return WeightConstraints(rows, values, intercept)


def scaled(c: WeightConstraints, x_mean, x_scale, y_mean, y_scale) -> WeightConstraints:
    """The constraints in standardised units (``W_phys[f, d] = W̃[f, d] s_y[f] / s_x[d]``,
    ``b_phys = μ_y + s_y b̃ − W_phys μ_x``): ``C̃ = C diag(s_y)``, ``K̃ = K diag(s_x)``,
    ``k̃_b = k_b − C μ_y + K μ_x``."""
    xm, xs, ym, ys = (np.asarray(a, np.float64).ravel() for a in (x_mean, x_scale, y_mean, y_scale))
    kb = None if c.intercept is None else c.intercept - c.rows @ ym + c.values @ xm
    return WeightConstraints(c.rows * ys[None, :], c.values * xs[None, :], kb)


def _basis(rows: np.ndarray):
    """``Q`` ``(F, M)`` orthonormal and ``R`` ``(M, M)`` with ``rowsᵀ = Q R``; ``UserError`` if the rows
    are linearly dependent (then ``C W = K`` has no unique projection)."""
    Q, R = np.linalg.qr(rows.T)
    d = np.abs(np.diag(R))
    if d.size == 0 or d.min() <= 1e-12 * d.max():
        raise UserError(f"constraints: the {rows.shape[0]} rows are linearly dependent over the "
                        f"{rows.shape[1]} outputs; drop the redundant rows")
    return Q, R


def project_columns(W, c: WeightConstraints) -> np.ndarray:
    """Every column of ``W`` ``(F, D)`` projected onto ``{w : rows w = values[:, d]}`` (Euclidean)."""
    Q, R = _basis(c.rows)
    W = np.asarray(W, np.float64)
    target = np.linalg.solve(R.T, c.values)  # Qᵀ w must equal R⁻ᵀ k
    return W - Q @ (Q.T @ W - target)


def project_intercept(b, c: WeightConstraints) -> np.ndarray:
    """``b`` projected onto ``{b : rows b = intercept}`` (unchanged if ``intercept`` is ``None``)."""
    b = np.asarray(b, np.float64)
    if c.intercept is None:
        return b
    Q, R = _basis(c.rows)
    return b - Q @ (Q.T @ b - np.linalg.solve(R.T, c.intercept))


def output_projector(c: WeightConstraints) -> np.ndarray:
    """``Π = I − C̃ᵀ(C̃C̃ᵀ)⁻¹C̃`` ``(F, F)``: ridge on the targets ``Ỹ Π`` gives ``Π W_u`` (module docstring)."""
    Q, _ = _basis(c.rows)
    return np.eye(Q.shape[0]) - Q @ Q.T


def project_on_support(W, W_dense, c: WeightConstraints) -> np.ndarray:
    """Columns of ``W`` ``(F, D)`` projected onto the constraints keeping their support (zeros stay
    zero); a column whose support cannot meet its constraint (rank-deficient rows there) takes the
    column of ``W_dense`` (which satisfies it) projected on all outputs."""
    W = np.array(W, np.float64)
    fallback = project_columns(W_dense, c)
    for d in range(W.shape[1]):
        s = np.flatnonzero(W[:, d])
        Cs = c.rows[:, s]
        if s.size >= Cs.shape[0] and np.linalg.matrix_rank(Cs) == Cs.shape[0]:
            W[s, d] -= Cs.T @ np.linalg.solve(Cs @ Cs.T, Cs @ W[s, d] - c.values[:, d])
        elif s.size or np.any(c.values[:, d] != 0):
            W[:, d] = fallback[:, d]
    return W


def violation(W, b, c: WeightConstraints) -> float:
    """Largest ``|C W − K|`` (and ``|C b − k_b|``) relative to the largest ``|K|`` (or 1)."""
    err = np.abs(c.rows @ np.asarray(W, np.float64).reshape(c.rows.shape[1], -1) - c.values).max()
    scale = max(float(np.abs(c.values).max()), 1e-300)
    if c.intercept is not None:
        err = max(err, np.abs(c.rows @ np.asarray(b, np.float64) - c.intercept).max())
        scale = max(scale, float(np.abs(c.intercept).max()))
    return float(err / scale) if scale > 1e-300 else float(err)


def admm_enet(G, Cg, lam1: float, lam2: float, c: WeightConstraints, *, tol: float = 1e-8,
              max_iter: int = 20000, W0=None):
    """Elastic net ``Σ_f ½ w_fᵀ G w_f − c_fᵀ w_f + λ₁‖W‖₁ + λ₂/2‖W‖²`` (``W`` ``(D, F)``, the layout and
    objective of :mod:`jaxglass.models._enet`) subject to ``c.rows Wᵀ = c.values`` (standardised
    units), by ADMM (module docstring). Returns ``(W, info)``: ``W`` ``(D, F)`` on the support of the
    last ``Z`` with the constraints exact, ``info`` with the iterations, the primal/dual residuals
    relative to ``‖W‖`` and ``converged``."""
    G, Cg = np.asarray(G, np.float64), np.asarray(Cg, np.float64)
    D, F = Cg.shape
    e, V = np.linalg.eigh(G)
    keep = e > 1e-13 * max(e.max(), 1e-300)
    e, V = e[keep], V[:, keep]  # G's range: (G + sI)⁻¹ = I/s − V diag(e/(s(e+s))) Vᵀ
    rho = float(max(np.mean(e) if e.size else 1.0, lam2, 1e-12))
    ct = WeightConstraints(c.rows, c.values)

    def w_step(M, s):
        return project_columns(((M - V @ ((e / (e + s))[:, None] * (V.T @ M))) / s).T, ct).T

    Z = np.zeros((D, F)) if W0 is None else np.array(W0, np.float64)
    U = np.zeros((D, F))
    it, r_rel, s_rel = 0, np.inf, np.inf
    while it < max_iter:
        it += 1
        W = w_step(Cg + rho * (Z - U), lam2 + rho)
        Zo = Z
        Z = np.sign(W + U) * np.maximum(np.abs(W + U) - lam1 / rho, 0.0)
        U += W - Z
        norm = max(np.linalg.norm(W), np.linalg.norm(Z), 1e-300)
        r, s = np.linalg.norm(W - Z), rho * np.linalg.norm(Z - Zo)
        r_rel, s_rel = r / norm, s / max(rho * np.linalg.norm(U), 1e-300)
        if r_rel <= tol and s_rel <= tol:
            break
        if r > 10 * s or s > 10 * r:  # residual balancing; U is the scaled dual: rescale it
            f = 2.0 if r > s else 0.5
            rho *= f
            U /= f
    Wf = project_on_support(Z.T, W.T, ct).T
    return Wf, dict(iterations=it, primal_residual=float(r_rel), dual_residual=float(s_rel),
                    converged=bool(r_rel <= tol and s_rel <= tol))
