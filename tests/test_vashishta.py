"""Tests of the Vashishta potential (LAMMPS ``pair_style vashishta`` form).

References: the LAMMPS energy of 3C-SiC with ``SiC.vashishta``, central finite
differences, and a plain-Python loop implementation written here from the formulae, with its own
transcription of the parameter files.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass.errors import UserError
from jaxglass.neighbors import pair_list
from jaxglass.potentials.vashishta import (
    SIC_VASHISHTA_2007,
    for_md,
    parse_vashishta,
    read_vashishta_file,
    tabulated,
    vashishta,
    vashishta_sic_2007,
)
from jaxglass.structure import make_structure, replicate

A_SIC = 4.35817  # LAMMPS equilibrium lattice constant (Å)
E_SIC = -6.340145  # LAMMPS energy per atom (eV)
KE = 14.399645  # e^2 / (4 pi eps0) in eV Å (LAMMPS metal units)

# Independent transcription of LAMMPS potentials/SiC.vashishta:
# (i, j, k): H eta Zi Zj lambda1 D lambda4 W rc B gamma r0 C cos(theta0)
REF_SIC = {
    ("C", "C", "C"): (471.74538, 7, -1.201, -1.201, 5.0, 0.0, 3.0, 0.0, 7.35, 0, 0, 0, 0, 0),
    ("Si", "Si", "Si"): (23.67291, 7, 1.201, 1.201, 5.0, 15.575, 3.0, 0.0, 7.35, 0, 0, 0, 0, 0),
    ("C", "Si", "Si"): (447.09026, 9, -1.201, 1.201, 5.0, 7.7874, 3.0, 61.4694, 7.35, 9.003, 1.0, 2.90, 5.0,
                        -0.333333333333),
    ("Si", "C", "C"): (447.09026, 9, 1.201, -1.201, 5.0, 7.7874, 3.0, 61.4694, 7.35, 9.003, 1.0, 2.90, 5.0,
                       -0.333333333333),
}  # fmt: skip
for _key in [("C", "C", "Si"), ("C", "Si", "C"), ("Si", "C", "Si"), ("Si", "Si", "C")]:
    REF_SIC[_key] = (0.0,) * 14

# LAMMPS potentials/SiO.1990.vashishta (Vashishta et al., PRB 41, 12197 (1990)): asymmetric
# three-body strengths (O-centred vs Si-centred), C = 0, two different angles.
SIO2_TEXT = """\
# CITATION: P. Vashishta, R. K. Kalia, J. P. Rino, and I. Ebbsjo, Phys. Rev. B 41, 12197 (1990).
Si  Si  Si  0.82023  11  1.6  1.6  999  0.0  4.43
            0.0  10.0  0.0  0.0  0.0  0.0  0.0
O   O   O   743.848  7  -0.8 -0.8 999  22.1179  4.43
            0.0  10.0  0.0  0.0  0.0  0.0  0.0
O   Si  Si  163.859  9  -0.8  1.6  999  44.2357  4.43
            0.0  10.0  20.146  1.0  2.60  0.0  -0.77714596
Si  O   O   163.859  9  1.6  -0.8  999  44.2357  4.43
            0.0  10.0  5.0365  1.0  2.60  0.0  -0.333333333333
