"""First-order perturbation theory of Γ-point spectra and the Jacobians of the linear structure→spectrum map.

The linear relation y = W g + b of Wang, Cheng & Chen rests on first-order perturbation theory: a
small displacement field δx changes the dynamical matrix by δD = (∂D/∂x)·δx, each eigenvalue by

    δλ_n = ⟨e_n|δD|e_n⟩       (inside a degenerate subspace: the eigenvalues of Vᵀ δD V there),

and the PDOS by Σ_n ∂PDOS/∂λ_n δλ_n. This module computes those quantities with autodiff (δD by a
JVP of the Hessian assembly, so no finite differences), checks them against exact
re-diagonalisation, and compares the two Jacobians of the paper's claim:

* ``J_y = ∂PDOS/∂x`` (F × N d) of the exact route (potential → Hessian → eigenvalues → PDOS), and
* ``J_g = ∂g/∂x`` (R × N d) of the smoothed RDF,

through ``J_y ≈ W J_g`` for a trained linear model ``W`` (consistency of the learned map with the
physics) and through the "physics kernel" ``W_phys`` fitted by least squares to pooled
(J_g δx, J_y δx) pairs. It also gives per-atom sensitivity maps of a spectral feature by both
routes, and gradient-based inverse design through either route.

Units: positions Å (σ for LJ); PDOS in 1/THz (1/ω for LJ); g(r) dimensionless; eigenvalues of the
dynamical matrix in eV/Å²/amu (ε/(σ² m) for LJ).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ._config import require_x64
from .errors import UserError
from .hessian import as_f64, dynamical_matrix
from .modes import DEGENERACY_RTOL, dos, pdos, to_frequencies
from .potentials.base import Potential
from .rdf import rdf, rdf_neighbors
from .structure import Structure

# -------------------------------------------------------------------------------------------
# (a) first-order shifts of the eigenvalues and of the PDOS


def dynamical_matrix_jvp(
    potential: Potential, structure: Structure, nbrs: Sequence, dx: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """``(D, δD)``: the dynamical matrix and its directional derivative along ``dx`` ``(N, d)``."""
    require_x64("jaxglass.perturb.dynamical_matrix_jvp")
    structure = as_f64(structure)
    nb = tuple(jnp.asarray(i) for i in nbrs)

    def dmat(x):
        return dynamical_matrix(potential, structure.with_positions(x), nb)

    return jax.jvp(dmat, (structure.positions,), (jnp.asarray(dx, structure.positions.dtype),))


def first_order_shifts(D, dD, rtol: float = DEGENERACY_RTOL) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvalues ``λ`` of ``D`` and their first-order shifts ``δλ`` under ``D + δD`` (host, numpy).

    Degenerate subspaces (|λ_i - λ_j| ≤ rtol · max|λ|) are diagonalised: their shifts are the
    ascending eigenvalues of ``V_Bᵀ δD V_B``, so ``λ + ε δλ`` matches the sorted exact eigenvalues of
    ``D + ε δD`` to O(ε²).
    """
    D = np.asarray(D, dtype=np.float64)
    dD = np.asarray(dD, dtype=np.float64)
    dD = 0.5 * (dD + dD.T)
    lam, v = np.linalg.eigh(D)
    w = v.T @ dD @ v
    shifts = np.empty_like(lam)
    tol = rtol * max(float(np.max(np.abs(lam))), np.finfo(float).tiny)
    start = 0
    for end in range(1, len(lam) + 1):
        if end == len(lam) or lam[end] - lam[end - 1] > tol:
            blk = slice(start, end)
            shifts[blk] = np.linalg.eigvalsh(w[blk, blk]) if end - start > 1 else w[start, start]
            start = end
    return lam, shifts


def _blocks(lam: np.ndarray, rtol: float) -> list[slice]:
    tol = rtol * max(float(np.max(np.abs(lam))), np.finfo(float).tiny)
    out, start = [], 0
    for end in range(1, len(lam) + 1):
        if end == len(lam) or lam[end] - lam[end - 1] > tol:
            out.append(slice(start, end))
            start = end
    return out


