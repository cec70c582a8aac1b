"""The linear-algebra core of the kernel polynomial method, for any symmetric ``matvec`` on arrays of
any shape: Lanczos spectral bounds, Chebyshev moments by the three-term recursion, the Jackson kernel
and Chebyshev coefficients (Weiße, Wellein, Alvermann & Fehske, Rev. Mod. Phys. 78, 275 (2006)).
:mod:`jaxglass.kpm` applies them to the dynamical matrix.

:func:`chebyshev_moments` runs the whole recursion in one ``lax.scan`` (jittable, differentiable);
:func:`chebyshev_start` and :func:`chebyshev_steps` cut the same recursion into pieces for a caller that
runs it from the host chunk by chunk (progress reports, a prompt Ctrl-C between chunks).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .errors import UserError

#: Lanczos steps for the spectral bounds and the relative safety margin added on both sides.
LANCZOS_STEPS = 40
BOUND_MARGIN = 0.01


def lanczos_tridiagonal(matvec, v0: jax.Array, steps: int):
    """``steps`` Lanczos steps from ``v0`` (no reorthogonalisation: enough for the extremes).

    Returns the diagonal ``alpha`` ``(steps,)`` and off-diagonal ``beta`` ``(steps,)``; ``beta[-1]``
    is the norm of the last residual.
    """
    v = v0 / jnp.linalg.norm(v0)

    def body(carry, _):
        v_prev, v, b_prev = carry
        w = matvec(v) - b_prev * v_prev
        a = jnp.vdot(w, v)
        w = w - a * v
        b = jnp.linalg.norm(w)
        v_next = w / jnp.where(b > 0, b, 1.0)
        return (v, v_next, b), (a, b)

    _, (alpha, beta) = jax.lax.scan(body, (jnp.zeros_like(v), v, jnp.zeros((), v.dtype)), None, length=steps)
    return alpha, beta


def spectral_bounds(matvec, v0: jax.Array, steps: int = LANCZOS_STEPS, margin: float = BOUND_MARGIN):
    """Interval ``(a, b)`` enclosing the spectrum of the symmetric operator ``matvec``.

    Lanczos Ritz values ``θ`` with residual bounds ``|β_k s_{k,last}|`` (each Ritz interval
    ``θ ± |β s|`` holds an eigenvalue), widened by ``margin`` of the width on both sides; the lower
    end is at most 0 (the translational zero modes of a periodic cell).
    """
    alpha, beta = lanczos_tridiagonal(matvec, v0, steps)
    T = jnp.diag(alpha) + jnp.diag(beta[:-1], 1) + jnp.diag(beta[:-1], -1)
    theta, s = jnp.linalg.eigh(T)
    resid = jnp.abs(beta[-1] * s[-1, :])
    hi = theta[-1] + resid[-1]
    lo = jnp.minimum(theta[0] - resid[0], 0.0)
    width = hi - lo
    return lo - margin * width, hi + margin * width


def jackson_kernel(n_moments: int, dtype=jnp.float64) -> jax.Array:
    """Jackson damping factors ``g_n``, n = 0 … M-1 (Weiße et al., Rev. Mod. Phys. 78, 275, eq. 71)."""
    m = n_moments
    n = jnp.arange(m, dtype=dtype)
    q = jnp.pi / (m + 1)
    return ((m - n + 1) * jnp.cos(q * n) + jnp.sin(q * n) / jnp.tan(q)) / (m + 1)


def chebyshev_moments(matvec, z: jax.Array, n_moments: int) -> jax.Array:
    """``μ_n = ⟨z, T_n(X) z⟩`` for n = 0 … M-1, ``X`` = ``matvec`` (spectrum inside [-1, 1]).

    ``z`` may have any shape (one vector); batch over vectors with ``jax.vmap``. Uses the doubling
    identities: ``ceil(M/2)`` products. The loop body is rematerialised under reverse-mode AD, so a
    gradient stores only the two recursion vectors per step.
    """
    if n_moments < 2:
        raise UserError(f"n_moments: need at least 2 Chebyshev moments, got {n_moments}")
    half = (n_moments + 1) // 2
    t0, t1 = z, matvec(z)
    mu0, mu1 = jnp.vdot(z, z), jnp.vdot(t1, z)

    @jax.checkpoint
    def body(carry, _):
        t_prev, t = carry  # T_{n-1} z, T_n z
        t_next = 2.0 * matvec(t) - t_prev
        return (t, t_next), (2.0 * jnp.vdot(t, t) - mu0, 2.0 * jnp.vdot(t_next, t) - mu1)

    # n = 1 … half-1 gives μ_2 … μ_{2 half - 1}
    _, (even, odd) = jax.lax.scan(body, (t0, t1), None, length=half - 1)
    mu = jnp.concatenate([jnp.stack([mu0, mu1]), jnp.stack([even, odd], axis=1).reshape(-1)])
    return mu[:n_moments]


def chebyshev_coefficients(f, a: float, b: float, n_moments: int, n_nodes: int | None = None) -> jax.Array:
    """Chebyshev coefficients ``c_n`` of ``f(λ)`` on ``[a, b]``: ``f ≈ Σ_n c_n T_n((λ - c)/h)``.

    ``f`` maps ``(K,)`` λ values to ``(..., K)``; returns ``(..., M)``. Chebyshev–Gauss quadrature on
    ``n_nodes`` (default ``2M``) nodes.
    """
    k = 2 * n_moments if n_nodes is None else n_nodes
    theta = jnp.pi * (jnp.arange(k) + 0.5) / k
    x = jnp.cos(theta)
    c, h = 0.5 * (a + b), 0.5 * (b - a)
    fx = f(c + h * x)  # (..., K)
    n = jnp.arange(n_moments)
    tn = jnp.cos(n[:, None] * theta[None, :])  # (M, K)
    coef = fx @ tn.T * (2.0 / k)
    return coef.at[..., 0].multiply(0.5)


def _dots(u: jax.Array, v: jax.Array) -> jax.Array:
    """``⟨u_b, v_b⟩`` for each vector of a batch ``(B, ...)``."""
    return jnp.sum((u * v).reshape(u.shape[0], -1), axis=1)


def chebyshev_start(matvec, z: jax.Array):
    """The start of the recursion of :func:`chebyshev_moments` for a batch ``z`` ``(B, ...)``:
    ``((T_0 z, T_1 z, μ_0, μ_1), (2, B) moments μ_0, μ_1)`` (``matvec`` acts on one vector)."""
    t1 = jax.vmap(matvec)(z)
    mu01 = jnp.stack([_dots(z, z), _dots(t1, z)])
    return (z, t1, mu01), mu01


def chebyshev_steps(matvec, state, n_steps, chunk: int):
    """``n_steps`` (≤ ``chunk``, may be traced) further steps of the recursion from ``state``
    (:func:`chebyshev_start`): the new state and the moments ``(chunk, 2, B)``, row ``i`` holding
    ``(μ_{2n}, μ_{2n+1})`` of step ``i`` by the doubling identities (rows past ``n_steps`` are 0)."""
    t_prev, t, mu01 = state
    mv = jax.vmap(matvec)

    def body(i, carry):
        t_prev, t, out = carry
        t_next = 2.0 * mv(t) - t_prev
        return t, t_next, out.at[i].set(2.0 * jnp.stack([_dots(t, t), _dots(t_next, t)]) - mu01)

    out = jnp.zeros((chunk, 2, t.shape[0]), t.dtype)
    t_prev, t, out = jax.lax.fori_loop(0, n_steps, body, (t_prev, t, out))
    return (t_prev, t, mu01), out
