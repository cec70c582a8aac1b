"""Exact sum rules of the vibrational spectrum for pair potentials, and the moments of a linear map.

Method of moments (Maradudin, Montroll, Weiss & Ipatova, *Theory of Lattice Dynamics in the Harmonic
Approximation*, 2nd ed., Academic Press (1971), ch. on the moments of the frequency spectrum): the
moments of the eigenvalue distribution of the dynamical matrix D are traces of its powers,
Σ_n λ_n^k = Tr D^k. For k = 1 and a pair potential φ_αβ(r) only the diagonal blocks of D enter, and

    Tr D = Σ_i (1/m_i) Σ_{j≠i} k_{s_i s_j}(r_ij),    k_αβ(r) = φ''_αβ(r) + (d − 1) φ'_αβ(r) / r,

(the trace of the pair block ∇∇φ(|r|)), a sum over neighbour pairs: no Hessian, no eigensolve.
Written with the partial radial distribution functions g_αβ (number fractions c_α, number densities
ρ_β = c_β ρ, masses m_α, S_3(r) = 4πr², S_2(r) = 2πr), the mean eigenvalue is *linear* in g_αβ:

    ⟨λ⟩ = Tr D / (d N) = (1/d) Σ_αβ (c_α ρ_β / m_α) ∫ g_αβ(r) k_αβ(r) S_d(r) dr,

and the second frequency moment of the normalised DOS is ⟨ν²⟩ = f² ⟨λ⟩ with f = ``pot.freq_factor``
(ν = f sqrt(λ): THz for metal units, angular ω for LJ units). A Gaussian broadening σ of the DOS adds
σ² (for real frequencies; imaginary modes, stored as ν < 0, contribute f²|λ| instead of f² λ).

Consequences for a linear map ``y = W g + b`` from g(r) features to the DOS on a frequency grid ν
(see :func:`map_moments`). Since ∫ DOS dν = 1 for every structure, the ν⁰-moment of every feature
column of ``W`` must vanish and that of ``b`` must be 1. With the partials g_αβ as features and a pair
potential, the ν²-moment of the column (α, β, r) must equal :func:`moment_kernel` (the exact
kernel f² c_α ρ_β k_αβ(r) S_d(r) Δr / (d m_α)), and that of ``b`` must equal σ² (plus the
quadrature error of the grid). These hold *exactly* only for pair potentials with partial-g
features; with the total g(r) of a multi-component system (one column mixes the species pairs
with composition-dependent weights) or a many-body potential (Tr D involves triplets), the
relation is only approximate: a best-fit kernel, not an identity (:mod:`jaxglass.kernel_fit` fits it).

Kob-Andersen parameters: W. Kob and H. C. Andersen, Phys. Rev. Lett. 73, 1376 (1994).
Checked in ``tests/test_sumrules.py``.
"""

from __future__ import annotations

import dataclasses
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import UserError
from .hessian import neighbors_for
from .potentials.base import Potential, Term, local_environment, neighbor_index
from .rdf import norm_dim
from .structure import Structure


def _require_pair(potential: Potential) -> None:
    site = [i for i, t in enumerate(potential.terms) if not t.is_pair]
    if site:
        raise UserError(
            f"potential: {potential.name} has many-body (site) terms (term(s) {site}); the sum rule "
            "Tr D = Σ pairs [φ'' + (d−1)φ'/r] / m and its kernel are exact only for pair potentials"
        )


def _dim(potential: Potential, dim: int | None) -> int:
    if dim is None:
        if len(potential.dims) != 1:
            raise UserError(f"dim: {potential.name} supports dimensions {potential.dims}; pass dim=2 or 3")
        return int(potential.dims[0])
    if dim not in potential.dims:
        raise UserError(f"dim: {potential.name} is defined for dimension(s) {potential.dims}, got {dim}")
    return int(dim)


