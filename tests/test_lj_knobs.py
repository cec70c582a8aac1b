"""Alternative Kob-Andersen knobs (composition, quench rate) and the bond-orientational order.

References: freud (Hexatic, Steinhardt, SolidLiquid) for ψ6 / q6 / crystalline atoms, the analytic
fcc q6 = 0.57452 and q4 = 0.19094 (Steinhardt et al. 1983), |ψ6| = 1 of a triangular lattice; the
knob → composition / quench-rate maps against their closed forms; the generated minima against
numpy force norms and the Hessian's eigenvalues.
"""

import dataclasses

import numpy as np
import pytest

from jaxglass import data, families, phonons
from jaxglass.analysis.order import bond_order, crystalline_fraction
from jaxglass.cli import main
from jaxglass.generate import family_potential, lj, lj_knobs
from jaxglass.potentials import forces
from jaxglass.structure import make_structure

# a short protocol for tests: same path, fewer MD steps
FAST = dataclasses.replace(lj_knobs.KNOB_PROTOCOLS["small"], n_hot=60, n_quench=120, n_slow=400, n_fast=4)


def _perturbed(dim, amp, seed=0):
    s, _ = lj.lattice(dim, 256 if dim == 3 else 128)
    rng = np.random.default_rng(seed)
    pos = np.asarray(s.positions) + amp * rng.standard_normal(s.positions.shape)
    return make_structure(pos, np.asarray(s.species), np.asarray(s.box), species_names=lj.SPECIES,
                          masses=np.ones(s.n_atoms), min_distance=None)


def _freud_system(s):
    import freud

    box = np.asarray(s.box)
    pos = np.mod(np.asarray(s.positions), box) - 0.5 * box
    if s.dim == 2:
        return freud.box.Box.from_box([box[0], box[1]], dimensions=2), np.c_[pos, np.zeros(len(pos))]
    return freud.box.Box.from_box(box), pos


def test_order_analytic_lattices():
    tri, _ = lj.lattice(2, 128)
    np.testing.assert_allclose(bond_order(tri, 6), 1.0, atol=1e-12)
    fcc, _ = lj.lattice(3, 256)
    np.testing.assert_allclose(bond_order(fcc, 6), 0.57452, atol=5e-6)
    np.testing.assert_allclose(bond_order(fcc, 4), 0.19094, atol=5e-6)
    assert crystalline_fraction(tri)["fraction"] == 1.0 and crystalline_fraction(fcc)["fraction"] == 1.0


@pytest.mark.parametrize("dim", [2, 3])
def test_order_matches_freud(dim):
    freud = pytest.importorskip("freud")
    r_cut = 1.35
    for amp in (0.03, 0.08, 0.15):
        s = _perturbed(dim, amp, seed=int(100 * amp))
        system = _freud_system(s)
        if dim == 2:
            ref = np.abs(freud.order.Hexatic(k=6).compute(system, neighbors={"r_max": r_cut}).particle_order)
        else:
            ref = freud.order.Steinhardt(l=6).compute(system, neighbors={"r_max": r_cut}).particle_order
            sl = freud.order.SolidLiquid(l=6, q_threshold=0.7, solid_threshold=7, normalize_q=True)
            sl.compute(system, neighbors={"r_max": r_cut})
            mine = crystalline_fraction(s, r_cut)
            np.testing.assert_array_equal(mine["connections"], sl.num_connections)
            np.testing.assert_array_equal(mine["mask"], sl.num_connections >= 7)
        np.testing.assert_allclose(bond_order(s, 6, r_cut), ref, atol=1e-5)


def test_order_rejects_bad_cutoff():
    s, _ = lj.lattice(2, 128)
    with pytest.raises(ValueError, match="r_cut"):
        bond_order(s, 6, r_cut=0.0)
    with pytest.raises(ValueError, match="r_cut"):
        bond_order(s, 6, r_cut=100.0)


