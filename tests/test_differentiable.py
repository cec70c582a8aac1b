"""The differentiable chain: PyTree potentials, gradients of the PDOS, degeneracy-safe rules.

References: central finite differences of the same public function (positions in Å / σ, parameters
in their own units; PDOS in 1/THz or 1/ω), the host LAPACK route for values, and exact statements
(block-averaged eigenvalue derivatives of a diagonal matrix).
"""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import eam_short as _eam_short
from _helpers import vashishta_short as _vashishta_short

from jaxglass import phonons
from jaxglass.generate import fcc, graphene, random_packing, zincblende
from jaxglass.hessian import _hessian_jit
from jaxglass.minimize import minimize
from jaxglass.modes import eigvalsh, to_frequencies
from jaxglass.neighbors import neighbor_list
from jaxglass.potentials import (
    kob_andersen,
    lindsay_broido_carbon,
    vashishta_sic_2007,
    zhou_johnson_wadley,
)


def _perturb(s, scale, seed):
    rng = np.random.default_rng(seed)
    return s.with_positions(s.positions + rng.normal(scale=scale, size=s.positions.shape))


def _ka2d():
    s = random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0)
    pot = kob_andersen()
    return minimize(pot, s, fmax=1e-8).structure, pot, jnp.linspace(0.0, 40.0, 81), 1.5, "epsilon", (0, 1)


def _amc():
    return (
        _perturb(graphene(2.49205, (3, 2)), 0.03, 0),
        lindsay_broido_carbon(),
        jnp.linspace(0, 56, 113),
        1.0,
        "A_2",
        (0, 0),
    )


def _sic():
    return (
        _perturb(zincblende(4.35817, (2, 2, 2)), 0.02, 1),
        _vashishta_short(),
        jnp.linspace(0, 30, 61),
        0.8,
        "H",
        (0, 1),
    )


def _cu():
    return (
        _perturb(fcc(3.615, (3, 3, 3)), 0.02, 2),
        _eam_short(),
        jnp.linspace(0, 10, 51),
        0.3,
        "A",
        (0,),
    )


SYSTEMS = {"ka2d-pair": _ka2d, "amc-tersoff": _amc, "sic-vashishta": _sic, "cu-eam": _cu}


def _fd(f, x, v, h):
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


@pytest.mark.parametrize("name", list(SYSTEMS))
def test_pdos_gradient_positions_and_parameter_vs_finite_differences(name):
    s, pot, grid, sigma, pname, pidx = SYSTEMS[name]()
    nb = pot.neighbors(s)
    p_host = phonons.pdos(pot, s, grid, sigma, partial=False)
    k = int(jnp.argmax(p_host.total))  # a grid point on a peak flank of the spectrum
    k = max(1, k - 2)

    def f_pos(x):
        return phonons.pdos(pot, s.with_positions(x), grid, sigma, nbrs=nb, partial=False).total[k]

    # the traced route gives the host route's values
    assert abs(float(f_pos(s.positions)) - float(p_host.total[k])) < 1e-10
    g = jax.jit(jax.grad(f_pos))(s.positions)
    v = np.random.default_rng(5).normal(size=g.shape)
    fd = float(_fd(f_pos, s.positions, v, 1e-5))
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(float(jnp.sum(g * v)), fd, rtol=1e-4, atol=1e-7)

    # a potential parameter (a PyTree leaf): d PDOS_k / d p
    term = next(i for i, t in enumerate(pot.terms) if pname in t.params)
    p0 = jnp.asarray(pot.terms[term].params[pname])
    d = jnp.zeros_like(p0).at[pidx].set(1.0)
    if p0.ndim == 2:
        d = d.at[pidx[::-1]].set(1.0)  # keep pair tables symmetric

    def f_par(pv):
        params = list(pot.params)
        params[term] = dict(params[term], **{pname: pv})
        return phonons.pdos(pot.with_params(params), s, grid, sigma, nbrs=nb, partial=False).total[k]

    gp = jax.grad(f_par)(p0)
    h = 1e-6 * max(1.0, float(jnp.max(jnp.abs(p0 * d))))
    np.testing.assert_allclose(float(jnp.sum(gp * d)), float(_fd(f_par, p0, d, h)), rtol=1e-4, atol=1e-7)


