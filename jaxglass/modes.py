"""Spectra from the dynamical matrix: eigenvalues, frequencies, modes, DOS and partial DOS.

Two routes to the same numbers:

* the **host route** (default for concrete inputs): LAPACK's divide-and-conquer ``dsyevd`` through
  scipy on the host, the fastest way to the values and eigenvectors, no gradients;
* the **JAX route** (taken automatically when the inputs are traced — inside ``jax.grad``,
  ``jax.jit`` or ``jax.vmap`` — or with ``backend="jax"``): ``jnp.linalg.eigh`` with custom JVP
  rules that never differentiate eigenvectors:

  - eigenvalues by first-order (Hellmann–Feynman) perturbation theory, ``dλ_k = v_kᵀ dD v_k``,
    averaged over each degenerate block (so every derivative is independent of the basis chosen
    inside the block, and any symmetric function of the spectrum gets the exact derivative);
  - frequencies ``ν = sign(λ) sqrt(|λ|)`` with the slope ``1 / (2 sqrt|λ|)``, set to zero for the
    exact zero modes ``|λ| ≤ ZERO_MODE_RTOL · max|λ|`` (rigid translations, whose eigenvalues stay
    zero; finite everywhere, where the exact slope at λ = 0 is infinite; values unchanged);
  - species-resolved (partial) DOS as spectral traces ``Tr[P_s f(D)]``, differentiated with the
    Daleckii–Krein formula ``d Tr[P f(D)] = Σ_ij f[λ_i, λ_j] (Vᵀ P V)_ij (Vᵀ dD V)_ji`` whose divided
    differences ``f[λ_i, λ_j]`` become ``f'(λ_i)`` inside degenerate blocks.

Units: frequencies in THz (ordinary frequency) for metal units, angular ω for LJ units (see
:mod:`jaxglass.units`); DOS per unit frequency, normalised per mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._config import is_traced, require_x64
from .errors import UserError
from .hessian import as_f64, dynamical_matrix, mass_weight
from .potentials.base import Potential
from .structure import Structure
from .validation import Integral, broadening, check, memory_check, validate

#: Eigenvalues closer than this fraction of max|λ| are treated as one degenerate block.
DEGENERACY_RTOL = 1e-9
#: Eigenvalues with |λ| at most this fraction of max|λ| are exact zero modes (frequency slope 0).
ZERO_MODE_RTOL = 1e-10
#: Default Gaussian width as a fraction of the spectral width (:func:`default_grid`).
SIGMA_FRACTION = 0.01
#: Default number of grid points (:func:`default_grid`).
GRID_POINTS = 400
#: The default grid extends this many widths σ beyond the spectrum on both sides.
GRID_MARGIN = 4.0
_SIGMA_FIX = "the Gaussian broadening in the frequency unit (THz, ω for LJ units), e.g. 0.3"
_N_FIX = "the number of frequency grid points, e.g. 400"

# -------------------------------------------------------------------------------------------
# Eigenvalues and frequencies with eigenvalue-only derivatives


def _same_block(w: jax.Array) -> jax.Array:
    scale = jnp.max(jnp.abs(w)) + jnp.finfo(w.dtype).tiny
    return (jnp.abs(w[:, None] - w[None, :]) <= DEGENERACY_RTOL * scale).astype(w.dtype)


@jax.custom_jvp
def eigvalsh(a: jax.Array) -> jax.Array:
    """Ascending eigenvalues of a symmetric matrix, differentiable at degeneracies.

    The JVP is first-order perturbation theory, ``dλ_k = v_kᵀ dA v_k``, averaged over each block of
    degenerate eigenvalues (relative tolerance :data:`DEGENERACY_RTOL`). It never divides by
    eigenvalue gaps, so it is finite where ``jnp.linalg.eigh``'s own derivative is NaN, and exact
    for every symmetric function of a degenerate block (a DOS, a trace, a band sum).

    >>> import jax, jax.numpy as jnp
    >>> a = jnp.diag(jnp.array([1.0, 1.0, 2.0]))
    >>> jax.grad(lambda a: eigvalsh(a)[0])(a).diagonal().tolist()  # block {0, 1}: mean derivative
    [0.5, 0.5, 0.0]
    """
    return jnp.linalg.eigvalsh(a)


@eigvalsh.defjvp
def _eigvalsh_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    w, v = jnp.linalg.eigh(a)
    da = 0.5 * (da + da.T)
    dw = jnp.einsum("ik,ij,jk->k", v, da, v)
    same = _same_block(w)
    return w, (same @ dw) / jnp.sum(same, axis=1)


def to_frequencies(eigenvalues: jax.Array, factor: float = 1.0) -> jax.Array:
    """``sign(λ) sqrt(|λ|) * factor``: imaginary modes come out as negative frequencies.

    Differentiable everywhere (see the module docstring): the slope is capped near λ = 0.
    """
    return _to_freq_jit(jnp.asarray(eigenvalues), float(factor))


@partial(jax.custom_jvp, nondiff_argnums=(1,))
def _to_freq(lam, factor):
    return jnp.sign(lam) * jnp.sqrt(jnp.abs(lam)) * factor


@_to_freq.defjvp
def _to_freq_jvp(factor, primals, tangents):
    (lam,), (dlam,) = primals, tangents
    return _to_freq(lam, factor), dlam * _freq_slope(lam, factor)


# one compiled program for concrete eigenvalues (the host route), not five eager operations
_to_freq_jit = jax.jit(_to_freq, static_argnums=1)


def _freq_slope(lam, factor):
    """dν/dλ = factor / (2 sqrt|λ|) for both signs of λ; zero for the zero modes.

    Eigenvalues with |λ| ≤ ZERO_MODE_RTOL · max|λ| are the exact zero modes (rigid translations):
    they stay zero under any displacement, and their first-order shifts are round-off, which the
    infinite slope 1/(2 sqrt|λ|) would amplify; their frequency derivative is set to zero.
    """
    floor = ZERO_MODE_RTOL * jnp.max(jnp.abs(lam)) + jnp.finfo(lam.dtype).tiny
    big = jnp.abs(lam) > floor
    return jnp.where(big, factor * 0.5 / jnp.sqrt(jnp.where(big, jnp.abs(lam), 1.0)), 0.0)


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
    check("sigma", sigma, broadening, _SIGMA_FIX)
    return _dos(jnp.asarray(freqs), jnp.asarray(grid), sigma, weights)


@jax.jit
def _dos(freqs, grid, sigma, weights):
    g = gaussian(grid[:, None] - freqs[None, :], sigma)  # (G, M)
    m = freqs.shape[-1]
    if weights is None:
        return g.sum(-1) / m
    return jnp.einsum("...m,gm->...g", weights, g) / m


def species_projector(structure: Structure) -> jax.Array:
    """``(S, N d)`` 0/1 rows selecting the Cartesian coordinates of each species."""
    onehot = jax.nn.one_hot(structure.species, len(structure.species_names), dtype=structure.positions.dtype)
    return jnp.repeat(onehot.T, structure.dim, axis=1)


def species_weights(structure: Structure, eigenvectors: jax.Array) -> jax.Array:
    """``(S, M)`` weight of each mode on each species: Σ_{i∈s} |e_{k,i}|² (sums to 1 over s)."""
    return species_projector(structure).astype(eigenvectors.dtype) @ (jnp.abs(eigenvectors) ** 2)


def dos_from_dynamical(D: jax.Array, grid: jax.Array, sigma: float, factor: float = 1.0) -> jax.Array:
    """Total DOS ``(G,)`` of a dynamical matrix (JAX route; derivative by Hellmann–Feynman)."""
    return dos(to_frequencies(eigvalsh(D), factor), grid, sigma)


def partial_dos_from_dynamical(
    D: jax.Array, proj: jax.Array, grid: jax.Array, sigma: float, factor: float = 1.0
) -> jax.Array:
    """Projected DOS ``(S, G)``: ``Tr[P_s δ_σ(ν - ν(D))] / M`` for projector rows ``proj`` ``(S, M)``.

    ``proj`` holds diagonal projectors (e.g. :func:`species_projector`); the rows sum to the total DOS
    when they partition the coordinates. Derivative with respect to ``D`` by the degeneracy-safe
    Daleckii–Krein rule (none with respect to ``proj`` or ``grid``).
    """
    check("sigma", sigma, broadening, _SIGMA_FIX)
    proj, grid = jnp.asarray(proj, D.dtype), jnp.asarray(grid, D.dtype)
    return _projected_dos(D, proj, grid, float(sigma), float(factor))


def _dos_kernel(lam, grid, sigma, factor, m):
    """f_g(λ_k) = G_σ(grid_g - ν(λ_k)) / M and its λ-derivative, both ``(G, M)``."""
    nu = _to_freq(lam, factor)
    x = grid[:, None] - nu[None, :]
    f = gaussian(x, sigma) / m
    df = f * (x / sigma**2) * _freq_slope(lam, factor)[None, :]  # d/dλ of G(grid - ν(λ))
    return f, df


@partial(jax.custom_jvp, nondiff_argnums=(3, 4))
def _projected_dos(D, proj, grid, sigma, factor):
    lam, v = jnp.linalg.eigh(D)
    f, _ = _dos_kernel(lam, grid, sigma, factor, D.shape[0])
    weights = proj @ (v * v)  # (S, M): diag(Vᵀ P_s V)
    return weights @ f.T


@_projected_dos.defjvp
def _projected_dos_jvp(sigma, factor, primals, tangents):
    D, proj, grid = primals
    dD = tangents[0]
    m = D.shape[0]
    lam, v = jnp.linalg.eigh(D)
    f, df = _dos_kernel(lam, grid, sigma, factor, m)
    weights = proj @ (v * v)
    out = weights @ f.T
    dD = 0.5 * (dD + dD.T)
    B = v.T @ dD @ v  # (M, M) perturbation in the eigenbasis
    C = jnp.einsum("sa,ai,aj->sij", proj, v, v)  # (S, M, M) projectors in the eigenbasis
    gap = lam[:, None] - lam[None, :]
    near = jnp.abs(gap) <= DEGENERACY_RTOL * (jnp.max(jnp.abs(lam)) + jnp.finfo(lam.dtype).tiny)
    safe_gap = jnp.where(near, 1.0, gap)
    CB = C * B[None, :, :]  # B symmetric: (Vᵀ P V)_ij (Vᵀ dD V)_ji

    def one_point(fg_dfg):
        fg, dfg = fg_dfg
        dd = jnp.where(near, 0.5 * (dfg[:, None] + dfg[None, :]), (fg[:, None] - fg[None, :]) / safe_gap)
        return jnp.einsum("ij,sij->s", dd, CB)

    dout = jax.lax.map(one_point, (f, df)).T  # (S, G)
    return out, dout


# -------------------------------------------------------------------------------------------
# Modes and the public spectrum functions


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


#: Peak memory of the dense route (Hessian + dynamical matrix + host eigh with eigenvectors) ≈
#: DENSE_BYTES_PER_ATOM2 · N² + DENSE_BYTES_BASE for N atoms (measured: peak resident set size of the
#: dense `jaxglass pdos` route on 3D structures).
DENSE_BYTES_PER_ATOM2 = 346.0
DENSE_BYTES_BASE = 0.43e9


def check_dense_memory(n_atoms: int) -> None:
    """Refuse (``UserError`` naming ``method``) a dense Hessian + eigensolve whose memory estimate
    ``346 bytes · N² + 0.43 GB`` exceeds :func:`jaxglass.validation.memory_limit`."""
    memory_check("method", DENSE_BYTES_PER_ATOM2 * float(n_atoms) ** 2 + DENSE_BYTES_BASE,
                 f"the dense Hessian and eigensolve of {n_atoms} atoms",
                 "use the matrix-free KPM route (method='kpm'; jaxglass pdos --method kpm) or a smaller "
                 "structure")


def _route(backend: str, *trees) -> str:
    if backend not in ("auto", "host", "jax"):
        raise UserError(f"backend: expected 'auto', 'host' or 'jax', got {backend!r}")
    traced = is_traced(*trees)
    if backend == "host" and traced:
        raise UserError(
            "backend: 'host' runs LAPACK on the host and cannot be traced (jax.grad/jit/vmap); use "
            "backend='jax' or 'auto'"
        )
    return "jax" if backend == "jax" or (backend == "auto" and traced) else "host"


#: A host eigen-solve of at least this many degrees of freedom announces itself to ``modes(log=...)``:
#: its size and an estimated time (:func:`eigh_estimate`) before LAPACK starts, the time taken after.
EIGH_REPORT_MIN_DOF = 3000
#: Calibration solves of :func:`eigh_estimate`: ``n / 4`` clipped to this range, the fastest of
#: :data:`EIGH_CALIBRATION_REPEATS` after a small warm-up solve (library start-up and a load spike kept
#: out of the rate): a few % of the first reported solve of a process.
EIGH_CALIBRATION_N = (256, 1000)
EIGH_CALIBRATION_REPEATS = 3
_eigh_calibration: dict[bool, tuple[int, float, bool]] = {}


class EighEstimate(NamedTuple):
    """:func:`eigh_estimate`'s answer: the estimate (s), the calibration size and time (s), and whether
    the calibration ran on one BLAS thread."""

    seconds: float
    n_c: int
    t_c: float
    one_thread: bool


def host_eigh(D: np.ndarray, eigenvectors: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Ascending eigenvalues (and column eigenvectors) of the symmetric float64 matrix ``D`` by host
    LAPACK, working in ``D``'s buffer: divide and conquer (``dsyevd``) with vectors; values only by
    the two-stage ``dsyevd_2stage`` where a bundled OpenBLAS exports it (1.5-1.7x faster), else
    ``dsyevd`` with jobz='N' (which really skips the vectors, unlike ``jnp.linalg.eigvalsh`` on CPU:
    2-3x faster, 2 fewer N² buffers; benchmarks/phonons.py)."""
    from scipy.linalg import eigh as _sp_eigh

    if eigenvectors:
        return _sp_eigh(D, driver="evd", overwrite_a=True, check_finite=False)
    from ._lapack import eigvalsh_2stage

    lam = eigvalsh_2stage(D, overwrite_a=True)
    if lam is None:  # no bundled OpenBLAS exporting it
        lam = _sp_eigh(D, eigvals_only=True, driver="evd", overwrite_a=True, check_finite=False)
    return lam, None


