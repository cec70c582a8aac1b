"""Spectroscopic observables from Γ-point modes: INS, IXS S(Q, ω), Raman, neutron-weighted DOS.

Every function takes a :class:`~jaxglass.structure.Structure` and its Γ-point modes, either a
:class:`jaxglass.phonons.Modes` or plain arrays ``frequencies`` ``(M,)`` (THz, negative = imaginary)
and ``eigenvectors`` ``(N d, M)`` (mass-weighted, unit columns), so any eigen-solver can feed them.
Results on a fixed grid come back as a :class:`Spectrum` (fixed shapes: a dataset record can store
them). Grids and broadening widths are ordinary frequencies in THz (the unit of
:mod:`jaxglass.phonons`); every :class:`Spectrum` also carries the grid in meV and cm⁻¹.

Conventions (euphonic's, see its ``calculate_structure_factor`` and ``calculate_debye_waller``):

* coherent one-phonon structure factor per mode ν and scattering vector Q (Å⁻¹, 2π included)::

      S_ν(Q) = 1/(2N) |Σ_κ b_κ/√M_κ (Q·e_κν) exp(iQ·r_κ) exp(-W_κ(Q))|² · ħ/ω_ν

  in mbarn per atom for neutrons (b in fm, Sears 1992) and in electrons² per atom for X-rays
  (b_κ → f_κ(|Q|), Waasmaier-Kirfel 1995); a broadened spectrum is in mbarn/meV (e²/meV) per atom.
* Debye-Waller exponent ``W_κ = Q·W^κ·Q``, ``W^κ_αβ = ħ/(4M_κ) Σ_ν e_κα,ν e_κβ,ν / ω_ν ·
  coth(ħω_ν/2k_BT)`` (Å²; one q-point, Γ of the supercell), summed over modes above ``dw_freq_min``.
* Temperature: ``(n+1)`` on the energy-loss side at ``+ω_ν`` and ``n`` on the gain side at
  ``-ω_ν``, ``n = 1/(exp(hν/k_BT) - 1)``.
* Powder average: Q runs over the reciprocal lattice of the (super)cell, ``2π (h/L_x, k/L_y, l/L_z)``
  (a non-periodic axis uses its box length as the sampling period, i.e. the cell with its vacuum);
  each |Q| shell ``[q - w/2, q + w/2)`` is averaged over at most ``n_directions`` (default
  :data:`N_DIRECTIONS` = 48) vectors, those nearest a Fibonacci set of directions on the sphere
  (evenly spaced angles on the circle in 2D).
* 2D sheets (a 3D structure with a non-periodic axis): flexural modes make ⟨u²⟩ grow with the cell,
  so the Debye-Waller sum skips modes below :data:`SHEET_DW_FREQ_MIN` = 1 THz (4.1 meV) by default;
  bulk cells use 1e-3 of the largest frequency (drops only the zero translational modes).
* Raman (unpolarised powder, Stokes): ``I_ν ∝ (n_ν+1)/ν_ν · (45 a_ν² + 7 γ_ν²)`` with the Raman
  tensor ``R^ν = Σ_κ ∂α/∂r_κ · e_κν/√M_κ`` of a bond-polarizability model (units Å²/√amu, so
  ``I`` in Å⁴/amu/THz, a relative scale); the Shuker-Gammon form ``C(ν) g(ν) (n+1)/ν`` with
  ``C ∝ ν^p`` is the fallback for families without published bond parameters.

Units: lengths Å, masses amu, frequencies THz (ν, 2π divided out), energies meV, temperatures K.
The functions need float64 (``jaxglass.enable_x64()``); they never switch it on themselves.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import scattering_data as _sd
from ._config import require_x64
from .errors import UserError
from .space import displacement, periodic_kdtree
from .structure import Structure
from .units import HBAR_OVER_AMU_THZ_A2, MBARN_PER_FM2, THZ_TO_CM1, THZ_TO_K, THZ_TO_MEV

# ---------------------------------------------------------------------------------------------
# Unit factors (derived from CODATA in jaxglass.units)


#: Default number of Q directions per |Q| shell in the powder average.
N_DIRECTIONS = 48
#: Default low-frequency cut-off (THz) of the Debye-Waller sum for 2D sheets.
SHEET_DW_FREQ_MIN = 1.0


# ---------------------------------------------------------------------------------------------
# Result container


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Spectrum:
    """A spectrum on a fixed frequency grid.

    Attributes:
      frequency: ``(G,)`` grid in THz.
      intensity: ``(G,)``, or ``(n_q, G)`` for S(Q, ω).
      q: ``(n_q,)`` shell centres |Q| in Å⁻¹ (2π included), or ``None``.
      partial: ``(S, G)`` per-species parts summing to ``intensity`` (neutron DOS), or ``None``.
      kind: ``"ins"``, ``"ixs"``, ``"raman"``, ``"raman-sg"``, ``"ndos"`` or ``"pdos"``.
      unit: unit of ``intensity``.
    """

    frequency: jax.Array
    intensity: jax.Array
    q: jax.Array | None = None
    partial: jax.Array | None = None
    kind: str = dataclasses.field(default="", metadata=dict(static=True))
    unit: str = dataclasses.field(default="", metadata=dict(static=True))
    species_names: tuple[str, ...] = dataclasses.field(default=(), metadata=dict(static=True))

    @property
    def energy_mev(self) -> jax.Array:
        return self.frequency * THZ_TO_MEV

    @property
    def wavenumber_cm1(self) -> jax.Array:
        return self.frequency * THZ_TO_CM1


# ---------------------------------------------------------------------------------------------
# Input handling


def _require_x64(where: str) -> None:
    require_x64(where)


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


def mode_arrays(modes, eigenvectors=None, *, need_vectors: bool = True):
    """``(frequencies (M,), eigenvectors (N d, M) | None)`` from a ``Modes`` or plain arrays."""
    if hasattr(modes, "frequencies") and hasattr(modes, "eigenvalues"):
        unit = getattr(modes, "unit", "THz")
        if unit != "THz":
            raise UserError(
                f"modes: frequencies are in {unit!r}, observables need THz; for Lennard-Jones units "
                "convert ω to ν[THz] = ω √(ε/(m σ²)) / (2π) for your ε, σ, m and pass the arrays"
            )
        f, v = modes.frequencies, modes.eigenvectors if eigenvectors is None else eigenvectors
    else:
        f, v = modes, eigenvectors
    f = jnp.asarray(f)
    if f.ndim != 1:
        raise UserError(f"frequencies: expected a 1D array (M,), got shape {f.shape}")
    if need_vectors:
        if v is None:
            raise UserError(
                "eigenvectors: this observable needs the eigenvectors; compute modes with "
                "phonons.modes(potential, structure, eigenvectors=True) or pass eigenvectors="
            )
        v = jnp.asarray(v)
        if v.ndim != 2 or v.shape[1] != f.shape[0]:
            raise UserError(
                f"eigenvectors: expected shape (N d, {f.shape[0]}) with modes as columns, got {v.shape}"
            )
    return f, v


def _check_vectors(structure: Structure, v) -> None:
    if v is not None and v.shape[0] != structure.n_atoms * structure.dim:
        raise UserError(
            f"eigenvectors: {v.shape[0]} rows do not match the structure's N d = "
            f"{structure.n_atoms} x {structure.dim}"
        )


def _check_temperature(temperature) -> None:
    if _is_concrete(temperature):
        t = np.asarray(temperature)
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise UserError(
                f"temperature: must be positive (K), got {t.tolist()}; for the T → 0 limit pass a small "
                "value such as 1e-3 K"
            )


def _default_freq_min(f):
    """1e-3 of the largest |ν|: separates the numerically zero modes (a tracer under jit)."""
    if not _is_concrete(f):
        return 1e-3 * jnp.max(jnp.abs(f))
    return 1e-3 * float(np.max(np.abs(np.asarray(f)))) if np.size(f) else 0.0


def _warn_imaginary(f, freq_min: float) -> None:
    if _is_concrete(f):
        n = int(np.sum(np.asarray(f) < -freq_min))
        if n:
            warnings.warn(
                f"modes: {n} imaginary mode(s) (frequency below -{freq_min:.3g} THz) are left out of the "
                "spectrum; relax the structure first (jaxglass.minimize.minimize, or "
                "`jaxglass spectra --relax`)",
                RuntimeWarning,
                stacklevel=3,
            )


def is_sheet(structure: Structure) -> bool:
    """A 3D structure with at least one non-periodic axis (a 2D sheet or a slab)."""
    return structure.dim == 3 and not all(structure.periodic)


def default_dw_freq_min(structure: Structure, frequencies) -> float:
    """Lowest frequency (THz) kept in the Debye-Waller sum: 1 THz for sheets, else 1e-3 max|ν|."""
    base = _default_freq_min(frequencies)
    return jnp.maximum(SHEET_DW_FREQ_MIN, base) if is_sheet(structure) else base


def _gaussian(x, sigma):
    return jnp.exp(-0.5 * (x / sigma) ** 2) / (sigma * jnp.sqrt(2.0 * jnp.pi))


def _check_sigma(sigma) -> None:
    if _is_concrete(sigma) and not float(sigma) > 0:
        raise UserError(f"sigma: broadening must be positive (THz), got {sigma}")


def bose_occupation(frequencies, temperature):
    """Bose-Einstein occupation ``n = 1/(exp(hν/k_BT) - 1)`` for ν in THz, T in K (0 for ν ≤ 0)."""
    _check_temperature(temperature)
    f = jnp.asarray(frequencies)
    x = THZ_TO_K * jnp.where(f > 0, f, 1.0) / temperature
    return jnp.where(f > 0, 1.0 / jnp.expm1(x), 0.0)


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
    _require_x64("neutron_dos")
    _check_sigma(sigma)
    f, v = mode_arrays(modes, eigenvectors)
    _check_vectors(structure, v)
    _warn_imaginary(f, _default_freq_min(f))
    w = neutron_weights(structure, cross_sections) * 1e3  # mbarn
    part = _ndos(structure, f, v, jnp.asarray(grid), sigma, w, len(structure.species_names))
    return Spectrum(
        frequency=jnp.asarray(grid), intensity=part.sum(0), partial=part, kind="ndos",
        unit="mbarn/meV per atom", species_names=structure.species_names,
    )


@partial(jax.jit, static_argnums=(6,))
def _ndos(structure, f, v, grid, sigma, w, n_species):
    n, d = structure.n_atoms, structure.dim
    amp = jnp.sum(v.reshape(n, d, -1) ** 2, axis=1) * w[:, None] / n  # (N, M)
    onehot = jax.nn.one_hot(structure.species, n_species, dtype=amp.dtype)
    per_species = onehot.T @ amp  # (S, M)
    keep = f > -1e-3 * jnp.max(jnp.abs(f))
    g = _gaussian(grid[:, None] - f[None, :], sigma * 1.0) / THZ_TO_MEV  # per meV
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
    _require_x64("debye_waller")
    _check_temperature(temperature)
    f, v = mode_arrays(modes, eigenvectors)
    _check_vectors(structure, v)
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
    _require_x64("one_phonon_structure_factor")
    f, v = mode_arrays(modes, eigenvectors)
    _check_vectors(structure, v)
    qv = jnp.asarray(q_vectors)
    if qv.shape[-1] != structure.dim:
        raise UserError(f"q_vectors: last axis must be the dimension {structure.dim}, got {qv.shape}")
    if freq_min is None:
        freq_min = _default_freq_min(f)
    _warn_imaginary(f, freq_min)
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
    _check_temperature(temperature)
    _check_sigma(sigma)
    return _broaden(jnp.asarray(frequencies), s_modes, jnp.asarray(grid), sigma, temperature)


@jax.jit
def _broaden(f, s, grid, sigma, temperature):
    n = bose_occupation(f, temperature)
    g_loss = _gaussian(grid[:, None] - f[None, :], sigma)
    g_gain = _gaussian(grid[:, None] + f[None, :], sigma)
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
    _check_temperature(temperature)
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
    unit = "mbarn/meV per atom" if probe == "neutron" else "electrons²/meV per atom"
    return Spectrum(
        frequency=jnp.asarray(grid), intensity=inten, q=shells.q, kind="ins" if probe == "neutron" else "ixs",
        unit=unit, species_names=structure.species_names,
    )


def ins_sqw(structure: Structure, modes, q, grid, sigma: float, temperature: float, **kwargs) -> Spectrum:
    """Inelastic neutron S(|Q|, ω): :func:`powder_sqw` with Sears 1992 coherent lengths."""
    return powder_sqw(structure, modes, q, grid, sigma, temperature, probe="neutron", **kwargs)


def ixs_sqw(structure: Structure, modes, q, grid, sigma: float, temperature: float, **kwargs) -> Spectrum:
    """Inelastic X-ray S(|Q|, ω): :func:`powder_sqw` with Waasmaier-Kirfel f₀(|Q|) (|Q| ≤ 75.4 Å⁻¹)."""
    return powder_sqw(structure, modes, q, grid, sigma, temperature, probe="xray", **kwargs)


# ---------------------------------------------------------------------------------------------
# Raman: bond-polarizability model


@dataclasses.dataclass(frozen=True)
class BondParameters:
    """Linearised bond polarizability of one bond type (Å³ and Å²; lengths in Å).

    ``α_∥(ℓ) = alpha_par + d_alpha_par (ℓ - length0)``, same for ``α_⊥``; bonds are pairs closer
    than ``cutoff``.
    """

    length0: float
    alpha_par: float
    d_alpha_par: float
    alpha_perp: float
    d_alpha_perp: float
    cutoff: float
    reference: str = ""


#: Published bond-polarizability parameters. C-C: Wirtz, Lazzeri, Mauri & Rubio, PRB 71, 241402(R)
#: (2005), as tabulated in ase's ``Linearized`` model; the 1.85 Å bond cut-off lies between
#: the longest C-C bonds of amorphous carbon (≈ 1.7 Å) and the second neighbours (≈ 2.4 Å).
BOND_PARAMETERS: dict[tuple[str, str], BondParameters] = {
    ("C", "C"): BondParameters(1.53, 1.69, 7.43, 0.71, 0.37, 1.85,
                               "Wirtz et al., Phys. Rev. B 71, 241402(R) (2005)"),
}


def _bond_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def raman_model(structure: Structure, parameters: Mapping | None = None) -> str:
    """``"bond-polarizability"`` if every species pair present has parameters, else ``"shuker-gammon"``."""
    table = {**BOND_PARAMETERS, **({_bond_key(*k): v for k, v in parameters.items()} if parameters else {})}
    if structure.dim != 3:
        return "shuker-gammon"
    names = [structure.species_names[i] for i in np.unique(np.asarray(structure.species))]
    pairs = {_bond_key(a, b) for a in names for b in names}
    return "bond-polarizability" if pairs <= set(table) else "shuker-gammon"


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Bonds:
    """Fixed bond list for the polarizability model (host-built, jittable afterwards)."""

    i: jax.Array
    j: jax.Array
    params: jax.Array  # (B, 5): length0, α∥, α∥', α⊥, α⊥'


def find_bonds(structure: Structure, parameters: Mapping | None = None) -> Bonds:
    """All pairs (minimum image) closer than their bond type's cut-off, each counted once."""
    if structure.dim != 3:
        raise UserError("structure: the bond-polarizability model needs 3D positions; use shuker_gammon")
    table = {**BOND_PARAMETERS, **({_bond_key(*k): v for k, v in parameters.items()} if parameters else {})}
    names = structure.species_names
    pos = np.asarray(structure.positions)
    sp = np.asarray(structure.species)
    box = np.asarray(structure.box)
    present = sorted({names[s] for s in np.unique(sp)})
    missing = sorted({_bond_key(a, b) for a in present for b in present} - set(table))
    if missing:
        raise UserError(
            f"structure: no bond-polarizability parameters for {missing}; pass parameters="
            "{('Si', 'C'): BondParameters(...)} or use the Shuker-Gammon form (raman_model)"
        )
    rmax = max(table[_bond_key(a, b)].cutoff for a in present for b in present)
    tree = periodic_kdtree(pos, box, structure.periodic, rmax)
    pairs = tree.query_pairs(rmax, output_type="ndarray")
    ii, jj, pp = [], [], []
    for a, b in pairs:
        key = _bond_key(names[sp[a]], names[sp[b]])
        par = table[key]
        dr = np.asarray(displacement(jnp.asarray(pos[b] - pos[a]), box, structure.periodic))
        if np.linalg.norm(dr) < par.cutoff:
            ii.append(a)
            jj.append(b)
            pp.append([par.length0, par.alpha_par, par.d_alpha_par, par.alpha_perp, par.d_alpha_perp])
    if not ii:
        raise UserError("structure: no bonds found within the bond-polarizability cut-offs")
    return Bonds(i=jnp.asarray(ii), j=jnp.asarray(jj), params=jnp.asarray(pp, dtype=jnp.float64))