def test_partial_dos_gradient_vs_finite_differences():
    s, pot, grid, sigma, *_ = _ka2d()
    nb = pot.neighbors(s)

    def f(x):
        p = phonons.pdos(pot, s.with_positions(x), grid, sigma, nbrs=nb)
        return p.partial[1, 25] + 0.3 * p.partial[0, 40]

    p_host = phonons.pdos(pot, s, grid, sigma)
    p_jax = phonons.pdos(pot, s, grid, sigma, nbrs=nb, backend="jax")
    np.testing.assert_allclose(p_jax.partial, p_host.partial, atol=1e-12)
    np.testing.assert_allclose(p_jax.partial.sum(0), p_jax.total, atol=1e-12)
    g = jax.grad(f)(s.positions)
    v = np.random.default_rng(1).normal(size=g.shape)
    np.testing.assert_allclose(
        float(jnp.sum(g * v)), float(_fd(f, s.positions, v, 1e-5)), rtol=1e-4, atol=1e-8
    )


@pytest.mark.parametrize(
    # fcc Cu (EAM: a slow third-derivative compile) runs with `pytest -m slow`; the EAM gradient is
    # checked by the parameter/position test above, zero modes and degeneracies by the other crystals
    "crystal",
    ["graphene", pytest.param("fcc-cu", marks=pytest.mark.slow), "3c-sic"],
)
def test_no_nan_gradients_at_crystal_zero_modes_and_degeneracies(crystal):
    if crystal == "graphene":
        s, pot, grid, sigma = graphene(2.49205, (3, 2)), lindsay_broido_carbon(), jnp.linspace(6, 56, 51), 1.0
    elif crystal == "fcc-cu":
        s, pot, grid, sigma = (
            fcc(3.615, (2, 2, 2)),
            _eam_short(3.4),
            jnp.linspace(2, 10, 33),
            0.3,
        )
    else:
        s, pot, grid, sigma = (
            zincblende(4.35817, (2, 2, 2)),
            _vashishta_short(),
            jnp.linspace(5, 30, 26),
            0.8,
        )
    nb = pot.neighbors(s)
    m = phonons.modes(pot, s, eigenvectors=False)
    assert int(np.sum(np.abs(np.asarray(m.frequencies)) < 1e-3)) >= 3  # translations: zero modes

    def f(x):
        p = phonons.pdos(pot, s.with_positions(x), grid, sigma, nbrs=nb, partial=len(s.species_names) > 1)
        out = jnp.sum(p.total[1::3] ** 2)
        return out if p.partial is None else out + jnp.sum(p.partial[-1, ::4])

    g = jax.grad(f)(s.positions)
    assert np.all(np.isfinite(np.asarray(g)))
    # at the degenerate, symmetric point the derivative of these symmetric spectral functions exists:
    # the degeneracy-safe rules must agree with central differences (the grids start above the
    # zero modes, whose frequencies sqrt(round-off) would make the differences noise)
    v = np.random.default_rng(2).normal(size=g.shape)
    # at a symmetric point the directional derivative may vanish; differences then carry round-off
    # of the eigenvalues (~1e-12 of f over 2h): absolute tolerance 1e-6 |f|
    atol = 1e-6 * max(1.0, abs(float(f(s.positions))))
    np.testing.assert_allclose(
        float(jnp.sum(g * v)), float(_fd(f, s.positions, v, 1e-5)), rtol=1e-4, atol=atol
    )
    gf = jax.grad(lambda x: jnp.sum(phonons.frequencies(pot, s.with_positions(x), nb) ** 2))(s.positions)
    assert np.all(np.isfinite(np.asarray(gf)))


def test_gradient_finite_with_imaginary_modes():
    s = random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=3)  # unrelaxed
    pot = kob_andersen()
    nb = pot.neighbors(s)
    assert phonons.modes(pot, s, eigenvectors=False).n_imaginary() > 0
    grid = jnp.linspace(-20.0, 60.0, 81)
    g = jax.grad(lambda x: phonons.pdos(pot, s.with_positions(x), grid, 2.0, nbrs=nb).partial[1, 10])(
        s.positions
    )
    assert np.all(np.isfinite(np.asarray(g)))


