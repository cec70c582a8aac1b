"""Where a pair force's time goes in XLA on a CPU: the KA pair force of a 1,000-atom lj3d glass
built up part by part, CPU ns per neighbour-list slot (docs/md.md, "Where the rest of the time goes").

The parts, each timed as ``--calls`` evaluations inside one jitted ``lax.fori_loop`` on the real
``(N, K)`` list of the MD engine (``md._layout``, the benchmark's skin), one XLA thread:

* ``gather``: ``Σ_k (x_j − x_i)``, the neighbour positions gathered and summed;
* ``+ minimum image``: the same with the minimum-image convention (``space.displacement``);
* ``+ pair function``: a masked one-species LJ derivative (ε = σ = 1, no cutoff shift) on ``r²`` of
  those vectors, the forces summed: the arithmetic of a pair force without its species lookups;
* ``package force``: ``Potential.forces`` (the engine's force);
* ``package force, slot blocks of B``: the same pair sum over ``lax.scan`` blocks of B slots, so the
  intermediates stay in cache (tested as a cheaper layout);
* ``pair function alone``: the same arithmetic on a precomputed ``(N, K)`` array, no gather.

    PYTHONPATH=. python benchmarks/pair_force_parts.py --out benchmarks/results/pair_force_parts.json
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import numpy as np
from _common import machine, write_json
from md import build_lj, single_thread


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=300, help="force evaluations per timed loop")
    ap.add_argument("--repeats", type=int, default=3, help="timed loops per part (median reported)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    core = single_thread(None)

    import jax
    import jax.numpy as jnp

    import jaxglass
    from jaxglass.md import _layout
    from jaxglass.potentials.base import local_environment
    from jaxglass.space import displacement

    jaxglass.enable_x64()
    case = build_lj(3, args.seed, "/tmp")
    s, pot = case.structure, case.potential
    layout = _layout([s], pot, case.skin, "auto")
    idx = jax.jit(layout.build)(s.positions)[0]
    nbr = idx[0]
    n, k = nbr.shape
    box, per = s.box, s.periodic
    cut2 = float(pot.terms[0].cutoff) ** 2

    def lj_sum(r2):
        x = 1.0 / r2
        x3 = x * x * x
        return jnp.where(r2 < cut2, (-12.0 * x3 * x3 + 6.0 * x3) * x, 0.0)

    def gather(R, nbr):
        return jnp.sum(R[nbr] - R[:, None], axis=1)

    def min_image(R, nbr):
        return jnp.sum(displacement(R[nbr] - R[:, None], box, per), axis=1)

    def pair(R, nbr):
        dr = displacement(R[nbr] - R[:, None], box, per)
        mask = nbr < n
        de = jnp.where(mask, lj_sum(jnp.sum(dr * dr, -1)), 0.0)
        return jnp.sum(de[..., None] * dr, axis=1)

    def package(R, nbr):
        return pot.forces(s.with_positions(R), (nbr,))

    def blocked(R, nbr, b):
        term = pot.terms[0]
        st = s.with_positions(R)
        sp = jnp.asarray(pot.species_map(st))[st.species]

        def body(acc, ib):
            dr, mask, sj = local_environment(st, ib, sp, term.cutoff)
            r = jnp.sqrt(jnp.sum(dr * dr, -1))
            fn = functools.partial(term.pair_energy, si=jnp.broadcast_to(sp[:, None], sj.shape), sj=sj)
            de_r = jax.jvp(fn, (r,), (jnp.ones_like(r),))[1] / r
            return acc + jnp.sum(jnp.where(mask, de_r, 0.0)[..., None] * dr, axis=1), None

        blocks = nbr.reshape(n, k // b, b).transpose(1, 0, 2)
        return jax.lax.scan(body, jnp.zeros_like(R), blocks)[0]

    r2_pre = jnp.asarray(np.random.default_rng(0).uniform(0.8, 9.0, (n, k)))
    parts = {"gather": gather, "+ minimum image": min_image, "+ pair function": pair,
             "package force": package}
    for b in (8, 16):
        if k % b == 0:
            parts[f"package force, slot blocks of {b}"] = functools.partial(blocked, b=b)
    parts["pair function alone (no gather)"] = lambda R, nbr: jnp.sum(lj_sum(r2_pre + R[0, 0]), axis=1)

    def looped(fn):
        def run(R, nbr):
            def body(i, acc):
                out = fn(R + 1e-12 * i, nbr)
                return acc + (out if out.ndim == 2 else out[:, None])
            return jax.lax.fori_loop(0, args.calls, body, jnp.zeros((n, 3)))
        return jax.jit(run)

    ref = np.asarray(package(s.positions, nbr))
    rows = []
    for name, fn in parts.items():
        f = looped(fn)
        out = np.asarray(f(s.positions, nbr)) / args.calls
        err = float(np.max(np.abs(out - ref))) if name.startswith("package") else None
        t = []
        for _ in range(args.repeats):
            c = time.process_time()
            jax.block_until_ready(f(s.positions, nbr))
            t.append((time.process_time() - c) / args.calls)
        ms = float(np.median(t)) * 1e3
        rows.append(dict(part=name, ms=ms, ns_per_slot=ms * 1e6 / (n * k), max_abs_diff=err))
    load = list(os.getloadavg())
    print(f"lj3d, {n} atoms, {k} list slots per atom (core {core}, load {load[0]:.1f})")
    print("| part | CPU ms per force | ns per slot | max |ΔF| vs package |\n|---|---|---|---|")
    for r in rows:
        d = "" if r["max_abs_diff"] is None else f"{r['max_abs_diff']:.1e}"
        print(f"| {r['part']} | {r['ms']:.3f} | {r['ns_per_slot']:.2f} | {d} |")
    if args.out:
        write_json(args.out, dict(benchmark="pair_force_parts", n_atoms=n, slots=k, core=core,
                                  load_average=load, machine=machine(), rows=rows))


if __name__ == "__main__":
    main()
