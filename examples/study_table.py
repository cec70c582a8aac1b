"""Collect ``jaxglass study`` results (``examples/study/<system>/study.json``) into the results table
of docs/study.md
(a non-PDOS target is named next to the family).

    python examples/study_table.py [examples/study]        # or examples/study/paper
"""

import json
import sys
from pathlib import Path


def main(root: str = "examples/study") -> None:
    rows, seeds = [], set()
    for path in sorted(Path(root).glob("*/study.json")):
        r = json.loads(path.read_text())
        seeds.add(r["config"]["n_seeds"])
        m = {x["model"]: x for x in r["models"]}
        lc = r["learning_curve"]
        c = r.get("criteria", {})

        def cell(name, m=m):
            return f"{m[name]['mse']:.2e} ({m[name]['r2_overall']:.3f})" if name in m else "–"

        cnn = f"{lc['cnn']['mean'][-1]:.2e} ± {lc['cnn']['std'][-1]:.0e}"
        small = lc["sizes"][0]
        target = r.get("target", "pdos")
        name = r["system"] if target == "pdos" else f"{r['system']} ({target})"
        rows.append(
            f"| {name} | {r['features']} | {r['n_atoms']} | {r['n_train']}/{r['n_test']} | "
            f"{cell('ridge')} | {cell('elastic-net')} | {cnn} | "
            f"{c.get('full_ratio', float('nan')):.2f} ({c.get('linear', '?')}) | "
            f"{small}: {lc['ridge']['mean'][0]:.2e} vs {lc['cnn']['mean'][0]:.2e} "
            f"({c.get('small_ratio', float('nan')):.2f}) |"
        )
    print("| family | g(r) | atoms | train/test | ridge (L2) test MSE (R²) | elastic net (L1) test MSE (R²) "
          f"| CNN test MSE ({'/'.join(map(str, sorted(seeds)))} seeds) "
          "| linear/CNN at full data (linear chosen by CV) "
          "| smallest n: ridge vs CNN test MSE (ratio) |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
