"""Phonon engine: Hessian by autodiff over neighbour clusters, mass weighting, eigenmodes, DOS.

The Hessian is assembled from *local* second derivatives (see :mod:`jaxglass.potentials.base`):

* pair terms: one ``d x d`` block ``∇∇ φ(|r_ij|)`` per neighbour pair, added to the ``ii``, ``jj``
  blocks and subtracted from ``ij``, ``ji``;
* site terms (EAM, Tersoff, three-body): the Hessian of the site energy ``e_i`` with respect to the
  positions of the cluster {i} ∪ N(i), a ``(K+1) d`` square matrix, scattered into the global matrix.
  Atoms are processed in chunks inside a ``lax.scan`` so peak memory stays at
  O((N d)² + chunk (K+1)² d²).

Nothing here ever forms ``jax.hessian`` of an all-pairs energy. Units: Hessian in eV/Å² (ε/σ² for LJ),
mass-weighted Hessian in eV/Å²/amu, frequencies in THz (ordinary frequency, ν = ω / 2π) for metal
units, and angular ω in LJ reduced units.

Imaginary modes (negative eigenvalues) are returned as negative frequencies ``-sqrt(|λ|)`` and
counted by :func:`count_imaginary`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._config import enable_x64
from .potentials.base import Potential, Term, local_environment
from .structure import Structure

# -------------------------------------------------------------------------------------------
# Hessian assembly


def _pair_blocks(term: Term, dr, mask, sp, sj):
    """``(N, K, d, d)`` half pair Hessian blocks ∇∇ φ(|r|)/2 for each directed neighbour pair."""

    def phi(v, si, s):
        return term.pair_energy(jnp.linalg.norm(v), si, s)

    hess = jax.hessian(phi)
    h = jax.vmap(jax.vmap(hess, in_axes=(0, None, 0)), in_axes=(0, 0, 0))(dr, sp, sj)
    return 0.5 * jnp.where(mask[..., None, None], h, 0.0)


def _site_cluster_hessian(term: Term, dr, mask, si, sj):
    """Hessian of one site energy w.r.t. the cluster positions (centre first): ``(K+1, d, K+1, d)``."""
    k, d = dr.shape

    def e(u):
        return term.site(dr + u[1:] - u[0], mask, si, sj)

    return jax.hessian(e)(jnp.zeros((k + 1, d), dr.dtype))


def _add_pair_term(H, term: Term, idx, dr, mask, sp, sj):
    """Add a pair term's blocks: +h to ii and jj, -h to ij and ji, per directed pair (h halved)."""
    n, d = dr.shape[0], dr.shape[-1]
    ar_d = jnp.arange(d)
    hb = _pair_blocks(term, dr, mask, sp, sj)  # (N, K, d, d)
    j_rows = idx[:, :, None] * d + ar_d  # (N, K, d)
    i_rows = jnp.broadcast_to(jnp.arange(n)[:, None, None] * d + ar_d, j_rows.shape)
    H = H.at[i_rows[..., :, None], i_rows[..., None, :]].add(hb)
    H = H.at[j_rows[..., :, None], j_rows[..., None, :]].add(hb)
    H = H.at[i_rows[..., :, None], j_rows[..., None, :]].add(-hb)
    return H.at[j_rows[..., :, None], i_rows[..., None, :]].add(-hb)


