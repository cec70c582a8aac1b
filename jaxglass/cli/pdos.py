"""``quench`` and ``pdos``: one structure → (relaxed) → Γ-point PDOS (:mod:`jaxglass.workflows.pdos`)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..errors import UserError
from ..minimize import minimize
from ..validation import check_args
from ..workflows import pdos as wf
from ._common import (
    POTENTIALS,
    add_allow_args,
    exit_status,
    load_potential,
    out_dir,
    program_dir,
    writable_dir,
)


def _report(
    pot,
    structure,
    res,
    out: Path,
    label: str,
    t0: float,
    *,
    p,
    m,
    extra=None,
    plot: bool = True,
    write_structure: bool = True,
) -> dict:
    """Print the PDOS run and write its files (:func:`jaxglass.workflows.pdos.write_pdos`)."""
    from ..plots import text_pdos

    summary = wf.pdos_summary(pot, structure, res, p, m, label, t0, extra)
    mean = summary["mean_frequency"]
    print(f"\n{label}: {structure.n_atoms} atoms, {pot.name}")
    print(
        f"  relaxed: E = {summary['energy_per_atom']:.6f} per atom, fmax = {res.fmax:.2e} "
        f"({'converged' if res.converged else 'NOT converged'}, {res.n_steps} steps)"
    )
    if m is not None:
        print(
            f"  modes: max {summary['max_frequency']:.3f} {m.unit}, mean {mean:.3f} {m.unit}, imaginary "
            f"{summary['n_imaginary']}, PDOS integral {summary['pdos_integral']:.6f}"
        )
    else:
        print(f"  KPM: mean {mean:.3f} {p.unit}, PDOS integral {summary['pdos_integral']:.6f}")
    print(text_pdos(p))
    out = writable_dir(out)
    written = wf.write_pdos(
        out,
        p,
        m,
        summary,
        structure=res.structure if write_structure else None,
        plot=plot,
        title=f"{label} ({structure.n_atoms} atoms)",
    )
    if out / "pdos.png" in written:
        print(f"  wrote {out / 'pdos.png'}")
    print(f"  wrote {out / 'summary.json'}, {out / 'pdos.npz'}")
    return summary


class Quench:
    """quench a small Kob-Andersen glass and print its PDOS"""

    @staticmethod
    def add_arguments(q) -> None:
        q.add_argument(
            "--system", choices=("lj2d", "lj3d"), default="lj3d", help="2D (65:35) or 3D (80:20) mixture"
        )
        q.add_argument("--n", type=int, default=250, help="number of particles")
        q.add_argument("--seed", type=int, default=0, help="seed of the random initial packing")
        add_allow_args(q, "the relaxation")
        q.add_argument(
            "--out", default="out/quench", help="output folder (summary.json, pdos.npz/png, structure)"
        )

    @staticmethod
    def run(args) -> int:
        from .. import phonons
        from ..generate import random_packing
        from ..minimize import minimize
        from ..potentials import kob_andersen

        out_dir(args.out)
        check_args(random_packing, n=args.n, seed=args.seed)
        if args.n < 2:
            raise UserError(f"n: need at least 2 particles, got {args.n}")
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
        m = phonons.modes(pot, res.structure)
        p = phonons.pdos(pot, res.structure, m=m)
        summary = _report(pot, s, res, Path(args.out), f"KA {dim}D glass", t0, p=p, m=m)
        return exit_status(summary, args, relaxed=True)


def _check_pdos_args(args) -> None:
    """Bad ``pdos`` options → UserError naming the option (exit status 2), before any work: the
    declarations of :func:`jaxglass.workflows.pdos.kpm_pdos` (a superset of the dense route's)."""
    check_args(wf.kpm_pdos, moments=args.moments, vectors=args.vectors, sigma=args.sigma,
               n_points=args.n_points)
    check_args(minimize, fmax=args.fmax, max_steps=args.max_steps)
    if args.method == "dense" and (args.moments is not None or args.vectors is not None):
        raise UserError(
            "--moments/--vectors: only used by the KPM route; drop them or use --method kpm or auto"
        )


class Pdos:
    """PDOS of a structure file (any format ase reads): dense eigen-solve or KPM"""

    description = (
        "Γ-point phonon DOS and species-resolved partial DOS of a structure file. --method "
        f"auto takes the dense route (exact) up to {wf.AUTO_DENSE_MAX_ATOMS} atoms, eigenvalues "
        "only when --no-partial, and the matrix-free kernel polynomial method (KPM) above."
    )

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("structure", help="structure file (extxyz or any format ase reads; orthorhombic cell)")
        p.add_argument("--potential", required=True, help=f"one of {POTENTIALS}")
        p.add_argument(
            "--method",
            choices=("auto", "dense", "kpm", "lbfgs", "fire"),
            default="auto",
            metavar="{auto,dense,kpm}",
            help="spectrum route: dense Hessian + LAPACK eigen-solve, KPM (Hessian-vector "
            f"products, O(N) memory), or auto (dense up to {wf.AUTO_DENSE_MAX_ATOMS} atoms, KPM "
            "above)",
        )
        p.add_argument("--moments", type=int, default=None, help="KPM: Chebyshev moments M (default 1024)")
        p.add_argument(
            "--vectors",
            type=int,
            default=None,
            help="KPM: random vectors R per species (default: ceil(40,000 / (N d)) in [1, 16])",
        )
        p.add_argument("--seed", type=int, default=0, help="KPM: seed of the random vectors and of Lanczos")
        p.add_argument(
            "--sigma",
            type=float,
            default=None,
            help="Gaussian broadening (THz, ω for LJ units; default 1%% of the spectral width)",
        )
        p.add_argument("--n-points", type=int, default=400, help="frequency grid points (default 400)")
        p.add_argument(
            "--no-partial",
            action="store_true",
            help="total DOS only: no species-resolved DOS (dense: eigenvalues only, faster)",
        )
        p.add_argument("--no-plot", action="store_true", help="do not write pdos.png")
        p.add_argument("--relax", action="store_true", help="minimise before computing modes")
        p.add_argument(
            "--minimizer", choices=("lbfgs", "fire"), default="lbfgs", help="minimiser for --relax"
        )
        p.add_argument(
            "--fmax",
            type=float,
            default=1e-4,
            help="force tolerance of the relaxation (eV/Å; reduced units for LJ)",
        )
        p.add_argument("--max-steps", type=int, default=20000, help="step budget of --relax")
        add_allow_args(p, "--relax")
        p.add_argument(
            "--out", default="out/pdos", help="output folder (summary.json, pdos.npz/png, structure)"
        )

    @staticmethod
    def run(args) -> int:
        from ..minimize import minimize
        from ..structure import read

        t0 = time.time()
        out_dir(args.out)
        minimizer = args.minimizer
        if args.method in ("lbfgs", "fire"):  # --method named the minimiser before KPM existed
            print(
                f"jaxglass: note: --method {args.method} now means --minimizer {args.method}; --method "
                "chooses the spectrum route (auto, dense, kpm)",
                file=sys.stderr,
            )
            minimizer, args.method = args.method, "auto"
        _check_pdos_args(args)
        pot = load_potential(args.potential)
        s = read(args.structure)
        pot.check(s)
        programs = program_dir(args)
        if args.relax:
            res = minimize(pot, s, method=minimizer, fmax=args.fmax, max_steps=args.max_steps)
            nb = pot.neighbors(res.structure)
        else:
            nb = pot.neighbors(s)
            res = wf.unrelaxed(pot, s, nb, args.fmax, programs)
        partial = not args.no_partial
        route = wf.pdos_route(args.method, s.n_atoms, partial)
        t = time.perf_counter()
        if route == "kpm":
            p, info = wf.kpm_pdos(
                pot,
                res.structure,
                nb,
                partial=partial,
                sigma=args.sigma,
                n_points=args.n_points,
                moments=args.moments,
                vectors=args.vectors,
                seed=args.seed,
                log=lambda line: print(line, flush=True),
            )
            m = None
        else:
            p, m, info = wf.dense_pdos(
                pot,
                res.structure,
                nb,
                partial=partial,
                sigma=args.sigma,
                n_points=args.n_points,
                programs=programs,
                log=lambda line: print(f"pdos: {line}", flush=True),
            )
        info.update(method=args.method, route=route, spectrum_seconds=time.perf_counter() - t)
        summary = _report(
            pot,
            s,
            res,
            Path(args.out),
            Path(args.structure).stem,
            t0,
            p=p,
            m=m,
            extra=info,
            plot=not args.no_plot,
            write_structure=args.relax,
        )
        return exit_status(summary, args, relaxed=args.relax)
