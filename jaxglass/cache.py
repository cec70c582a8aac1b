"""The two caches that let a fresh process skip work: JAX's persistent compilation cache
(:func:`compile_cache_dir`, :func:`compile_cache`) and traced programs kept on disk (``jax.export``,
:func:`cached_call`), so a fresh CLI process skips Python tracing.

JAX's persistent compilation cache keeps compiled XLA code, but every new process still traces the
Python function to find the program it compiles: about 1 s for a Tersoff Hessian (docs/pdos-command.md).
:func:`cached_call` serialises the traced program (StableHLO, ``jax.export``) once and, in later
processes, deserialises and calls it; its compilation then comes from the compilation cache as before.

A program is looked up by a key made of the function's name, the argument tree's structure (the
static fields: potential form, species, cutoffs, ...), every leaf's shape and dtype, the JAX/jaxlib
versions, the backend, the x64 flag and a digest of the jaxglass sources: a program is reused
only for the same code and the same static configuration. Trees whose static data hold lambdas or
local functions (user closures, whose identity a name cannot capture) are never cached. Anything
that goes wrong with a cached file (unreadable, stale, from another version) falls back to the
ordinary traced call and rewrites the file.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp

from ._io import atomic_write_bytes

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


@functools.lru_cache(maxsize=1)
def source_digest() -> str:
    """SHA-256 of every jaxglass source file (names and contents): the code version of a key."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def static_signature(treedef) -> str | None:
    """The tree structure as text without object addresses, or ``None`` if it names a closure."""
    text = _ADDRESS.sub("", str(treedef))
    if "<lambda>" in text or "<locals>" in text:
        return None
    return text


def program_key(name: str, treedef, leaves) -> str | None:
    """Key of a traced program (see the module docstring), or ``None`` when it must not be cached."""
    sig = static_signature(treedef)
    if sig is None:
        return None
    import jaxlib

    parts = [
        name,
        sig,
        repr([(tuple(x.shape), str(x.dtype)) for x in leaves]),
        jax.__version__,
        jaxlib.__version__,
        jax.default_backend(),
        str(bool(jax.config.jax_enable_x64)),
        source_digest(),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _export(fn: Callable, treedef, leaves):
    def flat(*xs):
        return fn(*jax.tree.unflatten(treedef, xs))

    specs = [jax.ShapeDtypeStruct(x.shape, x.dtype) for x in leaves]
    return jax.export.export(jax.jit(flat))(*specs)


def cached_call(directory: Path | None, name: str, fn: Callable, *args):
    """``fn(*args)``, through a traced program kept in ``directory`` (no cache when ``None``).

    ``fn`` must be a pure function of its array leaves (static configuration in the tree structure
    or in ``name``). The result is the same as ``jax.jit(fn)(*args)``. Needs the ``flatbuffers``
    package for (de)serialisation; without it, or when the tree is not cacheable, it is a plain call.
    """
    if directory is None:
        return jax.jit(fn)(*args)
    leaves, treedef = jax.tree.flatten(args)
    leaves = [jnp.asarray(x) for x in leaves]
    key = program_key(name, treedef, leaves)
    if key is None:
        return jax.jit(fn)(*args)
    path = Path(directory) / f"{name}-{key}.jaxexport"
    exp = None
    if path.is_file():
        try:
            exp = jax.export.deserialize(bytearray(path.read_bytes()))
        except Exception:  # truncated, foreign or stale file: trace again and replace it
            exp = None
    if exp is None:
        try:
            exp = _export(fn, treedef, leaves)
            data = exp.serialize()
        except ImportError:  # no flatbuffers: serialisation unavailable
            return jax.jit(fn)(*args)
        try:
            atomic_write_bytes(path, bytes(data))
        except OSError:
            pass  # a read-only cache still gives the right answer
    return exp.call(*leaves)

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


def host_tag() -> str:
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
def compile_cache(path: Path | None):
    """Use JAX's persistent compilation cache in ``path`` for the duration (restored afterwards)."""
    if path is None:
        yield None
        return
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    path = path / f"cpu-{host_tag()}"
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
