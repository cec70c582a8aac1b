"""Order across the knob of Kob-Andersen datasets: crystalline-atom fraction (ten Wolde criterion on
ψ6 / q6, r_cut = 1.35 σ), mean |ψ6| (2D) / q6 (3D), first-peak height of g(r), low-frequency mode
fraction (ω < 6), energy per atom, and the physical knob value, in knob bins.

    python examples/lj_knob_order.py out/dev/lj2d-comp out/dev/lj3d-comp ... \
        --out examples/study/lj_knob_order.json
"""

import argparse
import json
from pathlib import Path

import numpy as np

import jaxglass
from jaxglass.analysis.order import crystalline_fraction
from jaxglass.data import load_structure, read_record
from jaxglass.generate.lj import first_peak_heights

jaxglass.enable_x64()
ap = argparse.ArgumentParser()
ap.add_argument("datasets", nargs="+")
ap.add_argument("--bins", type=int, default=5)
ap.add_argument("--out", default=None)
args = ap.parse_args()
result = {}
for path in args.datasets:
    path = Path(path)
    rows = []
    for f in sorted((path / "structures").glob("*.npz")):
        k = int(f.stem)
        rec = read_record(f)
        s = load_structure(path, k)
        cf = crystalline_fraction(s)
        kv = json.loads(str(rec["knob_values"]))
        w = np.asarray(rec["frequencies"])
        rows.append(dict(k=k, knob=float(rec["knob"]), crystalline=cf["fraction"], order=cf["mean_order"],
                         peak=first_peak_heights(s)["total"], low_w=float(np.mean((w > 1e-3) & (w < 6.0))),
                         energy=float(rec["energy_per_atom"]), x_B=kv.get("x_B"),
                         log10_rate=kv.get("log10_quench_rate")))
    knob = np.array([r["knob"] for r in rows])
    edges = np.linspace(0, 1, args.bins + 1)
    table = []
    sel0 = knob < 0
    groups = [("crystal", sel0)] if sel0.any() else []
    for a, b in zip(edges[:-1], edges[1:]):
        last = b == 1
        in_bin = (knob >= a) & ((knob < b) | (last & (knob <= 1)))
        groups.append((f"[{a:.1f},{b:.1f}{']' if last else ')'}", in_bin))
    print(f"\n{path.name}: {len(rows)} structures")
    print(f"{'knob':>11} {'n':>3} {'x_B':>6} {'log10 rate':>10} {'cryst':>6} {'order':>6} {'peak':>6} "
          f"{'low-w':>6} {'E/N':>7}")
    for name, sel in groups:
        sub = [r for r, m in zip(rows, sel) if m]
        if not sub:
            continue
        agg = {key: float(np.mean([r[key] for r in sub])) for key in
               ("crystalline", "order", "peak", "low_w", "energy")}
        for key in ("x_B", "log10_rate"):
            v = [r[key] for r in sub if r[key] is not None]
            agg[key] = float(np.mean(v)) if v else None
        agg.update(bin=name, n=len(sub))
        table.append(agg)
        fmt = lambda v, f: format(v, f) if v is not None else "-"  # noqa: E731
        print(f"{name:>11} {len(sub):3d} {fmt(agg['x_B'], '6.3f')} {fmt(agg['log10_rate'], '10.2f')} "
              f"{agg['crystalline']:6.2f} {agg['order']:6.3f} {agg['peak']:6.2f} {agg['low_w']:6.3f} "
              f"{agg['energy']:7.3f}")
    result[path.name] = dict(bins=table, structures=rows)
if args.out:
    Path(args.out).write_text(json.dumps(result, indent=1))
