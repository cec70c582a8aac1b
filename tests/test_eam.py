"""Multi-species EAM: LAMMPS setfl reader (Cheng-Ma-Sheng Cu-Zr-Al) and analytic Zhou-Johnson-Wadley.

References used here:
* LAMMPS (22 Jul 2025) with ZrCuAl2011.eam.alloy: fcc Cu -3.54094, fcc Al -3.36250 eV/atom,
  B2 CuZr a = 3.25257 Å.
* An independent numpy implementation of LAMMPS's spline (written after the C loops of
  pair_eam.cpp, 1-based) and of the all-pairs EAM energy.
* jax-md's single-species EAM (``jax_md.energy.eam_from_lammps_parameters``) on a Cu-only setfl
  written from the same tables.
* Zhou, Johnson & Wadley, PRB 69, 144113 (2004): fcc Cu a = 3.615 Å, E_c = 3.54 eV; fcc Al
  a = 4.05 Å, E_c = 3.58 eV (the values their parameters were fitted to).
* Central finite differences of the energy (forces) and frozen phonons (Hessian / frequencies).
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from jaxglass.potentials import energy as total_energy
from jaxglass.potentials import forces as total_forces
from jaxglass.potentials.base import local_environment
from jaxglass.potentials.eam import (
    EAMPotential,
    lammps_spline_coefficients,
    parse_setfl,
    read_setfl,
    zhou_johnson_wadley,
)
from jaxglass.structure import make_structure, replicate
from jaxglass.units import FREQ_THZ

SETFL = Path(__file__).resolve().parents[2] / "shared/potentials/ZrCuAl2011.eam.alloy"
needs_setfl = pytest.mark.skipif(
    not SETFL.is_file(),
    reason=f"Cheng-Ma-Sheng setfl file not found at {SETFL} (the package ships no copy)",
)

FCC = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.0, 0.5, 0.5]])
B2 = np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])


def lattice(a, basis, species, reps, masses=None):
    unit = make_structure(basis * a, list(species), a, masses=masses)
    return replicate(unit, (reps,) * 3)


def equilibrium(pot, basis, species, reps, lo, hi):
    """Lattice constant and energy/atom minimising E(a) on [lo, hi] (one neighbour list, skin)."""
    a0 = 0.5 * (lo + hi)
    s0 = lattice(a0, basis, species, reps)
    nbrs = pot.neighbors(s0, skin=0.1)
    f = jax.jit(pot.energy)

    def e(a):
        s = s0.replace(positions=s0.positions * (a / a0), box=s0.box * (a / a0))
        return float(f(s, nbrs)) / s0.n_atoms

    res = minimize_scalar(e, bounds=(lo, hi), method="bounded", options=dict(xatol=1e-7))
    return float(res.x), float(res.fun)


def mixed_cell(seed=0, amp=0.08):
    """Perturbed B2 CuZr 5x5x5 (250 atoms) with 10% of the sites turned into Al."""
    rng = np.random.default_rng(seed)
    s = lattice(3.25, B2, ["Cu", "Zr"], 5)
    names = np.array(s.symbols(), dtype=object)
    names[rng.choice(len(names), 25, replace=False)] = "Al"
    pos = np.asarray(s.positions) + amp * rng.standard_normal(s.positions.shape)
    return make_structure(pos, list(names), np.asarray(s.box), species_names=("Cu", "Zr", "Al"))


@pytest.fixture(scope="module")
def setfl():
    return read_setfl(SETFL)


@pytest.fixture(scope="module")
def cu_eq(setfl):
    return equilibrium(setfl, FCC, ["Cu"] * 4, 4, 3.55, 3.65)


# -------------------------------------------------------------------------------------------
# Independent numpy reference of LAMMPS's eam/alloy (1-based, following pair_eam.cpp)


def lammps_spline_reference(f, delta):
    """The 7 coefficients per node of PairEAM::interpolate, 1-based like the C code."""
    n = len(f)
    s = np.zeros((n + 1, 7))
    for m in range(1, n + 1):
        s[m, 6] = f[m - 1]
    s[1, 5] = s[2, 6] - s[1, 6]
    s[2, 5] = 0.5 * (s[3, 6] - s[1, 6])
    s[n - 1, 5] = 0.5 * (s[n, 6] - s[n - 2, 6])
    s[n, 5] = s[n, 6] - s[n - 1, 6]
    for m in range(3, n - 1):
        s[m, 5] = ((s[m - 2, 6] - s[m + 2, 6]) + 8.0 * (s[m + 1, 6] - s[m - 1, 6])) / 12.0
    for m in range(1, n):
        s[m, 4] = 3.0 * (s[m + 1, 6] - s[m, 6]) - 2.0 * s[m, 5] - s[m + 1, 5]
        s[m, 3] = s[m, 5] + s[m + 1, 5] - 2.0 * (s[m + 1, 6] - s[m, 6])
    for m in range(1, n + 1):
        s[m, 2] = s[m, 5] / delta
        s[m, 1] = 2.0 * s[m, 4] / delta
        s[m, 0] = 3.0 * s[m, 3] / delta
    return s


def spline_value(s, delta, x, embed=False):
    """Value (and derivative) as in PairEAM::compute, vectorised over x."""
    n = s.shape[0] - 1
    p = np.asarray(x) / delta + 1.0
    m = p.astype(int)
    m = np.maximum(1, np.minimum(m, n - 1)) if embed else np.minimum(m, n - 1)
    p = np.minimum(p - m, 1.0)
    c = s[m]
    val = ((c[..., 3] * p + c[..., 4]) * p + c[..., 5]) * p + c[..., 6]
    der = (c[..., 0] * p + c[..., 1]) * p + c[..., 2]
    return val, der


def numpy_eam_energy(data, structure):
    """Brute-force all-pairs eam/alloy energy with the reference splines."""
    idx = [data.elements.index(s) for s in structure.species_names]
    t = np.asarray([idx[k] for k in np.asarray(structure.species)])
    pos, box = np.asarray(structure.positions), np.asarray(structure.box)
    d = pos[None, :, :] - pos[:, None, :]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=-1)
    n = len(pos)
    near = (r < data.cutoff) & ~np.eye(n, dtype=bool)
    rho_s = [lammps_spline_reference(data.rhor[k], data.dr) for k in range(len(data.elements))]
    f_s = [lammps_spline_reference(data.frho[k], data.drho) for k in range(len(data.elements))]
    nel = len(data.elements)
    z_s = {(a, b): lammps_spline_reference(data.z2r[a, b], data.dr) for a in range(nel) for b in range(a + 1)}
    rho = np.zeros(n)
    e_pair = 0.0
    rhomax = (data.nrho - 1) * data.drho
    for i in range(n):
        js = np.nonzero(near[i])[0]
        for b in np.unique(t[js]):
            sel = js[t[js] == b]
            rho[i] += spline_value(rho_s[b], data.dr, r[i, sel])[0].sum()
            zi = z_s[max(t[i], b), min(t[i], b)]
            e_pair += 0.5 * (spline_value(zi, data.dr, r[i, sel])[0] / r[i, sel]).sum()
    e_emb = 0.0
    for i in range(n):
        val, der = spline_value(f_s[t[i]], data.drho, rho[i], embed=True)
        e_emb += val + (der * (rho[i] - rhomax) if rho[i] > rhomax else 0.0)
    return e_emb + e_pair


# -------------------------------------------------------------------------------------------
# setfl reader


@needs_setfl
def test_setfl_header_species_masses(setfl):
    assert isinstance(setfl, EAMPotential)
    assert setfl.species == ("Zr", "Cu", "Al")
    assert setfl.cutoff == pytest.approx(6.5)
    assert setfl.masses == {"Zr": 91.22, "Cu": 63.55, "Al": 26.98}
    assert setfl.atomic_numbers == {"Zr": 40, "Cu": 29, "Al": 13}
    np.testing.assert_allclose(setfl.mass_array(("Cu", "Al")), [63.55, 26.98])
    data = parse_setfl(SETFL)
    assert (data.nrho, data.nr) == (1001, 1001)
    assert data.z2r.shape == (3, 3, 1001)
    np.testing.assert_array_equal(data.z2r[0, 2], data.z2r[2, 0])


@needs_setfl
def test_setfl_splines_match_reference(setfl):
    """The jnp interpolants equal the 1-based numpy transcription of LAMMPS's equations."""
    data = parse_setfl(SETFL)
    rng = np.random.default_rng(1)
    r = rng.uniform(1.5, 6.49, 400)
    rho = rng.uniform(0.0, 0.99, 400)
    fn = setfl.functions
    for k in range(3):
        ref_f = spline_value(lammps_spline_reference(data.rhor[k], data.dr), data.dr, r)[0]
        got_f = fn.density(jnp.full(r.shape, k), jnp.asarray(r))
        np.testing.assert_allclose(got_f, ref_f, rtol=0, atol=1e-13)
        ref_e = spline_value(lammps_spline_reference(data.frho[k], data.drho), data.drho, rho, embed=True)[0]
        np.testing.assert_allclose(fn.embedding(jnp.full(rho.shape, k), jnp.asarray(rho)), ref_e, atol=1e-12)
        for b in range(3):
            z = lammps_spline_reference(data.z2r[max(k, b), min(k, b)], data.dr)
            ref_p = spline_value(z, data.dr, r)[0] / r
            got = fn.pair(jnp.full(r.shape, k), jnp.full(r.shape, b), jnp.asarray(r))
            np.testing.assert_allclose(got, ref_p, atol=1e-12)
    # the spline interpolates the nodes, and its coefficients match the 7-coefficient layout
    c = lammps_spline_coefficients(data.rhor[1])
    s = lammps_spline_reference(data.rhor[1], data.dr)
    np.testing.assert_allclose(c, s[1:-1, [6, 5, 4, 3]], atol=1e-15)


