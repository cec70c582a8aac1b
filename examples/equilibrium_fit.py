"""Fit potential parameters to spectra through the equilibrium route (issue 26): planted values recovered.

For each case, a few small structures are relaxed with the planted parameter; their Γ-point PDOS is the
target. Starting from a perturbed value, optax gradient descent on the summed squared PDOS misfit
recovers the planted value: at every step each structure is re-relaxed
(jaxglass.equilibrium.relaxed_positions, always from the planted minimum, so that it follows the basin
it was made in rather than the path of the fit) and the gradient is the equilibrium one (implicit
function theorem). One parameter is fitted at a time; the learning rate is half the inverse curvature
of the loss at the start, estimated from two gradients (the full inverse curvature overshoots for
ε_AB, whose loss is stiffer near the optimum, and cycles).

Cases (--cases, comma-separated):

* ``ka``: 2D Kob-Andersen glasses (Kob & Andersen, PRL 73, 1376 (1994); 2D 65:35, Brüning et al.,
  JPCM 21, 035117 (2009)), ε_AB = 1.5 and σ_AB = 0.8 (two fits), PDOS σ = 1.5 in LJ angular units;
* ``tersoff``: Lindsay-Broido carbon Tersoff (PRB 81, 205441 (2010)), the attractive amplitude
  B = 430 eV, on a 24-atom graphene sheet with a Stone-Wales defect and a 23-atom sheet with a
  vacancy (both with 0.02 Å noise before relaxing), PDOS 0-60 THz, σ = 1 THz;
* ``eam``: Zhou-Johnson-Wadley EAM Cu (PRB 69, 144113 (2004)), the decay β of the density and
  attractive pair functions, on fcc 2×2×2 cells with one and two vacancies (31 and 30 atoms, 0.05 Å
  noise), PDOS 0-10 THz, σ = 0.3 THz.

    PYTHONPATH=. python examples/equilibrium_fit.py [--cases ka,tersoff,eam] [--n 64] [--glasses 3]
        [--steps 15]

Writes docs/figures/equilibrium_fit.png and docs/figures/equilibrium_fit.json.
"""

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxglass
from jaxglass.equilibrium import relaxed_positions
from jaxglass.generate import random_packing
from jaxglass.generate.amc import stone_wales
from jaxglass.generate.lattices import fcc, graphene
from jaxglass.minimize import minimize
from jaxglass.modes import pdos
from jaxglass.plots import plot_parameter_fit
from jaxglass.potentials import kob_andersen
from jaxglass.potentials.eam import zhou_johnson_wadley
from jaxglass.potentials.tersoff import lindsay_broido_carbon
from jaxglass.structure import make_structure


def with_ab(name):
    """Setter of the AB entry of a KA pair table (kept symmetric)."""
    def set_(pot, v):
        p = dict(pot.params[0])
        p[name] = jnp.asarray(p[name]).at[0, 1].set(v).at[1, 0].set(v)
        return pot.with_params([p])
    return set_


def with_value(name, term=0):
    """Setter of every entry of parameter ``name`` of ``term`` (a one-species table)."""
    def set_(pot, v):
        ps = [dict(p) for p in pot.params]
        ps[term][name] = jnp.full_like(jnp.asarray(ps[term][name]), v)
        return pot.with_params(ps)
    return set_


def without(s, drop, amp, seed):
    """``s`` without the atoms ``drop``, the rest displaced by Gaussian noise of ``amp``."""
    keep = np.setdiff1d(np.arange(s.n_atoms), drop)
    pos = np.asarray(s.positions)[keep] + amp * np.random.default_rng(seed).normal(size=(len(keep), s.dim))
    names = [s.species_names[i] for i in np.asarray(s.species)[keep]]
    return make_structure(pos, names, np.asarray(s.box), periodic=s.periodic)


def ka_structures(n, count):
    comp = {"A": 0.65, "B": 0.35}
    return [random_packing(n, 1.2, 2, comp, min_distance=0.7, seed=seed) for seed in range(count)]


def carbon_structures():
    sw = stone_wales(graphene(2.49205, (3, 2)), (0, 1))
    return [without(sw, [], 0.02, 0), without(graphene(2.49205, (3, 2)), [0], 0.02, 1)]


def copper_structures():
    cell = fcc(3.615, (2, 2, 2), "Cu")
    return [without(cell, [0], 0.05, 2), without(cell, [0, 9], 0.05, 3)]


