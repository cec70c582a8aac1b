"""Cu46Zr46Al8 partial-melt generator: B2 reference, determinism, knob span, relaxation, modes."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from _helpers import first_peak

from jaxglass import families
from jaxglass.errors import UserError
from jaxglass.generate import cualzr
from jaxglass.phonons import count_imaginary, frequencies
from jaxglass.potentials import energy, zhou_johnson_wadley

SETFL = Path(__file__).resolve().parents[2] / "shared" / "potentials" / "ZrCuAl2011.eam.alloy"


@pytest.fixture(scope="module")
def crys():
    return cualzr.crystal(250)


@pytest.fixture(scope="module")
def glass1():
    return cualzr.generate(250, 1.0, 5)


@pytest.fixture(scope="module")
def glass05():
    return cualzr.generate(250, 0.5, 5)


def test_b2_lattice_constant_is_a_minimum():
    pot = cualzr.default_potential()
    a = cualzr.b2_lattice_constant(pot)
    assert 3.15 < a < 3.3
    assert abs(a - cualzr.A_B2_DEFAULT) < 1e-4  # the recorded constant of smallest_cell()
    e = [energy(pot, cualzr.b2_crystal(x, 6)) for x in (a - 0.005, a, a + 0.005)]
    assert e[1] < e[0] and e[1] < e[2]
    # parabola through the three points: vertex within 1e-4 Å of a
    c = np.polyfit([-0.005, 0.0, 0.005], e, 2)
    assert abs(-c[1] / (2 * c[0])) < 1e-4


@pytest.mark.skipif(not SETFL.is_file(), reason="Cheng-Ma-Sheng setfl file not available")
def test_setfl_b2_lattice_constant_matches_lammps():
    g = cualzr.crystal(250, setfl=SETFL)
    # LAMMPS with ZrCuAl2011.eam.alloy: B2 CuZr a = 3.25257 Å
    assert g.info["lattice_constant"] == pytest.approx(3.25257, abs=2e-4)
    assert g.info["converged"]
    assert "ZrCuAl2011" in g.potential.name


def test_crystal(crys):
    s = crys.structure
    assert s.n_atoms == 250 and s.species_names == cualzr.SPECIES
    assert crys.info["composition"] == {"Cu": 115, "Zr": 115, "Al": 20}
    assert np.all(np.asarray(s.box) > 2 * (crys.potential.cutoff + cualzr.SKIN))
    assert crys.info["converged"] and crys.info["fmax"] <= crys.info["fmax_tol"]
    # Al on the Cu sublattice stays on corners, on the Zr sublattice on centres: B2 kept
    a = crys.info["lattice_constant"]
    frac = np.asarray(s.positions) / a
    assert np.max(np.abs(frac - np.round(2 * frac) / 2)) < 0.1


def test_glass_relaxed_and_recorded(glass1, glass05, crys):
    for g, f in ((glass1, 1.0), (glass05, 0.5)):
        info = g.info
        assert info["converged"] and info["fmax"] <= info["fmax_tol"]
        assert g.knob_values == {"melt_fraction": f, "n_melted": round(f * 250)}
        assert info["composition"] == {"Cu": 115, "Zr": 115, "Al": 20}
        sp = np.asarray(g.structure.species)
        assert np.bincount(sp, minlength=3).tolist() == [115, 115, 20]
        for key in ("seed", "size", "protocol", "wall_time_s", "lattice_constant", "mean_coordination"):
            assert key in info
        assert 11.0 < info["mean_coordination"] < 14.5
    assert crys.info["energy_per_atom"] < glass05.info["energy_per_atom"] < glass1.info["energy_per_atom"]


def test_deterministic(glass05):
    again = cualzr.generate(250, 0.5, 5)
    np.testing.assert_array_equal(
        np.asarray(again.structure.positions), np.asarray(glass05.structure.positions)
    )
    np.testing.assert_array_equal(np.asarray(again.structure.species), np.asarray(glass05.structure.species))


def test_knob_lowers_first_peak(crys, glass05, glass1):
    p0, p5, p1 = first_peak(crys.structure), first_peak(glass05.structure), first_peak(glass1.structure)
    # measured: 14.4, ~5.7, ~4.4
    assert p0 > 2.0 * p5
    assert p5 > 1.1 * p1


def test_no_imaginary_modes(glass1):
    f = np.asarray(frequencies(glass1.potential, glass1.structure))
    assert count_imaginary(f) == 0
    assert 7.0 < f.max() < 15.0  # THz


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_atoms=250, knob=-0.1), "knob"),
        (dict(n_atoms=250, knob=1.01), "knob"),
        (dict(n_atoms=128, knob=0.5), "n_atoms"),
        (dict(n_atoms=250, knob=0.5, size="tiny"), "size"),
        (dict(n_atoms=250, knob=0.5, potential=zhou_johnson_wadley(("Cu", "Zr"))), "potential"),
        (dict(n_atoms=250, knob=0.5, potential=cualzr.default_potential(), setfl="x.eam.alloy"), "potential"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        cualzr.generate(seed=0, **kwargs)


def test_paper_size_starts():
    # paper protocol: documented settings, ~1000 atoms; only check that it is set up correctly
    p = cualzr.PROTOCOLS["paper"]
    assert p.n_quench * p.dt_fs >= 50_000  # >= 50 ps quench
    assert cualzr.supercell(1000, 3.19, 7.155) == 8  # 1024 atoms


def test_random_fill_relaxes_distances_when_jammed():
    from jaxglass.generate.partial_melt import random_fill

    box = np.array([2.0, 2.0, 2.0])
    sp = np.zeros(8, int)
    chosen = np.arange(8)
    # 8 points at mutual distance >= 1 in a periodic 2^3 box only fit as the simple-cubic lattice:
    # random sequential addition jams, and the relaxed distances (0.9, 0.81, 0.729) let it finish
    pos = random_fill(np.zeros((8, 3)), sp, box, chosen, np.zeros(3), np.inf, np.array([[1.0]]),
                      np.random.default_rng(0), max_batches=50)
    dr = pos[:, None] - pos[None]
    dr -= box * np.round(dr / box)
    d = np.linalg.norm(dr, axis=-1)[np.triu_indices(8, 1)]
    assert d.min() >= 0.729 - 1e-12 and d.min() < 1.0
    with pytest.raises(RuntimeError, match="too high"):
        random_fill(np.zeros((8, 3)), sp, box, chosen, np.zeros(3), np.inf, np.array([[1.6]]),
                    np.random.default_rng(0), max_batches=20)


class _Stop(Exception):
    pass


@pytest.mark.parametrize("family", ["sic", "cualzr", "hea"])
def test_partial_melt_generators_pass_progress_to_the_md(family, monkeypatch):
    """generate(progress=...) and generate_batch(progress=...) of the partial-melt families reach the MD
    engine (a stand-in for it stops the generator there: no MD is run)."""
    import jaxglass.md

    seen = []

    def engine(*a, progress=None, **k):
        seen.append(progress)
        raise _Stop

    monkeypatch.setattr(jaxglass.md, "nvt_langevin_batch", engine)
    gen = families.generator(family)
    if hasattr(gen, "A_B2_DEFAULT"):  # skip the lattice-constant fit and the MD tables: not under test
        monkeypatch.setattr(gen, "b2_lattice_constant", lambda pot: gen.A_B2_DEFAULT)
        monkeypatch.setattr(gen.pm, "md_potential", lambda pot: pot)
    cb = [lambda done, total: None for _ in range(2)]
    n = families.smallest_cell(family).n_atoms
    with pytest.raises(_Stop):
        gen.generate(n, 0.1, 0, progress=cb[0])
    with pytest.raises(_Stop):
        gen.generate_batch(n, [0.1, 0.2], [0, 1], progress=cb[1])
    assert seen == cb


@pytest.mark.parametrize("family", ["sic", "cualzr", "hea"])
@pytest.mark.parametrize("knobs, seeds, match", [([0.5], [0, 1], "knobs, seeds"), ([], [], "knobs, seeds"),
                                                 ([0.5, 1.5], [0, 1], "knob"), ([0.5], [-1], "seed")])
def test_generate_batch_refuses_bad_knobs_and_seeds(family, knobs, seeds, match):
    gen = families.generator(family)
    with pytest.raises(UserError, match=match):
        gen.generate_batch(families.smallest_cell(family).n_atoms, knobs, seeds)


def _tiny(protocol, **kw):
    """A protocol with a 20-step MD (10 hot, 10 quench) in chunks of 10."""
    return dataclasses.replace(protocol, n_hot=10, n_quench=10, chunk=10, **kw)


@pytest.mark.parametrize("family", ["sic", "cualzr"])  # three-body Vashishta; EAM on setfl tables
def test_batched_generation_matches_single(family):
    """generate_batch: each glass equals its own generate (crystal, melt region, random fill, pinned
    atoms, thermostat seed, MD potential, schedule) to round-off at the end of a 20-step MD (followed by
    one L-BFGS step, a smooth map of the MD's end); the knob-0 glass has no MD and is not counted in
    the batch."""
    gen = families.generator(family)
    prot = _tiny(gen.PROTOCOLS["small"], max_steps=1)
    n = families.smallest_cell(family).n_atoms
    knobs, seeds = [0.1, 0.0, 0.3], [1, 5, 2]
    batch = gen.generate_batch(n, knobs, seeds, protocol=prot)
    assert [g.info.get("md_batch") for g in batch] == [2, None, 2]
    assert [g.info["seed"] for g in batch] == seeds and [g.knob for g in batch] == knobs
    for g, knob, seed in zip(batch, knobs, seeds):
        one = gen.generate(n, knob, seed, protocol=prot)
        assert one.info.get("md_batch") == (None if knob == 0 else 1)
        assert g.knob_values == one.knob_values and g.info["melt_centre"] == one.info["melt_centre"]
        np.testing.assert_array_equal(np.asarray(g.structure.species), np.asarray(one.structure.species))
        box = np.asarray(one.structure.box)
        dx = np.asarray(g.structure.positions) - np.asarray(one.structure.positions)
        assert np.max(np.abs(dx - box * np.round(dx / box))) < 1e-9
        assert g.info["energy_per_atom"] == pytest.approx(one.info["energy_per_atom"], abs=1e-10)
        if knob:
            assert g.info["md_final_T"] == pytest.approx(one.info["md_final_T"], rel=1e-8)
            assert g.info["md_potential"] == one.info["md_potential"] != g.potential.name  # the MD tables
    moved = np.asarray(batch[0].structure.positions) - np.asarray(batch[2].structure.positions)
    assert np.max(np.abs(moved)) > 0.1  # the replicas are different glasses


def test_generate_with_batch_builds_a_dataset(tmp_path, monkeypatch):
    """jaxglass generate --system cualzr --batch 2 --workers 0: the two glasses are generated together
    (one MD of two replicas) and written as valid records (RDF, modes, PDOS; the observables, which
    records of any family compute the same way, are left out to keep the test short)."""
    import functools

    from jaxglass.cli import main
    from jaxglass.data import load_dataset, read_record, record_path, records

    monkeypatch.setitem(cualzr.PROTOCOLS, "small", _tiny(cualzr.PROTOCOLS["small"]))
    monkeypatch.setattr(records, "characterise", functools.partial(records.characterise, observables=False))
    out = tmp_path / "d"
    assert main(["generate", "--system", "cualzr", "--n-structures", "2", "--no-crystal", "--batch", "2",
                 "--workers", "0", "--out", str(out), "--quiet"]) == 0
    infos = [json.loads(str(read_record(record_path(out, k))["info"])) for k in (0, 1)]
    assert [i["md_batch"] for i in infos] == [2, 2]
    assert all(i["converged"] and i["protocol"]["n_hot"] == 10 for i in infos)
    ds = load_dataset(out)
    assert len(ds.knob) == 2 and np.all(np.isfinite(ds.pdos_total))
