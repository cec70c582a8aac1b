"""Elastic net on the Gram matrix, with a certified duality gap: exact homotopy (LARS-EN), cyclic
coordinate descent and FISTA.

Per target ``f`` (column of ``Y``) the problem is scikit-learn's ``ElasticNet`` objective

    P(w, b) = 1/(2n) ‖y − X w − b‖² + λ₁ ‖w‖₁ + λ₂/2 ‖w‖²

(``λ₁ = α ρ``, ``λ₂ = α (1 − ρ)`` in scikit-learn's ``alpha``, ``l1_ratio``). The intercept is
eliminated by centring, and everything the solver needs is the Gram matrix ``G = X̄ᵀX̄/n`` ``(D, D)``,
``C = X̄ᵀȲ/n`` ``(D, F)`` and ``yy_f = ‖ȳ_f‖²/n`` (bars: centred). Cost per sweep is ``O(D² F)``,
independent of the number of samples.

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
    return GramProblem(Xc.T @ Xc / n, Xc.T @ Yc / n, jnp.sum(Yc * Yc, 0) / n, xm, ym)


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
    Pa, _ = primal_and_gap(p, Wa, p.G @ Wa, lam1, lam2)
    take = jnp.isfinite(Pa) & (Pa < P)
    return jnp.where(take[None, :], Wa, W)


def _newton(p: GramProblem, W, P, lam1, lam2):
    """Exact minimiser for the current support and signs of each target,
    ``(G_AA + λ₂ I) w_A = C_A − λ₁ sign(w_A)``; a target takes it only where it lowers its objective.
    Once coordinate descent has found the support this lands on the optimum (gap ≈ round-off)."""

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
    Wn = jnp.concatenate(parts).T
    Wn = jnp.where(jnp.isfinite(Wn), Wn, W)
    best, Pbest = W, P
    for t in (1.0, 0.5, 0.25):  # the objective is convex along W → Wn: keep the best of a few points
        Wt = W + t * (Wn - W)
        Pt, _ = primal_and_gap(p, Wt, p.G @ Wt, lam1, lam2)
        take = Pt < Pbest
        best = jnp.where(take[None, :], Wt, best)
        Pbest = jnp.where(take, Pt, Pbest)
    return best


def _pad(p: GramProblem, block: int) -> GramProblem:
    """Zero-pad the feature axis to a multiple of ``block`` (padded coordinates stay exactly 0)."""
    extra = -p.G.shape[0] % block
    if extra == 0:
        return p
    return GramProblem(jnp.pad(p.G, ((0, extra), (0, extra))), jnp.pad(p.C, ((0, extra), (0, 0))), p.yy,
                       jnp.pad(p.x_mean, (0, extra)), p.y_mean)


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
    L = jnp.linalg.eigvalsh(p.G)[-1] + lam2
    L = jnp.where(L > 0, L, 1.0)
    F = W0.shape[1]
    P0, g0 = primal_and_gap(p, W0, p.G @ W0, lam1, lam2)

    def cond(c):
        _, _, _, P, g, k = c
        return (jnp.sum(g) > tol * jnp.sum(P)) & (k < max_iter)

    def body(c):
        W, Z, t, _, _, k = c

        def it(c, _):
            W, Z, t = c
            Wn = soft_threshold(Z - (p.G @ Z - p.C + lam2 * Z) / L, lam1 / L)
            restart = jnp.sum((Z - Wn) * (Wn - W), 0) > 0  # the momentum points uphill: drop it
            t = jnp.where(restart, 1.0, t)
            tn = 0.5 * (1.0 + jnp.sqrt(1.0 + 4.0 * t * t))
            return (Wn, Wn + ((t - 1.0) / tn)[None, :] * (Wn - W), tn), None

        (W, Z, t), _ = jax.lax.scan(it, (W, Z, t), None, length=check_every)
        P, g = primal_and_gap(p, W, p.G @ W, lam1, lam2)
        Wn = jax.lax.cond(jnp.sum(g) < newton_gap * jnp.sum(P), lambda w: _newton(p, w, P, lam1, lam2),
                          lambda w: w, W)
        moved = jnp.any(Wn != W, 0)
        Z = jnp.where(moved[None, :], Wn, Z)
        t = jnp.where(moved, 1.0, t)
        P, g = primal_and_gap(p, Wn, p.G @ Wn, lam1, lam2)
        return Wn, Z, t, P, g, k + check_every

    c0 = (W0, W0, jnp.ones((F,), W0.dtype), P0, g0, jnp.int32(0))
    W, _, _, P, g, k = jax.lax.while_loop(cond, body, c0)
    return W, P, g, k


METHODS = ("cd", "fista")
#: every method of :func:`jaxglass.models.fit_elastic_net` and the cross-validation (the jitted
#: :func:`enet_solve` / :func:`enet_path` take :data:`METHODS`)
FIT_METHODS = ("homotopy", "cd", "fista")


def enet_method(method: str, n_samples: int, n_features: int, *, path: bool = False) -> str:
    """Resolve ``method="auto"``: for a single fit the exact homotopy (:func:`enet_solve_homotopy`;
    measured faster than FISTA and coordinate descent on every problem of ``benchmarks/models.py``);
    for a cross-validation path (``path=True``) FISTA, bounded by its gap/iteration
    budget (measured faster than the exact :func:`enet_path_homotopy` on grids reaching
    ``1e-5 λ₁,max``, where supports fill up; same choice). The jitted :func:`enet_solve` /
    :func:`enet_path` take only :data:`METHODS`."""
    if method == "auto":
        return "fista" if path else "homotopy"
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


# ------------------------------------------------------------------------------------------------
# Exact homotopy (LARS-EN), per target, batched
# ------------------------------------------------------------------------------------------------


_EPS = 1e-12  # smallest denominator and relative pivot the homotopy accepts


class _Event(NamedTuple):
    """The next event of the homotopy below the current ``λ`` (see :func:`_next_event`)."""

    step: jax.Array  # how far λ moves
    end: jax.Array  # the target λ is reached first
    join: jax.Array  # coordinate j joins the active set in free slot f
    drop: jax.Array  # the coordinate in slot kd leaves it
    j: jax.Array
    kd: jax.Array
    f: jax.Array
    d_up: jax.Array  # distances at which each r_j reaches +λ and −λ (the sign of a joining j)
    d_dn: jax.Array
    ok: jax.Array


def _homotopy_one(H, c, lams, K: int, max_steps: int):
    """The elastic-net solution path of one target from ``λ = max|c|`` (``w = 0``) down through the
    descending ``lams``; returns the weights at every ``lams[g]`` ``(G, D)``, the events and ``ok``.

    Minimises ``½ wᵀHw − cᵀw + λ‖w‖₁`` (``H = G + λ₂ I``). On the active set ``A`` with signs ``s`` the
    solution is ``w_A(λ) = H_AA⁻¹ (c_A − λ s_A)``, linear in ``λ``; the path bends where an inactive
    correlation ``r_j = c_j − (Hw)_j`` reaches ``±λ`` (``j`` joins) or an active weight reaches 0 (it
    leaves). ``B = H_AA⁻¹`` lives in ``K`` slots (free slots hold the identity) and is kept by rank-1
    border/Schur updates, ``O(K²)`` per event; the weights at each ``lams[g]`` come from one exact
    solve. ``ok`` is false when the support outgrew ``K`` slots, a pivot vanished (singular
    ``H_AA``) or ``max_steps`` events did not reach the last ``λ``.

    The state is ``(λ, idx, act, sgn, B, joined, dropped, n, done, ok)``: the slots' coordinates,
    whether each slot is active, their signs, the inverse, the slot that joined and the coordinate
    that left at the last event (−1: none), the number of events, and the loop's stop flag."""
    dt = H.dtype
    slots = jnp.arange(K)
    ac = jnp.abs(c)
    j0 = jnp.argmax(ac).astype(jnp.int32)
    lam0 = ac[j0]
    idx = jnp.zeros(K, jnp.int32).at[0].set(j0)
    act = jnp.zeros(K, bool).at[0].set(True)
    sgn = jnp.zeros(K, dt).at[0].set(jnp.sign(c[j0]))
    B = jnp.eye(K, dtype=dt).at[0, 0].set(1.0 / H[j0, j0])
    none = jnp.int32(-1)
    state = (lam0, idx, act, sgn, B, none, none, jnp.int32(0), jnp.bool_(False), jnp.bool_(True))

    def body(st, lam_t):
        return _homotopy_event(H, c, st, lam_t, slots, none, max_steps)

    def to(st, lam_t):
        """Follow the path from ``st`` down to ``lam_t`` (no move if already there or below)."""
        st = st[:8] + (st[0] <= lam_t, st[9])
        st = jax.lax.while_loop(lambda st: ~st[8], lambda st: body(st, lam_t), st)
        return st, _homotopy_weights(H, c, st, lam_t, lam0)

    st, W = jax.lax.scan(to, state, lams)
    return W, st[7], st[9]


