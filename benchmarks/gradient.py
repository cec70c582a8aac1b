"""Cost of one gradient of a PDOS scalar with respect to all positions vs one forward PDOS.

System: Kob-Andersen A80B20 3D glass (ρ = 1.2, reduced units), random packing minimised with
L-BFGS (fmax 1e-5; preparation not timed). Both sides use the public ``jaxglass.phonons.pdos`` on
its differentiable (JAX) route with ``partial=False``, jitted, on a 400-point grid with σ = 0.5:

* forward: ``pdos(...).total`` (Hessian assembly + eigenvalues + Gaussian DOS);
* gradient: ``jax.grad(lambda x: pdos(...).total[k])`` (adds the eigenvectors for the
  Hellmann–Feynman rule and the reverse pass through the Hessian assembly).

Each N runs in a fresh subprocess (its own peak RSS). Times are the median of ``--repeat`` steady
calls after one warm-up (compile) call, whose time is reported separately. Target (issue 12):
gradient ≤ 3 × forward; memory O((N d)²).

Usage::

    .venv/bin/python benchmarks/gradient.py [--sizes 250,1000,2000] [--repeat 3]
                                            [--out benchmarks/results/gradient.json]
"""

from __future__ import annotations

import os
import resource
import time

from _common import machine, size_args, worker_row, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "gradient.json")


def _worker(n: int, repeat: int) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxglass
    from jaxglass import phonons
    from jaxglass.generate import random_packing
    from jaxglass.minimize import minimize
    from jaxglass.potentials import kob_andersen

    jaxglass.enable_x64()
    pot = kob_andersen()
    s = random_packing(n, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=0)
    s = minimize(pot, s, fmax=1e-5).structure
    nb = pot.neighbors(s)
    grid = jnp.linspace(0.0, 40.0, 400)
    k = 150

    @jax.jit
    def forward(x):
        return phonons.pdos(pot, s.with_positions(x), grid, 0.5, nbrs=nb, partial=False).total

    @jax.jit
    def gradient(x):
        return jax.grad(
            lambda y: phonons.pdos(pot, s.with_positions(y), grid, 0.5, nbrs=nb, partial=False).total[k]
        )(x)

    out = dict(n_atoms=n, dof=3 * n)
    for name, fn in (("forward", forward), ("gradient", gradient)):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(s.positions))
        out[f"{name}_first_s"] = time.perf_counter() - t0
        ts = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            r = jax.block_until_ready(fn(s.positions))
            ts.append(time.perf_counter() - t0)
        out[f"{name}_s"] = float(np.median(ts))
        out[f"{name}_finite"] = bool(np.all(np.isfinite(np.asarray(r))))
    out["ratio"] = out["gradient_s"] / out["forward_s"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
    out["dense_matrix_mb"] = (3 * n) ** 2 * 8 / 1e6
    return out


def main() -> None:
    args = size_args(__doc__.splitlines()[0], "250,1000,2000", 3, DEFAULT_OUT, _worker)
    if args is None:
        return
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        row = worker_row(__file__, n, args.repeat)
        rows.append(row)
        print(
            f"N={n:5d} forward {row['forward_s']:8.3f} s  gradient {row['gradient_s']:8.3f} s  "
            f"ratio {row['ratio']:5.2f}  (first calls {row['forward_first_s']:.1f} / "
            f"{row['gradient_first_s']:.1f} s)"
            f"  peak RSS {row['peak_rss_mb']:.0f} MB  (dense D {row['dense_matrix_mb']:.0f} MB)",
            flush=True,
        )
    print(
        "\n| N | dof | forward PDOS (s) | gradient (s) | gradient / forward | peak RSS (MB) "
        "| one (Nd)² matrix (MB) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n_atoms']} | {r['dof']} | {r['forward_s']:.3f} | {r['gradient_s']:.3f} | "
            f"{r['ratio']:.2f} | "
            f"{r['peak_rss_mb']:.0f} | {r['dense_matrix_mb']:.0f} |"
        )
    write_json(args.out, dict(benchmark="gradient of a PDOS scalar vs forward PDOS (KA 3D glass)",
                              machine=machine(), rows=rows))


if __name__ == "__main__":
    main()