def first_order_eigenvalues(lam, w, eps: float, rtol: float = 1e-6) -> np.ndarray:
    """Quasi-degenerate first-order eigenvalues of ``D + ε δD`` (host, numpy).

    ``lam`` are the ascending eigenvalues of ``D`` and ``w = Vᵀ δD V``; levels closer than
    ``rtol · max|λ|`` form one block whose eigenvalues are those of ``diag(λ_B) + ε w_B``. For exactly
    degenerate levels this is ``λ + ε δλ`` with :func:`first_order_shifts`; for nearly degenerate
    ones (split by round-off or by a residual distortion of a crystal) it keeps the error O(ε²)
    where the non-degenerate formula would leave an O(ε) error once ε |δD| exceeds the splitting.
    """
    lam = np.asarray(lam, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    out = np.empty_like(lam)
    for blk in _blocks(lam, rtol):
        out[blk] = np.linalg.eigvalsh(np.diag(lam[blk]) + eps * w[blk, blk])
    return np.sort(out)


@dataclasses.dataclass(frozen=True)
class PerturbationCheck:
    """First-order theory vs exact re-diagonalisation along ``dx`` at amplitudes ``eps``.

    ``eig_error[k]`` = max_n |λ_n(x + ε_k dx) - λ_n^(1)(ε_k)| (eV/Å²/amu) with the quasi-degenerate
    first-order eigenvalues of :func:`first_order_eigenvalues`, ``pdos_error[k]`` =
    ‖PDOS(x + ε_k dx) - PDOS - ε_k δPDOS‖₂ / ‖PDOS‖₂; ``order`` is the least-squares slope of
    log(error) vs log(ε) (2 for a correct first-order theory).
    """

    eps: np.ndarray
    eig_error: np.ndarray
    pdos_error: np.ndarray
    eig_order: float
    pdos_order: float
    shift_vs_jvp: float  # |δPDOS from the shifts δλ - δPDOS from a JVP of the public pdos| / |δPDOS|


def _slope(eps, err) -> float:
    ok = err > 0
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(eps[ok]), np.log(err[ok]), 1)[0])


def check_first_order(
    potential: Potential,
    structure: Structure,
    dx,
    grid,
    sigma: float,
    *,
    nbrs: Sequence | None = None,
    eps: Sequence[float] = (2e-3, 1e-3, 5e-4, 2.5e-4),
    block_rtol: float = 1e-6,
) -> PerturbationCheck:
    """Compare first-order shifts of eigenvalues and PDOS with exact re-diagonalisation.

    Eigenvalues are compared with the quasi-degenerate first-order values
    (:func:`first_order_eigenvalues`, levels closer than ``block_rtol · max|λ|`` diagonalised
    together), which keeps near-crossings of levels from masking the O(ε²) behaviour.

    ``dx`` ``(N, d)`` is normalised to unit Euclidean norm; ``eps`` are displacement amplitudes
    (Å or σ). The same neighbour lists are used at every amplitude (valid while no pair crosses a
    cutoff, which the small amplitudes guarantee for relaxed structures).
    """
    structure = as_f64(structure)
    nbrs = potential.neighbors(structure) if nbrs is None else nbrs
    dx = jnp.asarray(dx, jnp.float64)
    dx = dx / jnp.linalg.norm(dx)
    D, dD = dynamical_matrix_jvp(potential, structure, nbrs, dx)
    lam, shifts = first_order_shifts(D, dD)
    f = potential.freq_factor
    grid = jnp.asarray(grid, jnp.float64)

    def pdos_of(lv):
        return np.asarray(dos(to_frequencies(jnp.asarray(lv), f), grid, sigma))

    p0 = pdos_of(lam)
    _, dp_shift = jax.jvp(
        lambda lv: dos(to_frequencies(lv, f), grid, sigma), (jnp.asarray(lam),), (jnp.asarray(shifts),)
    )

    def total(x):
        return pdos(potential, structure.with_positions(x), grid, sigma, nbrs=nbrs, partial=False).total

    _, dp_jvp = jax.jvp(total, (structure.positions,), (dx,))
    eps = np.asarray(eps, dtype=np.float64)
    v = np.linalg.eigh(np.asarray(D))[1]
    w = v.T @ (0.5 * (np.asarray(dD) + np.asarray(dD).T)) @ v
    e_eig, e_pdos = [], []
    for e in eps:
        De = np.asarray(
            dynamical_matrix(potential, structure.with_positions(structure.positions + e * dx), nbrs)
        )
        lam_e = np.linalg.eigvalsh(De)
        e_eig.append(float(np.max(np.abs(lam_e - first_order_eigenvalues(lam, w, e, block_rtol)))))
        e_pdos.append(
            float(np.linalg.norm(pdos_of(lam_e) - p0 - e * np.asarray(dp_shift)) / np.linalg.norm(p0))
        )
    e_eig, e_pdos = np.asarray(e_eig), np.asarray(e_pdos)
    agree = float(
        np.linalg.norm(np.asarray(dp_shift) - np.asarray(dp_jvp)) / max(np.linalg.norm(dp_jvp), 1e-300)
    )
    return PerturbationCheck(eps, e_eig, e_pdos, _slope(eps, e_eig), _slope(eps, e_pdos), agree)


