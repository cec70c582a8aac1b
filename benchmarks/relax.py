"""Energy and gradient per L-BFGS evaluation (``jaxglass.minimize``) per family at paper size: the
reverse-mode ``value_and_grad`` of the energy against ``Potential.energy_and_forces`` (the route
``minimize`` takes where ``Potential.explicit_forces``), interleaved, one XLA thread, CPU time.

``energy_and_forces`` sums pair terms in one forward-mode pass that carries the pair energy along
(no scatter), the Vashishta three-body term with its hand-written site gradient, EAM in its two
explicit passes; Tersoff (amc) has no explicit forces, so ``minimize`` keeps ``value_and_grad``
there and the table says so. The structure is record 1 (a glass) of each family's committed paper
export (``examples/datasets/paper/<family>.npz``), with the relaxation's lists (skin 0.3 Å / 0.3 σ).

    PYTHONPATH=. python benchmarks/relax.py --out benchmarks/results/relax.json
"""

from __future__ import annotations

import os

import numpy as np
from _common import cpu_seconds_per_call, machine, paper_record, route_args, write_json
from md import single_thread


def main() -> None:
    args = route_args(__doc__, "evaluations")
    core = single_thread(None)

    import jax

    import jaxglass
    from jaxglass.generate import family_potential

    jaxglass.enable_x64()
    rows = []
    for fam in args.families.split(","):
        s = paper_record(fam)
        pot = family_potential(fam)
        nb = tuple(jax.numpy.asarray(i) for i in pot.neighbors(s, 0.3))
        routes = {
            "value_and_grad": jax.jit(
                lambda x, s=s, pot=pot, nb=nb: jax.value_and_grad(pot.energy_fn(s, nb))(x)),
            "energy_and_forces": jax.jit(
                lambda x, s=s, pot=pot, nb=nb: pot.energy_and_forces(s.with_positions(x), nb)),
        }
        out = {k: [np.asarray(a) for a in f(s.positions)] for k, f in routes.items()}
        de = abs(float(out["value_and_grad"][0] - out["energy_and_forces"][0]))
        dg = float(np.max(np.abs(out["value_and_grad"][1] + out["energy_and_forces"][1])))
        sec = cpu_seconds_per_call(routes, s.positions, args.calls, args.repeats)
        ms = {k: t * 1e3 for k, t in sec.items()}
        rows.append(dict(family=fam, potential=pot.name, n_atoms=s.n_atoms,
                         slots=[int(i.shape[1]) for i in nb], explicit=bool(pot.explicit_forces),
                         cpu_ms=ms, speedup=ms["value_and_grad"] / ms["energy_and_forces"],
                         energy_abs_diff=de, grad_max_abs_diff=dg,
                         grad_max_abs=float(np.max(np.abs(out["value_and_grad"][1])))))
        print(f"{fam}: {ms} ({os.getloadavg()[0]:.1f})", flush=True)
    load = list(os.getloadavg())
    print(f"\nCPU ms per energy + gradient (core {core}, load {load[0]:.1f})")
    print("| family | potential | N | list slots | value_and_grad | energy_and_forces | speed-up | "
          "minimize uses | max |Δg| / max |g| |\n|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        route = "energy_and_forces" if r["explicit"] else "value_and_grad"
        print(f"| {r['family']} | {r['potential']} | {r['n_atoms']} | {r['slots']} | "
              f"{r['cpu_ms']['value_and_grad']:.2f} | {r['cpu_ms']['energy_and_forces']:.2f} | "
              f"{r['speedup']:.2f} | {route} | {r['grad_max_abs_diff'] / r['grad_max_abs']:.1e} |")
    if args.out:
        write_json(args.out, dict(benchmark="relax", core=core, load_average=load, machine=machine(),
                                  rows=rows))


if __name__ == "__main__":
    main()
