"""Derivatives at equilibrium: implicit differentiation through relaxation.

At a minimum ``x*(θ)`` of ``E(x; θ)`` the gradient vanishes, ``∇_x E(x*, θ) = 0``, so by the implicit
function theorem ``dx*/dθ = -H⁻¹ ∂²E/∂x∂θ`` with ``H = ∇²_x E`` at ``x*``. In reverse mode, given the
cotangent ``x̄`` of ``x*``: solve ``H u = x̄`` and ``θ̄ = -∇_θ [∇_x E(x*, θ) · u]`` (one VJP).

The rigid-body motions are zero modes of ``H`` (the energy depends on neighbour vectors only): the d
uniform translations always, and, at a stationary point, the rotations in every plane spanned by two
non-periodic axes (a cluster: 3 in 3D; a wire periodic along z: the rotation about z; a sheet
periodic in x and y has none, since tilting it breaks its periodic images). They are projected out of
the right-hand side and of the solution with the Euclidean (mass-independent) projector of
:func:`rigid_modes`, so the solve runs on the complement, where ``H`` is positive definite at a true
minimum. The solve is matrix-free conjugate
gradients on Hessian-vector products (:func:`jaxglass.hessian.hvp_operator`); a negative curvature, a solve
that does not converge or a structure whose forces are not small raise :class:`UserError` (field
``structure``) instead of returning a silently wrong derivative.

What is held fixed: the neighbour lists are built once at the minimum and reused in the backward pass
(exact for the derivative, which is local to ``x*``; finite displacements large enough to change the
lists are outside its scope). The forward pass runs the host minimiser (L-BFGS,
:func:`jaxglass.minimize.minimize`) on concrete values, like ``modes.pdos(backend="host")``: call
:func:`relaxed_positions` outside ``jax.jit``/``vmap`` (``jax.grad`` and ``jax.jvp`` are fine); the
backward pass is pure JAX. :func:`equilibrium_positions` with ``nbrs`` given also runs under
``jax.jit`` and ``jax.vmap`` (there its force check is skipped).

:func:`biased_minimum` relaxes ``E(x; θ) + (k/2) Σ_i |x_i - R_i|²`` (:func:`bias_energy`) instead and is
also differentiable with respect to the reference positions ``R`` and ``k``; its Hessian ``H + k I`` has
no zero modes, so nothing is projected out there.

Modes: ``mode="reverse"`` (default) defines a ``jax.custom_vjp`` whose backward pass checks the CG
solve (curvature, convergence); ``mode="forward"`` defines a ``jax.custom_jvp`` whose tangent is
``-H⁻¹ (∂²E/∂x∂θ · θ̇)`` through ``jax.lax.custom_linear_solve`` (symmetric), so ``jax.jvp``,
``jax.jacfwd`` and (by transposition) ``jax.grad`` all work; its checks run only when the tangent is
concrete (``jax.jvp`` outside ``jit``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import jax
import jax.numpy as jnp

from ._config import is_traced, require_x64
from .errors import UserError
from .hessian import as_f64, hvp_operator
from .minimize import minimize
from .potentials.base import Potential
from .space import displacement
from .structure import Structure
from .validation import Integral, Options, Real, validate

__all__ = [
    "bias_energy", "biased_minimum", "equilibrium_positions", "project_translations", "project_zero_modes",
    "relaxed_positions", "rigid_modes", "solve_hessian",
]


def project_translations(v: jax.Array) -> jax.Array:
    """``v`` ``(N, d)`` minus its mean over atoms per Cartesian direction (removes the d translations)."""
    return v - jnp.mean(v, axis=0, keepdims=True)


def rigid_modes(structure: Structure) -> jax.Array:
    """Orthonormal rigid-body zero modes ``(m, N, d)`` of a structure's Hessian (Euclidean metric).

    The d uniform translations, then one rotation about the centroid for every pair of non-periodic
    axes ``(a, b)`` (``v_a = -(x_b - c_b)``, ``v_b = x_a - c_a``): 0 rotations for a bulk or a sheet
    periodic in two of three axes, 1 for a wire (one periodic axis in 3D), 3 for a 3D cluster, 1 for a
    2D cluster. Rotations are zero modes only at a stationary point (zero forces). Pure (jit-able).
    """
    x = jnp.asarray(structure.positions)
    n, d = x.shape
    vecs = [jnp.zeros_like(x).at[:, a].set(1.0) for a in range(d)]
    free = [a for a in range(d) if not structure.periodic[a]]
    xc = x - jnp.mean(x, axis=0)
    for i, a in enumerate(free):
        for b in free[i + 1:]:
            vecs.append(jnp.zeros_like(x).at[:, a].set(-xc[:, b]).at[:, b].set(xc[:, a]))
    q, _ = jnp.linalg.qr(jnp.stack([v.reshape(-1) for v in vecs], axis=1))
    return q.T.reshape(len(vecs), n, d)


def project_zero_modes(v: jax.Array, modes: jax.Array) -> jax.Array:
    """``v`` ``(N, d)`` minus its components along the orthonormal ``modes`` ``(m, N, d)``."""
    c = jnp.tensordot(modes, v, axes=((1, 2), (0, 1)))
    return v - jnp.tensordot(c, modes, axes=(0, 0))


@jax.jit
def _cg(potential, structure, nbrs, modes, b, tol, maxiter):
    """CG for ``P H P u = P b`` (P removes ``modes``); returns ``(u, iterations, relative residual,
    min curvature pᵀHp/pᵀp)``."""

    def proj(v):
        return project_zero_modes(v, modes)

    H = hvp_operator(potential, structure, nbrs)  # built once: the loop's products are cheap

    def matvec(v):
        return proj(H(proj(v)))

    b = proj(b)
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
    return proj(x), k, jnp.sqrt(rs) / scale, curv


def solve_hessian(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array],
    b: jax.Array,
    *,
    tol: float = 1e-10,
    maxiter: int | None = None,
    zero_modes: jax.Array | None = None,
) -> jax.Array:
    """Solve ``H u = b`` on the complement of the rigid-body zero modes (matrix-free CG), ``(N, d)``.

    ``b`` and ``u`` have their components along ``zero_modes`` (default :func:`rigid_modes`: the
    translations; also the rotations of non-periodic directions, see there) removed; pass an empty
    ``(0, N, d)`` array when the energy has none (a restrained energy, :func:`biased_minimum`).
    Raises :class:`UserError` (``structure``) when CG meets negative curvature (not a minimum) or
    does not reach the relative residual ``tol`` within ``maxiter`` iterations (default ``10 N d``);
    traced inputs skip these checks.
    """
    n, d = structure.positions.shape
    maxiter = 10 * n * d if maxiter is None else int(maxiter)
    zm = rigid_modes(structure) if zero_modes is None else jnp.asarray(zero_modes)
    u, k, res, curv = _cg(potential, structure, tuple(nbrs), zm, b, tol, maxiter)
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


def _implicit(potential, structure, forward, tol, maxiter, mode, zero_modes=rigid_modes):
    """``x*`` from ``forward(potential, x0) -> (x*, nbrs)`` with the implicit-function VJP or JVP;
    ``zero_modes(structure)`` gives the null space projected out of the solve."""
    if mode == "forward":
        return _implicit_jvp(potential, structure, forward, tol, maxiter, zero_modes)

    @jax.custom_vjp
    def positions(pot, x0):
        return forward(pot, x0)[0]

    def fwd(pot, x0):
        xs, nb = forward(pot, x0)
        return xs, (pot, xs, nb)

    def bwd(res, xbar):
        pot, xs, nb = res
        s = structure.with_positions(xs)
        u = solve_hessian(pot, s, nb, xbar, tol=tol, maxiter=maxiter, zero_modes=zero_modes(s))
        return _param_vjp(pot, s, nb, u), jnp.zeros_like(xs)

    positions.defvjp(fwd, bwd)
    return positions(potential, structure.positions)


@jax.jit
def _linear_solve(potential, structure, nbrs, modes, b, tol, maxiter):
    """``u = H⁺ b`` on the complement of ``modes`` as a transposable linear map of ``b`` (symmetric H)."""

    H = hvp_operator(potential, structure, nbrs)

    def matvec(v):
        return project_zero_modes(H(project_zero_modes(v, modes)), modes)

    def solve(_, rhs):
        return _cg(potential, structure, nbrs, modes, rhs, tol, maxiter)[0]

    return jax.lax.custom_linear_solve(matvec, project_zero_modes(b, modes), solve, symmetric=True)


def _implicit_jvp(potential, structure, forward, tol, maxiter, zero_modes):
    """Forward-mode variant: ``ẋ* = -H⁻¹ (∂²E/∂x∂θ · θ̇)`` (``jax.jvp``; ``jax.grad`` by transposition)."""

    @jax.custom_jvp
    def positions(pot, x0):
        return forward(pot, x0)[0]

    @positions.defjvp
    def jvp(primals, tangents):
        pot, x0 = primals
        xs, nb = forward(pot, x0)
        s = structure.with_positions(xs)
        rhs = -jax.jvp(lambda p: _grad_x(p, s, nb), (pot,), (tangents[0],))[1]
        if is_traced(rhs):
            cap = 10 * rhs.size if maxiter is None else maxiter
            return xs, _linear_solve(pot, s, nb, zero_modes(s), rhs, tol, cap)
        return xs, solve_hessian(pot, s, nb, rhs, tol=tol, maxiter=maxiter, zero_modes=zero_modes(s))

    return positions(potential, structure.positions)


def _prepare(potential, structure, what, allow_traced=False):
    require_x64(f"jaxglass.equilibrium.{what}")
    potential.check(structure)
    if not allow_traced:
        _concrete(structure, what)  # the potential may be traced by jax.grad; forward checks it is not jitted
    return as_f64(structure)


def _lists(potential, structure, nbrs):
    nb = potential.neighbors(structure) if nbrs is None else nbrs
    return tuple(jnp.asarray(i) for i in nb)


_COMMON = {
    "fmax": [Real(0, None, closed="neither"), "a force tolerance > 0, e.g. 1e-8"],
    "tol": [Real(0, 1, closed="neither"), "a relative CG residual in (0, 1), e.g. 1e-10"],
    "maxiter": [None, Integral(1, None), "a positive iteration cap, or None for 10 N d"],
    "mode": [Options("reverse", "forward")],
}


@validate(_COMMON)
def equilibrium_positions(
    potential: Potential,
    structure: Structure,
    *,
    fmax: float = 1e-6,
    nbrs: Sequence[jax.Array] | None = None,
    tol: float = 1e-10,
    maxiter: int | None = None,
    mode: str = "reverse",
) -> jax.Array:
    """The positions of a structure already at a minimum, differentiable w.r.t. the potential's parameters.

    Returns ``structure.positions`` ``(N, d)`` unchanged; under ``jax.grad`` (or, with
    ``mode="forward"``, ``jax.jvp``) with respect to the potential (its PyTree leaves) the derivative is
    the implicit one, ``dx*/dθ = -H⁻¹ ∂²E/∂x∂θ`` (the derivative with respect to the positions passed
    in is zero: the minimum does not depend on them). With ``nbrs`` given it also runs under
    ``jax.jit``/``jax.vmap``, where the force check below and the CG checks are skipped.

    Args:
      fmax: the largest per-atom force norm accepted as "at a minimum"; above it :class:`UserError`
        (``structure``) is raised — relax first, or use :func:`relaxed_positions`.
      nbrs: neighbour lists at the minimum (built here if omitted); held fixed in the backward pass.
      tol: relative residual of the CG solve (:func:`solve_hessian`).
      maxiter: CG iteration cap (default ``10 N d``).
      mode: ``"reverse"`` (custom VJP, checked solve) or ``"forward"`` (custom JVP; see the module).
    """
    if nbrs is None and is_traced(structure):
        raise UserError(
            "nbrs: equilibrium_positions was called inside jax.jit/vmap without neighbour lists; pass "
            "nbrs=potential.neighbors(structure) built outside the transformed function"
        )
    structure = _prepare(potential, structure, "equilibrium_positions", allow_traced=nbrs is not None)

    def forward(pot, x0):
        nb = _lists(pot, structure, nbrs)
        if is_traced(pot, x0):
            return x0, nb
        f = _max_force(pot, structure, nb)
        if not f <= fmax:
            raise UserError(
                f"structure: not at a minimum (largest force {f:.3e} > fmax {fmax:.1e}), so the implicit "
                "derivative does not apply; relax it first (minimize(..., fmax=1e-8)) or use "
                "relaxed_positions"
            )
        return jnp.asarray(x0), nb

    return _implicit(potential, structure, forward, tol, maxiter, mode)


@validate(_COMMON | {"max_steps": [Integral(1, None), "a positive step cap, e.g. 20000"]})
def relaxed_positions(
    potential: Potential,
    structure: Structure,
    *,
    fmax: float = 1e-8,
    max_steps: int = 20000,
    nbrs: Sequence[jax.Array] | None = None,
    tol: float = 1e-10,
    maxiter: int | None = None,
    mode: str = "reverse",
) -> jax.Array:
    """Relax ``structure`` (L-BFGS, host) and return the minimum ``x*(θ)`` ``(N, d)``, differentiable
    with respect to the potential's parameters by the implicit function theorem.

    The forward pass runs :func:`jaxglass.minimize.minimize` on concrete values (call it outside
    ``jax.jit``/``vmap``; ``jax.grad`` and ``jax.jvp`` are fine); the backward pass solves
    ``H u = x̄`` by CG on Hessian-vector products with the rigid-body zero modes projected out and
    returns ``θ̄ = -∇_θ [∇_x E(x*, θ) · u]``. The derivative with respect to the initial positions is
    zero.

    Args:
      fmax: force tolerance of the relaxation; a run that does not converge raises
        :class:`UserError` (``structure``).
      max_steps: step cap of the relaxation.
      nbrs: neighbour lists *at the minimum*, held fixed in the backward pass (built there if omitted).
      tol: relative residual of the CG solve (:func:`solve_hessian`).
      maxiter: CG iteration cap (default ``10 N d``).
      mode: ``"reverse"`` (custom VJP, checked solve) or ``"forward"`` (custom JVP: ``jax.jvp``,
        ``jax.jacfwd``; ``jax.grad`` by transposition, checks only with concrete tangents).
    """
    structure = _prepare(potential, structure, "relaxed_positions")
    return _implicit(potential, structure, _relaxer(structure, fmax, max_steps, nbrs), tol, maxiter, mode)


def _relaxer(structure, fmax, max_steps, nbrs):
    """The host forward pass: L-BFGS from ``x0`` to a minimum of ``pot``, and the lists there."""

    def forward(pot, x0):
        _concrete((pot, x0), "the relaxation")
        res = minimize(pot, structure.with_positions(x0), method="lbfgs", fmax=fmax, max_steps=max_steps)
        if not res.converged:
            raise UserError(f"structure: relaxation to a minimum failed: {res.message}")
        return res.structure.positions, _lists(pot, res.structure, nbrs)

    return forward


def bias_energy(structure: Structure, reference: jax.Array, k) -> jax.Array:
    """Harmonic restraint ``(k/2) Σ_i |x_i - R_i|²`` (minimum image) of ``structure`` to ``reference``
    ``(N, d)``, with spring constant ``k`` (energy / length², a scalar). Pure (jit/grad/vmap)."""
    dx = displacement(structure.positions - reference, structure.box, structure.periodic)
    return 0.5 * jnp.asarray(k) * jnp.sum(dx * dx)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True, eq=False)
class _Restrained:
    """``potential`` plus :func:`bias_energy` to ``reference`` (leaves: the potential's parameters,
    ``reference`` and ``k``). Only what :func:`minimize` and the implicit solve use: the energy, the
    checks and the neighbour lists of the physical terms (the Hessian assembly would miss the bias,
    so this stays private to this module)."""

    potential: Potential
    reference: jax.Array
    k: jax.Array

    @property
    def terms(self):
        return self.potential.terms

    @property
    def cutoff(self) -> float:
        return self.potential.cutoff

    #: No explicit forces of its own (the bias is in the energy only): Hessian-vector products take
    #: forward-over-reverse of :meth:`energy` (:func:`jaxglass.hessian.hvp`).
    gather_only_forces = explicit_forces = False

    def hvp_operator(self, structure: Structure, nbrs):
        """None: :func:`jaxglass.hessian.hvp_operator` then differentiates :meth:`energy` (the bias too)."""
        return None

    def check(self, structure: Structure) -> None:
        self.potential.check(structure)

    def species_map(self, structure: Structure):
        return self.potential.species_map(structure)

    def species_indices(self, structure: Structure):
        return self.potential.species_indices(structure)

    def neighbors(self, structure: Structure, skin: float = 0.0):
        return self.potential.neighbors(structure, skin)

    def energy(self, structure: Structure, nbrs: Sequence[jax.Array]) -> jax.Array:
        return self.potential.energy(structure, nbrs) + bias_energy(structure, self.reference, self.k)


def _no_zero_modes(structure: Structure) -> jax.Array:
    return jnp.zeros((0,) + structure.positions.shape, structure.positions.dtype)


@validate(_COMMON | {
    "k": [Real(0, None, closed="neither"), "a spring constant > 0 (energy / length²), e.g. 1.0"],
    "max_steps": [Integral(1, None), "a positive step cap, e.g. 20000"],
})
def biased_minimum(
    potential: Potential,
    structure: Structure,
    reference: jax.Array,
    k: float,
    *,
    fmax: float = 1e-8,
    max_steps: int = 20000,
    nbrs: Sequence[jax.Array] | None = None,
    tol: float = 1e-10,
    maxiter: int | None = None,
    mode: str = "reverse",
) -> jax.Array:
    """The minimum ``x*(R, θ)`` ``(N, d)`` of ``E(x; θ) + (k/2) Σ_i |x_i - R_i|²`` (:func:`bias_energy`),
    relaxed from ``structure.positions``, differentiable with respect to the reference positions
    ``R`` (``reference``), ``k`` and the potential's parameters.

    The restraint makes the reference positions design variables that the relaxation maps to
    (restrained) minima: ``dx*/dR = k (H + k I)⁻¹`` with ``H`` the physical Hessian at ``x*``, by the
    implicit function theorem as in :func:`relaxed_positions` (same forward pass, CG backward pass).
    The restraint breaks translation and rotation invariance, so no zero modes are projected out:
    ``H + k I`` is positive definite at a restrained minimum (CG checks it). ``x*`` is not a minimum of
    the physical energy (its forces are ``k (x* - R)``); relax it without the restraint
    (:func:`jaxglass.minimize.minimize`) to get one. Arguments as in :func:`relaxed_positions`; ``k``
    is a scalar (energy / length²), ``reference`` has the shape of ``structure.positions``.
    """
    structure = _prepare(potential, structure, "biased_minimum")
    if tuple(jnp.shape(reference)) != tuple(structure.positions.shape):
        raise UserError(
            f"reference: expected reference positions of shape {tuple(structure.positions.shape)} "
            f"(the structure's positions), got {tuple(jnp.shape(reference))}"
        )
    dtype = structure.positions.dtype
    wrapped = _Restrained(potential, jnp.asarray(reference, dtype), jnp.asarray(k, dtype))
    forward = _relaxer(structure, fmax, max_steps, nbrs)
    return _implicit(wrapped, structure, forward, tol, maxiter, mode, zero_modes=_no_zero_modes)
