"""Overhead of KPM progress reports: ``kpm.pdos(progress=...)`` (the recursion run from the host in
:data:`jaxglass.kpm.PROGRESS_CHUNKS` compiled chunks, a report after each) against the one-program
route (``progress=None``), on the same structure, probes and bounds.

CPU time (``time.process_time``, all threads of this process) of the steady state: each route is
called once to compile, then ``--repeats`` times alternately; the median is reported. CPU time, not
wall time, because the machine may be shared. The two results agree to round-off (checked).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/kpm_progress.py [--sizes 250,2000] [--moments 256]
[--vectors 2] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import numpy as np

import jaxglass
from jaxglass import kpm
from jaxglass.generate import random_packing
from jaxglass.hessian import as_f64
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen


def _cpu(f) -> float:
    t = time.process_time()
    jax.block_until_ready(f().total)
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="250,2000")
    ap.add_argument("--moments", type=int, default=256)
    ap.add_argument("--vectors", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    jaxglass.enable_x64()
    pot = kob_andersen()
    print(f"load average {os.getloadavg()[0]:.1f}; M = {a.moments}, R = {a.vectors}, partial DOS, "
          f"{kpm.PROGRESS_CHUNKS} chunks")
    for n in (int(x) for x in a.sizes.split(",")):
        s = random_packing(n, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.7, seed=0)
        s = as_f64(minimize(pot, s, fmax=1e-3).structure)
        nb = pot.neighbors(s)
        ab = kpm.spectral_interval(pot, s, nb, 0)
        kw = dict(nbrs=nb, moments=a.moments, vectors=a.vectors, key=1, bounds=ab,
                  grid=np.linspace(0, 40, 400), sigma=0.4)
        one = functools.partial(kpm.pdos, pot, s, **kw)
        chunked = functools.partial(kpm.pdos, pot, s, progress=lambda done, total: None, **kw)

        ref, res = one(), chunked()  # compile both
        err = float(np.max(np.abs(np.asarray(res.partial) - np.asarray(ref.partial))) / np.max(ref.total))
        t1, t2 = [], []
        for _ in range(a.repeats):
            t1.append(_cpu(one))
            t2.append(_cpu(chunked))
        m1, m2 = float(np.median(t1)), float(np.median(t2))
        print(f"N = {n}: one program {m1:.3f} s CPU, with progress {m2:.3f} s CPU "
              f"({100 * (m2 / m1 - 1):+.1f} %); max |difference| / max DOS {err:.1e}; "
              f"runs {[round(x, 3) for x in t1]} / {[round(x, 3) for x in t2]}")


if __name__ == "__main__":
    main()
