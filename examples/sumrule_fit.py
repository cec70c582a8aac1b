"""Sum rules of the linear map g(r) → PDOS on the paper KA datasets (lj2d, lj3d): docs/sumrules.md.

1. The data: per structure, the exact ⟨ω²⟩ = Tr D/(dN) (pair sum, ``sumrules.trace_dynamical``)
   against ∫ω² PDOS dω (− σ², the broadening) and against Σ K·x with the kernel of the smoothed
   features (``moment_kernel(..., r_sigma)``).
2. Moments of an unconstrained ridge map (l2 by leave-one-out, all structures) against the kernel.
3. Learning curves, ridge unconstrained vs constrained (ω⁰ and ω² moments, ``moment_constraints``;
   and ω⁰ alone):
   test MSE at n = 8, 16 and all training structures, mean ± std over random splits.

Features: ``weighted`` = the composition-weighted partials x_αβ = c_α c_β g_αβ (channels AA, AB, BB;
the structures' compositions differ, and ⟨ω²⟩ is linear in these with a fixed kernel: exact) and
``total`` = g(r) = Σ x_αβ (a kernel for it assumes every partial has the total's shape: approximate).

    PYTHONPATH=. python examples/sumrule_fit.py --out docs/figures --splits 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import jaxglass
from jaxglass import sumrules as sr
from jaxglass.data.dataset import load_dataset, load_structure
from jaxglass.data.transfer import import_dataset
from jaxglass.models import GridEdgeWarning, Ridge
from jaxglass.potentials import kob_andersen
from jaxglass.study import split_indices


def load(family: str):
    d = tempfile.mkdtemp(prefix=f"sumrule_{family}_")
    import_dataset(Path("examples/datasets/paper") / f"{family}.npz", d)
    return d, load_dataset(d)


def data_check(path, ds, pot):
    """Exact ⟨ω²⟩ per structure, the composition-weighted features and their (composition-free) kernel."""
    structures = [load_structure(path, int(k)) for k in ds.indices]
    comps = [sr.composition(s) for s in structures]
    exact = np.array([pot.freq_factor**2 * float(sr.trace_dynamical(pot, s)) / (s.dim * s.n_atoms)
                      for s in structures])
    c = np.stack([x.fractions for x in comps])
    iu = np.triu_indices(c.shape[1])
    g = np.nan_to_num(ds.rdf_partial)
    x = (c[:, :, None, None] * c[:, None, :, None] * g)  # (K, S, S, R): x_αβ = c_α c_β g_αβ
    unit = dataclasses.replace(comps[0], fractions=np.ones(c.shape[1]))  # kernel without c_α c_β
    K = np.asarray(sr.moment_kernel(pot, ds.r, unit, r_sigma=ds.config.r_sigma))
    K0 = np.asarray(sr.moment_kernel(pot, ds.r, unit))
    feats = dict(weighted=(np.where(iu[0] == iu[1], 1.0, 2.0)[None, :, None] * x[:, iu[0], iu[1]],
                           sr.feature_kernel(K, "partial") / np.where(iu[0] == iu[1], 1.0, 2.0)[:, None]),
                 total=(np.asarray(ds.rdf_total), None))
    cbar = c.mean(0)
    feats["total"] = (feats["total"][0], (cbar[:, None, None] * cbar[None, :, None] * K).sum((0, 1)))
    w = sr.trapezoid_weights(ds.freq)
    Xw = feats["weighted"][0]
    check = dict(
        n_structures=len(ds.indices), r_sigma=ds.config.r_sigma, freq_sigma=ds.config.freq_sigma,
        zeroth_min=float((ds.pdos_total @ w).min()), zeroth_max=float((ds.pdos_total @ w).max()),
        pdos_minus_exact_mean=float(np.mean(ds.pdos_total @ (w * ds.freq**2) - exact)),
        pdos_minus_exact_std=float(np.std(ds.pdos_total @ (w * ds.freq**2) - exact)),
        kernel_rel_err_max=float(np.max(np.abs(np.einsum("kcr,cr->k", Xw, feats["weighted"][1]) / exact
                                               - 1))),
        plain_kernel_rel_err_mean=float(np.mean(np.einsum("kabr,abr->k", x, K0) / exact - 1)),
        total_kernel_rel_err_rms=float(np.sqrt(np.mean((ds.rdf_total @ feats["total"][1] / exact - 1)
                                                       ** 2))),
        exact_range=[float(exact.min()), float(exact.max())])
    return feats, check


def moments_table(ds, feats):
    rows = {}
    for name, (X, k) in feats.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GridEdgeWarning)
            est = Ridge(scaling="channel").fit(X, ds.pdos_total)
        m = sr.compare_moments(est, ds.freq, k)
        rows[name] = dict(l2=est.l2_, correlation=m.correlation, relative_error=m.relative_error,
                          zeroth_relative=m.zeroth_relative, b_zeroth=m.b_zeroth, b_second=m.b_second,
                          second=m.second.tolist(), kernel=m.kernel.tolist(), zeroth=m.zeroth.tolist())
    return rows


def learning_curves(ds, feats, sizes, n_splits):
    out = {}
    Y = ds.pdos_total
    for name, (X, k) in feats.items():
        variants = {"unconstrained": None, "constrained": sr.moment_constraints(ds.freq, k),
                    "zeroth only": sr.moment_constraints(ds.freq, n_features=X[0].size)}
        res = {lab: {} for lab in variants}
        for split in range(n_splits):
            tr, te = split_indices(ds.knob, 0.2, split)
            rng = np.random.default_rng([split, 7])
            for n in [*sizes, len(tr)]:
                sub = tr if n >= len(tr) else np.sort(rng.choice(tr, n, replace=False))
                for label, c in variants.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", GridEdgeWarning)
                        est = Ridge(scaling="channel", constraints=c).fit(X[sub], Y[sub])
                    mse = float(np.mean((est.predict(X[te]) - Y[te]) ** 2))
                    res[label].setdefault(str(n if n < len(tr) else "all"), []).append(mse)
        out[name] = {lab: {n: [float(np.mean(v)), float(np.std(v)), len(v)] for n, v in d.items()}
                     for lab, d in res.items()}
    return out


def figure(results, path):
    import matplotlib.pyplot as plt

    fams = list(results)
    fig, axes = plt.subplots(2, len(fams), figsize=(5 * len(fams), 7.5), squeeze=False)
    for j, fam in enumerate(fams):
        r = results[fam]
        k = np.asarray(r["moments"]["weighted"]["kernel"]).reshape(3, -1)
        s = np.asarray(r["moments"]["weighted"]["second"]).reshape(3, -1)
        ax = axes[0, j]
        for c, lab in enumerate(("AA", "AB", "BB")):
            ax.plot(r["r"], k[c], color=f"C{c}", lw=2, label=f"exact kernel {lab}")
            ax.plot(r["r"], s[c], color=f"C{c}", ls="--", lw=1, label=f"ridge ω²-moment {lab}")
        ax.set(title=f"{fam}: ω²-moments of W (weighted partials)", xlabel="r (σ)", ylabel="ω² moment")
        ax.legend(fontsize=7)
        ax = axes[1, j]
        for i, feat in enumerate(("weighted", "total")):
            for ls, lab in (("-", "unconstrained"), ("--", "constrained"), (":", "zeroth only")):
                d = r["curves"][feat][lab]
                ns = [int(n) if n != "all" else r["n_train"] for n in d]
                ax.errorbar(ns, [v[0] for v in d.values()], yerr=[v[1] for v in d.values()], ls=ls,
                            marker="o", color=f"C{i}", capsize=3, label=f"{feat}, {lab}")
        ax.set(xscale="log", yscale="log", xlabel="training structures", ylabel="test MSE",
               title=f"{fam}: ridge learning curves")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/figures")
    ap.add_argument("--families", nargs="+", default=["lj2d", "lj3d"])
    ap.add_argument("--sizes", nargs="+", type=int, default=[8, 16])
    ap.add_argument("--splits", type=int, default=5)
    args = ap.parse_args()
    jaxglass.enable_x64()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pot = kob_andersen()  # the datasets' potential: KA with the default "c2" cutoff smoothing
    results = {}
    for fam in args.families:
        t0 = time.time()
        path, ds = load(fam)
        feats, check = data_check(path, ds, pot)
        res = dict(check=check, moments=moments_table(ds, feats), r=np.asarray(ds.r).tolist(),
                   curves=learning_curves(ds, feats, args.sizes, args.splits),
                   n_train=len(split_indices(ds.knob, 0.2, 0)[0]))
        res["seconds"] = time.time() - t0
        results[fam] = res
        print(fam, json.dumps(check), f"{res['seconds']:.0f} s")
        for name, m in res["moments"].items():
            print(f"  moments {name}: corr {m['correlation']:.4f} rel.err {m['relative_error']:.3f} "
                  f"zeroth_rel {m['zeroth_relative']:.2e} b0 {m['b_zeroth']:.5f} b2 {m['b_second']:.3f}")
        for name, d in res["curves"].items():
            for lab, v in d.items():
                print(f"  curve {name} {lab}: "
                      + ", ".join(f"n={n}: {m:.3e} ± {s:.1e}" for n, (m, s, _) in v.items()))
    (out / "sumrule_fit.json").write_text(json.dumps(results))
    figure(results, out / "sumrule_fit.png")


if __name__ == "__main__":
    main()
