"""The best pair kernel for Tr D of a many-body potential (EAM, Tersoff, Vashishta), fitted by least squares.

For a pair potential the trace of the dynamical matrix is a pair sum with a known kernel,
``Tr D = Σ_i (1/m_i) Σ_{j≠i} k_{s_i s_j}(r_ij)`` (:mod:`jaxglass.sumrules`). For a many-body potential it
is not: the diagonal block of atom i collects, besides pair-like terms, the embedding curvature of EAM,
``F''(ρ_i) |Σ_j f'(r_ij) r̂_ij|²`` and ``Σ_j F''(ρ_j) f'(r_ij)²`` (M. S. Daw and M. I. Baskes, Phys. Rev. B
29, 6443 (1984)), and the angular terms of three-body potentials (J. Tersoff, Phys. Rev. B 37, 6991 (1988);
P. Vashishta, R. K. Kalia, A. Nakano and J. P. Rino, J. Appl. Phys. 101, 103515 (2007)). The question is
how much of Tr D a *pair* kernel can still carry, i.e. how far ⟨ν²⟩ is linear in the partial g_αβ(r).

The per-atom traces ``t_i = Σ_a H_{ia,ia} / m_i`` (:func:`atom_traces`, from the autodiff Hessian) are an
exact local decomposition, ``Σ_i t_i = Tr D = Σ_n λ_n``, for any potential. The best pair kernel
``K_αβ(r) = Σ_k c_αβk b_k(r)`` (ordered pair: atom of species α, neighbour of species β) minimises
``Σ_i (t_i − (1/m_i) Σ_j K_{s_i s_j}(r_ij))²`` over the atoms of the training structures
(:func:`fit_pair_kernel`: one linear least-squares problem, N equations per structure, so a single
structure already determines it); for a pair potential whose kernel lies in the basis it returns that
kernel exactly. The default basis (:class:`GaussianBasis`) writes ``h(r) = K(r) S_d(r)`` as a sum of
Gaussians, so the kernel acting on Gaussian-smoothed g(r) (the inverse heat kernel of
:func:`jaxglass.sumrules.moment_kernel`) is again a sum of Gaussians, narrower by the smoothing width:
exact, no series (:func:`fitted_moment_kernel`). Checked in ``tests/test_kernel_fit.py``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import UserError
from .hessian import hessian
from .neighbors import pair_list
from .potentials.base import Potential
from .space import displacement
from .structure import Structure
from .sumrules import Composition, trapezoid_weights


def _shell(r: np.ndarray, dim: int) -> np.ndarray:
    return 4.0 * np.pi * r * r if dim == 3 else 2.0 * np.pi * r


class GaussianBasis(NamedTuple):
    """Kernel basis ``b_k(r) = N(r; μ_k, w) / S_d(r)`` (``N`` the unit-area Gaussian, ``S_d`` = 4πr² or
    2πr for ``dim`` = 3 or 2, the dimension of the g(r) normalisation), cut at ``r_cut`` =
    ``μ_max + 8 w`` (relative truncation e^-32). Lengths in Å (σ for LJ units)."""

    centres: np.ndarray
    width: float
    dim: int

    @property
    def r_cut(self) -> float:
        return float(np.max(self.centres) + 8.0 * self.width)

    def values(self, r, smoothing: float = 0.0) -> np.ndarray:
        """``(B, R)`` basis values at ``r``; ``smoothing = σ > 0``: the basis of the kernel acting on
        g(r) smoothed by Gaussians of width σ (``h = b S_d`` deconvolved: width ``sqrt(w² − σ²)``),
        multiplied back by ``1/S_d`` so that :func:`fitted_moment_kernel` treats both alike."""
        r = np.asarray(r, np.float64)
        s2 = self.width**2 - float(smoothing) ** 2
        if s2 <= 0:
            raise UserError(f"smoothing: the g(r) smoothing {smoothing} must be below the basis width "
                            f"{self.width}; use a wider basis (gaussian_basis(..., width=))")
        z = (r[None, :] - np.asarray(self.centres)[:, None]) ** 2 / (2.0 * s2)
        g = np.exp(-z) / np.sqrt(2.0 * np.pi * s2)
        ok = (r > 0) & (r < self.r_cut)
        return np.where(ok[None, :], g / np.where(r > 0, _shell(r, self.dim), 1.0)[None, :], 0.0)


def gaussian_basis(r_min: float, r_max: float, n: int, dim: int = 3,
                   width: float | None = None) -> GaussianBasis:
    """``n`` Gaussians centred evenly on ``[r_min, r_max]``, width = their spacing unless given."""
    if not (0 < r_min < r_max) or int(n) < 2 or dim not in (2, 3):
        raise UserError(f"r_min, r_max, n, dim: need 0 < r_min < r_max, n >= 2 and dim 2 or 3, got "
                        f"{r_min}, {r_max}, {n}, {dim}")
    c = np.linspace(float(r_min), float(r_max), int(n))
    w = float(c[1] - c[0]) if width is None else float(width)
    if not w > 0:
        raise UserError(f"width: expected a width > 0, got {width}")
    return GaussianBasis(c, w, int(dim))


def atom_traces(potential: Potential, structure: Structure, nbrs=None) -> np.ndarray:
    """Per-atom traces ``t_i = Σ_a H_{ia,ia} / m_i`` of the Γ-point dynamical matrix, ``(N,)`` in
    eV/Å²/amu (LJ units), for any potential; ``Σ t_i = Tr D = Σ_n λ_n``. From the full autodiff Hessian
    (:func:`jaxglass.hessian.hessian`; O((N d)²) memory)."""
    H = np.asarray(hessian(potential, structure, nbrs))
    n, d = structure.positions.shape
    return np.diag(H).reshape(n, d).sum(1) / np.asarray(structure.masses, np.float64)


def pair_design(potential: Potential, structure: Structure, basis) -> np.ndarray:
    """``(N, S, B)``: ``A[i, β, k] = (1/m_i) Σ_{j≠i, s_j = β} b_k(r_ij)`` (minimum image, pairs within
    ``basis.r_cut``; ``S`` species in ``potential.species`` order). ``basis``: a :class:`GaussianBasis` or
    any object with ``r_cut`` and ``values(r) -> (B, R)``. The predicted trace of atom i is
    ``Σ_βk A[i, β, k] c[s_i, β, k]``."""
    sp = np.asarray(potential.species_map(structure))[np.asarray(structure.species)]
    ns, n = len(potential.species), structure.n_atoms
    i, j = pair_list(structure, float(basis.r_cut))
    pos = np.asarray(structure.positions, np.float64)
    dr = displacement(pos[j] - pos[i], np.asarray(structure.box, np.float64), structure.periodic)
    v = np.asarray(basis.values(np.linalg.norm(dr, axis=1))).T  # (P, B)
    m = np.asarray(structure.masses, np.float64)
    A = np.zeros((n, ns, v.shape[1]))
    np.add.at(A, (i, sp[j]), v / m[i, None])
    np.add.at(A, (j, sp[i]), v / m[j, None])
    return A


def _rows(potential: Potential, structure: Structure, A: np.ndarray) -> np.ndarray:
    """The design ``(N, S·S·B)`` over the ordered-pair coefficients (only atom i's own species block)."""
    sp = np.asarray(potential.species_map(structure))[np.asarray(structure.species)]
    ns = len(potential.species)
    X = np.zeros((A.shape[0], ns, ns * A.shape[2]))
    X[np.arange(A.shape[0]), sp] = A.reshape(A.shape[0], -1)
    return X.reshape(A.shape[0], -1)


class PairKernelFit(NamedTuple):
    """A fitted pair kernel: ``coef`` ``(S, S, B)`` (ordered species pair, ``species`` order of the
    potential) on ``basis``; ``freq_factor`` of the potential (ν = f √λ); ``l2`` the ridge penalty."""

    coef: np.ndarray
    basis: object
    species: tuple[str, ...]
    freq_factor: float
    l2: float


def fit_pair_kernel(potential: Potential, structures, basis, traces=None, l2: float = 0.0,
                    designs=None) -> PairKernelFit:
    """Least-squares pair kernel for the per-atom traces of ``structures`` (see the module docstring).

    ``traces``: per structure, the ``(N,)`` per-atom traces (computed by :func:`atom_traces` if omitted).
    ``l2`` ≥ 0: ridge penalty on the coefficients relative to the mean diagonal of the normal matrix
    (0: minimum-norm least squares; unscaled, so basis functions that few pairs reach stay small
    instead of extrapolating). ``designs``: the structures' :func:`pair_design` arrays, if already
    computed (e.g. for cross-validation). Species pairs that never occur get zero coefficients.
    """
    structures = list(structures)
    if not structures:
        raise UserError("structures: give at least one structure to fit the kernel on")
    if traces is None:
        traces = [atom_traces(potential, s) for s in structures]
    if len(traces) != len(structures) or any(len(t) != s.n_atoms for t, s in zip(traces, structures)):
        raise UserError("traces: expected one (N,) array of per-atom traces per structure")
    if not (np.isfinite(l2) and l2 >= 0):
        raise UserError(f"l2: expected a finite penalty >= 0, got {l2}")
    if designs is None:
        designs = [pair_design(potential, s, basis) for s in structures]
    X = np.concatenate([_rows(potential, s, A) for s, A in zip(structures, designs)])
    y = np.concatenate([np.asarray(t, np.float64) for t in traces])
    used = np.any(X != 0, axis=0)
    Xu = X[:, used]
    if l2 > 0:
        G = Xu.T @ Xu
        c = np.linalg.solve(G + l2 * np.trace(G) / G.shape[0] * np.eye(G.shape[0]), Xu.T @ y)
    else:
        c = np.linalg.lstsq(Xu, y, rcond=None)[0]
    coef = np.zeros(X.shape[1])
    coef[used] = c
    ns = len(potential.species)
    return PairKernelFit(coef.reshape(ns, ns, -1), basis, tuple(potential.species),
                         float(potential.freq_factor), float(l2))


def predict_atom_traces(potential: Potential, fit: PairKernelFit, structure: Structure,
                        design=None) -> np.ndarray:
    """``(N,)`` per-atom traces of the fitted kernel (eV/Å²/amu); their sum estimates Tr D.
    ``design``: the structure's :func:`pair_design` on ``fit.basis``, if already computed."""
    A = pair_design(potential, structure, fit.basis) if design is None else design
    return _rows(potential, structure, A) @ fit.coef.ravel()


def kernel_values(fit: PairKernelFit, r) -> np.ndarray:
    """The fitted kernel ``K_αβ(r)`` ``(S, S, R)`` in eV/Å² (ordered pairs, ``fit.species`` order)."""
    return np.einsum("abk,kr->abr", fit.coef, np.asarray(fit.basis.values(r)))


def fitted_moment_kernel(fit: PairKernelFit, r, comp: Composition, weights=None, r_sigma: float = 0.0,
                         dof_dim: int | None = None) -> np.ndarray:
    """ν²-moment weights of the fitted kernel on the g(r) grid ``r``, ``(S, S, R)`` in ``comp.species``
    order: ``f² c_α ρ_β K_αβ(r) S_d(r) w_r / (d m_α)``, the analogue of
    :func:`jaxglass.sumrules.moment_kernel` (``Σ M g_partial`` ≈ ⟨ν²⟩, exactly what the fitted kernel
    predicts). ``r_sigma > 0``: for g(r) smoothed by Gaussians of that width (the basis must support
    ``values(r, smoothing)``, as :class:`GaussianBasis` does). ``dof_dim``: degrees of freedom per atom
    ``d`` in ``Tr D / (d N)`` (default ``comp.dim``; 3 for a monolayer in 3D, whose g(r) is 2D).
    """
    r = np.asarray(r, np.float64)
    w = trapezoid_weights(r) if weights is None else np.asarray(weights, np.float64)
    if w.shape != r.shape:
        raise UserError(f"weights: expected shape {r.shape} (one per grid point), got {w.shape}")
    if not (r_sigma >= 0 and np.isfinite(r_sigma)):
        raise UserError(f"r_sigma: expected a finite width >= 0, got {r_sigma}")
    missing = [s for s in comp.species if s not in fit.species]
    if missing:
        raise UserError(f"comp: species {missing} are not in the fitted kernel's {fit.species}")
    idx = np.asarray([fit.species.index(s) for s in comp.species])
    b = np.asarray(fit.basis.values(r, r_sigma) if r_sigma > 0 else fit.basis.values(r))
    h = np.einsum("abk,kr->abr", fit.coef[idx[:, None], idx[None, :]], b) * _shell(r, comp.dim)
    d = comp.dim if dof_dim is None else int(dof_dim)
    pre = comp.fractions[:, None] * (comp.density * comp.fractions)[None, :] / (d * comp.masses[:, None])
    return fit.freq_factor**2 * pre[..., None] * h * w