def _homotopy_event(H, c, st, lam_t, slots, none, max_steps: int):
    """One event of the homotopy: move ``λ`` to the next join, leave or ``lam_t``, and update the
    active set and its inverse."""
    lam, idx, act, sgn, B, joined, dropped, n, _, ok = st
    m = act.astype(H.dtype)
    ev = _next_event(H, c, st, lam_t, m, slots)
    join, drop, j, kd, f = ev.join, ev.drop, ev.j, ev.kd, ev.f
    B, ok = _update_inverse(H, B, idx, m, ev, slots)
    idx = jnp.where(join, idx.at[f].set(j), idx)
    sgn = jnp.where(join, sgn.at[f].set(jnp.where(ev.d_up[j] <= ev.d_dn[j], 1.0, -1.0)), sgn)
    act = jnp.where(join, act.at[f].set(True), act)
    act = jnp.where(drop, act.at[kd].set(False), act)
    joined = jnp.where(join, f, none)
    dropped = jnp.where(drop, idx[kd], none)
    n = n + 1
    ok = ok & (ev.end | (n < max_steps))
    return lam - ev.step, idx, act, sgn, B, joined, dropped, n, ev.end | ~ok, ok


def _next_event(H, c, st, lam_t, m, slots) -> _Event:
    """How far ``λ`` moves before an inactive ``r_j`` reaches ``±λ``, an active weight reaches 0 or
    ``λ`` reaches ``lam_t``, and which of them happens (``ok`` false if no slot is free to join)."""
    lam, idx, act, sgn, B, joined, dropped, _, _, ok = st
    D, dt = H.shape[0], H.dtype
    wK = m * (B @ (m * (c[idx] - lam * sgn)))
    uK = m * (B @ (m * sgn))  # w_A(λ − δ) = w_A + δ u
    ra = H @ jnp.zeros((D, 2), dt).at[idx].add(jnp.stack([wK, uK], 1))
    r, a = c - ra[:, 0], ra[:, 1]  # r_j(λ − δ) = r_j − δ a_j
    free_j = ~jnp.zeros(D, bool).at[idx].max(act) & (jnp.arange(D) != dropped)
    lo, hi = 1.0 - a, 1.0 + a
    d_up = jnp.where(lo > _EPS, jnp.maximum(lam - r, 0.0) / jnp.where(lo > _EPS, lo, 1.0), jnp.inf)
    d_dn = jnp.where(hi > _EPS, jnp.maximum(lam + r, 0.0) / jnp.where(hi > _EPS, hi, 1.0), jnp.inf)
    d_join = jnp.where(free_j, jnp.minimum(d_up, d_dn), jnp.inf)
    j = jnp.argmin(d_join).astype(jnp.int32)
    leaving = act & (sgn * uK < 0) & (slots != joined)
    d_drop = jnp.where(leaving, jnp.abs(wK) / jnp.where(uK != 0, jnp.abs(uK), 1.0), jnp.inf)
    kd = jnp.argmin(d_drop).astype(jnp.int32)
    d_end = lam - lam_t
    step = jnp.minimum(jnp.minimum(d_join[j], d_drop[kd]), d_end)
    end = d_end <= step
    join = ~end & (d_join[j] <= d_drop[kd])
    drop = ~end & ~join
    f = jnp.argmin(act).astype(jnp.int32)  # first free slot
    ok = ok & ~(join & act[f])
    join = join & ~act[f]
    return _Event(step, end, join, drop, j, kd, f, d_up, d_dn, ok)