# -------------------------------------------------------------------------------------------
# (b) Jacobians of the two routes and their consistency through W


def random_directions(structure: Structure, n: int, seed: int = 0) -> jax.Array:
    """``n`` random unit displacement fields ``(n, N, d)`` with zero mean (no rigid translation)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(n, *structure.positions.shape))
    v -= v.mean(axis=1, keepdims=True)
    v /= np.linalg.norm(v.reshape(n, -1), axis=1)[:, None, None]
    return jnp.asarray(v)


def soft_mode_directions(potential: Potential, structure: Structure, n: int, nbrs=None) -> jax.Array:
    """Cartesian displacement fields ``(n, N, d)`` of the ``n`` softest non-zero modes (unit norm).

    Mass-weighted eigenvectors e are turned into displacements M^{-1/2} e; modes with
    |λ| ≤ 1e-8 max|λ| (rigid translations) are skipped.
    """
    from .modes import modes

    m = modes(potential, structure, nbrs)
    lam = np.asarray(m.eigenvalues)
    keep = np.flatnonzero(np.abs(lam) > 1e-8 * np.max(np.abs(lam)))[:n]
    w = 1.0 / np.sqrt(np.repeat(np.asarray(structure.masses), structure.dim))
    v = (np.asarray(m.eigenvectors)[:, keep] * w[:, None]).T.reshape(len(keep), *structure.positions.shape)
    v /= np.linalg.norm(v.reshape(len(keep), -1), axis=1)[:, None, None]
    return jnp.asarray(v)


@dataclasses.dataclass(frozen=True)
class Grids:
    """Feature and target grids of a dataset (see :class:`jaxglass.data.DatasetConfig`)."""

    r: np.ndarray
    r_sigma: float
    freq: np.ndarray
    freq_sigma: float

    @staticmethod
    def from_config(cfg) -> Grids:
        return Grids(cfg.r_grid(), float(cfg.r_sigma), cfg.freq_grid(), float(cfg.freq_sigma))


def rdf_jacobian(structure: Structure, grids: Grids, idx=None) -> jax.Array:
    """``J_g = ∂g(r)/∂x`` ``(R, N, d)`` of the total smoothed RDF (reverse mode, one vmapped VJP)."""
    structure = as_f64(structure)
    idx = rdf_neighbors(structure, float(np.max(grids.r)), grids.r_sigma) if idx is None else idx
    r = jnp.asarray(grids.r)

    def g_of(x):
        return rdf(structure.with_positions(x), r, grids.r_sigma, idx).total

    return jax.jacrev(g_of)(structure.positions)


def pdos_jvps(potential: Potential, structure: Structure, grids: Grids, directions, nbrs=None) -> jax.Array:
    """``J_y δx`` ``(n_dir, F)`` of the exact total PDOS for each direction (forward mode)."""
    structure = as_f64(structure)
    nbrs = potential.neighbors(structure) if nbrs is None else nbrs
    grid = jnp.asarray(grids.freq)

    def y_of(x):
        return pdos(
            potential, structure.with_positions(x), grid, grids.freq_sigma, nbrs=nbrs, partial=False
        ).total

    f = jax.jit(lambda v: jax.jvp(y_of, (structure.positions,), (v,))[1])
    return jnp.stack([f(v) for v in directions])


def pdos_jacobian(
    potential: Potential, structure: Structure, grids: Grids, nbrs=None, *, batch: int = 8
) -> jax.Array:
    """Full ``J_y = ∂PDOS/∂x`` ``(F, N, d)`` of the exact total PDOS (``batch`` forward JVPs at a time)."""
    structure = as_f64(structure)
    nbrs = potential.neighbors(structure) if nbrs is None else nbrs
    grid = jnp.asarray(grids.freq)
    x0 = structure.positions
    nd = x0.size

    def y_of(x):
        p = pdos(potential, structure.with_positions(x), grid, grids.freq_sigma, nbrs=nbrs, partial=False)
        return p.total

    jvp_batch = jax.jit(jax.vmap(lambda v: jax.jvp(y_of, (x0,), (v,))[1]))
    eye = np.eye(nd).reshape(nd, *x0.shape)
    cols = [np.asarray(jvp_batch(jnp.asarray(eye[i : i + batch]))) for i in range(0, nd, batch)]
    return jnp.asarray(np.concatenate(cols).T.reshape(len(grids.freq), *x0.shape))


@dataclasses.dataclass(frozen=True)
class Consistency:
    """``W J_g δx`` vs ``J_y δx`` over directions: relative error ‖W Jg δx - Jy δx‖/‖Jy δx‖ and cosine."""

    rel_error: np.ndarray
    cosine: np.ndarray

    def summary(self) -> dict:
        return dict(
            rel_error_median=float(np.median(self.rel_error)),
            cosine_median=float(np.median(self.cosine)),
            n_directions=int(len(self.cosine)),
        )


def consistency(W, jg_dx, jy_dx) -> Consistency:
    """Compare the linear model's prediction ``W (J_g δx)`` with the exact ``J_y δx`` per direction."""
    W = np.asarray(W).reshape(np.shape(W)[0], -1)
    pred = np.asarray(jg_dx) @ W.T
    ref = np.asarray(jy_dx)
    num = np.linalg.norm(pred - ref, axis=1)
    den = np.maximum(np.linalg.norm(ref, axis=1), 1e-300)
    cos = np.sum(pred * ref, axis=1) / np.maximum(np.linalg.norm(pred, axis=1) * den, 1e-300)
    return Consistency(num / den, cos)


