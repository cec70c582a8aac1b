"""Hessian-vector product per family at paper size: the route ``hessian.hvp`` takes, and the operator
that loops of products use (``hessian.hvp_operator``, built once outside the timing), against
forward-over-reverse of the energy (the general route), interleaved, one XLA thread, CPU time.
Every route takes the potential, structure and lists as jit *arguments*, as the KPM recursion does
(closed over as constants, XLA folds the parameter tables: see the ``--constants`` rows).

``hessian.hvp`` differentiates the explicit forces in forward mode where they are gathers only
(pair terms, EAM: ``Potential.gather_only_forces``) and falls back to forward-over-reverse
elsewhere, so for Tersoff (amc) and Vashishta (sic) both columns time the same route; the operator is
that route too except for the EAM (cualzr, hea), which linearises its forces once. The
structure is record 1 (a glass) of each family's committed paper export
(``examples/datasets/paper/<family>.npz``), with the lists the phonon engine builds.

    PYTHONPATH=. python benchmarks/hvp.py --out benchmarks/results/hvp.json
"""

from __future__ import annotations

import functools
import os

import numpy as np
from _common import cpu_seconds_per_call, machine, paper_record, route_args, write_json
from md import single_thread


def _apply(op, v):
    return op(v)


def _forward_over_reverse(pot, s, nb, v):
    import jax

    return jax.jvp(jax.grad(pot.energy_fn(s, nb)), (s.positions,), (v,))[1]


def main() -> None:
    args = route_args(__doc__, "products", [("--constants", "close the forward routes over the potential, "
                                             "structure and lists (constants) instead of passing them")])
    core = single_thread(None)

    import jax
    import jax.numpy as jnp

    import jaxglass
    from jaxglass.generate import family_potential
    from jaxglass.hessian import hvp, hvp_operator

    jaxglass.enable_x64()
    apply = jax.jit(_apply)
    fwd_rev, fwd = jax.jit(_forward_over_reverse), jax.jit(hvp)
    rows = []
    for fam in args.families.split(","):
        s = paper_record(fam)
        pot = family_potential(fam)
        nb = tuple(jnp.asarray(i) for i in pot.neighbors(s))
        v = jnp.asarray(np.random.default_rng(0).standard_normal(s.positions.shape))
        op = jax.jit(hvp_operator)(pot, s, nb)
        routes = {
            "forward-over-reverse": functools.partial(fwd_rev, pot, s, nb),
            "hessian.hvp": functools.partial(fwd, pot, s, nb),
            "hvp_operator": functools.partial(apply, op),
        }
        if args.constants:
            routes = {
                "forward-over-reverse": jax.jit(functools.partial(_forward_over_reverse, pot, s, nb)),
                "hessian.hvp": jax.jit(functools.partial(hvp, pot, s, nb)),
                "hvp_operator": functools.partial(apply, op),
            }
        out = {k: np.asarray(f(v)) for k, f in routes.items()}
        diff = max(float(np.max(np.abs(out[k] - out["forward-over-reverse"])))
                   for k in ("hessian.hvp", "hvp_operator"))
        sec = cpu_seconds_per_call(routes, v, args.calls, args.repeats)
        us = {k: t * 1e6 / s.n_atoms for k, t in sec.items()}
        rows.append(dict(family=fam, potential=pot.name, n_atoms=s.n_atoms,
                         slots=[int(i.shape[1]) for i in nb], explicit=bool(pot.gather_only_forces),
                         us_per_atom=us,
                         speedup=us["forward-over-reverse"] / us["hessian.hvp"],
                         speedup_operator=us["forward-over-reverse"] / us["hvp_operator"],
                         max_abs_diff=diff, max_abs=float(np.max(np.abs(out["hessian.hvp"])))))
        print(f"{fam}: {rows[-1]['us_per_atom']} ({os.getloadavg()[0]:.1f})", flush=True)
    load = list(os.getloadavg())
    print(f"\nCPU µs per Hessian-vector product per atom (core {core}, load {load[0]:.1f})")
    print("| family | potential | N | list slots | forward-over-reverse | hessian.hvp | hvp_operator | "
          "speed-up | route | max |Δ| / max |Hv| |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        route = "forward over the forces" if r["explicit"] else "forward-over-reverse"
        print(f"| {r['family']} | {r['potential']} | {r['n_atoms']} | {r['slots']} | "
              f"{r['us_per_atom']['forward-over-reverse']:.2f} | {r['us_per_atom']['hessian.hvp']:.2f} | "
              f"{r['us_per_atom']['hvp_operator']:.2f} | {r['speedup']:.2f} / {r['speedup_operator']:.2f} | "
              f"{route} | {r['max_abs_diff'] / r['max_abs']:.1e} |")
    if args.out:
        write_json(args.out, dict(benchmark="hvp", core=core, load_average=load, machine=machine(),
                                  constants=bool(args.constants), rows=rows))


if __name__ == "__main__":
    main()