@needs_setfl
def test_setfl_mixed_cell_energy_matches_numpy(setfl):
    """Species conventions (density of the neighbour's species, lower-triangle pair tables)."""
    s = mixed_cell(seed=3)
    ref = numpy_eam_energy(parse_setfl(SETFL), s)
    got = total_energy(setfl, s)
    assert got == pytest.approx(ref, rel=1e-11, abs=1e-9)


@needs_setfl
@pytest.mark.parametrize(
    "species, lo, hi, e_ref",
    [(["Cu"] * 4, 3.55, 3.65, -3.54094), (["Al"] * 4, 3.95, 4.10, -3.36250)],
)
def test_setfl_fcc_cohesive_energy_vs_lammps(setfl, species, lo, hi, e_ref):
    a, e = equilibrium(setfl, FCC, species, 4, lo, hi)
    print(f"setfl fcc {species[0]}: a = {a:.5f} Å, E = {e:.6f} eV/atom (LAMMPS {e_ref})")
    assert e == pytest.approx(e_ref, abs=1e-4)


@needs_setfl
def test_setfl_b2_cuzr_lattice_constant_vs_lammps(setfl):
    a, e = equilibrium(setfl, B2, ["Cu", "Zr"], 5, 3.15, 3.35)
    print(f"setfl B2 CuZr: a = {a:.6f} Å (LAMMPS 3.25257), E = {e:.6f} eV/atom")
    assert a == pytest.approx(3.25257, abs=2e-5)


