"""Best pair kernels for Tr D of the many-body families (amc, sic, cualzr, hea): docs/sumrules.md.

Per family: the structures of the committed paper dataset (imported into a temporary directory) plus
small generated ones (``--small DIR``: built there with ``jaxglass.data.build_dataset``, no
observables, if missing). Per structure: the exact per-atom traces t_i = Σ_a H_{ia,ia}/m_i
(``kernel_fit.atom_traces``, autodiff Hessian; Σ t_i = Tr D, checked against Σλ of the stored modes).
The best pair kernel (``kernel_fit.fit_pair_kernel``, Gaussian basis, ordered species pairs, l2 chosen
by leave-one-structure-out) is scored on held-out structures: per-atom R², and ⟨ν²⟩ = f² Tr D/(3N)
(relative error, R² across structures). The bare pair terms of the potential (EAM φ_αβ, Vashishta
two-body; LB Tersoff has none) are scored the same way (``sumrules.trace_dynamical`` of the pair
terms alone): how much of Tr D is pair-like without fitting.

    PYTHONPATH=. python examples/sumrule_kernels.py --small /tmp/sumrule_small --out docs/figures
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

import jaxglass
from jaxglass import kernel_fit as kf
from jaxglass import sumrules as sr
from jaxglass.data.build import build_dataset
from jaxglass.data.config import DatasetConfig
from jaxglass.data.dataset import load_dataset
from jaxglass.data.records import compute_record
from jaxglass.data.schema import read_record, record_path
from jaxglass.data.transfer import import_dataset
from jaxglass.families import get as family
from jaxglass.generate import family_potential
from jaxglass.structure import from_arrays

#: small structures generated per family (dataset seed 1; index 0 is the crystal)
SMALL = {"amc": 0, "sic": 5, "cualzr": 6, "hea": 12}
#: Gaussian basis width (Å) per family
WIDTH = {"amc": 0.1, "sic": 0.12, "cualzr": 0.15, "hea": 0.15}
L2 = [1e-10, 1e-8, 1e-6, 1e-4, 1e-2]  # ridge penalties tried (relative), chosen by leave-one-out


def structures_of(fam: str, small_root: Path):
    """(structures, Tr D from the stored modes, source labels, datasets) of the paper + small sets."""
    out = []
    paper = Path("examples/datasets/paper") / f"{fam}.npz"
    dirs = []
    if paper.exists():
        d = tempfile.mkdtemp(prefix=f"kern_{fam}_")
        import_dataset(paper, d)
        dirs.append(("paper", d))
    if SMALL[fam]:
        d = small_root / fam
        cfg = DatasetConfig.make(fam, SMALL[fam], size="small", seed=1)
        build_dataset(d, cfg, workers=0, progress=False, compute=partial(compute_record, observables=False))
        dirs.append(("small", str(d)))
    pot = family_potential(fam)
    for label, d in dirs:
        for k in load_dataset(d).indices:
            rec = read_record(record_path(d, int(k)))
            nu = np.asarray(rec["frequencies"], np.float64)
            trace = float(np.sum(np.sign(nu) * (nu / pot.freq_factor) ** 2))
            out.append((from_arrays(rec), trace, label, float(rec["knob"])))
    return pot, out


def bare_pair_trace(pot, s) -> float:
    pair = pot.replace(terms=tuple(t for t in pot.terms if t.is_pair))
    return float(sr.trace_dynamical(pair, s)) if pair.terms else float("nan")


def r2(y, p):
    y, p = np.asarray(y), np.asarray(p)
    return float(1 - np.sum((y - p) ** 2) / np.sum((y - y.mean()) ** 2))


def family_basis(fam, structs):
    """Gaussians from just below the closest pair to r_max of the g(r) grid (cut at 8 widths)."""
    fd = family(fam).defaults
    w = WIDTH[fam]
    rmin = min(float(np.min(pair_min(s))) for s, *_ in structs)
    half = min(float(np.min(np.asarray(s.box)[np.asarray(s.periodic)])) / 2 for s, *_ in structs)
    r_hi = min(fd.r_max, half - 1e-3) - 8 * w
    n = int(round((r_hi - (rmin - w)) / w)) + 1
    return kf.gaussian_basis(rmin - w, r_hi, n, dim=sum(structs[0][0].periodic), width=w)


def pair_min(s):
    from jaxglass.neighbors import pair_list
    from jaxglass.space import displacement

    i, j = pair_list(s, 3.0)
    pos = np.asarray(s.positions)
    return np.linalg.norm(displacement(pos[j] - pos[i], np.asarray(s.box), s.periodic), axis=1).min()


def scores(pot, fam, structs, traces, basis):
    """LOSO over the structures with traces: l2 choice, held-out per-atom and ⟨ν²⟩ scores."""
    f2 = pot.freq_factor**2
    idx = list(range(len(structs)))
    best = None
    designs = [kf.pair_design(pot, s, basis) for s, *_ in structs]
    for l2 in L2:
        pred, atoms_y, atoms_p = [], [], []
        for k in idx:
            fit = kf.fit_pair_kernel(pot, [structs[i][0] for i in idx if i != k], basis,
                                     [traces[i] for i in idx if i != k], l2=l2,
                                     designs=[designs[i] for i in idx if i != k])
            p = kf.predict_atom_traces(pot, fit, structs[k][0], designs[k])
            pred.append(p.sum())
            atoms_y.append(traces[k])
            atoms_p.append(p)
        err = np.concatenate(atoms_p) - np.concatenate(atoms_y)
        if best is None or np.mean(err**2) < best[0]:
            best = (np.mean(err**2), l2, np.array(pred), np.concatenate(atoms_y), np.concatenate(atoms_p))
    _, l2, pred, ay, ap = best
    n3 = np.array([3 * s.n_atoms for s, *_ in structs])
    exact = np.array([t.sum() for t in traces]) * f2 / n3
    pr = pred * f2 / n3
    return l2, dict(l2=l2, atom_r2=r2(ay, ap), nu2_exact=exact.tolist(), nu2_loso=pr.tolist(),
                    nu2_rel_err_mean=float(np.mean(np.abs(pr / exact - 1))),
                    nu2_rel_err_max=float(np.max(np.abs(pr / exact - 1))), nu2_r2=r2(exact, pr))


def single_structure_fits(pot, structs, traces, basis, l2):
    """Fit on one glass at a time (crystals have too few distinct distances), score ⟨ν²⟩ on all the
    other structures: median and max |relative error|."""
    designs = [kf.pair_design(pot, s, basis) for s, *_ in structs]
    errs = []
    for k in range(len(structs)):
        if structs[k][3] < 0:
            continue
        fit = kf.fit_pair_kernel(pot, [structs[k][0]], basis, [traces[k]], l2=l2, designs=[designs[k]])
        for i in range(len(structs)):
            if i != k:
                p = kf.predict_atom_traces(pot, fit, structs[i][0], designs[i])
                errs.append(p.sum() / traces[i].sum() - 1)
    return float(np.median(np.abs(errs))), float(np.max(np.abs(errs)))


def run_family(fam, small_root, max_traces):
    t0 = time.time()
    pot, structs = structures_of(fam, small_root)
    order = np.argsort([-1 if lab == "small" else i for i, (_, _, lab, _) in enumerate(structs)],
                       kind="stable")
    with_traces = [structs[i] for i in order[:max_traces]]  # all small ones first, then paper ones
    held = [structs[i] for i in order[max_traces:]]
    traces = [kf.atom_traces(pot, s) for s, *_ in with_traces]
    t_traces = time.time() - t0
    check = max(abs(t.sum() / tr - 1) for t, (_, tr, _, _) in zip(traces, with_traces))
    basis = family_basis(fam, structs)
    l2, res = scores(pot, fam, with_traces, traces, basis)
    fit = kf.fit_pair_kernel(pot, [s for s, *_ in with_traces], basis, traces, l2=l2)
    f2 = pot.freq_factor**2
    if held:  # structures with Tr D from their modes only (amc)
        ex = np.array([tr * f2 / (3 * s.n_atoms) for s, tr, *_ in held])
        pr = np.array([kf.predict_atom_traces(pot, fit, s).sum() * f2 / (3 * s.n_atoms) for s, *_ in held])
        res.update(held_nu2_exact=ex.tolist(), held_nu2_pred=pr.tolist(), held_r2=r2(ex, pr),
                   held_rel_err_mean=float(np.mean(np.abs(pr / ex - 1))),
                   held_rel_err_max=float(np.max(np.abs(pr / ex - 1))))
    allx = [(s, tr) for s, tr, *_ in structs]
    bare = np.array([bare_pair_trace(pot, s) / tr for s, tr in allx])
    single = single_structure_fits(pot, with_traces, traces, basis, l2)
    r = np.linspace(basis.centres[0], basis.r_cut, 400)
    res.update(
        n_structures=len(structs), n_with_traces=len(with_traces),
        n_atoms=sorted({s.n_atoms for s, _ in allx}),
        sources={lab: sum(1 for *_, lb, _ in structs if lb == lab) for lab in ("paper", "small")},
        trace_vs_modes_max_rel=float(check),
        bare_pair_fraction=None if np.isnan(bare).all() else [float(np.min(bare)), float(np.max(bare))],
        single_structure_rel_err=single, species=list(pot.species), basis_n=len(basis.centres),
        basis_width=basis.width, basis_range=[float(basis.centres[0]), basis.r_cut],
        r=r.tolist(), kernel=kf.kernel_values(fit, r).tolist(), coef=fit.coef.tolist(),
        centres=basis.centres.tolist(), traces_seconds=t_traces, seconds=time.time() - t0)
    return res


def figure(results, path):
    import matplotlib.pyplot as plt

    fams = list(results)
    fig, axes = plt.subplots(2, len(fams), figsize=(4.2 * len(fams), 7), squeeze=False)
    for j, fam in enumerate(fams):
        res = results[fam]
        ax = axes[0, j]
        K, sp = np.asarray(res["kernel"]), res["species"]
        for a in range(len(sp)):
            for b in range(len(sp)):
                ax.plot(res["r"], K[a, b], lw=1.2 if a == b else 0.8, ls="-" if a <= b else "--",
                        label=f"{sp[a]}-{sp[b]}")
        ax.axhline(0, color="k", lw=0.5)
        ax.set(title=f"{fam}: best pair kernel K(r)", xlabel="r (Å)", ylabel="K (eV/Å²)")
        ax.legend(fontsize=6, ncol=2)
        ax = axes[1, j]
        ex, pr = np.asarray(res["nu2_exact"]), np.asarray(res["nu2_loso"])
        ax.plot(ex, pr, "o", ms=4, label=f"leave-one-out (R² {res['nu2_r2']:.3f})")
        if "held_nu2_exact" in res:
            ax.plot(res["held_nu2_exact"], res["held_nu2_pred"], "s", ms=3, mfc="none",
                    label=f"held out (R² {res['held_r2']:.3f})")
        lo, hi = ax.get_xlim()
        ax.plot([lo, hi], [lo, hi], "k:", lw=0.8)
        ax.set(xlabel="exact ⟨ν²⟩ = f² Tr D/(3N) (THz²)", ylabel="pair-kernel ⟨ν²⟩ (THz²)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/figures")
    ap.add_argument("--small", default="/tmp/sumrule_small", help="where the small datasets are built")
    ap.add_argument("--families", nargs="+", default=["amc", "sic", "cualzr", "hea"])
    ap.add_argument("--max-traces", type=int, default=12, help="structures given per-atom traces")
    args = ap.parse_args()
    jaxglass.enable_x64()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for fam in args.families:
        res = run_family(fam, Path(args.small), args.max_traces)
        results[fam] = res
        keys = ("n_structures", "n_with_traces", "n_atoms", "sources", "trace_vs_modes_max_rel", "l2",
                "atom_r2", "nu2_r2", "nu2_rel_err_mean", "nu2_rel_err_max", "held_r2", "held_rel_err_mean",
                "held_rel_err_max", "bare_pair_fraction", "single_structure_rel_err", "basis_n",
                "traces_seconds", "seconds")
        print(fam, json.dumps({k: res[k] for k in keys if k in res}), flush=True)
    path = out / "sumrule_kernels.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    old.update(results)
    path.write_text(json.dumps(old))
    figure(old, out / "sumrule_kernels.png")


if __name__ == "__main__":
    main()
