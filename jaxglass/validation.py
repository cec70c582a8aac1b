"""Every argument value checked once, at the boundary of the public function that takes it.

A public function declares what each of its arguments accepts, in the style of scikit-learn's
``_parameter_constraints``, and :func:`validate` checks the values before any work::

    @validate({
        "sigma": [None, positive, "the Gaussian width (THz, ω for LJ units), e.g. 0.3"],
        "n": [Integral(2, None)],
    })
    def default_grid(freqs, sigma=None, n=400): ...

A value passes if it satisfies *any* constraint of its list; ``None`` in the list admits ``None``; a
string in the list is the fix the message ends with. A failure raises
:class:`jaxglass.errors.UserError` naming the argument, the value and the fix (``"sigma: expected a
finite number > 0 or None, got inf; the Gaussian width ..."``), so the command line, which passes its
options straight to these functions, names the option (``--sigma``) through
:func:`jaxglass.cli.main.with_flags`. A command that must refuse a value *before* expensive work
(reading, relaxing) checks its options against the same declarations with :func:`check_args`.

Numbers must be finite unless a constraint says otherwise (NaN is never accepted). Values traced by
``jit``/``grad``/``vmap`` are not checked (they have no value yet). :func:`memory_check` refuses a
request whose memory estimate exceeds this machine's memory (``JAXGLASS_MEMORY_LIMIT`` overrides it,
e.g. ``2GB``), instead of an out-of-memory traceback.

This module imports only :mod:`jaxglass.errors` and numpy.
"""

from __future__ import annotations

import abc
import functools
import inspect
import math
import numbers
import os
import sys

import numpy as np

from .errors import UserError

__all__ = [
    "Each",
    "Integral",
    "Options",
    "Real",
    "check",
    "broadening",
    "check_args",
    "finite",
    "force_tolerance",
    "memory_check",
    "memory_limit",
    "nonnegative",
    "positive",
    "q_magnitude",
    "relative_tolerance",
    "smoothing_width",
    "temperature_kelvin",
    "validate",
]


def _traced(value) -> bool:
    """Whether ``value`` is a JAX tracer (no value to check yet); jax is not imported for this."""
    jax = sys.modules.get("jax")
    return jax is not None and isinstance(value, jax.core.Tracer)


def _scalar(value):
    """A Python/NumPy scalar (or 0-d array) as a Python number; ``None`` for anything else."""
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, numbers.Number):
        return value.item() if isinstance(value, np.generic) else value
    if getattr(value, "shape", None) == () and np.issubdtype(np.asarray(value).dtype, np.number):
        return np.asarray(value).item()
    return None


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


class Constraint(abc.ABC):
    """One acceptable kind of value: :meth:`ok` tests it, :meth:`describe` says it in words."""

    @abc.abstractmethod
    def ok(self, value) -> bool:
        """Whether ``value`` satisfies the constraint."""

    @abc.abstractmethod
    def describe(self) -> str:
        """The constraint in words, for messages (e.g. ``"a finite number > 0"``)."""

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


class _Interval(Constraint):
    noun = "a number"

    def __init__(self, lo=None, hi=None, *, closed: str = "both"):
        if closed not in ("both", "left", "right", "neither"):
            raise ValueError(f"closed: expected 'both', 'left', 'right' or 'neither', got {closed!r}")
        self.lo, self.hi, self.closed = lo, hi, closed

    def _in_range(self, x) -> bool:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.lo is not None and not (x >= self.lo if left else x > self.lo):
            return False
        if self.hi is not None and not (x <= self.hi if right else x < self.hi):
            return False
        return True

    def _range(self) -> str:
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.lo is not None and self.hi is not None:
            return f" in {'[' if left else '('}{_fmt(self.lo)}, {_fmt(self.hi)}{']' if right else ')'}"
        if self.lo is not None:
            return f" {'>=' if left else '>'} {_fmt(self.lo)}"
        if self.hi is not None:
            return f" {'<=' if right else '<'} {_fmt(self.hi)}"
        return ""

    def describe(self) -> str:
        return self.noun + self._range()


class Real(_Interval):
    """A real number (int or float, not bool) in ``[lo, hi]`` (``closed``: which ends belong; ``None``:
    unbounded); finite unless ``finite=False`` (NaN is never accepted)."""

    def __init__(self, lo=None, hi=None, *, closed: str = "both", finite: bool = True):
        super().__init__(lo, hi, closed=closed)
        self.finite = finite
        self.noun = "a finite number" if finite else "a number"

    def ok(self, value) -> bool:
        x = _scalar(value)
        if x is None or isinstance(x, complex) or math.isnan(x):
            return False
        if self.finite and not math.isfinite(x):
            return False
        return self._in_range(x)


class Integral(_Interval):
    """An integer (Python or NumPy, not bool) in ``[lo, hi]`` (both ends included by default)."""

    noun = "an integer"

    def ok(self, value) -> bool:
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
            return False
        return self._in_range(int(value))


class Options(Constraint):
    """One of the given values."""

    def __init__(self, *values):
        self.values = tuple(values)

    def ok(self, value) -> bool:
        try:
            return value in self.values
        except Exception:  # e.g. an array compared with strings
            return False

    def describe(self) -> str:
        return f"one of {self.values}"


class Each(Constraint):
    """A non-empty list, tuple or 1-D array whose every item satisfies ``item`` (e.g. ``Each(positive)``
    for a list of |Q| values)."""

    def __init__(self, item: Constraint):
        self.item = item

    def ok(self, value) -> bool:
        if isinstance(value, str | bytes) or _scalar(value) is not None:
            return False
        try:
            items = list(value)
        except TypeError:
            return False
        return bool(items) and all(self.item.ok(x) for x in items)

    def describe(self) -> str:
        return f"a non-empty list of values each {self.item.describe()}"


