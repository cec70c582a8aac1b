"""Local bond-orientational order: ψ6 (2D), Steinhardt q_l (3D), and the crystalline-atom fraction.

Neighbours of atom ``i`` are all atoms within ``r_cut`` (minimum image, any species). Per atom,

* 2D: ``ψ6(i) = (1/N_i) Σ_j exp(6 i θ_ij)`` (Nelson & Halperin, PRB 19, 2457 (1979));
* 3D: ``q_lm(i) = (1/N_i) Σ_j Y_lm(r̂_ij)``, ``q_l(i) = sqrt(4π/(2l+1) Σ_m |q_lm(i)|²)``
  (Steinhardt, Nelson & Ronchetti, PRB 28, 784 (1983)); fcc gives q6 = 0.5745, q4 = 0.1909.

Crystalline atoms follow ten Wolde, Ruiz-Montero & Frenkel (J. Chem. Phys. 104, 9932 (1996)):
a bond ``ij`` is *connected* when the normalised overlap
``Re Σ_m q_lm(i) q_lm(j)* / (|q(i)| |q(j)|)`` exceeds ``threshold`` (0.7), and an atom is crystalline
when it has at least ``min_connections`` connected bonds (3D: 7 of ~12; 2D, where the overlap is
``cos 6(θ6_i - θ6_j)`` of the ψ6 phases: 4 of ~6). Numpy/scipy only (analysis, not differentiated);
the same numbers as freud's ``Hexatic``, ``Steinhardt`` and ``SolidLiquid`` (``tests/test_lj_knobs.py``).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError
from ..space import displacement
from ..structure import Structure

__all__ = ["bond_order", "crystalline_fraction"]


def _bonds(structure: Structure, r_cut: float) -> tuple[np.ndarray, np.ndarray]:
    """Directed neighbour pairs ``(i, j)`` within ``r_cut`` and their minimum-image vectors r_j - r_i."""
    from scipy.spatial import cKDTree

    if not r_cut > 0:
        raise UserError(f"r_cut: must be positive, got {r_cut}")
    box = np.asarray(structure.box, dtype=np.float64)
    if r_cut >= 0.5 * float(box.min()):
        raise UserError(
            f"r_cut: must be below half the smallest box length {0.5 * box.min():.3f}, got {r_cut}"
        )
    pos = np.mod(np.asarray(structure.positions, dtype=np.float64), box)
    pos = np.where(pos >= box, 0.0, pos)
    pairs = cKDTree(pos, boxsize=box).query_pairs(r_cut, output_type="ndarray")
    i = np.concatenate([pairs[:, 0], pairs[:, 1]])
    j = np.concatenate([pairs[:, 1], pairs[:, 0]])
    d = np.asarray(displacement(pos[j] - pos[i], box, (True,) * pos.shape[1]))
    return np.stack([i, j], axis=1), d


def _qlm(structure: Structure, l: int, r_cut: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-atom complex order vectors (N, M) (2D: M = 1, ψ_l; 3D: M = 2l + 1, q_lm) and the bonds."""
    bonds, d = _bonds(structure, r_cut)
    n = structure.n_atoms
    i = bonds[:, 0]
    if structure.dim == 2:
        y = np.exp(1j * l * np.arctan2(d[:, 1], d[:, 0]))[:, None]
    else:
        from scipy.special import sph_harm_y

        r = np.linalg.norm(d, axis=1)
        theta = np.arccos(np.clip(d[:, 2] / r, -1.0, 1.0))
        phi = np.arctan2(d[:, 1], d[:, 0])
        m = np.arange(-l, l + 1)
        y = sph_harm_y(l, m[None, :], theta[:, None], phi[:, None])
    q = np.zeros((n, y.shape[1]), complex)
    np.add.at(q, i, y)
    nb = np.bincount(i, minlength=n)
    q = q / np.maximum(nb, 1)[:, None]
    return q, bonds


def bond_order(structure: Structure, l: int = 6, r_cut: float = 1.35) -> np.ndarray:
    """Per-atom order: 2D ``|ψ_l|`` (``l = 6``: hexatic), 3D Steinhardt ``q_l`` (0 without neighbours)."""
    q, _ = _qlm(structure, l, r_cut)
    if structure.dim == 2:
        return np.abs(q[:, 0])
    return np.sqrt(4.0 * np.pi / (2 * l + 1) * np.sum(np.abs(q) ** 2, axis=1))


def crystalline_fraction(
    structure: Structure,
    r_cut: float = 1.35,
    *,
    l: int = 6,
    threshold: float = 0.7,
    min_connections: int | None = None,
) -> dict:
    """Fraction of crystalline atoms (ten Wolde criterion, module docstring) and the mean order.

    Returns ``fraction`` (crystalline atoms / N), ``mask`` (per atom), ``connections`` (connected
    bonds per atom) and ``mean_order`` (mean of :func:`bond_order`). ``min_connections`` defaults to
    7 (3D) or 4 (2D).
    """
    if min_connections is None:
        min_connections = 4 if structure.dim == 2 else 7
    q, bonds = _qlm(structure, l, r_cut)
    norm = np.linalg.norm(q, axis=1)
    qn = q / np.where(norm > 0, norm, 1.0)[:, None]
    i, j = bonds[:, 0], bonds[:, 1]
    overlap = np.real(np.sum(qn[i] * np.conj(qn[j]), axis=1))
    conn = np.bincount(i, weights=(overlap > threshold).astype(float), minlength=structure.n_atoms)
    mask = conn >= min_connections
    order = np.abs(q[:, 0]) if structure.dim == 2 else np.sqrt(
        4.0 * np.pi / (2 * l + 1) * np.sum(np.abs(q) ** 2, axis=1)
    )
    return {
        "fraction": float(mask.mean()),
        "mask": mask,
        "connections": conn.astype(int),
        "mean_order": float(order.mean()),
    }
