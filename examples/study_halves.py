"""Linear (ridge, LOO-tuned) vs CNN (3 seeds) on the crystal-like (knob < 0.5) and the glassy
(knob >= 0.5) half of a dataset, each split 80/20 as in the study.

    python examples/study_halves.py lj3d lj2d      # datasets in out/datasets/<system>
"""

import sys

import numpy as np

import jaxglass
from jaxglass import study
from jaxglass.data import load_dataset

jaxglass.enable_x64()
for sysname in sys.argv[1:]:
    ds = load_dataset(f"out/datasets/{sysname}")
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
