"""Small periodic cells (a periodic length ≤ 2 × cutoff): Γ-point Hessian, forces and energy by
summing periodic images, checked against the replicated cell (minimum-image fast path): the big
cell's Hessian rows of replica 0, folded onto the small cell by summing the columns of all
replicas, must equal the small cell's image-sum Hessian."""

import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import eam_short

from jaxglass.generate.lattices import fcc, triangular, zincblende
from jaxglass.hessian import hessian, hvp
from jaxglass.neighbors import image_neighbor_list, neighbor_list
from jaxglass.potentials import kob_andersen, tersoff_sic_1989, vashishta_sic_2007
from jaxglass.potentials.base import energy, forces
from jaxglass.structure import make_structure, replicate


def _rattle(s, amp, seed=0):
    rng = np.random.default_rng(seed)
    return s.with_positions(s.positions + amp * rng.standard_normal(s.positions.shape))


def _folded(H_big, n, d, k):
    """Rows of replica 0 of the big-cell Hessian, columns summed over the k replicas."""
    return np.asarray(H_big).reshape(k, n, d, k, n, d)[0].sum(axis=2).reshape(n * d, n * d)


def _check_fold(pot, small, reps, atol, energy_forces=True):
    n, d = small.positions.shape
    k = int(np.prod(reps))
    big = replicate(small, reps)
    assert any(nb.ndim == 3 for nb in pot.neighbors(small))  # the image path
    assert all(nb.ndim == 2 for nb in pot.neighbors(big))  # the minimum-image fast path
    H_small = np.asarray(hessian(pot, small))
    np.testing.assert_allclose(H_small, _folded(hessian(pot, big), n, d, k), rtol=0, atol=atol)
    if energy_forces:
        f_big = np.asarray(forces(pot, big))[:n]
        np.testing.assert_allclose(np.asarray(forces(pot, small)), f_big, rtol=0, atol=atol)
        assert energy(pot, small) * k == pytest.approx(energy(pot, big), rel=1e-12)
    return H_small


def test_vashishta_sic_64_atom_cell_equals_folded_2x2x2():
    # 3C-SiC, 64 atoms, box 8.72 Å < 2 × 7.35 Å (Vashishta 2007 two-body cutoff), rattled 0.05 Å;
    # forces and energies of the image path are checked on the cheaper cells below
    small = _rattle(zincblende(4.35817, (2, 2, 2)), 0.05)
    _check_fold(vashishta_sic_2007(), small, (2, 2, 2), 1e-10, energy_forces=False)


def test_tersoff_site_term_8_atom_si_cell():
    # three-body site term, 8-atom diamond Si cell of 5.431 Å < 2 × 3.0 Å
    si = zincblende(5.431, (1, 1, 1), ("Si", "Si"))
    _check_fold(tersoff_sic_1989(), _rattle(si, 0.05, seed=5), (2, 2, 2), 1e-10, energy_forces=False)


def test_lj_fcc_4_atom_cell_with_self_images_3d():
    # box 1.6 σ, cutoff 2.5 σ: every atom interacts with many images of itself and of the others
    s = _rattle(fcc(1.6, (1, 1, 1), species="A"), 0.03, seed=1)
    pot = kob_andersen()
    nb = pot.neighbors(s)[0]
    assert np.any(nb[:, :, 0] == np.arange(4)[:, None])  # self-images are listed
    H = _check_fold(pot, s, (4, 4, 4), 1e-10)
    # Γ-point acoustic sum rule: every row of d×d blocks sums to zero
    assert np.abs(H.reshape(4, 3, 4, 3).sum(axis=2)).max() < 1e-10


def test_lj_2d_small_cell_and_hvp():
    s = _rattle(triangular(1.1, (1, 2)), 0.03, seed=2)  # 4 atoms, box 1.1 × 3.8 σ
    s = make_structure(np.asarray(s.positions), ["A", "B", "A", "A"], np.asarray(s.box), min_distance=None)
    pot = kob_andersen()
    H = _check_fold(pot, s, (5, 2), 1e-10, energy_forces=False)
    v = jnp.asarray(np.random.default_rng(3).standard_normal((4, 2)))
    Hv = np.asarray(hvp(pot, s, pot.neighbors(s), v)).ravel()  # the matrix-free route (KPM)
    np.testing.assert_allclose(Hv, H @ np.asarray(v).ravel(), rtol=0, atol=1e-10)


@pytest.mark.slow
def test_site_term_with_self_images_eam():
    # EAM (site term: embedding of the density summed over images) on a 4-atom fcc Cu cell of
    # 3.615 Å with a 4.5 Å cutoff: each atom's own images are inside the cutoff
    _check_fold(eam_short(4.5), _rattle(fcc(3.615, (1, 1, 1)), 0.03, seed=4), (3, 3, 3), 1e-10)


def test_image_list_format_and_fast_path():
    s = fcc(1.6, (1, 1, 1), species="A")
    with pytest.raises(ValueError, match="replicate the cell"):
        neighbor_list(s, 2.5)  # the plain list still refuses; images=True opts in
    il = neighbor_list(s, 2.5, images=True)
    assert il.shape[0] == 4 and il.shape[2] == 4 and il.dtype == np.int32
    np.testing.assert_array_equal(il, image_neighbor_list(s, 2.5))
    # every listed vector is inside the cutoff, every pair (j, n) appears with its partner (i, -n)
    pos, box = np.asarray(s.positions), np.asarray(s.box)
    real = il[:, :, 0] < 4
    i_idx = np.broadcast_to(np.arange(4)[:, None], real.shape)[real]
    j_idx, sh = il[:, :, 0][real], il[:, :, 1:][real]
    r = np.linalg.norm(pos[j_idx] + sh * box - pos[i_idx], axis=1)
    assert r.max() < 2.5 and r.min() > 0
    fwd = {(int(a), int(b), *map(int, c)) for a, b, c in zip(i_idx, j_idx, sh)}
    assert fwd == {(b, a, *(-x for x in c)) for a, b, *c in fwd}
    # count against brute force over a generous image range
    g = np.arange(-3, 4)
    shifts = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
    dist = np.linalg.norm(pos[None, :, None] + shifts[None, None] * box - pos[:, None, None], axis=-1)
    assert real.sum() == np.sum((dist < 2.5) & (dist > 0))
    # big cells keep the (N, K) minimum-image list
    big = fcc(1.6, (4, 4, 4), species="A")
    assert kob_andersen().neighbors(big)[0].ndim == 2


def test_minimize_small_cell_returns_to_the_crystal():
    # 8-atom diamond Si, box 5.431 Å < 2 × 3.0 Å (Tersoff 1989): L-BFGS on image lists
    from jaxglass.minimize import minimize

    crystal = zincblende(5.431, (1, 1, 1), ("Si", "Si"))
    pot = tersoff_sic_1989()
    res = minimize(pot, _rattle(crystal, 0.1, seed=6), fmax=1e-6)
    assert res.converged
    assert res.energy == pytest.approx(energy(pot, crystal), abs=1e-9)
