"""``jaxglass`` command line: demo, pdos, generate, export, import, plot, train, evaluate, study, rdf,
predict.

Exit status: 0 success; 1 a computation failed (dataset build, study); 2 bad input (the message names
the option and the fix; no traceback); 3 a relaxation did not converge (``--allow-unconverged``
accepts it); 4 imaginary modes in the spectrum (``--allow-imaginary`` accepts them); 130 interrupted.
Outputs are written in full or not at all (temporary file + rename).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from . import families as _families
from ._config import enable_x64
from ._export_cache import cached_call
from ._io import atomic_savez, atomic_write_bytes, atomic_write_text
from .errors import BuildError, UserError
from .potentials.spec import SPEC_FORMS

EXIT_FAILED, EXIT_USER, EXIT_UNCONVERGED, EXIT_IMAGINARY = 1, 2, 3, 4


POTENTIALS = SPEC_FORMS


def load_potential(spec: str):
    """Potential from a ``--potential`` spec (see :func:`jaxglass.potentials.from_spec`)."""
    from .potentials import from_spec

    try:
        return from_spec(spec)
    except ValueError as err:
        raise UserError(f"--potential: {err}") from err


def _atomic_write_text(path: Path, text: str) -> None:
    atomic_write_text(path, text)


def _out_dir(path, opt: str = "--out") -> Path:
    """Check, before any computation, that ``path`` can be an output folder (new or existing)."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise UserError(f"{opt}: {p} is an existing file, not a folder; give a folder name "
                                f"(e.g. {path.with_suffix('')}_out) or remove the file")
            if not os.access(p, os.W_OK | os.X_OK):
                raise UserError(f"{opt}: {p} is not writable; give a folder you can write to")
            break
    return path


def _out_file(path, opt: str = "--out") -> Path:
    """Check, before any computation, that ``path`` can be an output file (overwritten if it exists)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{opt}: {path} is an existing folder; give a file name (e.g. {path / 'out'})")
    _out_dir(path.parent if str(path.parent) else Path("."), opt)
    return path


def _writable_dir(out: Path) -> Path:
    """``out`` if it is (or can become) a folder, else a fresh folder next to the current one, so that a
    finished computation is never thrown away because of its output path."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        if os.access(out, os.W_OK):
            return out
    except OSError:
        pass
    alt = Path.cwd() / f"jaxglass-out-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    alt.mkdir(parents=True, exist_ok=True)
    print(f"jaxglass: warning: cannot write to {out}; writing the results to {alt} instead", file=sys.stderr)
    return alt


def summarize_pdos(p, width: int = 60, rows: int = 16) -> str:
    """A text rendering of a PDOS: one row per frequency bin, bar length ∝ density."""
    grid = np.asarray(p.grid)
    tot = np.asarray(p.total)
    edges = np.linspace(grid[0], grid[-1], rows + 1)
    lines = [f"  {'frequency (' + p.unit + ')':>24}  density"]
    vals = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (grid >= lo) & (grid < hi)
        vals.append(tot[m].mean() if m.any() else 0.0)
    vmax = max(vals) or 1.0
    for lo, hi, v in zip(edges[:-1], edges[1:], vals):
        lines.append(f"  {lo:10.3f} – {hi:10.3f}  {'#' * int(round(width * v / vmax))}")
    return "\n".join(lines)


def _plot_pdos(p, path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(6, 3.5))
    grid = np.asarray(p.grid)
    ax.plot(grid, np.asarray(p.total), "k", lw=1.5, label="total")
    for name, part in zip(p.species_names, np.asarray(p.partial) if p.partial is not None else ()):
        ax.plot(grid, part, lw=1, label=name)
    ax.set_xlabel(f"frequency ({p.unit})")
    ax.set_ylabel("PDOS (per mode)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    _save_figure(fig, path, dpi=120)
    plt.close(fig)
    return True


def _save_figure(fig, path: Path, dpi: int) -> None:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write_bytes(path, buf.getvalue())


def _report(pot, structure, res, out: Path, label: str, t0: float, *, p=None, m=None, extra=None,
            plot: bool = True, write_structure: bool = True) -> dict:
    """Print and write (summary.json, pdos.npz, pdos.png) a PDOS; modes ``m`` are None for KPM."""
    from . import phonons

    if p is None:
        m = phonons.modes(pot, res.structure)
        p = phonons.pdos(pot, res.structure, m=m)
    f = np.asarray(m.frequencies) if m is not None else np.zeros(0)
    n_imag = m.n_imaginary() if m is not None else None
    mean = float(np.trapezoid(np.asarray(p.grid) * np.asarray(p.total), np.asarray(p.grid)))
    summary = dict(
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
        mean_frequency=mean,
        n_imaginary=n_imag,
        pdos_integral=float(np.trapezoid(np.asarray(p.total), np.asarray(p.grid))),
        wall_seconds=time.time() - t0,
        **(extra or {}),
    )
    print(f"\n{label}: {structure.n_atoms} atoms, {pot.name}")
    print(
        f"  relaxed: E = {summary['energy_per_atom']:.6f} per atom, fmax = {res.fmax:.2e} "
        f"({'converged' if res.converged else 'NOT converged'}, {res.n_steps} steps)"
    )
    if m is not None:
        print(
            f"  modes: max {f[-1]:.3f} {m.unit}, mean {mean:.3f} {m.unit}, imaginary {n_imag}, "
            f"PDOS integral {summary['pdos_integral']:.6f}"
        )
    else:
        print(f"  KPM: mean {mean:.3f} {p.unit}, PDOS integral {summary['pdos_integral']:.6f}")
    print(summarize_pdos(p))
    out = _writable_dir(out)
    atomic_savez(out / "pdos.npz", dict(
        grid=np.asarray(p.grid), total=np.asarray(p.total), frequencies=f,
        partial=np.asarray(p.partial) if p.partial is not None else np.zeros((0, len(p.grid)))))
    _atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if plot and _plot_pdos(p, out / "pdos.png", f"{label} ({structure.n_atoms} atoms)"):
        print(f"  wrote {out / 'pdos.png'}")
    if write_structure:
        try:
            import io

            from .structure import write

            buf = io.StringIO()
            write(buf, res.structure, format="extxyz")
            atomic_write_text(out / "structure.extxyz", buf.getvalue())
        except ImportError:
            pass
    print(f"  wrote {out / 'summary.json'}, {out / 'pdos.npz'}")
    return summary


def _exit_status(summary: dict, args, relaxed: bool) -> int:
    """0, or the exit status that reports a non-converged relaxation (3) or imaginary modes (4)."""
    if relaxed and not summary["converged"] and not getattr(args, "allow_unconverged", False):
        print(f"jaxglass: error: the relaxation did not converge (fmax {summary['fmax']:.2e} after "
              f"{summary['minimiser_steps']} steps); the results above are of the unrelaxed end point. "
              "Raise the step budget or loosen --fmax, or accept it with --allow-unconverged",
              file=sys.stderr)
        return EXIT_UNCONVERGED
    if summary["n_imaginary"] and not getattr(args, "allow_imaginary", False):
        print(f"jaxglass: error: {summary['n_imaginary']} imaginary mode(s) (shown as negative "
              "frequencies): the structure is not at a minimum; relax it (--relax) or accept them with "
              "--allow-imaginary", file=sys.stderr)
        return EXIT_IMAGINARY
    return 0


def cmd_quench(args) -> int:
    from .generate import random_packing
    from .minimize import minimize
    from .potentials import kob_andersen

    _out_dir(args.out)
    if args.n < 2:
        raise UserError(f"--n: need at least 2 particles, got {args.n}")
    t0 = time.time()
    dim = 3 if args.system == "lj3d" else 2
    xb = 0.2 if dim == 3 else 0.35
    s = random_packing(
        args.n, 1.2, dim, {"A": 1 - xb, "B": xb}, min_distance=0.75 if dim == 3 else 0.7, seed=args.seed
    )
    pot = kob_andersen()
    print(
        f"demo: Kob-Andersen {dim}D glass, {args.n} particles, random start quenched by L-BFGS "
        "(an infinitely fast quench)"
    )
    res = minimize(pot, s, method="lbfgs", fmax=1e-6)
    summary = _report(pot, s, res, Path(args.out), f"KA {dim}D glass", t0)
    return _exit_status(summary, args, relaxed=True)


#: ``jaxglass pdos --method auto``: the dense route (Hessian + LAPACK eigen-solve) up to this many
#: atoms, KPM above. Dense memory is ≈ 0.43 GB + 346 B·N² (README "Benchmarks"): 3.5 GB at N = 3,000
#: (24 GB ends at ≈ 8,000 atoms). Time: dense grows as N³, KPM as N; measured on KA 3D glasses
#: (values only, KPM defaults M = 1024, R = 4) dense 1.8 s / 11.3 s CPU vs KPM 6.0 s / 15.8 s at
#: N = 1,000 / 2,000, so they cross near 2,400 atoms. Up to 3,000 the dense route is kept: at most
#: ≈ 1.6x KPM's time, and exact where KPM with the defaults is off by 8-10 % of the DOS peak at
#: σ = 1 % of the spectral width (README "The pdos command").
AUTO_DENSE_MAX_ATOMS = 3000
#: Off values of the ``JAXGLASS_COMPILE_CACHE`` environment variable.
_CACHE_OFF = ("0", "off", "false", "no")


def compile_cache_dir(disabled: bool = False) -> Path | None:
    """Directory of the CLI's persistent JAX compilation cache, or ``None`` when it is switched off.

    ``JAXGLASS_COMPILE_CACHE=0`` (or ``off``/``false``/``no``) or ``--no-compile-cache`` switch it off;
    ``JAXGLASS_COMPILE_CACHE=DIR`` chooses the directory; otherwise ``$XDG_CACHE_HOME/jaxglass/jax``
    (``~/.cache/jaxglass/jax`` when ``XDG_CACHE_HOME`` is unset).
    """
    env = os.environ.get("JAXGLASS_COMPILE_CACHE", "").strip()
    if disabled or env.lower() in _CACHE_OFF:
        return None
    if env and env.lower() not in ("1", "on", "true", "yes"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jaxglass" / "jax"


def _host_tag() -> str:
    """Short hash of this CPU's model and instruction-set flags: one cache subdirectory per CPU kind.

    XLA:CPU executables are compiled for the host's instruction set; a cache directory shared by
    different machines (a home directory on a cluster) must not hand one machine's code to another.
    """
    import hashlib
    import platform

    ident = platform.machine() + platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            ident += "".join(sorted({ln for ln in fh if ln.startswith(("model name", "flags", "Features"))}))
    except OSError:
        pass
    return hashlib.sha1(ident.encode()).hexdigest()[:12]


@contextlib.contextmanager
def _compile_cache(path: Path | None):
    """Use JAX's persistent compilation cache in ``path`` for the duration (restored afterwards)."""
    if path is None:
        yield None
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    path = path / f"cpu-{_host_tag()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        print(f"jaxglass: warning: compilation cache {path} not usable ({err}); compiling without it "
              "(set JAXGLASS_COMPILE_CACHE=DIR or 0)", file=sys.stderr)
        yield None
        return
    keys = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    old = {k: getattr(jax.config, k) for k in keys}
    jax.config.update("jax_compilation_cache_dir", str(path))
    # the pdos path's compiles take 0.05-3 s each; JAX's default (1 s) would leave most out
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    cc.reset_cache()  # (re)open the cache at this directory
    # jaxlib 0.9-0.10 logs an ERROR line for every executable it loads from the cache on CPU, naming
    # the LLVM tuning flags +prefer-no-gather/-scatter as missing host features (jax-ml/jax#38445);
    # the executables load and run (the cache is per CPU kind, above). Silence C++ logs below FATAL
    # while the command runs; the level jax set at import (TF_CPP_MIN_LOG_LEVEL) is restored after.
    try:
        from jax._src.lib import utils as _xla_utils

        set_level = _xla_utils.absl_set_min_log_level
    except (ImportError, AttributeError):  # a jaxlib without it: the lines stay
        set_level = None
    if set_level is not None and os.environ.get("JAXGLASS_XLA_LOGS") != "1":
        set_level(3)
    try:
        yield path
    finally:
        if set_level is not None:
            set_level(int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "1")))
        for k, v in old.items():
            jax.config.update(k, v)
        cc.reset_cache()


