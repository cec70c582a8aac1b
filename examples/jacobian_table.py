"""The "Jacobian consistency" table of docs/differentiable.md from the JSON files written by
`jaxglass perturb`.

.venv/bin/python examples/jacobian_table.py out/perturb/amc out/perturb/lj2d ...
"""

import json
import sys
from pathlib import Path


def _f(x) -> str:
    return "–" if x != x else f"{x:.2f}"  # NaN: not computed (directions-only runs)


def main(dirs):
    print(
        "| family | atoms | first-order order (eig / PDOS) | learned W: full J rel. error | random δx: "
        "rel. error / cosine | soft modes: rel. error / cosine | W_phys: full J rel. error held-out "
        "(in-sample) | random δx cosine | corr(W, W_phys) | sensitivity corr. (Pearson / Spearman) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for d in dirs:
        r = json.loads((Path(d) / "perturb.json").read_text())
        s, sens = r["summary"], r["sensitivity"]
        in_sample = s["physics_in_sample_rel_error"] if s.get("full_jacobian", True) else float("nan")
        cells = [
            r["system"],
            str(r["n_atoms"]),
            f"{s['eig_order_median']:.2f} / {s['pdos_order_median']:.2f}",
            _f(s["full_learned_rel_error"]),
            f"{s['random_learned_rel_error']:.2f} / {s['random_learned_cosine']:.2f}",
            f"{s['soft_learned_rel_error']:.2f} / {s['soft_learned_cosine']:.2f}",
            f"{_f(s['full_physics_rel_error'])} ({_f(in_sample)})",
            f"{s['random_physics_cosine']:.2f}",
            f"{s['kernel_correlation']:.2f}",
            f"{sens['pearson']:.2f} / {sens['spearman']:.2f}",
        ]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or sorted(str(p.parent) for p in Path("out/perturb").glob("*/perturb.json")))
