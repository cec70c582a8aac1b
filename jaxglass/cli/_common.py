"""What every command shares: exit statuses, output-path checks, the potential option, study options."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .. import families
from ..data.schema import OBS_KEYS
from ..errors import UserError
from ..observables.registry import REGISTRY, TARGETS, choices_help
from ..potentials.spec import SPEC_FORMS

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_UNCONVERGED, EXIT_IMAGINARY, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

#: ``--potential`` choices (the forms of :func:`jaxglass.potentials.from_spec`).
POTENTIALS = SPEC_FORMS
#: ``--system`` choices of `generate`, `study` and `demo`: the one family registry,
#: :mod:`jaxglass.families`.
SYSTEM_CHOICES = families.NAMES


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's help shows its default (``(default: ...)``)."""


def load_potential(spec: str):
    """Potential from a ``--potential`` spec (see :func:`jaxglass.potentials.from_spec`)."""
    from ..potentials import from_spec

    try:
        return from_spec(spec)
    except ValueError as err:
        raise UserError(f"--potential: {err}") from err


def out_dir(path, opt: str = "--out") -> Path:
    """Check, before any computation, that ``path`` can be an output folder (new or existing)."""
    path = Path(path)
    for p in (path, *path.parents):
        if p.exists():
            if not p.is_dir():
                raise UserError(
                    f"{opt}: {p} is an existing file, not a folder; give a folder name "
                    f"(e.g. {path.with_suffix('')}_out) or remove the file"
                )
            if not os.access(p, os.W_OK | os.X_OK):
                raise UserError(f"{opt}: {p} is not writable; give a folder you can write to")
            break
    return path


def out_file(path, opt: str = "--out") -> Path:
    """Check, before any computation, that ``path`` can be an output file (overwritten if it exists)."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{opt}: {path} is an existing folder; give a file name (e.g. {path / 'out'})")
    out_dir(path.parent if str(path.parent) else Path("."), opt)
    return path


def writable_dir(out: Path) -> Path:
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


def exit_status(summary: dict, args, relaxed: bool) -> int:
    """0, or the exit status that reports a non-converged relaxation (3) or imaginary modes (4)."""
    if relaxed and not summary["converged"] and not getattr(args, "allow_unconverged", False):
        print(
            f"jaxglass: error: the relaxation did not converge (fmax {summary['fmax']:.2e} after "
            f"{summary['minimiser_steps']} steps); the results above are of the unrelaxed end point. "
            "Raise the step budget or loosen --fmax, or accept it with --allow-unconverged",
            file=sys.stderr,
        )
        return EXIT_UNCONVERGED
    if summary["n_imaginary"] and not getattr(args, "allow_imaginary", False):
        print(
            f"jaxglass: error: {summary['n_imaginary']} imaginary mode(s) (shown as negative "
            "frequencies): the structure is not at a minimum; relax it (--relax) or accept them with "
            "--allow-imaginary",
            file=sys.stderr,
        )
        return EXIT_IMAGINARY
    return 0


def add_allow_args(p, relaxation: str = "--relax", imaginary_note: str = "") -> None:
    """``--allow-unconverged`` and ``--allow-imaginary``: accept what would otherwise exit 3 or 4."""
    p.add_argument("--allow-unconverged", action="store_true",
                   help=f"exit 0 even if {relaxation} did not converge (else exit status 3)")
    p.add_argument("--allow-imaginary", action="store_true",
                   help=f"exit 0 even with imaginary modes (else exit status 4{imaginary_note})")


def program_dir(args) -> Path | None:
    """Where traced programs are kept (beside the compilation cache; ``None`` when it is off)."""
    cache = getattr(args, "compile_cache_path", None)
    return None if cache is None else Path(cache) / "programs"


def study_config(args):
    from ..study import StudyConfig

    kw = dict(
        test_fraction=args.test_fraction,
        seed=args.seed,
        features=args.features,
        target=getattr(args, "target", "pdos"),
        scaling=getattr(args, "scaling", "channel"),
    )
    for name in ("train_sizes", "n_seeds", "cnn_max_epochs"):
        v = getattr(args, name, None)
        if v is not None:
            kw[name] = tuple(v) if name == "train_sizes" else v
    return StudyConfig(**kw)


def target_help() -> str:
    """``--target`` help: the registry's targets, which are |Q|-averaged, which need `spectra` first."""
    averaged = [k for k in TARGETS if REGISTRY[k].needs_q]
    later = [k for k in TARGETS if REGISTRY[k].record_key in OBS_KEYS]
    return (f"spectrum to predict: {choices_help(TARGETS)}; {', '.join(averaged)} averaged over the "
            f"stored |Q| shells; {', '.join(later)} need `jaxglass spectra DATASET` first")


def add_study_args(p, features: bool = True) -> None:
    if features:
        p.add_argument(
            "--features",
            choices=("total", "partial"),
            default="total",
            help="model inputs: total g(r), or the partial g_ab(r) as channels",
        )
    p.add_argument(
        "--test-fraction", type=float, default=0.2, help="fraction of the samples held out for testing"
    )
    p.add_argument("--seed", type=int, default=0, help="train/test split and model seed")
    p.add_argument(
        "--cnn-max-epochs", type=int, default=None, help="CNN training budget in epochs (None: 300)"
    )
    p.add_argument(
        "--target",
        choices=TARGETS,
        default="pdos",
        help=target_help(),
    )
    p.add_argument(
        "--scaling",
        choices=("channel", "pooled", "column"),
        default="channel",
        help="input scaling: one scale per g(r) channel (default; = pooled for total g(r)), "
        "one for all, or per column",
    )


def add_partial_arg(p) -> None:
    p.add_argument(
        "--partial",
        action="store_true",
        help="accept an incomplete dataset (structures still missing); refused otherwise",
    )
