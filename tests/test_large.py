"""Large glasses by tiling: replica grids, relaxation, determinism."""

import numpy as np
import pytest

from jaxglass import phonons
from jaxglass.generate import Generated, random_packing
from jaxglass.generate.large import large_glass, replica_grid
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen


def test_replica_grid():
    assert replica_grid(100, 1000, (True, True, True)) == (2, 2, 3)  # 1200 >= 1000, trimmed from 2700
    assert replica_grid(100, 100, (True, True, True)) == (1, 1, 1)
    cases = [(800, 100_000, (True, True, False)), (864, 1_000_000, (True,) * 3), (256, 10_000, (True,) * 2)]
    for nb, n, per in cases:
        reps = np.array(replica_grid(nb, n, per))
        assert nb * reps.prod() >= n  # the target is met ...
        for a in np.flatnonzero(per):  # ... and no axis can lose a replica without missing it
            fewer = reps.copy()
            fewer[a] -= 1
            assert nb * fewer.prod() < n
        assert reps[list(per)].max() - reps[list(per)].min() <= 1  # near isotropic
        assert all(r == 1 for r, p in zip(reps, per) if not p)
    with pytest.raises(ValueError, match="periodic"):
        replica_grid(10, 100, (False, False))


@pytest.fixture(scope="module")
def base():
    pot = kob_andersen()
    s = random_packing(64, 1.2, 2, {"A": 0.65, "B": 0.35}, min_distance=0.7, seed=0)
    s = minimize(pot, s, fmax=1e-6).structure
    return Generated(structure=s, potential=pot, knob=1.0, knob_values={}, info={"fmax_tol": 1e-6})


def test_large_glass_tiles_rattles_and_relaxes(base):
    g = large_glass("lj2d", 250, base=base, seed=3, fmax=1e-6)
    s = g.structure
    assert s.n_atoms == 256 and g.info["reps"] == [2, 2]
    assert g.info["converged"] and g.info["fmax"] <= 1e-6
    # the replicas are decorrelated: positions differ from the exact tiling by more than round-off
    tiled = large_glass("lj2d", 250, base=base, relax=False).structure
    assert np.abs(np.asarray(s.positions) - np.asarray(tiled.positions)).max() > 1e-3
    assert phonons.modes(g.potential, s, eigenvectors=False).n_imaginary() == 0
    # deterministic in the seed
    again = large_glass("lj2d", 250, base=base, seed=3, fmax=1e-6).structure
    np.testing.assert_array_equal(np.asarray(again.positions), np.asarray(s.positions))


def test_tiled_glass_is_periodic_approximant(base):
    """Without relaxation the tiled glass is at a minimum and its Γ modes are the base glass's modes
    at the q-points of the replica grid (Γ included): every base frequency appears in the big cell."""
    g = large_glass("lj2d", 250, base=base, relax=False)
    big = np.sort(np.asarray(phonons.frequencies(g.potential, g.structure)))
    small = np.asarray(phonons.frequencies(base.potential, base.structure))
    for f in small[small > 0.1]:
        assert np.min(np.abs(big - f)) < 1e-6


def test_structure_arrays_round_trip(base, tmp_path):
    from jaxglass.structure import from_arrays, to_arrays

    s = base.structure
    np.savez(tmp_path / "s.npz", **to_arrays(s))
    t = from_arrays(np.load(tmp_path / "s.npz"))
    for f in ("positions", "species", "box", "masses"):
        np.testing.assert_array_equal(np.asarray(getattr(t, f)), np.asarray(getattr(s, f)))
    assert t.species_names == s.species_names and t.periodic == s.periodic
