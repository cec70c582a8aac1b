"""Does the powder average's sampling noise limit how well INS/IXS are learned? Same structures, two averages.

Copies a dataset whose records hold converged powder averages (``jaxglass generate``'s default),
recomputes the copy's INS/IXS with the former average (at most 48 vectors per |Q| shell, nearest
Fibonacci directions: ``ObservableConfig(n_directions=48)``) and runs the same study (ridge + CNN,
same split, same seeds) on both, so the only difference between the two rows is the powder average.

    PYTHONPATH=. python examples/powder_ab.py out/datasets/cualzr --system cualzr --out out/powder_ab/cualzr

Writes ``OUT/{converged,48}-{ins,ixs}/study.json`` and prints one table row per target. docs/observables.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jaxglass
from jaxglass.data import ObservableConfig, extend_dataset


def _study(system: str, dataset: Path, out: Path, target: str) -> dict:
    if not (out / "study.json").exists():
        subprocess.run([sys.executable, "-m", "jaxglass.cli", "study", "--system", system,
                        "--dataset", str(dataset), "--out", str(out), "--target", target,
                        "--models", "ridge", "cnn", "--train-sizes", "8", "--n-seeds", "2", "--quiet"],
                       check=True)
    return json.loads((out / "study.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--system", required=True)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    jaxglass.enable_x64()
    old = args.out / "dataset-48"
    if not old.exists():
        shutil.copytree(args.dataset, old)
    extend_dataset(old, ObservableConfig(n_directions=48), recompute=True, progress=False)
    print("| family | target | powder average | ridge test MSE (R²) | CNN test MSE (mean of 2 seeds) |")
    print("|---|---|---|---|---|")
    for target in ("ins", "ixs"):
        for label, ds in (("converged", args.dataset), ("48 directions", old)):
            name = "converged" if label == "converged" else "48"
            r = _study(args.system, ds, args.out / f"{name}-{target}", target)
            m = {x["model"]: x for x in r["models"]}
            ridge = m["ridge"]
            print(f"| {args.system} | {target} | {label} | {ridge['mse']:.2e} ({ridge['r2_overall']:.2f}) "
                  f"| {r['criteria']['cnn_full_mean']:.2e} |", flush=True)


if __name__ == "__main__":
    main()
