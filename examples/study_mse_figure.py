"""Linear map vs CNN per family and observable, as one figure: the test MSE of the linear map
(chosen by cross-validation among ridge / elastic net, full training set) over the CNN's (mean of its
seeds), and the same ratio at the smallest training size (ridge vs CNN, means over the subsets) —
the comparison of the paper's Fig. 4, from the ``study.json`` files that ``jaxglass study`` writes.

    python examples/study_mse_figure.py examples/study/obs docs/figures/study_mse_small.png
    python examples/study_mse_figure.py examples/study/paper docs/figures/study_mse_paper.png

A folder whose study used partial g_ab(r) is drawn as its own bar (``partial``).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

TARGETS = ("pdos", "ndos", "ins", "ixs", "raman")


def collect(root: Path) -> dict:
    """``{(family, target, features): (full_ratio, small_ratio, smallest_n)}`` of the studies in
    ``root``."""
    out = {}
    for path in sorted(root.glob("*/study.json")):
        r = json.loads(path.read_text())
        c = r.get("criteria", {})
        key = (r["system"], r.get("target", "pdos"), r["features"])
        out[key] = (c.get("full_ratio", np.nan), c.get("small_ratio", np.nan), c.get("smallest_size"))
    return out


def main(root: str, figure: str) -> None:
    rows = collect(Path(root))
    if not rows:
        raise SystemExit(f"{root}: no */study.json")
    families = sorted({k[0] for k in rows})
    series = [(t, f) for t in TARGETS for f in ("total", "partial") if any(k[1:] == (t, f) for k in rows)]
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 1.3 * len(families) + 3.5), 6.5), sharex=True)
    width = 0.8 / len(series)
    cmap = plt.get_cmap("tab10")
    for ax, which, title in ((axes[0], 0, "full training set, linear chosen by CV"),
                             (axes[1], 1, "smallest training size, ridge")):
        for j, (t, feat) in enumerate(series):
            x = np.arange(len(families)) + (j - (len(series) - 1) / 2) * width
            y = [rows.get((fam, t, feat), (np.nan,) * 3)[which] for fam in families]
            ax.bar(x, y, width, color=cmap(TARGETS.index(t)), hatch="//" if feat == "partial" else None,
                   edgecolor="k", linewidth=0.3, label=f"{t}" + (" (partial g)" if feat == "partial" else ""))
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axhline(1.2, color="k", lw=0.8, ls="--")
        ax.set_yscale("log")
        ax.set_ylabel("linear / CNN test MSE")
        ax.set_title(title, fontsize=10)
    axes[1].set_xticks(np.arange(len(families)), families)
    axes[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{root}: below 1 the linear map wins; dashed: the paper's 1.2", fontsize=10)
    fig.tight_layout()
    Path(figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=120)
    for k in sorted(rows):
        full, small, n = rows[k]
        print(*k, f"full {full:.2f}", f"n={n} {small:.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
