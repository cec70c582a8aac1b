"""Batched MD throughput: replicas stepped together in one compiled program vs one structure, vs LAMMPS.

For each system of ``benchmarks/md.py`` (same structures, potentials and thermostats) and each batch
size ``B``, ``jaxglass.md.nvt_langevin_batch`` steps ``B`` replicas (different seeds) for ``--steps``
steps after a warm-up; reported are the wall and CPU milliseconds per *replica*-step, and the paper
protocol's structures per hour per core that this MD rate allows (MD only: ``--paper-steps`` steps per
structure). LAMMPS (one instance, the same case) runs interleaved with the jaxglass rounds, one
thread, for the ratio; B LAMMPS runs cost B times one, so its per-replica rate is its single rate.

Run (pin to one core; pause other jobs of yours while timing):

    PYTHONPATH=. .venv/bin/python benchmarks/md_batch.py --systems lj3d,cualzr --batch 1,2,4,8

Writes ``benchmarks/results/md_batch.json``. On a CPU, ``vectorize`` defaults to stepping the
replicas in turn inside the program (vectorising gains nothing there); ``--vectorize`` forces ``vmap``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import md as mdbench  # noqa: E402  (benchmarks/md.py: the systems and the LAMMPS peer)


def paper_steps(system: str) -> int | None:
    """MD steps of the family's paper protocol (``PROTOCOLS["paper"]`` of its generator module)."""
    from jaxglass.generate import cualzr, lj, sic

    if system in ("lj2d", "lj3d"):
        p = lj.PROTOCOLS["paper"]
        return p.n_melt + p.n_quench
    mod = {"cualzr": cualzr, "sic": sic}.get(system)
    return None if mod is None else mod.PROTOCOLS["paper"].n_hot + mod.PROTOCOLS["paper"].n_quench


def time_batch(case, b: int, n_steps: int, warmup: int, extra: dict) -> dict:
    """Per-replica-step wall and CPU ms of ``b`` replicas (after a warm-up call of ``warmup`` steps)."""
    from jaxglass.md import nvt_langevin_batch

    kw = dict(skin=case.skin, **case.jaxglass_md(), **extra)
    reps = [case.structure] * b
    nvt_langevin_batch(case.potential, reps, n_steps=warmup, seeds=range(b), **kw)
    t, c = time.perf_counter(), time.process_time()
    out = nvt_langevin_batch(case.potential, reps, n_steps=n_steps, seeds=range(b), **kw)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return dict(batch=b, wall_ms=1e3 * wall / (n_steps * b), cpu_ms=1e3 * cpu / (n_steps * b),
                rebuilds=int(out[0].n_rebuilds))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default="lj3d,cualzr")
    ap.add_argument("--batch", default="1,2,4,8", help="batch sizes, comma-separated")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--precision", default="float64,float32")
    ap.add_argument("--vectorize", action="store_true", help="vmap the replicas (default on a CPU: in turn)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--core", type=int, default=None)
    ap.add_argument("--no-lammps", action="store_true")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "md_batch.json"))
    args = ap.parse_args(argv)
    core = mdbench.single_thread(args.core)
    from lammps_peer import load_lammps

    import jaxglass

    jaxglass.enable_x64()
    lammps = None if args.no_lammps else load_lammps()
    batches = [int(b) for b in args.batch.split(",")]
    rows, work = [], tempfile.mkdtemp(prefix="jaxglass_mdb_")
    load0 = os.getloadavg()
    for system in args.systems.split(","):
        case = mdbench.build(system, args.seed, work, mdbench.DEFAULT_EAM)
        peer = None
        if lammps is not None:
            peer = mdbench.LammpsRun(lammps, case, work, args.seed)
            peer.start()
            peer.run(args.warmup)
        for prec in args.precision.split(","):
            extra = dict(precision=prec, vectorize=True if args.vectorize else None)
            for b in batches:
                r = time_batch(case, b, args.steps, args.warmup, extra)
                lmp = peer.run(args.steps) if peer is not None else None
                r.update(system=system, n_atoms=case.structure.n_atoms, precision=prec,
                         vectorize=bool(args.vectorize),
                         lammps_cpu_ms=1e3 * lmp["cpu_s"] / args.steps if lmp else None)
                steps = paper_steps(system)
                r["structures_per_hour_md"] = 3.6e6 / (steps * r["cpu_ms"]) if steps else None
                r["lammps_structures_per_hour_md"] = (3.6e6 / (steps * r["lammps_cpu_ms"])
                                                      if steps and lmp else None)
                rows.append(r)
                ratio = r["cpu_ms"] / r["lammps_cpu_ms"] if lmp else float("nan")
                print(f"| {system} | {r['n_atoms']} | {prec} | {b} | {r['wall_ms']:.3f} | "
                      f"{r['cpu_ms']:.3f} | "
                      f"{r['lammps_cpu_ms'] or float('nan'):.3f} | {ratio:.2f} | "
                      f"{r['structures_per_hour_md'] or float('nan'):.1f} | "
                      f"{r['lammps_structures_per_hour_md'] or float('nan'):.1f} |", flush=True)
        if peer is not None:
            peer.lmp.close()
    meta = dict(core=core, load_before=load0, load_after=os.getloadavg(), steps=args.steps,
                date=time.strftime("%Y-%m-%d %H:%M"))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(dict(meta=meta, rows=rows), fh, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    print("| system | N | precision | B | wall ms / replica-step | CPU ms / replica-step | "
          "LAMMPS CPU ms / step | CPU ratio | structures/h/core (MD) | LAMMPS structures/h/core (MD) |\n|"
          + "---|" * 10, flush=True)
    main()