@needs_setfl
def test_setfl_c2_spline_close_to_lammps_spline(setfl):
    cubic = read_setfl(SETFL, spline="cubic")
    s = mixed_cell(seed=4)
    e1, e2 = total_energy(setfl, s), total_energy(cubic, s)
    assert abs(e1 - e2) / s.n_atoms < 1e-7  # measured ~5e-9 eV/atom
    with pytest.raises(ValueError, match="spline"):
        read_setfl(SETFL, spline="linear")


@needs_setfl
def test_setfl_vs_jax_md_single_species(tmp_path):
    """jax-md's single-species EAM (its own scipy splines of F, f, φ) on a Cu-only setfl."""
    jax_md_energy = pytest.importorskip("jax_md.energy")
    from jax_md import space

    data = parse_setfl(SETFL)
    k = data.elements.index("Cu")
    vals = np.concatenate([data.frho[k], data.rhor[k], data.z2r[k, k]])
    rows = [" ".join(f"{v:.16e}" for v in vals[i : i + 5]) for i in range(0, len(vals), 5)]
    text = "\n".join(
        ["Cu only, from ZrCuAl2011.eam.alloy (setfl)", "#", "#", "1 Cu",
         f"{data.nrho} {data.drho!r} {data.nr} {data.dr!r} {data.cutoff!r}", f"29 {data.masses[k]} 3.6 fcc"]
        + rows
    )  # fmt: skip
    path = tmp_path / "Cu.eam.alloy"
    path.write_text(text)  # jax-md's reader needs 'setfl' on line 1 and no trailing newline

    rng = np.random.default_rng(5)
    s = lattice(3.6, FCC, ["Cu"] * 4, 4)
    s = s.with_positions(s.positions + 0.05 * rng.standard_normal(s.positions.shape))
    disp, _ = space.periodic(np.asarray(s.box))
    with open(path) as fh:
        charge, embed, pair, cut = jax_md_energy.load_lammps_eam_parameters(fh)
    # jax-md sums the density over all pairs including i = j; exclude the self term explicitly
    e_jaxmd = float(
        jax_md_energy.eam(disp, lambda r: jnp.where(r > 0.5, charge(r), 0.0), embed, pair)(s.positions)
    )
    cu_only = read_setfl(path)
    assert cu_only.species == ("Cu",) and cut == pytest.approx(cu_only.cutoff)
    e_ours = total_energy(cu_only, s)
    print(f"E/N jax-md {e_jaxmd / s.n_atoms:.9f}, ours {e_ours / s.n_atoms:.9f} eV/atom")
    assert abs(e_jaxmd - e_ours) / s.n_atoms < 3e-7  # different splines (of φ vs r φ): ~6e-8


