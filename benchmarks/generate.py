"""Generator throughput: structures per hour per family at the default (small) sizes.

Run:  .venv/bin/python benchmarks/generate.py [--families amc,lj2d,lj3d,sic,cualzr] [--n 4]

For each family, builds ``n`` glasses at knobs spread over [0, 1] in one process (the first call
pays JIT compilation, reported separately) and the modes/PDOS of each (the dataset builder's full
per-structure work), then prints a table. The peer is the family's crystalline reference, timed the
same way (no MD, relaxation only).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
from _common import write_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--families", default="amc,lj2d,lj3d,sic,cualzr")
    ap.add_argument("--n", type=int, default=4, help="glasses per family")
    ap.add_argument("--out", default="benchmarks/results/generate.json")
    args = ap.parse_args()

    import jaxglass
    from jaxglass.data import DatasetConfig, compute_record

    jaxglass.enable_x64()
    rows = []
    for fam in args.families.split(","):
        cfg = DatasetConfig.make(fam, args.n + 1)
        times = []
        for k in range(args.n + 1):
            t0 = time.perf_counter()
            rec = compute_record(cfg, k)
            times.append(time.perf_counter() - t0)
            print(
                f"{fam} structure {k}: knob {float(rec['knob']):.2f}, {times[-1]:.1f} s, "
                f"imaginary modes {int(rec['n_imaginary'])}",
                flush=True,
            )
        glass = np.array(times[2:]) if args.n > 1 else np.array(times[1:])
        rows.append(
            dict(
                family=fam,
                n_atoms=int(len(rec["positions"])),
                crystal_s=times[0],
                first_glass_s=times[1],
                glass_mean_s=float(glass.mean()),
                per_hour=3600.0 / float(glass.mean()),
            )
        )
    print(f"\nmachine: {platform.platform()}, {os.cpu_count()} cpus, load {os.getloadavg()}")
    print("| family | atoms | crystal s | first glass s (incl. JIT) | glass s (steady) | structures / hour |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['family']} | {r['n_atoms']} | {r['crystal_s']:.1f} | {r['first_glass_s']:.1f} | "
            f"{r['glass_mean_s']:.1f} | {r['per_hour']:.0f} |"
        )
    write_json(args.out, dict(rows=rows, load=os.getloadavg()))


if __name__ == "__main__":
    main()
