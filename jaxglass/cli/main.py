"""``jaxglass`` command line: demo, quench, pdos, spectra, generate, export, import, plot, train,
evaluate, predict, rdf, study, perturb.

Exit status: 0 success; 1 a computation failed (dataset build, study) or a bug (the message says so;
``--traceback`` shows where); 2 bad input (the message names the option and the fix; no traceback);
3 a relaxation did not converge (``--allow-unconverged`` accepts it); 4 imaginary modes in the
spectrum (``--allow-imaginary`` accepts them); 130 interrupted. Outputs are written in full or not at
all (temporary file + rename).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import re
import signal
import sys

from .._config import enable_x64
from ..errors import BuildError, MinimizationError, UserError
from ._common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_UNCONVERGED, EXIT_USER, HelpFormatter

#: (command, "module:class") in the order ``jaxglass --help`` lists them. Each class has a docstring
#: (the command's help), ``add_arguments(parser)`` and ``run(args) -> exit status``.
COMMANDS = (
    ("demo", "study:Demo"),
    ("quench", "pdos:Quench"),
    ("pdos", "pdos:Pdos"),
    ("spectra", "spectra:Spectra"),
    ("generate", "dataset:Generate"),
    ("export", "dataset:Export"),
    ("import", "dataset:Import"),
    ("plot", "dataset:Plot"),
    ("train", "models:Train"),
    ("evaluate", "models:Evaluate"),
    ("predict", "models:Predict"),
    ("rdf", "rdf:Rdf"),
    ("study", "study:Study"),
    ("perturb", "study:Perturb"),
)

#: File-system errors about paths the user gave: bad input (exit status 2) like :class:`UserError`.
PATH_ERRORS = (FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError, PermissionError)


def command_class(spec: str):
    """The class named by a ``"module:Class"`` entry of :data:`COMMANDS`."""
    module, name = spec.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def build_parser() -> argparse.ArgumentParser:
    """The ``jaxglass`` argument parser (every option with help and its default)."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="jaxglass",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Compiled XLA programs are kept in a persistent cache, $XDG_CACHE_HOME/jaxglass/jax "
        "(~/.cache/jaxglass/jax), so that later calls skip most compilation; JAXGLASS_COMPILE_CACHE=DIR "
        "moves it, JAXGLASS_COMPILE_CACHE=0 or --no-compile-cache switches it off.",
    )
    parser.add_argument("--version", action="version", version=f"jaxglass {__version__}")
    parser.add_argument(
        "--no-compile-cache",
        action="store_true",
        help="do not use the persistent JAX compilation cache (see below)",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="on an unexpected error, show the full Python traceback (for bug reports)",
    )
    sub = parser.add_subparsers(
        dest="cmd",
        required=True,
        parser_class=functools.partial(argparse.ArgumentParser, formatter_class=HelpFormatter),
    )
    for name, spec in COMMANDS:
        cls = command_class(spec)
        help_ = " ".join((cls.__doc__ or "").split())
        p = sub.add_parser(name, help=help_, description=getattr(cls, "description", None) or help_)
        cls.add_arguments(p)
        p.set_defaults(func=cls.run, parser=p)
    return parser


_FIELDS = re.compile(r"^([A-Za-z_]\w*(?:/[A-Za-z_]\w*)*):")
#: Library argument names whose option is spelled differently (field → option ``dest``).
FIELD_DESTS = {"allow_partial": "partial", "max_epochs": "cnn_max_epochs"}


def with_flags(message: str, parser: argparse.ArgumentParser | None, field: str | None = None) -> str:
    """A library message ``"field: ..."`` (or ``"a/b: ..."``) with each field that is an option of the
    command's ``parser`` written as that option (``r_grid`` → ``--r-grid``); an error's ``field`` that
    the message does not start with is named at the end (``(on the command line: --partial)``)."""
    if parser is None:
        return message
    flags = {a.dest: max(a.option_strings, key=len) for a in parser._actions if a.option_strings}

    def flag(name: str) -> str | None:
        return flags.get(FIELD_DESTS.get(name, name))

    m = _FIELDS.match(message)
    parts = m.group(1).split("/") if m else []
    if any(flag(p) for p in parts):
        return "/".join(flag(p) or p for p in parts) + message[m.end(1) :]
    if field and field not in parts and flag(field):
        return f"{message} (on the command line: {flag(field)})"
    return message


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version (0) and usage errors (2), without leaving main()
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else EXIT_USER)
    enable_x64()
    with _terminate_as_interrupt():
        return run_command(args)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (``kill``, a batch scheduler's stop) stops a command as Ctrl-C does: finished work
    kept, exit status 130. A command started in the background (``cmd &``, nohup) inherits SIGINT
    ignored, so SIGTERM is how such a job is stopped cleanly. Restored afterwards; left alone outside
    the main thread or where a handler other than the default is installed."""
    try:
        installed = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        if installed:
            signal.signal(signal.SIGTERM, _raise_interrupt)
    except ValueError:  # not the main thread
        installed = False
    try:
        yield
    finally:
        if installed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_command(args) -> int:
    """Run a parsed command. Bad input (:class:`jaxglass.errors.UserError`, a bad path) → its message
    and exit status 2; anything else unexpected is a bug → one line and exit status 1 (the traceback
    with ``--traceback``)."""
    from ..cache import compile_cache, compile_cache_dir

    try:
        with compile_cache(compile_cache_dir(args.no_compile_cache)) as cache:
            args.compile_cache_path = cache
            return args.func(args)
    except UserError as err:
        print(
            f"jaxglass: error: {with_flags(str(err), getattr(args, 'parser', None), err.field)}",
            file=sys.stderr,
        )
        return EXIT_USER
    except PATH_ERRORS as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return EXIT_USER
    except MinimizationError as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return EXIT_UNCONVERGED
    except BuildError as err:
        print(f"jaxglass: error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("jaxglass: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:
        if getattr(args, "traceback", False):
            raise
        print(
            f"jaxglass: internal error: {type(err).__name__}: {err}. This is a bug in jaxglass, not in "
            "your input; rerun with --traceback (jaxglass --traceback COMMAND ...) and report the "
            "traceback",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