def test_setfl_parse_errors(tmp_path):
    bad = tmp_path / "bad.eam.alloy"
    bad.write_text("a\nb\nc\n1 Cu\n10 0.1 10 0.1 0.9\n29 63.5 3.6 fcc\n" + "0.0 " * 15 + "\n")
    with pytest.raises(ValueError, match="file ends"):
        parse_setfl(bad)
    with pytest.raises(FileNotFoundError):
        read_setfl(tmp_path / "missing.eam.alloy")


# -------------------------------------------------------------------------------------------
# Zhou-Johnson-Wadley


def zjw_numpy(species, r):
    """phi_ab(r), f_a(r) straight from the ZJW 2004 equations (no taper), numpy."""
    from jaxglass.potentials.eam import ZJW_PARAMETERS as P

    def f(a):
        p = P[a]
        x = r / p["r_e"]
        return p["f_e"] * np.exp(-p["beta"] * (x - 1)) / (1 + (x - p["lam"]) ** 20)

    def phi(a):
        p = P[a]
        x = r / p["r_e"]
        return p["A"] * np.exp(-p["alpha"] * (x - 1)) / (1 + (x - p["kappa"]) ** 20) - p["B"] * np.exp(
            -p["beta"] * (x - 1)
        ) / (1 + (x - p["lam"]) ** 20)

    a, b = species
    return 0.5 * (f(b) / f(a) * phi(a) + f(a) / f(b) * phi(b)), f(a)


