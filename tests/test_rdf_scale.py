"""The binned-moment g(r) against the direct pair formula, freud's histogram and finite differences.

Lengths in reduced units (σ_LJ) or Å; g(r) is dimensionless.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import make_structure
from jaxglass import rdf as R
from jaxglass.generate import random_packing


def _direct(s, r, sigma, reach):
    """numpy, all pairs (old formula): V/(N_a N_b) Σ_{i∈a, j∈b, j≠i, r_ij<reach} G_σ(r − r_ij)/S_d(r_ij)."""
    pos, box, per = np.asarray(s.positions), np.asarray(s.box), np.asarray(s.periodic)
    sp, n, n_sp = np.asarray(s.species), s.n_atoms, len(s.species_names)
    dr = pos[None] - pos[:, None]
    dr = np.where(per, dr - box * np.round(dr / box), dr)
    d = np.linalg.norm(dr, axis=-1)
    iu, ju = np.triu_indices(n, 1)
    d, a, b = d[iu, ju], sp[iu], sp[ju]
    keep = d < reach
    d, a, b = d[keep], a[keep], b[keep]
    nd = int(per.sum())
    w = 1 / (4 * np.pi * d**2) if nd == 3 else 1 / (2 * np.pi * d)
    g = np.exp(-0.5 * ((r[None] - d[:, None]) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi)) * w[:, None]
    acc = np.zeros((n_sp, n_sp, len(r)))
    np.add.at(acc, (a, b), g)
    acc = acc + acc.transpose(1, 0, 2)
    vol = np.prod(np.where(per, box, 1.0))
    cnt = np.bincount(sp, minlength=n_sp).astype(float)
    return vol * acc.sum((0, 1)) / n**2, vol * acc / (cnt[:, None, None] * cnt[None, :, None])


def _ternary(n=240, seed=4):
    return random_packing(n, 1.2, 3, {"A": 0.5, "B": 0.3, "C": 0.2}, min_distance=0.75, seed=seed)


def test_binned_matches_direct_formula_every_input_format():
    """Binned Hermite moments vs the per-pair Gaussian sum: ≤ 1e-10 of the peak, non-uniform grid."""
    s = _ternary()
    sigma = 0.05
    r = np.sort(np.r_[np.random.default_rng(1).uniform(0.5, 2.6, 148), 0.5, 2.6])
    tot_ref, par_ref = _direct(s, r, sigma, 2.6 + 5 * sigma)
    scale = np.abs(par_ref).max()
    idx = R.rdf_neighbors(s, 2.6, sigma)
    pairs = R.rdf_pairs(s, 2.6, sigma)
    outs = {
        "none": R.rdf(s, jnp.asarray(r), sigma),
        "nbr": R.rdf(s, jnp.asarray(r), sigma, idx),
        "pairs": R.rdf(s, jnp.asarray(r), sigma, pairs, chunk=100),
        "traced idx": jax.jit(lambda x, k: R.rdf(s.with_positions(x), jnp.asarray(r), sigma, k))(
            s.positions, jnp.asarray(idx)
        ),
        # traced grid: the direct per-pair evaluation path (same custom VJP)
        "traced r": jax.jit(lambda rr: R.rdf(s, rr, sigma, pairs))(jnp.asarray(r)),
    }
    for name, g in outs.items():
        assert np.max(np.abs(np.asarray(g.total) - tot_ref)) < 1e-10 * scale, name
        assert np.max(np.abs(np.asarray(g.partial) - par_ref)) < 1e-10 * scale, name


def test_two_dimensional_and_sheet_normalisation():
    """2D packing and the same points as a sheet in a 3D box with a vacuum axis (areal density, S_2)."""
    s2 = random_packing(200, 1.0, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=5)
    r = np.linspace(0.6, 3.0, 80)
    for s in (
        s2,
        make_structure(
            np.c_[np.asarray(s2.positions), np.full(200, 3.0)],
            s2.symbols(),
            np.r_[np.asarray(s2.box), 20.0],
            periodic=(True, True, False),
            min_distance=None,
        ),
    ):
        tot_ref, par_ref = _direct(s, r, 0.04, 3.0 + 0.2)
        g = R.rdf(s, jnp.asarray(r), 0.04)
        assert np.allclose(np.asarray(g.total), tot_ref, rtol=0, atol=1e-10 * tot_ref.max())
        assert np.allclose(np.asarray(g.partial), par_ref, rtol=0, atol=1e-10 * par_ref.max())


def test_slab_pair_search_and_streaming(monkeypatch):
    """Slab-wise k-d trees find exactly the minimum-image pairs; streamed blocks give the same g."""
    from jaxglass.neighbors import pair_list
    from jaxglass.structure import replicate

    monkeypatch.setattr(R, "_SLAB_ATOMS", 150)  # several slabs even for small cells
    monkeypatch.setattr(R, "_STREAM_PAIRS", 3000)  # several full blocks and a remainder
    monkeypatch.setattr(R, "_THREAD_MIN_ATOMS", 0)  # slabs searched by a pool of 3 threads
    monkeypatch.setattr(R, "_workers", lambda: 3)
    base = _ternary(150, 10)
    s2 = random_packing(200, 1.0, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=11)
    sheet = make_structure(
        np.c_[np.asarray(s2.positions), np.random.default_rng(0).uniform(2.0, 2.5, 200)],
        s2.symbols(),
        np.r_[np.asarray(s2.box), 20.0],
        periodic=(True, True, False),
        min_distance=None,
    )
    for s, r_max in [
        (replicate(base, (1, 3, 1)), 2.0),
        (replicate(s2, (3, 1)), 3.0),
        (replicate(sheet, (1, 3, 1)), 3.0),
    ]:
        reach = r_max + 5 * 0.04
        a, b = pair_list(s, reach)
        i, j = R.rdf_pairs(s, r_max, 0.04)
        ref = set(zip(np.minimum(a, b), np.maximum(a, b)))
        got = list(zip(np.minimum(i, j), np.maximum(i, j)))
        assert len(got) == len(ref) and set(got) == ref
        r = np.linspace(0.6, r_max, 70)
        tot_ref, par_ref = _direct(s, r, 0.04, reach)
        g = R.rdf(s, jnp.asarray(r), 0.04)
        assert np.allclose(np.asarray(g.partial), par_ref, rtol=0, atol=1e-10 * par_ref.max())
        assert np.allclose(np.asarray(g.total), tot_ref, rtol=0, atol=1e-10 * tot_ref.max())


def test_float32_positions():
    """float32 uses 6 moments: agrees with the float64 result to float32 round-off (1e-5 of the peak)."""
    s = _ternary(150, 6)
    r = jnp.linspace(0.6, 2.2, 100)
    g64 = np.asarray(R.rdf(s, r, 0.05).partial)
    s32 = s.with_positions(jnp.asarray(s.positions, jnp.float32)).replace(box=jnp.asarray(s.box, jnp.float32))
    g32 = R.rdf(s32, jnp.asarray(r, jnp.float32), 0.05)
    assert g32.partial.dtype == jnp.float32
    assert np.max(np.abs(np.asarray(g32.partial) - g64)) < 1e-5 * np.abs(g64).max()


def test_matches_freud_histogram():
    """σ = 5e-4 ≪ bin width 0.05: smoothed g integrated over each bin vs freud.density.RDF.

    Compared as pair counts per shell, ∫_bin g(r) S_d(r) dr vs g_freud × shell volume (so a g(r)
    that varies inside a bin does not matter). What remains is the Gaussians of pairs within ~σ of
    a bin edge spilling into the neighbouring bin (a few pairs per bin): |Δ| ≤ 0.025 per bin (g up
    to 1.8) and ≤ 0.004 on average for the total; 0.03 for A-A and A-B; 0.1 for B-B (1/16 of the
    pairs, 4× the counting noise). Measured: 0.010, 0.015, 0.010, 0.053.
    """
    freud = pytest.importorskip("freud")
    s = random_packing(1500, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=7)
    pos, L = np.asarray(s.positions), np.asarray(s.box)
    sp = np.asarray(s.species)
    r_min, r_max, bins, sub = 0.8, 2.6, 36, 100
    fine = np.linspace(r_min, r_max, sub * bins + 1)
    fine = 0.5 * (fine[1:] + fine[:-1])  # sub-bin centres, spacing = σ
    g = R.rdf(s, jnp.asarray(fine), 0.0005)
    box = freud.box.Box(*L)
    p = pos - L / 2
    ref = freud.density.RDF(bins=bins, r_max=r_max, r_min=r_min).compute((box, p))
    e = np.asarray(ref.bin_edges)
    shell = 4 / 3 * np.pi * (e[1:] ** 3 - e[:-1] ** 3)

    def per_bin(x):  # ∫_bin g S_3 dr / shell volume: the histogram estimator of the smoothed g
        return (np.asarray(x) * 4 * np.pi * fine**2).reshape(bins, sub).sum(-1) * (fine[1] - fine[0]) / shell

    diff = per_bin(g.total) - ref.rdf
    assert np.max(np.abs(diff)) < 0.025 and np.mean(np.abs(diff)) < 0.004
    for a in range(2):
        for b in range(2):
            rd = freud.density.RDF(bins=bins, r_max=r_max, r_min=r_min)
            ref_ab = rd.compute((box, p[sp == b]), query_points=p[sp == a]).rdf
            tol = 0.1 if (a, b) == (1, 1) else 0.03
            assert np.max(np.abs(per_bin(g.partial[a, b]) - ref_ab)) < tol, (a, b)


def test_gradient_matches_central_differences():
    """d/dx and d/d(box) of a weighted sum of total and partial g: custom VJP vs central FD (h = 1e-6)."""
    s = _ternary(120, 8)
    sigma = 0.05
    r = jnp.linspace(0.6, 2.0, 60)
    pairs = R.rdf_pairs(s, 2.0, sigma)
    rng = np.random.default_rng(2)
    wt = jnp.asarray(rng.normal(size=60))
    wp = jnp.asarray(rng.normal(size=(3, 3, 60)))

    def loss(x, box, rr):
        g = R.rdf(s.with_positions(x).replace(box=box), rr, sigma, pairs)
        return jnp.dot(wt, g.total) + jnp.sum(wp * g.partial)

    f = jax.jit(loss)
    x0, b0 = s.positions, s.box
    gx, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(x0, b0, r)
    # the traced-grid (direct) path has the same gradient
    gx2 = jax.jit(lambda x, rr: jax.grad(loss)(x, b0, rr))(x0, r)
    assert np.allclose(np.asarray(gx2), np.asarray(gx), rtol=1e-9, atol=1e-9 * np.abs(gx).max())
    h = 1e-6
    for i, a in [(0, 0), (33, 1), (77, 2), (119, 0)]:
        e = jnp.zeros_like(x0).at[i, a].set(h)
        fd = (f(x0 + e, b0, r) - f(x0 - e, b0, r)) / (2 * h)
        assert float(gx[i, a]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8 * np.abs(gx).max())
    for a in range(3):
        e = jnp.zeros_like(b0).at[a].set(h)
        fd = (f(x0, b0 + e, r) - f(x0, b0 - e, r)) / (2 * h)
        assert float(gb[a]) == pytest.approx(float(fd), rel=1e-6)
    # translation invariance: the position gradient sums to zero
    assert np.allclose(np.asarray(gx).sum(0), 0.0, atol=1e-9 * np.abs(gx).max())


def test_bad_inputs_name_the_field():
    s = _ternary(60, 9)
    r = jnp.linspace(0.6, 2.0, 20)
    with pytest.raises(ValueError, match="idx"):
        R.rdf(s, r, 0.05, np.zeros((5, 4), np.int32))
    with pytest.raises(ValueError, match="idx"):
        R.rdf(s, r, 0.05, (np.zeros(3, np.int32),))
    with pytest.raises(ValueError, match="idx: positions are traced"):
        jax.jit(lambda x: R.rdf(s.with_positions(x), r, 0.05).total)(s.positions)
    with pytest.raises(ValueError, match="chunk"):
        R.rdf(s, r, 0.05, chunk=0)
    with pytest.raises(ValueError, match="r:"):
        R.rdf(s, jnp.zeros((2, 3)), 0.05)