def _bond_alpha(dvec, p):
    ell = jnp.linalg.norm(dvec)
    a_par = p[1] + p[2] * (ell - p[0])
    a_perp = p[3] + p[4] * (ell - p[0])
    rr = jnp.outer(dvec, dvec) / ell**2
    eye = jnp.eye(3)
    return (a_par + 2 * a_perp) / 3 * eye + (a_par - a_perp) * (rr - eye / 3)


def polarizability(structure: Structure, bonds: Bonds) -> jax.Array:
    """Bond-polarizability tensor ``α = Σ_bonds α_b`` (3, 3) in Å³; differentiable in positions."""
    pos = structure.positions
    d = displacement(pos[bonds.j] - pos[bonds.i], structure.box, structure.periodic)
    return jax.vmap(_bond_alpha)(d, bonds.params).sum(0)


def raman_tensors(structure: Structure, eigenvectors, bonds: Bonds) -> jax.Array:
    """Raman tensors ``R^ν_ij = Σ_κα ∂α_ij/∂r_κα e_κα,ν/√M_κ`` ``(M, 3, 3)`` in Å²/√amu."""
    return _raman_tensors(structure, jnp.asarray(eigenvectors), bonds)


@jax.jit
def _raman_tensors(structure, v, bonds):
    n = structure.n_atoms
    pos = structure.positions
    d = displacement(pos[bonds.j] - pos[bonds.i], structure.box, structure.periodic)
    dA = jax.vmap(jax.jacfwd(_bond_alpha))(d, bonds.params)  # (B, 3, 3, 3): ∂α_ij/∂d_k
    u = v.reshape(n, 3, -1) / jnp.sqrt(jnp.asarray(structure.masses))[:, None, None]  # (N, 3, M)
    du = u[bonds.j] - u[bonds.i]  # (B, 3, M)
    return jnp.einsum("bijk,bkm->mij", dA, du)


