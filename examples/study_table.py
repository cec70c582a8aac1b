"""Collect ``jaxglass study`` results (``examples/study/<system>/study.json``) into the README table.

    python examples/study_table.py [examples/study]
"""

import json
import sys
from pathlib import Path


def main(root: str = "examples/study") -> None:
    rows = []
    for path in sorted(Path(root).glob("*/study.json")):
        r = json.loads(path.read_text())
        m = {x["model"]: x for x in r["models"]}
        lc = r["learning_curve"]
        c = r.get("criteria", {})

        def cell(name, m=m):
            return f"{m[name]['mse']:.2e} ({m[name]['r2_overall']:.3f})" if name in m else "–"

        small = lc["sizes"][0]
        rows.append(
            f"| {r['system']} | {r['n_atoms']} | {r['n_train']}/{r['n_test']} | {cell('ridge')} | "
            f"{cell('elastic-net')} | {cell('cnn')} | {c.get('full_ratio', float('nan')):.2f} | "
            f"{small}: {lc['ridge']['mean'][0]:.2e} vs {lc['cnn']['mean'][0]:.2e} "
            f"({c.get('small_ratio', float('nan')):.2f}) |"
        )
    print("| family | atoms | train/test | ridge (L2) MSE (R²) | elastic net (L1) MSE (R²) | CNN MSE (R²) "
          "| ridge/CNN, full | smallest n: ridge vs CNN (ratio) |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main(*sys.argv[1:])