def _term_kernel(term: Term, d: int):
    """Scalar ``k(r, si, sj) = φ''(r) + (d−1) φ'(r)/r`` of one pair term, zero for r ≤ 0 or r ≥ cutoff."""

    def phi(r, si, sj):
        return term.pair_energy(r, si, sj)

    d1 = jax.grad(phi)
    d2 = jax.grad(d1)

    def k(r, si, sj):
        ok = (r > 0) & (r < term.cutoff)
        rs = jnp.where(ok, r, 0.5 * term.cutoff)  # keeps the derivatives finite where masked
        return jnp.where(ok, d2(rs, si, sj) + (d - 1) * d1(rs, si, sj) / rs, 0.0)

    return k


def pair_kernel(potential: Potential, r, dim: int | None = None) -> jax.Array:
    """The trace kernel ``k_αβ(r) = φ''_αβ(r) + (d−1) φ'_αβ(r)/r``, ``(S, S, R)`` (potential's species order).

    Derivatives by autodiff of each pair term's ``pair_energy`` (summed over the pair terms); zero
    beyond each pair's cutoff and at r ≤ 0. Units: eV/Å² (ε/σ² for LJ). Raises ``UserError`` for
    potentials with many-body (site) terms.
    """
    _require_pair(potential)
    return _pair_kernel_jit(potential, jnp.asarray(r, jnp.result_type(float)), _dim(potential, dim))


@partial(jax.jit, static_argnums=2)
def _pair_kernel_jit(potential: Potential, r: jax.Array, d: int) -> jax.Array:
    ns = len(potential.species)
    si, sj = (a.ravel() for a in jnp.meshgrid(jnp.arange(ns), jnp.arange(ns), indexing="ij"))
    out = jnp.zeros((ns * ns, r.shape[0]), r.dtype)
    for term in potential.terms:
        k = jax.vmap(jax.vmap(_term_kernel(term, d), in_axes=(0, None, None)), in_axes=(None, 0, 0))
        out = out + k(r, si, sj)
    return out.reshape(ns, ns, r.shape[0])


def trace_dynamical(potential: Potential, structure: Structure, nbrs=None) -> jax.Array:
    """Exact ``Tr D`` of the Γ-point dynamical matrix by the pair sum (no Hessian), eV/Å²/amu (LJ units).

    ``Tr D = Σ_i (1/m_i) Σ_{j≠i} k(r_ij)`` over the neighbour pairs of each pair term (periodic
    images of other atoms included; an atom's own images do not enter D at Γ and are skipped).
    ``Σ_n λ_n = Tr D`` and the mean ``⟨λ⟩ = Tr D / (d N)``.
    """
    _require_pair(potential)
    potential.check(structure)
    nbrs = neighbors_for(potential, structure, nbrs, "trace_dynamical")
    sp = potential.species_indices(structure)
    dtype = jnp.result_type(float)
    s = structure.replace(
        positions=jnp.asarray(structure.positions, dtype),
        box=jnp.asarray(structure.box, dtype),
        masses=jnp.asarray(structure.masses, dtype),
    )
    return _trace_jit(potential, s, nbrs, sp)


@jax.jit
def _trace_jit(potential: Potential, s: Structure, nbrs, sp) -> jax.Array:
    d, n = s.dim, s.n_atoms
    pos = s.positions
    total = jnp.zeros((n,), pos.dtype)
    for term, idx in zip(potential.terms, nbrs):
        dr, mask, sj = local_environment(s, idx, sp, term.cutoff)
        mask = mask & (neighbor_index(idx) != jnp.arange(n)[:, None])  # own images: zero at Γ
        r = jnp.linalg.norm(dr, axis=-1)
        k = jax.vmap(jax.vmap(_term_kernel(term, d), in_axes=(0, None, 0)))(r, sp, sj)
        total = total + jnp.sum(jnp.where(mask, k, 0.0), axis=1)
    return jnp.sum(total / s.masses)


@dataclasses.dataclass(frozen=True)
class Composition:
    """What the g(r) route needs besides g: species order of the partials, number fractions ``c_α``,
    total number density ``ρ`` (per volume of the periodic axes), mass per species, dimension."""

    species: tuple[str, ...]
    fractions: np.ndarray
    density: float
    masses: np.ndarray
    dim: int