def _check_pdos_args(args) -> None:
    """Bad ``pdos`` options → ValueError naming the option (exit status 2)."""
    if args.moments is not None and args.moments < 16:
        raise UserError(f"--moments: need at least 16 Chebyshev moments (resolution ≈ ν_max·π/M), "
                         f"got {args.moments}; the default is 1024")
    if args.vectors is not None and args.vectors < 1:
        raise UserError(f"--vectors: need at least 1 random vector, got {args.vectors}; the default is 4")
    if args.sigma is not None and not args.sigma > 0:
        raise UserError(f"--sigma: broadening must be positive (THz, or ω for LJ units), got {args.sigma}")
    if args.n_points < 2:
        raise UserError(f"--n-points: need at least 2 grid points, got {args.n_points}")
    if not args.fmax > 0:
        raise UserError(f"--fmax: must be positive, got {args.fmax}")
    if args.method == "dense" and (args.moments is not None or args.vectors is not None):
        raise UserError("--moments/--vectors: only used by the KPM route; drop them or use --method "
                         "kpm or auto")


def pdos_route(method: str, n_atoms: int, partial: bool) -> str:
    """The route ``jaxglass pdos --method METHOD`` takes: ``dense``, ``dense-values`` or ``kpm``.

    ``auto``: dense up to :data:`AUTO_DENSE_MAX_ATOMS` atoms (exact; eigenvalues only, LAPACK
    ``dsyevd`` with jobz='N', when no partial DOS is asked for), KPM above.
    """
    if method == "kpm" or (method == "auto" and n_atoms > AUTO_DENSE_MAX_ATOMS):
        return "kpm"
    return "dense" if partial else "dense-values"


@jax.jit
def _energy_forces(pot, s, nbrs):
    """Energy and forces in one compiled call (jitted once per potential form and shapes)."""
    e, g = jax.value_and_grad(lambda x: pot.energy(s.with_positions(x), nbrs))(s.positions)
    return e, -g


def _program_dir(args) -> Path | None:
    """Where traced programs are kept (beside the compilation cache; ``None`` when it is off)."""
    cache = getattr(args, "compile_cache_path", None)
    return None if cache is None else Path(cache) / "programs"


def _dynamical_cached(pot, s, nbrs, programs: Path | None):
    """:func:`jaxglass.hessian.dynamical_matrix` as one program kept in ``programs``
    (:func:`jaxglass._export_cache.cached_call`), with the chunk size of a concrete call."""
    from .hessian import _default_chunk, as_f64, dynamical_matrix

    s = as_f64(s)
    nbj = tuple(jnp.asarray(i) for i in nbrs)
    chunk = _default_chunk(pot, nbj, s.dim)  # traced, hessian() would pick its smaller traced chunk
    return cached_call(programs, f"dynamical-c{chunk}", functools.partial(dynamical_matrix, chunk=chunk),
                       pot, s, nbj)


def _kpm_pdos(pot, s, args, partial: bool, nbrs):
    """KPM PDOS with start/finish progress lines; returns the PDOS and a dict for the summary."""
    from . import kpm
    from .hessian import as_f64

    s = as_f64(s)
    n, d = s.positions.shape
    moments = args.moments or kpm.DEFAULT_MOMENTS
    vectors = args.vectors or kpm.default_vectors(n * d)
    n_proj = len(s.species_names) if partial else 1
    nb = tuple(jnp.asarray(i) for i in nbrs)
    t = time.perf_counter()
    a, b = kpm.spectral_interval(pot, s, nb, args.seed)
    factor = pot.freq_factor
    nu_max = factor * float(np.sqrt(max(b, 0.0)))
    print(f"pdos: KPM start: N = {n} atoms ({n * d} dof), M = {moments} moments, R = {vectors} random "
          f"vector(s) x {n_proj} projection(s) = {(moments + 1) // 2 * vectors * n_proj} Hessian-vector "
          f"products; spectral bounds [{a:.4g}, {b:.4g}] (ν ≤ {nu_max:.4g} {pot.freq_unit}) in "
          f"{time.perf_counter() - t:.1f} s", flush=True)
    grid, sigma = None, args.sigma
    if sigma is None:
        sigma = 0.01 * nu_max
    lo = -4 * sigma if a >= 0 else -factor * float(np.sqrt(-a)) - 4 * sigma
    grid = np.linspace(lo, nu_max + 4 * sigma, args.n_points)
    t = time.perf_counter()
    p = kpm.pdos(pot, s, grid, sigma, nbrs=nb, moments=moments, vectors=vectors, key=args.seed,
                 partial=partial, bounds=(a, b))
    jax.block_until_ready(p.total)
    print(f"pdos: KPM finished: N = {n}, M = {moments}, R = {vectors} in {time.perf_counter() - t:.1f} s",
          flush=True)
    info = dict(moments=moments, vectors=vectors, seed=args.seed, sigma=float(sigma),
                spectral_bounds=[a, b], max_frequency_bound=nu_max)
    return p, info


def cmd_pdos(args) -> int:
    from . import phonons
    from .minimize import minimize
    from .structure import read

    t0 = time.time()
    _out_dir(args.out)
    minimizer = args.minimizer
    if args.method in ("lbfgs", "fire"):  # --method named the minimiser before KPM existed
        print(f"jaxglass: note: --method {args.method} now means --minimizer {args.method}; --method "
              "chooses the spectrum route (auto, dense, kpm)", file=sys.stderr)
        minimizer, args.method = args.method, "auto"
    _check_pdos_args(args)
    pot = load_potential(args.potential)
    s = read(args.structure)
    pot.check(s)
    if args.relax:
        res = minimize(pot, s, method=minimizer, fmax=args.fmax, max_steps=args.max_steps)
        nb = pot.neighbors(res.structure)
    else:
        from .minimize import MinimizeResult

        nb = pot.neighbors(s)
        e, f = cached_call(_program_dir(args), "energy_forces", _energy_forces, pot, s,
                           tuple(jnp.asarray(i) for i in nb))
        fm = float(np.max(np.linalg.norm(np.asarray(f), axis=1)))
        res = MinimizeResult(s, float(e), fm, 0, 1, fm <= args.fmax, "none", "not relaxed")
    partial = not args.no_partial
    route = pdos_route(args.method, s.n_atoms, partial)
    t = time.perf_counter()
    if route == "kpm":
        p, info = _kpm_pdos(pot, res.structure, args, partial, nb)
        m = None
    else:
        D = _dynamical_cached(pot, res.structure, nb, _program_dir(args))
        m = phonons.modes(pot, res.structure, nb, eigenvectors=route == "dense", D=D)
        grid, sigma = phonons.default_grid(m.frequencies, args.sigma, args.n_points)
        p = phonons.pdos(pot, res.structure, grid, sigma, m=m, partial=partial)
        info = dict(sigma=float(sigma))
    info.update(method=args.method, route=route, spectrum_seconds=time.perf_counter() - t)
    summary = _report(pot, s, res, Path(args.out), Path(args.structure).stem, t0, p=p, m=m, extra=info,
                      plot=not args.no_plot, write_structure=args.relax)
    return _exit_status(summary, args, relaxed=args.relax)


def cmd_spectra_dataset(args) -> int:
    """Add the observables to every record of a dataset directory (resumable, atomic per record)."""
    import dataclasses

    from .data import DatasetConfig
    from .data_observables import default_observable_config, extend_dataset

    man = Path(args.structure) / "manifest.json"
    if not man.is_file():
        raise UserError(f"{args.structure}: a directory without manifest.json is not a jaxglass dataset; "
                         "give a structure file or a dataset built by `jaxglass generate`")
    system = DatasetConfig(**json.loads(man.read_text())["config"]).system
    ocfg = default_observable_config(system)
    if args.temperature is not None:
        if not args.temperature > 0:
            raise UserError(f"--temperature: must be positive (K), got {args.temperature}")
        ocfg = dataclasses.replace(ocfg, temperature=args.temperature)
    t0 = time.time()
    try:
        done = extend_dataset(args.structure, ocfg, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"spectra: interrupted after {time.time() - t0:.1f} s; finished records are kept; rerun the "
              "same command to resume", file=sys.stderr, flush=True)
        return 130
    print(f"spectra: {len(done)} record(s) of {args.structure} extended in {time.time() - t0:.1f} s "
          "(ndos, ins, ixs, raman; grids and units in manifest.json under 'observables')")
    return 0


