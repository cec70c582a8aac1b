"""Reference vs predicted PDOS of test glasses for every family, as one figure: the analogue of the
paper's Fig. 4 panels (the most crystal-like, a medium and the most disordered test glass of each
family; reference from the Hessian, linear maps and CNN). It stacks the ``predictions.png`` that
``jaxglass study`` writes into each family's PDOS folder (total g(r)), in family order.

    python examples/study_predictions_figure.py examples/study/paper docs/figures/study_predictions_paper.png
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def pdos_folders(root: Path) -> list[Path]:
    """The folders under ``root`` whose study is the PDOS on the total g(r), sorted by family."""
    found = []
    for path in sorted(root.glob("*/study.json")):
        r = json.loads(path.read_text())
        pdos = r.get("target", "pdos") == "pdos" and r["features"] == "total"
        if pdos and (path.parent / "predictions.png").exists():
            found.append((r["system"], path.parent))
    return [p for _, p in sorted(found)]


def main(root: str, figure: str, width_px: int = 1200) -> None:
    folders = pdos_folders(Path(root))
    if not folders:
        raise SystemExit(f"{root}: no PDOS study folder with predictions.png")
    images = [plt.imread(p / "predictions.png") for p in folders]
    heights = [im.shape[0] / im.shape[1] for im in images]
    fig, axes = plt.subplots(len(images), 1, figsize=(width_px / 100, width_px / 100 * sum(heights)),
                             gridspec_kw={"height_ratios": heights, "hspace": 0.0})
    for ax, im in zip(axes if len(images) > 1 else [axes], images):
        ax.imshow(im, interpolation="antialiased")
        ax.axis("off")
    fig.subplots_adjust(left=0, right=1, top=1, bottom=0)
    Path(figure).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(figure, dpi=100)
    print(f"{figure}: {', '.join(p.name for p in folders)}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
