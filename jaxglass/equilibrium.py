"""Derivatives at equilibrium: implicit differentiation through relaxation.

At a minimum ``x*(θ)`` of ``E(x; θ)`` the gradient vanishes, ``∇_x E(x*, θ) = 0``, so by the implicit
function theorem ``dx*/dθ = -H⁻¹ ∂²E/∂x∂θ`` with ``H = ∇²_x E`` at ``x*``. In reverse mode, given the
cotangent ``x̄`` of ``x*``: solve ``H u = x̄`` and ``θ̄ = -∇_θ [∇_x E(x*, θ) · u]`` (one VJP).

The d uniform translations are zero modes of ``H`` (the energy depends on neighbour vectors only):
they are projected out of the right-hand side and of the solution by subtracting the mean
displacement per Cartesian direction (a mass-independent projector), so the solve runs on the
complement, where ``H`` is positive definite at a true minimum. The solve is matrix-free conjugate
gradients on Hessian-vector products (:func:`jaxglass.hessian.hvp`); a negative curvature, a solve
that does not converge or a structure whose forces are not small raise :class:`UserError` (field
``structure``) instead of returning a silently wrong derivative.

What is held fixed: the neighbour lists are built once at the minimum and reused in the backward pass
(exact for the derivative, which is local to ``x*``; finite displacements large enough to change the
lists are outside its scope). The forward pass runs the host minimiser (L-BFGS,
:func:`jaxglass.minimize.minimize`) on concrete values, like ``modes.pdos(backend="host")``: call
these functions outside ``jax.jit``/``vmap`` (``jax.grad`` is fine); the backward pass is pure JAX.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ._config import require_x64
from .errors import UserError
from .hessian import as_f64, hvp, is_traced
from .minimize import minimize
from .potentials.base import Potential
from .structure import Structure

__all__ = ["equilibrium_positions", "project_translations", "relaxed_positions", "solve_hessian"]


def project_translations(v: jax.Array) -> jax.Array:
    """``v`` ``(N, d)`` minus its mean over atoms per Cartesian direction (removes the d translations)."""
    return v - jnp.mean(v, axis=0, keepdims=True)


@jax.jit
def _cg(potential, structure, nbrs, b, tol, maxiter):
    """CG for ``P H P u = P b``; returns ``(u, iterations, relative residual, min curvature pᵀHp/pᵀp)``."""

    def matvec(v):
        return project_translations(hvp(potential, structure, nbrs, project_translations(v)))

    b = project_translations(b)
    bnorm = jnp.sqrt(jnp.vdot(b, b))
    scale = jnp.where(bnorm > 0, bnorm, 1.0)

    def cond(c):
        _, r, _, rs, k, curv = c
        return (jnp.sqrt(rs) > tol * scale) & (k < maxiter) & (curv > 0)

    def body(c):
        x, r, p, rs, k, curv = c
        ap = matvec(p)
        pap = jnp.vdot(p, ap)
        curv = jnp.minimum(curv, pap / jnp.vdot(p, p))
        alpha = jnp.where(pap > 0, rs / pap, 0.0)
        x = x + alpha * p
        r = r - alpha * ap
        rs_new = jnp.vdot(r, r)
        return x, r, r + (rs_new / rs) * p, rs_new, k + 1, curv

    init = (jnp.zeros_like(b), b, b, bnorm**2, 0, jnp.asarray(jnp.inf, b.dtype))
    x, _, _, rs, k, curv = jax.lax.while_loop(cond, body, init)
    return project_translations(x), k, jnp.sqrt(rs) / scale, curv


def solve_hessian(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array],
    b: jax.Array,
    *,
    tol: float = 1e-10,
    maxiter: int | None = None,
) -> jax.Array:
    """Solve ``H u = b`` on the complement of the translations (matrix-free CG), ``(N, d)``.

    ``b`` and ``u`` have their mean per direction removed. Raises :class:`UserError` (``structure``)
    when CG meets negative curvature (not a minimum) or does not reach the relative residual ``tol``
    within ``maxiter`` iterations (default ``10 N d``); traced inputs skip these checks.
    """
    n, d = structure.positions.shape
    maxiter = 10 * n * d if maxiter is None else int(maxiter)
    u, k, res, curv = _cg(potential, structure, tuple(nbrs), b, tol, maxiter)
    if is_traced(u):
        return u
    if float(jnp.vdot(b, b)) > 0 and not float(curv) > 0:
        raise UserError(
            f"structure: the Hessian has non-positive curvature ({float(curv):.3e}) along a CG direction: "
            "the structure is a saddle point, not a minimum, so the implicit derivative does not exist; "
            "relax it further (minimize with a tighter fmax) or perturb it and relax again"
        )
    if not float(res) <= tol:
        raise UserError(
            f"structure: conjugate gradients did not converge (relative residual {float(res):.2e} > "
            f"tol {tol:.1e} after {int(k)} iterations): the Hessian is (nearly) singular beyond the "
            "translations; check the structure is at a true minimum, or loosen tol"
        )
    return u


@jax.jit
def _grad_x(potential, structure, nbrs):
    return jax.grad(lambda x: potential.energy(structure.with_positions(x), nbrs))(structure.positions)


@jax.jit
def _param_vjp(potential, structure, nbrs, u):
    """θ̄ = -∇_θ [∇_x E(x*; θ) · u] (a PyTree like ``potential``)."""
    return jax.grad(lambda p: -jnp.vdot(_grad_x(p, structure, nbrs), u))(potential)


def _max_force(potential, structure, nbrs) -> float:
    g = _grad_x(potential, structure, nbrs)
    return float(jnp.max(jnp.linalg.norm(g, axis=1))) if g.size else 0.0


def _concrete(trees, what):
    if is_traced(trees):
        raise UserError(
            f"potential: {what} runs on the host in the forward pass and cannot be jitted or vmapped; "
            "call it with concrete inputs (jax.grad outside jit is fine)"
        )


def _implicit(potential, structure, forward, tol, maxiter):
    """``x*`` from ``forward(potential, x0) -> (x*, nbrs)`` (host), with the implicit-function VJP."""

    @jax.custom_vjp
    def positions(pot, x0):
        _concrete((pot, x0), "the relaxation")
        return forward(pot, x0)[0]

    def fwd(pot, x0):
        _concrete((pot, x0), "the relaxation")
        xs, nb = forward(pot, x0)
        return xs, (pot, xs, nb)

    def bwd(res, xbar):
        pot, xs, nb = res
        s = structure.with_positions(xs)
        u = solve_hessian(pot, s, nb, xbar, tol=tol, maxiter=maxiter)
        return _param_vjp(pot, s, nb, u), jnp.zeros_like(xs)

    positions.defvjp(fwd, bwd)
    return positions(potential, structure.positions)


def _prepare(potential, structure, what):
    require_x64(f"jaxglass.equilibrium.{what}")
    potential.check(structure)
    _concrete(structure, what)  # the potential may be traced by jax.grad here; fwd checks it is not jitted
    return as_f64(structure)


def _lists(potential, structure, nbrs):
    nb = potential.neighbors(structure) if nbrs is None else nbrs
    return tuple(jnp.asarray(i) for i in nb)


def equilibrium_positions(
    potential: Potential,
    structure: Structure,
    *,
    fmax: float = 1e-6,
    nbrs: Sequence[jax.Array] | None = None,
    tol: float = 1e-10,
    maxiter: int | None = None,
) -> jax.Array:
    """The positions of a structure already at a minimum, differentiable w.r.t. the potential's parameters.

    Returns ``structure.positions`` ``(N, d)`` unchanged; under ``jax.grad`` with respect to the
    potential (its PyTree leaves) the derivative is the implicit one, ``dx*/dθ = -H⁻¹ ∂²E/∂x∂θ`` (the
    derivative with respect to the positions passed in is zero: the minimum does not depend on them).

    Args:
      fmax: the largest per-atom force norm accepted as "at a minimum"; above it :class:`UserError`
        (``structure``) is raised — relax first, or use :func:`relaxed_positions`.
      nbrs: neighbour lists at the minimum (built here if omitted); held fixed in the backward pass.
      tol: relative residual of the CG solve (:func:`solve_hessian`).
      maxiter: CG iteration cap (default ``10 N d``).
    """
    structure = _prepare(potential, structure, "equilibrium_positions")

    def forward(pot, x0):
        nb = _lists(pot, structure, nbrs)
        f = _max_force(pot, structure, nb)
        if not f <= fmax:
            raise UserError(
                f"structure: not at a minimum (largest force {f:.3e} > fmax {fmax:.1e}), so the implicit "
                "derivative does not apply; relax it first (minimize(..., fmax=1e-8)) or use "
                "relaxed_positions"
            )
        return jnp.asarray(x0), nb

    return _implicit(potential, structure, forward, tol, maxiter)


def relaxed_positions(
    potential: Potential,
    structure: Structure,
    *,
    fmax: float = 1e-8,
    max_steps: int = 20000,
    nbrs: Sequence[jax.Array] | None = None,
    tol: float = 1e-10,
    maxiter: int | None = None,
) -> jax.Array:
    """Relax ``structure`` (L-BFGS, host) and return the minimum ``x*(θ)`` ``(N, d)``, differentiable
    with respect to the potential's parameters by the implicit function theorem.

    The forward pass runs :func:`jaxglass.minimize.minimize` on concrete values (call it outside
    ``jax.jit``/``vmap``; ``jax.grad`` is fine); the backward pass solves ``H u = x̄`` by CG on
    Hessian-vector products with the translations projected out and returns
    ``θ̄ = -∇_θ [∇_x E(x*, θ) · u]``. The derivative with respect to the initial positions is zero.

    Args:
      fmax: force tolerance of the relaxation; a run that does not converge raises
        :class:`UserError` (``structure``).
      max_steps: step cap of the relaxation.
      nbrs: neighbour lists *at the minimum*, held fixed in the backward pass (built there if omitted).
      tol: relative residual of the CG solve (:func:`solve_hessian`).
      maxiter: CG iteration cap (default ``10 N d``).
    """
    structure = _prepare(potential, structure, "relaxed_positions")

    def forward(pot, x0):
        res = minimize(pot, structure.with_positions(x0), method="lbfgs", fmax=fmax, max_steps=max_steps)
        if not res.converged:
            raise UserError(f"structure: relaxation to a minimum failed: {res.message}")
        return res.structure.positions, _lists(pot, res.structure, nbrs)

    return _implicit(potential, structure, forward, tol, maxiter)
