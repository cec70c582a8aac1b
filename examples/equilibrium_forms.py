"""Derivatives at equilibrium for every potential form: implicit vs re-relaxed FD vs fixed positions.

For each form (LB Tersoff carbon sheet with a Stone-Wales defect; Tersoff 1989 and Vashishta 2007
Si-C with a vacancy; ZJW EAM Cu with a vacancy) and one parameter θ scaled by (1 + t), prints
d/dt at t = 0 of

* Σ w·x*  (random w): implicit (jaxglass.equilibrium.relaxed_positions) vs central FD of structures
  re-relaxed at t = ±h (fmax 1e-11);
* ⟨λ⟩ = Tr D / (N d), the second moment of the Γ-point spectrum (eV/Å²/amu) at the minimum:
  implicit, FD, and the fixed-position derivative (positions held at x*(0)).

    PYTHONPATH=. python examples/equilibrium_forms.py     (about 3 CPU minutes, mostly compilation)
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

import jaxglass
from jaxglass.equilibrium import relaxed_positions
from jaxglass.generate.amc import stone_wales
from jaxglass.generate.lattices import fcc, graphene, zincblende
from jaxglass.hessian import dynamical_matrix
from jaxglass.minimize import minimize
from jaxglass.potentials.eam import zhou_johnson_wadley
from jaxglass.potentials.tersoff import lindsay_broido_carbon, tersoff_sic_1989
from jaxglass.potentials.vashishta import vashishta_sic_2007
from jaxglass.space import displacement
from jaxglass.structure import make_structure

FMAX = 1e-11


def scaled(pot, name, t):
    ps = [dict(p) for p in pot.params]
    ps[0][name] = jnp.asarray(ps[0][name]) * (1.0 + t)
    return pot.with_params(ps)


def vacancy(s, seed, amp=0.05):
    rng = np.random.default_rng(seed)
    pos = np.asarray(s.positions)[1:] + amp * rng.normal(size=(s.n_atoms - 1, 3))
    return make_structure(pos, [s.species_names[i] for i in np.asarray(s.species)[1:]], np.asarray(s.box),
                          periodic=s.periodic)


def sheet():
    s = stone_wales(graphene(2.49205, (3, 2)), (0, 1))
    return s.with_positions(s.positions + 0.02 * np.random.default_rng(0).normal(size=s.positions.shape))


FORMS = [
    ("Tersoff LB C sheet + SW", sheet, lindsay_broido_carbon(), "lambda2_2", 1e-5),
    ("Tersoff 1989 SiC + vacancy", lambda: vacancy(zincblende(4.32117, (1, 1, 1)), 1), tersoff_sic_1989(),
     "lambda2_2", 1e-5),
    ("EAM ZJW Cu + vacancy", lambda: vacancy(fcc(3.615, (2, 2, 1), "Cu"), 2), zhou_johnson_wadley(("Cu",)),
     "beta", 1e-4),
    ("Vashishta 2007 SiC + vacancy", lambda: vacancy(zincblende(4.35817, (1, 1, 1)), 3), vashishta_sic_2007(),
     "H", 1e-5),
]


def row(label, build, pot, name, h):
    t0 = time.process_time()
    s = minimize(pot, build(), fmax=FMAX).structure
    nb = pot.neighbors(s)
    w = np.random.default_rng(5).normal(size=s.positions.shape)

    def m2(p, x):
        return jnp.trace(dynamical_matrix(p, s.with_positions(x), nb)) / x.size

    def eq(t):
        p = scaled(pot, name, t)
        x = relaxed_positions(p, s, fmax=FMAX, nbrs=nb)
        return jnp.stack([jnp.vdot(w, x), m2(p, x)])

    g_pos, g_m2 = (float(v) for v in jax.jacrev(eq)(0.0))
    g_fixed = float(jax.grad(lambda t: m2(scaled(pot, name, t), s.positions))(0.0))
    runs = [minimize(scaled(pot, name, t), s, fmax=FMAX).structure for t in (h, -h)]
    dx = displacement(np.asarray(runs[0].positions - runs[1].positions), np.asarray(s.box), s.periodic)
    fd_pos = float(np.vdot(w, dx)) / (2 * h)
    up, down = (float(m2(scaled(pot, name, t), r.positions)) for t, r in zip((h, -h), runs))
    fd_m2 = (up - down) / (2 * h)
    cpu = time.process_time() - t0
    print(f"| {label} | {s.n_atoms} | {name} | {g_pos:.7g} | {fd_pos:.7g} | "
          f"{abs(g_pos - fd_pos) / abs(fd_pos):.1e} | {g_m2:.7g} | {fd_m2:.7g} | "
          f"{abs(g_m2 - fd_m2) / abs(fd_m2):.1e} | {g_fixed:.7g} | {cpu:.0f} |", flush=True)


def main():
    jaxglass.enable_x64()
    print("| form | N | θ | Σw·x*: implicit | FD | rel. | ⟨λ⟩: implicit | FD | rel. | fixed | CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for form in FORMS:
        row(*form)


if __name__ == "__main__":
    main()