def eigh_estimate(n: int, eigenvectors: bool = True) -> EighEstimate:
    """Estimated wall time of :func:`host_eigh` on an ``n x n`` matrix: ``t_c (n / n_c)³`` from
    calibration solves of a random symmetric ``n_c x n_c`` matrix (``n_c = n / 4`` within
    :data:`EIGH_CALIBRATION_N`; the fastest of :data:`EIGH_CALIBRATION_REPEATS`), timed once per process
    and kind (values only, or with vectors).

    The calibration runs on one BLAS thread (``threadpoolctl``, when installed): a threaded solve of a
    small matrix is dominated by its threads waiting for each other (15-28x slower than one thread on
    a shared 2-core machine), which made threaded calibrations miss by 0.5x to 69x. The estimate is
    therefore the one-thread time: within 8 % of a one-thread solve with eigenvectors, 1.7-1.8x long
    for eigenvalues only (the two-stage reduction gains with size); a threaded solve on idle cores
    finishes sooner, one on busy cores may take longer (docs/validation.md, benchmarks/eigh_eta.py)."""
    if eigenvectors not in _eigh_calibration:
        lo, hi = EIGH_CALIBRATION_N
        n_c = int(min(hi, max(lo, n // 4)))
        a = np.random.default_rng(0).standard_normal((n_c, n_c))
        a = a + a.T
        try:
            from threadpoolctl import threadpool_limits

            limit, one = threadpool_limits(1, user_api="blas"), True
        except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
            limit, one = contextlib.nullcontext(), False
        with limit:
            host_eigh(a[:64, :64].copy(), eigenvectors)  # warm-up
            times = []
            for _ in range(EIGH_CALIBRATION_REPEATS):
                b = a.copy()
                t = time.perf_counter()
                host_eigh(b, eigenvectors)
                times.append(time.perf_counter() - t)
        _eigh_calibration[eigenvectors] = (n_c, min(times), one)
    n_c, t_c, one = _eigh_calibration[eigenvectors]
    return EighEstimate(t_c * (n / n_c) ** 3, n_c, t_c, one)


def _eigh_reported(D: np.ndarray, eigenvectors: bool, log) -> tuple[np.ndarray, np.ndarray | None]:
    """:func:`host_eigh`, with a start line (size, estimated time) and a finish line through ``log``
    when ``D`` has at least :data:`EIGH_REPORT_MIN_DOF` rows (LAPACK itself reports nothing)."""
    n = D.shape[0]
    if log is None or n < EIGH_REPORT_MIN_DOF:
        return host_eigh(D, eigenvectors)
    est, n_c, t_c, one = eigh_estimate(n, eigenvectors)
    what = "eigenvalues and eigenvectors" if eigenvectors else "eigenvalues only"
    log(f"dense eigen-solve: {n} x {n} dynamical matrix ({what}), estimated {est:.1f} s (O(n³) from a "
        f"{n_c} x {n_c} calibration solve in {t_c:.3f} s{' on one BLAS thread' if one else ''} in this "
        "process); LAPACK reports no progress")
    t = time.perf_counter()
    out = host_eigh(D, eigenvectors)
    log(f"dense eigen-solve: {n} x {n} finished in {time.perf_counter() - t:.1f} s (estimated {est:.1f} s)")
    return out


def modes(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array] | None = None,
    *,
    eigenvectors: bool = True,
    H: jax.Array | None = None,
    D: jax.Array | None = None,
    log: Callable[[str], None] | None = None,
) -> Modes:
    """Γ-point normal modes: Hessian → mass weighting → symmetric eigensolve (float64, host LAPACK,
    :func:`host_eigh`).

    ``H`` (a precomputed Hessian) or ``D`` (a precomputed dynamical matrix, already mass-weighted)
    skip the Hessian. For gradients use :func:`frequencies` or :func:`pdos` (eigenvalue-only
    derivative rules); the eigenvectors themselves are never differentiated. ``log``: a solve of at
    least :data:`EIGH_REPORT_MIN_DOF` degrees of freedom writes its size and estimated time
    (:func:`eigh_estimate`) before it starts and the time taken after.
    """
    require_x64("jaxglass.modes.modes")
    if H is not None and D is not None:
        raise UserError("H, D: give the Hessian or the dynamical matrix, not both")
    if is_traced(potential, structure, H, D):
        raise UserError(
            "modes: eigenvectors are not differentiable at degeneracies and are computed on the host; "
            "differentiate frequencies(...) or pdos(...) instead (they use eigenvalue-only rules)"
        )
    if D is None:
        check_dense_memory(structure.n_atoms)
        D = dynamical_matrix(potential, structure, nbrs) if H is None else mass_weight(
            H, as_f64(structure).masses, structure.dim)
    lam, vec = _eigh_reported(np.array(D), eigenvectors, log)  # a host copy that LAPACK may overwrite
    lam = jnp.asarray(lam)
    vec = None if vec is None else jnp.asarray(vec)
    freqs = to_frequencies(lam, potential.freq_factor)
    return Modes(frequencies=freqs, eigenvalues=lam, eigenvectors=vec, unit=potential.freq_unit)


def frequencies(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array] | None = None,
    *,
    backend: str = "auto",
) -> jax.Array:
    """Ascending Γ-point frequencies (THz for metal units; ω for LJ units; negative = imaginary).

    ``backend="auto"`` runs host LAPACK for concrete inputs and the differentiable JAX route
    (:func:`eigvalsh`, :func:`to_frequencies`) when traced; ``"host"`` / ``"jax"`` force one.
    """
    if _route(backend, potential, structure) == "host":
        return modes(potential, structure, nbrs, eigenvectors=False).frequencies
    require_x64("jaxglass.modes.frequencies")
    D = dynamical_matrix(potential, structure, nbrs)
    return to_frequencies(eigvalsh(D), potential.freq_factor)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class PDOS:
    """Total and species-resolved phonon DOS on a frequency grid (each normalised per mode).

    ``partial[s]`` sums over species to ``total``; ``total`` integrates to 1.
    """

    grid: jax.Array
    total: jax.Array
    partial: jax.Array | None
    species_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))
    unit: str = dataclasses.field(default="THz", metadata=dict(static=True))


