"""Figure: the KPM PDOS of a 10⁵-atom Kob-Andersen glass next to the dense PDOS of its 864-atom base.

Reads the spectrum that ``benchmarks/scale.py`` stored (``dos_grid``/``dos_total`` of the KPM row) and
computes the dense Γ PDOS of the base glass (``out/scale-base/lj3d.npz``) on the same grid and width.

Run: ``PYTHONPATH=. .venv/bin/python examples/kpm_large_figure.py benchmarks/results/scale_cpu_lj3d_1e5.json
--out examples/figures/kpm_lj3d_1e5.png``
"""

import argparse
import json
import sys
from pathlib import Path

import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import jaxglass  # noqa: E402
from jaxglass import phonons  # noqa: E402
from jaxglass.generate import family_potential  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from scale import _load  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("record")
    ap.add_argument("--base", default="out/scale-base/lj3d.npz")
    ap.add_argument("--out", default="examples/figures/kpm_lj3d_1e5.png")
    args = ap.parse_args()
    jaxglass.enable_x64()
    rec = json.loads(Path(args.record).read_text())
    rows = [r for r in rec["rows"] if "dos_total" in r]
    r = rows[-1]
    grid, total = np.asarray(r["dos_grid"]), np.asarray(r["dos_total"])
    sigma = 0.01 * (grid[-1] - grid[0]) / 1.08  # the default: 1 % of the width, grid ±4σ
    s, _ = _load(args.base)
    pot = family_potential("lj3d")
    dense = phonons.pdos(pot, s, jnp.asarray(grid), float(sigma), partial=False)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(grid, total, lw=1.5, label=f"KPM, N = {r['n_atoms']:,} (M = {r['moments']}, R = {r['vectors']})")
    ax.plot(grid, np.asarray(dense.total), lw=1.0, ls="--", label=f"dense, N = {s.n_atoms} (base glass)")
    ax.set_xlabel(f"ω ({r['dos_unit']})")
    ax.set_ylabel("DOS per mode (1/ω)")
    where = f"{rec['meta']['cpus']}-core CPU" if r["device"].startswith("cpu") else r["device"]
    ax.set_title(f"Kob-Andersen 3D glass: KPM in {r['t_steady_s']:.0f} s on the {where}", fontsize=10)
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(args.out, dpi=150)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