def test_zjw_functions_and_mixing():
    pot = zhou_johnson_wadley(("Cu", "Al", "Zr"))
    assert pot.cutoff == pytest.approx(np.sqrt(5.0) * 3.199978)  # LAMMPS create_eam.py default
    assert pot.masses["Zr"] == pytest.approx(91.224)
    r = np.linspace(1.8, pot.cutoff - 0.5, 200)  # below the taper
    fn = pot.functions
    rc = pot.cutoff
    rho_e = np.array([21.175871, 20.418205, 30.879991])
    x = np.stack([0.85 * rho_e, 0.85 * rho_e, 1.15 * rho_e, 1.15 * rho_e], axis=1)
    x = (x + np.array([-1e-9, 1e-9, -1e-9, 1e-9])).ravel()
    sp = np.repeat(np.arange(3), 4)
    ia, ib = (g.ravel()[:, None] for g in np.meshgrid(np.arange(3), np.arange(3), indexing="ij"))

    def derivs(g, at):
        d1 = jax.grad(g)
        return jnp.stack([g(at), d1(at), jax.grad(d1)(at)])

    @jax.jit
    def evaluate(r, x):
        near_rc = jnp.stack(
            [
                derivs(lambda t: fn.pair(1, 2, t), rc - 1e-7),
                derivs(lambda t: fn.density(2, t), rc - 1e-7),
                derivs(lambda t: fn.pair(0, 2, t), rc + 1e-3),
            ]
        )
        return dict(
            phi=fn.pair(ia, ib, r[None, :]),
            f=fn.density(jnp.arange(3)[:, None], r[None, :]),
            near_rc=near_rc,
            F=fn.embedding(sp, x),
            dF=jax.vmap(jax.grad(fn.embedding, argnums=1))(sp, x),
            F_e=fn.embedding(0, 21.175871),
        )

    out = {k: np.asarray(v) for k, v in evaluate(jnp.asarray(r), jnp.asarray(x)).items()}
    for k in range(9):
        a, b = int(ia[k, 0]), int(ib[k, 0])
        ref_phi, ref_f = zjw_numpy((pot.species[a], pot.species[b]), r)
        np.testing.assert_allclose(out["phi"][k], ref_phi, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(out["f"][a], ref_f, rtol=1e-12)
    # taper: value, slope and curvature of φ and f go to zero at the cutoff (C2)
    assert np.all(np.abs(out["near_rc"][:2]) < 1e-8), out["near_rc"]
    assert np.all(out["near_rc"][2] == 0.0)
    # embedding at rho_e is F_0 (Cu), and the branches join in value and slope at rho_n, rho_0
    assert float(out["F_e"]) == pytest.approx(-2.19, abs=1e-12)
    v, d = out["F"].reshape(3, 2, 2), out["dF"].reshape(3, 2, 2)
    np.testing.assert_allclose(v[..., 0], v[..., 1], atol=1e-6)  # parameters are given to 6 digits
    np.testing.assert_allclose(d[..., 0], d[..., 1], atol=1e-5)
    with pytest.raises(ValueError, match="no ZJW parameters"):
        zhou_johnson_wadley(("Cu", "Xx"))


@pytest.mark.parametrize(
    "el, lo, hi, a_ref, e_ref",
    [("Cu", 3.55, 3.68, 3.615, -3.54), ("Al", 3.98, 4.12, 4.05, -3.58)],
)
def test_zjw_fcc_lattice_and_cohesive_energy(el, lo, hi, a_ref, e_ref):
    pot = zhou_johnson_wadley(("Cu", "Al", "Zr"))
    a, e = equilibrium(pot, FCC, [el] * 4, 5 if el == "Cu" else 4, lo, hi)
    print(f"ZJW fcc {el}: a = {a:.5f} Å (paper {a_ref}), E = {e:.5f} eV/atom (paper {e_ref})")
    assert a == pytest.approx(a_ref, abs=1e-3)
    assert e == pytest.approx(e_ref, abs=1e-3)


# -------------------------------------------------------------------------------------------
# Forces and Hessian smoothness


def _check_forces_fd(pot, s, n_check=8, h=1e-5):
    nbrs = pot.neighbors(s, skin=0.01)
    f_e = jax.jit(pot.energy_fn(s, nbrs))
    forces = np.asarray(total_forces(pot, s))  # the two-pass explicit forces (EAMPotential.forces)
    np.testing.assert_allclose(forces, -np.asarray(jax.grad(f_e)(s.positions)), rtol=0, atol=1e-11)
    rng = np.random.default_rng(7)
    pos = np.asarray(s.positions)
    for flat in rng.choice(pos.size, n_check, replace=False):
        i, ax = divmod(int(flat), 3)
        dp = np.zeros_like(pos)
        dp[i, ax] = h
        fd = -(float(f_e(jnp.asarray(pos + dp))) - float(f_e(jnp.asarray(pos - dp)))) / (2 * h)
        assert forces[i, ax] == pytest.approx(fd, abs=2e-6), (i, ax)
    assert np.abs(forces.sum(axis=0)).max() < 1e-9


@needs_setfl
def test_setfl_forces_match_finite_differences(setfl):
    _check_forces_fd(setfl, mixed_cell(seed=11))


def test_zjw_forces_match_finite_differences():
    _check_forces_fd(zhou_johnson_wadley(("Cu", "Al", "Zr")), mixed_cell(seed=12))


def test_tabulated_forces_match_gradient_and_finite_differences():
    """The setfl force pass (one fused coefficient gather per slot) equals -grad E of the same
    tables to round-off; runs without the external setfl file."""
    from jaxglass.potentials.eam import tabulated

    _check_forces_fd(tabulated(zhou_johnson_wadley(("Cu", "Al", "Zr"))), mixed_cell(seed=14))


def test_zjw_hvp_by_forces_equals_forward_over_reverse():
    """The EAM Hessian-vector product (forward mode over the explicit two-pass forces) equals the
    forward-over-reverse derivative of the energy, with padded slots and neighbours beyond the
    cutoff in the list."""
    from jaxglass.hessian import hvp

    pot = zhou_johnson_wadley(("Cu", "Al", "Zr"))
    assert pot.gather_only_forces
    s = mixed_cell(seed=15)
    nb = tuple(jnp.asarray(i) for i in pot.neighbors(s, skin=0.3))
    v = jnp.asarray(np.random.default_rng(4).standard_normal(s.positions.shape))
    ref = jax.jvp(jax.grad(pot.energy_fn(s, nb)), (s.positions,), (v,))[1]
    got = jax.jit(lambda v: hvp(pot, s, nb, v))(v)
    tol = 1e-11 * float(jnp.abs(ref).max())
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=tol)


