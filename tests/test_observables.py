"""Spectroscopic observables (jaxglass.observables) against independent references.

* INS: Debye-Waller matrices, mode-resolved coherent S(Q) and the neutron-weighted DOS of 3C-SiC
  (64-atom supercell, Tersoff 1989) against euphonic fed our force constants;
* IXS: mode-resolved S(Q) with form factors and Bose factor against phonopy's
  DynamicStructureFactor fed the same force constants;
* Raman: bond-polarizability tensors against finite differences of ase's BondPolarizability
  (Linearized C-C model), and the analytic C2 dimer;
* the one-phonon f-sum rule per species, detailed balance, jit/grad checks and bad input.
"""

import importlib.util
import json
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.constants as C

from jaxglass import observables as ob
from jaxglass import phonons, units
from jaxglass import scattering_data as sd
from jaxglass.errors import UserError
from jaxglass.generate.lattices import graphene, zincblende
from jaxglass.potentials import tersoff_sic_1989
from jaxglass.structure import make_structure

T = 300.0


@pytest.fixture(scope="module")
def sic():
    """3C-SiC 2x2x2 conventional cells (64 atoms), Tersoff 1989 at its LAMMPS lattice constant."""
    s = zincblende(4.32117, (2, 2, 2))
    H = phonons.hessian(tersoff_sic_1989(), s)
    m = phonons.modes(tersoff_sic_1989(), s, H=H)
    assert m.n_imaginary() == 0
    shells = ob.q_shells(s, [3.0, 5.5], n_directions=6)
    return s, np.asarray(H), m, shells


def _groups(f):
    """Start indices of degenerate groups (sums over a group are basis-independent)."""
    f = np.asarray(f)
    return np.concatenate([[0], np.nonzero(np.diff(f) > 1e-6 * f.max())[0] + 1])


# ---------------------------------------------------------------------------------------------
# Data tables


def test_sears_table_matches_euphonic_transcription():
    pytest.importorskip("euphonic")
    import importlib.resources
    import json

    root = importlib.resources.files("euphonic") / "isotopes" / "data"
    b = json.loads((root / "sears-1992.json").read_text())["physical_property"]["coherent_scattering_length"]
    xs = json.loads((root / "bluebook.json").read_text())["physical_property"]
    for el, (bc, sc, si) in sd.SEARS_1992.items():
        assert bc == pytest.approx(b[el], abs=1e-9), el
        assert sc == pytest.approx(xs["coherent_cross_section"][el], abs=1e-9), el
        assert si == pytest.approx(xs["incoherent_cross_section"][el], abs=1e-9), el
        # σ_coh = 4π b² (b in fm, σ in barn = 100 fm²) to the tables' rounding.
        assert 4 * np.pi * bc**2 / 100 == pytest.approx(sc, rel=0.03), el