def cmd_spectra(args) -> int:
    """One observable (PDOS, neutron-weighted DOS, INS/IXS S(Q, ω), Raman) of a structure file, or
    all of them for every record of a dataset directory."""
    import warnings

    from . import observables as ob
    from . import phonons
    from .minimize import minimize
    from .structure import read

    if Path(args.structure).is_dir():
        return cmd_spectra_dataset(args)
    if args.potential is None:
        raise UserError(f"--potential: required for a structure file; one of {POTENTIALS}")
    if args.temperature is None:
        args.temperature = 300.0
    if not args.temperature > 0:
        raise UserError(
            f"--temperature: must be positive (K), got {args.temperature}; use e.g. 1e-3 for T → 0"
        )
    if args.kind == "ixs":
        from .scattering_data import check_form_factor_range

        check_form_factor_range(args.q)  # before the (costly) modes
    _out_dir(args.out)
    pot = load_potential(args.potential)
    s = read(args.structure)
    unconverged = None
    if args.relax:
        rel = minimize(pot, s, method="lbfgs", fmax=args.fmax, max_steps=args.max_steps)
        s = rel.structure
        if not rel.converged:
            unconverged = (f"the relaxation did not converge (fmax {rel.fmax:.2e} after {rel.n_steps} "
                           "steps); the spectrum is of the unrelaxed end point. Raise --max-steps or "
                           "loosen --fmax, or accept it with --allow-unconverged")
            print(f"jaxglass: {'warning' if args.allow_unconverged else 'error'}: {unconverged}",
                  file=sys.stderr)
    m = phonons.modes(pot, s, D=_dynamical_cached(pot, s, pot.neighbors(s), _program_dir(args)))
    f = np.asarray(m.frequencies)
    n_imag = m.n_imaginary()
    if n_imag:
        print(f"jaxglass: {'warning' if args.allow_imaginary else 'error'}: {n_imag} imaginary mode(s); they "
              "are left out of the spectrum; relax the structure first (--relax)"
              + ("" if args.allow_imaginary else " or accept them with --allow-imaginary (exit status 4)"),
              file=sys.stderr)
    sigma = args.sigma if args.sigma is not None else 0.01 * float(f.max())
    if not sigma > 0:
        raise UserError(f"--sigma: broadening must be positive (THz), got {sigma}")
    grid = np.linspace(0.0 if args.kind != "pdos" else min(f.min(), 0.0) - 4 * sigma, f.max() + 5 * sigma,
                       args.n_points)
    q = np.asarray(args.q, dtype=float) if args.kind in ("ins", "ixs") else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # imaginary modes reported above
        if args.kind == "pdos":
            p = phonons.pdos(pot, s, grid, sigma, m=m)
            sp = ob.Spectrum(frequency=p.grid, intensity=p.total, partial=p.partial, kind="pdos",
                             unit=f"1/{m.unit} per mode", species_names=s.species_names)
        else:
            sp = ob.spectrum(args.kind, s, m, grid, sigma=sigma, temperature=args.temperature, q=q)
    out = _writable_dir(Path(args.out))
    inten = np.atleast_2d(np.asarray(sp.intensity))
    if sp.q is not None:
        labels = [f"S(Q={qq:.3f}/A)" for qq in np.asarray(sp.q)]
    elif sp.partial is not None:
        labels = ["total"] + [f"partial_{n}" for n in sp.species_names]
        inten = np.concatenate([inten, np.asarray(sp.partial)])
    else:
        labels = ["intensity"]
    fr = np.asarray(sp.frequency)
    cols = [fr, fr * ob.MEV_PER_THZ, fr * ob.CM1_PER_THZ, *inten]
    header = ",".join([f"frequency_{m.unit}", "energy_meV", "wavenumber_cm-1"] + labels)
    _write_csv(out / "spectrum.csv", np.stack(cols, 1), header)
    meta = dict(kind=sp.kind, unit=sp.unit, temperature_K=args.temperature, sigma_THz=sigma,
                potential=pot.name, structure=str(args.structure), n_atoms=s.n_atoms, n_imaginary=n_imag,
                raman_model=ob.raman_model(s) if args.kind == "raman" else None)
    atomic_savez(out / "spectrum.npz", dict(
        frequency_THz=fr, intensity=np.asarray(sp.intensity),
        q=np.asarray(sp.q) if sp.q is not None else np.zeros(0),
        partial=np.asarray(sp.partial) if sp.partial is not None else np.zeros((0, len(fr))),
        frequencies=f, metadata=json.dumps(meta)))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        plt = None
    if plt is not None:
        xlab = {"pdos": (1.0, f"frequency ({m.unit})"), "raman": (ob.CM1_PER_THZ, "Raman shift (cm$^{-1}$)")}
        scale, xl = xlab.get(args.kind, (ob.MEV_PER_THZ, "energy transfer $\\hbar\\omega$ (meV)"))
        ylab = {"pdos": f"PDOS (states / {m.unit} / mode)",
                "ndos": "neutron-weighted DOS (mbarn meV$^{-1}$ atom$^{-1}$)",
                "ins": "$S(Q,\\omega)$ (mbarn meV$^{-1}$ atom$^{-1}$)",
                "ixs": "$S(Q,\\omega)$ (e$^2$ meV$^{-1}$ atom$^{-1}$)",
                "raman": "Raman intensity (arb. units)"}
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for lab, y in zip(labels, inten):
            ax.plot(fr * scale, y, lw=1.6 if lab in ("total", "intensity") else 1.0, label=lab)
        ax.set_xlabel(xl)
        ax.set_ylabel(ylab[args.kind])
        ax.set_xlim(fr[0] * scale, fr[-1] * scale)
        ax.set_ylim(bottom=0)
        ax.set_title(f"{Path(args.structure).stem}: {args.kind.upper()}, T = {args.temperature:g} K, "
                     f"$\\sigma$ = {sigma * ob.MEV_PER_THZ:.2f} meV", fontsize=10)
        if len(labels) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
        _save_figure(fig, out / "spectrum.png", dpi=150)
        plt.close(fig)
    _atomic_write_text(out / "spectrum.json", json.dumps(meta, indent=2))
    print(f"spectra: {args.kind} of {s.n_atoms} atoms ({sp.unit}); wrote {out / 'spectrum.csv'}, "
          f"{out / 'spectrum.npz'}{', ' + str(out / 'spectrum.png') if plt is not None else ''}")
    if unconverged and not args.allow_unconverged:
        return EXIT_UNCONVERGED
    return EXIT_IMAGINARY if n_imag and not args.allow_imaginary else 0


def _write_csv(path: Path, table: np.ndarray, header: str) -> None:
    import io

    buf = io.StringIO()
    np.savetxt(buf, table, delimiter=",", header=header, comments="")
    atomic_write_text(path, buf.getvalue())


def cmd_generate(args) -> int:
    from .data import DatasetConfig, build_dataset, pending_structures

    _out_dir(args.out)
    cfg = DatasetConfig.make(
        args.system,
        args.n_structures,
        n_atoms=args.n_atoms,
        size=args.size,
        seed=args.seed,
        include_crystal=not args.no_crystal,
    )
    scheduler = args.scheduler or os.environ.get("JAXGLASS_SCHEDULER") or None
    if args.workers is not None and args.workers < 0:
        raise UserError(f"--workers: expected 0 (in this process) or more, got {args.workers}")
    t0 = time.time()
    try:
        done = build_dataset(args.out, cfg, workers=args.workers, scheduler=scheduler,
                             memory_limit=args.memory_limit, dashboard_address=args.dashboard_address,
                             progress=not args.quiet)
    except KeyboardInterrupt:
        left = len(pending_structures(args.out, cfg))
        print(f"generate: interrupted after {time.time() - t0:.1f} s; {cfg.n_structures - left} of "
              f"{cfg.n_structures} records finished in {args.out}; rerun the same command to resume",
              file=sys.stderr, flush=True)
        return 130
    except BuildError as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return 1
    print(
        f"generate: {len(done)} new structure(s) in {time.time() - t0:.1f} s; dataset of "
        f"{cfg.n_structures} {cfg.system} structures in {args.out}"
    )
    return 0


def cmd_export(args) -> int:
    from .data import export_dataset

    _out_file(args.out)
    res = export_dataset(args.dataset, args.out)
    print(f"export: {res['n_structures']} structures ({res['n_atoms_total']} atoms) -> {args.out}: "
          f"{res['bytes'] / 1e6:.2f} MB, {res['bytes_per_structure'] / 1e3:.1f} kB per structure")
    return 0


def cmd_import(args) -> int:
    from .data import import_dataset

    _out_dir(args.out)
    written = import_dataset(args.file, args.out)
    print(f"import: {len(written)} record(s) written to {args.out}")
    return 0


def cmd_plot(args) -> int:
    from .data import load_dataset
    from .plots import plot_knob_series

    out = _out_file(args.out or Path(args.dataset) / "rdf_pdos.png")
    ds = load_dataset(args.dataset, allow_partial=args.partial)
    plot_knob_series(ds, out, n_curves=args.n_curves)
    print(f"plot: wrote {out}")
    return 0


def _study_config(args):
    from .study import StudyConfig

    kw = dict(test_fraction=args.test_fraction, seed=args.seed, features=args.features,
              target=getattr(args, "target", "pdos"), scaling=getattr(args, "scaling", "channel"))
    for name in ("train_sizes", "n_seeds", "cnn_max_epochs"):
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = tuple(v) if name == "train_sizes" else v
    return StudyConfig(**kw)


def cmd_train(args) -> int:
    out = _out_file(args.out)
    if args.features in ("total", "partial") and args.dataset is not None:
        kind, args.features = args.features, None
    else:
        kind = "total"
    if args.features is not None or args.targets is not None:
        if args.dataset is not None:
            raise UserError(f"train: give a dataset directory ({args.dataset}) or --features/--targets, "
                            "not both")
        return _train_arrays(args, out)
    if args.dataset is None:
        raise UserError("train: give a dataset directory (from `jaxglass generate`) or your own arrays: "
                        "--features X.npy --targets Y.npy")
    for opt in ("split", "r_grid", "omega_grid", "r_sigma", "l1", "l2"):
        if getattr(args, opt) is not None:
            raise UserError(f"--{opt.replace('_', '-')}: only with --features/--targets (a dataset "
                            "directory has its own grids and split)")
    from .data import load_dataset, load_structure
    from .models import save_cnn, save_model
    from .study import FITTERS, features, predict_any, scores, split_indices, targets

    enable_x64()
    args.features = kind
    cfg = _study_config(args)
    ds = load_dataset(args.dataset, allow_partial=args.partial)
    X, Y = features(ds, cfg.features), targets(ds, cfg.target)[0]
    tr, te = split_indices(ds.knob, cfg.test_fraction, cfg.seed)
    t0 = time.time()
    if args.model == "lasso":
        from .models import Lasso

        est = Lasso().fit(X[tr], Y[tr])
        model, info = est.model_, est.info_
    else:
        model, info = FITTERS[args.model](X[tr], Y[tr], cfg, cfg.seed)
    sc = scores(Y[tr], predict_any(model, X[tr]))
    meta = dict(kind=args.model, dataset=str(Path(args.dataset).resolve()), system=ds.config.system,
                features=cfg.features, target=cfg.target, scaling=cfg.scaling,
                test_fraction=cfg.test_fraction, seed=cfg.seed,
                train_indices=[int(ds.indices[i]) for i in tr], test_indices=[int(ds.indices[i]) for i in te],
                hyper=info, train_mse=sc["mse"], freq=ds.freq.tolist(), r=ds.r.tolist(),
                freq_unit=ds.freq_unit, length_unit=ds.length_unit, r_sigma=ds.config.r_sigma,
                species_names=list(ds.species_names),
                dim=load_structure(args.dataset, int(ds.indices[0])).dim)
    (save_cnn if args.model == "cnn" else save_model)(model, out, metadata=meta)
    print(f"train: {args.model} on {len(tr)} {ds.config.system} structures in {time.time() - t0:.1f} s "
          f"({info}); train MSE {sc['mse']:.4e}; wrote {out}")
    return 0


