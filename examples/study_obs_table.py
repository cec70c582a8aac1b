"""Collect the family × observable studies (``examples/study/obs/<family>-<target>[-partial]/study.json``)
into the family × observable table of docs/observables.md.

    python examples/study_obs_table.py [examples/study/obs]
"""

import json
import sys
from pathlib import Path

ORDER = ("pdos", "ndos", "ins", "ixs", "raman")


def main(root: str = "examples/study/obs") -> None:
    found = [json.loads(p.read_text()) for p in Path(root).glob("*/study.json")]
    found.sort(key=lambda r: (r["system"], r["features"] != "total", ORDER.index(r.get("target", "pdos")),
                              r["config"]["scaling"]))
    print("| family | observable (unit) | g(r) | train/test | ridge test MSE (R²) "
          "| CNN test MSE (R², seed 0) "
          "| CNN mean of 2 seeds | ridge/CNN full data | n = 8: ridge/CNN |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in found:
        m = {x["model"]: x for x in r["models"]}
        c = r["criteria"]
        unit = r["target_units"].split(" (")[0]
        feat = r["features"] if r["features"] == "total" else f"partial, {r['config']['scaling']}"
        print(f"| {r['system']} | {r['target']} ({unit}) | {feat} | "
              f"{r['n_train']}/{r['n_test']} | {m['ridge']['mse']:.2e} ({m['ridge']['r2_overall']:.2f}) | "
              f"{m['cnn']['mse']:.2e} ({m['cnn']['r2_overall']:.2f}) | {c['cnn_full_mean']:.2e} | "
              f"{c['full_ratio']:.2f} | {c['small_ratio']:.2f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
