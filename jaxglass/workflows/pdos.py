"""One structure → (relaxed) → Γ-point PDOS, as ``jaxglass pdos`` and ``jaxglass quench`` run it.

The route rule (:func:`pdos_route`: dense eigen-solve or KPM), the dense route through a dynamical
matrix kept as a traced program (:func:`jaxglass.cache.cached_call`), the KPM route on the default
grid rule of :func:`jaxglass.modes.default_grid`, and the files a PDOS run writes
(:func:`write_pdos`: ``summary.json``, ``pdos.npz``, ``pdos.png``, ``structure.extxyz``).
"""

from __future__ import annotations

import functools
import io
import json
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from .. import kpm, phonons
from .._io import atomic_savez, atomic_write_text
from ..cache import cached_call
from ..data.progress import EtaProgress
from ..errors import UserError
from ..hessian import as_f64, default_chunk, dynamical_matrix
from ..minimize import MinimizeResult
from ..modes import check_dense_memory, default_grid
from ..validation import Integral, broadening, validate

#: ``method="auto"``: the dense route (Hessian + LAPACK eigen-solve) up to this many atoms, KPM above.
#: Dense memory is ≈ 0.43 GB + 346 B·N² (docs/benchmarks.md): 3.5 GB at N = 3,000 (24 GB ends at
#: ≈ 8,000 atoms). Time: dense grows as N³, KPM as N; measured on KA 3D glasses (values only, KPM
#: defaults M = 1024, R = 4) dense 1.8 s / 11.3 s CPU vs KPM 6.0 s / 15.8 s at N = 1,000 / 2,000, so
#: they cross near 2,400 atoms. Up to 3,000 the dense route is kept: at most ≈ 1.6x KPM's time, and
#: exact where KPM with the defaults is off by 8-10 % of the DOS peak at σ = 1 % of the spectral width
#: (docs/pdos-command.md).
AUTO_DENSE_MAX_ATOMS = 3000

#: Spectrum routes of :func:`pdos_route`'s ``method``.
METHODS = ("auto", "dense", "kpm")


def pdos_route(method: str, n_atoms: int, partial: bool) -> str:
    """The route a PDOS takes for ``method``: ``dense``, ``dense-values`` or ``kpm``.

    ``auto``: dense up to :data:`AUTO_DENSE_MAX_ATOMS` atoms (exact; eigenvalues only, LAPACK
    ``dsyevd`` with jobz='N', when no partial DOS is asked for), KPM above.
    """
    if method not in METHODS:
        raise UserError(f"method: expected one of {METHODS}, got {method!r}")
    if method == "kpm" or (method == "auto" and n_atoms > AUTO_DENSE_MAX_ATOMS):
        return "kpm"
    return "dense" if partial else "dense-values"


@jax.jit
def energy_forces(pot, s, nbrs):
    """Energy and forces in one compiled call (jitted once per potential form and shapes)."""
    e, g = jax.value_and_grad(lambda x: pot.energy(s.with_positions(x), nbrs))(s.positions)
    return e, -g


def unrelaxed(pot, s, nbrs, fmax: float, programs: Path | None = None) -> MinimizeResult:
    """The structure as given, as a :class:`MinimizeResult` of zero steps (converged if its largest
    force is at most ``fmax``)."""
    e, f = cached_call(programs, "energy_forces", energy_forces, pot, s, tuple(jnp.asarray(i) for i in nbrs))
    fm = float(np.max(np.linalg.norm(np.asarray(f), axis=1)))
    return MinimizeResult(s, float(e), fm, 0, 1, fm <= fmax, "none", "not relaxed")


def dynamical_matrix_cached(pot, s, nbrs, programs: Path | None = None):
    """:func:`jaxglass.hessian.dynamical_matrix` as one program kept in ``programs``
    (:func:`jaxglass.cache.cached_call`; ``None``: an ordinary jitted call), with the chunk size of a
    concrete call."""
    s = as_f64(s)
    nbj = tuple(jnp.asarray(i) for i in nbrs)
    chunk = default_chunk(pot, nbj, s.dim)  # traced, hessian() would pick its smaller traced chunk
    return cached_call(
        programs, f"dynamical-c{chunk}", functools.partial(dynamical_matrix, chunk=chunk), pot, s, nbj
    )


_SIGMA = [None, broadening, "the Gaussian broadening (THz, ω for LJ units; None: 1 % of the spectral width)"]
_N_POINTS = [Integral(2, 10**7), "the number of frequency grid points, e.g. 400"]


@validate({"sigma": _SIGMA, "n_points": _N_POINTS})
def dense_pdos(
    pot,
    s,
    nbrs,
    *,
    partial: bool = True,
    sigma: float | None = None,
    n_points: int = 400,
    programs: Path | None = None,
    log: Callable[[str], None] | None = None,
):
    """Dense route: ``(pdos, modes, info)`` on :func:`jaxglass.modes.default_grid` (eigenvalues only
    when ``partial`` is False). ``log`` gets the size and estimated time of a large eigen-solve before
    it starts and the time taken after (:func:`jaxglass.modes.modes`)."""
    check_dense_memory(s.n_atoms)
    D = dynamical_matrix_cached(pot, s, nbrs, programs)
    m = phonons.modes(pot, s, nbrs, eigenvectors=partial, D=D, log=log)
    grid, sigma = default_grid(m.frequencies, sigma, n_points)
    p = phonons.pdos(pot, s, grid, sigma, m=m, partial=partial)
    return p, m, dict(sigma=float(sigma))


