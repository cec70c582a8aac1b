"""Eigenvalues of a dense symmetric matrix by LAPACK's two-stage ``dsyevd_2stage`` (values only).

The one-stage drivers (``dsyevd``, ``dsyevr``; scipy's ``eigh``) spend nearly all their time in the
Householder reduction to tridiagonal form (``dsytrd``), half of which is memory-bound BLAS-2. The
two-stage reduction (dense → band with BLAS-3, then band → tridiagonal by bulge chasing) does the
same job faster; LAPACK ≥ 3.7 offers it for eigenvalues only (``jobz = 'N'``). scipy does not wrap
it, but the OpenBLAS that scipy's wheels bundle exports it (LAPACKE interface). This module finds
that symbol with ctypes and returns ``None`` when it is not there (another BLAS build, another
platform); callers then use ``scipy.linalg.eigh(..., driver="evd")``.

Measured here (KA 3D glass, N = 1000, 3000 x 3000, one thread): 1.47 s CPU vs 2.25-2.54 s for
``dsyevd`` values-only, eigenvalues equal to 1e-14 of the largest (benchmarks/cold_start.py).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import numpy as np

from .errors import UserError

_LAPACK_COL_MAJOR = 102


@functools.cache
def _dsyevd_2stage():
    """``(function, int type)`` of ``LAPACKE_dsyevd_2stage`` from a bundled OpenBLAS, or ``None``."""
    candidates = []
    try:
        import scipy

        candidates += [
            (p, "scipy_LAPACKE_dsyevd_2stage", ctypes.c_int)
            for p in glob.glob(
                os.path.join(
                    os.path.dirname(scipy.__file__), os.pardir, "scipy.libs", "libscipy_openblas*.so*"
                )
            )
        ]
    except ImportError:
        pass
    candidates += [
        (p, "scipy_LAPACKE_dsyevd_2stage64_", ctypes.c_int64)
        for p in glob.glob(
            os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*.so*")
        )
    ]
    for path, name, lapack_int in candidates:
        try:
            fn = getattr(ctypes.CDLL(path), name)
        except (OSError, AttributeError):
            continue
        fn.restype = lapack_int
        fn.argtypes = [
            ctypes.c_int,
            ctypes.c_char,
            ctypes.c_char,
            lapack_int,
            ctypes.c_void_p,
            lapack_int,
            ctypes.c_void_p,
        ]
        return fn, lapack_int
    return None


def two_stage_available() -> bool:
    """Whether :func:`eigvalsh_2stage` can run here (a bundled OpenBLAS exports the driver)."""
    return _dsyevd_2stage() is not None


def eigvalsh_2stage(a: np.ndarray, overwrite_a: bool = False) -> np.ndarray | None:
    """Ascending eigenvalues of the symmetric matrix ``a`` (lower triangle read), float64.

    Returns ``None`` when the two-stage driver is not available. ``overwrite_a=True`` lets the solver
    work in ``a``'s buffer when it is already a Fortran- or C-ordered float64 array (a symmetric
    matrix is its own transpose, so either order is the same matrix); ``a`` is destroyed then.
    """
    found = _dsyevd_2stage()
    if found is None:
        return None
    fn, _ = found
    a = np.asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise UserError(f"a: expected a square matrix, got shape {a.shape}")
    n = a.shape[0]
    if (
        overwrite_a
        and a.dtype == np.float64
        and (a.flags.f_contiguous or a.flags.c_contiguous)
        and a.flags.writeable
    ):
        work = a if a.flags.f_contiguous else a.T  # the transpose of a C-ordered array is F-ordered
    else:
        work = np.array(a, dtype=np.float64, order="F")
    w = np.empty(n, dtype=np.float64)
    if n == 0:
        return w
    info = fn(_LAPACK_COL_MAJOR, b"N", b"L", n, work.ctypes.data, n, w.ctypes.data)
    if info != 0:
        raise np.linalg.LinAlgError(f"dsyevd_2stage failed (info = {int(info)})")
    return w
