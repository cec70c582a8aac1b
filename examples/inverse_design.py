"""Inverse design on the landscape: move a glass so its PDOS approaches a target while it stays at a minimum.

Builds a small lj2d dataset in-process (jaxglass.data.build_dataset: 2D Kob-Andersen, partial-melt
knob, 64 atoms, relaxed to fmax 1e-6) unless --dataset names one, trains a ridge map y = W g + b
(jaxglass.models.Ridge, leave-one-out l2) on every structure but a held-out test split (every fourth
by knob), and takes the two most disordered test glasses: the start is the second, the target the PDOS
of the first. Design (jaxglass.design.design_on_landscape): Adam on the reference positions R of a
harmonic restraint (k/2)|x - R|², the structure always at the restrained minimum x*(R)
(jaxglass.equilibrium.biased_minimum, implicit derivative dx*/dR = k (H + kI)⁻¹), gradient of the
PDOS misfit through the exact route (potential -> Hessian -> eigenvalues -> PDOS) or the ridge
surrogate (g(r) -> W g + b); after every step x* is relaxed without the restraint to a minimum of the
physical potential (fmax 1e-6, the dataset's tolerance) and the minimum with the lowest route loss is
kept. A control takes random steps of the same size (each coordinate of R moved by ±lr) with the
same probes, choosing with the exact PDOS. Distances ‖PDOS − target‖/‖target‖ are always exact.

    PYTHONPATH=. python examples/inverse_design.py [--structures 24] [--steps 30] [--k 1000] [--lrs 0.02,0.1]

Writes examples/perturb/lj2d/inverse_design_landscape.json.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import jaxglass
from jaxglass import data
from jaxglass.data import load_dataset, load_structure
from jaxglass.design import design_on_landscape
from jaxglass.equilibrium import biased_minimum
from jaxglass.generate import family_potential
from jaxglass.minimize import minimize
from jaxglass.models import Ridge
from jaxglass.modes import pdos
from jaxglass.perturb import Grids
from jaxglass.space import displacement


def random_kicks(pot, s, target, grids, k, lr, steps, seed=0):
    """The control: R moved by ±lr per coordinate at random, same restraint and probes (exact PDOS)."""
    rng = np.random.default_rng(seed)
    tn = np.linalg.norm(target)

    def dist(st):
        y = pdos(pot, st, grids.freq, grids.freq_sigma, partial=False).total
        return float(np.linalg.norm(y - target) / tn)

    t0 = time.perf_counter()
    R, x = np.asarray(s.positions), s.positions
    best = (dist(s), s, 0.0)
    moved = 0
    for _ in range(steps):
        R = R + lr * np.sign(rng.normal(size=R.shape))
        x = biased_minimum(pot, s.with_positions(x), R, k, fmax=1e-8)
        res = minimize(pot, s.with_positions(x), fmax=1e-6)
        d = dist(res.structure)
        dx = displacement(np.asarray(res.structure.positions - s.positions), np.asarray(s.box), s.periodic)
        dx = dx - dx.mean(axis=0)  # a net translation is the same minimum
        moved += bool(np.max(np.linalg.norm(dx, axis=1)) > 1e-3)
        if res.converged and d < best[0]:
            best = (d, res.structure, res.fmax)
    seconds = time.perf_counter() - t0
    return dict(route="random steps (control)", distance_start=dist(s),
                distance_restrained=dist(s.with_positions(x)), distance_end=best[0],
                minima=moved, fmax_end=float(best[2]), seconds=seconds)


def dataset(args):
    if args.dataset:
        return args.dataset
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp()) / "lj2d"
    cfg = data.DatasetConfig.make("lj2d", args.structures, n_atoms=64, n_freq=120, n_r=60, r_max=2.5)
    t0 = time.process_time()
    data.build_dataset(out, cfg, workers=0, progress=False)
    print(f"built {args.structures} lj2d structures of 64 atoms in {time.process_time() - t0:.0f} s CPU",
          flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default=None, help="an lj2d dataset directory (default: build one)")
    ap.add_argument("--structures", type=int, default=24)
    ap.add_argument("--keep", default=None, help="build the dataset here (kept)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--k", type=float, default=1000.0, help="restraint spring constant (ε/σ²)")
    ap.add_argument("--lrs", default="0.02,0.1", help="Adam step sizes (σ), comma-separated")
    ap.add_argument("--out", default="examples/perturb/lj2d/inverse_design_landscape.json")
    args = ap.parse_args()
    jaxglass.enable_x64()
    path = dataset(args)
    ds = load_dataset(path)
    order = np.argsort(ds.knob)
    test = order[3::4]
    train = np.setdiff1d(order, test)
    ridge = Ridge().fit(ds.rdf_total[train], ds.pdos_total[train])
    W, b = ridge.coef_, ridge.intercept_
    i_start, i_target = test[-2], test[-1]
    pot = family_potential("lj2d")
    s = load_structure(path, int(ds.indices[i_start]))
    target = np.asarray(ds.pdos_total[i_target])
    grids = Grids.from_config(ds.config)
    pred = ridge.predict(ds.rdf_total[test])
    y = ds.pdos_total[test]
    err = float(np.median(np.linalg.norm(pred - y, axis=1) / np.linalg.norm(y, axis=1)))
    print(f"start: knob {ds.knob[i_start]:.3f} ({s.n_atoms} atoms); target: PDOS of knob "
          f"{ds.knob[i_target]:.3f}; ridge on {len(train)} structures, median test ‖Δy‖/‖y‖ {err:.3f}; "
          f"k {args.k}, {args.steps} steps",
          flush=True)
    rows = []
    for lr in (float(v) for v in args.lrs.split(",")):
        for route in ("exact", "linear"):
            r = design_on_landscape(pot, s, target, grids, route=route, W=W, b=b, k=args.k, steps=args.steps,
                                    learning_rate=lr)
            minima = sum(d > 1e-3 for d in r.probe_shifts)  # probes that left the starting basin
            rows.append(dict(route=route, lr=lr, distance_start=r.distance_start,
                             distance_restrained=r.distance_restrained, distance_end=r.distance_end,
                             minima=minima, fmax_end=r.fmax_end, seconds=r.seconds, probes=r.probes,
                             probe_shifts=r.probe_shifts, losses=r.losses))
            short = {k: v for k, v in rows[-1].items() if k not in ("probes", "probe_shifts", "losses")}
            print(short, flush=True)
        rows.append(dict(random_kicks(pot, s, target, grids, args.k, lr, args.steps), lr=lr))
        print(rows[-1], flush=True)
    print("| route | Adam lr (σ) | start | last restrained x* | end (chosen minimum) | "
          "probes in another basin | max force at end (ε/σ) | wall time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['route']} | {r['lr']} | {r['distance_start']:.4f} | {r['distance_restrained']:.4f} | "
              f"{r['distance_end']:.4f} | {r['minima']} | {r['fmax_end']:.2g} | {r['seconds']:.0f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(dict(k=args.k, steps=args.steps, start_knob=float(ds.knob[i_start]),
                                              target_knob=float(ds.knob[i_target]), rows=rows), indent=1))


if __name__ == "__main__":
    main()