def composition(structure: Structure) -> Composition:
    """The :class:`Composition` of a structure (species in ``structure.species_names`` order, as the RDF)."""
    d = norm_dim(structure)
    box = np.asarray(structure.box, dtype=np.float64)
    vol = float(np.prod(box[np.asarray(structure.periodic, dtype=bool)]))
    sp = np.asarray(structure.species)
    m = np.asarray(structure.masses, dtype=np.float64)
    ns = len(structure.species_names)
    counts = np.bincount(sp, minlength=ns)
    masses = np.array([m[sp == a].mean() if counts[a] else 1.0 for a in range(ns)])
    for a in range(ns):
        if counts[a] and not np.allclose(m[sp == a], masses[a]):
            name = structure.species_names[a]
            raise UserError(f"structure: atoms of species {name!r} have different masses")
    n = structure.n_atoms
    return Composition(tuple(structure.species_names), counts / n, n / vol, masses, d)


def trapezoid_weights(grid) -> np.ndarray:
    """Quadrature weights ``w`` with ``Σ w f(x) = trapezoid(f, x)`` on a (possibly non-uniform) grid."""
    x = np.asarray(grid, dtype=np.float64)
    if x.ndim != 1 or x.size < 2 or np.any(np.diff(x) <= 0):
        raise UserError(f"grid: expected an increasing 1D grid of at least 2 points, got shape {x.shape}")
    w = np.zeros_like(x)
    h = np.diff(x)
    w[:-1] += 0.5 * h
    w[1:] += 0.5 * h
    return w


def moment_kernel(potential: Potential, r, comp: Composition, weights=None, r_sigma: float = 0.0,
                  terms: int = 5) -> jax.Array:
    """The exact ν²-moment weights ``K_αβ(r) = f² c_α ρ_β k_αβ(r) S_d(r) w_r / (d m_α)``, ``(S, S, R)``.

    Species in ``comp.species`` order (the order of :func:`jaxglass.rdf.rdf`'s partials); ``w_r`` the
    trapezoid weights of ``r`` unless ``weights`` are given. ``Σ K g_partial = ⟨ν²⟩`` (unbroadened),
    so ``K`` is what the ν²-moment of a linear map's partial-g columns must be (:func:`map_moments`).

    ``r_sigma > 0``: the kernel for g(r) smoothed as :func:`jaxglass.rdf.rdf` does (a unit Gaussian of
    width σ per pair, divided by ``S_d(r_ij)``). Then ``∫ g_σ(r) h(r) dr ∝ Σ_pairs (G_σ * h)(r_ij) /
    S_d(r_ij)`` for any ``h``, while the sum rule needs ``Σ_pairs k(r_ij)``: with ``h = k S_d`` the kernel
    must be ``h̃`` with ``G_σ * h̃ = h``, the inverse of the heat kernel,
    ``h̃ = Σ_n (−σ²/2)ⁿ/n! h⁽²ⁿ⁾`` (Gauss-Weierstrass inversion, the series truncated after ``terms``
    terms; derivatives by Taylor-mode autodiff). It removes the O(σ²) bias of the plain kernel on
    smoothed features (9–14 % at σ = 0.03 on KA glasses; 1e-6–3e-5 left with 5 terms, docs/sumrules.md).
    """
    r_host = np.asarray(r, dtype=np.float64)
    w = trapezoid_weights(r_host) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != r_host.shape:
        raise UserError(f"weights: expected shape {r_host.shape} (one per grid point), got {w.shape}")
    if not (r_sigma >= 0 and np.isfinite(r_sigma)) or int(terms) < 1:
        raise UserError(f"r_sigma: expected a finite width >= 0 and terms >= 1, got {r_sigma}, {terms}")
    d = comp.dim
    idx = np.asarray([potential.species.index(s) if s in potential.species else -1 for s in comp.species])
    if np.any(idx < 0):
        raise UserError(
            f"comp: species {comp.species} are not all known to {potential.name} ({potential.species})"
        )
    if r_sigma > 0:
        _require_pair(potential)
        h = _smoothed_h_jit(potential, jnp.asarray(r_host, jnp.result_type(float)), _dim(potential, d),
                            float(r_sigma), int(terms))[idx[:, None], idx[None, :]]
    else:
        shell = 4.0 * np.pi * r_host**2 if d == 3 else 2.0 * np.pi * r_host
        h = pair_kernel(potential, r_host, d)[idx[:, None], idx[None, :]] * jnp.asarray(shell)
    pre = comp.fractions[:, None] * (comp.density * comp.fractions)[None, :] / (d * comp.masses[:, None])
    return potential.freq_factor**2 * jnp.asarray(pre)[..., None] * h * jnp.asarray(w)