@pytest.mark.parametrize("tables", [False, True])
def test_eam_hvp_operator_equals_forward_over_reverse(tables, monkeypatch):
    """The linearised EAM product (hvp_operators: slot arrays precomputed once) equals forward-over-reverse
    of the energy, for the analytic ZJW functions and for their setfl tables, with padded slots and
    neighbours beyond the cutoff; it is a PyTree that jitted functions take as an argument."""
    from jaxglass.hessian import hvp_operator
    from jaxglass.potentials import hvp_operators
    from jaxglass.potentials.eam import tabulated

    pot = zhou_johnson_wadley(("Cu", "Al", "Zr"))
    pot = tabulated(pot) if tables else pot
    s = mixed_cell(seed=16)
    nb = tuple(jnp.asarray(i) for i in pot.neighbors(s, skin=0.3))
    assert (np.asarray(nb[0]) == s.n_atoms).any()
    op = jax.jit(hvp_operator)(pot, s, nb)
    assert isinstance(op, jax.tree_util.Partial) and op.func is not hvp_operator
    v = jnp.asarray(np.random.default_rng(5).standard_normal(s.positions.shape))
    ref = jax.jvp(jax.grad(pot.energy_fn(s, nb)), (s.positions,), (v,))[1]
    got = jax.jit(lambda op, v: op(v))(op, v)
    tol = 1e-11 * float(jnp.abs(ref).max())
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=tol)
    # built in blocks of 7 atoms (the last one padded): the same slot arrays
    monkeypatch.setattr(hvp_operators, "ROW_BLOCK", 7)
    assert s.n_atoms > 7 and s.n_atoms % 7
    blocked = jax.jit(hvp_operator)(pot, s, nb)
    np.testing.assert_allclose(np.asarray(blocked(v)), np.asarray(got), rtol=0, atol=1e-2 * tol)  # round-off
    for a, b in zip(jax.tree.leaves(blocked), jax.tree.leaves(op)):
        np.testing.assert_array_equal(np.asarray(a).shape, np.asarray(b).shape)


def test_zjw_site_hessian_finite_with_padding():
    """Hessian of the site energy stays finite at padded slots and beyond the cutoff.

    (The setfl potential gets the same check through the phonon engine below.)
    """
    pot = zhou_johnson_wadley(("Cu", "Al", "Zr"))
    s = mixed_cell(seed=13)
    nb = np.asarray(pot.neighbors(s, skin=0.3)[0])  # padded slots and neighbours beyond the cutoff
    rows = np.argsort((nb < s.n_atoms).sum(axis=1))[:2]  # the two atoms with the most padding
    assert (nb[rows] == s.n_atoms).any()
    sp = jnp.asarray(pot.species_map(s))[s.species]
    dr, mask, sj = local_environment(s, jnp.asarray(nb), sp, pot.terms[0].cutoff)
    h = jax.jit(jax.vmap(jax.hessian(pot.terms[0].site)))(dr[rows], mask[rows], sp[rows], sj[rows])
    assert np.all(np.isfinite(np.asarray(h)))