def raman_invariants(tensors) -> tuple[jax.Array, jax.Array]:
    """Isotropic ``a = Tr R / 3`` and anisotropy ``γ²`` of each Raman tensor ``(M, 3, 3)``."""
    r = jnp.asarray(tensors)
    a = jnp.trace(r, axis1=-2, axis2=-1) / 3.0
    xx, yy, zz = r[..., 0, 0], r[..., 1, 1], r[..., 2, 2]
    xy, yz, zx = r[..., 0, 1], r[..., 1, 2], r[..., 2, 0]
    g2 = 0.5 * ((xx - yy) ** 2 + (yy - zz) ** 2 + (zz - xx) ** 2 + 6.0 * (xy**2 + yz**2 + zx**2))
    return a, g2


def raman_intensities(frequencies, tensors, temperature, freq_min: float | None = None) -> jax.Array:
    """Unpolarised powder Stokes intensity per mode ``(n+1)/ν (45a² + 7γ²)`` (Å⁴/amu/THz)."""
    _check_temperature(temperature)
    f = jnp.asarray(frequencies)
    if freq_min is None:
        freq_min = _default_freq_min(f)
    a, g2 = raman_invariants(tensors)
    keep = f > freq_min
    fs = jnp.where(keep, f, 1.0)
    return jnp.where(keep, (bose_occupation(fs, temperature) + 1.0) / fs * (45.0 * a**2 + 7.0 * g2), 0.0)


