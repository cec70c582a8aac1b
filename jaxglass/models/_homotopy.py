"""The exact elastic-net homotopy (LARS-EN: Efron et al., Ann. Statist. 32, 407 (2004); Zou & Hastie,
J. R. Stat. Soc. B 67, 301 (2005)) on a :class:`~jaxglass.models._enet.GramProblem`: each target's
piecewise-linear solution path followed from ``W = 0`` at its own ``λ₁,max``, all targets batched.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._enet import ENetSolution, GramProblem, enet_solve, gram_dot, primal_and_gap

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


def _homotopy_one(H, c, lams, K: int, max_steps: int, Xs=None, lam2=0.0):
    """The elastic-net solution path of one target from ``λ = max|c|`` (``w = 0``) down through the
    descending ``lams``; returns the weights at every ``lams[g]`` ``(G, D)``, the events and ``ok``.

    Minimises ``½ wᵀHw − cᵀw + λ‖w‖₁`` (``H = G + λ₂ I``). On the active set ``A`` with signs ``s`` the
    solution is ``w_A(λ) = H_AA⁻¹ (c_A − λ s_A)``, linear in ``λ``; the path bends where an inactive
    correlation ``r_j = c_j − (Hw)_j`` reaches ``±λ`` (``j`` joins) or an active weight reaches 0 (it
    leaves). ``B = H_AA⁻¹`` lives in ``K`` slots (free slots hold the identity) and is kept by rank-1
    border/Schur updates, ``O(K²)`` per event; the weights at each ``lams[g]`` come from one exact
    solve. ``ok`` is false when the support outgrew ``K`` slots, a pivot vanished (singular
    ``H_AA``) or ``max_steps`` events did not reach the last ``λ``. With the factor ``Xs`` of ``G``
    (:func:`~jaxglass.models._enet.gram_problem`) the products ``H v`` of an event cost ``O(n D)``,
    else ``O(D²)``.

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

    def hv(idx, V):
        """``H @ v`` for the ``(D, 2)`` vectors whose only nonzero rows are ``V`` ``(K, 2)`` at ``idx``."""
        v = jnp.zeros((H.shape[0], 2), dt).at[idx].add(V)
        return H @ v if Xs is None else Xs.T @ (Xs @ v) + lam2 * v  # over all targets: matrix products

    def body(st, lam_t):
        return _homotopy_event(H, hv, c, st, lam_t, slots, none, max_steps)

    def to(st, lam_t):
        """Follow the path from ``st`` down to ``lam_t`` (no move if already there or below)."""
        st = st[:8] + (st[0] <= lam_t, st[9])
        st = jax.lax.while_loop(lambda st: ~st[8], lambda st: body(st, lam_t), st)
        return st, _homotopy_weights(H, c, st, lam_t, lam0)

    st, W = jax.lax.scan(to, state, lams)
    return W, st[7], st[9]


def _homotopy_event(H, hv, c, st, lam_t, slots, none, max_steps: int):
    """One event of the homotopy: move ``λ`` to the next join, leave or ``lam_t``, and update the
    active set and its inverse."""
    lam, idx, act, sgn, B, joined, dropped, n, _, ok = st
    m = act.astype(H.dtype)
    ev = _next_event(H, hv, c, st, lam_t, m, slots)
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


def _next_event(H, hv, c, st, lam_t, m, slots) -> _Event:
    """How far ``λ`` moves before an inactive ``r_j`` reaches ``±λ``, an active weight reaches 0 or
    ``λ`` reaches ``lam_t``, and which of them happens (``ok`` false if no slot is free to join)."""
    lam, idx, act, sgn, B, joined, dropped, _, _, ok = st
    D = H.shape[0]
    wK = m * (B @ (m * (c[idx] - lam * sgn)))
    uK = m * (B @ (m * sgn))  # w_A(λ − δ) = w_A + δ u
    ra = hv(idx, jnp.stack([wK, uK], 1))  # (H w, H u)
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
def _homotopy(G, C, lams, lam2, K: int, max_steps: int, Xs=None):
    """All targets (columns of ``C``) along the descending ``lams``: ``W`` ``(G, D, F)``."""
    H = G + lam2 * jnp.eye(G.shape[0], dtype=G.dtype)
    one = functools.partial(_homotopy_one, K=K, max_steps=max_steps, Xs=Xs, lam2=lam2)
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
        # few compiled shapes: pad with c = 0 targets to a power of 2 (to a multiple of 64 above 64)
        pad = 1 << int(np.ceil(np.log2(todo.size))) if todo.size <= 64 else -(-todo.size // 64) * 64
        Cs = jnp.zeros((D, pad), dt).at[:, : todo.size].set(p.C[:, todo])
        Ws, n, ok = _homotopy(p.G, Cs, lams, lam2, K, max_steps, p.Xs)
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
    P, g = jax.vmap(lambda w, l1: primal_and_gap(p, w, gram_dot(p, w), l1, lam2))(W, lams)
    n = np.full(len(lam1s), events, np.int32)
    for i in np.flatnonzero(np.asarray(g.sum(1)) > tol * np.asarray(P.sum(1))):
        sol = enet_solve(p, lams[i], lam2, W[i], tol=tol, max_sweeps=max_sweeps,
                         method="cd" if p.Xs is None else "fista")  # FISTA uses the factor
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
