"""Matrix-free vibrational spectra by the kernel polynomial method (KPM).

The dense route (:mod:`jaxglass.modes`) forms the ``(N d)²`` dynamical matrix and diagonalises it:
O(N²) memory, O(N³) time. KPM never forms it. It needs only the mass-weighted Hessian-vector
product ``D v`` (:func:`jaxglass.hessian.dynamical_hvp`: forward mode over explicit forces, or
forward-over-reverse of the energy, over the neighbour lists, O(N)), and estimates spectral traces
with random vectors:

1. **Spectral bounds** ``[a, b]`` of ``D`` by a short Lanczos run (:func:`spectral_bounds`), widened by
   the Ritz residual norms and a safety margin so that the rescaled matrix
   ``X = (D - c) / h`` (``c = (a + b)/2``, ``h = (b - a)/2``) has its spectrum inside ``[-1, 1]``.
2. **Chebyshev moments** ``μ_n = Tr[P T_n(X)] / (N d)`` by the stochastic trace
   ``Tr A ≈ (1/R) Σ_r zᵣᵀ A zᵣ`` with Rademacher vectors ``zᵣ`` (entries ±1), the three-term
   recursion ``T_{n+1} = 2 X T_n - T_{n-1}`` on the vectors and the doubling identities
   ``μ_{2n} = 2 ⟨T_n, T_n⟩ - μ_0``, ``μ_{2n+1} = 2 ⟨T_{n+1}, T_n⟩ - μ_1`` (M moments from M/2 products).
   Species-resolved (partial) moments use vectors projected on each species' coordinates
   (``P = P_s``); their sum over species is the total, exactly.
3. **The DOS on a frequency grid.** Every spectral density that jaxglass reports is a trace
   ``Tr[P f(D)]`` of a smooth function; the Gaussian-broadened DOS at grid point ``ν_g`` is
   ``f_g(λ) = G_σ(ν_g - ν(λ)) / (N d)`` with ``ν(λ) = factor · sign(λ) sqrt|λ|``, the same definition as
   :func:`jaxglass.modes.dos`. Each ``f_g`` is expanded in Chebyshev polynomials of ``X``
   (coefficients by Chebyshev–Gauss quadrature on ``2M`` nodes), the coefficients are damped with
   the **Jackson kernel** ``g_n`` (no Gibbs oscillations, a positive result), and
   ``DOS(ν_g) = Σ_n g_n c_{g,n} μ_n`` — a fixed linear map of the moments.
   :func:`dos_lambda` gives the classic KPM density in ``λ`` (eigenvalue) space as well.

Accuracy: the result tends to the dense Gaussian-broadened DOS as M → ∞ and R · N d → ∞. The
Jackson kernel adds a broadening of about ``π h / M`` in λ, i.e. ``π h / (2 M ν) · factor²`` in
frequency — largest at low frequency, so choose ``moments`` with the width ``sigma`` in mind
(docs/kpm.md, "Accuracy against the dense route", gives the errors). The stochastic error of the
trace falls as ``1 / sqrt(R · N d)``: one or two vectors suffice for 10⁵ atoms.

Everything here is a pure function of the potential (a PyTree), the structure, the neighbour
lists and a PRNG key: jittable, and differentiable with respect to positions and parameters by
ordinary reverse-mode AD through the recursion (the trace needs no eigenvectors). Memory is O(R N)
forward; a gradient keeps the two recursion vectors of every step (O(M R N)).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ._config import is_traced, require_x64
from .chebyshev import (  # re-exported: the linear-algebra core of KPM
    BOUND_MARGIN,
    LANCZOS_STEPS,
    chebyshev_coefficients,
    chebyshev_moments,
    chebyshev_start,
    chebyshev_steps,
    jackson_kernel,
    spectral_bounds,
)
from .errors import UserError
from .hessian import as_f64, dynamical_operator, neighbors_for
from .modes import PDOS, default_grid, gaussian, species_projector
from .potentials.base import Potential
from .structure import Structure
from .units import HBAR_OVER_AMU_THZ_A2, MBARN_PER_FM2, THZ_TO_MEV
from .validation import (
    Integral,
    broadening,
    memory_check,
    nonnegative,
    temperature_kelvin,
    validate,
)

#: Default number of Chebyshev moments (docs/kpm.md accuracy table: above ~256 moments the error at the
#: default 1 % broadening is the stochastic one).
DEFAULT_MOMENTS = 1024
#: Default probe budget: R · N d ≈ this many probe components (the stochastic error of the DOS falls
#: as 1/sqrt(R N d)); R is clipped to [1, MAX_DEFAULT_VECTORS].
PROBE_BUDGET = 40_000
MAX_DEFAULT_VECTORS = 16


def default_vectors(n_dof: int) -> int:
    """Random vectors for ``n_dof`` degrees of freedom: ``ceil(PROBE_BUDGET / n_dof)`` in [1, 16]
    (16 at 864 atoms in 3D, 1 from 13,334 atoms on)."""
    return int(min(MAX_DEFAULT_VECTORS, max(1, -(-PROBE_BUDGET // int(n_dof)))))


def pdos_memory(
    n_dof: int, n_proj: int, moments: int, vectors: int, n_points: int = 400
) -> tuple[float, float]:
    """Bytes a KPM DOS needs: ``(for the probe vectors, for the moments and coefficients)``.

    Vectors: the ``n_proj · R`` projected probes and the three recursion vectors of each (plus the
    Hessian-vector product's temporaries, counted as one more); moments: the ``(S, R, M)`` moments,
    the ``(G, K)`` and ``(M, K)`` quadrature tables (``K = max(2M, 2048)`` nodes) and the ``(G, M)``
    coefficients, float64.
    """
    k = max(2 * moments, 2048)
    vec = 8.0 * n_proj * vectors * n_dof * 5
    mom = 8.0 * (n_proj * vectors * moments + n_points * k + moments * k + n_points * moments)
    return vec, mom


def check_pdos_memory(n_dof: int, n_proj: int, moments: int, vectors: int, n_points: int = 400) -> None:
    """:func:`jaxglass.validation.memory_check` of a KPM DOS (:func:`pdos_memory`), naming the argument
    further above its default: ``vectors`` or ``moments``."""
    vec, mom = pdos_memory(n_dof, n_proj, moments, vectors, n_points)
    name = "vectors" if vectors / default_vectors(n_dof) > moments / DEFAULT_MOMENTS else "moments"
    memory_check(
        name,
        vec + mom,
        f"KPM with M = {moments} moments and R = {vectors} random vector(s) x {n_proj} projection(s) "
        f"on {n_dof} degrees of freedom",
        f"lower {name} (defaults: moments {DEFAULT_MOMENTS}, vectors {default_vectors(n_dof)})",
    )


# -------------------------------------------------------------------------------------------
# Densities from moments


def frequency_dos_coefficients(
    grid, sigma: float, factor: float, a, b, n_moments: int, weight=None
) -> jax.Array:
    """``(G, M)`` Jackson-damped Chebyshev coefficients of ``λ ↦ G_σ(ν_g - ν(λ))``.

    ``DOS(ν_g) = coef @ μ`` with ``μ`` the moments normalised per mode (``Tr[T_n]/(N d)``).
    ``weight(grid, ν)`` ``(G, K)``, if given, replaces the plain Gaussian (e.g. Bose-weighted
    loss and gain peaks of a scattering function), with ``ν = ν(λ)`` the node frequencies.
    """
    grid = jnp.asarray(grid)

    def f(lam):
        nu = factor * jnp.sign(lam) * jnp.sqrt(jnp.abs(lam))
        if weight is not None:
            return weight(grid, nu)
        return gaussian(grid[:, None] - nu[None, :], sigma)

    # more nodes than moments: the integrand is sharp at low frequency
    coef = chebyshev_coefficients(f, a, b, n_moments, n_nodes=max(2 * n_moments, 2048))
    return coef * jackson_kernel(n_moments, coef.dtype)[None, :]


def dos_lambda(mu: jax.Array, a, b, lam: jax.Array) -> jax.Array:
    """Classic KPM density in eigenvalue space, ``ρ(λ)`` per unit λ (Jackson kernel), from moments."""
    m = mu.shape[-1]
    c, h = 0.5 * (a + b), 0.5 * (b - a)
    x = jnp.clip((jnp.asarray(lam) - c) / h, -1 + 1e-12, 1 - 1e-12)
    g = jackson_kernel(m, mu.dtype)
    n = jnp.arange(m)
    tn = jnp.cos(n[:, None] * jnp.arccos(x)[None, :])
    w = (g * mu).at[..., 1:].multiply(2.0)
    return (w @ tn) / (jnp.pi * jnp.sqrt(1.0 - x**2) * h)


# -------------------------------------------------------------------------------------------
# Sharding over atoms


def atom_mesh(devices=None) -> jax.sharding.Mesh:
    """A one-axis device mesh named ``"atoms"`` (all local devices by default).

    Multi-host: call ``jax.distributed.initialize()`` on every host first; ``jax.devices()`` then lists
    every device of the job and the same code shards over all of them.
    """
    devs = np.asarray(jax.devices() if devices is None else devices)
    return jax.sharding.Mesh(devs.reshape(-1), ("atoms",))


def shard_atoms(structure: Structure, nbrs: Sequence[jax.Array], mesh: jax.sharding.Mesh):
    """Place the per-atom arrays (positions, species, masses, neighbour rows) block-wise over ``mesh``.

    The atom count must be a multiple of the number of devices (pad the structure or pick a
    divisible size). The box and parameters are replicated.
    """
    n = structure.n_atoms
    ndev = mesh.devices.size
    if n % ndev:
        raise UserError(
            f"structure: {n} atoms cannot be split evenly over {ndev} devices; use a multiple of {ndev}"
        )
    P = jax.sharding.PartitionSpec
    rows = jax.sharding.NamedSharding(mesh, P("atoms"))
    rep = jax.sharding.NamedSharding(mesh, P())
    s = structure.replace(
        positions=jax.device_put(structure.positions, rows),
        species=jax.device_put(structure.species, rows),
        masses=jax.device_put(structure.masses, rows),
        box=jax.device_put(structure.box, rep),
    )
    return s, tuple(jax.device_put(jnp.asarray(i), rows) for i in nbrs)


# -------------------------------------------------------------------------------------------
# Phonon DOS of a structure


def probe_vectors(key: jax.Array, n_vectors: int, shape: tuple[int, ...], dtype=jnp.float64) -> jax.Array:
    """``(R, *shape)`` Rademacher vectors (entries ±1): ``E[z zᵀ] = I``, the lowest-variance real probes."""
    return jax.random.rademacher(key, (n_vectors, *shape), dtype=dtype)


def _rescaled(D, a, b):
    """``v ↦ X v`` with ``X = (D - c) / h`` (spectrum of the operator D in ``[a, b]`` mapped into [-1, 1])."""
    c, h = 0.5 * (a + b), 0.5 * (b - a)
    return lambda v: (D(v) - c * v) / h


def moments(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array],
    z: jax.Array,
    bounds: tuple,
    n_moments: int = DEFAULT_MOMENTS,
    projectors: jax.Array | None = None,
) -> jax.Array:
    """Stochastic Chebyshev moments ``Tr[P_s T_n(X)] / (N d)`` of the dynamical matrix.

    Args:
      z: probe vectors ``(R, N, d)`` with ``E[z zᵀ] = I`` (:func:`probe_vectors`; ``sqrt(N d)`` times
        the unit vectors give the exact trace).
      bounds: ``(a, b)`` enclosing the spectrum of D (eV/Å²/amu), e.g. from :func:`spectral_bounds`.
      projectors: ``(S, N, d)`` 0/1 masks (one per species); ``None`` for the total.

    Returns ``(S, M)`` (``S = 1`` for the total). Pure and jittable (``n_moments`` static).
    """
    return _operator_moments(dynamical_operator(potential, structure, nbrs), z, bounds, n_moments, projectors)


def _operator_moments(D, z, bounds, n_moments, projectors):
    """:func:`moments` of an already built dynamical-matrix operator ``D``."""
    n, d = z.shape[1:]
    matvec = _rescaled(D, *bounds)
    if projectors is None:
        projectors = jnp.ones((1, n, d), z.dtype)
    zs = projectors[:, None] * z[None]  # (S, R, N, d)
    mu = jax.lax.map(
        lambda zr: jax.vmap(lambda v: chebyshev_moments(matvec, v, n_moments))(zr), zs
    )  # (S, R, M)
    return mu.mean(axis=1) / (n * d)


@partial(jax.jit, static_argnames=("n_moments", "n_vectors", "partial", "steps", "mesh"))
def _bounds_and_moments(potential, structure, nbrs, key, bounds, n_moments, n_vectors, partial, steps, mesh):
    k_lanczos, k_trace = jax.random.split(key)
    D = dynamical_operator(potential, structure, nbrs)  # once, for the bounds and the moments
    if bounds is None:
        v0 = jax.random.normal(k_lanczos, structure.positions.shape, structure.positions.dtype)
        bounds = spectral_bounds(D, v0, steps)
    proj = None
    if partial:
        proj = species_projector(structure).reshape(-1, *structure.positions.shape)
    z = probe_vectors(k_trace, n_vectors, structure.positions.shape, structure.positions.dtype)
    if mesh is not None:  # probes block-wise over atoms like the positions; XLA partitions the HVPs
        P = jax.sharding.PartitionSpec
        z = jax.lax.with_sharding_constraint(z, jax.sharding.NamedSharding(mesh, P(None, "atoms")))
        if proj is not None:
            proj = jax.lax.with_sharding_constraint(proj, jax.sharding.NamedSharding(mesh, P(None, "atoms")))
    mu = _operator_moments(D, z, bounds, n_moments, proj)
    return jnp.stack(bounds), mu


# The same moments with the recursion cut into compiled chunks run from the host, for progress reports
# (and a prompt Ctrl-C: Python runs between chunks). Same probes, same arithmetic (the dot products are
# summed in another order: equal to round-off).
#: Progress reports per KPM DOS (chunks of the recursion).
PROGRESS_CHUNKS = 10


@partial(jax.jit, static_argnames=("n_vectors", "partial", "steps"))
def _probes_and_bounds(D, structure, key, bounds, n_vectors, partial, steps):
    k_lanczos, k_trace = jax.random.split(key)  # as in _bounds_and_moments
    if bounds is None:
        v0 = jax.random.normal(k_lanczos, structure.positions.shape, structure.positions.dtype)
        bounds = spectral_bounds(D, v0, steps)
    z = probe_vectors(k_trace, n_vectors, structure.positions.shape, structure.positions.dtype)
    proj = (species_projector(structure).reshape(-1, *structure.positions.shape) if partial
            else jnp.ones((1, *structure.positions.shape), z.dtype))
    return jnp.stack(bounds), proj[:, None] * z[None]  # (S, R, N, d)


# One projection at a time (lax.map), its R vectors together (vmap), as in _bounds_and_moments: a vmap
# over all S·R vectors at once was measured slower per vector on the CPU.
@jax.jit
def _recursion_start(D, ab, zs):
    matvec = _rescaled(D, *ab)
    return jax.lax.map(lambda z: chebyshev_start(matvec, z), zs)


@partial(jax.jit, static_argnames=("chunk",))
def _recursion_chunk(D, ab, state, n_steps, chunk):
    matvec = _rescaled(D, *ab)
    return jax.lax.map(lambda st: chebyshev_steps(matvec, st, n_steps, chunk), state)


def _moments_with_progress(potential, structure, nbrs, key, bounds, n_moments, n_vectors, partial, steps,
                           mesh, progress):
    """``(bounds, (S, M) moments)`` as :func:`_bounds_and_moments`, reporting ``progress(done, M)``."""
    if mesh is not None or is_traced(potential, structure.positions):
        raise UserError("progress: reported from the host between chunks of the recursion; not under "
                        "jit/grad/vmap or with mesh=")
    D = jax.jit(dynamical_operator)(potential, structure, nbrs)  # once: the bounds and chunks share it
    ab, zs = _probes_and_bounds(D, structure, key, bounds, n_vectors, partial, steps)
    state, mu01 = _recursion_start(D, ab, zs)
    total = (n_moments + 1) // 2 - 1  # recursion steps after the first product
    chunk = max(1, -(-total // PROGRESS_CHUNKS))
    parts, done = [np.asarray(mu01)], 0  # (S, 2, R) host copies (small): no device work between chunks
    progress(min(2, n_moments), n_moments)
    while done < total:
        k = min(chunk, total - done)
        state, out = _recursion_chunk(D, ab, state, k, chunk)
        out = np.asarray(out)  # (S, chunk, 2, R); waits for the chunk
        parts.append(out[:, :k].reshape(out.shape[0], 2 * k, -1))
        done += k
        progress(min(2 + 2 * done, n_moments), n_moments)
    n, d = structure.positions.shape
    mu = np.concatenate(parts, axis=1)[:, :n_moments]  # (S, M, R)
    return ab, jnp.asarray(mu.mean(axis=2) / (n * d))


@validate({
    "sigma": [None, broadening, "the Gaussian broadening in the frequency unit (THz, ω for LJ units)"],
    "moments": [Integral(2, None), f"the number of Chebyshev moments, e.g. {DEFAULT_MOMENTS}"],
    "vectors": [None, Integral(1, None), "random vectors per species, e.g. 4 (None: default_vectors)"],
    "lanczos_steps": [Integral(2, None)],
})
def pdos(
    potential: Potential,
    structure: Structure,
    grid: jax.Array | None = None,
    sigma: float | None = None,
    *,
    nbrs: Sequence[jax.Array] | None = None,
    moments: int = DEFAULT_MOMENTS,
    vectors: int | None = None,
    key: jax.Array | int = 0,
    partial: bool = True,
    bounds: tuple[float, float] | None = None,
    lanczos_steps: int = LANCZOS_STEPS,
    mesh: jax.sharding.Mesh | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PDOS:
    """Γ-point phonon DOS (and partial DOS) by KPM, without forming the Hessian (float64).

    Same normalisation and Gaussian broadening as :func:`jaxglass.modes.pdos` (∫ total dν = 1,
    partials sum to the total); THz for metal units, ω for LJ units.

    Args:
      grid, sigma: frequency grid and Gaussian width; defaults: :func:`jaxglass.modes.default_grid`
        over ``(0, ν_max)``, ν_max from the spectral bounds (σ = 1 % of ν_max, 400 points from
        -4σ to ν_max + 4σ).
      nbrs: neighbour lists (built on the host if omitted; required when traced).
      moments: number of Chebyshev moments M (resolution ≈ π h / M in λ).
      vectors: random vectors R per species (stochastic trace); default :func:`default_vectors`.
      key: PRNG key or integer seed (the result is a deterministic function of it).
      partial: species-resolved DOS from projected vectors (costs one recursion per species).
      bounds: spectral interval of the dynamical matrix (eV/Å²/amu); estimated by Lanczos if omitted.
        Pass them explicitly under ``jax.grad`` to keep them fixed.
      mesh: shard the atoms over the devices of this mesh (:func:`atom_mesh`): positions, neighbour
        rows and probe vectors are split block-wise and XLA partitions the Hessian-vector products
        (gathering the neighbour positions it needs); the result equals the single-device one to
        round-off. The atom count must be a multiple of the device count.
      progress: called as ``progress(moments_done, moments)`` as the recursion advances (about
        :data:`PROGRESS_CHUNKS` times): the recursion then runs from the host in compiled chunks
        (concrete inputs, one device; same result to round-off).

    Differentiable with respect to positions and potential parameters (``jax.grad`` through the
    Chebyshev recursion; memory O(M R N) for a gradient).
    """
    require_x64("jaxglass.kpm.pdos")
    potential.check(structure)
    structure = as_f64(structure)
    nbrs = neighbors_for(potential, structure, nbrs, "kpm.pdos")
    if vectors is None:
        vectors = default_vectors(structure.positions.size)
    n_proj = len(structure.species_names) if partial else 1
    check_pdos_memory(structure.positions.size, n_proj, moments, vectors, 400 if grid is None else len(grid))
    if (grid is None or sigma is None) and is_traced(potential, structure.positions):
        raise UserError(
            "grid, sigma: the traced (differentiated/jitted) KPM DOS needs an explicit frequency grid "
            "and width; pass e.g. grid=jnp.linspace(0, 40, 400), sigma=0.3"
        )
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    if mesh is not None:
        structure, nbrs = shard_atoms(structure, nbrs, mesh)
    if bounds is not None:
        bounds = (jnp.asarray(bounds[0], jnp.float64), jnp.asarray(bounds[1], jnp.float64))
    args = (potential, structure, nbrs, key, bounds, moments, vectors, bool(partial), lanczos_steps, mesh)
    ab, mu = _bounds_and_moments(*args) if progress is None else _moments_with_progress(*args, progress)
    factor = potential.freq_factor
    if grid is None or sigma is None:
        nu_max = factor * float(np.sqrt(max(float(ab[1]), 0.0)) / (1.0 + 2 * BOUND_MARGIN))
        grid0, sigma = default_grid((0.0, nu_max), sigma)
        grid = grid0 if grid is None else grid
    grid = jnp.asarray(grid, jnp.float64)
    coef = frequency_dos_coefficients(grid, sigma, factor, ab[0], ab[1], moments)  # (G, M)
    dens = mu @ coef.T  # (S, G)
    total = dens.sum(axis=0)
    return PDOS(
        grid=grid,
        total=total,
        partial=dens if partial else None,
        species_names=structure.species_names,
        unit=potential.freq_unit,
    )


# -------------------------------------------------------------------------------------------
# Spectral functions with fixed starting vectors: one-phonon coherent S(Q, ω)


def spectral_moments(
    potential: Potential,
    structure: Structure,
    nbrs: Sequence[jax.Array],
    start: jax.Array,
    bounds,
    n_moments: int,
) -> jax.Array:
    """``⟨u, T_n(X) u⟩`` ``(K, M)`` for fixed starting vectors ``start`` ``(K, N, d)`` (no normalisation).

    Then ``⟨u| f(D) |u⟩ = Σ_n c_n μ_n`` for any ``f`` with Chebyshev coefficients ``c`` on ``bounds``.
    """
    a, b = bounds
    c, h = 0.5 * (a + b), 0.5 * (b - a)

    D = dynamical_operator(potential, structure, nbrs)

    def matvec(v):
        return (D(v) - c * v) / h

    return jax.lax.map(lambda u: chebyshev_moments(matvec, u, n_moments), start)


@validate({
    "sigma": [broadening, "the Gaussian broadening in THz, e.g. 0.3"],
    "temperature": [temperature_kelvin, "the temperature in K; use e.g. 1e-3 for T → 0"],
    "moments": [Integral(2, None), f"the number of Chebyshev moments, e.g. {DEFAULT_MOMENTS}"],
    "freq_min": [None, nonnegative, "the lowest frequency kept (THz), e.g. 0.5"],
})
def coherent_sqw(
    potential: Potential,
    structure: Structure,
    q_vectors,
    grid,
    sigma: float,
    temperature: float,
    *,
    lengths=None,
    nbrs: Sequence[jax.Array] | None = None,
    moments: int = DEFAULT_MOMENTS,
    bounds: tuple[float, float] | None = None,
    freq_min: float | None = None,
    key: jax.Array | int = 0,
) -> jax.Array:
    """Coherent one-phonon neutron ``S(Q, ν)`` ``(Q, G)`` by KPM, in mbarn/meV per atom (THz grid).

    The same quantity as :func:`jaxglass.observables.one_phonon_structure_factor` (without the Debye-Waller
    factor, i.e. ``exp(-2W) = 1``) broadened by :func:`jaxglass.observables.broaden_sqw`:
    ``S(Q, ν) = Σ_k S_k(Q) [(n_k+1) G_σ(ν - ν_k) + n_k G_σ(ν + ν_k)]`` with
    ``S_k(Q) = 1/(2N) |Σ_j b_j/√M_j (Q·e_jk) e^{iQ·r_j}|² ħ/ω_k``, modes with ``ν_k ≤ freq_min``
    left out. Written as ``⟨u_c|f(D)|u_c⟩ + ⟨u_s|f(D)|u_s⟩`` with the real starting vectors
    ``u_{c,s}[j] = b_j/√M_j cos/sin(Q·r_j) Q``, so no eigenvector is formed: M/2 Hessian-vector
    products per Q vector and part. Metal units only (THz, Å, amu); coherent scattering lengths from
    Sears 1992 (:mod:`jaxglass.scattering_data`), ``lengths`` overrides them per species (fm).
    The rigid translations of a periodic cell are projected out of the starting vectors (they are
    exact zero modes, below ``freq_min``). Truncation: ``f`` jumps at ``freq_min`` and grows as 1/ν
    below the thermal energy, so the low-frequency end converges slowest in M (the Jackson kernel
    smooths the jump).
    """
    from .observables import bose_occupation

    require_x64("jaxglass.kpm.coherent_sqw")
    _check_sqw_args(potential, temperature, sigma)
    structure = as_f64(structure)
    nbrs = neighbors_for(potential, structure, nbrs, "kpm.coherent_sqw")
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    if bounds is None:
        v0 = jax.random.normal(key, structure.positions.shape, structure.positions.dtype)
        bounds = _bounds_jit(potential, structure, nbrs, v0)
    a, b = (jnp.asarray(x, jnp.float64) for x in bounds)
    factor = potential.freq_factor
    if freq_min is None:
        freq_min = 1e-3 * factor * float(np.sqrt(max(float(b), 0.0)))
    qv = jnp.atleast_2d(jnp.asarray(q_vectors, jnp.float64))
    start = _sqw_start_vectors(structure, qv, lengths)
    mu = _spectral_moments_jit(potential, structure, nbrs, start, (a, b), moments)
    n = structure.n_atoms
    temp = float(temperature)

    def weight(g, nu):
        keep = nu > freq_min
        nus = jnp.where(keep, nu, 1.0)
        occ = bose_occupation(nus, temp)
        pref = jnp.where(keep, HBAR_OVER_AMU_THZ_A2 / (2.0 * n * nus), 0.0)
        peaks = (occ + 1.0) * gaussian(g[:, None] - nus[None, :], sigma) + occ * gaussian(
            g[:, None] + nus[None, :], sigma
        )
        return pref[None, :] * peaks

    coef = frequency_dos_coefficients(jnp.asarray(grid, jnp.float64), sigma, factor, a, b, moments, weight)
    out = mu @ coef.T  # (2Q, G)
    nq = qv.shape[0]
    return (out[:nq] + out[nq:]) * MBARN_PER_FM2 / THZ_TO_MEV


def _check_sqw_args(potential: Potential, temperature: float, sigma: float) -> None:
    if potential.units != "metal":
        raise UserError("potential: coherent_sqw needs metal units (THz, Å, amu); map LJ units first")
    if not temperature > 0:
        raise UserError(f"temperature: must be positive (K), got {temperature}")
    if sigma <= 0:
        raise UserError(f"sigma: broadening must be positive, got {sigma}")


def _sqw_start_vectors(structure: Structure, qv: jax.Array, lengths) -> jax.Array:
    """``u_{c,s}[j] = b_j/√M_j cos/sin(Q·r_j) Q`` ``(2Q, N, d)`` of :func:`coherent_sqw`, cos parts first."""
    from . import scattering_data as _sd

    blen = jnp.asarray(_sd.coherent_lengths(structure.species_names, lengths))[structure.species]
    amp = blen / jnp.sqrt(structure.masses)  # (N,)
    phase = qv @ structure.positions.T  # (Q, N)
    u_c = (amp * jnp.cos(phase))[:, :, None] * qv[:, None, :]
    u_s = (amp * jnp.sin(phase))[:, :, None] * qv[:, None, :]
    start = jnp.concatenate([u_c, u_s], axis=0)  # (2Q, N, d)
    if all(structure.periodic):
        # remove the rigid translations (mass-weighted t_α ∝ √M_j along α; ν = 0 ≤ freq_min): exact,
        # and essential near Bragg vectors, where their weight ~N would leak through the kernel
        t = jnp.sqrt(structure.masses) / jnp.sqrt(jnp.sum(structure.masses))  # (N,)
        start = start - jnp.einsum("kna,n->ka", start, t)[:, None, :] * t[None, :, None]
    return start


def spectral_interval(
    potential: Potential, structure: Structure, nbrs: Sequence[jax.Array], key: jax.Array | int = 0
) -> tuple[float, float]:
    """:func:`spectral_bounds` of the dynamical matrix (eV/Å²/amu) from a random Lanczos start."""
    if isinstance(key, int):
        key = jax.random.PRNGKey(key)
    v0 = jax.random.normal(key, structure.positions.shape, structure.positions.dtype)
    a, b = _bounds_jit(potential, structure, tuple(jnp.asarray(i) for i in nbrs), v0)
    return float(a), float(b)


@jax.jit
def _bounds_jit(potential, structure, nbrs, v0):
    return spectral_bounds(dynamical_operator(potential, structure, nbrs), v0)


@partial(jax.jit, static_argnums=(5,))
def _spectral_moments_jit(potential, structure, nbrs, start, bounds, n_moments):
    return spectral_moments(potential, structure, nbrs, start, bounds, n_moments)
