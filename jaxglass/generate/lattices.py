"""Crystalline references and random starting configurations (host-side, numpy)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import UserError
from ..space import displacement
from ..structure import Structure, make_structure
from ..validation import Integral, positive, validate


def _tile(basis: np.ndarray, cell: np.ndarray, reps: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    d = len(cell)
    grids = np.meshgrid(*[np.arange(r) for r in reps], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1)
    frac = (basis[None, :, :] + shifts[:, None, :]).reshape(-1, d)
    return frac * cell, cell * np.asarray(reps)


def fcc(a: float, reps: Sequence[int], species: str = "Cu") -> Structure:
    """Face-centred cubic crystal: ``reps`` conventional 4-atom cubes of side ``a``."""
    basis = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    pos, box = _tile(basis, np.full(3, float(a)), reps)
    return make_structure(pos, [species] * len(pos), box)


def zincblende(a: float, reps: Sequence[int], species: tuple[str, str] = ("Si", "C")) -> Structure:
    """Zincblende (3C-SiC) or diamond (equal species) crystal, conventional 8-atom cubes."""
    fcc_b = np.array([[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    basis = np.concatenate([fcc_b, fcc_b + 0.25])
    pos, box = _tile(basis, np.full(3, float(a)), reps)
    sp = np.array([species[0]] * 4 + [species[1]] * 4)
    names = tuple(dict.fromkeys(species))
    return make_structure(pos, np.tile(sp, len(pos) // 8), box, species_names=names)


def graphene(a: float, reps: Sequence[int], vacuum: float = 20.0, species: str = "C") -> Structure:
    """Graphene sheet in a rectangular 4-atom cell (a√3 × ... ) with ``reps = (nx, ny)``.

    The sheet lies in the xy plane at z = vacuum/2; z is non-periodic. ``a`` is the lattice
    constant (C-C bond a/√3).
    """
    bond = a / np.sqrt(3.0)
    cell = np.array([a, 3.0 * bond])
    basis = np.array([[0.0, 0.0], [0.0, bond], [a / 2, 1.5 * bond], [a / 2, 2.5 * bond]]) / cell
    pos2, box2 = _tile(basis, cell, reps)
    pos = np.concatenate([pos2, np.full((len(pos2), 1), vacuum / 2)], axis=1)
    box = np.array([box2[0], box2[1], vacuum])
    return make_structure(pos, [species] * len(pos), box, periodic=(True, True, False))


def triangular(a: float, reps: Sequence[int], species: str = "A") -> Structure:
    """2D triangular lattice in a rectangular 2-atom cell (a × a√3)."""
    cell = np.array([a, a * np.sqrt(3.0)])
    basis = np.array([[0.0, 0.0], [0.5, 0.5]])
    pos, box = _tile(basis, cell, reps)
    return make_structure(pos, [species] * len(pos), box)


def square(a: float, reps: Sequence[int], species: str = "A") -> Structure:
    """2D square lattice."""
    pos, box = _tile(np.zeros((1, 2)), np.full(2, float(a)), reps)
    return make_structure(pos, [species] * len(pos), box)


@validate({
    "n": [Integral(1, 10**7), "the number of particles, e.g. 250"],
    "density": [positive, "the number density (particles per length unit^dim), e.g. 1.2"],
    "seed": [Integral(0, None), "a non-negative integer seed, e.g. 0"],
})
def random_packing(
    n: int,
    density: float,
    dim: int,
    species_fractions: dict[str, float],
    *,
    min_distance: float,
    seed: int = 0,
    max_tries: int = 2000,
) -> Structure:
    """Random sequential addition of ``n`` points with no pair closer than ``min_distance``.

    A starting configuration for quenches (its minimised state is an infinitely fast quench).
    Species are assigned at random in the given fractions (rounded to whole atoms).
    """
    if dim not in (2, 3):
        raise UserError(f"dim: must be 2 or 3, got {dim}")
    if density <= 0:
        raise UserError(f"density: must be positive, got {density}")
    rng = np.random.default_rng(seed)
    L = (n / density) ** (1.0 / dim)
    names = list(species_fractions)
    frac = np.array([species_fractions[s] for s in names], dtype=float)
    if np.any(frac < 0) or not np.isclose(frac.sum(), 1.0):
        raise UserError(f"species_fractions: must be non-negative and sum to 1, got {species_fractions}")
    counts = np.floor(frac * n).astype(int)
    counts[np.argmax(frac)] += n - counts.sum()
    species = np.repeat(np.arange(len(names)), counts)
    rng.shuffle(species)
    # cell grid for fast overlap checks
    nc = max(1, int(L // min_distance))
    cell_size = L / nc
    grid: dict[tuple, list[int]] = {}
    pos = np.zeros((n, dim))
    offsets = np.stack(np.meshgrid(*[[-1, 0, 1]] * dim, indexing="ij"), -1).reshape(-1, dim)
    for i in range(n):
        for _ in range(max_tries):
            p = rng.random(dim) * L
            c = np.floor(p / cell_size).astype(int) % nc
            ok = True
            for off in offsets:
                for j in grid.get(tuple((c + off) % nc), ()):
                    dr = pos[j] - p
                    dr = displacement(dr, L, (True,) * dim)
                    if dr @ dr < min_distance**2:
                        ok = False
                        break
                if not ok:
                    break
            if ok:
                pos[i] = p
                grid.setdefault(tuple(c), []).append(i)
                break
        else:
            raise UserError(
                f"min_distance: could not place atom {i} of {n} after {max_tries} tries; lower "
                "min_distance or density"
            )
    return make_structure(pos, species, L, species_names=tuple(names), min_distance=None)
