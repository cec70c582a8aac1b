"""The ase Calculator: energies and forces against the package's own, stress against finite
differences of the energy with respect to strain and against ase's own Lennard-Jones calculator
(all six components, small periodic cell), and an ase BFGS relaxation."""

import numpy as np
import pytest

ase = pytest.importorskip("ase")
from ase.calculators.calculator import PropertyNotImplementedError  # noqa: E402
from ase.calculators.lj import LennardJones  # noqa: E402
from ase.optimize import BFGS  # noqa: E402

from jaxglass.calculator import JaxglassCalculator  # noqa: E402
from jaxglass.generate.lattices import fcc, triangular, zincblende  # noqa: E402
from jaxglass.potentials import from_spec, tersoff_sic_1989, vashishta_sic_2007  # noqa: E402
from jaxglass.potentials.base import energy, forces  # noqa: E402
from jaxglass.structure import to_ase  # noqa: E402


def _rattled(s, amp, seed):
    rng = np.random.default_rng(seed)
    return s.with_positions(s.positions + amp * rng.standard_normal(s.positions.shape))


def test_energy_forces_match_package_and_stress_matches_strain_derivative():
    s = _rattled(zincblende(4.36, (2, 2, 2)), 0.05, 0)  # 64-atom 3C-SiC: box < 2 × 7.35 Å (images)
    pot = vashishta_sic_2007()
    atoms = to_ase(s)
    atoms.calc = JaxglassCalculator(pot)
    assert atoms.get_potential_energy() == pytest.approx(energy(pot, s), rel=1e-13)
    np.testing.assert_allclose(atoms.get_forces(), np.asarray(forces(pot, s)), rtol=0, atol=1e-11)
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), rel=1e-13)
    stress = atoms.get_stress()  # eV/Å³, Voigt
    # σ_aa = (1/V) dE/dε_aa by central differences of a stretched cell (atoms scaled with it)
    cell, v, h = atoms.cell[:].copy(), atoms.get_volume(), 1e-5
    for a in range(3):
        e = []
        for sign in (1, -1):
            strained = atoms.copy()
            eps = np.eye(3)
            eps[a, a] += sign * h
            strained.set_cell(cell @ eps, scale_atoms=True)
            strained.calc = JaxglassCalculator(pot)
            e.append(strained.get_potential_energy())
        assert stress[a] == pytest.approx((e[0] - e[1]) / (2 * h) / v, rel=1e-6, abs=1e-9)
    assert np.abs(stress[3:]).max() > 1e-5  # rattled: shear components present (checked below)


def test_all_stress_components_match_ase_lennard_jones_small_cell():
    # truncated-shifted LJ == ase's LennardJones(smooth=False); 36-atom fcc cell of 3.0 × 3.0 × 4.5 σ
    # is shorter than 2 r_c = 5 σ, so both codes sum periodic images
    s = _rattled(fcc(1.494, (2, 2, 3), species="A"), 0.05, 1)
    atoms = to_ase(s)
    ref = atoms.copy()
    ref.calc = LennardJones(sigma=1.0, epsilon=1.0, rc=2.5, smooth=False)
    atoms.calc = JaxglassCalculator(from_spec("lj:shift"))
    assert atoms.get_potential_energy() == pytest.approx(ref.get_potential_energy(), rel=1e-12)
    np.testing.assert_allclose(atoms.get_forces(), ref.get_forces(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(atoms.get_stress(), ref.get_stress(), rtol=0, atol=1e-11)
    assert np.abs(ref.get_stress()[3:]).max() > 1e-4


def test_ase_bfgs_relaxes_small_si_cell_to_the_crystal():
    crystal = zincblende(5.432, (1, 1, 1), ("Si", "Si"))  # 8 atoms, box < 2 × 3.0 Å
    pot = tersoff_sic_1989()
    atoms = to_ase(_rattled(crystal, 0.1, 2))
    atoms.calc = JaxglassCalculator(pot)
    e0 = atoms.get_potential_energy()
    assert BFGS(atoms, logfile=None).run(fmax=1e-4, steps=200)
    assert np.abs(atoms.get_forces()).max() < 1e-4
    e_crystal = energy(pot, crystal)
    assert e0 > e_crystal + 0.1
    assert atoms.get_potential_energy() == pytest.approx(e_crystal, abs=1e-6)


def test_calculator_errors_and_2d():
    with pytest.raises(TypeError, match="jaxglass Potential"):
        JaxglassCalculator("vashishta-sic")
    atoms = to_ase(triangular(1.1, (5, 3)))  # 2D sheet: energy and forces, no stress
    atoms.calc = JaxglassCalculator(from_spec("ka"))
    assert atoms.get_forces().shape == (30, 3)
    with pytest.raises(PropertyNotImplementedError, match="stress"):
        atoms.get_stress()
