"""Minimisers reach true minima (force tolerance, no imaginary modes) and report failure clearly."""

import numpy as np
import pytest

from jaxglass import phonons
from jaxglass.generate import graphene, random_packing
from jaxglass.minimize import MinimizationError, minimize
from jaxglass.potentials import forces, kob_andersen, lindsay_broido_carbon


@pytest.fixture(scope="module")
def ka2d():
    return random_packing(64, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=11)


@pytest.mark.parametrize("method,tol", [("lbfgs", 1e-6), ("fire", 1e-4)])
def test_relaxes_ka_glass_to_a_minimum(ka2d, method, tol):
    pot = kob_andersen()
    res = minimize(pot, ka2d, method=method, fmax=tol)
    assert res.converged, res.message
    f = np.asarray(forces(pot, res.structure))
    assert np.max(np.linalg.norm(f, axis=1)) <= tol * 1.0001
    e0 = float(pot.energy(ka2d, pot.neighbors(ka2d)))
    assert res.energy < e0
    if method == "lbfgs":
        freqs = phonons.frequencies(pot, res.structure)
        assert phonons.count_imaginary(freqs) == 0


def test_lbfgs_relaxes_distorted_graphene_back():
    pot = lindsay_broido_carbon()
    g = graphene(2.49205, (3, 3))
    rng = np.random.default_rng(0)
    s = g.with_positions(g.positions + rng.normal(scale=0.08, size=g.positions.shape))
    res = minimize(pot, s, fmax=1e-5)
    assert res.converged
    assert res.energy / s.n_atoms == pytest.approx(-7.977702, abs=1e-6)


def test_failure_is_reported(ka2d):
    pot = kob_andersen()
    res = minimize(pot, ka2d, method="fire", fmax=1e-8, max_steps=5)
    assert not res.converged
    assert "did not converge" in res.message and "max_steps" in res.message
    with pytest.raises(MinimizationError, match="fmax"):
        minimize(pot, ka2d, method="lbfgs", fmax=1e-8, max_steps=3, raise_on_fail=True)
    with pytest.raises(ValueError, match="method"):
        minimize(pot, ka2d, method="cg")


def test_energy_and_forces_equal_energy_and_minus_gradient(ka2d):
    """``Potential.energy_and_forces`` (what L-BFGS evaluates when ``explicit_forces``) equals the energy
    and ``-grad E`` to round-off on every route: pair terms (KA, the energy from the force pass),
    Vashishta (pair + hand-written three-body gradient) and Tersoff (reverse mode)."""
    import jax

    from jaxglass.generate import sic

    cells = [(kob_andersen(), ka2d, True), (lindsay_broido_carbon(), graphene(2.45, (3, 3)), False),
             (sic.potential(), sic.crystal(400).structure, True)]
    for pot, s, explicit in cells:
        rng = np.random.default_rng(1)
        s = s.with_positions(s.positions + rng.normal(scale=0.03, size=s.positions.shape))
        nb = pot.neighbors(s, 0.3)
        e, f = jax.jit(lambda p, st, nb: p.energy_and_forces(st, nb))(pot, s, nb)
        e_ref, g = jax.value_and_grad(lambda x, p=pot, st=s, nb=nb: p.energy(st.with_positions(x), nb))(
            s.positions)
        assert pot.explicit_forces == explicit
        assert abs(float(e) - float(e_ref)) <= 1e-12 * abs(float(e_ref))
        assert np.max(np.abs(np.asarray(f) + np.asarray(g))) <= 1e-10 * np.max(np.abs(np.asarray(g)))


def test_relaxation_lists_keep_pairs_within_pair_cutoffs_plus_skin():
    """The relaxation builds a site term with per-species-pair cutoffs (the Vashishta three-body term)
    a list of only the pairs within those + skin (``neighbors.within_pair_reach``): it equals a
    brute-force filter of the full list (in order, for a minimum-image and an image list), is
    narrower, and gives the same energy and forces as the full list after moves below half the skin."""
    import jax

    from jaxglass.generate import sic
    from jaxglass.minimize import _Evaluator
    from jaxglass.neighbors import image_neighbor_list, neighbor_list, within_pair_reach

    pot = sic.potential()
    s = sic.crystal(400).structure
    rng = np.random.default_rng(3)
    s = s.with_positions(s.positions + rng.normal(scale=0.15, size=s.positions.shape))
    term, skin, n = pot.terms[1], 0.3, s.n_atoms
    sp = pot.species_map(s)[np.asarray(s.species)]
    table = np.asarray(term.pair_cutoffs) + skin
    pos, box = np.asarray(s.positions), np.asarray(s.box)
    for full in (neighbor_list(s, term.cutoff, skin=skin), image_neighbor_list(s, term.cutoff, skin=skin)):
        got = within_pair_reach(s, full, table, sp)
        images = full.ndim == 3
        for i in range(n):
            slots = [k for k in range(full.shape[1]) if (full[i, k, 0] if images else full[i, k]) < n]
            want = []
            for k in slots:
                j = full[i, k, 0] if images else full[i, k]
                dv = pos[j] - pos[i]
                dv = dv + full[i, k, 1:] * box if images else dv - box * np.round(dv / box)
                if np.dot(dv, dv) < table[sp[i], sp[j]] ** 2:
                    want.append(full[i, k])
            assert len(want) > 0 and np.array_equal(got[i, :len(want)], np.asarray(want))
            assert np.all((got[i, len(want):, 0] if images else got[i, len(want):]) == n)
    ev = _Evaluator(pot, s, skin)
    assert ev.nbrs[1].shape[1] < neighbor_list(s, term.cutoff, skin=skin).shape[1]
    x = np.asarray(s.positions) + rng.uniform(-0.07, 0.07, size=s.positions.shape)  # |move| < skin / 2
    e, g = ev(x)
    full = pot.neighbors(s.with_positions(x), skin)
    e_ref, g_ref = jax.value_and_grad(pot.energy_fn(s, full))(x)
    assert ev.rebuilds == 1
    assert abs(e - float(e_ref)) <= 1e-11 * abs(float(e_ref))
    assert np.max(np.abs(g - np.asarray(g_ref))) <= 1e-10 * np.max(np.abs(np.asarray(g_ref)))