def _update_inverse(H, B, idx, m, ev: _Event, slots):
    """``B ← B + α z zᵀ + β e_g e_gᵀ``: a bordered inverse when ``j`` joins slot ``f``, a Schur
    downdate when slot ``kd`` leaves (free slots hold the identity); ``ok`` false on a vanishing pivot."""
    dt = H.dtype
    join, j, kd, f = ev.join, ev.j, ev.kd, ev.f
    h = H[j, idx] * m
    bv = B @ h
    schur = H[j, j] - h @ bv
    ok = ev.ok & ~(join & (schur <= _EPS * H[j, j]))
    ef = (slots == f).astype(dt)
    v = B[:, kd]
    z = jnp.where(join, bv - ef, v)
    alpha = jnp.where(join, 1.0 / jnp.where(schur > 0, schur, 1.0),
                      -1.0 / jnp.where(v[kd] != 0, v[kd], 1.0))
    g = jnp.where(join, f, kd)
    eg = (slots == g).astype(dt)
    upd = join | ev.drop
    rank = alpha * jnp.outer(z, z) + jnp.where(join, -1.0, 1.0) * jnp.outer(eg, eg)
    return jnp.where(upd & ok, B + rank, B), ok


def _homotopy_weights(H, c, st, lam_t, lam0):
    """The weights ``(D,)`` at ``lam_t`` on the active set of ``st``, by one exact solve."""
    _, idx, act, sgn, *_ = st
    D, dt = H.shape[0], H.dtype
    m = act.astype(dt)
    M = H[idx[:, None], idx[None, :]] * m[:, None] * m[None, :] + jnp.diag(1.0 - m)
    wK = m * jnp.linalg.solve(M, m * (c[idx] - lam_t * sgn))
    w = jnp.zeros(D, dt).at[idx].add(wK)
    return jnp.where(lam_t < lam0, w, 0.0)  # at or above max|c|: w = 0