def raman_spectrum(
    structure: Structure,
    modes,
    grid,
    sigma: float,
    temperature: float,
    *,
    eigenvectors=None,
    parameters: Mapping | None = None,
    bonds: Bonds | None = None,
    coupling_exponent: float = 0.0,
    model: str | None = None,
) -> Spectrum:
    """Raman spectrum on ``grid`` (THz): bond polarizability where parameters exist, else Shuker-Gammon.

    ``model`` forces ``"bond-polarizability"`` or ``"shuker-gammon"`` (default :func:`raman_model`).
    Intensities are relative (Å⁴/amu/THz per THz for the bond model; per THz² for Shuker-Gammon).
    """
    _require_x64("raman_spectrum")
    _check_sigma(sigma)
    _check_temperature(temperature)
    model = model or raman_model(structure, parameters)
    if model == "shuker-gammon":
        f, _ = mode_arrays(modes, eigenvectors, need_vectors=False)
        _warn_imaginary(f, _default_freq_min(f))
        return shuker_gammon(f, grid, sigma, temperature, coupling_exponent=coupling_exponent)
    if model != "bond-polarizability":
        raise UserError(f"model: expected 'bond-polarizability' or 'shuker-gammon', got {model!r}")
    f, v = mode_arrays(modes, eigenvectors)
    _check_vectors(structure, v)
    _warn_imaginary(f, _default_freq_min(f))
    if bonds is None:
        bonds = find_bonds(structure, parameters)
    inten = raman_intensities(f, raman_tensors(structure, v, bonds), temperature)
    g = _gaussian(jnp.asarray(grid)[:, None] - f[None, :], sigma)
    return Spectrum(frequency=jnp.asarray(grid), intensity=g @ inten, kind="raman",
                    unit="Å⁴/amu/THz² (relative)", species_names=structure.species_names)


