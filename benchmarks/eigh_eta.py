"""How good is the dense eigen-solve's ETA? :func:`jaxglass.modes.eigh_estimate` (``t_c (n/n_c)³`` from
calibration solves of a random symmetric ``n_c x n_c`` matrix on one BLAS thread, once per process,
``n_c = n/4`` within :data:`jaxglass.modes.EIGH_CALIBRATION_N`) against the time
:func:`jaxglass.modes.host_eigh` then takes on the dynamical matrix of a Kob-Andersen 3D glass (A80B20,
ρ = 1.2, a random packing relaxed by L-BFGS to fmax 1e-3) of ``n / 3`` atoms.

Each (size, kind) runs in a fresh child process, as a command or a build worker would: the calibration
is its first one. Wall time (``time.perf_counter``; the ETA is a wall-clock promise), LAPACK threading as
the environment sets it (``OPENBLAS_NUM_THREADS``, recorded), the machine's load before and after.
Reported: estimate, actual, their ratio (> 1: the estimate errs long), the calibration size and time;
and the same O(n³) extrapolation in CPU time (``time.process_time`` of one more calibration-size solve
against that of the solve), which the machine's load does not scatter: it judges the model itself.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/eigh_eta.py [--atoms 1000,1500]
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
    from threadpoolctl import threadpool_limits

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
    est, n_c, t_c, one = modes.eigh_estimate(n, vectors)
    t_cal_total = time.perf_counter() - t
    a = np.random.default_rng(1).standard_normal((n_c, n_c))
    with threadpool_limits(1, user_api="blas"):  # as the calibration
        c = time.process_time()
        modes.host_eigh(a + a.T, vectors)  # the same calibration size, in CPU time
        cpu_c = time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    modes.host_eigh(D, vectors)
    actual, actual_cpu = time.perf_counter() - t, time.process_time() - c
    est_cpu = cpu_c * (n / n_c) ** 3
    return dict(atoms=n_atoms, n=n, kind="vectors" if vectors else "values", estimate_s=est, actual_s=actual,
                ratio=est / actual, calibration_n=n_c, calibration_s=t_c, calibration_one_thread=one,
                calibration_wall_s=t_cal_total,
                calibration_cpu_s=cpu_c, estimate_cpu_s=est_cpu, actual_cpu_s=actual_cpu,
                ratio_cpu=est_cpu / actual_cpu, loadavg_start=load, loadavg_end=os.getloadavg(),
                openblas_num_threads=os.environ.get("OPENBLAS_NUM_THREADS"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", default="1000,1500")
    ap.add_argument("--kinds", default="vectors,values")
    ap.add_argument("--out", default=None, help="JSON file for the results")
    ap.add_argument("--child", nargs=2, metavar=("ATOMS", "KIND"), help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(child(int(a.child[0]), a.child[1] == "vectors")))
        return
    rows = []
    print("| atoms | n (dof) | kind | calibration (wall) | estimate / actual, wall (s) | ratio | "
          "estimate / actual, CPU (s) | ratio | load |")
    print("|---|---|---|---|---|---|---|---|---|")
    for atoms in (int(x) for x in a.atoms.split(",")):
        for kind in a.kinds.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", str(atoms), kind], capture_output=True,
                                 text=True, check=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            rows.append(r)
            cal = f"{r['calibration_n']}² in {r['calibration_s']:.3f} s"
            print(f"| {r['atoms']} | {r['n']} | {r['kind']} | {cal} | {r['estimate_s']:.2f} / "
                  f"{r['actual_s']:.2f} | {r['ratio']:.2f} | {r['estimate_cpu_s']:.2f} / "
                  f"{r['actual_cpu_s']:.2f} | {r['ratio_cpu']:.2f} | "
                  f"{r['loadavg_start'][0]:.1f}-{r['loadavg_end'][0]:.1f} |", flush=True)
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            json.dump(rows, fh, indent=1)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
