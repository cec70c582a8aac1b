"""Fit one Kob-Andersen parameter so that the model's glass PDOS matches a spectrum from another potential.

Reference: 2D KA glasses (65:35, ρ = 1.2, N = 64, seeds 0-2) relaxed with the force-shifted cutoff
(LAMMPS ``lj/smooth/linear``, ``kob_andersen("linear")``), and their Γ-point PDOS (grid 0-45, σ = 1.5,
LJ angular units). Model: jaxglass's default KA potential (second-order smoothed cutoff, ``"c2"``),
whose extra term -φ''(r_c)(r - r_c)²/2 changes every force constant inside the cutoff. One parameter
θ of the model (``--param eps_ab``: ε_AB; ``--param eps_scale``: every ε_αβ multiplied by θ) is fitted
by gradient descent on the summed squared PDOS misfit, each glass re-relaxed under the model from
the reference minimum at every step (jaxglass.equilibrium.relaxed_positions, implicit derivative),
learning rate half the inverse curvature at the start (as examples/equilibrium_fit.py). Prints the
misfit at the start (θ = the KA value) and at the end, per glass, and the first two moments of the
spectra, so what one parameter can and cannot absorb is visible.

    PYTHONPATH=. python examples/equilibrium_match.py [--param eps_ab] [--steps 12]

Writes docs/figures/equilibrium_match_<param>.json.
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
from jaxglass.minimize import minimize
from jaxglass.modes import pdos
from jaxglass.potentials import kob_andersen
from jaxglass.potentials.lj import KA_EPSILON

GRID, SIGMA = jnp.linspace(0.0, 45.0, 91), 1.5


def setter(param):
    def set_(pot, v):
        p = dict(pot.params[0])
        if param == "eps_ab":
            p["epsilon"] = jnp.asarray(p["epsilon"]).at[0, 1].set(v).at[1, 0].set(v)
        else:
            p["epsilon"] = v * jnp.asarray(KA_EPSILON)
        return pot.with_params([p])
    return set_


def moments(y):
    y = np.asarray(y) / np.sum(y)
    m1 = float(np.sum(y * np.asarray(GRID)))
    return m1, float(np.sqrt(np.sum(y * (np.asarray(GRID) - m1) ** 2)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--param", choices=("eps_ab", "eps_scale"), default="eps_ab")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--glasses", type=int, default=3)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--out", default="docs/figures/equilibrium_match")
    args = ap.parse_args()
    jaxglass.enable_x64()
    t0 = time.process_time()
    ref_pot, model = kob_andersen("linear"), kob_andersen()
    set_ = setter(args.param)
    start = 1.5 if args.param == "eps_ab" else 1.0
    comp = {"A": 0.65, "B": 0.35}
    glasses = [minimize(ref_pot, random_packing(args.n, 1.2, 2, comp, min_distance=0.7, seed=seed),
                        fmax=1e-10).structure for seed in range(args.glasses)]
    lists = [model.neighbors(s, skin=0.3) for s in glasses]

    def spectrum(p, s, x, nb):
        return pdos(p, s.with_positions(x), GRID, SIGMA, nbrs=nb, partial=False, backend="jax").total

    targets = [spectrum(ref_pot, s, s.positions, nb) for s, nb in zip(glasses, lists)]

    def per_glass(v):
        p = set_(model, v)
        xs = [relaxed_positions(p, s, fmax=1e-10, nbrs=nb) for s, nb in zip(glasses, lists)]
        return [spectrum(p, s, x, nb) for s, x, nb in zip(glasses, xs, lists)]

    def loss(v):
        return 1e3 * sum(jnp.sum((y - t) ** 2) for y, t in zip(per_glass(v), targets)) / len(glasses)

    v = jnp.asarray(start)
    g0, g1 = jax.grad(loss)(v), jax.grad(loss)(v - 0.002 * v)
    lr = 0.5 * float(0.002 * v / (g0 - g1))
    opt = optax.sgd(lr)
    state = opt.init(v)
    history = []
    for _ in range(args.steps):
        val, g = jax.value_and_grad(loss)(v)
        history.append((float(v), float(val), float(g)))
        upd, state = opt.update(g, state)
        v = optax.apply_updates(v, upd)
    end = [np.asarray(y) for y in per_glass(v)]
    first = [np.asarray(y) for y in per_glass(jnp.asarray(start))]
    rel = [[float(np.linalg.norm(y - t) / np.linalg.norm(t)) for y, t in zip(ys, targets)]
           for ys in (first, end)]
    out = {
        "param": args.param, "start": start, "end": float(v), "learning_rate": lr, "history": history,
        "loss_start": history[0][1], "loss_end": float(loss(v)),
        "rel_distance_start": rel[0], "rel_distance_end": rel[1],
        "moments_target": [moments(t) for t in targets], "moments_start": [moments(y) for y in first],
        "moments_end": [moments(y) for y in end], "cpu_s": time.process_time() - t0,
    }
    print(f"{args.param}: {start} -> {float(v):.6f} ({args.steps} steps, lr {lr:.4g}); "
          f"loss {out['loss_start']:.4e} -> {out['loss_end']:.4e}; |ΔPDOS|/|PDOS| per glass "
          f"{np.round(rel[0], 4)} -> {np.round(rel[1], 4)}")
    for name in ("target", "start", "end"):
        print(f"  mean, width of the PDOS ({name}): {np.round(out['moments_' + name], 3).tolist()}")
    print(f"  gradient at the end {history[-1][2]:.3e}; {out['cpu_s']:.0f} s CPU")
    Path(f"{args.out}_{args.param}.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
