"""Γ-point phonons of the crystalline reference of each glass family.

Run: .venv/bin/python examples/crystal_phonons.py
Prints energy per atom, largest frequency and imaginary-mode count for graphene (Lindsay-Broido
Tersoff), 3C-SiC (Vashishta 2007 and Tersoff 1989), fcc Cu (Zhou-Johnson-Wadley EAM) and the
Kob-Andersen fcc A crystal (reduced units).
"""

import jaxglass
from jaxglass import phonons
from jaxglass.generate import fcc, graphene, zincblende
from jaxglass.potentials import (
    energy,
    kob_andersen,
    lindsay_broido_carbon,
    tersoff_sic_1989,
    vashishta_sic_2007,
    zhou_johnson_wadley,
)


def main() -> None:
    jaxglass.enable_x64()
    cases = [
        ("graphene, LB Tersoff", lindsay_broido_carbon(), graphene(2.49205, (4, 6))),
        ("3C-SiC, Vashishta 2007", vashishta_sic_2007(), zincblende(4.35817, (4, 4, 4))),
        ("3C-SiC, Tersoff 1989", tersoff_sic_1989(), zincblende(4.32117, (2, 2, 2))),
        ("fcc Cu, ZJW EAM", zhou_johnson_wadley(("Cu",)), fcc(3.615, (4, 4, 4))),
        ("fcc A, Kob-Andersen", kob_andersen(), fcc((4 / 1.2) ** (1 / 3), (4, 4, 4), species="A")),
    ]
    print(f"{'system':26s} {'N':>5s} {'E/atom':>11s} {'max freq':>10s} {'unit':>18s} {'imag':>5s}")
    for label, pot, s in cases:
        e = energy(pot, s) / s.n_atoms
        f = phonons.frequencies(pot, s)
        print(
            f"{label:26s} {s.n_atoms:5d} {e:11.5f} {float(f[-1]):10.3f} {pot.freq_unit:>18s} "
            f"{phonons.count_imaginary(f):5d}"
        )


if __name__ == "__main__":
    main()