Si  O   Si  0 0 0 0 0 0 0 0 0 0 0 0 0 0
Si  Si  O   0 0 0 0 0 0 0 0 0 0 0 0 0 0
O   Si  O   0 0 0 0 0 0 0 0 0 0 0 0 0 0
O   O   Si  0 0 0 0 0 0 0 0 0 0 0 0 0 0
"""
REF_SIO2 = {
    ("Si", "Si", "Si"): (0.82023, 11, 1.6, 1.6, 999, 0.0, 4.43, 0.0, 10.0, 0, 0, 0, 0, 0),
    ("O", "O", "O"): (743.848, 7, -0.8, -0.8, 999, 22.1179, 4.43, 0.0, 10.0, 0, 0, 0, 0, 0),
    ("O", "Si", "Si"): (163.859, 9, -0.8, 1.6, 999, 44.2357, 4.43, 0.0, 10.0, 20.146, 1.0, 2.60, 0.0,
                        -0.77714596),
    ("Si", "O", "O"): (163.859, 9, 1.6, -0.8, 999, 44.2357, 4.43, 0.0, 10.0, 5.0365, 1.0, 2.60, 0.0,
                       -0.333333333333),
}  # fmt: skip
for _key in [("Si", "O", "Si"), ("Si", "Si", "O"), ("O", "Si", "O"), ("O", "O", "Si")]:
    REF_SIO2[_key] = (0.0,) * 14


# -- independent reference: plain loops over pairs and triplets --------------------------------


def _ref_v2(r, p):
    """Unshifted two-body V2 (works for complex r: used for the complex-step derivative)."""
    h, eta, zi, zj, l1, d, l4, w = p[:8]
    scr1 = np.exp(-r / l1) if l1 > 0 else 1.0
    scr4 = np.exp(-r / l4) if l4 > 0 else 1.0
    return h / r**eta + KE * zi * zj * scr1 / r - d * scr4 / r**4 - w / r**6


def _ref_v2_shifted(r, p):
    rc = p[8]
    if not r < rc:
        return 0.0
    hstep = 1e-20
    dvrc = np.imag(_ref_v2(complex(rc, hstep), p)) / hstep  # complex-step derivative, exact to rounding
    return _ref_v2(r, p) - _ref_v2(rc, p) - (r - rc) * dvrc


def ref_energy(pos, symbols, box, params):
    """Vashishta energy by explicit loops (LAMMPS conventions; box=None: no periodicity)."""
    pos = np.asarray(pos, dtype=float)
    n = len(pos)
    energy = 0.0
    near: list[list[np.ndarray]] = [[] for _ in range(n)]  # (r_ij vector, j) within r0 of entry (i,j,j)
    near_sp: list[list[str]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            dvec = pos[j] - pos[i]
            if box is not None:
                dvec = dvec - box * np.round(dvec / box)
            r = math.sqrt(float(dvec @ dvec))
            si, sj = symbols[i], symbols[j]
            energy += _ref_v2_shifted(r, params[(si, sj, sj)])
            if r < params[(si, sj, sj)][11]:
                near[i].append(dvec)
                near_sp[i].append(sj)
            if r < params[(sj, si, si)][11]:
                near[j].append(-dvec)
                near_sp[j].append(si)
    for i in range(n):
        si = symbols[i]
        m = len(near[i])
        for a in range(m):
            for b in range(a + 1, m):
                sj, sk = near_sp[i][a], near_sp[i][b]
                pij, pik, pijk = params[(si, sj, sj)], params[(si, sk, sk)], params[(si, sj, sk)]
                r1 = math.sqrt(float(near[i][a] @ near[i][a]))
                r2 = math.sqrt(float(near[i][b] @ near[i][b]))
                cos = float(near[i][a] @ near[i][b]) / (r1 * r2)
                f1 = math.exp(pij[10] / (r1 - pij[11]))
                f2 = math.exp(pik[10] / (r2 - pik[11]))
                bb, cc, c0 = pijk[9], pijk[12], pijk[13]
                dc = cos - c0
                energy += bb * f1 * f2 * dc * dc / (1.0 + cc * dc * dc)
    return energy


# -- structures ----------------------------------------------------------------------------------


def zincblende(a, reps=(4, 4, 4)):
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    pos = np.concatenate([fcc, fcc + 0.25]) * a
    cell = make_structure(pos, ["Si"] * 4 + ["C"] * 4, a, species_names=("Si", "C"))
    return replicate(cell, reps)


def perturbed_sic(seed, sigma=0.08, swaps=6, avoid_cutoffs=False):
    """512-atom 3C-SiC with random displacements and a few Si<->C antisite swaps; with
    ``avoid_cutoffs``, redrawn until no pair lies within 0.01 Å of r0 = 2.90 Å or r_c = 7.35 Å
    (the crystal has no shell within 0.18 Å of either, so small ``sigma`` succeeds)."""
    base = zincblende(A_SIC)
    rng = np.random.default_rng(seed)
    for _ in range(50):
        sp = np.asarray(base.species).copy()
        si_idx, c_idx = np.flatnonzero(sp == 0), np.flatnonzero(sp == 1)
        i = rng.choice(si_idx, size=swaps, replace=False)
        j = rng.choice(c_idx, size=swaps, replace=False)
        sp[i], sp[j] = 1, 0
        pos = np.asarray(base.positions) + sigma * rng.standard_normal(base.positions.shape)
        s = make_structure(pos, sp, np.asarray(base.box), species_names=base.species_names)
        if not avoid_cutoffs:
            return s
        i, j = pair_list(s, 7.4)
        d = np.asarray(s.positions)[j] - np.asarray(s.positions)[i]
        d -= np.asarray(s.box) * np.round(d / np.asarray(s.box))
        r = np.linalg.norm(d, axis=1)
        if np.min(np.abs(r - 2.90)) > 0.01 and np.min(np.abs(r - 7.35)) > 0.01:
            return s
    raise RuntimeError("could not draw a structure away from the cutoffs")


def sic_cluster(seed=0, n_keep=14, sigma=0.1):
    """Small non-periodic SiC fragment (zincblende, perturbed)."""
    base = zincblende(A_SIC, (2, 2, 2))
    pos = np.asarray(base.positions)
    centre = pos.mean(axis=0)
    order = np.argsort(np.linalg.norm(pos - centre, axis=1))[:n_keep]
    rng = np.random.default_rng(seed)
    p = pos[order] + sigma * rng.standard_normal((n_keep, 3))
    return make_structure(p, np.asarray(base.species)[order], 1.0, species_names=("Si", "C"), periodic=False)


@pytest.fixture(scope="module")
def pot():
    return vashishta_sic_2007()


# -- tests ---------------------------------------------------------------------------------------


def test_sic_energy_matches_lammps(pot):
    s = zincblende(A_SIC)
    assert s.n_atoms == 512 and float(np.min(s.box)) > 2 * 7.35
    nb = pot.neighbors(s)
    e, g = jax.jit(jax.value_and_grad(pot.energy_fn(s, nb)))(s.positions)
    assert abs(float(e) / s.n_atoms - E_SIC) < 1e-4, float(e) / s.n_atoms
    assert float(jnp.max(jnp.abs(g))) < 1e-10  # perfect crystal: forces vanish by symmetry


def test_sic_lattice_constant_is_minimum(pot):
    s0 = zincblende(A_SIC)
    nb = pot.neighbors(s0, skin=0.3)  # valid for the few-per-mille strains below

    def e_of_a(a):
        x = a / A_SIC
        return pot.energy(s0.replace(positions=s0.positions * x, box=s0.box * x), nb) / s0.n_atoms

    e_and_de = jax.jit(jax.value_and_grad(e_of_a))
    a, step = A_SIC, 1e-4
    for _ in range(3):  # Newton on dE/da = 0, curvature by central differences of dE/da
        d1 = float(e_and_de(a)[1])
        d2 = (float(e_and_de(a + step)[1]) - float(e_and_de(a - step)[1])) / (2 * step)
        a = a - d1 / d2
    assert d2 > 0
    assert abs(a - A_SIC) < 2e-4, a
    e0 = float(e_and_de(A_SIC)[0])
    assert float(e_and_de(A_SIC * 0.99)[0]) > e0 and float(e_and_de(A_SIC * 1.01)[0]) > e0


def test_forces_match_finite_differences(pot):
    s = perturbed_sic(seed=1, sigma=0.025, swaps=4, avoid_cutoffs=True)
    nb = pot.neighbors(s)
    f = pot.energy_fn(s, nb)
    efn = jax.jit(f)
    grad = np.asarray(jax.jit(jax.grad(f))(s.positions))
    rng = np.random.default_rng(7)
    atoms = rng.choice(s.n_atoms, size=5, replace=False)
    h = 1e-5
    x0 = np.asarray(s.positions)
    for i in atoms:
        for ax in range(3):
            xp, xm = x0.copy(), x0.copy()
            xp[i, ax] += h
            xm[i, ax] -= h
            fd = (float(efn(jnp.asarray(xp))) - float(efn(jnp.asarray(xm)))) / (2 * h)
            assert abs(fd - grad[i, ax]) < 1e-6 * max(1.0, abs(grad[i, ax])), (i, ax, fd, grad[i, ax])


def test_energy_matches_loop_reference_sic(pot):
    s = perturbed_sic(seed=2)
    names = s.symbols()
    assert {"Si", "C"} <= set(names)
    e_ref = ref_energy(np.asarray(s.positions), names, np.asarray(s.box), REF_SIC)
    e = float(jax.jit(pot.energy)(s, pot.neighbors(s)))
    print(f"SiC 512 atoms: jax {e:.12f} loop {e_ref:.12f} diff {e - e_ref:.3e} eV")
    assert abs(e - e_ref) < 1e-10 * abs(e_ref), (e, e_ref, e - e_ref)
    # the antisites put C-C and Si-Si pairs at bond length: all four two-body pairs are exercised
    assert e_ref / s.n_atoms > E_SIC


def test_energy_matches_loop_reference_sio2_cluster():
    """Asymmetric three-body parameters (O- vs Si-centred), C = 0: checks which entry applies."""
    pot = read_vashishta_file(SIO2_TEXT, ("Si", "O"))
    rng = np.random.default_rng(3)
    # a loose random cluster with Si-O distances around 1.6-2.6 Å so both centres have triplets
    pos, sym = [], []
    while len(pos) < 24:
        p = rng.uniform(0, 6.0, 3)
        if all(np.linalg.norm(p - q) > 1.45 for q in pos):
            pos.append(p)
            sym.append("Si" if len(pos) % 3 == 0 else "O")
    pos = np.array(pos)
    s = make_structure(pos, sym, 1.0, species_names=("Si", "O"), periodic=False)
    e_ref = ref_energy(pos, sym, None, REF_SIO2)
    e = float(jax.jit(pot.energy)(s, pot.neighbors(s)))
    print(f"SiO2 cluster: jax {e:.12f} loop {e_ref:.12f} diff {e - e_ref:.3e} eV")
    assert abs(e - e_ref) < 1e-10 * abs(e_ref), (e, e_ref)
    # the three-body part is really exercised, with both O- and Si-centred triplets
    e3_ref = ref_energy(pos, sym, None, REF_SIO2) - ref_energy(pos, sym, None, _two_body_part(REF_SIO2))
    assert e3_ref > 1e-2


def _two_body_part(params):
    return {k: v[:9] + (0.0,) * 5 for k, v in params.items()}


def test_hessian_finite_and_matches_fd_of_forces(pot):
    s = sic_cluster()
    nb = pot.neighbors(s, skin=1.5)  # lists hold pairs beyond r0 / rc and padded slots
    assert any((np.asarray(n) == s.n_atoms).any() for n in nb)
    f = pot.energy_fn(s, nb)
    x0 = s.positions
    hess = np.asarray(jax.jit(jax.hessian(f))(x0)).reshape(3 * s.n_atoms, 3 * s.n_atoms)
    assert np.all(np.isfinite(hess))
    assert np.allclose(hess, hess.T, atol=1e-9)
    g = jax.jit(jax.grad(f))
    h = 1e-5
    rng = np.random.default_rng(0)
    for col in rng.choice(3 * s.n_atoms, size=6, replace=False):
        e = np.zeros(3 * s.n_atoms)
        e[col] = h
        e = jnp.asarray(e.reshape(-1, 3))
        fd = (np.asarray(g(x0 + e)) - np.asarray(g(x0 - e))).ravel() / (2 * h)
        assert np.allclose(fd, hess[:, col], atol=1e-4 * max(1.0, np.abs(hess).max())), col


def test_three_body_site_nan_free_at_and_beyond_r0(pot):
    term = pot.terms[1]
    assert not term.is_pair and term.cutoff == pytest.approx(2.90)
    si = jnp.asarray(1)  # C centre (species order Si, C) with Si neighbours
    sj = jnp.asarray([0, 0, 0, 0])
    mask = jnp.asarray([True, True, True, False])
    val_f = jax.jit(term.site)
    grad_f = jax.jit(jax.grad(term.site))
    hess_f = jax.jit(jax.hessian(term.site))
    for r in [2.90, 2.90 - 1e-14, 2.90 - 1e-3, 2.90 + 1e-9, 3.5]:
        dr = jnp.asarray([[1.9, 0.0, 0.0], [0.0, r, 0.0], [-1.0, -1.0, -1.0], [6.8, 0.0, 0.0]])
        val, gr, hs = val_f(dr, mask, si, sj), grad_f(dr, mask, si, sj), hess_f(dr, mask, si, sj)
        assert np.isfinite(float(val)) and np.all(np.isfinite(gr)) and np.all(np.isfinite(hs)), r
        assert float(jnp.max(jnp.abs(gr[1]))) < 1e-12 or r < 2.9 - 1e-4  # leg at/past r0: no force
        assert np.all(np.asarray(gr[3]) == 0.0)  # padded slot


def test_three_body_pair_cutoffs_drop_nothing(pot):
    """``Term.pair_cutoffs`` of the three-body term is r0 per species pair (the MD engine keeps only
    the neighbours inside it): a Si neighbour of a Si centre, well inside 2.9 Å, adds exactly nothing."""
    term = pot.terms[1]
    assert term.pair_cutoffs == ((0.0, 2.9), (2.9, 0.0))  # species order (Si, C)
    dr = jnp.asarray([[1.9, 0.1, 0.0], [-0.6, 1.8, 0.2], [-0.5, -0.9, 1.6], [0.3, -1.2, -1.4]])
    si, sj = jnp.asarray(0), jnp.asarray([1, 1, 0, 1])  # a Si centre, slot 2 a Si neighbour at 2.0 Å
    with_si, without = jnp.asarray([True] * 4), jnp.asarray([True, True, False, True])
    assert float(term.site(dr, with_si, si, sj)) == float(term.site(dr, without, si, sj)) > 0.1
    g, g_without = (np.asarray(term.site_grad(dr, m, si, sj)) for m in (with_si, without))
    assert np.all(g[2] == 0.0) and np.array_equal(np.delete(g, 2, 0), np.delete(g_without, 2, 0))
    with pytest.raises(UserError, match="pair_cutoffs"):
        dataclasses.replace(term, pair_cutoffs=((0.0, 3.5), (2.9, 0.0)))


def _asymmetric_sio_table():
    """SiO2 1990 parameters with made-up, j <-> k asymmetric Si-centred mixed entries."""
    ref = dict(REF_SIO2)
    ref[("Si", "O", "Si")] = (0.0,) * 9 + (3.0, 0.0, 0.0, 1.0, -0.5)
    ref[("Si", "Si", "O")] = (0.0,) * 9 + (1.0, 0.0, 0.0, 2.0, 0.2)
    ref[("Si", "Si", "Si")] = REF_SIO2[("Si", "Si", "Si")][:10] + (1.0, 3.0, 0.0, 0.0)  # Si legs too
    return ref


def _asymmetric_sio():
    return vashishta(_asymmetric_sio_table(), ("Si", "O"))


def _sio_cluster(n=24):
    rng = np.random.default_rng(5)
    pos = rng.uniform(0, 6.0, (60, 3))
    keep = [0]
    for k in range(1, len(pos)):
        if np.all(np.linalg.norm(pos[keep] - pos[k], axis=1) > 1.45) and len(keep) < n:
            keep.append(k)
    return make_structure(pos[keep], ["Si" if k % 2 else "O" for k in range(len(keep))], 1.0,
                          species_names=("Si", "O"), periodic=False)


def test_energy_asymmetric_three_body_is_mean_of_both_orders():
    """With j <-> k asymmetric entries each unordered pair {j, k} gets the mean of the (i, j, k) and
    (i, k, j) terms: the loop reference (which takes (i, j, k) in list order) with the table and
    with its j <-> k swap, averaged."""
    table = _asymmetric_sio_table()
    swapped = {(a, b, c): table[(a, c, b)] for a, b, c in table}
    s = _sio_cluster()
    pos, sym = np.asarray(s.positions), s.symbols()
    e_ref = 0.5 * (ref_energy(pos, sym, None, table) + ref_energy(pos, sym, None, swapped))
    pot = _asymmetric_sio()
    e = float(jax.jit(pot.energy)(s, pot.neighbors(s)))
    assert abs(e - e_ref) < 1e-12 * abs(e_ref), (e, e_ref)
    assert abs(ref_energy(pos, sym, None, table) - e_ref) > 1e-3  # the asymmetry matters here


def test_explicit_three_body_forces_match_reverse_mode(pot):
    """``Potential.forces`` with the hand-written three-body gradient (``site_grad_fn``) against
    ``-jax.grad`` of the energy: a perturbed 3C-SiC with antisites, a 16-atom cell whose lists
    hold periodic images, and a cluster with j <-> k asymmetric three-body parameters."""
    term = pot.terms[1]
    assert term.site_grad_fn is not None
    small = zincblende(A_SIC, (1, 1, 2))
    rng = np.random.default_rng(5)
    small = small.with_positions(small.positions + 0.15 * rng.standard_normal(small.positions.shape))
    cases = [(pot, perturbed_sic(seed=4, sigma=0.15)), (pot, small), (_asymmetric_sio(), _sio_cluster())]
    for p, s in cases:
        nb = p.neighbors(s, skin=0.5)
        three = p.replace(terms=p.terms[1:])
        f = np.asarray(jax.jit(three.forces)(s, nb[1:]))
        g = -np.asarray(jax.jit(jax.grad(three.energy_fn(s, nb[1:])))(s.positions))
        assert np.abs(f).max() > 1.0  # the three-body term is exercised
        assert np.abs(f - g).max() < 1e-12 * np.abs(g).max(), (s.n_atoms, np.abs(f - g).max())
    assert np.asarray(pot.neighbors(small, skin=0.5)[1]).ndim == 3  # an image list
    # at and beyond r0, and for padded slots, the explicit gradient is finite and equals reverse mode
    si, sj = jnp.asarray(1), jnp.asarray([0, 0, 0, 0])
    mask = jnp.asarray([True, True, True, False])
    for r in [2.90, 2.90 - 1e-14, 2.90 - 1e-3, 3.5]:
        dr = jnp.asarray([[1.9, 0.0, 0.0], [0.0, r, 0.0], [-1.0, -1.0, -1.0], [6.8, 0.0, 0.0]])
        explicit = np.asarray(jax.jit(term.site_grad)(dr, mask, si, sj))
        auto = np.asarray(jax.jit(jax.grad(term.site))(dr, mask, si, sj))
        assert np.all(np.isfinite(explicit)) and np.allclose(explicit, auto, rtol=1e-13, atol=1e-14), r


def test_two_body_shift_energy_and_force_vanish_at_rc(pot):
    term = pot.terms[0]
    si = jnp.asarray([0, 0, 1, 0, 0, 1])
    sj = jnp.asarray([0, 1, 1, 0, 1, 1])
    r = jnp.asarray([7.35 - 1e-9] * 3 + [8.0] * 3)
    e = np.asarray(jax.jit(term.pair_energy)(r, si, sj))
    one = jax.grad(term.pair_energy)
    de = np.asarray(jax.jit(jax.vmap(one))(r, si, sj))
    d2e = np.asarray(jax.jit(jax.vmap(jax.grad(one)))(r, si, sj))
    assert np.all(np.abs(e[:3]) < 1e-12) and np.all(np.abs(de[:3]) < 1e-8)
    assert np.all(e[3:] == 0.0) and np.all(de[3:] == 0.0) and np.all(np.isfinite(d2e))


def test_reader_path_text_species_order(tmp_path, pot):
    s = sic_cluster(seed=4, n_keep=20)
    e0 = float(jax.jit(pot.energy)(s, pot.neighbors(s)))
    path = tmp_path / "SiC.vashishta"
    path.write_text(SIC_VASHISHTA_2007)
    for p in [read_vashishta_file(str(path), ("Si", "C")), read_vashishta_file(path, ("C", "Si")),
              vashishta(REF_SIC, ("Si", "C"))]:  # fmt: skip
        assert abs(float(jax.jit(p.energy)(s, p.neighbors(s))) - e0) < 1e-9 * abs(e0)
    assert "103515" in read_vashishta_file(path, ("Si", "C")).citation
    table = parse_vashishta(SIC_VASHISHTA_2007, ("Si",))  # entries naming other elements are skipped
    assert list(table) == [("Si", "Si", "Si")]


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_vashishta_file(str(tmp_path / "nope.vashishta"), ("Si", "C"))
    lines = [line for line in SIC_VASHISHTA_2007.splitlines() if line.strip()]
    with pytest.raises(ValueError, match="missing entries"):
        parse_vashishta("\n".join(lines[:-2]), ("Si", "C"))
    with pytest.raises(ValueError, match="incomplete"):
        parse_vashishta("\n".join(lines[:-1]), ("Si", "C"))
    with pytest.raises(ValueError, match="duplicate"):
        parse_vashishta(SIC_VASHISHTA_2007 + "\nSi Si Si" + " 1" * 14 + "\n", ("Si", "C"))
    with pytest.raises(ValueError, match="17 words"):
        parse_vashishta("Si Si Si" + " 1" * 15 + "\n", ("Si",))
    asym = dict(REF_SIC)
    asym[("Si", "C", "C")] = (400.0,) + REF_SIC[("Si", "C", "C")][1:]
    with pytest.raises(ValueError, match="two-body parameter H differs"):
        vashishta(asym, ("Si", "C"))
    bad = dict(REF_SIC)
    bad[("Si", "Si", "Si")] = (-1.0,) + REF_SIC[("Si", "Si", "Si")][1:]
    with pytest.raises(ValueError, match="non-negative"):
        vashishta(bad, ("Si", "C"))


# -- the two-body part on r² tables (MD stages) ---------------------------------------------------

# LAMMPS 22 Jul 2025, ``pair_style vashishta/table 2000001 1.0`` with SiC.vashishta on
# :func:`distorted_sic_64` (``run 0``): energy per atom and the forces on atoms 0, 17, 42 (eV/Å). Its
# linear tables are 4e-10 eV/atom and 2e-8 eV/Å from its analytic ``pair_style vashishta``
# (-5.122530906881 eV/atom); with 4097 points (the nodes of tabulated(pot, 4096, 1.0)) they are
# 1.4e-4 eV/atom and 1.7e-2 eV/Å off.
LAMMPS_TABLE_E = -5.122530906510244
LAMMPS_TABLE_F = {
    0: (-1.53884456268, -2.856738760038, -2.220125057328),
    17: (-2.353001148241, -5.617813748639, -1.017556649874),
    42: (-7.516644489485, 5.559465953058, 6.089861808633),
}


def distorted_sic_64():
    """2x2x2 3C-SiC cubes, atom i moved by 0.2 Å sin(k i + phase) per axis (closest pair ~1.5 Å)."""
    s = zincblende(A_SIC, (2, 2, 2))
    i = np.arange(s.n_atoms)[:, None]
    d = 0.2 * np.sin(np.array([1.7, 2.3, 3.1]) * i + np.array([0.0, 1.0, 2.0]))
    return s.with_positions(np.asarray(s.positions) + d)


def test_tabulated_two_body_matches_analytic_and_lammps_table(pot):
    """Cubic Hermite r² tables (4096 intervals from 1 Å): energy within 1e-8 eV/atom and forces within
    5e-5 eV/Å of the analytic potential and of LAMMPS's vashishta/table; the force is the exact
    gradient of the tabulated energy."""
    tab = tabulated(pot, 4096, 1.0)
    assert for_md(pot) is tab and for_md(tab) is tab and "table" in tab.name
    assert tab.terms[1] is pot.terms[1]  # the three-body term is not tabulated
    s = distorted_sic_64()
    nb = pot.neighbors(s)
    assert np.asarray(nb[0]).ndim == 3  # a cell shorter than 2 r_c: lists with images
    e_a, f_a = float(jax.jit(pot.energy)(s, nb)), np.asarray(jax.jit(pot.forces)(s, nb))
    e_t, f_t = float(jax.jit(tab.energy)(s, nb)), np.asarray(jax.jit(tab.forces)(s, nb))
    g_t = -np.asarray(jax.jit(jax.grad(tab.energy_fn(s, nb)))(s.positions))
    n = s.n_atoms
    assert abs(e_t - e_a) / n < 1e-8, (e_t - e_a) / n
    assert np.abs(f_t - f_a).max() < 5e-5, np.abs(f_t - f_a).max()
    assert np.abs(f_t - g_t).max() < 1e-12 * np.abs(g_t).max()
    assert abs(e_t / n - LAMMPS_TABLE_E) < 1e-8
    for atom, ref in LAMMPS_TABLE_F.items():
        assert np.abs(f_t[atom] - np.asarray(ref)).max() < 5e-5, (atom, f_t[atom], ref)
    assert np.abs(f_a).max() > 50.0  # close pairs: the steep part of the tables is exercised


def test_tabulated_two_body_edges_and_errors(pot):
    """Continuous at r_inner (linear in r² below it, still repulsive) and zero at and beyond r_c;
    bad sizes are refused; potentials without an analytic Vashishta two-body term pass through."""
    from jaxglass.potentials import kob_andersen

    tab = tabulated(pot, 1024, 1.2)
    term = tab.terms[0]
    si, sj = jnp.asarray([0, 0, 1]), jnp.asarray([0, 1, 1])
    e = jax.jit(term.pair_energy)
    de = jax.jit(jax.vmap(jax.grad(term.pair_energy)))
    for a, b in [(1.2 - 1e-9, 1.2 + 1e-9), (7.35 - 1e-9, 7.35)]:
        lo, hi = np.asarray(e(jnp.full(3, a), si, sj)), np.asarray(e(jnp.full(3, b), si, sj))
        assert np.allclose(lo, hi, rtol=1e-7, atol=1e-9), (a, lo, hi)
    assert np.all(np.asarray(e(jnp.full(3, 8.0), si, sj)) == 0.0)
    assert np.all(np.asarray(de(jnp.full(3, 0.6), si, sj)) < 0.0)  # repulsive below the table
    assert np.allclose(np.asarray(e(jnp.full(3, 2.0), si, sj)), np.asarray(pot.terms[0].pair_energy(
        jnp.full(3, 2.0), si, sj)), rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="n_table"):
        tabulated(pot, 8, 1.0)
    with pytest.raises(ValueError, match="r_inner"):
        tabulated(pot, 1024, 8.0)
    with pytest.raises(ValueError, match="no analytic Vashishta two-body"):
        tabulated(tab, 1024, 1.0)
    lj = kob_andersen()
    assert for_md(lj) is lj
