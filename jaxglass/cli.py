"""``jaxglass`` command line: ``demo`` and ``pdos``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from ._config import enable_x64

POTENTIALS = ("ka", "lb-carbon", "tersoff-sic", "vashishta-sic", "zjw", "setfl:PATH")


def load_potential(spec: str):
    """Potential from a short name (see ``POTENTIALS``)."""
    from . import potentials as P

    if spec == "ka":
        return P.kob_andersen()
    if spec == "lb-carbon":
        return P.lindsay_broido_carbon()
    if spec == "tersoff-sic":
        return P.tersoff_sic_1989()
    if spec == "vashishta-sic":
        return P.vashishta_sic_2007()
    if spec == "zjw":
        return P.zhou_johnson_wadley()
    if spec.startswith("setfl:"):
        path = spec.split(":", 1)[1]
        if not Path(path).is_file():
            raise ValueError(f"--potential: setfl file {path!r} not found")
        return P.read_setfl(path)
    raise ValueError(f"--potential: unknown potential {spec!r}; choose one of {POTENTIALS}")


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
    for name, part in zip(p.species_names, np.asarray(p.partial)):
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


def _report(pot, structure, res, out: Path, label: str, t0: float) -> dict:
    from . import phonons

    m = phonons.modes(pot, res.structure)
    p = phonons.pdos(pot, res.structure, m=m)
    f = np.asarray(m.frequencies)
    n_imag = m.n_imaginary()
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
        frequency_unit=m.unit,
        max_frequency=float(f[-1]),
        mean_frequency=mean,
        n_imaginary=n_imag,
        pdos_integral=float(np.trapezoid(np.asarray(p.total), np.asarray(p.grid))),
        wall_seconds=time.time() - t0,
    )
    print(f"\n{label}: {structure.n_atoms} atoms, {pot.name}")
    print(
        f"  relaxed: E = {summary['energy_per_atom']:.6f} per atom, fmax = {res.fmax:.2e} "
        f"({'converged' if res.converged else 'NOT converged'}, {res.n_steps} steps)"
    )
    print(
        f"  modes: max {f[-1]:.3f} {m.unit}, mean {mean:.3f} {m.unit}, imaginary {n_imag}, "
        f"PDOS integral {summary['pdos_integral']:.6f}"
    )
    print(summarize_pdos(p))
    out.mkdir(parents=True, exist_ok=True)
    np.savez(
        out / "pdos.tmp.npz",
        grid=np.asarray(p.grid),
        total=np.asarray(p.total),
        partial=np.asarray(p.partial),
        frequencies=f,
    )
    os.replace(out / "pdos.tmp.npz", out / "pdos.npz")
    _atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    if _plot_pdos(p, out / "pdos.png", f"{label} ({structure.n_atoms} atoms)"):
        print(f"  wrote {out / 'pdos.png'}")
    try:
        from .structure import write

        write(str(out / "structure.extxyz"), res.structure)
    except ImportError:
        pass
    print(f"  wrote {out / 'summary.json'}, {out / 'pdos.npz'}")
    return summary


def cmd_demo(args) -> int:
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


def cmd_pdos(args) -> int:
    from .minimize import minimize
    from .structure import read

    t0 = time.time()
    pot = load_potential(args.potential)
    s = read(args.structure)
    if args.relax:
        res = minimize(pot, s, method=args.method, fmax=args.fmax)
    else:
        from .minimize import MinimizeResult
        from .potentials import forces

        f = np.asarray(forces(pot, s))
        e = float(pot.energy(s, pot.neighbors(s)))
        fm = float(np.max(np.linalg.norm(f, axis=1)))
        res = MinimizeResult(s, e, fm, 0, 1, fm <= args.fmax, "none", "not relaxed")
    _report(pot, s, res, Path(args.out), Path(args.structure).stem, t0)
    return 0


def cmd_generate(args) -> int:
    from .data import DatasetConfig, build_dataset

    cfg = DatasetConfig.make(
        args.system,
        args.n_structures,
        n_atoms=args.n_atoms,
        size=args.size,
        seed=args.seed,
        include_crystal=not args.no_crystal,
    )
    t0 = time.time()
    done = build_dataset(args.out, cfg, workers=args.workers, progress=not args.quiet)
    print(
        f"generate: {len(done)} new structure(s) in {time.time() - t0:.1f} s; dataset of "
        f"{cfg.n_structures} {cfg.system} structures in {args.out}"
    )
    return 0


def cmd_plot(args) -> int:
    from .data import load_dataset
    from .plots import plot_knob_series

    ds = load_dataset(args.dataset)
    out = Path(args.out or Path(args.dataset) / "rdf_pdos.png")
    plot_knob_series(ds, out, n_curves=args.n_curves)
    print(f"plot: wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jaxglass", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="quench a small Kob-Andersen glass and print its PDOS")
    d.add_argument("--system", choices=("lj2d", "lj3d"), default="lj3d")
    d.add_argument("--n", type=int, default=250, help="number of particles")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--out", default="out/demo")
    d.set_defaults(func=cmd_demo)
    p = sub.add_parser("pdos", help="PDOS of a structure file (any format ase reads)")
    p.add_argument("structure")
    p.add_argument("--potential", required=True, help=f"one of {POTENTIALS}")
    p.add_argument("--relax", action="store_true", help="minimise before computing modes")
    p.add_argument("--method", choices=("lbfgs", "fire"), default="lbfgs")
    p.add_argument("--fmax", type=float, default=1e-4)
    p.add_argument("--out", default="out/pdos")
    p.set_defaults(func=cmd_pdos)
    g = sub.add_parser("generate", help="build (or resume) a dataset of glasses with RDFs and PDOS")
    g.add_argument("--system", required=True, choices=("amc", "lj2d", "lj3d", "sic", "cualzr"))
    g.add_argument("--n-structures", type=int, required=True)
    g.add_argument("--out", required=True, help="dataset directory (resumed if it exists)")
    g.add_argument("--size", choices=("small", "paper"), default="small")
    g.add_argument("--n-atoms", type=int, default=None, help="target atoms per structure (family default)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--workers", type=int, default=1, help="worker processes")
    g.add_argument("--no-crystal", action="store_true", help="omit the crystalline reference (index 0)")
    g.add_argument("--quiet", action="store_true")
    g.set_defaults(func=cmd_generate)
    pl = sub.add_parser("plot", help="RDF and PDOS across the disorder knob of a dataset")
    pl.add_argument("dataset")
    pl.add_argument("--out", default=None)
    pl.add_argument("--n-curves", type=int, default=6)
    pl.set_defaults(func=cmd_plot)
    args = parser.parse_args(argv)
    enable_x64()
    try:
        return args.func(args)
    except (ValueError, FileNotFoundError) as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