@validate({
    "sigma": _SIGMA,
    "n_points": _N_POINTS,
    "moments": [None, Integral(16, None), f"Chebyshev moments (resolution ≈ ν_max·π/M); the default is "
                f"{kpm.DEFAULT_MOMENTS}"],
    "vectors": [None, Integral(1, None), "random vectors per species; the default is ceil(40,000 / (N d)) "
                "in [1, 16]"],
})
def kpm_pdos(
    pot,
    s,
    nbrs,
    *,
    partial: bool = True,
    sigma: float | None = None,
    n_points: int = 400,
    moments: int | None = None,
    vectors: int | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
):
    """KPM route: ``(pdos, info)``; the grid is :func:`jaxglass.modes.default_grid` over the spectral
    bounds (Lanczos). ``log`` gets a start line, progress lines with an ETA while the recursion runs
    (:class:`jaxglass.data.progress.EtaProgress`, every 2 s) and a finish line."""
    s = as_f64(s)
    n, d = s.positions.shape
    moments = moments or kpm.DEFAULT_MOMENTS
    vectors = vectors or kpm.default_vectors(n * d)
    n_proj = len(s.species_names) if partial else 1
    kpm.check_pdos_memory(n * d, n_proj, moments, vectors, n_points)
    nb = tuple(jnp.asarray(i) for i in nbrs)
    t = time.perf_counter()
    a, b = kpm.spectral_interval(pot, s, nb, seed)
    factor = pot.freq_factor
    nu_max = factor * float(np.sqrt(max(b, 0.0)))
    if log:
        log(
            f"pdos: KPM start: N = {n} atoms ({n * d} dof), M = {moments} moments, R = {vectors} random "
            f"vector(s) x {n_proj} projection(s) = {(moments + 1) // 2 * vectors * n_proj} Hessian-vector "
            f"products; spectral bounds [{a:.4g}, {b:.4g}] (ν ≤ {nu_max:.4g} {pot.freq_unit}) in "
            f"{time.perf_counter() - t:.1f} s"
        )
    nu_min = 0.0 if a >= 0 else -factor * float(np.sqrt(-a))
    grid, sigma = default_grid(np.array([nu_min, nu_max]), sigma, n_points)
    t = time.perf_counter()
    p = kpm.pdos(
        pot,
        s,
        grid,
        sigma,
        nbrs=nb,
        moments=moments,
        vectors=vectors,
        key=seed,
        partial=partial,
        bounds=(a, b),
        progress=EtaProgress("pdos: KPM", log, unit="moments") if log else None,
    )
    jax.block_until_ready(p.total)
    if log:
        log(f"pdos: KPM finished: N = {n}, M = {moments}, R = {vectors} in {time.perf_counter() - t:.1f} s")
    info = dict(
        moments=moments,
        vectors=vectors,
        seed=seed,
        sigma=float(sigma),
        spectral_bounds=[a, b],
        max_frequency_bound=nu_max,
    )
    return p, info


def pdos_summary(pot, structure, res: MinimizeResult, p, m, label: str, t0: float, extra=None) -> dict:
    """The ``summary.json`` of a PDOS run (``m`` is None for KPM, which has no modes)."""
    f = np.asarray(m.frequencies) if m is not None else np.zeros(0)
    grid = np.asarray(p.grid)
    return dict(
        system=label,
        potential=pot.name,
        n_atoms=structure.n_atoms,
        dim=structure.dim,
        energy_per_atom=res.energy / structure.n_atoms,
        fmax=res.fmax,
        converged=res.converged,
        minimiser_steps=res.n_steps,
        frequency_unit=p.unit,
        max_frequency=float(f[-1]) if f.size else None,
        mean_frequency=float(np.trapezoid(grid * np.asarray(p.total), grid)),
        n_imaginary=m.n_imaginary() if m is not None else None,
        pdos_integral=float(np.trapezoid(np.asarray(p.total), grid)),
        wall_seconds=time.time() - t0,
        **(extra or {}),
    )


def write_pdos(
    out: Path, p, m, summary: dict, *, structure=None, plot: bool = True, title: str = ""
) -> list[Path]:
    """Write ``pdos.npz`` (grid, total, frequencies, partial), ``summary.json``, ``pdos.png`` (if
    ``plot`` and matplotlib is installed) and ``structure.extxyz`` (if ``structure`` is given and ase is
    installed) into ``out``, each atomically; returns the paths written."""
    from ..structure import write

    out = Path(out)
    f = np.asarray(m.frequencies) if m is not None else np.zeros(0)
    atomic_savez(
        out / "pdos.npz",
        dict(
            grid=np.asarray(p.grid),
            total=np.asarray(p.total),
            frequencies=f,
            partial=np.asarray(p.partial) if p.partial is not None else np.zeros((0, len(p.grid))),
        ),
    )
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    written = [out / "summary.json", out / "pdos.npz"]
    if plot:
        try:
            from ..plots import plot_pdos

            plot_pdos(p, out / "pdos.png", title)
            written.append(out / "pdos.png")
        except ImportError:
            pass
    if structure is not None:
        try:
            buf = io.StringIO()
            write(buf, structure, format="extxyz")
            atomic_write_text(out / "structure.extxyz", buf.getvalue())
            written.append(out / "structure.extxyz")
        except ImportError:
            pass
    return written