def cases(n, count):
    """``{label: (potential, setter, planted, start, structures, grid, sigma, fmax, skin)}``."""
    ka, lb, cu = kob_andersen(), lindsay_broido_carbon(), zhou_johnson_wadley(("Cu",))
    ka_grid, ka_set = (jnp.linspace(0.0, 45.0, 91), 1.5), lambda: ka_structures(n, count)
    beta = float(np.asarray(cu.params[0]["beta"])[0])
    return {
        "ka": {
            "epsilon_AB": (ka, with_ab("epsilon"), 1.5, 1.5 * 1.04, ka_set, *ka_grid, 1e-10, 0.3),
            "sigma_AB": (ka, with_ab("sigma"), 0.8, 0.8 * 0.98, ka_set, *ka_grid, 1e-10, 0.3),
        },
        "tersoff": {"LB carbon B": (lb, with_value("B_2"), 430.0, 430.0 * 1.03, carbon_structures,
                                    jnp.linspace(0.0, 60.0, 121), 1.0, 1e-9, 0.3)},
        "eam": {"ZJW Cu beta": (cu, with_value("beta"), beta, beta * 1.03, copper_structures,
                                jnp.linspace(0.0, 10.0, 101), 0.3, 1e-9, 0.3)},
    }


def fit(pot, setter, planted, start, structures, grid, sigma, fmax, skin, steps):
    pot = setter(pot, planted)
    built = [minimize(pot, s, fmax=fmax).structure for s in structures()]
    lists = [pot.neighbors(s, skin=skin) for s in built]

    def spectrum(p, s, x, nb):
        return pdos(p, s.with_positions(x), grid, sigma, nbrs=nb, partial=False, backend="jax").total

    targets = [spectrum(pot, s, s.positions, nb) for s, nb in zip(built, lists)]

    def loss(v):
        p = setter(pot, v)
        xs = [relaxed_positions(p, s, fmax=fmax, nbrs=nb) for s, nb in zip(built, lists)]
        val = sum(jnp.sum((spectrum(p, s, x, nb) - t) ** 2) for s, x, nb, t in zip(built, xs, lists, targets))
        return 1e3 * val / len(built)

    v = jnp.asarray(start)
    g0 = jax.grad(loss)(v)
    g1 = jax.grad(loss)(v - 0.002 * v)
    lr = 0.5 * float(0.002 * v / (g0 - g1))  # half the inverse curvature at the start
    opt = optax.sgd(lr)
    state = opt.init(v)
    out = {"loss": [], "value": [], "planted": planted, "start": start, "learning_rate": lr,
           "n_atoms": [s.n_atoms for s in built]}
    for _ in range(steps):
        val, g = jax.value_and_grad(loss)(v)
        out["loss"].append(float(val))
        out["value"].append(float(v))
        upd, state = opt.update(g, state)
        v = optax.apply_updates(v, upd)
    out["value"].append(float(v))
    out["loss"].append(float(loss(v)))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="ka,tersoff,eam", help="comma-separated: ka, tersoff, eam")
    ap.add_argument("--n", type=int, default=64, help="atoms per KA glass")
    ap.add_argument("--glasses", type=int, default=3, help="number of KA glasses")
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--out", default="docs/figures/equilibrium_fit")
    args = ap.parse_args()
    jaxglass.enable_x64()
    table = cases(args.n, args.glasses)
    fits, cpu = {}, {}
    for case in args.cases.split(","):
        for label, spec in table[case].items():
            t0 = time.process_time()
            f = fits[label] = fit(*spec, args.steps)
            cpu[label] = f["cpu_s"] = time.process_time() - t0
            print(f"{label}: start {f['start']:.6g} -> {f['value'][-1]:.9g} (planted {f['planted']:.9g}, "
                  f"relative error {abs(f['value'][-1] / f['planted'] - 1):.1e}), loss {f['loss'][0]:.3e} -> "
                  f"{f['loss'][-1]:.3e}, lr {f['learning_rate']:.4g}, N {f['n_atoms']}, "
                  f"{cpu[label]:.0f} s CPU",
                  flush=True)
    print(f"{args.steps} steps per fit: {sum(cpu.values()):.0f} s CPU")
    plot_parameter_fit(fits, Path(args.out + ".png"))
    meta = {"n": args.n, "glasses": args.glasses, "steps": args.steps, "cpu_s": sum(cpu.values()),
            "fits": fits}
    Path(args.out + ".json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