@partial(jax.jit, static_argnums=(2, 3, 4))
def _smoothed_h_jit(potential: Potential, r: jax.Array, d: int, sigma: float, terms: int) -> jax.Array:
    """``Σ_n (−σ²/2)ⁿ/n! h⁽²ⁿ⁾(r)``, ``h = k S_d``, per species pair ``(S, S, R)``; zero at r ≤ 0, r ≥ cutoff.

    ``h = 4π(r²φ'' + 2rφ')`` (3D) or ``2π(rφ'' + φ')`` (2D), so by Leibniz
    ``h⁽ᵐ⁾ = 4π(r²φ⁽ᵐ⁺²⁾ + 2(m+1) r φ⁽ᵐ⁺¹⁾ + m(m+1) φ⁽ᵐ⁾)`` or ``2π(r φ⁽ᵐ⁺²⁾ + (m+1) φ⁽ᵐ⁺¹⁾)``; the
    derivatives φ⁽ʲ⁾ up to ``2·terms`` come from one Taylor-mode pass (``jax.experimental.jet``).
    """
    from jax.experimental import jet

    ns = len(potential.species)
    si, sj = (a.ravel() for a in jnp.meshgrid(jnp.arange(ns), jnp.arange(ns), indexing="ij"))
    out = jnp.zeros((ns * ns, r.shape[0]), r.dtype)
    for term in potential.terms:
        def series(x, a, b, term=term):
            ok = (x > 0) & (x < term.cutoff)
            xs = jnp.where(ok, x, 0.5 * term.cutoff)
            seed = (jnp.ones_like(xs),) + (jnp.zeros_like(xs),) * (2 * terms - 1)
            _, ders = jet.jet(lambda y: term.pair_energy(y, a, b), (xs,), (seed,))
            phi = [None, *ders]  # phi[j] = φ⁽ʲ⁾(xs)
            total, coef = 0.0, 1.0
            for n in range(terms):
                m = 2 * n
                if d == 3:
                    hm = xs * xs * phi[m + 2] + 2 * (m + 1) * xs * phi[m + 1]
                    hm = 4.0 * jnp.pi * (hm + (m * (m + 1) * phi[m] if m else 0.0))
                else:
                    hm = 2.0 * jnp.pi * (xs * phi[m + 2] + (m + 1) * phi[m + 1])
                total = total + coef * hm
                coef = coef * (-0.5 * sigma * sigma) / (n + 1)
            return jnp.where(ok, total, 0.0)

        out = out + jax.vmap(jax.vmap(series, in_axes=(0, None, None)), in_axes=(None, 0, 0))(r, si, sj)
    return out.reshape(ns, ns, r.shape[0])