@functools.partial(jax.jit, static_argnames=("K", "max_steps"))
def _homotopy(G, C, lams, lam2, K: int, max_steps: int):
    """All targets (columns of ``C``) along the descending ``lams``: ``W`` ``(G, D, F)``."""
    H = G + lam2 * jnp.eye(G.shape[0], dtype=G.dtype)
    one = functools.partial(_homotopy_one, K=K, max_steps=max_steps)
    return jax.vmap(one, in_axes=(None, 1, None), out_axes=(2, 0, 0))(H, C, lams)


def _homotopy_path(p: GramProblem, lams, lam2, k: int, max_steps: int | None):
    """Weights ``(G, D, F)`` along the descending ``lams``, the events of the slowest target, and
    which targets finished (slots doubled for targets whose support outgrew them)."""
    D, F = p.C.shape
    dt = p.C.dtype
    max_steps = int(max_steps or 4 * D + 64)
    K = min(D, max(8, int(k)))
    W = jnp.zeros((len(lams), D, F), dt)
    todo = np.arange(F)
    ok_all = np.zeros(F, bool)
    events = 0
    while todo.size:
        pad = 1 << int(np.ceil(np.log2(todo.size)))  # few compiled shapes: pad with c = 0 targets
        Cs = jnp.zeros((D, pad), dt).at[:, : todo.size].set(p.C[:, todo])
        Ws, n, ok = _homotopy(p.G, Cs, lams, lam2, K, max_steps)
        ok = np.asarray(ok[: todo.size])
        W = W.at[:, :, todo].set(Ws[:, :, : todo.size])
        events = max(events, int(jnp.max(n[: todo.size])))
        ok_all[todo[ok]] = True
        nnz = np.asarray(jnp.max(jnp.sum(Ws[:, :, : todo.size] != 0, 1), 0))
        if K >= D:
            break
        todo = todo[~ok & (nnz >= K - 1)]  # rerun only those that ran out of slots
        K = min(D, 2 * K)
    return W, events, ok_all


