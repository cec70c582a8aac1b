"""Structure validation, replication, neighbour lists and file round trips."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import Structure, make_structure, replicate
from jaxglass.generate import fcc, graphene, random_packing
from jaxglass.neighbors import neighbor_list


def _cube(n=8, L=10.0, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 3)) * L


def test_valid_structure_is_pytree():
    s = make_structure(_cube(), ["Cu"] * 4 + ["Zr"] * 4, 10.0)
    assert s.n_atoms == 8 and s.dim == 3
    assert s.species_names == ("Cu", "Zr")
    assert np.allclose(np.asarray(s.masses)[:4], 63.546)
    leaves, tree = jax.tree_util.tree_flatten(s)
    assert len(leaves) == 4  # positions, species, box, masses; names and periodicity are static
    s2 = jax.tree_util.tree_unflatten(tree, leaves)
    assert isinstance(s2, Structure) and s2.species_names == s.species_names
    # usable inside jit
    com = jax.jit(lambda st: jnp.sum(st.positions * st.masses[:, None], 0) / jnp.sum(st.masses))(s)
    assert com.shape == (3,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(positions=np.full((4, 3), np.nan)), "non-finite"),
        (dict(positions=np.zeros((4, 4))), r"shape \(N, 2\) or \(N, 3\)"),
        (dict(species=["Cu"] * 3), "species: expected shape"),
        (dict(species=["Cu", "Cu", "Xx", "Cu"]), "no default mass"),
        (dict(box=[10.0, -1.0, 10.0]), "box: cell lengths must be finite and positive"),
        (dict(box=[10.0, 10.0]), "box: expected 3"),
        (dict(masses=[1.0, 1.0, 0.0, 1.0]), "masses"),
        (dict(species=np.array([0, 1, 2, 0]), species_names=("Cu", "Zr")), "indices must lie"),
        (dict(periodic=(True, False)), "periodic: expected 3"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    args = dict(positions=_cube(4), species=["Cu"] * 4, box=10.0)
    args.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        make_structure(**args)


def test_overlapping_atoms_rejected_across_boundary():
    pos = np.array([[0.05, 5.0, 5.0], [9.98, 5.0, 5.0], [5.0, 5.0, 5.0]])
    with pytest.raises(ValueError, match="closer than min_distance"):
        make_structure(pos, ["Cu"] * 3, 10.0)
    # a non-periodic axis does not wrap, so the same pair is far apart
    s = make_structure(pos, ["Cu"] * 3, 10.0, periodic=(False, True, True))
    assert s.n_atoms == 3


def test_replicate_and_wrap():
    s = fcc(3.6, (1, 1, 1))
    big = replicate(s, (2, 3, 1))
    assert big.n_atoms == 24
    assert np.allclose(np.asarray(big.box), [7.2, 10.8, 3.6])
    moved = make_structure(np.asarray(s.positions) - 1.0, s.symbols(), s.box)
    assert np.all(np.asarray(moved.positions) >= 0) and np.all(np.asarray(moved.positions) < 3.6)


def test_neighbor_list_counts_fcc_shells():
    a = 3.6
    s = fcc(a, (4, 4, 4))
    nn = a / np.sqrt(2)
    idx = neighbor_list(s, 1.1 * nn)
    counts = np.sum(idx < s.n_atoms, axis=1)
    assert np.all(counts == 12)  # first shell of fcc
    idx2 = neighbor_list(s, 1.05 * a)
    assert np.all(np.sum(idx2 < s.n_atoms, axis=1) == 18)  # 12 + 6
    with pytest.raises(ValueError, match="replicate the cell"):
        neighbor_list(fcc(a, (1, 1, 1)), 3.0)


def test_neighbor_list_matches_brute_force_random_2d():
    s = random_packing(120, 0.8, 2, {"A": 0.6, "B": 0.4}, min_distance=0.7, seed=3)
    idx = neighbor_list(s, 2.0)
    pos = np.asarray(s.positions)
    L = np.asarray(s.box)
    dr = pos[None] - pos[:, None]
    dr -= L * np.round(dr / L)
    dist = np.linalg.norm(dr, axis=-1)
    for i in range(s.n_atoms):
        ref = set(np.nonzero((dist[i] < 2.0) & (np.arange(s.n_atoms) != i))[0].tolist())
        got = set(idx[i][idx[i] < s.n_atoms].tolist())
        assert ref == got


def test_extxyz_round_trip(tmp_path):
    pytest.importorskip("ase")
    from jaxglass.structure import read, write

    s = graphene(2.46, (3, 2))
    f = tmp_path / "g.extxyz"
    write(str(f), s)
    back = read(str(f))
    assert back.periodic == (True, True, False)
    assert np.allclose(np.asarray(back.positions), np.asarray(s.positions))
    assert np.allclose(np.asarray(back.box), np.asarray(s.box))
    lj = random_packing(40, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0)
    write(str(tmp_path / "lj.extxyz"), lj)
    back = read(str(tmp_path / "lj.extxyz"))
    assert back.dim == 2 and back.species_names == ("A", "B")
    assert np.array_equal(np.asarray(back.species), np.asarray(lj.species))


def test_default_masses_lj_mixture_vs_boron():
    from jaxglass.structure import default_masses

    np.testing.assert_array_equal(default_masses(("A", "B")), [1.0, 1.0])  # Kob-Andersen mixture
    assert default_masses(("B",))[0] == pytest.approx(10.81)  # boron
    assert default_masses(("B", "C"))[0] == pytest.approx(10.81)  # boron carbide
    s = make_structure(np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]]), ["A", "B", "B"], [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(s.masses), [1.0, 1.0, 1.0])