@validate({"sigma": [None, broadening, _SIGMA_FIX], "n": [Integral(2, None), _N_FIX]})
def default_grid(freqs, sigma: float | None = None, n: int = GRID_POINTS) -> tuple[jax.Array, float]:
    """The default frequency grid and Gaussian width of every DOS and spectrum: the one rule.

    σ = 1 % (:data:`SIGMA_FRACTION`) of the spectral width ``max(ν) - min(min(ν), 0)``; ``n`` points
    from ``min(ν) - 4σ`` to ``max(ν) + 4σ`` (:data:`GRID_MARGIN`).

    Args:
      freqs: the mode frequencies (imaginary modes as negative values), or just the ends of the
        spectrum, e.g. ``(0, ν_max)`` from spectral bounds (the KPM route).
      sigma: a given width (only the grid is then derived).
      n: grid points.

    Returns:
      ``(grid, sigma)``: the grid as a jax array and σ as a float.
    """
    f = np.asarray(freqs)
    if sigma is None:
        sigma = SIGMA_FRACTION * float(f.max() - min(f.min(), 0.0))
        if not sigma > 0:
            raise UserError(
                "potential: every mode frequency is 0, so the spectrum has no width (and no default "
                "broadening): no pair of atoms interacts. Check that the potential's "
                "cutoff reaches the neighbours of this structure (its length unit and density) and that "
                "the potential's species match the structure's"
            )
    pad = GRID_MARGIN * sigma
    return jnp.asarray(np.linspace(float(f.min()) - pad, float(f.max()) + pad, n)), float(sigma)