def test_eigvalsh_block_average_and_frequency_slope():
    a = jnp.diag(jnp.array([0.0, 2.0, 2.0, 5.0]))
    da = jnp.asarray(np.random.default_rng(0).normal(size=(4, 4)))
    da = da + da.T
    _, dw = jax.jvp(eigvalsh, (a,), (da,))
    # exact first-order shifts of the degenerate pair are the eigenvalues of its 2x2 block: their mean
    block = np.linalg.eigvalsh(np.asarray(da)[1:3, 1:3])
    np.testing.assert_allclose(np.asarray(dw), [da[0, 0], block.mean(), block.mean(), da[3, 3]], atol=1e-12)
    lam = jnp.array([-4.0, 0.0, 1e-30, 9.0])
    np.testing.assert_allclose(np.diag(jax.jacfwd(lambda lv: to_frequencies(lv, 2.0))(lam))[1:3], 0.0)
    slope = jax.vmap(jax.grad(lambda x: to_frequencies(lam.at[1].set(x), 2.0)[1]))(jnp.array([0.0]))
    assert np.all(np.isfinite(np.asarray(slope)))
    d = jax.jacfwd(lambda lv: to_frequencies(lv, 2.0))(lam)
    np.testing.assert_allclose(float(d[0, 0]), 2.0 * 0.5 / 2.0)  # d(-sqrt(-λ))/dλ at λ = -4
    np.testing.assert_allclose(float(d[3, 3]), 2.0 * 0.5 / 3.0)


def test_vmap_and_jit_over_equal_size_structures():
    pot = kob_andersen()
    ss = [
        minimize(
            pot, random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=k), fmax=1e-6
        ).structure
        for k in (1, 2)
    ]
    cap = max(pot.neighbors(s)[0].shape[1] for s in ss)
    nbs = jnp.stack([neighbor_list(s, pot.terms[0].cutoff, capacity=cap) for s in ss])
    batch = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *ss)
    grid = jnp.linspace(0.0, 40.0, 41)

    @jax.jit
    def total(st, nb):
        return phonons.pdos(pot, st, grid, 1.5, nbrs=(nb,), partial=False).total

    out = jax.vmap(total)(batch, nbs)
    for k, s in enumerate(ss):
        # atol: the translational zero modes have ν = sqrt(λ) of round-off λ ~ 1e-13, which differs by
        # ~1e-7 between LAPACK drivers (host two-stage vs jnp eigh) and moves the DOS near ν = 0 by ~1e-9
        np.testing.assert_allclose(out[k], phonons.pdos(pot, s, grid, 1.5, partial=False).total, atol=1e-8)


def test_pytree_potentials_do_not_recompile():
    s = random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=7)
    nb = kob_andersen().neighbors(s)
    before = _hessian_jit._cache_size()
    h1 = phonons.hessian(kob_andersen(), s, nb)
    mid = _hessian_jit._cache_size()
    other = kob_andersen()
    other = other.with_params([dict(other.params[0], epsilon=2.0 * np.asarray(other.params[0]["epsilon"]))])
    h2 = phonons.hessian(other, s, nb)  # a new instance with new numbers: same compiled function
    assert _hessian_jit._cache_size() == mid <= before + 1
    np.testing.assert_allclose(np.asarray(h2)[:4, :4], 2.0 * np.asarray(h1)[:4, :4], rtol=1e-12)
    e = jax.jit(lambda p, st: p.energy(st, nb))
    e(kob_andersen(), s)
    e(kob_andersen(), s)
    assert e._cache_size() == 1
    # every family is a PyTree with array leaves
    for pot in (lindsay_broido_carbon(), vashishta_sic_2007(), zhou_johnson_wadley(("Cu", "Zr"))):
        leaves = jax.tree_util.tree_leaves(pot)
        assert leaves and all(np.asarray(x).dtype.kind == "f" for x in leaves)


def test_traced_call_without_neighbour_lists_is_a_clear_error():
    s, pot, grid, sigma, *_ = _ka2d()
    with pytest.raises(ValueError, match="nbrs"):
        jax.grad(lambda x: phonons.pdos(pot, s.with_positions(x), grid, sigma).total[3])(s.positions)
    with pytest.raises(ValueError, match="grid, sigma"):
        jax.grad(lambda x: phonons.pdos(pot, s.with_positions(x), nbrs=pot.neighbors(s)).total[3])(
            s.positions
        )


def test_library_never_enables_x64_and_says_how():
    code = (
        "import jax, jaxglass\n"
        "from jaxglass.generate import random_packing\n"
        "from jaxglass.potentials import kob_andersen\n"
        "from jaxglass import phonons\n"
        "s = random_packing(20, 1.2, 2, {'A': 1.0}, min_distance=0.7, seed=0)\n"
        "try:\n"
        "    phonons.hessian(kob_andersen(), s)\n"
        "except jaxglass.Float64Required as e:\n"
        "    print('ERR', e)\n"
        "print('X64', jax.config.jax_enable_x64)\n"
    )
    env = dict(os.environ, JAX_ENABLE_X64="0")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert "ERR" in out.stdout and "jaxglass.enable_x64()" in out.stdout, out.stdout + out.stderr
    assert "X64 False" in out.stdout
