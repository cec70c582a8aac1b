"""Traced programs kept on disk (``jax.export``), so a fresh CLI process skips Python tracing.

JAX's persistent compilation cache keeps compiled XLA code, but every new process still traces the
Python function to find the program it compiles: about 1 s for a Tersoff Hessian (README, "The
``pdos`` command"). :func:`cached_call` serialises the traced program (StableHLO, ``jax.export``)
once and, in later processes, deserialises and calls it; its compilation then comes from the
compilation cache as before.

A program is looked up by a key made of the function's name, the argument tree's structure (the
static fields: potential form, species, cutoffs, ...), every leaf's shape and dtype, the JAX/jaxlib
versions, the backend, the x64 flag and a digest of the jaxglass sources: a program is reused
only for the same code and the same static configuration. Trees whose static data hold lambdas or
local functions (user closures, whose identity a name cannot capture) are never cached. Anything
that goes wrong with a cached file (unreadable, stale, from another version) falls back to the
ordinary traced call and rewrites the file.
"""

from __future__ import annotations

import functools
import hashlib
import re
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
