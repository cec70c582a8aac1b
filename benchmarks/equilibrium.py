"""Cost of one equilibrium gradient vs one forward relaxation + PDOS (issue 26).

System: Kob-Andersen A80B20 3D glass (ρ = 1.2, reduced units), random packing minimised with L-BFGS
(fmax 1e-8; preparation not timed). The potential is then changed, ε_AB → 1.5 (1 + 1e-3), and

* forward: ``relaxed_positions`` (host L-BFGS from the prepared glass to fmax 1e-8) and the PDOS
  at the new minimum (``modes.pdos``, JAX route, ``partial=False``, jitted, 400 points, σ = 0.5);
* gradient: ``jax.grad`` of one PDOS value at the new minimum with respect to the scale t of ε_AB
  (ε_AB = 1.5 (1 + 1e-3 + t)): the same relaxation, the PDOS with eigenvectors, its reverse pass
  (position and parameter cotangents), the CG solve H u = x̄ on Hessian-vector products and one
  parameter VJP (jaxglass.equilibrium).

One thread (XLA and OpenBLAS), CPU time (``time.process_time``, the machine is shared), wall time
beside it; each N in a fresh subprocess; median of ``--repeat`` calls after one warm-up call.
Target: gradient ≤ 3 × forward.

Usage::

    .venv/bin/python benchmarks/equilibrium.py [--sizes 250,1000] [--repeat 2]
                                               [--out benchmarks/results/equilibrium.json]
"""

from __future__ import annotations

import os
import time

from _common import ONE_THREAD, machine, size_args, worker_row, write_json

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "equilibrium.json")


def _timed(fn, repeat):
    import jax
    import numpy as np

    c0, w0 = time.process_time(), time.perf_counter()
    jax.block_until_ready(fn())
    first = (time.process_time() - c0, time.perf_counter() - w0)
    cpu, wall = [], []
    for _ in range(repeat):
        c0, w0 = time.process_time(), time.perf_counter()
        jax.block_until_ready(fn())
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return first, float(np.median(cpu)), float(np.median(wall))


def _worker(n: int, repeat: int) -> dict:
    import jax
    import jax.numpy as jnp

    import jaxglass
    from jaxglass.equilibrium import relaxed_positions
    from jaxglass.generate import random_packing
    from jaxglass.minimize import minimize
    from jaxglass.modes import pdos
    from jaxglass.potentials import kob_andersen

    jaxglass.enable_x64()
    pot = kob_andersen()
    s = random_packing(n, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=0)
    s = minimize(pot, s, fmax=1e-8).structure
    nb = pot.neighbors(s, skin=0.3)
    grid, k = jnp.linspace(0.0, 40.0, 400), 150

    def changed(t):
        p = dict(pot.params[0])
        e = 1.5 * (1.0 + 1e-3 + t)
        p["epsilon"] = jnp.asarray(p["epsilon"]).at[0, 1].set(e).at[1, 0].set(e)
        return pot.with_params([p])

    spectrum = jax.jit(lambda p, x: pdos(p, s.with_positions(x), grid, 0.5, nbrs=nb, partial=False).total)

    def forward():
        p = changed(0.0)
        return spectrum(p, relaxed_positions(p, s, fmax=1e-8, nbrs=nb))

    def gradient():
        def value(t):
            p = changed(t)
            return spectrum(p, relaxed_positions(p, s, fmax=1e-8, nbrs=nb))[k]
        return jax.grad(value)(0.0)

    def relax_only():
        return relaxed_positions(changed(0.0), s, fmax=1e-8, nbrs=nb)

    out = dict(n_atoms=n, dof=3 * n)
    for name, fn in (("relax", relax_only), ("forward", forward), ("gradient", gradient)):
        first, cpu, wall = _timed(fn, repeat)
        out[f"{name}_first_cpu_s"], out[f"{name}_cpu_s"], out[f"{name}_wall_s"] = first[0], cpu, wall
    out["ratio_cpu"] = out["gradient_cpu_s"] / out["forward_cpu_s"]
    out["gradient_finite"] = bool(jnp.isfinite(gradient()))
    return out


def main() -> None:
    args = size_args(__doc__.splitlines()[0], "250,1000", 2, DEFAULT_OUT, _worker)
    if args is None:
        return
    rows = []
    for n in (int(x) for x in args.sizes.split(",")):
        row = worker_row(__file__, n, args.repeat, env=ONE_THREAD)
        rows.append(row)
        print(f"N={n:5d} relax {row['relax_cpu_s']:.2f}  forward {row['forward_cpu_s']:.2f}  gradient "
              f"{row['gradient_cpu_s']:.2f} CPU s  ratio {row['ratio_cpu']:.2f}  (load {row['load_before']})",
              flush=True)
    print("\n| N | relaxation (CPU s) | relaxation + PDOS (CPU s) | equilibrium gradient (CPU s) "
          "| gradient / forward | load |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['n_atoms']} | {r['relax_cpu_s']:.2f} | {r['forward_cpu_s']:.2f} | "
              f"{r['gradient_cpu_s']:.2f} | {r['ratio_cpu']:.2f} | {r['load_before']}–{r['load_after']} |")
    write_json(args.out, dict(
        benchmark="equilibrium gradient of a PDOS value vs relaxation + PDOS (KA 3D, one thread, CPU time)",
        machine=machine(), rows=rows))


if __name__ == "__main__":
    main()
