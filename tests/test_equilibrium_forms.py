"""Derivatives at equilibrium for every potential form (Tersoff: LB carbon sheet and Si-C 1989; EAM:
Zhou-Johnson-Wadley Cu; Vashishta Si-C 2007) against central finite differences of structures fully
re-relaxed at θ(1 ± h); rigid-body zero modes (crystal sheet, free cluster); forward mode; jit/vmap."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass.equilibrium import equilibrium_positions, relaxed_positions, rigid_modes, solve_hessian
from jaxglass.generate.amc import stone_wales
from jaxglass.generate.lattices import fcc, graphene, triangular, zincblende
from jaxglass.hessian import dynamical_matrix, hessian
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen
from jaxglass.potentials.eam import zhou_johnson_wadley
from jaxglass.potentials.tersoff import lindsay_broido_carbon, tersoff_sic_1989
from jaxglass.potentials.vashishta import vashishta_sic_2007
from jaxglass.space import displacement
from jaxglass.structure import make_structure

FMAX = 1e-11


def scaled(pot, name, t, term=0):
    """``pot`` with the parameter ``name`` of ``term`` multiplied by ``1 + t`` (a relative knob)."""
    ps = [dict(p) for p in pot.params]
    ps[term][name] = jnp.asarray(ps[term][name]) * (1.0 + t)
    return pot.with_params(ps)


def _vacancy(s, amp, seed):
    """``s`` without atom 0, the rest displaced by Gaussian noise of ``amp`` Å (breaks the symmetry)."""
    rng = np.random.default_rng(seed)
    pos = np.asarray(s.positions)[1:] + amp * rng.normal(size=(s.n_atoms - 1, s.dim))
    names = [s.species_names[i] for i in np.asarray(s.species)[1:]]
    return make_structure(pos, names, np.asarray(s.box), periodic=s.periodic)


def _sheet():
    s = stone_wales(graphene(2.49205, (3, 2)), (0, 1))
    rng = np.random.default_rng(0)
    return s.with_positions(s.positions + 0.02 * rng.normal(size=s.positions.shape))


# (case, builder, potential, parameter, FD step h, rtol of the second-moment check)
FORMS = {
    "tersoff_lb_sheet": (_sheet, lindsay_broido_carbon, "lambda2_2", 1e-5, 1e-5),
    "tersoff_sic": (lambda: _vacancy(zincblende(4.32117, (1, 1, 1)), 0.05, 1), tersoff_sic_1989, "lambda2_2",
                    1e-5, 1e-5),
    "eam_zjw_cu": (lambda: _vacancy(fcc(3.615, (2, 2, 1), "Cu"), 0.05, 2),
                   lambda: zhou_johnson_wadley(("Cu",)), "beta", 1e-4, 1e-5),
    "vashishta_sic": (lambda: _vacancy(zincblende(4.35817, (1, 1, 1)), 0.05, 3), vashishta_sic_2007, "H",
                      1e-5, 1e-5),
}


def _second_moment(pot, s, nb):
    """⟨λ⟩ = Tr D / (N d): the second frequency moment of the Γ-point spectrum (a smooth observable)."""
    def f(p, x):
        return jnp.trace(dynamical_matrix(p, s.with_positions(x), nb)) / x.size
    return f


def _relaxed_case(case):
    build, make_pot, name, h, rtol = FORMS[case]
    pot = make_pot()
    s = minimize(pot, build(), fmax=FMAX).structure
    runs = [minimize(scaled(pot, name, t), s, fmax=FMAX).structure for t in (h, -h)]
    return pot, s, pot.neighbors(s), name, h, rtol, runs


@pytest.mark.parametrize("case", list(FORMS))
def test_every_form_positions_vs_rerelaxed_fd(case):
    pot, s, nb, name, h, _, runs = _relaxed_case(case)
    w = np.random.default_rng(5).normal(size=s.positions.shape)
    g = jax.grad(lambda t: jnp.vdot(w, relaxed_positions(scaled(pot, name, t), s, fmax=FMAX, nbrs=nb)))(0.0)
    dx = displacement(np.asarray(runs[0].positions - runs[1].positions), np.asarray(s.box), s.periodic)
    np.testing.assert_allclose(float(g), float(np.vdot(w, dx)) / (2 * h), rtol=1e-5, err_msg=case)


@pytest.mark.slow
@pytest.mark.parametrize("case", list(FORMS))
def test_every_form_second_moment_vs_rerelaxed_fd(case):
    """⟨λ⟩ = Tr D / (N d) at x*(θ): implicit vs re-relaxed FD, and unlike the fixed-position derivative."""
    pot, s, nb, name, h, rtol, runs = _relaxed_case(case)
    m2 = _second_moment(pot, s, nb)

    def eq(t):
        p = scaled(pot, name, t)
        return m2(p, relaxed_positions(p, s, fmax=FMAX, nbrs=nb))

    g_eq = float(jax.grad(eq)(0.0))
    g_fixed = float(jax.grad(lambda t: m2(scaled(pot, name, t), s.positions))(0.0))
    up, down = (m2(scaled(pot, name, t), r.positions) for t, r in zip((h, -h), runs))
    fd = float(up - down) / (2 * h)
    np.testing.assert_allclose(g_eq, fd, rtol=rtol, err_msg=case)
    assert abs(g_fixed - g_eq) > 1e3 * rtol * abs(g_eq), (case, g_fixed, g_eq)


def _cluster_2d():
    s = triangular(1.12, (3, 2))
    rng = np.random.default_rng(0)
    pos = np.asarray(s.positions) + 0.05 * rng.normal(size=s.positions.shape) + 5.0
    s = make_structure(pos, ["A"] * s.n_atoms, np.asarray(s.box) + 10.0, periodic=False)
    return minimize(kob_andersen(), s, fmax=FMAX).structure


def test_rigid_modes_are_the_hessian_null_space():
    """Sheet periodic in x, y: 3 translations (tilts are not zero modes); 2D cluster: 2 + 1 rotation."""
    lb = lindsay_broido_carbon()
    sheet = minimize(lb, graphene(2.49205, (3, 2)), fmax=FMAX).structure
    pot = kob_andersen()
    cluster = _cluster_2d()
    for p, s, m in ((lb, sheet, 3), (pot, cluster, 3)):
        q = np.asarray(rigid_modes(s)).reshape(m, -1)
        np.testing.assert_allclose(q @ q.T, np.eye(m), atol=1e-12)
        H = np.asarray(hessian(p, s))
        lam = np.linalg.eigvalsh(H)
        assert np.sum(np.abs(lam) < 1e-8 * lam[-1]) == m
        np.testing.assert_allclose(H @ q.T, 0.0, atol=1e-8 * lam[-1])
    assert rigid_modes(zincblende(4.32, (1, 1, 1))).shape[0] == 3
    wire = make_structure(np.zeros((2, 3)) + [[0, 0, 0], [1, 0, 0.5]], ["A", "A"], [9, 9, 2],
                          periodic=(False, False, True))
    assert rigid_modes(wire).shape[0] == 4


def test_cluster_rotation_projected_solve_and_derivative():
    """A free 2D LJ cluster: H u = b solves on the complement of translations + rotation (= pinv), and
    the implicit derivative matches re-relaxed FD once the rigid motions are removed from both."""
    pot, s = kob_andersen(), _cluster_2d()
    nb = pot.neighbors(s)
    b = np.random.default_rng(1).normal(size=s.positions.shape)
    u = solve_hessian(pot, s, nb, jnp.asarray(b))
    H = np.asarray(hessian(pot, s, nb))
    np.testing.assert_allclose(np.asarray(u).ravel(), np.linalg.pinv(H, rtol=1e-10) @ b.ravel(), atol=1e-8)
    q = np.asarray(rigid_modes(s)).reshape(3, -1)
    wp = (b.ravel() - q.T @ (q @ b.ravel())).reshape(b.shape)  # cotangent free of rigid motions
    g = jax.grad(lambda t: jnp.vdot(wp, relaxed_positions(scaled(pot, "sigma", t), s, fmax=FMAX)))(0.0)
    h = 1e-5
    xp, xm = (minimize(scaled(pot, "sigma", t), s, fmax=FMAX).structure.positions for t in (h, -h))
    np.testing.assert_allclose(float(g), float(np.vdot(wp, np.asarray(xp - xm))) / (2 * h), rtol=1e-6)


def test_forward_mode_jit_and_vmap():
    """mode="forward": jax.jvp equals the reverse-mode gradient; jax.grad works by transposition; with
    nbrs given, equilibrium_positions runs under jit and vmap and agrees with the eager result."""
    pot, s, name = kob_andersen(), _cluster_2d(), "sigma"
    nb = pot.neighbors(s)
    w = jnp.asarray(np.random.default_rng(2).normal(size=s.positions.shape))

    def f(t, mode="reverse", w=w):
        return jnp.vdot(w, equilibrium_positions(scaled(pot, name, t), s, nbrs=nb, fmax=1e-9, mode=mode))

    g_rev = float(jax.grad(f)(0.0))
    _, g_fwd = jax.jvp(lambda t: f(t, "forward"), (0.0,), (1.0,))
    np.testing.assert_allclose(float(g_fwd), g_rev, rtol=1e-8)
    np.testing.assert_allclose(float(jax.grad(lambda t: f(t, "forward"))(0.0)), g_rev, rtol=1e-8)
    np.testing.assert_allclose(float(jax.jit(jax.grad(f))(0.0)), g_rev, rtol=1e-8)
    ws = jnp.stack([w, -2.0 * w])  # a batch of cotangents
    batched = np.asarray(jax.vmap(lambda v: jax.grad(f)(0.0, w=v))(ws))
    np.testing.assert_allclose(batched, [g_rev, -2.0 * g_rev], rtol=1e-8)
    # relaxed_positions in forward mode: jax.jvp through the host relaxation
    _, t_rel = jax.jvp(lambda t: jnp.vdot(w, relaxed_positions(scaled(pot, name, t), s, fmax=FMAX,
                                                                mode="forward")), (0.0,), (1.0,))
    np.testing.assert_allclose(float(t_rel), g_rev, rtol=1e-6)
