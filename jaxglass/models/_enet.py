"""Elastic net on the Gram matrix, with a certified duality gap: cyclic coordinate descent and FISTA
(the exact homotopy, LARS-EN, on the same problem is :mod:`jaxglass.models._homotopy`).

Per target ``f`` (column of ``Y``) the problem is scikit-learn's ``ElasticNet`` objective

    P(w, b) = 1/(2n) ‖y − X w − b‖² + λ₁ ‖w‖₁ + λ₂/2 ‖w‖²

(``λ₁ = α ρ``, ``λ₂ = α (1 − ρ)`` in scikit-learn's ``alpha``, ``l1_ratio``). The intercept is
eliminated by centring, and everything the solver needs is the Gram matrix ``G = X̄ᵀX̄/n`` ``(D, D)``,
``C = X̄ᵀȲ/n`` ``(D, F)`` and ``yy_f = ‖ȳ_f‖²/n`` (bars: centred). Cost per sweep is ``O(D² F)``,
independent of the number of samples. With fewer samples than half the features (``2n < D``: a
partial g_αβ(r) of a few dozen glasses) the problem also keeps the factor ``X̄/√n`` ``(n, D)``, and
FISTA, the gap checks and the exact support solve use ``G = (X̄/√n)ᵀ(X̄/√n)`` through it: a product
``G Z`` costs ``O(n D F)`` instead of ``O(D² F)``, and the support solve one ``n × n`` system per target
(Woodbury) instead of a ``D × D`` one.

All ``F`` targets are updated together (a coordinate update is a rank-1 update of ``Q = G W``), so
the targets are effectively vmapped. The duality gap is the one of scikit-learn's
``enet_coordinate_descent_gram`` (dual point ``θ = c·R/n`` with ``c = min(1, λ₁/‖Xᵀθ − λ₂ w‖_∞)``),
divided by ``n``; it bounds ``P − P*`` from above. With ``λ₂ > 0`` the smaller of it and the
strong-convexity bound ``‖s‖²/(2λ₂)`` (``s``: minimum-norm subgradient) is used, which stays
meaningful at ``λ₁ = 0``. Iteration stops when the gap summed over targets is
at most ``tol`` times the summed primal objective, so the returned objective is within a relative
``tol`` of the optimum.

:func:`enet_path` runs a descending penalty path with warm starts (``lax.scan``); it is ``vmap``-able
over folds (different Grams) and over ``λ₂``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from ._prox import soft_threshold


class GramProblem(NamedTuple):
    """Sufficient statistics of a centred least-squares problem (see the module docstring)."""

    G: jax.Array  # (D, D)  X̄ᵀX̄/n
    C: jax.Array  # (D, F)  X̄ᵀȲ/n
    yy: jax.Array  # (F,)   ‖ȳ‖²/n
    x_mean: jax.Array  # (D,)
    y_mean: jax.Array  # (F,)
    Xs: jax.Array | None = None  # (n, D)  X̄/√n where 2n < D (zero rows allowed), else None


class ENetSolution(NamedTuple):
    """``W`` ``(D, F)`` (note: features × targets), intercepts ``b`` ``(F,)``, the primal objective and
    duality gap per target (``gap ≥ P − P*``), and the number of sweeps done."""

    W: jax.Array
    b: jax.Array
    primal: jax.Array
    gap: jax.Array
    n_sweeps: jax.Array


def gram_problem(X, Y) -> GramProblem:
    """Centre ``X`` ``(n, D)`` and ``Y`` ``(n, F)`` and form ``G``, ``C``, ``yy`` (float64 if enabled)."""
    X = jnp.asarray(X)
    Y = jnp.asarray(Y)
    n = X.shape[0]
    xm, ym = X.mean(0), Y.mean(0)
    Xc, Yc = X - xm, Y - ym
    Xs = Xc / jnp.sqrt(n) if 2 * n < X.shape[1] else None
    return GramProblem(Xc.T @ Xc / n, Xc.T @ Yc / n, jnp.sum(Yc * Yc, 0) / n, xm, ym, Xs)


def gram_dot(p: GramProblem, Z):
    """``G @ Z`` ``(D, F)``: through the factor ``Xs`` when the problem has one (``O(n D F)``)."""
    if p.Xs is None:
        return p.G @ Z
    return p.Xs.T @ (p.Xs @ Z)


def pad_factor_rows(p: GramProblem, n: int) -> GramProblem:
    """The same problem with its factor zero-padded to ``n`` rows (``G`` is unchanged), so that folds
    of different sizes share one compiled solver."""
    if p.Xs is None or p.Xs.shape[0] >= n:
        return p
    return p._replace(Xs=jnp.pad(p.Xs, ((0, n - p.Xs.shape[0]), (0, 0))))


def primal_and_gap(p: GramProblem, W, Q, lam1, lam2):
    """Primal objective and duality gap per target for ``W`` ``(D, F)`` with ``Q = G W``."""
    wc = jnp.sum(W * p.C, 0)
    wq = jnp.sum(W * Q, 0)
    w1 = jnp.sum(jnp.abs(W), 0)
    w2 = jnp.sum(W * W, 0)
    r2 = jnp.maximum(p.yy - 2.0 * wc + wq, 0.0)  # ‖R‖²/n
    primal = 0.5 * r2 + lam1 * w1 + 0.5 * lam2 * w2
    xta = p.C - Q - lam2 * W  # (XᵀR)/n − λ₂ w
    dual_norm = jnp.max(jnp.abs(xta), 0)
    const = jnp.where(dual_norm > lam1, lam1 / jnp.where(dual_norm > 0, dual_norm, 1.0), 1.0)
    ry = p.yy - wc  # (R·ȳ)/n
    gap = 0.5 * r2 * (1.0 + const**2) + lam1 * w1 - const * ry + 0.5 * lam2 * (1.0 + const**2) * w2
    # With λ₂ > 0, P is λ₂-strongly convex: P − P* ≤ ‖s‖²/(2λ₂), s the minimum-norm subgradient. This
    # second bound is the useful one when λ₁ = 0 (pure ridge, where the dual point above degenerates).
    s = jnp.where(W != 0, lam1 * jnp.sign(W) - xta, jnp.maximum(jnp.abs(xta) - lam1, 0.0))
    bound = jnp.sum(s * s, 0) / (2.0 * jnp.where(lam2 > 0, lam2, 1.0))
    gap = jnp.where(lam2 > 0, jnp.minimum(gap, bound), gap)
    return primal, jnp.maximum(gap, 0.0)


def _sweep(p: GramProblem, W, Q, lam1, lam2, block: int):
    """One cyclic coordinate-descent sweep over all ``D`` coordinates, for all targets at once.

    Coordinates are visited in order, in blocks of ``block`` (``D`` must be a multiple): inside a block
    only the block's rows of ``Q = G W`` are updated (rank-1, ``block × F``), and the rest of ``Q`` once
    per block by a matrix product. The iterates are exactly those of plain cyclic coordinate descent.
    """
    D = W.shape[0]
    diag = jnp.diagonal(p.G)
    denom = diag + lam2
    inv = jnp.where(denom > 0, 1.0 / jnp.where(denom > 0, denom, 1.0), 0.0)  # constant column: w = 0

    def one_block(bi, carry):
        W, Q = carry
        s = bi * block
        Gb = jax.lax.dynamic_slice_in_dim(p.G, s, block, 0)  # (B, D)
        Gbb = jax.lax.dynamic_slice_in_dim(Gb, s, block, 1)  # (B, B)
        Cb = jax.lax.dynamic_slice_in_dim(p.C, s, block, 0)
        db = jax.lax.dynamic_slice_in_dim(diag, s, block)
        ib = jax.lax.dynamic_slice_in_dim(inv, s, block)
        Wb0 = jax.lax.dynamic_slice_in_dim(W, s, block, 0)
        Qb0 = jax.lax.dynamic_slice_in_dim(Q, s, block, 0)

        def coord(i, c):
            Wb, Qb = c
            wj = Wb[i]
            new = soft_threshold(Cb[i] - Qb[i] + db[i] * wj, lam1) * ib[i]
            return Wb.at[i].set(new), Qb + Gbb[i][:, None] * (new - wj)[None, :]

        Wb, _ = jax.lax.fori_loop(0, block, coord, (Wb0, Qb0))
        Q = Q + Gb.T @ (Wb - Wb0)
        return jax.lax.dynamic_update_slice_in_dim(W, Wb, s, 0), Q

    return jax.lax.fori_loop(0, D // block, one_block, (W, Q))


def _anderson(p: GramProblem, hist, W, P, lam1, lam2, reg: float = 1e-12):
    """Anderson extrapolation per target from the iterates ``hist`` ``(M+1, D, F)``; a target takes the
    extrapolated point only where it lowers its objective (Bertrand & Massias, AISTATS 2021)."""
    U = hist[1:] - hist[:-1]  # (M, D, F)
    M = U.shape[0]
    Cm = jnp.einsum("idf,jdf->fij", U, U)
    scale = jnp.trace(Cm, axis1=1, axis2=2)[:, None, None]
    Cm = Cm + reg * jnp.where(scale > 0, scale, 1.0) * jnp.eye(M, dtype=W.dtype)
    z = jnp.linalg.solve(Cm, jnp.ones((Cm.shape[0], M, 1), W.dtype))[..., 0]  # (F, M)
    c = z / jnp.sum(z, 1, keepdims=True)
    Wa = jnp.einsum("fi,idf->df", c, hist[1:])
    Pa, _ = primal_and_gap(p, Wa, gram_dot(p, Wa), lam1, lam2)
    take = jnp.isfinite(Pa) & (Pa < P)
    return jnp.where(take[None, :], Wa, W)


def _newton(p: GramProblem, W, P, lam1, lam2):
    """Exact minimiser for the current support and signs of each target,
    ``(G_AA + λ₂ I) w_A = C_A − λ₁ sign(w_A)``; a target takes it only where it lowers its objective.
    Once coordinate descent has found the support this lands on the optimum (gap ≈ round-off)."""

    if p.Xs is not None:
        Wn = _support_solve_factor(p, W, lam1, lam2)
    else:
        Wn = _support_solve_dense(p, W, lam1, lam2)
    Wn = jnp.where(jnp.isfinite(Wn), Wn, W)
    best, Pbest = W, P
    for t in (1.0, 0.5, 0.25):  # the objective is convex along W → Wn: keep the best of a few points
        Wt = W + t * (Wn - W)
        Pt, _ = primal_and_gap(p, Wt, gram_dot(p, Wt), lam1, lam2)
        take = Pt < Pbest
        best = jnp.where(take[None, :], Wt, best)
        Pbest = jnp.where(take, Pt, Pbest)
    return best


def _support_solve_factor(p: GramProblem, W, lam1, lam2):
    """The support solve of :func:`_newton` through ``G = XsᵀXs`` (Woodbury): with ``B_f = Xs`` on the
    support of target ``f`` and ``r_f = C_f − λ₁ sign(w_f)`` there (0 elsewhere),
    ``w_f = (r_f − B_fᵀ (B_f B_fᵀ + λ₂ I)⁻¹ B_f r_f) / λ₂``: one ``n × n`` system per target. At
    ``λ₂ = 0`` a ridge of 1e-12 of the largest squared column norm stands in (the caller keeps a step only
    where it lowers the objective)."""
    Xs = p.Xs
    n = Xs.shape[0]
    m = (W != 0).astype(W.dtype)  # (D, F)
    R = m * (p.C - lam1 * jnp.sign(W))
    lam = jnp.maximum(lam2, 1e-12 * jnp.max(jnp.sum(Xs * Xs, 0)))
    K = jnp.einsum("nd,df,kd->fnk", Xs, m, Xs) + lam * jnp.eye(n, dtype=W.dtype)  # (F, n, n)
    v = jnp.linalg.solve(K, (Xs @ R).T[..., None])[..., 0]  # (F, n)
    return (R - m * (Xs.T @ v.T)) / lam


def _support_solve_dense(p: GramProblem, W, lam1, lam2):
    """The support solve of :func:`_newton` on ``G``: one ``D × D`` masked system per target."""
    m = (W != 0).astype(W.dtype).T  # (F, D)
    rhs = m * (p.C.T - lam1 * jnp.sign(W.T))
    eye = jnp.eye(W.shape[0], dtype=W.dtype)
    chunk = max(1, min(W.shape[1], int(2**24 // W.shape[0] ** 2)))  # ≤ 128 MiB of systems at a time
    parts = []
    for a in range(0, W.shape[1], chunk):  # static chunks, solved one after the other (see below)
        mc, rc = m[a:a + chunk], rhs[a:a + chunk]
        A = p.G[None] * mc[:, :, None] * mc[:, None, :] + eye * (lam2 * mc + (1.0 - mc))[:, :, None]
        if parts:
            # XLA's CPU runtime runs independent batched LAPACK calls at once, and each one blocks a
            # thread of the intra-op pool while it waits for its batch on that same pool: two of
            # them on a 2-thread pool wait for each other forever (jaxlib 0.10.1; seen with >= 2
            # chunks, D >= 600, on 2 cores). A data dependence chains the chunks (an
            # optimization_barrier does not: it is gone from the compiled program).
            A = A + 0.0 * jnp.nan_to_num(parts[-1][0, 0])
        parts.append(jnp.linalg.solve(A, rc[..., None])[..., 0])
    return jnp.concatenate(parts).T


def _pad(p: GramProblem, block: int) -> GramProblem:
    """Zero-pad the feature axis to a multiple of ``block`` (padded coordinates stay exactly 0)."""
    extra = -p.G.shape[0] % block
    if extra == 0:
        return p
    Xs = None if p.Xs is None else jnp.pad(p.Xs, ((0, 0), (0, extra)))
    return GramProblem(jnp.pad(p.G, ((0, extra), (0, extra))), jnp.pad(p.C, ((0, extra), (0, 0))), p.yy,
                       jnp.pad(p.x_mean, (0, extra)), p.y_mean, Xs)


def _solve(p: GramProblem, W0, lam1, lam2, tol, max_sweeps: int, check_every: int, block: int,
           newton_gap: float = 1e-3):
    """Coordinate descent from ``W0``, Anderson-accelerated every ``check_every`` sweeps, until
    ``Σ gap ≤ tol Σ P`` (checked after every extrapolation)."""
    Q0 = p.G @ W0
    P0, g0 = primal_and_gap(p, W0, Q0, lam1, lam2)

    def cond(c):
        _, P, g, k = c
        return (jnp.sum(g) > tol * jnp.sum(P)) & (k < max_sweeps)

    def body(c):
        W, _, _, k = c

        def one(wq, _):
            wq = _sweep(p, *wq, lam1, lam2, block)
            return wq, wq[0]

        (W, _), hist = jax.lax.scan(one, (W, p.G @ W), None, length=check_every + 1)
        Q = p.G @ W  # refresh: no drift from the rank-1 updates
        P, _ = primal_and_gap(p, W, Q, lam1, lam2)
        W = _anderson(p, hist, W, P, lam1, lam2)
        P, g = primal_and_gap(p, W, p.G @ W, lam1, lam2)
        W = jax.lax.cond(jnp.sum(g) < newton_gap * jnp.sum(P), lambda w: _newton(p, w, P, lam1, lam2),
                         lambda w: w, W)
        P, g = primal_and_gap(p, W, p.G @ W, lam1, lam2)
        return W, P, g, k + check_every + 1

    W, P, g, k = jax.lax.while_loop(cond, body, (W0, P0, g0, jnp.int32(0)))
    return W, P, g, k


def _solve_fista(p: GramProblem, W0, lam1, lam2, tol, max_iter: int, check_every: int,
                 newton_gap: float = 1e-3):
    """FISTA on the Gram matrix (all targets at once; one ``G @ Z`` per iteration), with the
    gradient-based adaptive restart of O'Donoghue & Candès (2015) per target and the exact solve on
    the found support (:func:`_newton`) once the relative gap is below ``newton_gap``; stops like
    :func:`_solve`. Step ``1/L`` with ``L = λ_max(G) + λ₂``."""
    L = jnp.linalg.eigvalsh(p.G if p.Xs is None else p.Xs @ p.Xs.T)[-1] + lam2  # XXᵀ: same spectrum
    L = jnp.where(L > 0, L, 1.0)
    F = W0.shape[1]
    P0, g0 = primal_and_gap(p, W0, gram_dot(p, W0), lam1, lam2)

    def cond(c):
        _, _, _, P, g, k = c
        return (jnp.sum(g) > tol * jnp.sum(P)) & (k < max_iter)

    def body(c):
        W, Z, t, _, _, k = c

        def it(c, _):
            W, Z, t = c
            Wn = soft_threshold(Z - (gram_dot(p, Z) - p.C + lam2 * Z) / L, lam1 / L)
            restart = jnp.sum((Z - Wn) * (Wn - W), 0) > 0  # the momentum points uphill: drop it
            t = jnp.where(restart, 1.0, t)
            tn = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
            return (Wn, Wn + ((t - 1.0) / tn)[None, :] * (Wn - W), tn), None

        (W, Z, t), _ = jax.lax.scan(it, (W, Z, t), None, length=check_every)
        P, g = primal_and_gap(p, W, gram_dot(p, W), lam1, lam2)
        Wn = jax.lax.cond(jnp.sum(g) < newton_gap * jnp.sum(P), lambda w: _newton(p, w, P, lam1, lam2),
                          lambda w: w, W)
        moved = jnp.any(Wn != W, 0)
        Z = jnp.where(moved[None, :], Wn, Z)
        t = jnp.where(moved, 1.0, t)
        P, g = primal_and_gap(p, Wn, gram_dot(p, Wn), lam1, lam2)
        return Wn, Z, t, P, g, k + check_every

    c0 = (W0, W0, jnp.ones((F,), W0.dtype), P0, g0, jnp.int32(0))
    W, _, _, P, g, k = jax.lax.while_loop(cond, body, c0)
    return W, P, g, k


METHODS = ("cd", "fista")
#: every method of :func:`jaxglass.models.fit_elastic_net` and the cross-validation (the jitted
#: :func:`enet_solve` / :func:`enet_path` take :data:`METHODS`)
FIT_METHODS = ("homotopy", "cd", "fista")


def enet_method(method: str, n_samples: int, n_features: int, *, path: bool = False) -> str:
    """Resolve ``method="auto"``: for a single fit the exact homotopy
    (:func:`~jaxglass.models._homotopy.enet_solve_homotopy`; measured faster than FISTA and coordinate
    descent on every problem of ``benchmarks/models.py``); for a cross-validation path
    (``path=True``) the exact :func:`~jaxglass.models._homotopy.enet_path_homotopy` where samples
    are fewer than half the features (a support holds about ``n`` coordinates there, so a path has
    few events, and ``H v`` goes through the factor: ``benchmarks/models.py --part cv``, 14 × 1200 →
    300: 23 s exact vs 124 s for FISTA at its budget) and FISTA otherwise, bounded by its
    gap/iteration budget (where supports fill up on grids reaching ``1e-5 λ₁,max`` the path has
    hundreds of events: 160 × 200 → 300, 142 s vs 43 s). The jitted :func:`enet_solve` /
    :func:`enet_path` take only :data:`METHODS`."""
    if method == "auto":
        if path:
            return "homotopy" if 2 * n_samples < n_features else "fista"
        return "homotopy"
    if method not in FIT_METHODS:
        raise UserError(f"elastic net: method must be 'auto' or one of {FIT_METHODS}, got {method!r}")
    return method


def _solver(method: str, q: GramProblem, W0, lam1, lam2, tol, max_sweeps, check_every, block, newton_gap):
    if method == "fista":
        return _solve_fista(q, W0, lam1, lam2, tol, max_sweeps, 2 * check_every, newton_gap)
    if method == "cd":
        return _solve(q, W0, lam1, lam2, tol, max_sweeps, check_every, block, newton_gap)
    raise UserError(f"elastic net: method must be one of {METHODS}, got {method!r}")


@functools.partial(jax.jit, static_argnames=("max_sweeps", "check_every", "block", "method"))
def enet_solve(p: GramProblem, lam1, lam2, W0=None, *, tol=1e-7, max_sweeps: int = 20000,
               check_every: int = 10, block: int = 8, newton_gap=1e-3, method: str = "cd") -> ENetSolution:
    """Solve all targets of ``p`` at penalties ``lam1 ≥ 0``, ``lam2 ≥ 0`` (warm start ``W0`` ``(D, F)``).

    Stops when ``Σ_f gap_f ≤ tol Σ_f P_f`` or after ``max_sweeps`` sweeps (then the returned gap says
    how far it got).
    """
    D, F = p.C.shape
    W0 = jnp.zeros((D, F), p.C.dtype) if W0 is None else W0
    q = _pad(p, block)
    W0 = jnp.pad(W0, ((0, q.G.shape[0] - D), (0, 0)))
    W, P, g, k = _solver(method, q, W0, lam1, lam2, tol, max_sweeps, check_every, block, newton_gap)
    W = W[:D]
    return ENetSolution(W, p.y_mean - p.x_mean @ W, P, g, k)


def lam1_max(p: GramProblem):
    """Smallest ``λ₁`` for which ``W = 0`` is optimal (all targets): ``max |C|``."""
    return jnp.max(jnp.abs(p.C))


@functools.partial(jax.jit, static_argnames=("max_sweeps", "check_every", "block", "method"))
def enet_path(p: GramProblem, lam1s, lam2, *, tol=1e-7, max_sweeps: int = 20000,
              check_every: int = 10, block: int = 8, newton_gap=1e-3, method: str = "cd") -> ENetSolution:
    """Solutions along ``lam1s`` (sorted descending for the warm starts to help), one ``lam2``.

    Returns an :class:`ENetSolution` whose fields have a leading path axis.
    """
    D, F = p.C.shape
    q = _pad(p, block)

    def step(W, lam1):
        W, P, g, k = _solver(method, q, W, lam1, lam2, tol, max_sweeps, check_every, block, newton_gap)
        return W, ENetSolution(W[:D], p.y_mean - p.x_mean @ W[:D], P, g, k)

    _, sols = jax.lax.scan(step, jnp.zeros((q.G.shape[0], F), p.C.dtype), lam1s)
    return sols


def sklearn_objective(X, Y, W, b, lam1, lam2) -> np.ndarray:
    """scikit-learn's per-target elastic-net objective evaluated directly on the data (numpy)."""
    X, Y, W, b = (np.asarray(a, np.float64) for a in (X, Y, W, b))
    R = Y - X @ W - b
    return 0.5 * np.mean(R**2, 0) + lam1 * np.abs(W).sum(0) + 0.5 * lam2 * (W**2).sum(0)
