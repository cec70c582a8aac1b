"""The errors jaxglass raises on purpose, in one place.

Every error here means "the input or the environment is not what the function needs"; anything else
that escapes a jaxglass function is a bug. The messages name the *argument or field* and the fix,
never a command-line option: the command line (:mod:`jaxglass.cli`) maps :attr:`UserError.field` to
its own option name, exits with status 2 for these errors and with status 1 (and "this is a bug")
for any other exception.

>>> err = UserError("n_atoms: expected a positive integer, got -3")
>>> err.field
'n_atoms'
>>> isinstance(err, ValueError)
True
"""

from __future__ import annotations

import re

__all__ = ["BuildError", "Float64Required", "MinimizationError", "UserError"]

_FIELD = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:")


class UserError(ValueError):
    """Bad input: the message starts with the argument or field it concerns (``"field: ..."``) and
    says how to fix it. A :class:`ValueError`, so ``except ValueError`` keeps catching it.

    ``field`` may be given explicitly; otherwise it is read from the message's ``"name:"`` prefix
    (``None`` when the message has none, e.g. when it starts with a file path).
    """

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        if field is None:
            m = _FIELD.match(message)
            field = m.group(1) if m else None
        self.field = field


class Float64Required(RuntimeError):
    """A function that needs ``jax_enable_x64`` was called with it off (call
    :func:`jaxglass.enable_x64` first)."""


class MinimizationError(RuntimeError):
    """A minimisation did not reach its force tolerance."""


class BuildError(RuntimeError):
    """Some structures of a dataset build failed; every other record is written and a rerun retries
    the failed ones (``failed`` maps structure index to its error line)."""

    def __init__(self, message: str, failed: dict[int, str]):
        super().__init__(message)
        self.failed = failed
