"""Neutron observables: the neutron-weighted DOS, the Debye-Waller factor, the coherent one-phonon
structure factor (neutrons or X-rays), its powder average over |Q| shells and INS S(|Q|, ω).

Scattering lengths and cross sections: Sears 1992 (:mod:`jaxglass.scattering_data`); conventions in
:mod:`jaxglass.observables`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import scattering_data as _sd
from .._config import require_x64
from ..errors import UserError
from ..structure import Structure
from ..units import HBAR_OVER_AMU_THZ_A2, MBARN_PER_FM2, THZ_TO_K, THZ_TO_MEV
from ._common import (
    N_DIRECTIONS,
    Spectrum,
    bose_occupation,
    check_sigma,
    check_temperature,
    check_vectors,
    default_dw_freq_min,
    default_freq_min,
    gaussian,
    mode_arrays,
    warn_imaginary,
)

#: Unit of the broadened neutron spectra (neutron-weighted DOS, INS S(|Q|, ω)).
NEUTRON_UNIT = "mbarn/meV per atom"
#: Unit of the broadened X-ray spectrum (IXS S(|Q|, ω)).
XRAY_UNIT = "electrons²/meV per atom"


# ---------------------------------------------------------------------------------------------
# Neutron-weighted DOS


def neutron_weights(structure: Structure, cross_sections: Mapping[str, float] | None = None) -> jax.Array:
    """Per-atom neutron weight ``σ_κ M_avg / M_κ`` in barn (σ = σ_coh + σ_inc, Sears 1992).

    The same weighting as euphonic's neutron-weighted PDOS; ``M_avg`` is the mean atomic mass.
    ``cross_sections`` overrides σ (barn) per species name (needed for LJ types ``A``/``B``).
    """
    sig = jnp.asarray(_sd.total_cross_sections(structure.species_names, cross_sections))[structure.species]
    m = jnp.asarray(structure.masses)
    return sig * jnp.mean(m) / m


def neutron_dos(
    structure: Structure,
    modes,
    grid,
    sigma: float,
    *,
    eigenvectors=None,
    cross_sections: Mapping[str, float] | None = None,
) -> Spectrum:
    """Neutron-weighted DOS ``Σ_κ σ_κ M_avg/M_κ · (1/N) Σ_ν |e_κν|² δ(E - E_ν)`` in mbarn/meV per atom.

    ``partial[s]`` is the part of species ``s``; the total integrates (over meV) to
    ``d · mean_κ(σ_κ M_avg/M_κ)`` in mbarn. Modes below ``-1e-3 max|ν|`` (imaginary) are dropped
    with a warning; the zero modes are kept (they sit at 0).
    """
    require_x64("neutron_dos")
    check_sigma(sigma)
    f, v = mode_arrays(modes, eigenvectors)
    check_vectors(structure, v)
    warn_imaginary(f, default_freq_min(f))
    w = neutron_weights(structure, cross_sections) * 1e3  # mbarn
    part = _ndos(structure, f, v, jnp.asarray(grid), sigma, w, len(structure.species_names))
    return Spectrum(
        frequency=jnp.asarray(grid), intensity=part.sum(0), partial=part, kind="ndos",
        unit=NEUTRON_UNIT, species_names=structure.species_names,
    )


@partial(jax.jit, static_argnums=(6,))
def _ndos(structure, f, v, grid, sigma, w, n_species):
    n, d = structure.n_atoms, structure.dim
    amp = jnp.sum(v.reshape(n, d, -1) ** 2, axis=1) * w[:, None] / n  # (N, M)
    onehot = jax.nn.one_hot(structure.species, n_species, dtype=amp.dtype)
    per_species = onehot.T @ amp  # (S, M)
    keep = f > -1e-3 * jnp.max(jnp.abs(f))
    g = gaussian(grid[:, None] - f[None, :], sigma * 1.0) / THZ_TO_MEV  # per meV
    return jnp.einsum("sm,gm->sg", per_species * keep, g)


# ---------------------------------------------------------------------------------------------
# Debye-Waller factor and coherent structure factor


def debye_waller(
    structure: Structure,
    modes,
    temperature,
    *,
    eigenvectors=None,
    freq_min: float | None = None,
) -> jax.Array:
    """Debye-Waller matrices ``W^κ_αβ`` ``(N, d, d)`` in Å² (exponent ``W_κ = Q·W^κ·Q``).

    ``W^κ = ħ/(4M_κ) Σ_ν e_κν e_κνᵀ / ω_ν · coth(hν_ν/2k_BT)`` over modes with ν > ``freq_min``
    (default :func:`default_dw_freq_min`: 1 THz for sheets, 1e-3 max|ν| otherwise).
    """
    require_x64("debye_waller")
    check_temperature(temperature)
    f, v = mode_arrays(modes, eigenvectors)
    check_vectors(structure, v)
    if freq_min is None:
        freq_min = default_dw_freq_min(structure, f)
    return _debye_waller(structure, f, v, temperature, freq_min)


@jax.jit
def _debye_waller(structure, f, v, temperature, freq_min):
    n, d = structure.n_atoms, structure.dim
    keep = f > freq_min
    fs = jnp.where(keep, f, 1.0)
    coth = 1.0 / jnp.tanh(THZ_TO_K * fs / (2.0 * temperature))
    c = jnp.where(keep, coth / fs, 0.0)  # (M,)
    e = v.reshape(n, d, -1)
    w = jnp.einsum("iam,ibm,m->iab", e, e, c)
    return w * HBAR_OVER_AMU_THZ_A2 / (4.0 * jnp.asarray(structure.masses))[:, None, None]


def _scattering_amplitudes(structure, probe, q_abs, lengths, form_factors):
    """Per-species amplitude ``(..., S)``: b (fm) for neutrons, f₀(|Q|) (e) for X-rays."""
    names = structure.species_names
    if probe == "neutron":
        b = jnp.asarray(_sd.coherent_lengths(names, lengths))
        return jnp.broadcast_to(b, q_abs.shape + b.shape)
    if probe == "xray":
        return _sd.form_factors(names, q_abs, form_factors)
    raise UserError(f"probe: expected 'neutron' or 'xray', got {probe!r}")


def one_phonon_structure_factor(
    structure: Structure,
    modes,
    q_vectors,
    *,
    eigenvectors=None,
    probe: str = "neutron",
    temperature=None,
    dw: jax.Array | None = None,
    lengths: Mapping[str, float] | None = None,
    form_factors: Mapping[str, float] | None = None,
    freq_min: float | None = None,
    dw_freq_min: float | None = None,
) -> jax.Array:
    """Mode-resolved coherent one-phonon ``S_ν(Q)`` ``(..., M)`` (no Bose factor).

    Args:
      q_vectors: ``(..., d)`` Cartesian Q in Å⁻¹ (2π included).
      probe: ``"neutron"`` (b, Sears 1992; result in mbarn per atom) or ``"xray"``
        (f₀(|Q|), Waasmaier-Kirfel 1995; result in electrons² per atom).
      temperature: K; with it (or with ``dw``) the Debye-Waller factor is applied, else it is 1.
      dw: precomputed :func:`debye_waller` matrices ``(N, d, d)``.
      lengths / form_factors: per-species overrides (fm / electrons), required for LJ types.
      freq_min: modes with ν ≤ freq_min (THz) get 0 (default 1e-3 max|ν|: zero and imaginary modes).
    """
    require_x64("one_phonon_structure_factor")
    f, v = mode_arrays(modes, eigenvectors)
    check_vectors(structure, v)
    qv = jnp.asarray(q_vectors)
    if qv.shape[-1] != structure.dim:
        raise UserError(f"q_vectors: last axis must be the dimension {structure.dim}, got {qv.shape}")
    if freq_min is None:
        freq_min = default_freq_min(f)
    warn_imaginary(f, freq_min)
    if dw is None and temperature is not None:
        dw = debye_waller(structure, f, temperature, eigenvectors=v, freq_min=dw_freq_min)
    q_abs = jnp.linalg.norm(qv, axis=-1)
    amp = _scattering_amplitudes(structure, probe, q_abs, lengths, form_factors)
    scale = MBARN_PER_FM2 if probe == "neutron" else 1.0
    if dw is None:
        dw = jnp.zeros((structure.n_atoms, structure.dim, structure.dim), f.dtype)
    return _structure_factor(structure, f, v, qv, amp, dw, freq_min) * scale


@jax.jit
def _structure_factor(structure, f, v, qv, amp, dw, freq_min):
    n, d = structure.n_atoms, structure.dim
    shape = qv.shape[:-1]
    q = qv.reshape(-1, d)
    a = amp.reshape(-1, amp.shape[-1])[:, structure.species]  # (Q, N)
    r = jnp.asarray(structure.positions)
    phase = jnp.exp(1j * (q @ r.T))  # (Q, N)
    w = jnp.exp(-jnp.einsum("qa,nab,qb->qn", q, dw, q))  # (Q, N)
    c = a / jnp.sqrt(jnp.asarray(structure.masses))[None, :] * phase * w  # (Q, N)
    coef = (c[:, :, None] * q[:, None, :]).reshape(q.shape[0], n * d)  # (Q, N d)
    amp_mode = coef @ v.astype(coef.dtype)  # (Q, M)
    keep = f > freq_min
    fs = jnp.where(keep, f, 1.0)
    s = jnp.where(keep, jnp.abs(amp_mode) ** 2 * HBAR_OVER_AMU_THZ_A2 / (2.0 * n * fs), 0.0)
    return s.reshape(shape + (f.shape[0],))


# ---------------------------------------------------------------------------------------------
# Powder average over |Q| shells


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class QShells:
    """Reciprocal-lattice vectors grouped in |Q| shells, padded to a fixed number of directions.

    Attributes:
      q: ``(S,)`` shell centres (Å⁻¹).
      vectors: ``(S, K, d)`` Q vectors (padding rows repeat a valid vector).
      mask: ``(S, K)`` True for real vectors.
      width: shell width (Å⁻¹).
    """

    q: jax.Array
    vectors: jax.Array
    mask: jax.Array
    width: float = dataclasses.field(metadata=dict(static=True))


def _fibonacci_directions(k: int, d: int) -> np.ndarray:
    if d == 2:
        t = np.pi * np.arange(k) / k * 2.0
        return np.stack([np.cos(t), np.sin(t)], axis=1)
    i = np.arange(k) + 0.5
    z = 1.0 - 2.0 * i / k
    rho = np.sqrt(1.0 - z**2)
    phi = np.pi * (1.0 + 5**0.5) * i
    return np.stack([rho * np.cos(phi), rho * np.sin(phi), z], axis=1)


def q_shells(
    structure: Structure,
    q,
    *,
    width: float | None = None,
    n_directions: int = N_DIRECTIONS,
) -> QShells:
    """Group the cell's reciprocal-lattice vectors ``2π(h/L_x, k/L_y, l/L_z)`` into |Q| shells.

    Each shell ``[q - width/2, q + width/2)`` keeps at most ``n_directions`` vectors: for each of
    ``n_directions`` Fibonacci-sphere directions (evenly spaced angles in 2D), the closest unused
    vector of the shell. ``width`` defaults to the largest reciprocal spacing ``2π/min(L)``.
    Host-side (numpy); the result feeds the jittable :func:`powder_one_phonon_structure_factor`.

    Raises:
      ValueError if a shell holds no vector (widen ``width`` or use a larger cell), or q ≤ 0.
    """
    qc = np.atleast_1d(np.asarray(q, dtype=np.float64))
    if qc.ndim != 1 or np.any(~np.isfinite(qc)) or np.any(qc <= 0):
        raise UserError(f"q: expected positive |Q| values in Å⁻¹ (2π included), got {qc.tolist()}")
    if n_directions < 1:
        raise UserError(f"n_directions: must be ≥ 1, got {n_directions}")
    box = np.asarray(structure.box, dtype=np.float64)
    d = structure.dim
    dg = 2 * np.pi / box
    if width is None:
        width = float(dg.max())
    if width <= 0:
        raise UserError(f"width: shell width must be positive (Å⁻¹), got {width}")
    qmax = float(qc.max() + width / 2)
    hmax = np.ceil(qmax / dg).astype(int)
    dirs = _fibonacci_directions(n_directions, d)
    vecs = np.zeros((len(qc), n_directions, d))
    mask = np.zeros((len(qc), n_directions), dtype=bool)
    # Enumerate the lattice slab by slab along the first axis (bounded memory for large Q).
    rest = np.stack(np.meshgrid(*[np.arange(-h, h + 1) for h in hmax[1:]], indexing="ij"), -1)
    rest = rest.reshape(-1, d - 1) * dg[1:]
    found: list[list[np.ndarray]] = [[] for _ in qc]
    lo, hi = qc - width / 2, qc + width / 2
    for h0 in range(-hmax[0], hmax[0] + 1):
        g = np.concatenate([np.full((len(rest), 1), h0 * dg[0]), rest], axis=1)
        gn = np.linalg.norm(g, axis=1)
        for s in range(len(qc)):
            sel = (gn >= lo[s]) & (gn < hi[s])
            if sel.any():
                found[s].append(g[sel])
    for s in range(len(qc)):
        if not found[s]:
            raise UserError(
                f"q: the shell |Q| = {qc[s]:.4g} ± {width / 2:.3g} Å⁻¹ holds no reciprocal-lattice vector of "
                f"this cell (spacings {np.round(dg, 4).tolist()} Å⁻¹); widen width= or use a larger cell"
            )
        g = np.concatenate(found[s])
        if len(g) <= n_directions:
            chosen = g
        else:
            unit = g / np.linalg.norm(g, axis=1, keepdims=True)
            cos = dirs @ unit.T  # (K, n)
            used = np.zeros(len(g), dtype=bool)
            idx = []
            for k in range(n_directions):
                c = np.where(used, -np.inf, cos[k])
                j = int(np.argmax(c))
                used[j] = True
                idx.append(j)
            chosen = g[idx]
        vecs[s, : len(chosen)] = chosen
        vecs[s, len(chosen):] = chosen[0]
        mask[s, : len(chosen)] = True
    return QShells(q=jnp.asarray(qc), vectors=jnp.asarray(vecs), mask=jnp.asarray(mask), width=float(width))


def powder_one_phonon_structure_factor(structure: Structure, modes, shells: QShells, **kwargs) -> jax.Array:
    """Shell-averaged ``S_ν(|Q|)`` ``(S, M)``: :func:`one_phonon_structure_factor` averaged per shell."""
    s = one_phonon_structure_factor(structure, modes, shells.vectors, **kwargs)  # (S, K, M)
    m = shells.mask.astype(s.dtype)
    return jnp.einsum("skm,sk->sm", s, m) / m.sum(1)[:, None]


def broaden_sqw(frequencies, s_modes, grid, sigma, temperature):
    """``Σ_ν S_ν [(n_ν+1) G(ν - ν_ν) + n_ν G(ν + ν_ν)]`` per meV: ``(..., G)`` from ``(..., M)``."""
    check_temperature(temperature)
    check_sigma(sigma)
    return _broaden(jnp.asarray(frequencies), s_modes, jnp.asarray(grid), sigma, temperature)


@jax.jit
def _broaden(f, s, grid, sigma, temperature):
    n = bose_occupation(f, temperature)
    g_loss = gaussian(grid[:, None] - f[None, :], sigma)
    g_gain = gaussian(grid[:, None] + f[None, :], sigma)
    loss = jnp.einsum("...m,gm->...g", s * (n + 1.0), g_loss)
    gain = jnp.einsum("...m,gm->...g", s * n, g_gain)
    return (loss + gain) / THZ_TO_MEV


def powder_sqw(
    structure: Structure,
    modes,
    q,
    grid,
    sigma: float,
    temperature: float,
    *,
    probe: str = "neutron",
    eigenvectors=None,
    width: float | None = None,
    n_directions: int = N_DIRECTIONS,
    lengths: Mapping[str, float] | None = None,
    form_factors: Mapping[str, float] | None = None,
    freq_min: float | None = None,
    dw_freq_min: float | None = None,
    debye_waller_factor: bool = True,
) -> Spectrum:
    """Powder-averaged coherent one-phonon S(|Q|, ω) on ``grid`` (THz), Gaussian ``sigma`` (THz).

    ``probe="neutron"`` (INS, mbarn/meV per atom) or ``"xray"`` (IXS, e²/meV per atom). Debye-Waller
    and Bose factors at ``temperature`` (K). See the module docstring for the shell average.
    """
    check_temperature(temperature)
    f, v = mode_arrays(modes, eigenvectors)
    if probe == "xray":
        _sd.check_form_factor_range(np.asarray(q, dtype=np.float64) + (width or 0.0))
    shells = q_shells(structure, q, width=width, n_directions=n_directions)
    if probe == "xray":
        _sd.check_form_factor_range(np.linalg.norm(np.asarray(shells.vectors), axis=-1))
    s = powder_one_phonon_structure_factor(
        structure, f, shells, eigenvectors=v, probe=probe,
        temperature=temperature if debye_waller_factor else None, lengths=lengths,
        form_factors=form_factors, freq_min=freq_min, dw_freq_min=dw_freq_min,
    )
    inten = broaden_sqw(f, s, grid, sigma, temperature)
    unit = NEUTRON_UNIT if probe == "neutron" else XRAY_UNIT
    return Spectrum(
        frequency=jnp.asarray(grid), intensity=inten, q=shells.q, kind="ins" if probe == "neutron" else "ixs",
        unit=unit, species_names=structure.species_names,
    )


def ins_sqw(structure: Structure, modes, q, grid, sigma: float, temperature: float, **kwargs) -> Spectrum:
    """Inelastic neutron S(|Q|, ω): :func:`powder_sqw` with Sears 1992 coherent lengths."""
    return powder_sqw(structure, modes, q, grid, sigma, temperature, probe="neutron", **kwargs)
