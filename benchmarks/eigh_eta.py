"""How good is the dense eigen-solve's ETA? :func:`jaxglass.modes.eigh_estimate` (``t_c (n/n_c)³`` from
one calibration solve of a random symmetric ``n_c x n_c`` matrix per process, ``n_c = n/4`` within
:data:`jaxglass.modes.EIGH_CALIBRATION_N`) against the time :func:`jaxglass.modes.host_eigh` then takes
on the dynamical matrix of a Kob-Andersen 3D glass (A80B20, ρ = 1.2, a random packing relaxed by L-BFGS
to fmax 1e-3) of ``n / 3`` atoms.

Each (size, kind) runs in a fresh child process, as a command or a build worker would: the calibration
is its first one. Wall time (``time.perf_counter``; the ETA is a wall-clock promise), the default LAPACK
threading, the machine's load recorded before and after. Reported: estimate, actual, their ratio (> 1:
the estimate errs long), the calibration size and time.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/eigh_eta.py [--atoms 500,1000,1500]
[--kinds vectors,values] [--out benchmarks/results/eigh_eta.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def child(n_atoms: int, vectors: bool) -> dict:
    import time

    import numpy as np

    import jaxglass
    from jaxglass import modes
    from jaxglass.generate import random_packing
    from jaxglass.hessian import dynamical_matrix
    from jaxglass.minimize import minimize
    from jaxglass.potentials import kob_andersen

    jaxglass.enable_x64()
    pot = kob_andersen()
    s = random_packing(n_atoms, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.7, seed=0)
    s = minimize(pot, s, fmax=1e-3).structure
    D = np.array(dynamical_matrix(pot, s))
    n = D.shape[0]
    load = os.getloadavg()
    t = time.perf_counter()
    est, n_c, t_c = modes.eigh_estimate(n, vectors)
    t_cal_total = time.perf_counter() - t
    t = time.perf_counter()
    modes.host_eigh(D, vectors)
    actual = time.perf_counter() - t
    return dict(atoms=n_atoms, n=n, kind="vectors" if vectors else "values", estimate_s=est, actual_s=actual,
                ratio=est / actual, calibration_n=n_c, calibration_s=t_c, calibration_wall_s=t_cal_total,
                loadavg_start=load, loadavg_end=os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", default="500,1000,1500")
    ap.add_argument("--kinds", default="vectors,values")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    ap.add_argument("--child", nargs=2, metavar=("ATOMS", "KIND"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(int(a.child[0]), a.child[1] == "vectors")))
        return
    rows = []
    print("| atoms | n (dof) | kind | calibration | estimate (s) | actual (s) | estimate / actual | load |")
    print("|---|---|---|---|---|---|---|---|")
    for atoms in (int(x) for x in a.atoms.split(",")):
        for kind in a.kinds.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", str(atoms), kind], capture_output=True,
                                 text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append(r)
            cal = f"{r['calibration_n']}² in {r['calibration_s']:.3f} s"
            print(f"| {r['atoms']} | {r['n']} | {r['kind']} | {cal} | {r['estimate_s']:.2f} | "
                  f"{r['actual_s']:.2f} | {r['ratio']:.2f} | "
                  f"{r['loadavg_start'][0]:.1f}-{r['loadavg_end'][0]:.1f} |", flush=True)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
