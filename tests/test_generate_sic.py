"""a-SiC partial-melt generator: reference crystal, determinism, knob span, relaxation, modes."""

import numpy as np
import pytest
from _helpers import first_peak

from jaxglass.generate import partial_melt as pm
from jaxglass.generate import sic
from jaxglass.phonons import count_imaginary, frequencies
from jaxglass.potentials.vashishta import for_md

# A shorter anneal than size="small" keeps this file quick; the physics is the same.
SHORT = sic.Protocol(n_hot=30, n_quench=60)


@pytest.fixture(scope="module")
def crys():
    return sic.crystal(400)


@pytest.fixture(scope="module")
def glass1():
    return sic.generate(400, 1.0, 3, protocol=SHORT)


@pytest.fixture(scope="module")
def glass05():
    return sic.generate(400, 0.5, 3, protocol=SHORT)


def test_md_tables_flag():
    """MD steps the two-body term on tables by default; relaxation, Hessian and the returned potential
    stay analytic; other potentials pass through the MD-potential choice unchanged."""
    assert sic.Protocol().md_tables and sic.PROTOCOLS["paper"].md_tables
    md = pm.md_potential(sic.potential())
    assert md is for_md(sic.potential()) and md is not sic.potential() and "table" in md.name
    from jaxglass.potentials import kob_andersen

    lj = kob_andersen()
    assert pm.md_potential(lj) is lj


def test_supercell_choice():
    assert sic.supercell(400) == ("tetragonal", (5, 5, 4))
    assert sic.supercell(512) == ("cubic", (4, 4, 4))
    assert sic.supercell(1000) == ("cubic", (5, 5, 5))


def test_crystal_matches_lammps(crys):
    s = crys.structure
    assert s.n_atoms == 400
    assert np.all(np.asarray(s.box) > 2 * (crys.potential.cutoff + sic.SKIN))
    # LAMMPS, SiC.vashishta, 3C-SiC at a = 4.35817 Å: -6.340145 eV/atom
    assert crys.info["energy_per_atom"] == pytest.approx(-6.340145, abs=2e-6)
    assert crys.info["heteronuclear_fraction"] == 1.0
    assert crys.info["mean_coordination"] == 4.0
    assert crys.info["converged"]
    assert pm.off_site_fraction(s, s) == 0.0


def test_glass_relaxed_and_recorded(glass1, glass05):
    for g, f in ((glass1, 1.0), (glass05, 0.5)):
        info = g.info
        assert info["converged"] and info["fmax"] <= info["fmax_tol"]
        assert g.knob_values["melt_fraction"] == f
        assert g.knob_values["n_melted"] == round(f * 400)
        assert g.structure.n_atoms == 400 and info["n_atoms"] == 400
        assert g.potential is sic.potential()
        assert 0.5 < info["heteronuclear_fraction"] < 1.0
        assert 3.0 < info["mean_coordination"] < 6.0
        for key in ("seed", "size", "protocol", "wall_time_s", "coordination_histogram_Si"):
            assert key in info
        assert info["protocol"]["md_tables"] and info["md_potential"] == for_md(sic.potential()).name
    # the melted region stays off the crystal's sites (apart from the ~2 Å shell at the template);
    # the whole-cell melt leaves about 1 % near a site by chance (random points: ~1 %)
    assert 0.15 < glass05.info["off_site_fraction"] < 0.5
    assert glass1.info["off_site_fraction"] > 0.95
    # melting costs energy; the glass lies between crystal and random
    assert -6.34 < glass05.info["energy_per_atom"] < -6.0
    assert -6.1 < glass1.info["energy_per_atom"] < -5.5


def test_deterministic(glass1):
    again = sic.generate(400, 1.0, 3, protocol=SHORT)
    np.testing.assert_array_equal(
        np.asarray(again.structure.positions), np.asarray(glass1.structure.positions)
    )
    np.testing.assert_array_equal(np.asarray(again.structure.species), np.asarray(glass1.structure.species))


def test_knob_lowers_first_peak(crys, glass05, glass1):
    p0, p5, p1 = first_peak(crys.structure), first_peak(glass05.structure), first_peak(glass1.structure)
    # measured: 20.9, ~16, ~8
    assert p0 > 1.15 * p5 > 1.15 * 1.4 * p1


def test_no_imaginary_modes(glass1):
    f = np.asarray(frequencies(glass1.potential, glass1.structure))
    assert count_imaginary(f) == 0
    assert 25.0 < f.max() < 45.0  # THz; Tersoff-1989 glasses reach 190 THz


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_atoms=400, knob=-0.1), "knob"),
        (dict(n_atoms=400, knob=1.5), "knob"),
        (dict(n_atoms=200, knob=0.5), "n_atoms"),
        (dict(n_atoms=400.5, knob=0.5), "n_atoms"),
        (dict(n_atoms=400, knob=0.5, size="huge"), "size"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        sic.generate(seed=0, **kwargs)
    if "knob" not in match:
        with pytest.raises(ValueError, match=match):
            sic.crystal(kwargs["n_atoms"], size=kwargs.get("size", "small"))


def test_nothing_melted_records_no_md_potential():
    # knob 0.001 of 400 atoms melts none: no MD runs, so the record names no MD potential
    g = sic.generate(400, 0.001, 0)
    assert g.knob_values["n_melted"] == 0
    assert "md_potential" not in g.info and "md_rebuilds" not in g.info
    assert g.info["converged"]
