"""Gaussian-smoothed radial distribution functions (total and partial), differentiable in positions.

For species a, b the smoothed partial RDF on a grid r is

    g_ab(r) = V / (N_a N_b) · Σ_{i∈a} Σ_{j∈b, j≠i} G_σ(r − r_ij) / S_d(r_ij),

with G_σ a unit-area Gaussian, S_3(r) = 4πr² and S_2(r) = 2πr the shell measure, and V the volume
(area in 2D). The total RDF is g(r) = V/N² Σ_{i≠j} G_σ(r − r_ij)/S_d(r_ij) = Σ_ab c_a c_b g_ab(r).
Normalising each Gaussian by the shell measure at the *pair* distance (not the grid point) keeps the
estimator finite at small r and smooth in the positions; as σ → 0 it converges to the usual
histogram estimator. An ideal gas gives g → 1.

Dimension of the normalisation = number of periodic axes: a 2D sheet in a 3D box with a vacuum
axis (amorphous monolayer carbon) uses the areal density and S_2.

Pairs come from a padded neighbour list (no self pairs, so no r = 0 singularity in the gradient);
the sum runs in chunks of atoms inside ``lax.scan``, so memory is O(chunk · K · n_r).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from .neighbors import neighbor_list
from .potentials.base import local_environment
from .structure import Structure


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RDF:
    """``r`` ``(R,)``, ``total`` ``(R,)`` and ``partial`` ``(S, S, R)`` (symmetric in the species)."""

    r: jax.Array
    total: jax.Array
    partial: jax.Array
    species_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))


def norm_dim(structure: Structure) -> int:
    """Dimension used for the RDF normalisation: the number of periodic axes (2 or 3)."""
    nd = int(sum(structure.periodic))
    if nd < 2:
        raise ValueError(
            f"structure.periodic: the RDF needs at least two periodic axes, got {structure.periodic}"
        )
    return nd


def rdf_neighbors(structure: Structure, r_max: float, sigma: float) -> np.ndarray:
    """Neighbour list reaching ``r_max + 5σ`` so Gaussians near ``r_max`` are complete (host)."""
    return neighbor_list(structure, float(r_max) + 5.0 * float(sigma))


def rdf(
    structure: Structure,
    r: jax.Array,
    sigma: float,
    idx: jax.Array | None = None,
    *,
    chunk: int = 64,
) -> RDF:
    """Smoothed total and partial RDFs of ``structure`` on the grid ``r`` (pure given ``idx``).

    Args:
      r: ``(R,)`` grid (same length unit as positions).
      sigma: Gaussian smoothing width.
      idx: neighbour list from :func:`rdf_neighbors` (built on the host if omitted, which makes
        this call non-jittable in the positions' values but still differentiable).
    """
    if sigma <= 0:
        raise ValueError(f"sigma: smoothing width must be positive, got {sigma}")
    r = jnp.asarray(r)
    if idx is None:
        idx = rdf_neighbors(structure, float(jnp.max(r)), sigma)
    idx = jnp.asarray(idx)
    n = structure.n_atoms
    nd = norm_dim(structure)
    n_sp = len(structure.species_names)
    sp = jnp.asarray(structure.species)
    dr, mask, sj = local_environment(structure, idx, sp, jnp.max(r) + 5 * sigma)
    dist = jnp.linalg.norm(dr, axis=-1)  # padded slots are far (> r_max + 5σ) and masked
    dist = jnp.where(mask, dist, 1.0)
    shell = 4.0 * jnp.pi * dist**2 if nd == 3 else 2.0 * jnp.pi * dist
    wgt = jnp.where(mask, 1.0 / shell, 0.0)  # (N, K)
    oh_i = jax.nn.one_hot(sp, n_sp, dtype=dist.dtype)  # (N, S)
    oh_j = jax.nn.one_hot(sj, n_sp, dtype=dist.dtype) * mask[..., None]  # (N, K, S)

    c = min(chunk, n)
    pad = -(-n // c) * c - n

    def padn(x, value=0.0):
        return jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1), constant_values=value)

    xs = (
        padn(dist, 1.0).reshape(-1, c, idx.shape[1]),
        padn(wgt).reshape(-1, c, idx.shape[1]),
        padn(oh_i).reshape(-1, c, n_sp),
        padn(oh_j).reshape(-1, c, idx.shape[1], n_sp),
    )
    inv = 1.0 / (sigma * jnp.sqrt(2.0 * jnp.pi))

    def body(acc, x):
        d, w, oi, oj = x
        g = jnp.exp(-0.5 * ((r[None, None, :] - d[..., None]) / sigma) ** 2) * inv * w[..., None]  # (c,K,R)
        return acc + jnp.einsum("ia,ikb,ikr->abr", oi, oj, g), None

    acc0 = jnp.zeros((n_sp, n_sp, r.shape[0]), dist.dtype)
    acc, _ = jax.lax.scan(body, acc0, xs)
    per = np.asarray(structure.periodic)
    volume = jnp.prod(jnp.where(jnp.asarray(per), structure.box, 1.0))
    counts = jnp.sum(oh_i, axis=0)  # (S,)
    denom = counts[:, None] * counts[None, :]
    partial = jnp.where(denom[..., None] > 0, volume * acc / jnp.maximum(denom, 1.0)[..., None], 0.0)
    total = volume * jnp.sum(acc, axis=(0, 1)) / (n * n)
    return RDF(r=r, total=total, partial=partial, species_names=structure.species_names)


def coordination_number(r: np.ndarray, g: np.ndarray, density: float, r_cut: float, dim: int = 3) -> float:
    """Running coordination number n(r_cut) = ρ ∫_0^{r_cut} g(r) S_d(r) dr (host, trapezoid)."""
    r = np.asarray(r)
    g = np.asarray(g)
    m = r <= r_cut
    shell = 4 * np.pi * r**2 if dim == 3 else 2 * np.pi * r
    return float(density * np.trapezoid(g[m] * shell[m], r[m]))


def structure_factor(r: np.ndarray, g: np.ndarray, q: np.ndarray, density: float, dim: int = 3) -> np.ndarray:
    """S(q) = 1 + ρ ∫ (g(r) − 1) K_d(qr) S_d(r) dr, K_3 = sin(qr)/(qr), K_2 = J_0(qr) (host).

    Truncation at the largest r of the grid ripples S(q) at small q; window g − 1 if needed.
    """
    from scipy.special import j0

    r, g, q = (np.asarray(x, dtype=np.float64) for x in (r, g, q))
    h = g - 1.0
    qr = q[:, None] * r[None, :]
    if dim == 3:
        kern = np.sinc(qr / np.pi) * 4 * np.pi * r[None, :] ** 2
    elif dim == 2:
        kern = j0(qr) * 2 * np.pi * r[None, :]
    else:
        raise ValueError(f"dim: must be 2 or 3, got {dim}")
    return 1.0 + density * np.trapezoid(h[None, :] * kern, r, axis=1)


def pair_correlation_from_sq(
    q: np.ndarray, s: np.ndarray, r: np.ndarray, density: float, dim: int = 3
) -> np.ndarray:
    """Inverse of :func:`structure_factor`: g(r) = 1 + 1/((2π)^d ρ) ∫ (S(q) − 1) K_d(qr) S_d(q) dq."""
    from scipy.special import j0

    q, s, r = (np.asarray(x, dtype=np.float64) for x in (q, s, r))
    qr = r[:, None] * q[None, :]
    if dim == 3:
        kern = np.sinc(qr / np.pi) * 4 * np.pi * q[None, :] ** 2
    elif dim == 2:
        kern = j0(qr) * 2 * np.pi * q[None, :]
    else:
        raise ValueError(f"dim: must be 2 or 3, got {dim}")
    return 1.0 + np.trapezoid((s - 1.0)[None, :] * kern, q, axis=1) / ((2 * np.pi) ** dim * density)