def _add_site_term(H, term: Term, idx, dr, mask, sp, sj, chunk: int):
    """Add a site term's cluster Hessians, ``chunk`` atoms per ``lax.scan`` step."""
    n, k, d = dr.shape
    ar_d = jnp.arange(d)
    c = min(chunk, n)
    pad = -(-n // c) * c - n
    cluster = jnp.concatenate([jnp.arange(n)[:, None], idx], axis=1)  # (N, K+1), centre first
    cluster = jnp.pad(cluster, ((0, pad), (0, 0)), constant_values=n)  # padded atoms -> dummy row
    far = jnp.zeros((d,), dr.dtype).at[0].set(2.0 * term.cutoff + 1.0)
    dr_p = jnp.concatenate([dr, jnp.broadcast_to(far, (pad, k, d))], axis=0)
    mask_p = jnp.pad(mask, ((0, pad), (0, 0)), constant_values=False)
    sp_p = jnp.pad(sp, (0, pad))
    sj_p = jnp.pad(sj, ((0, pad), (0, 0)))
    hfun = jax.vmap(partial(_site_cluster_hessian, term))

    def body(H, xs):
        cl, drc, mc, sic, sjc = xs
        hc = hfun(drc, mc, sic, sjc)  # (c, K+1, d, K+1, d)
        rows = cl[:, :, None] * d + ar_d  # (c, K+1, d)
        return H.at[rows[:, :, :, None, None], rows[:, None, None, :, :]].add(hc), None

    xs = (
        cluster.reshape(-1, c, k + 1),
        dr_p.reshape(-1, c, k, d),
        mask_p.reshape(-1, c, k),
        sp_p.reshape(-1, c),
        sj_p.reshape(-1, c, k),
    )
    H, _ = jax.lax.scan(body, H, xs)
    return H


def _assemble(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array], chunk: int) -> jax.Array:
    n, d = structure.positions.shape
    # One extra (dummy) atom row absorbs the padded neighbour slots; it is sliced off at the end.
    H = jnp.zeros(((n + 1) * d, (n + 1) * d), structure.positions.dtype)
    sp = jnp.asarray(potential.species_map(structure))[structure.species]
    for term, idx in zip(potential.terms, nbrs):
        idx = jnp.asarray(idx)
        dr, mask, sj = local_environment(structure, idx, sp, term.cutoff)
        if term.is_pair:
            H = _add_pair_term(H, term, idx, dr, mask, sp, sj)
        else:
            H = _add_site_term(H, term, idx, dr, mask, sp, sj, chunk)
    return H[: n * d, : n * d]


