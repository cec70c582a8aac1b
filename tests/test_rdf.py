"""Smoothed RDF: ideal gas, exact histogram, crystal shells, gradients, S(q) transforms. Lengths in Å."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import make_structure, sq
from jaxglass import rdf as R
from jaxglass.generate import fcc, graphene, random_packing


def test_ideal_gas_gives_one():
    rng = np.random.default_rng(0)
    n, L = 2000, 18.0
    sp = np.where(rng.random(n) < 0.3, "Cu", "Zr")
    s = make_structure(rng.random((n, 3)) * L, sp, L, min_distance=None)
    g = R.rdf(s, jnp.linspace(1.0, 6.0, 60), 0.2)
    assert abs(float(g.total.mean()) - 1.0) < 0.01
    assert np.allclose(np.asarray(g.partial).mean(-1), 1.0, atol=0.03)


def test_matches_exact_histogram_for_small_smoothing():
    s = random_packing(200, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=1)
    pos, L = np.asarray(s.positions), float(s.box[0])
    dr = pos[None] - pos[:, None]
    dr -= L * np.round(dr / L)
    d = np.linalg.norm(dr, axis=-1)[np.triu_indices(200, 1)]
    edges = np.linspace(0.8, 2.7, 20)
    hist, _ = np.histogram(d, edges)
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    g_hist = 2 * hist / (200 * 200 / L**3) / shell
    # bin-average the smoothed g on a fine grid: with σ << bin width the two estimators agree
    fine = np.linspace(0.8, 2.7, 1901)
    g = np.asarray(R.rdf(s, jnp.asarray(fine), 0.002).total)
    centres = [g[(fine >= a) & (fine < b)].mean() for a, b in zip(edges[:-1], edges[1:])]
    assert np.allclose(centres, g_hist, rtol=0.05, atol=0.05)


def test_fcc_and_graphene_shells():
    a = 3.6
    s = fcc(a, (4, 4, 4))
    g = R.rdf(s, jnp.linspace(1.5, 5.5, 801), 0.02)
    r, gt = np.asarray(g.r), np.asarray(g.total)
    assert r[np.argmax(gt)] == pytest.approx(a / np.sqrt(2), abs=0.01)
    assert R.coordination_number(r, gt, 4 / a**3, 3.0) == pytest.approx(12.0, abs=1e-3)
    assert R.coordination_number(r, gt, 4 / a**3, 4.0) == pytest.approx(18.0, abs=1e-3)
    gr = graphene(2.46, (6, 4))
    g2 = R.rdf(gr, jnp.linspace(0.8, 3.5, 541), 0.02)
    area = float(gr.box[0] * gr.box[1])
    # a sheet in a box with a vacuum axis is normalised as 2D: 3 bonded neighbours at a/√3
    assert R.coordination_number(
        np.asarray(g2.r), np.asarray(g2.total), gr.n_atoms / area, 1.8, 2
    ) == pytest.approx(3.0, abs=1e-3)


def test_partials_combine_to_total():
    s = random_packing(150, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=2)
    g = R.rdf(s, jnp.linspace(0.5, 3.0, 50), 0.05)
    c = np.array([s.count("A"), s.count("B")]) / s.n_atoms
    comb = np.einsum("a,b,abr->r", c, c, np.asarray(g.partial))
    assert np.allclose(comb, np.asarray(g.total), rtol=1e-12)
    assert np.allclose(np.asarray(g.partial), np.swapaxes(np.asarray(g.partial), 0, 1))


def test_gradient_matches_finite_differences_and_jits():
    s = random_packing(80, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=3)
    r = jnp.linspace(0.6, 2.5, 40)
    idx = jnp.asarray(R.rdf_neighbors(s, 2.5, 0.05))
    w = jnp.asarray(np.random.default_rng(0).normal(size=40))

    @jax.jit
    def f(x):
        return jnp.dot(w, R.rdf(s.with_positions(x), r, 0.05, idx).total)

    x0 = s.positions
    g = np.asarray(jax.grad(f)(x0))
    assert np.all(np.isfinite(g))
    h = 1e-6
    for i, a in [(0, 0), (17, 1), (60, 0)]:
        e = jnp.zeros_like(x0).at[i, a].set(h)
        fd = (f(x0 + e) - f(x0 - e)) / (2 * h)
        assert g[i, a] == pytest.approx(float(fd), rel=1e-5, abs=1e-8)
    # vmap over structures of equal size
    batch = jnp.stack([x0, x0 + 0.01])
    out = jax.vmap(lambda x: R.rdf(s.with_positions(x), r, 0.05, idx).total)(batch)
    assert out.shape == (2, 40)


def test_structure_factor_round_trip():
    """g(r) → S(q) → g(r) for a smooth model g (3D and 2D)."""
    r = np.linspace(1e-3, 30, 3000)
    q = np.linspace(1e-3, 40, 4000)
    for dim in (2, 3):
        g = 1 + 0.5 * np.exp(-((r - 2) ** 2) / 0.1) - np.exp(-(r**2) / 0.5)
        s = sq.sq_from_pair_correlation(r, g, q, 0.5, dim)
        back = sq.pair_correlation_from_sq(q, s, r, 0.5, dim)
        m = (r > 0.5) & (r < 8)
        assert np.max(np.abs(back[m] - g[m])) < 5e-3


def test_bad_sigma_and_non_periodic():
    s = random_packing(50, 1.0, 2, {"A": 1.0}, min_distance=0.7, seed=0)
    with pytest.raises(ValueError, match="sigma"):
        R.rdf(s, jnp.linspace(0.5, 2, 10), 0.0)
    s2 = make_structure(np.asarray(s.positions), s.symbols(), s.box, periodic=(True, False))
    with pytest.raises(ValueError, match="periodic"):
        R.rdf(s2, jnp.linspace(0.5, 2, 10), 0.1)