#: Common constraints: any finite number, a finite number > 0, a finite number >= 0.
finite = Real()
positive = Real(0, None, closed="neither")
nonnegative = Real(0, None, closed="left")

#: Physical ranges shared by many declarations: a value beyond them is a typo, not a request (each bound
#: is orders of magnitude past any real case, and refusing it keeps grids, Bose factors and lattice
#: enumerations finite). A frequency broadening (THz, or ω in LJ units; the highest vibrational
#: frequency of any material, the H2 stretch, is 125 THz):
broadening = Real(0, 1e3, closed="right")
#: A temperature in K (harmonic spectra of solids):
temperature_kelvin = Real(0, 1e5, closed="right")
#: A |Q| in 1/Å (2π included): beyond 100 Å⁻¹ the Debye-Waller factor exp(-Q²<u²>) leaves no one-phonon
#: intensity (<u²> ≳ 3e-3 Å² even at T = 0 gives exp(-30)), and the shells' lattice enumeration grows as Q³:
q_magnitude = Real(0, 100, closed="right")
#: A relaxation's force tolerance (eV/Å, or ε/σ in LJ units):
force_tolerance = Real(0, 1e3, closed="right")
#: A Gaussian smoothing width along r (Å, or σ in LJ units): wider than 100 smooths g(r) to a constant:
smoothing_width = Real(0, 100, closed="right")
#: A relative tolerance (a fraction of a maximum):
relative_tolerance = Real(0, 1)


def _show(value) -> str:
    x = _scalar(value)
    if x is not None:
        return _fmt(x) if isinstance(x, float) else repr(x)
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"an array of shape {tuple(shape)}"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check(name: str, value, *constraints) -> None:
    """Raise :class:`UserError` ``"name: expected ..., got VALUE; FIX"`` unless ``value`` satisfies one
    of ``constraints`` (``None`` admits ``None``; a string is the fix). Traced values pass."""
    fix = "; ".join(c for c in constraints if isinstance(c, str))
    cons = [c for c in constraints if not isinstance(c, str)]
    if value is None and None in cons:
        return
    if _traced(value):
        return
    if any(c is not None and c.ok(value) for c in cons):
        return
    words = [c.describe() for c in cons if c is not None] + (["None"] if None in cons else [])
    msg = f"{name}: expected {' or '.join(words)}, got {_show(value)}"
    raise UserError(msg + (f"; {fix}" if fix else ""), field=name)


def _declarations(func) -> dict:
    decl = getattr(func, "__parameter_constraints__", None)
    if decl is None:
        name = getattr(func, "__qualname__", func)
        raise TypeError(f"{name} declares no parameter constraints (@validate)")
    return decl


def check_args(func, **values) -> None:
    """Check ``values`` against the constraints ``func`` declares with :func:`validate`, without calling
    it: a command refuses a bad option before reading or computing anything, with the library's
    message. Names ``func`` does not constrain are ignored."""
    decl = _declarations(func)
    for name, value in values.items():
        if name in decl:
            check(name, value, *decl[name])


def validate(constraints: dict):
    """Decorator: check the arguments named in ``constraints`` (name → list of constraints, ``None``,
    and an optional fix string; see :func:`check`) on every call, before the function runs. The
    declarations are kept as ``func.__parameter_constraints__`` (for :func:`check_args`)."""

    def wrap(func):
        sig = inspect.signature(func)
        unknown = set(constraints) - set(sig.parameters)
        if unknown:
            raise TypeError(f"validate: {func.__qualname__} has no parameter(s) {sorted(unknown)}")

        @functools.wraps(func)
        def checked(*args, **kwargs):
            bound = sig.bind(*args, **kwargs)
            for name, value in bound.arguments.items():
                if name in constraints:
                    check(name, value, *constraints[name])
            return func(*args, **kwargs)

        checked.__parameter_constraints__ = dict(constraints)
        return checked

    return wrap


_UNITS = {"": 1, "B": 1, "K": 1e3, "KB": 1e3, "M": 1e6, "MB": 1e6, "G": 1e9, "GB": 1e9, "T": 1e12, "TB": 1e12}


def memory_limit() -> float:
    """Bytes one request may use: ``JAXGLASS_MEMORY_LIMIT`` (bytes, or with a unit: ``500MB``,
    ``2GB``) if set, else this machine's physical memory (``inf`` if it cannot be read)."""
    env = os.environ.get("JAXGLASS_MEMORY_LIMIT", "").strip()
    if env:
        num = env.rstrip("KMGTBkmgtb ")
        unit = env[len(num) :].strip().upper()
        try:
            return float(num) * _UNITS[unit]
        except (ValueError, KeyError):
            raise UserError(
                f"JAXGLASS_MEMORY_LIMIT: expected a size such as 2GB or 500MB, got {env!r}"
            ) from None
    try:
        return float(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


def memory_check(name: str, nbytes: float, what: str, fix: str) -> None:
    """Raise :class:`UserError` ``"name: WHAT would need X GB of memory, more than the Y GB available;
    FIX"`` when the estimate ``nbytes`` exceeds :func:`memory_limit`."""
    limit = memory_limit()
    if nbytes > limit:
        raise UserError(
            f"{name}: {what} would need {nbytes / 1e9:.3g} GB of memory, more than the "
            f"{limit / 1e9:.3g} GB available (this machine's memory, or JAXGLASS_MEMORY_LIMIT); {fix}",
            field=name,
        )