def feature_kernel(kernel, features: str = "partial") -> np.ndarray:
    """A ``(S, S, R)`` kernel (:func:`moment_kernel`) in the layout of :func:`jaxglass.study.features`.

    ``"partial"``: ``(S(S+1)/2, R)`` over the unordered species pairs (upper triangle, row-major),
    ``K_αα`` on the diagonal and ``K_αβ + K_βα`` off it (``g_αβ = g_βα``): exact. ``"total"``:
    ``Σ_αβ K_αβ`` ``(R,)``, the kernel of the total g(r) = Σ c_α c_β g_αβ *if* every partial had the
    shape of the total; only an approximation (no kernel of the total g is exact for a mixture).
    """
    K = np.asarray(kernel, np.float64)
    if K.ndim != 3 or K.shape[0] != K.shape[1]:
        raise UserError(f"kernel: expected (S, S, R), got shape {K.shape}")
    if features == "total":
        return K.sum((0, 1))
    if features != "partial":
        raise UserError(f"features: 'partial' or 'total', got {features!r}")
    sym = K + np.swapaxes(K, 0, 1) - np.eye(K.shape[0])[..., None] * K
    iu = np.triu_indices(K.shape[0])
    return sym[iu[0], iu[1]]


def moment_constraints(freq, kernel=None, n_features: int | None = None, weights=None, intercept=None):
    """``(rows, values[, intercept])`` for the constrained fits of :mod:`jaxglass.models` (``constraints=``).

    ``rows`` are the ν⁰-moment weights ``w_ν`` of the DOS grid ``freq`` (trapezoid unless
    ``weights``) and, if ``kernel`` (the feature-layout kernel, e.g. :func:`feature_kernel`) is given,
    the ν²-moment weights ``w_ν ν²``; ``values`` are 0 (every DOS integrates to the same number) and the
    kernel. Without a kernel ``n_features`` gives the width. ``intercept`` ``(M,)`` (e.g. ``(1, σ²)``)
    also fixes the moments of ``b``; left ``None``, ``b`` is free (its moments are then the training
    means' ``C ȳ − K x̄``, the best the data say).
    """
    f = np.asarray(freq, dtype=np.float64)
    w = trapezoid_weights(f) if weights is None else np.asarray(weights, dtype=np.float64)
    if kernel is None:
        if n_features is None:
            raise UserError("n_features: give the number of features when no kernel is given")
        rows, values = w[None], np.zeros((1, int(n_features)))
    else:
        k = np.asarray(kernel, np.float64).ravel()
        rows, values = np.stack([w, w * f * f]), np.stack([np.zeros_like(k), k])
    if intercept is None:
        return rows, values
    return rows, values, np.asarray(intercept, np.float64)


class SecondMoment(NamedTuple):
    """``eigenvalue``: ⟨λ⟩ = Tr D/(dN) (eV/Å²/amu); ``frequency_squared``: ⟨ν²⟩ = f² ⟨λ⟩ (THz², ω²)."""

    eigenvalue: jax.Array
    frequency_squared: jax.Array


def second_moment_from_rdf(
    potential: Potential, r, g_partial, comp: Composition, weights=None
) -> SecondMoment:
    """⟨λ⟩ and ⟨ν²⟩ from the partial RDFs ``g_partial`` ``(S, S, R)`` on the grid ``r`` (trapezoid).

    ``⟨λ⟩ = (1/d) Σ_αβ (c_α ρ_β / m_α) ∫ g_αβ k_αβ S_d dr``: exact for pair potentials when the
    integral is exact (the σ → 0 histogram of pair distances); a Gaussian-smoothed g(r) gives it up to
    O(σ²) (the kernel convolved with the Gaussian). Linear (and differentiable) in ``g_partial``.
    """
    g = jnp.asarray(g_partial)
    ns, nr = len(comp.species), np.shape(r)[0]
    if g.shape != (ns, ns, nr):
        raise UserError(f"g_partial: expected shape {(ns, ns, nr)} (species × species × r), got {g.shape}")
    nu2 = jnp.sum(moment_kernel(potential, r, comp, weights) * g)
    return SecondMoment(nu2 / potential.freq_factor**2, nu2)


class MapMoments(NamedTuple):
    """Frequency moments of a linear map ``y = W x + b`` (see :func:`map_moments`)."""

    zeroth: jax.Array
    second: jax.Array
    b_zeroth: jax.Array
    b_second: jax.Array


