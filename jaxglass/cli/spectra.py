"""``spectra``: one observable of a structure file (:mod:`jaxglass.workflows.spectrum`), or every
observable for each record of a dataset directory (:func:`jaxglass.data.extend_dataset`)."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

from ..errors import UserError
from ..observables.registry import KINDS, REGISTRY, choices_help
from ._common import (
    EXIT_IMAGINARY,
    EXIT_UNCONVERGED,
    POTENTIALS,
    add_allow_args,
    load_potential,
    out_dir,
    program_dir,
    writable_dir,
)


def _run_dataset(args) -> int:
    """Add the observables to every record of a dataset directory (resumable, atomic per record)."""
    from ..data import DatasetConfig, default_observable_config, extend_dataset, read_manifest

    man = Path(args.structure) / "manifest.json"
    if not man.is_file():
        raise UserError(
            f"{args.structure}: a directory without manifest.json is not a jaxglass dataset; "
            "give a structure file or a dataset built by `jaxglass generate`"
        )
    system = DatasetConfig(**read_manifest(man)["config"]).system
    ocfg = default_observable_config(system)
    if args.temperature is not None:
        ocfg = dataclasses.replace(ocfg, temperature=args.temperature)
    if args.powder_tol is not None:
        ocfg = dataclasses.replace(ocfg, powder_tol=args.powder_tol)
    t0 = time.time()
    try:
        done = extend_dataset(args.structure, ocfg, progress=not args.quiet, recompute=args.recompute)
    except KeyboardInterrupt:
        print(
            f"spectra: interrupted after {time.time() - t0:.1f} s; finished records are kept; rerun the "
            "same command to resume",
            file=sys.stderr,
            flush=True,
        )
        return 130
    print(
        f"spectra: {len(done)} record(s) of {args.structure} extended in {time.time() - t0:.1f} s "
        "(ndos, ins, ixs, raman; grids and units in manifest.json under 'observables')"
    )
    return 0


def _relaxed(args, pot, s):
    """``(structure, message)``: the structure relaxed if ``--relax`` (the message says if it did not
    converge, printed as a warning or an error), else as read."""
    from ..minimize import minimize

    if not args.relax:
        return s, None
    rel = minimize(pot, s, method="lbfgs", fmax=args.fmax, max_steps=args.max_steps)
    if rel.converged:
        return rel.structure, None
    msg = (
        f"the relaxation did not converge (fmax {rel.fmax:.2e} after {rel.n_steps} steps); the spectrum "
        "is of the unrelaxed end point. Raise --max-steps or loosen --fmax, or accept it with "
        "--allow-unconverged"
    )
    print(f"jaxglass: {'warning' if args.allow_unconverged else 'error'}: {msg}", file=sys.stderr)
    return rel.structure, msg


class Spectra:
    """PDOS, neutron DOS, INS/IXS S(Q,w) or Raman of a structure file; or add all observables to a
    dataset directory (resumable)"""

    @staticmethod
    def add_arguments(sp) -> None:
        sp.add_argument(
            "structure",
            help="structure file, or a dataset directory (then every record gets "
            "the neutron DOS, INS/IXS S(Q,w) and Raman on its PDOS grid; resumable)",
        )
        sp.add_argument("--potential", default=None, help=f"one of {POTENTIALS} (structure files only)")
        sp.add_argument("--kind", choices=KINDS, default="ins", help=f"observable: {choices_help()}")
        sp.add_argument(
            "--temperature",
            type=float,
            default=None,
            help="K (Bose and Debye-Waller factors; default 300, LJ datasets 0.1 eps/k_B)",
        )
        sp.add_argument(
            "--q", type=float, nargs="+", default=[2.0, 4.0, 6.0], help="|Q| shell centres (1/Å, 2π included)"
        )
        sp.add_argument(
            "--sigma",
            type=float,
            default=None,
            help="Gaussian broadening (THz; None: 1%% of the spectral width)",
        )
        sp.add_argument("--n-points", type=int, default=500, help="points of the frequency grid")
        sp.add_argument("--relax", action="store_true", help="minimise before computing modes")
        sp.add_argument("--max-steps", type=int, default=20000, help="step budget of --relax")
        add_allow_args(sp, "--relax", "; they are left out")
        sp.add_argument("--fmax", type=float, default=1e-4, help="force tolerance of --relax (eV/Å)")
        sp.add_argument("--out", default="out/spectra", help="output folder (spectrum.csv/.npz/.png/.json)")
        sp.add_argument(
            "--quiet", action="store_true", help="datasets: no progress lines (build.log gets them)"
        )
        sp.add_argument(
            "--recompute",
            action="store_true",
            help="datasets: replace observables computed with other settings (e.g. the former 48-direction "
            "powder average); atomic per record, resumable",
        )
        sp.add_argument(
            "--powder-tol",
            type=float,
            default=None,
            help="INS/IXS: standard error of the powder average per |Q| shell, as a fraction of the shell's "
            "maximum, at which sampling stops when a shell has more vectors than are averaged in full "
            "(default 0.02)",
        )

    @staticmethod
    def run(args) -> int:
        from .. import phonons
        from ..observables import raman_model
        from ..structure import read
        from ..units import THZ_TO_MEV
        from ..validation import check_args
        from ..workflows.pdos import dynamical_matrix_cached
        from ..workflows.spectrum import structure_spectrum, write_spectrum

        if Path(args.structure).is_dir():
            return _run_dataset(args)
        if args.recompute:
            raise UserError("--recompute: only for a dataset directory (a structure file is always computed)")
        if args.potential is None:
            raise UserError(f"--potential: required for a structure file; one of {POTENTIALS}")
        from ..minimize import minimize

        temperature = 300.0 if args.temperature is None else args.temperature
        check_args(structure_spectrum, temperature=temperature, sigma=args.sigma, n_points=args.n_points,
                   q=args.q, powder_tol=args.powder_tol)
        check_args(minimize, fmax=args.fmax, max_steps=args.max_steps)
        check_q = REGISTRY[args.kind].check_q
        if check_q is not None:
            check_q(args.q)  # before the (costly) modes
        out_dir(args.out)
        pot = load_potential(args.potential)
        s = read(args.structure)
        s, unconverged = _relaxed(args, pot, s)
        m = phonons.modes(pot, s, D=dynamical_matrix_cached(pot, s, pot.neighbors(s), program_dir(args)),
                          log=lambda text: print(text, flush=True))
        n_imag = m.n_imaginary()
        if n_imag:
            print(
                f"jaxglass: {'warning' if args.allow_imaginary else 'error'}: {n_imag} imaginary mode(s); "
                "they are left out of the spectrum; relax the structure first (--relax)"
                + ("" if args.allow_imaginary else " or accept them with --allow-imaginary (exit status 4)"),
                file=sys.stderr,
            )
        sp, m, sigma = structure_spectrum(
            pot,
            s,
            args.kind,
            modes=m,
            temperature=temperature,
            q=args.q,
            sigma=args.sigma,
            n_points=args.n_points,
            powder_tol=args.powder_tol,
        )
        out = writable_dir(Path(args.out))
        meta = dict(
            kind=sp.kind,
            unit=sp.unit,
            temperature_K=temperature,
            sigma_THz=sigma,
            potential=pot.name,
            structure=str(args.structure),
            n_atoms=s.n_atoms,
            n_imaginary=n_imag,
            raman_model=raman_model(s) if args.kind == "raman" else None,
            powder_error=None if sp.powder_error is None else [float(x) for x in sp.powder_error],
            powder_vectors=None if sp.n_vectors is None else [int(x) for x in sp.n_vectors],
            shell_size=None if sp.shell_size is None else [int(x) for x in sp.shell_size],
        )
        title = (
            f"{Path(args.structure).stem}: {args.kind.upper()}, T = {temperature:g} K, "
            f"$\\sigma$ = {sigma * THZ_TO_MEV:.2f} meV"
        )
        written = write_spectrum(out, sp, m.frequencies, meta, freq_unit=m.unit, title=title)
        png = out / "spectrum.png"
        print(
            f"spectra: {args.kind} of {s.n_atoms} atoms ({sp.unit}); wrote {out / 'spectrum.csv'}, "
            f"{out / 'spectrum.npz'}{', ' + str(png) if png in written else ''}"
        )
        if unconverged and not args.allow_unconverged:
            return EXIT_UNCONVERGED
        return EXIT_IMAGINARY if n_imag and not args.allow_imaginary else 0