def physics_kernel_cv(
    jg: Sequence, jy: Sequence, l2_grid: Sequence[float] = tuple(10.0 ** np.arange(-8, 3.0))
) -> tuple[np.ndarray, float, np.ndarray]:
    """``W_phys`` from full Jacobians pooled over structures, ridge penalty by leave-one-structure-out CV.

    ``jg[s]`` ``(R, N_s d)`` and ``jy[s]`` ``(F, N_s d)`` are the Jacobians of structure ``s`` (every
    Cartesian direction is a sample). For each ``l2`` (relative to the mean squared feature), the
    kernel fitted on all structures but one predicts the left-out structure's ``J_y``; the ``l2`` with
    the lowest mean relative Frobenius error wins. Returns ``(W_phys (F, R), l2, cv_errors)``.
    """
    grams = [np.asarray(g) @ np.asarray(g).T for g in jg]
    cross = [np.asarray(y) @ np.asarray(g).T for y, g in zip(jy, jg)]
    G, C = sum(grams), sum(cross)
    r = G.shape[0]
    scale = np.trace(G) / r
    errs = np.zeros(len(l2_grid))
    if len(jg) > 1:
        for k, l2 in enumerate(l2_grid):
            e = []
            for s in range(len(jg)):
                W = np.linalg.solve(G - grams[s] + l2 * scale * np.eye(r), (C - cross[s]).T).T
                y = np.asarray(jy[s])
                e.append(np.linalg.norm(y - W @ np.asarray(jg[s])) / max(np.linalg.norm(y), 1e-300))
            errs[k] = float(np.mean(e))
        best = float(l2_grid[int(np.argmin(errs))])
    else:
        best = float(l2_grid[len(l2_grid) // 2])
    W = np.linalg.solve(G + best * scale * np.eye(r), C.T).T
    return W, best, errs


def jacobian_error(W, jg, jy) -> float:
    """Relative Frobenius error ‖J_y − W J_g‖ / ‖J_y‖ over all Cartesian directions."""
    W = np.asarray(W).reshape(np.shape(W)[0], -1)
    y = np.asarray(jy).reshape(np.shape(jy)[0], -1)
    g = np.asarray(jg).reshape(np.shape(jg)[0], -1)
    return float(np.linalg.norm(y - W @ g) / max(np.linalg.norm(y), 1e-300))


def physics_kernel(jg_dx, jy_dx, l2: float = 1e-6) -> np.ndarray:
    """``W_phys`` (F × R) minimising Σ ‖J_y δx - W J_g δx‖² + l2 · s ‖W‖² over pooled samples.

    ``s`` is the mean squared feature (so ``l2`` is relative); rows of ``jg_dx`` ``(K, R)`` and
    ``jy_dx`` ``(K, F)`` are the pooled directional derivatives.
    """
    G = np.asarray(jg_dx, dtype=np.float64)
    Y = np.asarray(jy_dx, dtype=np.float64)
    gram = G.T @ G
    s = np.trace(gram) / gram.shape[0]
    return np.linalg.solve(gram + l2 * s * np.eye(gram.shape[0]), G.T @ Y).T


# -------------------------------------------------------------------------------------------
# (c) sensitivity maps of a spectral feature


def band_weights(grid, lo: float, hi: float) -> np.ndarray:
    """Trapezoid weights of ∫_lo^hi PDOS(ν) dν on ``grid`` (a spectral feature F = w · PDOS)."""
    g = np.asarray(grid, dtype=np.float64)
    w = np.zeros_like(g)
    dg = np.gradient(g)
    inside = (g >= lo) & (g <= hi)
    w[inside] = dg[inside]
    return w


def sensitivity_exact(potential, structure, grids: Grids, weights, nbrs=None) -> np.ndarray:
    """Per-atom |∂F/∂x_i| ``(N,)`` of F = weights · PDOS through the exact route."""
    structure = as_f64(structure)
    nbrs = potential.neighbors(structure) if nbrs is None else nbrs
    w = jnp.asarray(weights)
    grid = jnp.asarray(grids.freq)

    def F(x):
        p = pdos(potential, structure.with_positions(x), grid, grids.freq_sigma, nbrs=nbrs, partial=False)
        return jnp.dot(w, p.total)

    return np.linalg.norm(np.asarray(jax.jit(jax.grad(F))(structure.positions)), axis=1)


def sensitivity_linear(structure, grids: Grids, W, weights, idx=None) -> np.ndarray:
    """Per-atom |∂F/∂x_i| ``(N,)`` of F = weights · (W g(x) + b) through the linear surrogate."""
    structure = as_f64(structure)
    idx = rdf_neighbors(structure, float(np.max(grids.r)), grids.r_sigma) if idx is None else idx
    c = jnp.asarray(np.asarray(weights) @ np.asarray(W).reshape(len(weights), -1))  # (R,)
    r = jnp.asarray(grids.r)

    def F(x):
        return jnp.dot(c, rdf(structure.with_positions(x), r, grids.r_sigma, idx).total)

    return np.linalg.norm(np.asarray(jax.grad(F)(structure.positions)), axis=1)


def correlation(a, b) -> dict:
    """Pearson and Spearman correlation of two per-atom maps."""
    a, b = np.asarray(a, float), np.asarray(b, float)

    def rank(x):
        r = np.empty(len(x))
        r[np.argsort(x)] = np.arange(len(x))
        return r

    pear = float(np.corrcoef(a, b)[0, 1])
    spear = float(np.corrcoef(rank(a), rank(b))[0, 1])
    return dict(pearson=pear, spearman=spear)


# -------------------------------------------------------------------------------------------
# (d) inverse design


@dataclasses.dataclass(frozen=True)
class DesignResult:
    structure: Structure
    distance_start: float  # ‖PDOS(x0) - target‖₂ / ‖target‖₂ (exact PDOS)
    distance_end: float  # same at the result (always evaluated with the exact PDOS)
    fmax_end: float  # largest force at the result (eV/Å or ε/σ)
    steps: int
    seconds: float
    route: str


def inverse_design(
    potential: Potential,
    structure: Structure,
    target,
    grids: Grids,
    *,
    route: str = "exact",
    W=None,
    b=None,
    steps: int = 60,
    learning_rate: float = 2e-3,
    force_penalty: float = 1e-2,
    nbrs=None,
    callback: Callable[[int, float], None] | None = None,
) -> DesignResult:
    """Move positions so the PDOS approaches ``target``, keeping the structure near a minimum.

    Loss: ‖y(x) - target‖² / ‖target‖² + ``force_penalty`` · mean |F(x)|² with y the exact PDOS
    (``route="exact"``) or the linear surrogate ``W g(x) + b`` (``route="linear"``); minimised with
    Adam (optax). The achieved distance is always measured with the exact PDOS. Neighbour lists are
    fixed during the run (small moves).
    """
    if route not in ("exact", "linear"):
        raise UserError(f"route: expected 'exact' or 'linear', got {route!r}")
    if route == "linear" and (W is None or b is None):
        raise UserError("W, b: the linear route needs the model's physical weights (W, b)")
    structure = as_f64(structure)
    nbrs = potential.neighbors(structure) if nbrs is None else nbrs
    y_exact, y_lin = _design_spectra(potential, structure, grids, W, b, nbrs)
    y_model = y_exact if route == "exact" else y_lin
    target = jnp.asarray(target)
    tnorm = jnp.sum(target**2)

    def forces(x):
        return jax.grad(lambda z: potential.energy(structure.with_positions(z), nbrs))(x)

    def loss(x):
        f = forces(x)
        return jnp.sum((y_model(x) - target) ** 2) / tnorm + force_penalty * jnp.mean(jnp.sum(f**2, -1))

    def dist(x):
        return float(jnp.sqrt(jnp.sum((y_exact(x) - target) ** 2) / tnorm))

    d0 = dist(structure.positions)
    x, seconds = _adam_descent(loss, structure.positions, learning_rate, steps, callback)
    return DesignResult(
        structure.with_positions(x),
        d0,
        dist(x),
        float(jnp.max(jnp.linalg.norm(forces(x), axis=-1))),
        steps,
        seconds,
        route,
    )


def _design_spectra(potential, structure: Structure, grids: Grids, W, b, nbrs):
    """The exact PDOS and the linear surrogate ``W g + b`` as functions of the positions.

    The RDF neighbour list carries a skin for the moves (as large as the cell allows, at most 0.5).
    """
    reach = float(np.max(grids.r)) + 5.0 * grids.r_sigma
    periodic_box = np.where(np.asarray(structure.periodic), np.asarray(structure.box), np.inf)
    room = 0.5 * float(np.min(periodic_box)) - reach
    idx = rdf_neighbors(structure, float(np.max(grids.r)) + max(0.0, min(0.5, 0.999 * room)), grids.r_sigma)
    grid, r = jnp.asarray(grids.freq), jnp.asarray(grids.r)
    Wm = None if W is None else jnp.asarray(np.asarray(W).reshape(len(grid), -1))
    bm = None if b is None else jnp.asarray(b)

    def y_exact(x):
        return pdos(
            potential, structure.with_positions(x), grid, grids.freq_sigma, nbrs=nbrs, partial=False
        ).total

    def y_lin(x):
        return Wm @ rdf(structure.with_positions(x), r, grids.r_sigma, idx).total + bm

    return y_exact, y_lin


def _adam_descent(loss, x, learning_rate: float, steps: int, callback):
    """``steps`` jitted Adam steps on ``loss`` from ``x``; returns the end point and the seconds taken."""
    import optax

    opt = optax.adam(learning_rate)
    state = opt.init(x)

    @jax.jit
    def step(x, state):
        val, g = jax.value_and_grad(loss)(x)
        upd, state = opt.update(g, state, x)
        return optax.apply_updates(x, upd), state, val

    t0 = time.perf_counter()
    for k in range(steps):
        x, state, val = step(x, state)
        if callback is not None:
            callback(k, float(val))
    jax.block_until_ready(x)
    return x, time.perf_counter() - t0
