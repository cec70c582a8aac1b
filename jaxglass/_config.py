"""Runtime configuration helpers."""

from __future__ import annotations

import jax


def enable_x64() -> None:
    """Switch JAX to float64 (needed for Hessians and eigenproblems).

    Called by the package's entry points (phonon engine, minimiser, CLI); importing jaxglass alone
    does not change JAX's configuration.
    """
    if not jax.config.jax_enable_x64:
        jax.config.update("jax_enable_x64", True)