def shuker_gammon(
    frequencies,
    grid,
    sigma: float,
    temperature: float,
    *,
    coupling_exponent: float = 0.0,
    freq_min: float | None = None,
) -> Spectrum:
    """Shuker-Gammon Raman ``I(ν) = Σ_ν C(ν_ν) (n_ν+1)/ν_ν G(ν - ν_ν) / M`` with ``C ∝ ν^p``.

    R. Shuker & R. W. Gammon, Phys. Rev. Lett. 25, 222 (1970): the light-vibration coupling
    ``C(ν)`` times the DOS ``g(ν)`` times ``(n+1)/ν``. ``p = coupling_exponent`` (default 0, a
    constant coupling). Eigenvalue-only: differentiable through ``phonons.eigvalsh``. Relative units
    (1/THz², the DOS per THz over ν).
    """
    _check_sigma(sigma)
    _check_temperature(temperature)
    f = jnp.asarray(frequencies)
    if freq_min is None:
        freq_min = _default_freq_min(f)
    keep = f > freq_min
    fs = jnp.where(keep, f, 1.0)
    w = jnp.where(keep, fs**coupling_exponent * (bose_occupation(fs, temperature) + 1.0) / fs, 0.0)
    g = _gaussian(jnp.asarray(grid)[:, None] - f[None, :], sigma)
    return Spectrum(frequency=jnp.asarray(grid), intensity=g @ w / f.shape[0], kind="raman-sg",
                    unit="1/THz² (relative)")


