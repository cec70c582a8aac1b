"""The table of "The Lennard-Jones question" (docs/study.md): linear (ridge) vs CNN per Kob-Andersen knob.

Reads examples/study/<system>/study.json (from `jaxglass study`), halves.json (from
examples/study_halves.py) and examples/study/lj_knob_order.json (from examples/lj_knob_order.py).

    python examples/lj_question_table.py lj2d-comp lj3d-comp lj2d-quench lj3d-quench
"""

import json
import sys
from pathlib import Path

import numpy as np

root = Path("examples/study")
order_file = root / "lj_knob_order.json"
order = json.loads(order_file.read_text()) if order_file.exists() else {}
print("| knob | dim | structures (train/test) | crystalline atoms, knob 0-0.2 → 0.8-1 | ridge test MSE (R²) "
      "| CNN test MSE (5 seeds) | linear/CNN full data | n = 25 | n = 100 | crystal-like half (knob < 0.5) "
      "| glassy half |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for name in sys.argv[1:]:
    st = json.loads((root / name / "study.json").read_text())
    halves = json.loads((root / name / "halves.json").read_text())
    mods = {m["model"]: m for m in st["models"]}
    lc = st["learning_curve"]
    ratio = {n: r / c for n, r, c in zip(lc["sizes"], lc["ridge"]["mean"], lc["cnn"]["mean"])}
    cnn = [v for v in lc["cnn"]["values"][-1]]
    bins = [b for b in order.get(name, {}).get("bins", []) if b["bin"] != "crystal"]
    cryst = f"{bins[0]['crystalline']:.2f} → {bins[-1]['crystalline']:.2f}" if bins else "-"
    h = {tuple(x["knob_range"]): x["ratio"] for x in halves}
    lo = next(v for k, v in h.items() if k[0] == 0.0)
    hi = next(v for k, v in h.items() if k[0] == 0.5)
    kind = "composition x_B" if name.endswith("comp") else "quench rate"
    print(f"| {kind} | {name[2]}D | {st['n_structures']} ({st['n_train']}/{st['n_test']}) | {cryst} "
          f"| {mods['ridge']['mse']:.2e} ({mods['ridge']['r2_overall']:.3f}) "
          f"| {np.mean(cnn):.2e} ± {np.std(cnn):.0e} | {st['criteria']['full_ratio']:.2f} "
          f"| {ratio.get(25, float('nan')):.2f} | {ratio.get(100, float('nan')):.2f} | {lo:.2f} | {hi:.2f} |")
