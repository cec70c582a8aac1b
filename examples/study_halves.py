"""Linear (ridge, LOO-tuned) vs CNN (3 seeds) on the crystal-like (knob < 0.5) and the glassy
(knob >= 0.5) half of a dataset, each split 80/20 as in the study.

    python examples/study_halves.py lj3d lj2d      # datasets in out/datasets/<system>
    python examples/study_halves.py out/dev/lj2d-comp --out examples/study/lj2d-comp/halves.json

An argument that is a directory is used as the dataset itself; ``--out`` writes the numbers as JSON.
"""

import argparse
import json
from pathlib import Path

import numpy as np

import jaxglass
from jaxglass import study
from jaxglass.data import load_dataset

jaxglass.enable_x64()
ap = argparse.ArgumentParser()
ap.add_argument("datasets", nargs="+", help="system names (out/datasets/<name>) or dataset directories")
ap.add_argument("--out", default=None, help="JSON file for the results")
args = ap.parse_args()
results = []
for arg in args.datasets:
    path = Path(arg) if Path(arg).is_dir() else Path(f"out/datasets/{arg}")
    ds = load_dataset(path)
    sysname = ds.config.system
    cfg = study.StudyConfig()
    X, Y = ds.rdf_total, ds.pdos_total
    for lo, hi in [(-2, 0.5), (0.5, 1.01)]:
        sel = np.flatnonzero((ds.knob >= lo) & (ds.knob < hi))
        tr, te = study.split_indices(ds.knob[sel], 0.2, 0)
        tr, te = sel[tr], sel[te]
        rm, _ = study.fit_ridge_cv(X[tr], Y[tr], cfg)
        res = [study.scores(Y[te], study.predict_any(rm, X[te]))["mse"]]
        cn = []
        for s in range(3):
            m, _ = study.fit_cnn_default(X[tr], Y[tr], cfg, s)
            cn.append(study.scores(Y[te], study.predict_any(m, X[te]))["mse"])
        print(f"{sysname} knob [{lo},{hi}): n_train {len(tr)} n_test {len(te)} ridge {res[0]:.3e} "
              f"cnn {np.mean(cn):.3e}+-{np.std(cn):.1e} ratio {res[0] / np.mean(cn):.2f}", flush=True)
        results.append(dict(system=sysname, dataset=str(path), knob_range=[max(lo, 0.0), min(hi, 1.0)],
                            includes_crystal=bool(lo < 0), n_train=len(tr), n_test=len(te), ridge_mse=res[0],
                            cnn_mse=float(np.mean(cn)), cnn_mse_std=float(np.std(cn)),
                            ratio=res[0] / float(np.mean(cn))))
if args.out:
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1))