def map_moments(W, b, freq, weights=None) -> MapMoments:
    """ν⁰- and ν²-moments ``Σ_ν W(ν, ·) w_ν`` and ``Σ_ν ν² W(ν, ·) w_ν`` of a linear map, in data units.

    ``W`` ``(F, ...)`` (frequencies first, as :mod:`jaxglass.models.linear`, in the units of the data:
    ``y = W x + b``), ``b`` ``(F,)``, ``freq`` ``(F,)`` the DOS grid, ``w_ν`` its trapezoid weights
    unless ``weights`` are given. Returns the moments per feature column and those of ``b``.

    What must hold: a DOS normalised on the grid needs ``zeroth == 0`` for every column and
    ``b_zeroth == 1`` (exactly, for any potential and features). For a pair potential with partial
    g_αβ(r) features (reshaped ``(S, S, R)``), ``second == moment_kernel(...)`` and ``b_second == σ²``
    (Gaussian DOS broadening σ), exactly up to the frequency quadrature, provided the DOS grid holds
    the broadened spectrum and there are no imaginary modes. With the total g(r) of a multi-component
    system or a many-body potential, no ``W`` satisfies the ν² relation for every structure: it is then
    an approximation to be compared, not an identity.
    """
    f = np.asarray(freq, dtype=np.float64)
    w = trapezoid_weights(f) if weights is None else np.asarray(weights, dtype=np.float64)
    W = jnp.asarray(W)
    b = jnp.asarray(b)
    if W.shape[0] != f.shape[0] or b.shape != f.shape or w.shape != f.shape:
        raise UserError(
            f"W: expected W (F, ...), b (F,) and weights (F,) with F = {f.shape[0]} frequencies, got "
            f"W {W.shape}, b {b.shape}, weights {w.shape}"
        )
    w0 = jnp.asarray(w, W.dtype)
    w2 = jnp.asarray(w * f * f, W.dtype)
    return MapMoments(
        jnp.tensordot(w0, W, axes=1), jnp.tensordot(w2, W, axes=1), jnp.dot(w0, b), jnp.dot(w2, b)
    )


class MomentComparison(NamedTuple):
    """Moments of a fitted map's feature columns against a kernel (see :func:`compare_moments`)."""

    zeroth: np.ndarray  # (D,) Σ_ν W w_ν
    second: np.ndarray  # (D,) Σ_ν ν² W w_ν
    kernel: np.ndarray  # (D,)
    correlation: float  # Pearson correlation of second and kernel
    relative_error: float  # ‖second − kernel‖ / ‖kernel‖
    zeroth_relative: float  # ‖zeroth‖ / ‖Σ_ν |W| w_ν‖ (0: exact cancellation)
    b_zeroth: float
    b_second: float


def compare_moments(model, freq, kernel, weights=None) -> MomentComparison:
    """ν⁰- and ν²-moments per feature of a fitted linear map (an estimator with ``coef_`` and
    ``intercept_``, or a ``(W, b)`` pair; ``W`` ``(F, ...)`` in data units) against ``kernel`` (the
    feature-layout kernel, e.g. :func:`feature_kernel`), with their correlation and relative error."""
    W, b = (model.coef_, model.intercept_) if hasattr(model, "coef_") else model
    W = np.asarray(W, np.float64)
    W = W.reshape(W.shape[0], -1)
    k = np.asarray(kernel, np.float64).ravel()
    if k.shape != (W.shape[1],):
        raise UserError(f"kernel: expected {W.shape[1]} values (one per feature of W), got {k.shape}")
    m = map_moments(W, np.asarray(b, np.float64), freq, weights)
    zeroth, second = np.asarray(m.zeroth), np.asarray(m.second)
    w = trapezoid_weights(freq) if weights is None else np.asarray(weights, np.float64)
    corr = float(np.corrcoef(second, k)[0, 1]) if np.std(second) > 0 and np.std(k) > 0 else float("nan")
    return MomentComparison(
        zeroth, second, k, corr, float(np.linalg.norm(second - k) / np.linalg.norm(k)),
        float(np.linalg.norm(zeroth) / max(np.linalg.norm(w @ np.abs(W)), 1e-300)),
        float(m.b_zeroth), float(m.b_second))
