"""The powder average over |Q| shells of a periodic cell: which reciprocal-lattice vectors a shell
holds, which of them are averaged, and the standard error of an average over a sample of them.

A Γ-only (super)cell scatters only at its reciprocal-lattice vectors ``G = 2π (h/L_x, k/L_y, l/L_z)``,
so the powder average of a |Q| shell ``[q - w/2, q + w/2)`` is the mean over the finitely many
vectors of the shell, exact for that cell when every vector is used. :func:`shell_vectors` lists them
(their number is known before any spectrum is computed); the powder average
(:func:`jaxglass.observables.powder_sqw`) uses all of them when a shell holds at most
``max_vectors`` (:data:`MAX_SHELL_VECTORS`), else a uniform random sample without replacement, grown
in batches of :data:`SAMPLE_BATCH` until the standard error of its mean falls below ``powder_tol``
(:data:`POWDER_TOL`) of the shell's maximum or the sample reaches ``max_vectors``.

The standard error of the mean of ``n`` of the ``N`` per-vector spectra ``S_k(ω)`` of a shell,
sampled without replacement, is ``sqrt(s²(ω)/n · (1 - n/N))`` with ``s²`` the sample variance
(Cochran, *Sampling Techniques*, 3rd ed., Wiley 1977, eq. 2.12 with the finite-population
correction ``1 - n/N``): it vanishes when every vector is used. The reported error of a shell is its
largest value over ω divided by the largest value of the averaged spectrum (:class:`ShellMean`).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from ..structure import Structure
from ._common import N_DIRECTIONS

#: Default tolerance of the powder average: standard error of the mean over a shell's vectors,
#: relative to the maximum of the shell's averaged spectrum.
POWDER_TOL = 0.02
#: Default budget: a shell with at most this many reciprocal-lattice vectors is averaged over all of
#: them (exact for the cell); a larger shell is sampled up to this many. Since S(-G) = S(G), half of
#: them are computed.
MAX_SHELL_VECTORS = 8192
#: Vectors added per step when a shell is sampled (and the first sample's size).
SAMPLE_BATCH = 64


@dataclasses.dataclass(frozen=True)
class ShellVectors:
    """Every reciprocal-lattice vector of each |Q| shell (host arrays).

    Attributes:
      q: ``(S,)`` shell centres (Å⁻¹).
      vectors: ``S`` arrays ``(N_s, d)``, the vectors of shell ``s`` (Å⁻¹, 2π included).
      width: shell width (Å⁻¹).
    """

    q: np.ndarray
    vectors: tuple[np.ndarray, ...]
    width: float

    @property
    def sizes(self) -> np.ndarray:
        """``(S,)`` number of vectors per shell."""
        return np.array([len(g) for g in self.vectors], dtype=np.int64)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class QShells:
    """Reciprocal-lattice vectors grouped in |Q| shells, padded to a fixed number of directions.

    Attributes:
      q: ``(S,)`` shell centres (Å⁻¹).
      vectors: ``(S, K, d)`` Q vectors (padding rows repeat a valid vector).
      mask: ``(S, K)`` True for real vectors.
      width: shell width (Å⁻¹).
    """

    q: jax.Array
    vectors: jax.Array
    mask: jax.Array
    width: float = dataclasses.field(metadata=dict(static=True))


def _fibonacci_directions(k: int, d: int) -> np.ndarray:
    if d == 2:
        t = np.pi * np.arange(k) / k * 2.0
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    i = np.arange(k) + 0.5
    z = 1.0 - 2.0 * i / k
    rho = np.sqrt(1.0 - z**2)
    phi = np.pi * (1.0 + 5**0.5) * i
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


def shell_vectors(structure: Structure, q, *, width: float | None = None) -> ShellVectors:
    """Every reciprocal-lattice vector ``2π(h/L_x, k/L_y, l/L_z)`` with ``q - width/2 ≤ |G| < q + width/2``.

    ``width`` defaults to the largest reciprocal spacing ``2π/min(L)``. A non-periodic axis uses its
    box length as the sampling period (the cell with its vacuum). Host-side (numpy).

    Raises:
      UserError if q ≤ 0, width ≤ 0, or a shell holds no vector (widen ``width`` or use a larger cell).
    """
    qc = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if qc.ndim != 1 or np.any(~np.isfinite(qc)) or np.any(qc <= 0):
        raise UserError(f"q: expected positive |Q| values in Å⁻¹ (2π included), got {qc.tolist()}")
    box = np.asarray(structure.box, dtype=np.float64)
    d = structure.dim
    dg = 2 * np.pi / box
    if width is None:
        width = float(dg.max())
    if not width > 0:
        raise UserError(f"width: shell width must be positive (Å⁻¹), got {width}")
    hmax = np.ceil(float(qc.max() + width / 2) / dg).astype(int)
    # Enumerate the lattice slab by slab along the first axis (bounded memory for large Q).
    rest = np.stack(np.meshgrid(*[np.arange(-h, h + 1) for h in hmax[1:]], indexing="ij"), -1)
    rest = rest.reshape(-1, d - 1) * dg[1:]
    found: list[list[np.ndarray]] = [[] for _ in qc]
    lo, hi = qc - width / 2, qc + width / 2
    for h0 in range(-hmax[0], hmax[0] + 1):
        g = np.concatenate([np.full((len(rest), 1), h0 * dg[0]), rest], axis=1)
        gn = np.linalg.norm(g, axis=1)
        for s in range(len(qc)):
            sel = (gn >= lo[s]) & (gn < hi[s])
            if sel.any():
                found[s].append(g[sel])
    for s in range(len(qc)):
        if not found[s]:
            raise UserError(
                f"q: the shell |Q| = {qc[s]:.4g} ± {width / 2:.3g} Å⁻¹ holds no reciprocal-lattice vector of "
                f"this cell (spacings {np.round(dg, 4).tolist()} Å⁻¹); widen width= or use a larger cell"
            )
    return ShellVectors(q=qc, vectors=tuple(np.concatenate(f) for f in found), width=float(width))


def q_shells(
    structure: Structure,
    q,
    *,
    width: float | None = None,
    n_directions: int = N_DIRECTIONS,
) -> QShells:
    """The vectors of :func:`shell_vectors`, at most ``n_directions`` per shell, padded to one array.

    For each of ``n_directions`` Fibonacci-sphere directions (evenly spaced angles in 2D) the closest
    unused vector of the shell is kept (all of them if the shell has no more). A fixed set for the
    jittable :func:`jaxglass.observables.powder_one_phonon_structure_factor`; its mean is not the
    shell's mean (see :func:`jaxglass.observables.powder_sqw` for the converged average).
    """
    if n_directions < 1:
        raise UserError(f"n_directions: must be ≥ 1, got {n_directions}")
    sv = shell_vectors(structure, q, width=width)
    d = structure.dim
    vecs = np.zeros((len(sv.q), n_directions, d))
    mask = np.zeros((len(sv.q), n_directions), dtype=bool)
    for s, g in enumerate(sv.vectors):
        chosen = fibonacci_subset(g, n_directions)
        vecs[s, : len(chosen)] = chosen
        vecs[s, len(chosen):] = chosen[0]
        mask[s, : len(chosen)] = True
    return QShells(q=jnp.asarray(sv.q), vectors=jnp.asarray(vecs), mask=jnp.asarray(mask), width=sv.width)


def fibonacci_subset(g: np.ndarray, n_directions: int) -> np.ndarray:
    """At most ``n_directions`` rows of ``g`` ``(n, d)``: for each Fibonacci-sphere direction in turn
    (evenly spaced angles in 2D), the unused vector at the smallest angle; all of ``g`` if it has no
    more rows."""
    if len(g) <= n_directions:
        return g
    dirs = _fibonacci_directions(n_directions, g.shape[1])
    cos = dirs @ (g / np.linalg.norm(g, axis=1, keepdims=True)).T  # (K, n)
    used = np.zeros(len(g), dtype=bool)
    idx = []
    for k in range(n_directions):
        j = int(np.argmax(np.where(used, -np.inf, cos[k])))
        used[j] = True
        idx.append(j)
    return g[idx]


def sample_order(n_vectors: int, max_vectors: int, seed, shell: int) -> np.ndarray:
    """The order in which a shell's ``n_vectors`` vectors are averaged: all in enumeration order when
    ``n_vectors ≤ max_vectors``, else the first ``max_vectors`` of a uniform random permutation
    (``numpy.random.default_rng((seed, shell))``, reproducible)."""
    if n_vectors <= max_vectors:
        return np.arange(n_vectors)
    return np.random.default_rng((int(seed), int(shell))).permutation(n_vectors)[:max_vectors]


def inversion_half(g: np.ndarray) -> np.ndarray:
    """One vector of each pair ±G of a shell (the one whose first non-zero component is positive).

    For real eigenvectors the one-phonon S_ν(-G) equals S_ν(G) (the amplitude is minus its complex
    conjugate), so the mean over this half is the mean over the whole shell."""
    first = np.argmax(g != 0, axis=1)
    return g[g[np.arange(len(g)), first] > 0]


@dataclasses.dataclass(frozen=True)
class ShellPlan:
    """How one shell is averaged: ``vectors`` in the order they are used, out of a population of
    ``n_total`` (the sampling population: the shell, or its half :func:`inversion_half`), each counting
    for ``weight`` lattice vectors; ``tol``: stop once the relative error is ≤ tol (``None``: use all)."""

    vectors: np.ndarray
    n_total: int
    weight: int
    tol: float | None


def plan_shells(sv: ShellVectors, *, paired: bool, max_vectors: int, powder_tol: float, seed: int = 0,
                n_directions: int | None = None) -> list[ShellPlan]:
    """The :class:`ShellPlan` of each shell of ``sv`` (module docstring). ``paired``: S(-G) = S(G)
    (real eigenvectors), so only :func:`inversion_half` is computed, each vector counting twice and
    ``max_vectors`` lattice vectors costing ``max_vectors // 2`` evaluations. ``n_directions`` (an int)
    gives the fixed set of :func:`fibonacci_subset` instead, used whole."""
    plans = []
    for i, g in enumerate(sv.vectors):
        if n_directions is not None:
            plans.append(ShellPlan(fibonacci_subset(g, n_directions), len(g), 1, None))
            continue
        pool, weight = (inversion_half(g), 2) if paired else (g, 1)
        order = sample_order(len(pool), max(1, max_vectors // weight), seed, i)
        plans.append(ShellPlan(pool[order], len(pool), weight, powder_tol if len(g) > max_vectors else None))
    return plans


@dataclasses.dataclass
class ShellMean:
    """Running mean and sum of squared deviations of per-vector spectra ``(k, G)`` of one shell,
    merged batch by batch (Chan, Golub & LeVeque, Am. Stat. 37, 242 (1983)), and the standard error of
    the mean of ``n`` of the shell's ``n_total`` vectors sampled without replacement."""

    n_total: int
    n: int = 0
    mean: np.ndarray | None = None
    m2: np.ndarray | None = None

    def add(self, batch: np.ndarray) -> None:
        b = np.asarray(batch, dtype=np.float64)
        nb, mb = len(b), b.mean(0)
        m2b = ((b - mb) ** 2).sum(0)
        if self.n == 0:
            self.n, self.mean, self.m2 = nb, mb, m2b
            return
        n = self.n + nb
        delta = mb - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2b + delta**2 * (self.n * nb / n)
        self.n = n

    def standard_error(self) -> np.ndarray:
        """``(G,)``: ``sqrt(s²/n · (1 - n/N))``, 0 when every vector is in (or with one vector)."""
        if self.n < 2 or self.n >= self.n_total:
            return np.zeros_like(self.mean)
        var = self.m2 / (self.n - 1)
        return np.sqrt(np.maximum(var, 0.0) / self.n * (1.0 - self.n / self.n_total))

    def relative_error(self) -> float:
        """``max_ω SE(ω) / max_ω |mean(ω)|`` (0 for an exact average; inf for a zero mean with spread)."""
        se = float(self.standard_error().max(initial=0.0))
        top = float(np.abs(self.mean).max(initial=0.0))
        if se == 0.0:
            return 0.0
        return se / top if top > 0 else float("inf")
