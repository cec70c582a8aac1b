"""``jaxglass`` command line: demo, pdos, generate, export, import, plot, train, evaluate, study."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from ._config import enable_x64
from .potentials.spec import SPEC_FORMS

POTENTIALS = SPEC_FORMS


def load_potential(spec: str):
    """Potential from a ``--potential`` spec (see :func:`jaxglass.potentials.from_spec`)."""
    from .potentials import from_spec

    try:
        return from_spec(spec)
    except ValueError as err:
        raise ValueError(f"--potential: {err}") from err


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


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
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return True


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
    out.mkdir(parents=True, exist_ok=True)
    np.savez(
        out / "pdos.tmp.npz",
        grid=np.asarray(p.grid),
        total=np.asarray(p.total),
        partial=np.asarray(p.partial) if p.partial is not None else np.zeros((0, len(p.grid))),
        frequencies=f,
    )
    os.replace(out / "pdos.tmp.npz", out / "pdos.npz")
    _atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if plot and _plot_pdos(p, out / "pdos.png", f"{label} ({structure.n_atoms} atoms)"):
        print(f"  wrote {out / 'pdos.png'}")
    if write_structure:
        try:
            from .structure import write

            write(str(out / "structure.extxyz"), res.structure)
        except ImportError:
            pass
    print(f"  wrote {out / 'summary.json'}, {out / 'pdos.npz'}")
    return summary


def cmd_quench(args) -> int:
    from .generate import random_packing
    from .minimize import minimize
    from .potentials import kob_andersen

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
    _report(pot, s, res, Path(args.out), f"KA {dim}D glass", t0)
    return 0 if res.converged else 1


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
        raise ValueError(f"--moments: need at least 16 Chebyshev moments (resolution ≈ ν_max·π/M), "
                         f"got {args.moments}; the default is 1024")
    if args.vectors is not None and args.vectors < 1:
        raise ValueError(f"--vectors: need at least 1 random vector, got {args.vectors}; the default is 4")
    if args.sigma is not None and not args.sigma > 0:
        raise ValueError(f"--sigma: broadening must be positive (THz, or ω for LJ units), got {args.sigma}")
    if args.n_points < 2:
        raise ValueError(f"--n-points: need at least 2 grid points, got {args.n_points}")
    if not args.fmax > 0:
        raise ValueError(f"--fmax: must be positive, got {args.fmax}")
    if args.method == "dense" and (args.moments is not None or args.vectors is not None):
        raise ValueError("--moments/--vectors: only used by the KPM route; drop them or use --method "
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


@jax.jit
def _kpm_bounds(pot, s, nbrs, v0):
    """Lanczos interval enclosing the spectrum of the dynamical matrix (eV/Å²/amu)."""
    from .hessian import dynamical_hvp
    from .kpm import spectral_bounds

    return spectral_bounds(lambda x: dynamical_hvp(pot, s, nbrs, x), v0)


def _kpm_pdos(pot, s, args, partial: bool, nbrs):
    """KPM PDOS with start/finish progress lines; returns the PDOS and a dict for the summary."""
    from . import kpm
    from .hessian import as_f64

    s = as_f64(s)
    n, d = s.positions.shape
    moments = args.moments or kpm.DEFAULT_MOMENTS
    vectors = args.vectors or kpm.DEFAULT_VECTORS
    n_proj = len(s.species_names) if partial else 1
    nb = tuple(jnp.asarray(i) for i in nbrs)
    t = time.perf_counter()
    v0 = jax.random.normal(jax.random.PRNGKey(args.seed), s.positions.shape, s.positions.dtype)
    a, b = (float(x) for x in _kpm_bounds(pot, s, nb, v0))
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
        res = minimize(pot, s, method=minimizer, fmax=args.fmax)
        nb = pot.neighbors(res.structure)
    else:
        from .minimize import MinimizeResult

        nb = pot.neighbors(s)
        e, f = _energy_forces(pot, s, tuple(jnp.asarray(i) for i in nb))
        fm = float(np.max(np.linalg.norm(np.asarray(f), axis=1)))
        res = MinimizeResult(s, float(e), fm, 0, 1, fm <= args.fmax, "none", "not relaxed")
    partial = not args.no_partial
    route = pdos_route(args.method, s.n_atoms, partial)
    t = time.perf_counter()
    if route == "kpm":
        p, info = _kpm_pdos(pot, res.structure, args, partial, nb)
        m = None
    else:
        m = phonons.modes(pot, res.structure, nb, eigenvectors=route == "dense")
        grid, sigma = phonons.default_grid(m.frequencies, args.sigma, args.n_points)
        p = phonons.pdos(pot, res.structure, grid, sigma, m=m, partial=partial)
        info = dict(sigma=float(sigma))
    info.update(method=args.method, route=route, spectrum_seconds=time.perf_counter() - t)
    _report(pot, s, res, Path(args.out), Path(args.structure).stem, t0, p=p, m=m, extra=info,
            plot=not args.no_plot, write_structure=args.relax)
    return 0


def cmd_spectra(args) -> int:
    """One observable (PDOS, neutron-weighted DOS, INS/IXS S(Q, ω), Raman) of a structure file."""
    import warnings

    from . import observables as ob
    from . import phonons
    from .minimize import minimize
    from .structure import read

    if not args.temperature > 0:
        raise ValueError(
            f"--temperature: must be positive (K), got {args.temperature}; use e.g. 1e-3 for T → 0"
        )
    if args.kind == "ixs":
        from .scattering_data import check_form_factor_range

        check_form_factor_range(args.q)  # before the (costly) modes
    pot = load_potential(args.potential)
    s = read(args.structure)
    if args.relax:
        s = minimize(pot, s, method="lbfgs", fmax=args.fmax).structure
    m = phonons.modes(pot, s)
    f = np.asarray(m.frequencies)
    n_imag = m.n_imaginary()
    if n_imag:
        print(f"jaxglass: warning: {n_imag} imaginary mode(s); they are left out; relax the structure "
              "first (--relax)", file=sys.stderr)
    sigma = args.sigma if args.sigma is not None else 0.01 * float(f.max())
    if not sigma > 0:
        raise ValueError(f"--sigma: broadening must be positive (THz), got {sigma}")
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
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
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
    np.savetxt(out / "spectrum.csv", np.stack(cols, 1), delimiter=",", header=header, comments="")
    meta = dict(kind=sp.kind, unit=sp.unit, temperature_K=args.temperature, sigma_THz=sigma,
                potential=pot.name, structure=str(args.structure), n_atoms=s.n_atoms, n_imaginary=n_imag,
                raman_model=ob.raman_model(s) if args.kind == "raman" else None)
    np.savez(out / "spectrum.tmp.npz", frequency_THz=fr, intensity=np.asarray(sp.intensity),
             q=np.asarray(sp.q) if sp.q is not None else np.zeros(0),
             partial=np.asarray(sp.partial) if sp.partial is not None else np.zeros((0, len(fr))),
             frequencies=f, metadata=json.dumps(meta))
    os.replace(out / "spectrum.tmp.npz", out / "spectrum.npz")
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
        fig.savefig(out / "spectrum.tmp.png", dpi=150)
        plt.close(fig)
        os.replace(out / "spectrum.tmp.png", out / "spectrum.png")
    _atomic_write_text(out / "spectrum.json", json.dumps(meta, indent=2))
    print(f"spectra: {args.kind} of {s.n_atoms} atoms ({sp.unit}); wrote {out / 'spectrum.csv'}, "
          f"{out / 'spectrum.npz'}{', ' + str(out / 'spectrum.png') if plt is not None else ''}")
    return 0


def cmd_generate(args) -> int:
    from .data import BuildError, DatasetConfig, build_dataset, pending_structures

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
        raise ValueError(f"--workers: expected 0 (in this process) or more, got {args.workers}")
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

    res = export_dataset(args.dataset, args.out)
    print(f"export: {res['n_structures']} structures ({res['n_atoms_total']} atoms) -> {args.out}: "
          f"{res['bytes'] / 1e6:.2f} MB, {res['bytes_per_structure'] / 1e3:.1f} kB per structure")
    return 0


def cmd_import(args) -> int:
    from .data import import_dataset

    written = import_dataset(args.file, args.out)
    print(f"import: {len(written)} record(s) written to {args.out}")
    return 0


def cmd_plot(args) -> int:
    from .data import load_dataset
    from .plots import plot_knob_series

    ds = load_dataset(args.dataset)
    out = Path(args.out or Path(args.dataset) / "rdf_pdos.png")
    plot_knob_series(ds, out, n_curves=args.n_curves)
    print(f"plot: wrote {out}")
    return 0


def _study_config(args):
    from .study import StudyConfig

    kw = dict(test_fraction=args.test_fraction, seed=args.seed, features=args.features)
    for name in ("train_sizes", "n_seeds", "cnn_max_epochs"):
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = tuple(v) if name == "train_sizes" else v
    return StudyConfig(**kw)


def cmd_train(args) -> int:
    from .data import load_dataset
    from .models import save_cnn, save_model
    from .study import FITTERS, features, predict_any, scores, split_indices

    enable_x64()
    cfg = _study_config(args)
    ds = load_dataset(args.dataset)
    X, Y = features(ds, cfg.features), np.asarray(ds.pdos_total, np.float64)
    tr, te = split_indices(ds.knob, cfg.test_fraction, cfg.seed)
    t0 = time.time()
    model, info = FITTERS[args.model](X[tr], Y[tr], cfg, cfg.seed)
    sc = scores(Y[tr], predict_any(model, X[tr]))
    meta = dict(kind=args.model, dataset=str(Path(args.dataset).resolve()), system=ds.config.system,
                features=cfg.features, test_fraction=cfg.test_fraction, seed=cfg.seed,
                train_indices=[int(ds.indices[i]) for i in tr], test_indices=[int(ds.indices[i]) for i in te],
                hyper=info, train_mse=sc["mse"], freq=ds.freq.tolist(), r=ds.r.tolist(),
                freq_unit=ds.freq_unit, length_unit=ds.length_unit)
    (save_cnn if args.model == "cnn" else save_model)(model, args.out, metadata=meta)
    print(f"train: {args.model} on {len(tr)} {ds.config.system} structures in {time.time() - t0:.1f} s "
          f"({info}); train MSE {sc['mse']:.4e}; wrote {args.out}")
    return 0


def load_any_model(path):
    """A saved linear or CNN model and its metadata (dispatch on the file's format tag)."""
    from .models import load_cnn, load_model

    try:
        with np.load(path, allow_pickle=False) as z:
            fmt = str(z["format"]) if "format" in z.files else None
    except Exception as err:
        raise ValueError(f"--model: {path} is not a readable model file ({err})") from err
    if fmt == "jaxglass-cnn":
        return load_cnn(path, with_metadata=True)
    return load_model(path, with_metadata=True)


def cmd_evaluate(args) -> int:
    from .data import load_dataset
    from .study import features, predict_any, scores

    enable_x64()
    model, meta = load_any_model(args.model)
    ds = load_dataset(args.dataset or meta.get("dataset"))
    pos = {int(k): i for i, k in enumerate(ds.indices)}
    if args.split == "all":
        idx = np.arange(len(ds))
    else:
        key = f"{args.split}_indices"
        if key not in meta:
            raise ValueError(f"--split {args.split}: the model file records no {key}; use --split all")
        missing = [k for k in meta[key] if k not in pos]
        if missing:
            raise ValueError(
                f"--dataset: structures {missing[:5]} of the model's {args.split} split are absent"
            )
        idx = np.array([pos[k] for k in meta[key]])
    X = features(ds, meta.get("features", "total"))[idx]
    Y = np.asarray(ds.pdos_total, np.float64)[idx]
    sc = scores(Y, predict_any(model, X))
    res = dict(model=str(args.model), kind=meta.get("kind"), dataset=str(args.dataset or meta.get("dataset")),
               split=args.split, n=len(idx), **sc, mse_units=f"(1/{ds.freq_unit})^2")
    print(f"evaluate: {res['kind']} on {len(idx)} {args.split} structures: MSE {sc['mse']:.4e} "
          f"{res['mse_units']}, R² mean {sc['r2_mean']:.4f}, overall {sc['r2_overall']:.4f}")
    if args.out:
        _atomic_write_text(Path(args.out), json.dumps(res, indent=2))
    return 0


def cmd_study(args) -> int:
    from .data import DatasetConfig, build_dataset, load_dataset
    from .study import run_study

    enable_x64()
    dataset = Path(args.dataset or Path(args.out) / "dataset")
    if args.n_structures:
        cfg = DatasetConfig.make(args.system, args.n_structures, n_atoms=args.n_atoms, size=args.size,
                                 seed=args.data_seed)
        t0 = time.time()
        new = build_dataset(dataset, cfg, workers=args.workers, progress=not args.quiet)
        print(f"study: dataset {dataset}: {len(new)} new structure(s) in {time.time() - t0:.1f} s")
    ds = load_dataset(dataset)
    if ds.config.system != args.system:
        raise ValueError(f"--dataset: {dataset} holds {ds.config.system!r} structures, not {args.system!r}")
    res = run_study(ds, args.out, _study_config(args), verbose=not args.quiet, models=tuple(args.models))
    print(Path(args.out, "study.md").read_text())
    return 0 if res else 1


def cmd_demo(args) -> int:
    """The whole chain at small size: generate → RDF/PDOS → ridge, elastic net, CNN → table + figures."""
    from .data import DatasetConfig, build_dataset, load_dataset
    from .study import StudyConfig, run_study

    enable_x64()
    t0 = time.time()
    out = Path(args.out)
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

    run(args.dataset, args.model, args.out, n_test=args.n_test, n_train=args.n_train,
        n_random=args.n_random, n_soft=args.n_soft, seed=args.seed, full_jacobian=not args.directions_only,
        progress=not args.quiet)
    print(Path(args.out, "perturb.md").read_text())
    return 0


def _add_study_args(p) -> None:
    p.add_argument("--features", choices=("total", "partial"), default="total", help="total or partial g(r)")
    p.add_argument("--test-fraction", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0, help="train/test split and model seed")
    p.add_argument("--cnn-max-epochs", type=int, default=None, help="CNN training budget (default 300)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="jaxglass", description=__doc__,
        epilog="Compiled XLA programs are kept in a persistent cache, $XDG_CACHE_HOME/jaxglass/jax "
        "(~/.cache/jaxglass/jax), so that later calls skip most compilation; JAXGLASS_COMPILE_CACHE=DIR "
        "moves it, JAXGLASS_COMPILE_CACHE=0 or --no-compile-cache switches it off.")
    parser.add_argument("--no-compile-cache", action="store_true",
                        help="do not use the persistent JAX compilation cache (see below)")
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="small end-to-end study: dataset, models, table, figures")
    d.add_argument("--system", choices=("amc", "lj2d", "lj3d", "sic", "cualzr"), default="lj2d")
    d.add_argument("--n-structures", type=int, default=60)
    d.add_argument("--n-atoms", type=int, default=128)
    d.add_argument("--train-sizes", type=int, nargs="+", default=[12, 24])
    d.add_argument("--n-seeds", type=int, default=3)
    d.add_argument("--workers", type=int, default=2)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="out/demo")
    d.set_defaults(func=cmd_demo)
    q = sub.add_parser("quench", help="quench a small Kob-Andersen glass and print its PDOS")
    q.add_argument("--system", choices=("lj2d", "lj3d"), default="lj3d")
    q.add_argument("--n", type=int, default=250, help="number of particles")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default="out/quench")
    q.set_defaults(func=cmd_quench)
    p = sub.add_parser(
        "pdos", help="PDOS of a structure file (any format ase reads): dense eigen-solve or KPM",
        description="Γ-point phonon DOS and species-resolved partial DOS of a structure file. --method "
        f"auto takes the dense route (exact) up to {AUTO_DENSE_MAX_ATOMS} atoms, eigenvalues only when "
        "--no-partial, and the matrix-free kernel polynomial method (KPM) above.")
    p.add_argument("structure")
    p.add_argument("--potential", required=True, help=f"one of {POTENTIALS}")
    p.add_argument("--method", choices=("auto", "dense", "kpm", "lbfgs", "fire"), default="auto",
                   metavar="{auto,dense,kpm}",
                   help="spectrum route: dense Hessian + LAPACK eigen-solve, KPM (Hessian-vector products, "
                   f"O(N) memory), or auto (dense up to {AUTO_DENSE_MAX_ATOMS} atoms, KPM above)")
    p.add_argument("--moments", type=int, default=None, help="KPM: Chebyshev moments M (default 1024)")
    p.add_argument("--vectors", type=int, default=None,
                   help="KPM: random vectors R per species (default 4)")
    p.add_argument("--seed", type=int, default=0, help="KPM: seed of the random vectors and of Lanczos")
    p.add_argument("--sigma", type=float, default=None,
                   help="Gaussian broadening (THz, ω for LJ units; default 1%% of the spectral width)")
    p.add_argument("--n-points", type=int, default=400, help="frequency grid points (default 400)")
    p.add_argument("--no-partial", action="store_true",
                   help="total DOS only: no species-resolved DOS (dense: eigenvalues only, faster)")
    p.add_argument("--no-plot", action="store_true", help="do not write pdos.png")
    p.add_argument("--relax", action="store_true", help="minimise before computing modes")
    p.add_argument("--minimizer", choices=("lbfgs", "fire"), default="lbfgs", help="with --relax")
    p.add_argument("--fmax", type=float, default=1e-4)
    p.add_argument("--out", default="out/pdos")
    p.set_defaults(func=cmd_pdos)
    sp = sub.add_parser("spectra", help="PDOS, neutron DOS, INS/IXS S(Q,w) or Raman of a structure file")
    sp.add_argument("structure")
    sp.add_argument("--potential", required=True, help=f"one of {POTENTIALS}")
    sp.add_argument("--kind", choices=("pdos", "ndos", "ins", "ixs", "raman"), default="ins")
    sp.add_argument("--temperature", type=float, default=300.0, help="K (Bose and Debye-Waller factors)")
    sp.add_argument("--q", type=float, nargs="+", default=[2.0, 4.0, 6.0],
                    help="|Q| shell centres (1/Å, 2π included)")
    sp.add_argument("--sigma", type=float, default=None, help="Gaussian broadening (THz; default 1%% of max)")
    sp.add_argument("--n-points", type=int, default=500)
    sp.add_argument("--relax", action="store_true", help="minimise before computing modes")
    sp.add_argument("--fmax", type=float, default=1e-4)
    sp.add_argument("--out", default="out/spectra")
    sp.set_defaults(func=cmd_spectra)
    g = sub.add_parser("generate", help="build (or resume) a dataset of glasses with RDFs and PDOS")
    g.add_argument("--system", required=True, choices=("amc", "lj2d", "lj3d", "sic", "cualzr"))
    g.add_argument("--n-structures", type=int, required=True)
    g.add_argument("--out", required=True, help="dataset directory (resumed if it exists)")
    g.add_argument("--size", choices=("small", "paper"), default="small")
    g.add_argument("--n-atoms", type=int, default=None, help="target atoms per structure (family default)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=None,
                   help="local Dask worker processes (default: one per core, at most one per 2 GiB); "
                        "0 computes in this process without Dask")
    g.add_argument("--scheduler", default=None,
                   help="address of an existing Dask scheduler (e.g. tcp://host:8786) to submit to; "
                        "default: $JAXGLASS_SCHEDULER, else a LocalCluster started for this build")
    g.add_argument("--memory-limit", default="auto",
                   help="memory limit per local worker, e.g. 4GiB (default: the machine's memory shared)")
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
    pl.add_argument("dataset")
    pl.add_argument("--out", default=None)
    pl.add_argument("--n-curves", type=int, default=6)
    pl.set_defaults(func=cmd_plot)
    t = sub.add_parser("train", help="fit a model (ridge, elastic-net or cnn) on a dataset's training split")
    t.add_argument("dataset")
    t.add_argument("--model", choices=("ridge", "elastic-net", "cnn"), default="ridge")
    t.add_argument("--out", required=True, help="model file (.npz)")
    _add_study_args(t)
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("evaluate", help="test MSE and R² of a saved model")
    e.add_argument("model", help="model file written by `jaxglass train`")
    e.add_argument("--dataset", default=None, help="dataset directory (default: the one it was trained on)")
    e.add_argument("--split", choices=("test", "train", "all"), default="test")
    e.add_argument("--out", default=None, help="write the scores as JSON")
    e.set_defaults(func=cmd_evaluate)
    st = sub.add_parser("study", help="linear vs CNN: table, learning curve, weight maps, predictions")
    st.add_argument("--system", required=True, choices=("amc", "lj2d", "lj3d", "sic", "cualzr"))
    st.add_argument("--out", required=True, help="output folder (study.json, study.md, PNGs)")
    st.add_argument("--dataset", default=None, help="dataset directory (default OUT/dataset)")
    st.add_argument("--n-structures", type=int, default=None,
                    help="build/grow the dataset to this many structures first (resumable)")
    st.add_argument("--n-atoms", type=int, default=None)
    st.add_argument("--size", choices=("small", "paper"), default="small")
    st.add_argument("--data-seed", type=int, default=0)
    st.add_argument("--workers", type=int, default=0,
                    help="0: build the dataset in this process; N: on a local Dask cluster of N workers")
    st.add_argument("--train-sizes", type=int, nargs="+", default=None)
    st.add_argument("--n-seeds", type=int, default=None, help="subsets per learning-curve size")
    st.add_argument("--models", nargs="+", choices=("ridge", "elastic-net", "cnn"),
                    default=["ridge", "elastic-net", "cnn"])
    st.add_argument("--quiet", action="store_true")
    _add_study_args(st)
    st.set_defaults(func=cmd_study)
    pt = sub.add_parser("perturb", help="first-order perturbation theory, Jacobian consistency and "
                        "sensitivity maps for a dataset and a linear model")
    pt.add_argument("dataset", help="dataset directory (from `jaxglass generate`)")
    pt.add_argument("--model", required=True, help="linear model file from `jaxglass train --model ridge`")
    pt.add_argument("--out", required=True, help="output folder (perturb.json, perturb.md, PNGs)")
    pt.add_argument("--n-test", type=int, default=3, help="test structures analysed (default 3)")
    pt.add_argument("--n-train", type=int, default=3, help="training structures for W_phys (default 3)")
    pt.add_argument("--n-random", type=int, default=6, help="random directions per structure (default 6)")
    pt.add_argument("--n-soft", type=int, default=6, help="softest-mode directions per structure (default 6)")
    pt.add_argument("--seed", type=int, default=0, help="seed of the random directions")
    pt.add_argument("--directions-only", action="store_true",
                    help="fit W_phys to the random + soft directions, not full N·d Jacobians (large cells)")
    pt.add_argument("--quiet", action="store_true")
    pt.set_defaults(func=cmd_perturb)
    args = parser.parse_args(argv)
    enable_x64()
    try:
        with _compile_cache(compile_cache_dir(args.no_compile_cache)):
            return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("jaxglass: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