def _default_chunk(potential: Potential, nbrs, d: int) -> int:
    kmax = max(int(np.shape(i)[1]) for i in nbrs)
    per_atom = ((kmax + 1) * d) ** 2
    return int(max(1, min(4096, 2e7 // per_atom)))


def hessian(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array] | None = None,
    *,
    chunk: int | None = None,
    symmetrize: bool = True,
) -> jax.Array:
    """Hessian ∂²E/∂x_ia∂x_jb, ``(N d, N d)`` in eV/Å² (float64).

    Args:
      potential: the interatomic potential.
      structure: atoms (any dimension the potential supports).
      nbrs: neighbour lists from ``potential.neighbors(structure)`` (built if omitted).
      chunk: atoms per scan step for site terms (memory/speed trade-off).
      symmetrize: average with the transpose (removes round-off asymmetry).
    """
    enable_x64()
    potential.check(structure)
    structure = _as_f64(structure)
    if nbrs is None:
        nbrs = potential.neighbors(structure)
    nbrs = tuple(jnp.asarray(i) for i in nbrs)
    if chunk is None:
        chunk = _default_chunk(potential, nbrs, structure.dim)
    return _hessian_jit(potential, structure, nbrs, chunk, symmetrize)


@partial(jax.jit, static_argnums=(0, 3, 4))
def _hessian_jit(potential, structure, nbrs, chunk, symmetrize):
    H = _assemble(potential, structure, nbrs, chunk)
    return 0.5 * (H + H.T) if symmetrize else H


def hvp_fn(potential: Potential, structure: Structure, nbrs: Sequence[jax.Array] | None = None):
    """Matrix-free Hessian-vector product ``v (N, d) -> H v (N, d)`` (forward-over-reverse)."""
    enable_x64()
    structure = _as_f64(structure)
    if nbrs is None:
        nbrs = potential.neighbors(structure)
    f = potential.energy_fn(structure, nbrs)
    g = jax.grad(f)
    x0 = structure.positions

    @jax.jit
    def hvp(v):
        return jax.jvp(g, (x0,), (v,))[1]

    return hvp


def mass_weight(H: jax.Array, masses: jax.Array, dim: int) -> jax.Array:
    """Dynamical matrix at Γ: ``M^{-1/2} H M^{-1/2}`` (eV/Å²/amu)."""
    w = 1.0 / jnp.sqrt(jnp.repeat(jnp.asarray(masses), dim))
    return H * w[:, None] * w[None, :]


_mass_weight_jit = jax.jit(mass_weight, static_argnums=2)


def _as_f64(structure: Structure) -> Structure:
    return structure.replace(
        positions=jnp.asarray(structure.positions, jnp.float64),
        box=jnp.asarray(structure.box, jnp.float64),
        masses=jnp.asarray(structure.masses, jnp.float64),
    )


# -------------------------------------------------------------------------------------------
# Eigenvalues with an eigenvalue-only derivative


@jax.custom_jvp
def eigvalsh(a: jax.Array) -> jax.Array:
    """Ascending eigenvalues of a symmetric matrix, differentiable at degeneracies.

    The JVP is first-order (Hellmann-Feynman) perturbation theory, ``dλ_k = v_kᵀ dA v_k``, which
    never divides by eigenvalue gaps: any symmetric function of a degenerate group (a DOS, a trace,
    a band weight) gets the exact derivative, where ``jnp.linalg.eigh`` would give NaN.
    """
    return jnp.linalg.eigvalsh(a)


@eigvalsh.defjvp
def _eigvalsh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(a)
    da = 0.5 * (da + da.T)
    dw = jnp.einsum("ik,ij,jk->k", v, da, v)
    return w, dw


def to_frequencies(eigenvalues: jax.Array, factor: float = 1.0) -> jax.Array:
    """``sign(λ) sqrt(|λ|) * factor``: imaginary modes come out as negative frequencies."""
    lam = jnp.asarray(eigenvalues)
    return jnp.sign(lam) * jnp.sqrt(jnp.abs(lam)) * factor


# -------------------------------------------------------------------------------------------
# Modes


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Modes:
    """Normal modes at Γ.

    Attributes:
      frequencies: ``(N d,)`` ascending; THz for metal units, ω for LJ units; negative = imaginary.
      eigenvectors: ``(N d, N d)`` columns are mass-weighted unit eigenvectors, or ``None``.
      eigenvalues: ``(N d,)`` eigenvalues of the mass-weighted Hessian.
      unit: frequency unit label.
    """

    frequencies: jax.Array
    eigenvalues: jax.Array
    eigenvectors: jax.Array | None
    unit: str = dataclasses.field(default="THz", metadata=dict(static=True))

    def n_imaginary(self, tol: float | None = None) -> int:
        return count_imaginary(self.frequencies, tol)


def count_imaginary(frequencies, tol: float | None = None) -> int:
    """Number of modes with frequency below ``-tol`` (default: 1e-3 of the largest |frequency|).

    The default tolerance absorbs the numerically zero translational modes of periodic cells.
    """
    f = np.asarray(frequencies)
    if tol is None:
        tol = 1e-3 * float(np.max(np.abs(f))) if f.size else 0.0
    return int(np.sum(f < -tol))


def modes(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array] | None = None,
    *,
    eigenvectors: bool = True,
    H: jax.Array | None = None,
) -> Modes:
    """Γ-point normal modes: Hessian → mass weighting → symmetric eigensolve (float64)."""
    enable_x64()
    if H is None:
        H = hessian(potential, structure, nbrs)
    D = np.asarray(_mass_weight_jit(H, jnp.asarray(structure.masses), structure.dim))
    # Host LAPACK divide-and-conquer (dsyevd): with eigvals_only it really skips the vectors,
    # which jnp.linalg.eigvalsh on CPU does not (measured 2-3x faster, 2 fewer N^2 buffers;
    # benchmarks/phonons.py). Differentiable spectra go through `eigvalsh` below instead.
    from scipy.linalg import eigh as _sp_eigh

    if eigenvectors:
        lam, vec = _sp_eigh(D, driver="evd", overwrite_a=True, check_finite=False)
        lam, vec = jnp.asarray(lam), jnp.asarray(vec)
    else:
        lam = jnp.asarray(_sp_eigh(D, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False))
        vec = None
    freqs = to_frequencies(lam, potential.freq_factor)
    return Modes(frequencies=freqs, eigenvalues=lam, eigenvectors=vec, unit=potential.freq_unit)


def frequencies(
    potential: Potential, structure: Structure, nbrs: Sequence[jax.Array] | None = None
) -> jax.Array:
    """Ascending Γ-point frequencies (THz for metal units; ω for LJ units; negative = imaginary)."""
    return modes(potential, structure, nbrs, eigenvectors=False).frequencies


# -------------------------------------------------------------------------------------------
# Densities of states


def gaussian(x: jax.Array, sigma: float) -> jax.Array:
    return jnp.exp(-0.5 * (x / sigma) ** 2) / (sigma * jnp.sqrt(2.0 * jnp.pi))


def dos(freqs: jax.Array, grid: jax.Array, sigma: float, weights: jax.Array | None = None) -> jax.Array:
    """Gaussian-broadened density of states on ``grid``, normalised to ∫ g dν = 1 (per mode).

    Each mode carries a unit-area Gaussian of width ``sigma`` (same unit as the frequencies), so the
    result integrates to 1 over the real line (to 1 over ``grid`` when the grid spans the spectrum
    plus a few ``sigma``). ``weights`` ``(..., M)`` gives weighted (e.g. partial) DOS whose sum over
    the leading axis is the total.
    """
    if sigma <= 0:
        raise ValueError(f"sigma: broadening must be positive, got {sigma}")
    freqs = jnp.asarray(freqs)
    grid = jnp.asarray(grid)
    g = gaussian(grid[:, None] - freqs[None, :], sigma)  # (G, M)
    m = freqs.shape[-1]
    if weights is None:
        return g.sum(-1) / m
    return jnp.einsum("...m,gm->...g", weights, g) / m


def species_weights(structure: Structure, eigenvectors: jax.Array) -> jax.Array:
    """``(S, M)`` weight of each mode on each species: Σ_{i∈s} |e_{k,i}|² (sums to 1 over s)."""
    n, d = structure.n_atoms, structure.dim
    amp = jnp.sum(jnp.abs(eigenvectors.reshape(n, d, -1)) ** 2, axis=1)  # (N, M)
    onehot = jax.nn.one_hot(structure.species, len(structure.species_names), dtype=amp.dtype)  # (N, S)
    return onehot.T @ amp


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PDOS:
    """Total and species-resolved phonon DOS on a frequency grid (each normalised per mode).

    ``partial[s]`` sums over species to ``total``; ``total`` integrates to 1.
    """

    grid: jax.Array
    total: jax.Array
    partial: jax.Array
    species_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    unit: str = dataclasses.field(default="THz", metadata=dict(static=True))


def pdos(
    potential: Potential,
    structure: Structure,
    grid: jax.Array | None = None,
    sigma: float | None = None,
    *,
    m: Modes | None = None,
    nbrs: Sequence[jax.Array] | None = None,
) -> PDOS:
    """Phonon DOS and species-resolved partial DOS from Γ-point modes.

    Defaults: 400 grid points from min(ν) - 4σ to max(ν) + 4σ, σ = 1 % of the spectral width.
    """
    if m is None:
        m = modes(potential, structure, nbrs, eigenvectors=True)
    f = m.frequencies
    if sigma is None:
        sigma = 0.01 * float(jnp.max(f) - jnp.minimum(jnp.min(f), 0.0))
    if grid is None:
        grid = jnp.linspace(float(jnp.min(f)) - 4 * sigma, float(jnp.max(f)) + 4 * sigma, 400)
    grid = jnp.asarray(grid)
    total = dos(f, grid, sigma)
    w = species_weights(structure, m.eigenvectors)
    part = dos(f, grid, sigma, weights=w)
    return PDOS(grid=grid, total=total, partial=part, species_names=structure.species_names, unit=m.unit)