@validate({"sigma": [None, broadening, _SIGMA_FIX]})
def pdos(
    potential: Potential,
    structure: Structure,
    grid: jax.Array | None = None,
    sigma: float | None = None,
    *,
    m: Modes | None = None,
    nbrs: Sequence[jax.Array] | None = None,
    partial: bool = True,
    backend: str = "auto",
) -> PDOS:
    """Phonon DOS and species-resolved partial DOS at Γ, Gaussian-broadened (∫ total dν = 1).

    Differentiable: under ``jax.grad``/``jit``/``vmap`` (or with ``backend="jax"``) the DOS is computed
    with the eigenvalue-only rules of this module, so gradients with respect to positions and to the
    potential's parameters flow through it. The traced route needs ``grid``, ``sigma`` and ``nbrs``
    (neighbour lists are built on the host). ``partial=False`` skips the species-resolved DOS (its
    derivative costs O(G · S · M²) where the total's costs one eigen-solve).

    Defaults (host route): :func:`default_grid` (400 grid points from min(ν) - 4σ to max(ν) + 4σ,
    σ = 1 % of the spectral width).

    >>> import jaxglass, jax, jax.numpy as jnp
    >>> from jaxglass.generate import random_packing
    >>> from jaxglass.potentials import kob_andersen
    >>> jaxglass.enable_x64()
    >>> s = random_packing(64, 1.2, 2, {"A": 1.0}, min_distance=0.7, seed=0)
    >>> pot = kob_andersen(); nb = pot.neighbors(s); grid = jnp.linspace(0.0, 40.0, 81)
    >>> g = jax.grad(lambda x: pdos(pot, s.with_positions(x), grid, 2.0, nbrs=nb).total[20])(s.positions)
    >>> g.shape, bool(jnp.all(jnp.isfinite(g)))
    ((64, 2), True)
    """
    if _route(backend, potential, structure, m) == "host":
        if m is None:
            m = modes(potential, structure, nbrs, eigenvectors=partial)
        if grid is None or sigma is None:
            grid0, sigma = default_grid(m.frequencies, sigma)
            grid = grid0 if grid is None else grid
        grid = jnp.asarray(grid)
        total = dos(m.frequencies, grid, sigma)
        part = None
        if partial:
            part = dos(m.frequencies, grid, sigma, weights=species_weights(structure, m.eigenvectors))
        return PDOS(grid=grid, total=total, partial=part, species_names=structure.species_names, unit=m.unit)

    require_x64("jaxglass.modes.pdos")
    if grid is None or sigma is None:
        raise UserError(
            "grid, sigma: the differentiable (traced) PDOS needs an explicit frequency grid and width; "
            "pass e.g. grid=jnp.linspace(0, 40, 400), sigma=0.3"
        )
    if m is not None:
        raise UserError("m: precomputed modes carry no gradient; leave m=None on the traced route")
    D = dynamical_matrix(potential, structure, nbrs)
    grid = jnp.asarray(grid, D.dtype)
    f = potential.freq_factor
    total = dos_from_dynamical(D, grid, sigma, f)
    part = partial_dos_from_dynamical(D, species_projector(structure), grid, sigma, f) if partial else None
    return PDOS(
        grid=grid, total=total, partial=part, species_names=structure.species_names, unit=potential.freq_unit
    )
