"""Runtime configuration helpers.

jaxglass never changes JAX's configuration by itself: entry points (the CLI, examples, benchmarks,
the test suite) call :func:`enable_x64`; library functions that need float64 (Hessians,
eigenproblems, minimisers, MD, generators) call :func:`require_x64`, which raises a clear error.
"""

from __future__ import annotations

import jax

from .errors import Float64Required


def enable_x64() -> None:
    """Switch JAX to float64 (needed for Hessians and eigenproblems).

    Call it once at the start of a script, before creating arrays; importing jaxglass alone does not
    change JAX's configuration, and no library function calls this.
    """
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)


def x64_enabled() -> bool:
    return bool(jax.config.jax_enable_x64)


def require_x64(what: str) -> None:
    """Raise :class:`Float64Required` naming ``what`` unless float64 is enabled."""
    if not x64_enabled():
        raise Float64Required(
            f"{what} needs float64 (Hessians and eigenproblems lose ~8 digits in float32): call "
            "jaxglass.enable_x64() at the start of your script, before creating structures"
        )


def is_traced(*trees) -> bool:
    """True if any leaf of ``trees`` is a JAX tracer (inside jit, grad, vmap...)."""
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(trees))