def test_knob_maps():
    prot = lj_knobs.KNOB_PROTOCOLS["small"]
    for dim, xs in ((2, 0.35), (3, 0.20)):
        for knob in (0.0, 0.3, 1.0):
            assert lj_knobs.comp_x_b(dim, knob) == pytest.approx(knob * xs)
    assert lj_knobs.quench_steps(0.0, prot) == prot.n_slow
    assert lj_knobs.quench_steps(1.0, prot) == prot.n_fast
    assert lj_knobs.quench_steps(0.5, prot) == round(np.sqrt(prot.n_slow * prot.n_fast))
    # log10 of the rate is linear in the knob, spanning log10(n_slow / n_fast) decades
    rates = [(prot.kT_hot - prot.kT_end) / (lj_knobs.quench_steps(k, prot) * prot.dt) for k in (0, 0.25, 0.5)]
    step = 0.25 * np.log10(prot.n_slow / prot.n_fast)
    np.testing.assert_allclose(np.diff(np.log10(rates)), step, rtol=2e-3)


def test_random_start_spacing():
    box = np.array([8.0, 7.0])
    pos = lj_knobs.random_start(box, 60, 0.7, np.random.default_rng(0))
    d = pos[:, None] - pos[None]
    d -= box * np.round(d / box)
    r = np.sqrt((d**2).sum(-1))[np.triu_indices(60, 1)]
    assert r.min() >= 0.7 and np.all((pos >= 0) & (pos < box))
    with pytest.raises(ValueError, match="min_distance"):
        lj_knobs.random_start(box, 200, 0.9, np.random.default_rng(0), max_tries=50)


@pytest.mark.parametrize("kind", ["comp", "quench"])
def test_generate_2d_minimum_deterministic(kind):
    gen = lj_knobs.generate_comp if kind == "comp" else lj_knobs.generate_quench
    knob = 0.6
    a = gen(2, 56, knob, 5, protocol=FAST)
    b = gen(2, 56, knob, 5, protocol=FAST)
    c = gen(2, 56, knob, 6, protocol=FAST)
    s = a.structure
    np.testing.assert_array_equal(np.asarray(s.positions), np.asarray(b.structure.positions))
    assert not np.allclose(np.asarray(s.positions), np.asarray(c.structure.positions))
    # knob → composition / quench length, as recorded
    x_b = lj_knobs.comp_x_b(2, knob) if kind == "comp" else 0.35
    n_b = int(np.sum(np.asarray(s.species) == 1))
    assert n_b == round(x_b * s.n_atoms) and a.knob_values["x_B"] == n_b / s.n_atoms
    n_q = FAST.n_quench if kind == "comp" else lj_knobs.quench_steps(knob, FAST)
    assert a.knob_values["n_quench"] == n_q and a.info["md_steps"] == FAST.n_hot + n_q
    # a relaxed minimum: forces below the tolerance, no imaginary modes
    f = np.linalg.norm(np.asarray(forces(a.potential, s)), axis=1).max()
    assert a.info["converged"] and f <= a.info["fmax_tol"] * 1.01
    m = phonons.modes(a.potential, s)
    assert phonons.count_imaginary(np.asarray(m.frequencies)) == 0


def test_generate_3d_comp_minimum():
    g = lj_knobs.generate_comp(3, 256, 1.0, 2, protocol=dataclasses.replace(FAST, n_hot=30, n_quench=60))
    s = g.structure
    assert s.n_atoms == 256 and int(np.sum(np.asarray(s.species) == 1)) == round(0.2 * 256)
    f = np.linalg.norm(np.asarray(forces(g.potential, s)), axis=1).max()
    assert g.info["converged"] and f <= g.info["fmax_tol"] * 1.01
    assert phonons.count_imaginary(np.asarray(phonons.modes(g.potential, s).frequencies)) == 0


def test_registry_and_cli(tmp_path):
    for name, dim in (("lj2d-comp", 2), ("lj3d-comp", 3), ("lj2d-quench", 2), ("lj3d-quench", 3)):
        fam = families.generator(name)
        assert fam.name == name and fam.dim == dim and name in families.REGISTRY
        assert family_potential(name) is lj.potential()
    with pytest.raises(ValueError, match="knob"):
        families.generator("lj2d-comp").generate(56, 1.5, 0)
    # structure 0 is the crystal: the CLI runs the family end to end in this process
    out = tmp_path / "ds"
    assert main(["generate", "--system", "lj2d-quench", "--n-structures", "1", "--n-atoms", "80",
                 "--workers", "0", "--out", str(out), "--quiet"]) == 0
    rec = data.read_record(out / "structures" / "00000.npz")
    assert int(rec["n_imaginary"]) == 0 and "lj2d-quench.crystal" in str(rec["info"])
