"""First-order perturbation theory vs exact re-diagonalisation, one small structure per potential family.

For each structure a random unit displacement field δx is applied at amplitudes ε; the first-order
eigenvalue shifts δλ_n = ⟨e_n|δD|e_n⟩ (degenerate subspaces diagonalised; δD by a JVP of the Hessian
assembly) and the first-order PDOS change are compared with exact re-diagonalisation at x + ε δx.
The error must fall as ε² (slope 2). Prints a Markdown table.

    .venv/bin/python examples/perturbation_theory.py
"""

import numpy as np

import jaxglass
from jaxglass import perturb as pt
from jaxglass.generate import fcc, graphene, random_packing, zincblende
from jaxglass.generate.amc import keating_potential
from jaxglass.minimize import minimize
from jaxglass.potentials import (
    kob_andersen,
    lindsay_broido_carbon,
    vashishta_sic_2007,
    zhou_johnson_wadley,
)


def perturbed(s, scale, seed):
    rng = np.random.default_rng(seed)
    return s.with_positions(s.positions + rng.normal(scale=scale, size=s.positions.shape))


def main():
    jaxglass.enable_x64()
    ka = kob_andersen()
    ka2 = minimize(
        ka, random_packing(60, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0), fmax=1e-8
    )
    ka3 = minimize(
        ka, random_packing(256, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=0), fmax=1e-8
    )
    lb = lindsay_broido_carbon()
    amc = minimize(lb, perturbed(graphene(2.49205, (4, 3)), 0.05, 1), fmax=1e-6).structure
    g2 = graphene(2.49205, (4, 3))
    kt = jaxglass.make_structure(np.asarray(g2.positions)[:, :2], ["C"] * g2.n_atoms, np.asarray(g2.box)[:2])
    cases = [
        ("lj2d (KA, 60)", ka, ka2.structure, np.linspace(0, 40, 161), 1.0),
        ("lj3d (KA, 256)", ka, ka3.structure, np.linspace(0, 40, 161), 1.0),
        ("amc (LB Tersoff, 48)", lb, amc, np.linspace(0, 56, 225), 0.5),
        (
            "amc proxy (Keating, 48)",
            keating_potential(),
            perturbed(kt, 0.05, 2),
            np.linspace(0, 60, 241),
            0.5,
        ),
        (
            "sic (Vashishta, 512)",
            vashishta_sic_2007(),
            perturbed(zincblende(4.35817, (4, 4, 4)), 0.05, 3),
            np.linspace(0, 32, 161),
            0.3,
        ),
        (
            "cualzr-like (ZJW EAM Cu, 256)",
            zhou_johnson_wadley(("Cu",)),
            perturbed(fcc(3.615, (4, 4, 4)), 0.05, 4),
            np.linspace(0, 10, 101),
            0.1,
        ),
    ]
    print("| system (potential, atoms) | ε | max eig. error | PDOS rel. error | order (eig) | order (PDOS) |")
    print("|---|---|---|---|---|---|")
    for name, pot, s, grid, sigma in cases:
        dx = pt.random_directions(s, 1, seed=7)[0]
        c = pt.check_first_order(pot, s, dx, grid, sigma)
        eps = " / ".join(f"{e:.2g}" for e in c.eps)
        ee = " / ".join(f"{e:.2e}" for e in c.eig_error)
        pe = " / ".join(f"{e:.2e}" for e in c.pdos_error)
        print(f"| {name} | {eps} | {ee} | {pe} | {c.eig_order:.2f} | {c.pdos_order:.2f} |", flush=True)


if __name__ == "__main__":
    main()