# ---------------------------------------------------------------------------------------------
# One entry point for datasets and the CLI


KINDS = ("pdos", "ndos", "ins", "ixs", "raman")


def spectrum(
    kind: str,
    structure: Structure,
    modes,
    grid,
    *,
    sigma: float,
    temperature: float = 300.0,
    q: Sequence[float] | None = None,
    eigenvectors=None,
    **kwargs,
) -> Spectrum:
    """Dispatch to one observable on a fixed grid (fixed output shapes for dataset records).

    ``kind``: ``"pdos"`` (per-mode normalised), ``"ndos"`` (neutron-weighted DOS), ``"ins"``,
    ``"ixs"`` (need ``q``, Å⁻¹) or ``"raman"``.
    """
    if kind == "pdos":
        from .phonons import dos, species_weights

        f, v = mode_arrays(modes, eigenvectors)
        grid = jnp.asarray(grid)
        return Spectrum(frequency=grid, intensity=dos(f, grid, sigma),
                        partial=dos(f, grid, sigma, weights=species_weights(structure, v)), kind="pdos",
                        unit="1/THz per mode", species_names=structure.species_names)
    if kind == "ndos":
        return neutron_dos(structure, modes, grid, sigma, eigenvectors=eigenvectors, **kwargs)
    if kind in ("ins", "ixs"):
        if q is None:
            raise UserError(f"q: the {kind} spectrum needs |Q| values (Å⁻¹, 2π included), e.g. q=[2, 4, 6]")
        fn = ins_sqw if kind == "ins" else ixs_sqw
        return fn(structure, modes, q, grid, sigma, temperature, eigenvectors=eigenvectors, **kwargs)
    if kind == "raman":
        return raman_spectrum(structure, modes, grid, sigma, temperature, eigenvectors=eigenvectors, **kwargs)
    raise UserError(f"kind: expected one of {KINDS}, got {kind!r}")


__all__ = [
    "BOND_PARAMETERS", "BondParameters", "Bonds", "KINDS", "N_DIRECTIONS",
    "QShells", "SHEET_DW_FREQ_MIN", "Spectrum", "bose_occupation", "broaden_sqw", "debye_waller",
    "default_dw_freq_min", "find_bonds", "ins_sqw", "ixs_sqw", "mode_arrays", "neutron_dos",
    "neutron_weights", "polarizability", "powder_sqw", "powder_one_phonon_structure_factor", "q_shells",
    "raman_intensities", "raman_invariants", "raman_model", "raman_spectrum", "raman_tensors",
    "shuker_gammon", "spectrum", "one_phonon_structure_factor",
]