def _load_array(path, opt: str) -> np.ndarray:
    """A float array from .npy, .npz (one array) or text (.csv/.txt/.dat; '#' comments, ',' or spaces)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{opt}: {p} {'is a folder' if p.is_dir() else 'not found'}; give a .npy, .npz or "
                        ".csv file")
    try:
        if p.suffix == ".npy":
            a = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if len(z.files) != 1:
                    raise UserError(f"{opt}: {p} holds {len(z.files)} arrays {z.files}; save one array "
                                    "(np.save) or pass a .npy")
                a = z[z.files[0]]
        else:
            a = _read_table(p)
        a = np.asarray(a, np.float64)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{opt}: {p} is not a readable array ({type(err).__name__}: {err})") from err
    if a.size == 0:
        raise UserError(f"{opt}: {p} is empty")
    if not np.isfinite(a).all():
        raise UserError(f"{opt}: {p} contains NaN or inf")
    return a


def _read_table(p: Path) -> np.ndarray:
    """Numeric rows of a text table: '#' comments and non-numeric header lines skipped."""
    rows = []
    for line in p.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            rows.append([float(x) for x in line.replace(",", " ").split()])
        except ValueError:
            if rows:
                raise UserError(f"non-numeric row after the data started: {line[:60]!r}") from None
            continue  # header
    if not rows:
        raise UserError("no numeric rows")
    if len({len(r) for r in rows}) != 1:
        raise UserError("rows have different numbers of columns")
    a = np.asarray(rows)
    return a[:, 0] if a.shape[1] == 1 else a


def _grid(path, opt: str, n: int, what: str) -> np.ndarray | None:
    if path is None:
        return None
    g = _load_array(path, opt).ravel()
    if g.size != n:
        raise UserError(f"{opt}: {g.size} values, but {what} has {n}; give one value per column")
    if np.any(np.diff(g) <= 0):
        raise UserError(f"{opt}: values must increase strictly")
    return g


def _read_split(path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) row indices from JSON {"train": [...], "test": [...]} (one may be omitted: the
    complement) or from a .npy/.txt list of test rows."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--split: {p} not found")
    if p.suffix == ".json":
        try:
            d = json.loads(p.read_text())
        except json.JSONDecodeError as err:
            raise UserError(f"--split: {p} is not valid JSON ({err})") from err
        if not isinstance(d, dict) or not ({"train", "test"} & set(d)):
            raise UserError(f'--split: {p} must hold {{"train": [rows], "test": [rows]}} '
                            "(one may be omitted)")
        parts = {k: np.asarray(d[k], dtype=np.float64).ravel() for k in ("train", "test") if k in d}
    else:
        parts = {"test": _load_array(p, "--split").ravel()}
    for k, v in parts.items():
        if np.any(v != np.round(v)) or np.any(v < 0) or np.any(v >= n):
            raise UserError(f"--split: {k} rows must be integers in [0, {n}) for {n} samples")
        if len(np.unique(v)) != len(v):
            raise UserError(f"--split: {k} rows repeat")
    full = np.arange(n)
    test = parts["test"].astype(int) if "test" in parts else np.setdiff1d(full, parts["train"].astype(int))
    train = parts["train"].astype(int) if "train" in parts else np.setdiff1d(full, test)
    if np.intersect1d(train, test).size:
        raise UserError("--split: train and test rows overlap")
    return np.sort(train), np.sort(test)


def _random_split(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if not 0 <= fraction < 1:
        raise UserError(f"--test-fraction: must be in [0, 1), got {fraction}")
    n_test = int(round(fraction * n))
    test = np.sort(np.random.default_rng([seed, 104729]).choice(n, n_test, replace=False))
    return np.setdiff1d(np.arange(n), test), test


def _estimator(kind: str, args, **axes):
    from .models import CNN, ElasticNet, Lasso, Ridge

    if kind == "cnn":
        if args.l1 is not None or args.l2 is not None:
            raise UserError("--l1/--l2: penalties of the linear models; the CNN has none")
        kw = dict(seed=args.seed)
        if args.cnn_max_epochs is not None:
            kw["max_epochs"] = args.cnn_max_epochs
        return CNN(**kw, **axes)
    for opt in ("l1", "l2"):
        v = getattr(args, opt)
        if v is not None and not v >= 0:
            raise UserError(f"--{opt}: a penalty must be >= 0, got {v}")
    if kind == "ridge":
        if args.l1 is not None:
            raise UserError("--l1: ridge has no L1 penalty; use --model lasso or elastic-net")
        return Ridge(l2=args.l2, **axes)
    if kind == "lasso":
        if args.l2 is not None:
            raise UserError("--l2: lasso has no L2 penalty; use --model elastic-net")
        return Lasso(l1=args.l1, **axes)
    return ElasticNet(l1=args.l1, l2=args.l2, **axes)


def _train_arrays(args, out: Path) -> int:
    """`train --features X --targets Y`: an estimator on plain arrays, saved with its axes and split."""
    from .models import save_cnn, save_model
    from .study import scores

    if args.features is None or args.targets is None:
        raise UserError("train: --features and --targets go together (X: (n_samples, n_r) g(r) or "
                        "(n_samples, C, n_r) partials; Y: (n_samples, n_freq) spectra)")
    X = _load_array(args.features, "--features")
    Y = _load_array(args.targets, "--targets")
    if X.ndim not in (2, 3):
        raise UserError(f"--features: expected (n_samples, n_r) or (n_samples, C, n_r), got shape {X.shape}")
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.ndim != 2:
        raise UserError(f"--targets: expected (n_samples, n_freq), got shape {Y.shape}")
    if len(X) != len(Y):
        raise UserError(f"--features/--targets: {len(X)} samples in X but {len(Y)} in Y; one row per sample")
    r = _grid(args.r_grid, "--r-grid", X.shape[-1], "--features (last axis)")
    freq = _grid(args.omega_grid, "--omega-grid", Y.shape[1], "--targets (columns)")
    if args.r_sigma is not None and not args.r_sigma > 0:
        raise UserError(f"--r-sigma: must be positive, got {args.r_sigma}")
    tr, te = _read_split(args.split, len(X)) if args.split else _random_split(len(X), args.test_fraction,
                                                                              args.seed)
    if len(tr) < 3:
        raise UserError(f"--split/--test-fraction: {len(tr)} training rows; at least 3 are needed")
    y_unit = args.y_unit or f"1/{args.omega_unit}"
    est = _estimator(args.model, args, r=r, freq=freq, r_unit=args.r_unit, freq_unit=args.omega_unit,
                     y_unit=y_unit)
    t0 = time.time()
    est.fit(X[tr], Y[tr])
    sc = scores(Y[tr], est.predict(X[tr]).reshape(len(tr), -1))
    meta = est._meta()
    meta.update(kind=args.model, source="arrays", features_file=str(Path(args.features).resolve()),
                targets_file=str(Path(args.targets).resolve()), train_indices=tr.tolist(),
                test_indices=te.tolist(), test_fraction=args.test_fraction, seed=args.seed,
                r_sigma=args.r_sigma, y_unit=y_unit, hyper=getattr(est, "info_", {}), train_mse=sc["mse"],
                n_targets=int(Y.shape[1]))
    (save_cnn if args.model == "cnn" else save_model)(est.model_, out, metadata=meta)
    print(f"train: {args.model} on {len(tr)} of {len(X)} samples ({len(te)} held out) in "
          f"{time.time() - t0:.1f} s ({meta['hyper']}); train MSE {sc['mse']:.4e} ({y_unit})^2; wrote {out}")
    return 0


def load_any_model(path):
    """A saved linear or CNN model and its metadata (dispatch on the file's format tag)."""
    from .models import load_cnn, load_model

    p = Path(path)
    if not p.is_file():
        raise UserError(f"model: {p} {'is a folder' if p.is_dir() else 'not found'}; give a file written "
                        "by `jaxglass train`")
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = str(z["format"]) if "format" in z.files else None
    except Exception as err:
        raise UserError(f"model: {path} is not a readable model file ({err})") from err
    if fmt == "jaxglass-cnn":
        return load_cnn(path, with_metadata=True)
    return load_model(path, with_metadata=True)


#: Below this many samples an R² is reported as unstable.
MIN_R2_SAMPLES = 20


def _scores_checked(Y, P) -> dict:
    """MSE and R² with a status: R² is 'undefined' when the targets do not vary, 'unstable' below
    ``MIN_R2_SAMPLES`` samples (a warning on stderr in both cases)."""
    from .study import scores

    sc = scores(Y, P)
    n = len(Y)
    spread = float(np.var(Y, axis=0).sum())
    scale = float(np.mean(Y**2, axis=0).sum())
    if n < 2 or spread <= 1e-12 * max(scale, 1e-300):
        status = f"undefined: the {n} target spectra (almost) do not vary"
        sc["r2_mean"] = sc["r2_overall"] = None
    elif n < MIN_R2_SAMPLES:
        status = (f"unstable: only {n} samples (< {MIN_R2_SAMPLES}); targets with tiny variance dominate "
                  "the mean R², prefer the MSE or the variance-weighted overall R²")
    else:
        status = "ok"
    if status != "ok":
        print(f"jaxglass: warning: R² {status}", file=sys.stderr)
    sc["r2_status"] = status
    return sc


def _fmt_r2(v) -> str:
    return "undefined" if v is None else f"{v:.4f}"


def _check_compatible(meta: dict, ds, where: str) -> None:
    """The dataset holds the model's system, grids and units (else UserError naming the difference)."""
    if meta.get("system") and meta["system"] != ds.config.system:
        raise UserError(f"--dataset: {where} holds {ds.config.system!r} structures, the model was trained on "
                        f"{meta['system']!r}; evaluate it on a {meta['system']} dataset")
    for key, have, unit in (("r", ds.r, ds.length_unit), ("freq", ds.freq, ds.freq_unit)):
        want = meta.get(key)
        if want is None:
            continue
        want = np.asarray(want, np.float64)
        if want.shape != have.shape or not np.allclose(want, have, rtol=1e-9, atol=1e-12):
            raise UserError(
                f"--dataset: {where} has a different {key} grid: model {want.size} points "
                f"[{want.min():g}, {want.max():g}], dataset {have.size} points [{have.min():g}, "
                    f"{have.max():g}] "
                f"({unit}); use a dataset built with the model's grids")
    for key, have in (("length_unit", ds.length_unit), ("freq_unit", ds.freq_unit)):
        if meta.get(key) is not None and meta[key] != have:
            raise UserError(f"--dataset: {where} uses {key} {have!r}, the model {meta[key]!r}")
    if meta.get("features") == "partial" and meta.get("species_names") not in (None, list(ds.species_names)):
        raise UserError(f"--dataset: {where} has species {list(ds.species_names)}, the model's partial "
                        f"g(r) channels are for {meta['species_names']}")


def cmd_evaluate(args) -> int:
    if args.out:
        _out_file(args.out)
    model, meta = load_any_model(args.model)
    if args.features is not None or args.targets is not None or meta.get("source") == "arrays":
        return _evaluate_arrays(args, meta)
    from .data import load_dataset
    from .study import features, predict_any, targets

    enable_x64()
    where = args.dataset or meta.get("dataset")
    if not where:
        raise UserError("--dataset: the model file records no dataset; give --dataset DIR or "
                        "--features X.npy --targets Y.npy")
    ds = load_dataset(where)
    _check_compatible(meta, ds, str(where))
    pos = {int(k): i for i, k in enumerate(ds.indices)}
    if args.split == "all":
        idx = np.arange(len(ds))
    else:
        key = f"{args.split}_indices"
        if key not in meta:
            raise UserError(f"--split {args.split}: the model file records no {key}; use --split all")
        if args.dataset and meta.get("dataset") and Path(args.dataset).resolve() != Path(meta["dataset"]):
            raise UserError(f"--split {args.split}: the model's split indexes the dataset it was trained on "
                            f"({meta['dataset']}); on another dataset use --split all")
        missing = [k for k in meta[key] if k not in pos]
        if missing:
            raise UserError(
                f"--dataset: structures {missing[:5]} of the model's {args.split} split are absent"
            )
        idx = np.array([pos[k] for k in meta[key]])
    if idx.size == 0:
        raise UserError(f"--split {args.split}: no structures in this split")
    X = features(ds, meta.get("features", "total"))[idx]
    Y, _, y_unit = targets(ds, meta.get("target", "pdos"))
    Y = Y[idx]
    sc = _scores_checked(Y, predict_any(model, X))
    res = dict(model=str(args.model), kind=meta.get("kind"), dataset=str(where), split=args.split,
               n=len(idx), target=meta.get("target", "pdos"), **sc, mse_units=f"({y_unit})^2")
    return _print_scores(res, args, "structures")


def _print_scores(res: dict, args, noun: str = "samples") -> int:
    print(f"evaluate: {res['kind']} on {res['n']} {res['split']} {noun}: MSE {res['mse']:.4e} "
          f"{res['mse_units']}, R² mean {_fmt_r2(res['r2_mean'])}, overall {_fmt_r2(res['r2_overall'])}"
          + ("" if res["r2_status"] == "ok" else f" ({res['r2_status'].split(':')[0]})"))
    if args.out:
        _atomic_write_text(Path(args.out), json.dumps(res, indent=2))
    return 0


def _evaluate_arrays(args, meta: dict) -> int:
    from .models import load_estimator

    enable_x64()
    if args.dataset is not None:
        raise UserError("evaluate: give --dataset or --features/--targets, not both")
    est = load_estimator(args.model)
    given = args.features is not None
    if given != (args.targets is not None):
        raise UserError("evaluate: --features and --targets go together")
    fx = args.features if given else meta.get("features_file")
    fy = args.targets if given else meta.get("targets_file")
    if fx is None or fy is None:
        raise UserError("evaluate: the model file records no data files; give --features X.npy --targets "
                        "Y.npy")
    X = _load_array(fx, "--features")
    Y = _load_array(fy, "--targets")
    Y = Y[:, None] if Y.ndim == 1 else Y
    if tuple(X.shape[1:]) != tuple(est.feature_shape_) and int(np.prod(X.shape[1:])) != est.n_features_in_:
        raise UserError(f"--features: samples of shape {X.shape[1:]}, the model takes {est.feature_shape_} "
                        "(another g(r) grid?)")
    n_t = meta.get("n_targets") or len(np.atleast_1d(est.y_mean_))
    if Y.ndim != 2 or Y.shape[1] != n_t or len(Y) != len(X):
        raise UserError(f"--targets: shape {Y.shape}; the model predicts {n_t} values per sample for "
                        f"{len(X)} samples")
    for opt, path, have in (("--r-grid", args.r_grid, est.r), ("--omega-grid", args.omega_grid, est.freq)):
        if path is not None and have is not None:
            g = _load_array(path, opt).ravel()
            if g.shape != np.shape(have) or not np.allclose(g, have, rtol=1e-9, atol=1e-12):
                raise UserError(f"{opt}: differs from the grid stored in the model")
    if args.split == "all" or given:
        idx, split = np.arange(len(X)), "all"
    else:
        idx = np.asarray(meta.get(f"{args.split}_indices", []), int)
        split = args.split
        if idx.size and idx.max() >= len(X):
            raise UserError(f"--split {args.split}: the stored rows exceed the {len(X)} samples of {fx}")
    if idx.size == 0:
        raise UserError(f"--split {args.split}: no samples in this split (trained with --test-fraction 0?); "
                        "use --split all or --features/--targets of held-out data")
    P = np.asarray(est.predict(X[idx])).reshape(len(idx), -1)
    sc = _scores_checked(Y[idx], P)
    res = dict(model=str(args.model), kind=meta.get("kind"), features=str(fx), targets=str(fy), split=split,
               n=int(len(idx)), **sc, mse_units=f"({meta.get('y_unit', 'target unit')})^2")
    return _print_scores(res, args)


def _structure_frames(files, index: str):
    """(label, Structure) for every frame of every file (trajectories frame by frame)."""
    from .structure import read_frames

    out = []
    for f in files:
        frames = read_frames(f, index=index)
        for k, s in enumerate(frames):
            out.append((f"{f}" if len(frames) == 1 else f"{f}@{k}", s))
    return out


def _model_sigma(args, meta: dict) -> float:
    """The Gaussian width of the model's g(r) features: --r-sigma, the model file, or its dataset."""
    if args.r_sigma is not None:
        if not args.r_sigma > 0:
            raise UserError(f"--r-sigma: must be positive, got {args.r_sigma}")
        return float(args.r_sigma)
    if meta.get("r_sigma"):
        return float(meta["r_sigma"])
    if meta.get("dataset"):
        man = Path(meta["dataset"]) / "manifest.json"
        if man.is_file():
            from .data import _read_manifest

            return float(_read_manifest(man)["config"]["r_sigma"])
    raise UserError("--r-sigma: the model file does not record the Gaussian width of its g(r) features; "
                    "give it (same length unit as the model's r grid)")


def _model_r(est, meta: dict) -> np.ndarray:
    r = est.r if est.r is not None else meta.get("r")
    if r is None:
        raise UserError("model: no r grid stored; train with --r-grid R.npy to predict from structures or "
                        "S(Q)")
    return np.asarray(r, np.float64)


def _features_from_structures(args, est, meta: dict):
    from .rdf import rdf
    from .structure import with_species_names

    r = _model_r(est, meta)
    sigma = _model_sigma(args, meta)
    frames = _structure_frames(args.structure, args.index)
    names = meta.get("species_names")
    partial = len(est.feature_shape_) == 2
    if partial and not names:
        raise UserError("model: partial g(r) channels but no species names stored; predict from --features")
    X, labels = [], []
    for label, s in frames:
        if meta.get("dim") and s.dim != meta["dim"]:
            raise UserError(f"--structure: {label} is {s.dim}D, the model was trained on {meta['dim']}D "
                            f"structures")
        if names and not set(s.species_names) <= set(names):
            raise UserError(f"--structure: {label} has species {list(s.species_names)}, the model knows "
                            f"{names} (trained on {meta.get('system', 'other')} structures)")
        if partial:
            s = with_species_names(s, names)
        g = rdf(s, r, sigma)
        if partial:
            iu = np.triu_indices(len(names))
            X.append(np.asarray(g.partial)[iu[0], iu[1], :])
        else:
            X.append(np.asarray(g.total))
        labels.append(label)
    info = dict(source="structure", files=[str(f) for f in args.structure], frames=len(frames),
                r_sigma=sigma, g_of_r="jaxglass.rdf, Gaussian-smoothed on the model's r grid")
    return np.stack(X), labels, info


def g_from_sq(q, s, r, density: float, *, dim: int = 3, window: str = "lorch", sigma: float | None = None,
              q_min: float | None = None, q_max: float | None = None):
    """g(r) on ``r`` from a measured S(Q): the Fourier transform of ``pair_correlation_from_sq`` over
    [q_min, q_max] (S held at S(q_min) below q_min), an optional Lorch window, then (``sigma``) the same
    Gaussian smoothing along r as the model's features. Returns ``(g, info)``, ``info`` stating it all."""
    from .rdf import pair_correlation_from_sq

    q, s, r = (np.asarray(x, np.float64) for x in (q, s, r))
    lo = q.min() if q_min is None else q_min
    hi = q.max() if q_max is None else q_max
    keep = (q >= lo) & (q <= hi)
    if keep.sum() < 10:
        raise UserError(f"--q-min/--q-max: only {int(keep.sum())} Q points in [{lo:g}, {hi:g}]; need >= 10")
    q, s = q[keep], s[keep]
    if q[0] > 0:  # S(Q) held at its first value down to Q = 0 (the integrand vanishes as Q^(d-1) there)
        lowq = np.linspace(0.0, q[0], max(3, int(np.ceil(q[0] / np.diff(q).min()))), endpoint=False)
        q, s = np.concatenate([lowq, q]), np.concatenate([np.full(lowq.size, s[0]), s])
    if sigma:  # fine grid, then the model's smoothing g_sigma = g * G_sigma along r
        h = min(sigma / 5.0, np.pi / q.max() / 4.0)
        rf = np.arange(max(r.min() - 6 * sigma, h), r.max() + 6 * sigma + h, h)
        gf = pair_correlation_from_sq(q, s, rf, density, dim, window=window)
        w = np.exp(-0.5 * ((r[:, None] - rf[None, :]) / sigma) ** 2)
        g = (w * gf[None, :]).sum(1) / w.sum(1)
    else:
        g = pair_correlation_from_sq(q, s, r, density, dim, window=window)
    info = dict(transform=f"g(r) = 1 + 1/((2pi)^{dim} rho) Int (S(Q)-1) M(Q) K_{dim}(Qr) S_{dim}(Q) dQ "
                          f"({'sin(Qr)/(Qr)' if dim == 3 else 'J0(Qr)'} kernel, trapezoid)",
                density=float(density), dim=dim, q_min=float(lo), q_max=float(hi),
                low_q="S(Q) held at S(Q_min) for 0 <= Q < Q_min",
                window="Lorch M(Q) = sin(pi Q/Q_max)/(pi Q/Q_max), resolution 2 pi/Q_max"
                if window == "lorch" else "none (truncation ripples of period 2 pi/Q_max)",
                r_smoothing=f"Gaussian along r, sigma = {sigma:g} (the model's g(r) smoothing)" if sigma
                else "none")
    return g, info


def _features_from_sq(args, est, meta: dict):
    if len(est.feature_shape_) != 1:
        raise UserError("--sq: the model takes partial g(r) channels; a measured S(Q) gives the total g(r) "
                        "only")
    if args.density is None or not args.density > 0:
        raise UserError("--density: needed with --sq, the number density of the sample (atoms per "
                        "length unit^d of the model's r grid, e.g. atoms/Å^3)")
    t = _load_array(args.sq, "--sq")
    if t.ndim != 2 or t.shape[1] < 2:
        raise UserError(f"--sq: expected two columns Q, S(Q), got shape {t.shape}")
    q, s = t[:, 0], t[:, 1]
    if np.any(np.diff(q) <= 0) or q[0] < 0:
        raise UserError("--sq: Q must be non-negative and increase strictly")
    r = _model_r(est, meta)
    dim = args.dim or int(meta.get("dim") or 3)
    sigma = None if args.no_smoothing else _model_sigma(args, meta)
    g, info = g_from_sq(q, s, r, args.density, dim=dim, window=args.window, sigma=sigma, q_min=args.q_min,
                        q_max=args.q_max)
    length = meta.get("length_unit") or est.r_unit or "length unit"
    info.update(source="sq", file=str(args.sq), q_unit=f"1/{length} (2 pi included)")
    return g[None, :], [str(args.sq)], info


def cmd_predict(args) -> int:
    """Spectra predicted by a trained model from features, structure files or a measured S(Q)."""
    from .models import load_estimator

    out = _out_dir(args.out)
    given = [o for o, v in (("--features", args.features), ("--structure", args.structure), ("--sq", args.sq))
             if v]
    if len(given) != 1:
        raise UserError(f"predict: give exactly one of --features, --structure, --sq (got {given or 'none'})")
    enable_x64()
    _, meta = load_any_model(args.model)
    est = load_estimator(args.model)
    if args.features:
        X = _load_array(args.features, "--features")
        X = X[None] if X.ndim == len(est.feature_shape_) else X
        if int(np.prod(X.shape[1:])) != est.n_features_in_:
            raise UserError(f"--features: samples of shape {X.shape[1:]}, the model takes "
                            f"{est.feature_shape_}")
        labels, info = [f"row {i}" for i in range(len(X))], dict(source="features", file=str(args.features))
    elif args.structure:
        X, labels, info = _features_from_structures(args, est, meta)
    else:
        X, labels, info = _features_from_sq(args, est, meta)
    Y = np.asarray(est.predict(X)).reshape(len(X), -1)
    freq = est.freq if est.freq is not None else meta.get("freq", np.arange(Y.shape[1]))
    freq = np.asarray(freq, np.float64)
    funit = meta.get("freq_unit") or est.freq_unit or "index"
    yunit = meta.get("y_unit") or est.y_unit or (f"1/{funit}" if meta.get("freq_unit") else "target unit")
    r = est.r if est.r is not None else meta.get("r")
    _write_csv(out / "predictions.csv", np.column_stack([freq, Y.T]),
               ",".join([f"frequency_{funit}"] + [f"y[{lab}]".replace(",", ";") for lab in labels]))
    info.update(model=str(args.model), kind=meta.get("kind"), n=len(X), labels=labels, frequency_unit=funit,
                y_unit=yunit)
    atomic_savez(out / "predictions.npz", dict(frequency=freq, y=Y, features=X,
                                               r=np.asarray(r if r is not None else [], np.float64),
                                               labels=np.array(labels), metadata=np.array(json.dumps(info))))
    _atomic_write_text(out / "predict.json", json.dumps(info, indent=2))
    print(f"predict: {len(X)} spectra ({yunit} on {len(freq)} frequencies, {funit}) from {info['source']}; "
          f"wrote {out / 'predictions.csv'}, {out / 'predictions.npz'}, {out / 'predict.json'}")
    return 0


def cmd_rdf(args) -> int:
    """Smoothed total and partial g(r) of structure files (every frame), as CSV and npz."""
    from .rdf import norm_dim, rdf
    from .structure import with_species_names

    out = _out_dir(args.out)
    if not args.sigma > 0:
        raise UserError(f"--sigma: must be positive, got {args.sigma}")
    if args.n_r < 2 or not 0 <= args.r_min < args.r_max:
        raise UserError(f"--r-min/--r-max/--n-r: need 0 <= r_min < r_max and n_r >= 2, got "
                        f"{args.r_min}, {args.r_max}, {args.n_r}")
    frames = _structure_frames(args.files, args.index)
    names: list[str] = []
    for _, s in frames:
        names += [n for n in s.species_names if n not in names]
    dims = {norm_dim(s) for _, s in frames}
    if len(dims) != 1:
        raise UserError(f"rdf: frames mix {sorted(dims)}-periodic cells; give files of one kind")
    r = np.linspace(args.r_min, args.r_max, args.n_r)
    tot, part, dens = [], [], []
    for label, s in frames:
        half = 0.5 * min(float(b) for b, p in zip(np.asarray(s.box), s.periodic) if p)
        if args.r_max > half:
            print(f"jaxglass: warning: {label}: r_max {args.r_max:g} exceeds half the shortest periodic box "
                  f"length ({half:g}); g(r) beyond it counts periodic images twice over", file=sys.stderr)
        g = rdf(with_species_names(s, names), r, args.sigma)
        tot.append(np.asarray(g.total))
        part.append(np.asarray(g.partial))
        per = [float(b) for b, p in zip(np.asarray(s.box), s.periodic) if p]
        dens.append(s.n_atoms / float(np.prod(per)))
    tot, part = np.stack(tot), np.stack(part)
    iu = np.triu_indices(len(names))
    pair_names = [f"{names[i]}-{names[j]}" for i, j in zip(*iu)]
    mean_t, mean_p = tot.mean(0), part.mean(0)
    _write_csv(out / "rdf.csv", np.column_stack([r, mean_t, *mean_p[iu[0], iu[1]]]),
               ",".join(["r", "g_total"] + [f"g_{p}" for p in pair_names]))
    meta = dict(files=[str(f) for f in args.files], frames=[lab for lab, _ in frames], n_frames=len(frames),
                species_names=names, sigma=args.sigma, r_min=args.r_min, r_max=args.r_max, n_r=args.n_r,
                dim=dims.pop(), number_density=dens, length_unit="that of the positions (Å, or σ for LJ)",
                definition="Gaussian-smoothed g(r) of jaxglass.rdf; CSV: average over frames; npz: per frame")
    atomic_savez(out / "rdf.npz", dict(r=r, total=tot, partial=part, mean_total=mean_t, mean_partial=mean_p,
                                       species_names=np.array(names), frames=np.array(meta["frames"]),
                                       number_density=np.asarray(dens), metadata=np.array(json.dumps(meta))))
    _atomic_write_text(out / "rdf.json", json.dumps(meta, indent=2))
    print(f"rdf: {len(frames)} frame(s), species {names}, r in [{args.r_min:g}, {args.r_max:g}] "
          f"({args.n_r} points, sigma {args.sigma:g}); wrote {out / 'rdf.csv'}, {out / 'rdf.npz'}")
    return 0


def cmd_study(args) -> int:
    from .data import DatasetConfig, build_dataset, load_dataset
    from .study import run_study

    enable_x64()
    _out_dir(args.out)
    dataset = Path(args.dataset or Path(args.out) / "dataset")
    if args.n_structures:
        cfg = DatasetConfig.make(args.system, args.n_structures, n_atoms=args.n_atoms, size=args.size,
                                 seed=args.data_seed)
        t0 = time.time()
        new = build_dataset(dataset, cfg, workers=args.workers, progress=not args.quiet)
        print(f"study: dataset {dataset}: {len(new)} new structure(s) in {time.time() - t0:.1f} s")
    ds = load_dataset(dataset, allow_partial=args.partial)
    if ds.config.system != args.system:
        raise UserError(f"--dataset: {dataset} holds {ds.config.system!r} structures, not {args.system!r}")
    res = run_study(ds, args.out, _study_config(args), verbose=not args.quiet, models=tuple(args.models))
    print(Path(args.out, "study.md").read_text())
    return 0 if res else 1


def cmd_demo(args) -> int:
    """The whole chain at small size: generate → RDF/PDOS → ridge, elastic net, CNN → table + figures."""
    from .data import DatasetConfig, build_dataset, load_dataset
    from .study import StudyConfig, run_study

    enable_x64()
    t0 = time.time()
    out = _out_dir(args.out)
    cfg = DatasetConfig.make(args.system, args.n_structures, n_atoms=args.n_atoms, seed=args.seed)
    print(f"demo: {args.system}, {cfg.n_structures} structures of ~{cfg.n_atoms} atoms from crystal to glass "
          f"-> {out / 'dataset'} (resumable)")
    build_dataset(out / "dataset", cfg, workers=args.workers, progress=True)
    ds = load_dataset(out / "dataset")
    print(f"demo: dataset ready after {time.time() - t0:.0f} s; fitting the models")
    from .plots import plot_knob_series

    plot_knob_series(ds, out / "rdf_pdos.png")
    scfg = StudyConfig(train_sizes=tuple(args.train_sizes), n_seeds=args.n_seeds, seed=args.seed)
    run_study(ds, out / "study", scfg)
    print(Path(out / "study" / "study.md").read_text())
    print(f"demo: done in {time.time() - t0:.0f} s; figures in {out / 'study'} and {out / 'rdf_pdos.png'}")
    return 0


def cmd_perturb(args) -> int:
    from .perturb_study import run

    _out_dir(args.out)
    run(args.dataset, args.model, args.out, n_test=args.n_test, n_train=args.n_train,
        n_random=args.n_random, n_soft=args.n_soft, seed=args.seed, full_jacobian=not args.directions_only,
        progress=not args.quiet)
    print(Path(args.out, "perturb.md").read_text())
    return 0


def _add_study_args(p, features: bool = True) -> None:
    if features:
        p.add_argument("--features", choices=("total", "partial"), default="total",
                       help="model inputs: total g(r), or the partial g_ab(r) as channels")
    p.add_argument("--test-fraction", type=float, default=0.2,
                   help="fraction of the samples held out for testing")
    p.add_argument("--seed", type=int, default=0, help="train/test split and model seed")
    p.add_argument("--cnn-max-epochs", type=int, default=None,
                   help="CNN training budget in epochs (None: 300)")
    p.add_argument("--target", choices=("pdos", "ndos", "ins", "ixs", "raman"), default="pdos",
                   help="spectrum to predict: PDOS, neutron-weighted DOS, Q-averaged INS or IXS S(Q,w), "
                        "Raman (non-PDOS targets need `jaxglass spectra DATASET` first)")
    p.add_argument("--scaling", choices=("channel", "pooled", "column"), default="channel",
                   help="input scaling: one scale per g(r) channel (default; = pooled for total g(r)), "
                        "one for all, or per column")


#: `generate` / `study` systems: the five families and the alternative Kob-Andersen knobs (from the
#: one registry, :mod:`jaxglass.families`).
SYSTEM_CHOICES = _families.NAMES


def _add_partial_arg(p) -> None:
    p.add_argument("--partial", action="store_true",
                   help="accept an incomplete dataset (structures still missing); refused otherwise")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default (``(default: ...)``)."""


def _add_train_args(t) -> None:
    t.add_argument("dataset", nargs="?", default=None,
                   help="dataset directory from `jaxglass generate` (or give --features/--targets)")
    t.add_argument("--model", choices=("ridge", "lasso", "elastic-net", "cnn"), default="ridge",
                   help="ridge/lasso/elastic-net: linear map y = W g + b, penalties by cross-validation; "
                        "cnn: the 1D convolutional baseline")
    t.add_argument("--out", required=True, help="model file to write (.npz)")
    t.add_argument("--features", default=None,
                   help="your own inputs: X.npy/.npz/.csv of shape (n_samples, n_r) g(r) or "
                        "(n_samples, C, n_r); with a dataset directory: 'total' or 'partial' g(r) "
                        "(None: total)")
    t.add_argument("--targets", default=None,
                   help="your own targets: Y.npy/.npz/.csv, (n_samples, n_freq) spectra")
    t.add_argument("--split", default=None,
                   help='with --features: train/test rows, a JSON {"train": [...], "test": [...]} or a '
                        ".npy/.txt "
                        "of test rows (None: a seeded random --test-fraction split)")
    t.add_argument("--r-grid", default=None, help="with --features: the r values of the g(r) columns (.npy)")
    t.add_argument("--omega-grid", default=None,
                   help="with --features: the frequencies of the target columns (.npy)")
    t.add_argument("--r-unit", default="Å", help="with --features: length unit of the r grid")
    t.add_argument("--omega-unit", default="THz", help="with --features: unit of the frequency grid")
    t.add_argument("--y-unit", default=None, help="with --features: unit of the targets (None: 1/OMEGA_UNIT)")
    t.add_argument("--l1", type=float, default=None,
                   help="with --features: fixed L1 penalty of lasso/elastic-net (None: cross-validated on "
                        "the estimator's default grid)")
    t.add_argument("--l2", type=float, default=None,
                   help="with --features: fixed L2 penalty of ridge/elastic-net (None: cross-validated; "
                        "fixing it makes the elastic-net search one-dimensional and much faster)")
    t.add_argument("--r-sigma", type=float, default=None,
                   help="with --features: Gaussian width of your g(r) smoothing (r unit); stored so that "
                        "`predict --structure/--sq` can compute matching g(r)")
    _add_study_args(t, features=False)
    _add_partial_arg(t)


def _add_evaluate_args(e) -> None:
    e.add_argument("model", help="model file written by `jaxglass train`")
    e.add_argument("--dataset", default=None, help="dataset directory (None: the one it was trained on)")
    e.add_argument("--features", default=None,
                   help="held-out inputs X (.npy/.npz/.csv) for a model trained on arrays")
    e.add_argument("--targets", default=None, help="held-out targets Y (.npy/.npz/.csv), with --features")
    e.add_argument("--r-grid", default=None, help="r grid of --features (.npy), checked against the model's")
    e.add_argument("--omega-grid", default=None,
                   help="frequency grid of --targets (.npy), checked against the model's")
    e.add_argument("--split", choices=("test", "train", "all"), default="test",
                   help="which stored split to score (--features data: all)")
    e.add_argument("--out", default=None, help="write the scores as JSON to this file")


def _add_predict_args(pr) -> None:
    pr.add_argument("model", help="model file written by `jaxglass train` (or an estimator's save)")
    pr.add_argument("--features", default=None,
                    help="inputs X (.npy/.npz/.csv), one g(r) per row on the model's grid")
    pr.add_argument("--structure", nargs="+", default=None,
                    help="structure files (any format ase reads; every frame of a trajectory): smoothed g(r) "
                         "on the model's r grid, then the spectrum")
    pr.add_argument("--sq", default=None,
                    help="measured S(Q): text/CSV with columns Q (1/length, 2π included) and S(Q); Fourier "
                         "transformed to g(r) (needs --density), then the spectrum")
    pr.add_argument("--density", type=float, default=None,
                    help="with --sq: number density (atoms per length unit^d, e.g. atoms/Å^3)")
    pr.add_argument("--dim", type=int, choices=(2, 3), default=None,
                    help="with --sq: dimension (None: the model's, else 3)")
    pr.add_argument("--window", choices=("lorch", "none"), default="lorch",
                    help="with --sq: window on S(Q) - 1 before the transform (Lorch: resolution 2π/Q_max)")
    pr.add_argument("--q-min", type=float, default=None,
                    help="with --sq: lowest Q used (1/length; None: the file's)")
    pr.add_argument("--q-max", type=float, default=None,
                    help="with --sq: highest Q used (1/length; None: the file's)")
    pr.add_argument("--no-smoothing", action="store_true",
                    help="with --sq: skip the Gaussian smoothing along r that matches the model's g(r) "
                        "features")
    pr.add_argument("--r-sigma", type=float, default=None,
                    help="Gaussian width of the g(r) smoothing (length unit; None: stored in the "
                        "model/dataset)")
    pr.add_argument("--index", default=":",
                    help="with --structure: frames to use (ase index: ':' all, '-1' last)")
    pr.add_argument("--out", default="out/predict", help="output folder (predictions.csv/.npz, predict.json)")


def _add_rdf_args(rd) -> None:
    rd.add_argument("files", nargs="+",
                    help="structure files (any format ase reads; every frame of a trajectory)")
    rd.add_argument("--r-min", type=float, default=0.0,
                    help="first r of the grid (length unit of the positions)")
    rd.add_argument("--r-max", type=float, default=6.0,
                    help="last r of the grid (length unit of the positions)")
    rd.add_argument("--n-r", type=int, default=300, help="points of the r grid")
    rd.add_argument("--sigma", type=float, default=0.05, help="Gaussian smoothing width (length unit)")
    rd.add_argument("--index", default=":", help="frames to use (ase index: ':' all, '-1' last, '::10')")
    rd.add_argument("--out", default="out/rdf", help="output folder (rdf.csv, rdf.npz, rdf.json)")


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxglass`` argument parser (every option with help and its default)."""
    import functools

    from . import __version__

    parser = argparse.ArgumentParser(
        prog="jaxglass", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Compiled XLA programs are kept in a persistent cache, $XDG_CACHE_HOME/jaxglass/jax "
        "(~/.cache/jaxglass/jax), so that later calls skip most compilation; JAXGLASS_COMPILE_CACHE=DIR "
        "moves it, JAXGLASS_COMPILE_CACHE=0 or --no-compile-cache switches it off.")
    parser.add_argument("--version", action="version", version=f"jaxglass {__version__}")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="do not use the persistent JAX compilation cache (see below)")
    sub = parser.add_subparsers(dest="cmd", required=True,
                                parser_class=functools.partial(argparse.ArgumentParser,
                                                               formatter_class=_HelpFormatter))
    systems = SYSTEM_CHOICES
    d = sub.add_parser("demo", help="small end-to-end study: dataset, models, table, figures")
    d.add_argument("--system", choices=systems, default="lj2d", help="glass family")
    d.add_argument("--n-structures", type=int, default=60, help="structures in the dataset")
    d.add_argument("--n-atoms", type=int, default=128, help="atoms (particles) per structure")
    d.add_argument("--train-sizes", type=int, nargs="+", default=[12, 24],
                   help="learning-curve training sizes")
    d.add_argument("--n-seeds", type=int, default=3, help="random subsets per learning-curve size")
    d.add_argument("--workers", type=int, default=2, help="local Dask worker processes (0: in this process)")
    d.add_argument("--seed", type=int, default=0, help="dataset and split seed")
    d.add_argument("--out", default="out/demo", help="output folder")
    d.set_defaults(func=cmd_demo)
    q = sub.add_parser("quench", help="quench a small Kob-Andersen glass and print its PDOS")
    q.add_argument("--system", choices=("lj2d", "lj3d"), default="lj3d",
                   help="2D (65:35) or 3D (80:20) mixture")
    q.add_argument("--n", type=int, default=250, help="number of particles")
    q.add_argument("--seed", type=int, default=0, help="seed of the random initial packing")
    q.add_argument("--allow-unconverged", action="store_true",
                   help="exit 0 even if the relaxation did not converge (else exit status 3)")
    q.add_argument("--allow-imaginary", action="store_true",
                   help="exit 0 even with imaginary modes (else exit status 4)")
    q.add_argument("--out", default="out/quench",
                   help="output folder (summary.json, pdos.npz/png, structure)")
    q.set_defaults(func=cmd_quench)
    p = sub.add_parser(
        "pdos", help="PDOS of a structure file (any format ase reads): dense eigen-solve or KPM",
        description="Γ-point phonon DOS and species-resolved partial DOS of a structure file. --method "
        f"auto takes the dense route (exact) up to {AUTO_DENSE_MAX_ATOMS} atoms, eigenvalues only when "
        "--no-partial, and the matrix-free kernel polynomial method (KPM) above.")
    p.add_argument("structure", help="structure file (extxyz or any format ase reads; orthorhombic cell)")
    p.add_argument("--potential", required=True, help=f"one of {POTENTIALS}")
    p.add_argument("--method", choices=("auto", "dense", "kpm", "lbfgs", "fire"), default="auto",
                   metavar="{auto,dense,kpm}",
                   help="spectrum route: dense Hessian + LAPACK eigen-solve, KPM (Hessian-vector products, "
                   f"O(N) memory), or auto (dense up to {AUTO_DENSE_MAX_ATOMS} atoms, KPM above)")
    p.add_argument("--moments", type=int, default=None, help="KPM: Chebyshev moments M (default 1024)")
    p.add_argument("--vectors", type=int, default=None,
                   help="KPM: random vectors R per species (default: ceil(40,000 / (N d)) in [1, 16])")
    p.add_argument("--seed", type=int, default=0, help="KPM: seed of the random vectors and of Lanczos")
    p.add_argument("--sigma", type=float, default=None,
                   help="Gaussian broadening (THz, ω for LJ units; default 1%% of the spectral width)")
    p.add_argument("--n-points", type=int, default=400, help="frequency grid points (default 400)")
    p.add_argument("--no-partial", action="store_true",
                   help="total DOS only: no species-resolved DOS (dense: eigenvalues only, faster)")
    p.add_argument("--no-plot", action="store_true", help="do not write pdos.png")
    p.add_argument("--relax", action="store_true", help="minimise before computing modes")
    p.add_argument("--minimizer", choices=("lbfgs", "fire"), default="lbfgs", help="minimiser for --relax")
    p.add_argument("--fmax", type=float, default=1e-4,
                   help="force tolerance of the relaxation (eV/Å; reduced units for LJ)")
    p.add_argument("--max-steps", type=int, default=20000, help="step budget of --relax")
    p.add_argument("--allow-unconverged", action="store_true",
                   help="exit 0 even if --relax did not converge (else exit status 3)")
    p.add_argument("--allow-imaginary", action="store_true",
                   help="exit 0 even with imaginary modes (else exit status 4)")
    p.add_argument("--out", default="out/pdos", help="output folder (summary.json, pdos.npz/png, structure)")
    p.set_defaults(func=cmd_pdos)
    sp = sub.add_parser("spectra", help="PDOS, neutron DOS, INS/IXS S(Q,w) or Raman of a structure file; "
                        "or add all observables to a dataset directory (resumable)")
    sp.add_argument("structure", help="structure file, or a dataset directory (then every record gets the "
                    "neutron DOS, INS/IXS S(Q,w) and Raman on its PDOS grid; resumable)")
    sp.add_argument("--potential", default=None, help=f"one of {POTENTIALS} (structure files only)")
    sp.add_argument("--kind", choices=("pdos", "ndos", "ins", "ixs", "raman"), default="ins",
                    help="observable")
    sp.add_argument("--temperature", type=float, default=None,
                    help="K (Bose and Debye-Waller factors; default 300, LJ datasets 0.1 eps/k_B)")
    sp.add_argument("--q", type=float, nargs="+", default=[2.0, 4.0, 6.0],
                    help="|Q| shell centres (1/Å, 2π included)")
    sp.add_argument("--sigma", type=float, default=None, help="Gaussian broadening (THz; None: 1%% of max)")
    sp.add_argument("--n-points", type=int, default=500, help="points of the frequency grid")
    sp.add_argument("--relax", action="store_true", help="minimise before computing modes")
    sp.add_argument("--max-steps", type=int, default=20000, help="step budget of --relax")
    sp.add_argument("--allow-unconverged", action="store_true",
                    help="exit 0 even if --relax did not converge (else exit status 3)")
    sp.add_argument("--fmax", type=float, default=1e-4, help="force tolerance of --relax (eV/Å)")
    sp.add_argument("--allow-imaginary", action="store_true",
                    help="exit 0 even with imaginary modes (else exit status 4; they are left out)")
    sp.add_argument("--out", default="out/spectra", help="output folder (spectrum.csv/.npz/.png/.json)")
    sp.add_argument("--quiet", action="store_true", help="datasets: no progress lines (build.log gets them)")
    sp.set_defaults(func=cmd_spectra)
    g = sub.add_parser("generate", help="build (or resume) a dataset of glasses with RDFs and PDOS")
    g.add_argument("--system", required=True, choices=systems, help="glass family")
    g.add_argument("--n-structures", type=int, required=True, help="structures in the dataset")
    g.add_argument("--out", required=True, help="dataset directory (resumed if it exists)")
    g.add_argument("--size", choices=("small", "paper"), default="small", help="family default cell sizes")
    g.add_argument("--n-atoms", type=int, default=None,
                   help="target atoms per structure (None: family default)")
    g.add_argument("--seed", type=int, default=0, help="dataset seed (knobs and generator seeds)")
    g.add_argument("--workers", type=int, default=None,
                   help="local Dask worker processes (None: one per core, at most one per 2 GiB); "
                        "0 computes in this process without Dask")
    g.add_argument("--scheduler", default=None,
                   help="address of an existing Dask scheduler (e.g. tcp://host:8786) to submit to; "
                        "None: $JAXGLASS_SCHEDULER, else a LocalCluster started for this build")
    g.add_argument("--memory-limit", default="auto",
                   help="memory limit per local worker, e.g. 4GiB (auto: the machine's memory shared)")
    g.add_argument("--dashboard-address", default=":8787",
                   help="where the local cluster serves its dashboard (':0' picks a free port)")
    g.add_argument("--no-crystal", action="store_true", help="omit the crystalline reference (index 0)")
    g.add_argument("--quiet", action="store_true", help="no progress lines (DIR/build.log still gets them)")
    g.set_defaults(func=cmd_generate)
    ex = sub.add_parser("export", help="pack a dataset into one compressed file (float32 arrays)")
    ex.add_argument("dataset", help="dataset directory")
    ex.add_argument("--out", required=True, help="output file, e.g. lj2d.npz")
    ex.set_defaults(func=cmd_export)
    im = sub.add_parser("import", help="unpack an exported dataset into a directory (then resumable)")
    im.add_argument("file", help="file written by `jaxglass export`")
    im.add_argument("--out", required=True, help="dataset directory (new, or the same dataset to complete)")
    im.set_defaults(func=cmd_import)
    pl = sub.add_parser("plot", help="RDF and PDOS across the disorder knob of a dataset")
    pl.add_argument("dataset", help="dataset directory")
    pl.add_argument("--out", default=None, help="figure file (None: DATASET/rdf_pdos.png)")
    pl.add_argument("--n-curves", type=int, default=6, help="curves drawn across the knob")
    _add_partial_arg(pl)
    pl.set_defaults(func=cmd_plot)
    t = sub.add_parser("train", help="fit a model on a dataset's training split or on your own arrays")
    _add_train_args(t)
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("evaluate", help="test MSE and R² of a saved model")
    _add_evaluate_args(e)
    e.set_defaults(func=cmd_evaluate)
    pr = sub.add_parser("predict", help="spectra from a trained model: features, structure files or S(Q)")
    _add_predict_args(pr)
    pr.set_defaults(func=cmd_predict)
    rd = sub.add_parser("rdf", help="smoothed total and partial g(r) of structure files (CSV + npz)")
    _add_rdf_args(rd)
    rd.set_defaults(func=cmd_rdf)
    st = sub.add_parser("study", help="linear vs CNN: table, learning curve, weight maps, predictions")
    st.add_argument("--system", required=True, choices=systems, help="glass family")
    st.add_argument("--out", required=True, help="output folder (study.json, study.md, PNGs)")
    st.add_argument("--dataset", default=None, help="dataset directory (None: OUT/dataset)")
    st.add_argument("--n-structures", type=int, default=None,
                    help="build/grow the dataset to this many structures first (resumable)")
    st.add_argument("--n-atoms", type=int, default=None, help="atoms per structure (None: family default)")
    st.add_argument("--size", choices=("small", "paper"), default="small", help="family default cell sizes")
    st.add_argument("--data-seed", type=int, default=0, help="dataset seed")
    st.add_argument("--workers", type=int, default=0,
                    help="0: build the dataset in this process; N: on a local Dask cluster of N workers")
    st.add_argument("--train-sizes", type=int, nargs="+", default=None,
                    help="learning-curve training sizes (None: the study's defaults)")
    st.add_argument("--n-seeds", type=int, default=None, help="subsets per learning-curve size (None: 3)")
    st.add_argument("--models", nargs="+", choices=("ridge", "elastic-net", "cnn"),
                    default=["ridge", "elastic-net", "cnn"], help="models compared")
    st.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_study_args(st)
    _add_partial_arg(st)
    st.set_defaults(func=cmd_study)
    pt = sub.add_parser("perturb", help="first-order perturbation theory, Jacobian consistency and "
                        "sensitivity maps for a dataset and a linear model")
    pt.add_argument("dataset", help="dataset directory (from `jaxglass generate`)")
    pt.add_argument("--model", required=True, help="linear model file from `jaxglass train --model ridge`")
    pt.add_argument("--out", required=True, help="output folder (perturb.json, perturb.md, PNGs)")
    pt.add_argument("--n-test", type=int, default=3, help="test structures analysed")
    pt.add_argument("--n-train", type=int, default=3, help="training structures for W_phys")
    pt.add_argument("--n-random", type=int, default=6, help="random directions per structure")
    pt.add_argument("--n-soft", type=int, default=6, help="softest-mode directions per structure")
    pt.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    pt.add_argument("--directions-only", action="store_true",
                    help="fit W_phys to the random + soft directions, not full N·d Jacobians (large cells)")
    pt.add_argument("--quiet", action="store_true", help="no progress lines")
    pt.set_defaults(func=cmd_perturb)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version (0) and usage errors (2), without leaving main()
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else EXIT_USER)
    enable_x64()
    return run_command(args)


def run_command(args) -> int:
    """Run a parsed command: bad input → message on stderr and exit status 2 (no traceback)."""

    try:
        with _compile_cache(compile_cache_dir(args.no_compile_cache)) as cache:
            args.compile_cache_path = cache
            return args.func(args)
    except (UserError, ValueError, FileNotFoundError, FileExistsError, IsADirectoryError,
            NotADirectoryError, PermissionError) as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return EXIT_USER
    except BuildError as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("jaxglass: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