# -------------------------------------------------------------------------------------------
# Phonons: engine Hessian vs frozen phonons at the X point of fcc Cu


def frozen_phonon_x(pot, s, a, polarization, amplitudes=(5e-4, 1e-3, 2e-3)):
    """X-point frequency (THz) from the second central difference of the total energy.

    X = (2π/a)(1,0,0): the displacement pattern is u cos(2π x/a) = ±u (x/a integer or half-integer),
    along x (longitudinal) or y (transverse). E(u) - E0 = N k u² / 2 with k = m ω² per atom.
    """
    pos = np.asarray(s.positions)
    sign = np.where(np.isclose(np.mod(pos[:, 0] / a, 1.0), 0.0, atol=1e-6), 1.0, -1.0)
    pattern = np.zeros_like(pos)
    pattern[:, {"L": 0, "T": 1}[polarization]] = sign
    nbrs = pot.neighbors(s, skin=0.05)
    f = jax.jit(pot.energy_fn(s, nbrs))
    e0 = float(f(jnp.asarray(pos)))
    m = float(np.asarray(s.masses)[0])
    out = []
    for u in amplitudes:
        ep = float(f(jnp.asarray(pos + u * pattern)))
        em = float(f(jnp.asarray(pos - u * pattern)))
        k = (ep + em - 2.0 * e0) / (u * u) / s.n_atoms
        out.append(FREQ_THZ * np.sqrt(k / m))
    return np.asarray(out)


@needs_setfl
def test_cu_x_point_phonons_engine_vs_frozen_phonon(setfl, cu_eq):
    phonons = pytest.importorskip("jaxglass.phonons")
    a, _ = cu_eq
    s = lattice(a, FCC, ["Cu"] * 4, 4)  # box 14.4 Å > 2 × 6.5 Å
    nbrs = setfl.neighbors(s, skin=0.3)  # padded slots and neighbours beyond the cutoff
    assert (np.asarray(nbrs[0]) == s.n_atoms).any()
    freqs = np.asarray(phonons.frequencies(setfl, s, nbrs))  # engine: autodiff Hessian + eigvalsh
    assert freqs.shape == (3 * s.n_atoms,)
    assert np.all(np.isfinite(freqs))
    assert freqs.min() > -1e-3 * freqs.max()  # stable crystal: only the 3 zero modes near 0
    for pol, expt in (("L", 7.25), ("T", 5.1)):
        fp = frozen_phonon_x(setfl, s, a, pol)
        nearest = freqs[np.argmin(np.abs(freqs - fp[1]))]
        print(f"Cu X_{pol}: frozen phonon {fp} THz, engine {nearest:.6f} THz, experiment ~{expt} THz")
        np.testing.assert_allclose(fp, nearest, rtol=1e-3)
        assert nearest == pytest.approx(expt, rel=0.15)


def test_tabulated_zjw_for_md_matches_analytic():
    """The setfl tables an MD stage steps with (for_md) reproduce the analytic ZJW energy and forces
    (the tabulation error of LAMMPS's splines on 4000-point grids), and leave tabulated potentials as
    they are."""
    from jaxglass.potentials.eam import for_md, tabulated

    pot = zhou_johnson_wadley(("Cu", "Al", "Zr"))
    tab = for_md(pot)
    assert tab is tabulated(pot) and for_md(tab) is tab
    s = mixed_cell(seed=13)
    nbrs = pot.neighbors(s)
    e_a, e_t = float(pot.energy(s, nbrs)), float(tab.energy(s, tab.neighbors(s)))
    assert abs(e_a - e_t) / s.n_atoms < 1e-8
    f_a, f_t = np.asarray(total_forces(pot, s)), np.asarray(total_forces(tab, s))
    assert np.max(np.abs(f_a - f_t)) < 5e-4 * max(1.0, np.max(np.abs(f_a)))