def test_form_factors_neutral_limit_and_xraydb():
    names = list(sd.WAASMAIER_KIRFEL_1995)
    z = {"H": 1, "B": 5, "C": 6, "N": 7, "O": 8, "Al": 13, "Si": 14, "Ti": 22, "Fe": 26, "Co": 27, "Ni": 28,
         "Cu": 29, "Ge": 32, "Zr": 40}
    f0 = np.asarray(sd.form_factors(names, jnp.zeros(1)))[0]
    np.testing.assert_allclose(f0, [z[n] for n in names], atol=0.03)  # f(0) = Z, fit accuracy
    xraydb = pytest.importorskip("xraydb")
    q = np.linspace(0.0, 4 * np.pi * 6.0, 25)  # Q with 2π, up to the validity limit
    ours = np.asarray(sd.form_factors(names, q))
    for k, n in enumerate(names):
        np.testing.assert_allclose(ours[:, k], xraydb.f0(n, q / (4 * np.pi)), rtol=1e-6, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# INS against euphonic, IXS against phonopy


def _euphonic_modes(s, H, hkl):
    from euphonic import Crystal, ForceConstants, ureg

    n, box = s.n_atoms, np.asarray(s.box)
    cr = Crystal(np.diag(box) * ureg("angstrom"), np.asarray(s.positions) / box, np.array(s.symbols()),
                 np.asarray(s.masses) * ureg("amu"))
    fc = ForceConstants(cr, H.reshape(1, 3 * n, 3 * n) * ureg("eV/angstrom**2"), np.eye(3, dtype=int),
                        np.zeros((1, 3), dtype=int))
    return fc.calculate_qpoint_phonon_modes(hkl, asr=None), fc.calculate_qpoint_phonon_modes(
        np.zeros((1, 3)), asr=None), ureg


def test_ins_debye_waller_and_structure_factor_vs_euphonic(sic):
    pytest.importorskip("euphonic")
    s, H, m, shells = sic
    qv = np.asarray(shells.vectors)[np.asarray(shells.mask)]
    hkl = np.round(qv * np.asarray(s.box) / (2 * np.pi))
    qpm, gamma, ureg = _euphonic_modes(s, H, hkl)
    f = np.asarray(m.frequencies)
    fmin = 1e-3 * np.abs(f).max()
    dw_e = gamma.calculate_debye_waller(T * ureg("K"), frequency_min=fmin * units.THZ_TO_MEV * ureg("meV"),
                                        symmetrise=False)
    dw = np.asarray(ob.debye_waller(s, m, T))
    dw_ref = dw_e.debye_waller.to("angstrom**2").magnitude
    np.testing.assert_allclose(dw, dw_ref, rtol=0, atol=1e-6 * dw.max())
    sf = qpm.calculate_structure_factor(dw=dw_e)
    ref = np.where(f > fmin, sf.structure_factors.to("mbarn").magnitude, 0.0)
    ours = np.asarray(ob.one_phonon_structure_factor(s, m, qv, temperature=T))
    assert ours.shape == ref.shape == (len(qv), len(f))
    g = _groups(f)
    go, gr = np.add.reduceat(ours, g, axis=1), np.add.reduceat(ref, g, axis=1)
    assert gr.max() > 1.0  # mbarn: non-trivial intensities
    np.testing.assert_allclose(go, gr, rtol=0, atol=1e-6 * gr.max())


def test_neutron_weighted_dos_vs_euphonic(sic):
    pytest.importorskip("euphonic")
    s, H, m, _ = sic
    _, gamma, ureg = _euphonic_modes(s, H, np.zeros((1, 3)))
    bins = np.linspace(0.0, 130.0, 261)
    sigma_mev = 0.6
    widths = np.full((1, 3 * s.n_atoms), sigma_mev) * ureg("meV")
    pd = gamma.calculate_pdos(bins * ureg("meV"), mode_widths=widths, adaptive_method="reference",
                              weighting="coherent-plus-incoherent")
    ref = pd.y_data.to("mbarn/meV").magnitude  # per atom of the cell
    grid = 0.5 * (bins[1:] + bins[:-1]) / units.THZ_TO_MEV
    nd = ob.neutron_dos(s, m, grid, sigma_mev / units.THZ_TO_MEV)
    sp = np.asarray(s.species)
    for k, name in enumerate(s.species_names):
        np.testing.assert_allclose(nd.partial[k], ref[sp == k].sum(0), rtol=0, atol=2e-4 * ref.sum(0).max(),
                                   err_msg=name)
    # weights σ M_avg / M: carbon scatters 6x more per atom than silicon here
    w = np.asarray(ob.neutron_weights(s))
    assert w[sp == 1][0] / w[sp == 0][0] == pytest.approx((5.551 + 0.001) / (2.163 + 0.004) * 28.085 / 12.011)


def test_ixs_vs_phonopy_dynamic_structure_factor(sic):
    pytest.importorskip("phonopy")
    from phonopy import Phonopy
    from phonopy.spectrum.dynamic_structure_factor import atomic_form_factor_WK1995
    from phonopy.structure.atoms import PhonopyAtoms

    s, H, m, shells = sic
    n, box = s.n_atoms, np.asarray(s.box)
    cell = PhonopyAtoms(symbols=s.symbols(), cell=np.diag(box),
                        scaled_positions=np.asarray(s.positions) / box, masses=np.asarray(s.masses))
    ph = Phonopy(cell, supercell_matrix=np.eye(3, dtype=int), primitive_matrix=np.eye(3))
    ph.force_constants = H.reshape(n, 3, n, 3).transpose(0, 2, 1, 3)
    ph.run_mesh([1, 1, 1], with_eigenvectors=True, is_mesh_symmetry=False, is_gamma_center=True)
    qv = np.asarray(shells.vectors)[np.asarray(shells.mask)]
    f = np.asarray(m.frequencies)
    fmin = 1e-3 * np.abs(f).max()

    def aff(symbol, s_):
        a, b, c = sd.WAASMAIER_KIRFEL_1995[symbol]
        return atomic_form_factor_WK1995(s_, [x for pair in zip(a, b) for x in pair] + [c])

    dsf = ph.run_dynamic_structure_factor(np.round(qv * box / (2 * np.pi)), T, atomic_form_factor_func=aff,
                                          freq_min=fmin)
    ref = np.asarray(dsf.dynamic_structure_factors)
    ours = np.asarray(ob.one_phonon_structure_factor(s, m, qv, probe="xray", temperature=T))
    ours = ours * (1.0 + np.asarray(ob.bose_occupation(f, T)))
    g = _groups(f)
    go, gr = np.add.reduceat(ours, g, axis=1), np.add.reduceat(ref, g, axis=1)
    # phonopy's unit is |Σ f (Q·e)/√(2m)|²/(ν AMU (2π THz)²); ours (1/2N)|..|² ħ/(M ω) in Å²:
    # the ratio is h · 1 THz · 10²⁰ / N exactly.
    ratio = C.h * 1e12 * 1e20 / n
    big = gr > 1e-6 * gr.max()
    assert big.sum() > 20
    np.testing.assert_allclose(go[big] / gr[big], ratio, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Sum rules and detailed balance


@pytest.mark.parametrize("species", ["Si", "C"])
def test_one_phonon_f_sum_rule_per_species(sic, species):
    """∫ E S(Q, E) dE = Σ_ν E_ν S_ν = ħ²Q²/(2N) [Σ_κ b_κ²/M_κ - |Σ_κ b_κ e^{iQ·r_κ}|²/M_tot] per atom.

    The second term is the translational (Bragg) part that the zero modes carry. Here with the
    Debye-Waller factor off, b on one species only, the broadened powder spectrum at 300 K (the
    gain side cancels the Bose excess of the loss side exactly).
    """
    s, _, m, shells = sic
    other = [n for n in s.species_names if n != species][0]
    lengths = {species: sd.SEARS_1992[species][0], other: 0.0}
    f = np.asarray(m.frequencies)
    sigma = 0.2
    grid = np.linspace(-f.max() - 8 * sigma, f.max() + 8 * sigma, 6001)
    sp = ob.ins_sqw(s, m, np.asarray(shells.q), grid, sigma, T, n_directions=6, lengths=lengths,
                    debye_waller_factor=False)
    e = grid * units.THZ_TO_MEV
    first_moment = np.trapezoid(np.asarray(sp.intensity) * e, e, axis=-1)  # meV · mbarn per atom
    # right-hand side, averaged over the same shell vectors
    b = np.asarray(sd.coherent_lengths(s.species_names, lengths))[np.asarray(s.species)]
    mass = np.asarray(s.masses)
    r = np.asarray(s.positions)
    rhs = []
    for vecs, mask in zip(np.asarray(shells.vectors), np.asarray(shells.mask)):
        vals = []
        for q in vecs[mask]:
            F = np.sum(b * np.exp(1j * r @ q))
            vals.append(q @ q * (np.sum(b**2 / mass) - abs(F) ** 2 / mass.sum()))
        rhs.append(np.mean(vals))
    # ħ²/(2N) Q² b²/M in meV·mbarn: ħ²/(amu Å²) = h THz · ħ/(amu 2π THz Å²)
    unit = units.THZ_TO_MEV * units.HBAR_OVER_AMU_THZ_A2 * units.MBARN_PER_FM2 / (2 * s.n_atoms)
    np.testing.assert_allclose(first_moment, np.asarray(rhs) * unit, rtol=1e-4)


def test_bose_detailed_balance_and_limits():
    f = jnp.asarray([0.5, 2.0, 10.0])
    for t in (10.0, 300.0):
        n = np.asarray(ob.bose_occupation(f, t))
        np.testing.assert_allclose(n / (n + 1), np.exp(-C.h * np.asarray(f) * 1e12 / (C.k * t)), rtol=1e-12)
    assert float(ob.bose_occupation(jnp.asarray(5.0), 1e-3)) == 0.0
    assert float(ob.bose_occupation(jnp.asarray(-5.0), 300.0)) == 0.0


# ---------------------------------------------------------------------------------------------
# Raman


def test_raman_tensors_vs_ase_bond_polarizability():
    pytest.importorskip("ase")
    from ase import Atoms
    from ase.calculators.bond_polarizability import BondPolarizability, Linearized
    from ase.units import Bohr, Ha

    rng = np.random.default_rng(1)
    ang = np.arange(6) * np.pi / 3
    ring = np.stack([1.40 * np.cos(ang), 1.40 * np.sin(ang), np.zeros(6)], 1)
    pos = ring + rng.normal(0, 0.03, (6, 3)) + 10
    s = make_structure(pos, ["C"] * 6, 20.0, periodic=False)
    vec = np.linalg.qr(rng.normal(size=(18, 18)))[0]  # any orthonormal "modes"
    bonds = ob.find_bonds(s)
    assert len(bonds.i) == 6
    bp = BondPolarizability(Linearized())

    def alpha(p):
        return bp(Atoms("C6", positions=p)) * Bohr * Ha  # Å³

    np.testing.assert_allclose(np.asarray(ob.polarizability(s, bonds)), alpha(pos), atol=1e-12)
    R = np.asarray(ob.raman_tensors(s, vec, bonds))
    m, h = np.asarray(s.masses), 1e-4
    ref = np.stack([
        (alpha(pos + h * u) - alpha(pos - h * u)) / (2 * h)
        for u in (vec[:, k].reshape(6, 3) / np.sqrt(m)[:, None] for k in range(18))
    ])
    np.testing.assert_allclose(R, ref, rtol=0, atol=1e-7 * np.abs(ref).max())


def test_raman_dimer_analytic():
    """C2 along an arbitrary direction: one stretch, a = (α∥'+2α⊥')/3 δℓ, γ = (α∥'-α⊥') δℓ."""
    u = np.array([1.0, 2.0, -0.5]) / np.linalg.norm([1.0, 2.0, -0.5])
    ell = 1.31
    s = make_structure(np.stack([np.full(3, 5.0), 5.0 + ell * u]), ["C", "C"], 12.0, periodic=False)
    e = np.concatenate([-u, u])[:, None] / np.sqrt(2.0)  # the stretch, mass-weighted unit vector
    freq = 45.0
    sp = ob.raman_spectrum(s, jnp.asarray([freq]), jnp.asarray([freq]), 0.5, T, eigenvectors=e)
    p = ob.BOND_PARAMETERS[("C", "C")]
    dl = 2.0 / np.sqrt(2.0 * float(s.masses[0]))  # dℓ/dq
    a = (p.d_alpha_par + 2 * p.d_alpha_perp) / 3 * dl
    gam2 = (p.d_alpha_par - p.d_alpha_perp) ** 2 * dl**2
    n = 1.0 / np.expm1(C.h * freq * 1e12 / (C.k * T))
    expect = (n + 1) / freq * (45 * a**2 + 7 * gam2) / (0.5 * np.sqrt(2 * np.pi))
    assert float(sp.intensity[0]) == pytest.approx(expect, rel=1e-10)
    assert sp.kind == "raman"


def test_raman_model_choice_and_shuker_gammon():
    assert ob.raman_model(graphene(2.49205, (2, 2))) == "bond-polarizability"
    assert ob.raman_model(zincblende(4.32117, (1, 1, 1))) == "shuker-gammon"
    f = jnp.asarray([0.0, 2.0, 5.0, 9.0])
    grid = jnp.linspace(0.1, 12.0, 200)
    sg = ob.shuker_gammon(f, grid, 0.3, T, coupling_exponent=1.0)
    n = np.asarray(ob.bose_occupation(f, T))
    g = np.exp(-0.5 * ((np.asarray(grid)[:, None] - np.asarray(f)) / 0.3) ** 2) / (0.3 * np.sqrt(2 * np.pi))
    w = np.where(np.asarray(f) > 0.009, (n + 1), 0.0)  # C ∝ ν cancels 1/ν; the zero mode is dropped
    np.testing.assert_allclose(np.asarray(sg.intensity), g @ w / 4, rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# jit and grad


def test_structure_factor_jit_and_position_gradient(sic):
    s, _, m, shells = sic
    qv = shells.vectors[0, :3]
    f, v = m.frequencies, m.eigenvectors
    eager = ob.one_phonon_structure_factor(s, f, qv, eigenvectors=v, temperature=T)
    sf = ob.one_phonon_structure_factor
    jitted = jax.jit(lambda st, f, v: sf(st, f, qv, eigenvectors=v, temperature=T))(s, f, v)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-12, atol=1e-14)
    # gradient w.r.t. positions at fixed modes (phase factors) against central differences
    wts = jnp.linspace(0.0, 1.0, f.shape[0])

    def obj(pos):
        return jnp.sum(ob.one_phonon_structure_factor(s.with_positions(pos), f, qv, eigenvectors=v) * wts)

    dv = np.random.default_rng(0).normal(size=s.positions.shape)
    obj = jax.jit(obj)
    g = jax.jit(jax.grad(obj))(s.positions)
    h = 1e-5
    fd = (obj(s.positions + h * dv) - obj(s.positions - h * dv)) / (2 * h)
    assert float(jnp.sum(g * dv)) == pytest.approx(float(fd), rel=1e-6)


def test_shuker_gammon_gradient_through_eigenvalues():
    """Positions → Hessian → eigvalsh (Hellmann-Feynman JVP) → Shuker-Gammon: grad vs differences."""
    rng = np.random.default_rng(3)
    pos0 = jnp.asarray(rng.normal(scale=1.2, size=(5, 3)))
    masses = jnp.asarray([12.0, 12.0, 28.0, 28.0, 12.0])

    def energy(x):
        d = jnp.linalg.norm(x[:, None] - x[None] + jnp.eye(5)[..., None], axis=-1)
        return 0.5 * jnp.sum(jnp.where(jnp.eye(5) > 0, 0.0, 3.0 * (d - 1.5) ** 2 + 0.2 * (d - 1.5) ** 4))

    grid = jnp.linspace(1.0, 40.0, 80)

    def obj(x):
        H = jax.hessian(lambda y: energy(y.reshape(5, 3)))(x.ravel())
        lam = phonons.eigvalsh(phonons.mass_weight(H, masses, 3))
        freq = phonons.to_frequencies(jnp.where(lam > 1e-3, lam, 1e-3), 15.633302)
        return jnp.sum(ob.shuker_gammon(freq, grid, 1.0, T, freq_min=0.5).intensity * jnp.cos(grid / 7))

    dv = rng.normal(size=(5, 3))
    obj = jax.jit(obj)
    g = jax.jit(jax.grad(obj))(pos0)
    h = 1e-5
    fd = (obj(pos0 + h * dv) - obj(pos0 - h * dv)) / (2 * h)
    assert float(jnp.sum(g * dv)) == pytest.approx(float(fd), rel=1e-5)


# ---------------------------------------------------------------------------------------------
# Powder average


def _brute_force_shell(s, q, width):
    """Every 2π(h/L_x, k/L_y, l/L_z) with q - w/2 ≤ |G| < q + w/2, from one cube of integer triples."""
    box = np.asarray(s.box)
    h = int(np.ceil((q + width) * box.max() / (2 * np.pi)))
    r = np.arange(-h, h + 1)
    g = np.stack(np.meshgrid(r, r, r, indexing="ij"), -1).reshape(-1, 3) * (2 * np.pi / box)
    n = np.linalg.norm(g, axis=1)
    return g[(n >= q - width / 2) & (n < q + width / 2)]


def test_powder_average_of_every_shell_vector_equals_brute_force_mean(sic):
    """Below the budget, every reciprocal-lattice vector of the shell is used: the powder spectrum is the
    plain mean of the per-vector spectra (broaden_sqw of one_phonon_structure_factor, both checked
    against euphonic / phonopy above) over a brute-force list of the shell, with error 0."""
    s, _, m, _ = sic
    q, grid, sigma = [3.0, 5.5], np.linspace(0.0, 36.0, 120), 0.3
    f, v = np.asarray(m.frequencies), np.asarray(m.eigenvectors)
    width = 2 * np.pi / float(np.min(s.box))
    for probe, fn in (("neutron", ob.ins_sqw), ("xray", ob.ixs_sqw)):
        sp = fn(s, m, q, grid, sigma, T)
        ref, sizes = [], []
        for qq in q:
            g = _brute_force_shell(s, qq, width)
            sq = ob.one_phonon_structure_factor(s, m, g, probe=probe, temperature=T)  # (n, M)
            ref.append(np.asarray(ob.broaden_sqw(f, sq, grid, sigma, T)).mean(0))
            sizes.append(len(g))
        ref = np.asarray(ref)
        np.testing.assert_allclose(sp.intensity, ref, rtol=1e-10, atol=1e-12 * ref.max())
        assert np.asarray(sp.powder_error).tolist() == [0.0, 0.0]
        assert np.asarray(sp.n_vectors).tolist() == np.asarray(sp.shell_size).tolist() == sizes
        if probe == "neutron":  # complex eigenvectors: no ±G pairing, every vector computed; the same
            sc = fn(s, f, q, grid, sigma, T, eigenvectors=v.astype(np.complex128))
            np.testing.assert_allclose(sc.intensity, ref, rtol=1e-10, atol=1e-12 * ref.max())
    # the fixed set of q_shells (n_directions) reproduces powder_one_phonon_structure_factor
    shells = ob.q_shells(s, q, n_directions=6)
    fixed = ob.ins_sqw(s, m, q, grid, sigma, T, n_directions=6)
    sq = ob.powder_one_phonon_structure_factor(s, m, shells, temperature=T)
    want = np.asarray(ob.broaden_sqw(f, sq, grid, sigma, T))
    np.testing.assert_allclose(fixed.intensity, want, rtol=1e-10, atol=1e-12 * want.max())
    assert np.asarray(fixed.n_vectors).tolist() == [6, 6]


def test_powder_error_estimate_is_honest(sic):
    """A random sample of 256 of a shell's 486-1194 vectors: the true error (against every vector) is
    within 3x of the estimated standard error, and 1x on average over shells and seeds; a tolerance
    stops the sampling once the estimate is below it."""
    s, _, m, _ = sic
    q, grid, sigma = [4.5, 5.5, 7.0], np.linspace(0.0, 36.0, 120), 0.3
    exact = np.asarray(ob.ins_sqw(s, m, q, grid, sigma, T).intensity)
    ratios = []
    for seed in range(4):
        sp = ob.ins_sqw(s, m, q, grid, sigma, T, max_vectors=256, powder_tol=0.0, seed=seed)
        assert np.asarray(sp.n_vectors).tolist() == [256] * 3
        assert np.asarray(sp.shell_size).tolist() == [486, 786, 1194]
        true = np.abs(np.asarray(sp.intensity) - exact).max(1) / exact.max(1)
        ratios.extend(true / np.asarray(sp.powder_error))
    assert max(ratios) < 3.0 and 0.5 < np.mean(ratios) < 2.0, ratios
    sp = ob.ins_sqw(s, m, q, grid, sigma, T, max_vectors=400, powder_tol=0.2)
    err, n = np.asarray(sp.powder_error), np.asarray(sp.n_vectors)
    assert np.all((err <= 0.2) | (n == 400)) and np.any(n < 400), (err, n)


def test_powder_probes_together_equal_each_on_its_own(sic):
    """powder_sqw_probes forms the per-species partial sums once for both probes; each probe walks the
    same sampled vectors and stops on its own tolerance, so it equals its own powder_sqw call (values,
    errors and vector counts), also with the atoms not sorted by species."""
    s, _, m, _ = sic
    q, grid, sigma = [4.5, 7.0], np.linspace(0.0, 36.0, 120), 0.3
    kw = dict(max_vectors=512, powder_tol=0.03)
    both = ob.powder_sqw_probes(s, m, q, grid, sigma, T, probes=("xray", "neutron"), **kw)
    assert list(both) == ["xray", "neutron"]
    for probe, fn in (("neutron", ob.ins_sqw), ("xray", ob.ixs_sqw)):
        one = fn(s, m, q, grid, sigma, T, **kw)
        assert both[probe].kind == one.kind and both[probe].unit == one.unit
        np.testing.assert_allclose(both[probe].intensity, one.intensity, rtol=1e-12, atol=0)
        np.testing.assert_array_equal(both[probe].n_vectors, one.n_vectors)
        np.testing.assert_allclose(both[probe].powder_error, one.powder_error, rtol=1e-9)
    assert np.any(np.asarray(both["neutron"].n_vectors) < 512)  # the tolerance stopped a sample
    # the same glass with its atoms listed in another order (species interleaved differently)
    perm = np.random.default_rng(0).permutation(s.n_atoms)
    sp = make_structure(np.asarray(s.positions)[perm], np.asarray(s.species)[perm], np.asarray(s.box),
                        species_names=s.species_names, masses=np.asarray(s.masses)[perm])
    f = np.asarray(m.frequencies)
    v = np.asarray(m.eigenvectors).reshape(s.n_atoms, 3, -1)[perm].reshape(3 * s.n_atoms, -1)
    exact = dict(max_vectors=8192)
    ref = ob.powder_sqw_probes(s, m, q, grid, sigma, T, **exact)
    got = ob.powder_sqw_probes(sp, f, q, grid, sigma, T, eigenvectors=v, **exact)
    for probe in ("neutron", "xray"):
        np.testing.assert_allclose(got[probe].intensity, ref[probe].intensity, rtol=1e-9,
                                   atol=1e-12 * float(np.max(ref[probe].intensity)))
    with pytest.raises(UserError, match="probe"):
        ob.powder_sqw_probes(s, m, q, grid, sigma, T, probes=("neutrons",))


def test_shell_mean_merges_batches_and_vanishes_for_the_whole_shell():
    from jaxglass.observables.powder import ShellMean

    x = np.random.default_rng(1).standard_normal((50, 7)) + 3.0
    acc = ShellMean(n_total=80)
    for b in (x[:13], x[13:14], x[14:]):
        acc.add(b)
    np.testing.assert_allclose(acc.mean, x.mean(0), rtol=1e-13)
    se = np.sqrt(x.var(0, ddof=1) / 50 * (1 - 50 / 80))  # Cochran eq. 2.12
    np.testing.assert_allclose(acc.standard_error(), se, rtol=1e-12)
    assert acc.relative_error() == pytest.approx(se.max() / x.mean(0).max())
    whole = ShellMean(n_total=50)
    whole.add(x)
    assert whole.relative_error() == 0.0


# ---------------------------------------------------------------------------------------------
# Shells, sheets and bad input


def test_q_shells_and_sheet_cutoff():
    s = zincblende(4.32117, (2, 2, 2))
    sh = ob.q_shells(s, [2.0, 4.0], n_directions=10)
    norms = np.linalg.norm(np.asarray(sh.vectors), axis=-1)
    assert np.all(np.abs(norms - np.asarray(sh.q)[:, None]) <= sh.width / 2 + 1e-12)
    hkl = np.asarray(sh.vectors) * np.asarray(s.box) / (2 * np.pi)
    np.testing.assert_allclose(hkl, np.round(hkl), atol=1e-9)  # reciprocal-lattice vectors
    assert np.asarray(sh.mask).sum(1).tolist() == [10, 10]
    with pytest.raises(ValueError, match="holds no reciprocal-lattice vector"):
        ob.q_shells(s, [1.0], width=0.01)
    sheet = graphene(2.49205, (2, 2))
    assert ob.is_sheet(sheet) and not ob.is_sheet(s)
    assert float(ob.default_dw_freq_min(sheet, jnp.asarray([0.0, 40.0]))) == ob.SHEET_DW_FREQ_MIN


def test_bad_input_messages(sic):
    s, _, m, _ = sic
    grid = jnp.linspace(0, 30, 50)
    with pytest.raises(ValueError, match="temperature: must be positive"):
        ob.ins_sqw(s, m, [3.0], grid, 0.3, 0.0)
    with pytest.raises(ValueError, match="Waasmaier-Kirfel validity"):
        ob.ixs_sqw(s, m, [80.0], grid, 0.3, T)
    lj = make_structure([[0.0, 0.0], [1.1, 0.0]], ["A", "B"], 3.0)
    with pytest.raises(ValueError, match="Lennard-Jones types have no physical"):
        ob.neutron_weights(lj)
    np.testing.assert_allclose(np.asarray(ob.neutron_weights(lj, {"A": 1.0, "B": 2.0})), [1.0, 2.0])
    ag = make_structure([[0.0, 0.0, 0.0]], ["Ag"], 5.0)
    with pytest.raises(ValueError, match="no neutron scattering length.*pass lengths="):
        ob.one_phonon_structure_factor(ag, jnp.asarray([1.0, 2.0, 3.0]), jnp.ones((1, 3)),
                                       eigenvectors=jnp.eye(3))
    with pytest.raises(ValueError, match="frequencies are in"):
        lj_modes = phonons.Modes(m.frequencies, m.eigenvalues, m.eigenvectors, unit="omega")
        ob.neutron_dos(s, lj_modes, grid, 0.3)
    bad = jnp.asarray(m.frequencies).at[5].set(-3.0)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ob.neutron_dos(s, bad, grid, 0.3, eigenvectors=m.eigenvectors)
    assert any("imaginary mode" in str(w.message) and "relax" in str(w.message) for w in rec)
    with pytest.raises(ValueError, match="no bond-polarizability parameters"):
        ob.raman_spectrum(s, m, grid, 0.3, T, model="bond-polarizability")


def test_graphene_raman_only_the_e2g_mode():
    """Group theory: the only first-order Raman-active Γ mode of graphene is the E2g (G) pair,
    the highest Γ frequency for LB Tersoff; the bond-polarizability model must put all weight there."""
    from jaxglass.potentials import lindsay_broido_carbon

    s = graphene(2.49205, (2, 2))
    m = phonons.modes(lindsay_broido_carbon(), s)
    f = np.asarray(m.frequencies)
    inten = np.asarray(ob.raman_intensities(f, ob.raman_tensors(s, m.eigenvectors, ob.find_bonds(s)), T))
    top = np.abs(f - f[-1]) < 1e-6 * f[-1]
    assert top.sum() == 2 and f[-1] == pytest.approx(50.63, abs=0.05)
    assert inten[top].sum() > (1 - 1e-9) * inten.sum() > 0


def test_cli_spectra_writes_csv_npz_png_and_rejects_bad_input(tmp_path, capsys):
    pytest.importorskip("ase")
    pytest.importorskip("matplotlib")
    from jaxglass.cli import main
    from jaxglass.structure import write

    path = tmp_path / "sic.extxyz"
    write(str(path), zincblende(4.32117, (2, 2, 2)))
    out = tmp_path / "ins"
    assert main(["spectra", str(path), "--potential", "tersoff-sic", "--kind", "ins", "--q", "3", "5",
                 "--n-points", "120", "--out", str(out)]) == 0
    z = np.load(out / "spectrum.npz")
    assert z["intensity"].shape == (2, 120) and z["q"].tolist() == [3.0, 5.0]
    csv = np.loadtxt(out / "spectrum.csv", delimiter=",", skiprows=1)
    assert csv.shape == (120, 5)
    np.testing.assert_allclose(csv[:, 1], csv[:, 0] * units.THZ_TO_MEV)
    assert (out / "spectrum.png").stat().st_size > 10_000
    meta = json.loads((out / "spectrum.json").read_text())  # every vector of both shells: error 0
    assert meta["powder_error"] == [0.0, 0.0] and meta["powder_vectors"] == meta["shell_size"]
    assert main(["spectra", str(path), "--potential", "tersoff-sic", "--temperature", "0",
                 "--out", str(tmp_path / "bad")]) == 2
    assert main(["spectra", str(path), "--potential", "tersoff-sic", "--kind", "ixs", "--q", "90",
                 "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert "--temperature: expected a finite number in (0," in err and "Waasmaier-Kirfel validity" in err
    # a relaxation that cannot converge in 1 step: exit 3 (spectrum still written), or 0 when accepted
    rattled = zincblende(4.32117, (2, 2, 2))
    rattled = rattled.with_positions(rattled.positions + 0.05 * np.random.default_rng(0).normal(size=(64, 3)))
    write(str(tmp_path / "rattled.extxyz"), rattled)
    args = ["spectra", str(tmp_path / "rattled.extxyz"), "--potential", "tersoff-sic", "--kind", "pdos",
            "--relax", "--max-steps", "1", "--allow-imaginary", "--out", str(tmp_path / "unconv")]
    assert main(args) == 3
    assert (tmp_path / "unconv" / "spectrum.npz").exists()
    assert "did not converge" in capsys.readouterr().err
    assert main(args + ["--allow-unconverged"]) == 0


def test_registry_is_the_one_list_of_observables(tmp_path):
    """Every list of observable kinds (study targets, their labels, CLI choices, figure labels) comes
    from observables.REGISTRY, and each stored kind names a record key of the dataset schema."""
    from jaxglass import study
    from jaxglass.cli.main import build_parser
    from jaxglass.data import observables as dob
    from jaxglass.data.schema import FIELDS

    assert ob.KINDS == tuple(ob.REGISTRY) == ("pdos", "ndos", "ins", "ixs", "raman")
    assert study.TARGETS == dob.TARGETS == ob.TARGETS == ob.KINDS
    assert dob.TARGET_LABELS == {k: o.target_label for k, o in ob.REGISTRY.items()}
    assert all(o.record_key in FIELDS for o in ob.REGISTRY.values() if o.stored_in_datasets)
    subs = next(a for a in build_parser()._actions if a.choices and "spectra" in a.choices).choices
    choices = {a.dest: tuple(a.choices) for p in subs.values() for a in p._actions if a.choices}
    assert choices["kind"] == ob.KINDS and choices["target"] == ob.TARGETS
    assert ob.observable("raman-sg") is ob.REGISTRY["raman"]
    with pytest.raises(UserError, match="^kind: expected one of") as err:
        ob.spectrum("xps", None, None, [1.0], sigma=0.1)
    assert err.value.field == "kind"
    with pytest.raises(UserError, match="^q: the ins spectrum needs"):
        ob.spectrum("ins", None, None, [1.0], sigma=0.1)
    if importlib.util.find_spec("matplotlib") is not None:  # the Shuker-Gammon fallback plots as Raman
        from jaxglass.plots import plot_spectrum

        plot_spectrum(np.linspace(0, 10, 5), np.ones((1, 5)), ["intensity"], "raman-sg",
                      tmp_path / "sg.png", "")
        assert (tmp_path / "sg.png").exists()
