"""Benchmark of the structure → PDOS models on a jaxglass dataset, with scikit-learn as the peer.

For one dataset (default: a synthetic planted-linear problem of the same shape as a study, so the
script runs anywhere) and its seeded study split, times and scores:

* jaxglass ``fit_ridge`` (closed form) at the study's cross-validated ``l2``, and
  ``cross_validate_ridge`` over the study grid (5 folds);
* jaxglass ``fit_linear`` (elastic net, proximal Adam in optax, 1500 epochs) at a fixed ``l1``;
* jaxglass ``fit_cnn`` (default architecture; first call includes JIT compilation);
* the peers, if scikit-learn is installed (``pip install 'jaxglass[bench]'``): ``Ridge`` and
  ``ElasticNet`` on the same standardised data with the penalties mapped as in
  :mod:`jaxglass.models.linear` (ridge ``alpha = K F l2``; elastic net ``alpha·l1_ratio = F l1 / 2``,
  ``alpha (1 − l1_ratio) = F l2``), so both solve the same problem: the table shows the test MSE of
  both and the relative difference of the fitted weights.

Usage::

    .venv/bin/python benchmarks/models.py [--dataset out/datasets/amc] [--out benchmarks/results/models.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np


def _timed(fn, *a, **k):
    import jax

    t = time.perf_counter()
    out = jax.block_until_ready(fn(*a, **k))  # JAX dispatches asynchronously: wait for the result
    return out, time.perf_counter() - t


def _objective(W, b, Xs, Ys, l1, l2):
    """The jaxglass elastic-net objective in scaled units (module docstring of models.linear)."""
    R = Ys - Xs @ W.T - b
    return float(np.mean(R**2) + l1 * np.abs(W).sum() + l2 * (W**2).sum())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None, help="dataset directory (default: synthetic)")
    ap.add_argument("--l1", type=float, default=1e-4)
    ap.add_argument("--out", default="benchmarks/results/models.json")
    args = ap.parse_args(argv)

    import jax

    import jaxglass
    from jaxglass import study
    from jaxglass.models import (
        LinearSPRConfig,
        cross_validate_ridge,
        fit_cnn,
        fit_linear,
        fit_ridge,
        mse,
        predict,
        predict_cnn,
    )

    jaxglass.enable_x64()
    cfg = study.StudyConfig()
    if args.dataset:
        from jaxglass.data import load_dataset

        ds = load_dataset(args.dataset)
        X, Y, knob, name = ds.rdf_total, ds.pdos_total, ds.knob, args.dataset
    else:
        rng = np.random.default_rng(0)
        K, R, F = 200, 200, 300
        X = 1 + 0.3 * rng.standard_normal((K, R)).cumsum(1) / np.sqrt(R)
        Y = X @ (0.01 * rng.standard_normal((F, R))).T + 1e-3 * rng.standard_normal((K, F))
        knob, name = np.linspace(0, 1, K), "synthetic K=200 R=200 F=300"
    tr, te = study.split_indices(knob, cfg.test_fraction, cfg.seed)
    Xtr, Ytr, Xte, Yte = X[tr], Y[tr], X[te], Y[te]
    rows = []

    (l2, _), t_cv = _timed(cross_validate_ridge, Xtr, Ytr, cfg.l2_grid, 5, 0)
    rows.append(dict(method="jaxglass cross_validate_ridge (19 l2 x 5 folds)", seconds=t_cv, test_mse=None))
    fit_ridge(Xtr, Ytr, l2)  # warm-up (eager jnp ops compile once per shape)
    ridge, t = _timed(fit_ridge, Xtr, Ytr, l2)
    rows.append(dict(method=f"jaxglass fit_ridge (l2={l2:.3g})", seconds=t,
                     test_mse=mse(Yte, predict(ridge, Xte))))
    enc = LinearSPRConfig(l1=args.l1, l2=cfg.en_l2, max_epochs=cfg.en_max_epochs, patience=None)
    en, t_en1 = _timed(fit_linear, Xtr, Ytr, enc)
    en, t_en = _timed(fit_linear, Xtr, Ytr, enc)
    rows.append(dict(method=f"jaxglass fit_linear elastic net (l1={args.l1:g}, {enc.max_epochs} epochs)",
                     seconds=t_en, first_call_seconds=t_en1, test_mse=mse(Yte, predict(en, Xte)),
                     nonzero=float(np.mean(np.asarray(en.W) != 0))))
    cnn, t_c1 = _timed(fit_cnn, Xtr, Ytr, cfg.cnn_config(0))
    cnn, t_c = _timed(fit_cnn, Xtr, Ytr, cfg.cnn_config(0))
    rows.append(dict(method="jaxglass fit_cnn (default, early stopping)", seconds=t_c,
                     first_call_seconds=t_c1, test_mse=mse(Yte, np.asarray(predict_cnn(cnn, Xte)))))
    try:
        from sklearn.linear_model import ElasticNet, Ridge
    except ImportError:
        print("scikit-learn not installed: peer rows skipped (pip install 'jaxglass[bench]')")
    else:
        xs, ys = ridge.x_scaler, ridge.y_scaler
        Xs = np.asarray(xs.transform(Xtr))
        Ys = np.asarray(ys.transform(Ytr))
        Xts = np.asarray(xs.transform(Xte))
        K, F = Ys.shape
        sk, t = _timed(Ridge(alpha=K * F * l2).fit, Xs, Ys)
        P = np.asarray(ys.inverse_transform(sk.predict(Xts)))
        dW = np.linalg.norm(sk.coef_ - np.asarray(ridge.W)) / np.linalg.norm(sk.coef_)
        rows.append(dict(method="scikit-learn Ridge (same problem)", seconds=t, test_mse=mse(Yte, P),
                         rel_weight_diff=float(dW)))
        a_l1, a_l2 = F * args.l1 / 2, F * cfg.en_l2
        alpha = a_l1 + a_l2
        ske, t = _timed(ElasticNet(alpha=alpha, l1_ratio=a_l1 / alpha, max_iter=20000, tol=1e-8).fit, Xs, Ys)
        P = np.asarray(ys.inverse_transform(ske.predict(Xts)))
        dW = np.linalg.norm(ske.coef_ - np.asarray(en.W)) / np.linalg.norm(ske.coef_)
        o_sk = _objective(ske.coef_, ske.intercept_, Xs, Ys, args.l1, cfg.en_l2)
        o_jg = _objective(np.asarray(en.W), np.asarray(en.b), Xs, Ys, args.l1, cfg.en_l2)
        rows.append(dict(method="scikit-learn ElasticNet (coordinate descent, same problem)", seconds=t,
                         test_mse=mse(Yte, P), rel_weight_diff=float(dW),
                         nonzero=float(np.mean(ske.coef_ != 0)), objective=o_sk, objective_jaxglass=o_jg))
        print(f"elastic-net objective: jaxglass (proximal Adam) {o_jg:.6e}, scikit-learn {o_sk:.6e} "
              f"(relative difference {(o_jg - o_sk) / o_sk:+.2e})")

    print(f"\nmodels benchmark: {name}; {len(tr)} train / {len(te)} test, features {X.shape[1]}, "
          f"targets {Y.shape[1]}; jax {jax.__version__}, {os.cpu_count()} CPUs\n")
    print("| method | seconds | first call s | test MSE | rel. weight diff vs jaxglass | nonzero W |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        tm = f"{r['test_mse']:.4e}" if r["test_mse"] is not None else "–"
        nan = float("nan")
        print(f"| {r['method']} | {r['seconds']:.3f} | {r.get('first_call_seconds', nan):.2f} | {tm} | "
              f"{r.get('rel_weight_diff', nan):.2e} | {r.get('nonzero', nan):.3f} |")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(dict(dataset=name, rows=rows, python=sys.version.split()[0], machine=platform.platform(),
                       jax=jax.__version__), fh, indent=2)
    os.replace(tmp, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