def enet_path_homotopy(p: GramProblem, lam1s, lam2, *, tol=1e-7, k: int = 32, max_steps: int | None = None,
                       max_sweeps: int = 20000) -> ENetSolution:
    """Exact solutions at every ``lam1s`` (any order) from one homotopy per target (all targets
    batched); fields with a leading path axis like :func:`enet_path`, ``n_sweeps`` the events of
    the slowest target. A grid point whose relative duality gap is above ``tol`` (a target the path
    could not finish, e.g. a numerically singular active block at ``λ₂ = 0``) is finished by
    coordinate descent from the path's weights (:func:`enet_solve`)."""
    dt = p.C.dtype
    lam1s = np.asarray(lam1s, np.float64).ravel()
    order = np.argsort(-lam1s, kind="stable")
    lam2 = jnp.asarray(lam2, dt)
    W, events, _ = _homotopy_path(p, jnp.asarray(lam1s[order], dt), lam2, k, max_steps)
    W = W[np.argsort(order)]
    lams = jnp.asarray(lam1s, dt)
    P, g = jax.vmap(lambda w, l1: primal_and_gap(p, w, p.G @ w, l1, lam2))(W, lams)
    n = np.full(len(lam1s), events, np.int32)
    for i in np.flatnonzero(np.asarray(g.sum(1)) > tol * np.asarray(P.sum(1))):
        sol = enet_solve(p, lams[i], lam2, W[i], tol=tol, max_sweeps=max_sweeps)
        W, P, g = W.at[i].set(sol.W), P.at[i].set(sol.primal), g.at[i].set(sol.gap)
        n[i] += int(sol.n_sweeps)
    b = p.y_mean[None] - jnp.einsum("d,gdf->gf", p.x_mean, W)
    return ENetSolution(W, b, P, g, jnp.asarray(n))


def enet_solve_homotopy(p: GramProblem, lam1, lam2, *, tol=1e-7, k: int = 32, max_steps: int | None = None,
                        max_sweeps: int = 20000) -> ENetSolution:
    """Exact solution of every target by the elastic-net homotopy (LARS-EN: Efron et al. 2004, Zou &
    Hastie 2005), followed from ``W = 0`` at ``λ₁ = max|C_f|`` down to ``lam1``, all targets batched
    (``vmap`` over a ``while_loop``).

    Each event (a coordinate joins or leaves the support) costs one ``G``-product and an ``O(k²)``
    update of the active inverse, so a target costs ``O(steps · (D + k²))`` with ``steps`` about its
    support size, against ``O(D²)`` per coordinate-descent sweep. Targets whose support outgrows
    ``k`` slots are rerun with twice the slots; a target the path cannot finish (a singular active
    block at ``λ₂ = 0``) and any target left above the duality gap ``tol`` are finished by
    coordinate descent (:func:`enet_solve`). ``n_sweeps`` holds the events of the slowest target
    (plus any finishing sweeps). Not jitted as a whole (a Python loop over slot counts).
    """
    dt = p.C.dtype
    lam1, lam2 = jnp.asarray(lam1, dt), jnp.asarray(lam2, dt)
    W, events, _ = _homotopy_path(p, lam1[None], lam2, k, max_steps)
    W = W[0]
    P, g = primal_and_gap(p, W, p.G @ W, lam1, lam2)
    if float(jnp.sum(g)) <= tol * float(jnp.sum(P)):
        return ENetSolution(W, p.y_mean - p.x_mean @ W, P, g, jnp.int32(events))
    sol = enet_solve(p, lam1, lam2, W, tol=tol, max_sweeps=max_sweeps)
    return sol._replace(n_sweeps=sol.n_sweeps + events)
