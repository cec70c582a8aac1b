"""Whole-glass generation, one by one vs batched: ``generate`` per (knob, seed) against ``generate_batch``.

For one family (``--family``, one with ``generate_batch``: lj2d, lj3d, sic, cualzr, hea) and ``--batch B``
glasses of one size (knobs spread over ``--knobs``, seeds 1..B), times B calls of ``generate`` (the MD
of each on its own) and one call of ``generate_batch`` (the MD of all B in one compiled program, each
then relaxed on its own), interleaved over ``--repeats`` rounds after one warm-up call of each (which
pays the compilations; reported separately). Reported per structure: wall and process CPU seconds, and
the generator's own ``md_s`` and ``relax_s`` (``info``). The peer is the one-by-one path.

Run:  PYTHONPATH=. .venv/bin/python benchmarks/generate_batch.py --family cualzr --batch 2

Writes ``benchmarks/results/generate_batch_<family>.json``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from _common import machine, write_json


def _timed(fn) -> tuple[list, float, float]:
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def _row(mode: str, gens: list, wall: float, cpu: float) -> dict:
    b = len(gens)
    return dict(mode=mode, wall_s=wall / b, cpu_s=cpu / b,
                md_s=float(np.mean([g.info.get("md_s", 0.0) for g in gens])),
                relax_s=float(np.mean([g.info.get("relax_s", 0.0) for g in gens])),
                md_batch=[g.info.get("md_batch") for g in gens])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", default="cualzr")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--n-atoms", type=int, default=0, help="0: the family's smallest cell")
    ap.add_argument("--size", default="small")
    ap.add_argument("--knobs", default="0.5,1.0", help="lowest,highest knob (spread evenly over the batch)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()

    import jaxglass
    from jaxglass import families

    jaxglass.enable_x64()
    gen = families.generator(args.family)
    n = args.n_atoms or families.smallest_cell(args.family).n_atoms
    lo, hi = (float(x) for x in args.knobs.split(","))
    knobs = np.linspace(lo, hi, args.batch).tolist()
    seeds = list(range(1, args.batch + 1))
    single = lambda: [gen.generate(n, k, s, size=args.size) for k, s in zip(knobs, seeds)]  # noqa: E731
    batch = lambda: gen.generate_batch(n, knobs, seeds, size=args.size)  # noqa: E731
    rows = []
    for r in range(args.repeats + 1):  # round 0: warm-up (compilations)
        for mode, fn in (("one by one", single), (f"batch of {args.batch}", batch)):
            row = _row(mode, *_timed(fn))
            row["round"] = r
            rows.append(row)
            print(f"round {r} {mode}: {row['wall_s']:.2f} s wall, {row['cpu_s']:.2f} s CPU per structure "
                  f"(md {row['md_s']:.2f}, relax {row['relax_s']:.2f})", flush=True)
    load = os.getloadavg()
    print(f"\n{args.family}, {n} atoms, knobs {knobs}, size {args.size}; load {load}")
    print("| mode | wall s / structure | CPU s / structure | md_s | relax_s |")
    print("|---|---|---|---|---|")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        timed = [r for r in rows if r["mode"] == mode and r["round"] > 0]
        med = [float(np.median([r[k] for r in timed])) for k in ("wall_s", "cpu_s", "md_s", "relax_s")]
        print(f"| {mode} | " + " | ".join(f"{v:.2f}" for v in med) + " |")
    out = args.out or os.path.join(os.path.dirname(__file__), "results", f"generate_batch_{args.family}.json")
    write_json(out, dict(family=args.family, n_atoms=n, knobs=knobs, seeds=seeds, size=args.size, rows=rows,
                         load=load, **machine()))


if __name__ == "__main__":
    main()
