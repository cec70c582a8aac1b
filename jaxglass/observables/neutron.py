"""Neutron observables: the neutron-weighted DOS, the Debye-Waller factor, the coherent one-phonon
structure factor (neutrons or X-rays), its powder average over |Q| shells and INS S(|Q|, ω).

Scattering lengths and cross sections: Sears 1992 (:mod:`jaxglass.scattering_data`); conventions in
:mod:`jaxglass.observables`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .. import scattering_data as _sd
from .._config import require_x64
from ..errors import UserError
from ..structure import Structure
from ..units import HBAR_OVER_AMU_THZ_A2, MBARN_PER_FM2, THZ_TO_K, THZ_TO_MEV
from ..validation import Integral, relative_tolerance, validate
from ._common import (
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
from .powder import (
    MAX_SHELL_VECTORS,
    POWDER_TOL,
    SAMPLE_BATCH,
    QShells,
    ShellMean,
    plan_shells,
    shell_vectors,
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
    coef = _phase_coefficients(q, jnp.asarray(structure.positions), dw,
                               a / jnp.sqrt(jnp.asarray(structure.masses))[None, :])
    if jnp.iscomplexobj(v):
        a2 = jnp.abs(coef @ v) ** 2  # (Q, M)
    else:  # two real products: half the work of one complex one
        a2 = (coef.real @ v) ** 2 + (coef.imag @ v) ** 2
    return _mode_weights(a2, f, freq_min, n).reshape(shape + (f.shape[0],))


def _phase_coefficients(q, r, dw, weight):
    """``(Q, N d)``: ``weight_κ e^{iQ·r_κ} e^{-Q·W^κ·Q} Q`` per Q vector and atom (``weight``
    broadcasts against ``(Q, N)``), the row that projects an eigenvector onto Q."""
    n, d = r.shape
    phase = jnp.exp(1j * (q @ r.T))  # (Q, N)
    w = jnp.exp(-jnp.einsum("qa,nab,qb->qn", q, dw, q))  # (Q, N)
    return ((weight * phase * w)[:, :, None] * q[:, None, :]).reshape(q.shape[0], n * d)


def _mode_weights(a2, f, freq_min, n):
    """``S_ν = ħ |amplitude|² / (2 N ω_ν)`` in the package's units; 0 for modes with ν ≤ freq_min."""
    keep = f > freq_min
    fs = jnp.where(keep, f, 1.0)
    return jnp.where(keep, a2 * HBAR_OVER_AMU_THZ_A2 / (2.0 * n * fs), 0.0)


# ---------------------------------------------------------------------------------------------
# Powder average over |Q| shells


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
    return s @ _broadening_matrix(f, grid, sigma, temperature)


def _broadening_matrix(f, grid, sigma, temperature):
    """``(M, G)``: ``[(n+1) G(ν - ν_m) + n G(ν + ν_m)]`` per meV."""
    n = bose_occupation(f, temperature)[:, None]
    g_loss = gaussian(grid[None, :] - f[:, None], sigma)
    g_gain = gaussian(grid[None, :] + f[:, None], sigma)
    return ((n + 1.0) * g_loss + n * g_gain) / THZ_TO_MEV


_POWDER_CHECKS = {
    "powder_tol": [relative_tolerance, "the standard error of the powder average as a fraction of the "
                   "shell's maximum, e.g. 0.02"],
    "max_vectors": [Integral(1, None), "reciprocal-lattice vectors per shell, e.g. 4096"],
    "n_directions": [None, Integral(1, None), "None (converged average) or a fixed count, e.g. 48"],
}
_PROBE_KIND = {"neutron": "ins", "xray": "ixs"}


def powder_sqw(
    structure: Structure,
    modes,
    q,
    grid,
    sigma: float,
    temperature: float,
    *,
    probe: str = "neutron",
    **kwargs,
) -> Spectrum:
    """Powder-averaged coherent one-phonon S(|Q|, ω) on ``grid`` (THz), Gaussian ``sigma`` (THz).

    ``probe="neutron"`` (INS, mbarn/meV per atom) or ``"xray"`` (IXS, e²/meV per atom). Debye-Waller
    and Bose factors at ``temperature`` (K). The keyword options are those of
    :func:`powder_sqw_probes`, which this calls with ``probes=(probe,)`` (and which checks them).

    Powder average (:mod:`jaxglass.observables.powder`): a shell ``[q - width/2, q + width/2)`` holding
    at most ``max_vectors`` reciprocal-lattice vectors is averaged over all of them (exact for the
    cell, error 0); a larger one over a uniform random sample (``seed``) grown by
    :data:`~jaxglass.observables.powder.SAMPLE_BATCH` vectors until the standard error of the mean
    is at most ``powder_tol`` of the shell's maximum, or ``max_vectors`` are in. ``n_directions``
    (an int) instead averages the fixed set of :func:`q_shells` (at most that many vectors nearest
    Fibonacci directions; its error estimate treats the set as a random sample).

    Returns a :class:`Spectrum` with ``intensity`` ``(n_q, G)`` and, per shell, ``powder_error`` (the
    estimated standard error / shell maximum), ``n_vectors`` (vectors used) and ``shell_size``.
    The shells are averaged on the host, batch by batch (not traceable by ``jit``/``grad``); for
    gradients use :func:`powder_one_phonon_structure_factor` on the vectors of :func:`q_shells`.
    """
    return powder_sqw_probes(structure, modes, q, grid, sigma, temperature, probes=(probe,), **kwargs)[probe]


@validate(_POWDER_CHECKS)
def powder_sqw_probes(
    structure: Structure,
    modes,
    q,
    grid,
    sigma: float,
    temperature: float,
    *,
    probes: Sequence[str] = ("neutron", "xray"),
    eigenvectors=None,
    width: float | None = None,
    powder_tol: float = POWDER_TOL,
    max_vectors: int = MAX_SHELL_VECTORS,
    seed: int = 0,
    n_directions: int | None = None,
    lengths: Mapping[str, float] | None = None,
    form_factors: Mapping[str, float] | None = None,
    freq_min: float | None = None,
    dw_freq_min: float | None = None,
    debye_waller_factor: bool = True,
) -> dict[str, Spectrum]:
    """:func:`powder_sqw` of several probes at once: ``{probe: Spectrum}`` for ``probes`` (a subset
    of ``("neutron", "xray")``), each equal to its own :func:`powder_sqw` call.

    The probes differ only in the per-species amplitude (b or f₀(|Q|)), so each Q vector's partial
    sums per species ``P_sν(Q) = Σ_{κ∈s} e^{iQ·r_κ} e^{-W_κ} (Q·e_κν)/√M_κ`` (the one large matrix
    product) are formed once and combined per probe, ``S_ν(Q) ∝ |Σ_s a_s(Q) P_sν(Q)|²``. Every probe
    walks the same vectors in the same order and stops on its own tolerance, so its average is the
    one its own call gives (to round-off); the batches go on while any probe has not converged.
    """
    check_temperature(temperature)
    check_sigma(sigma)
    probes = tuple(dict.fromkeys(probes))
    for p in probes:
        if p not in _PROBE_KIND:
            raise UserError(f"probe: expected 'neutron' or 'xray', got {p!r}")
    f, v = mode_arrays(modes, eigenvectors)
    check_vectors(structure, v)
    if "xray" in probes:
        _sd.check_form_factor_range(np.asarray(q, dtype=np.float64) + (width or 0.0))
    sv = shell_vectors(structure, q, width=width)
    plans = plan_shells(sv, paired=not jnp.iscomplexobj(v), max_vectors=max_vectors, powder_tol=powder_tol,
                        seed=seed, n_directions=n_directions)
    if "xray" in probes:
        _sd.check_form_factor_range(np.concatenate([np.linalg.norm(p.vectors, axis=-1) for p in plans]))
    if freq_min is None:
        freq_min = default_freq_min(f)
    warn_imaginary(f, freq_min)
    dw = jnp.zeros((structure.n_atoms, structure.dim, structure.dim), f.dtype)
    if debye_waller_factor:
        dw = debye_waller(structure, f, temperature, eigenvectors=v, freq_min=dw_freq_min)
    grid = jnp.asarray(grid)
    bmat = _broadening_matrix(f, grid, sigma, temperature)
    scale = jnp.asarray([MBARN_PER_FM2 if p == "neutron" else 1.0 for p in probes])
    sorted_ = _species_sorted(structure, v, dw)

    def spectra(qv):  # (k, d) -> per-probe, per-vector broadened spectra (P, k, G)
        q_abs = jnp.linalg.norm(qv, axis=-1)
        amp = jnp.stack([_scattering_amplitudes(structure, p, q_abs, lengths, form_factors) for p in probes])
        return _probe_spectra(*sorted_["arrays"], f, qv, amp, freq_min, bmat, scale, sorted_["bounds"])

    means = [_shell_means(spectra, p.vectors, p.n_total, p.tol, len(probes)) for p in plans]
    out = {}
    for i, p in enumerate(probes):
        out[p] = Spectrum(
            frequency=grid, intensity=jnp.asarray(np.stack([m[i].mean for m in means])), q=jnp.asarray(sv.q),
            kind=_PROBE_KIND[p], unit=NEUTRON_UNIT if p == "neutron" else XRAY_UNIT,
            species_names=structure.species_names,
            powder_error=jnp.asarray([m[i].relative_error() for m in means]),
            n_vectors=jnp.asarray([m[i].n * pl.weight for m, pl in zip(means, plans)]),
            shell_size=jnp.asarray(sv.sizes),
        )
    return out


def _species_sorted(structure: Structure, v, dw) -> dict:
    """Positions, 1/√M, Debye-Waller matrices and eigenvector rows with the atoms sorted by species
    (stable), and each species' ``(start, stop)`` atom range (static): the per-species partial sums
    of :func:`_probe_spectra` are then contiguous slices of one matrix product."""
    species = np.asarray(structure.species)
    n, d = structure.n_atoms, structure.dim
    order = np.argsort(species, kind="stable")
    counts = np.bincount(species, minlength=len(structure.species_names))
    stops = np.cumsum(counts)
    bounds = tuple((int(a), int(b)) for a, b in zip(stops - counts, stops))
    r = jnp.asarray(structure.positions)
    inv_sqrt_m = 1.0 / jnp.sqrt(jnp.asarray(structure.masses))
    if not np.array_equal(order, np.arange(n)):
        r, inv_sqrt_m, dw = r[order], inv_sqrt_m[order], dw[order]
        v = v.reshape(n, d, -1)[order].reshape(n * d, -1)
    return {"arrays": (r, inv_sqrt_m, dw, v), "bounds": bounds}


def _shell_means(spectra, vectors: np.ndarray, n_total: int, tol: float | None,
                 n_probes: int) -> list[ShellMean]:
    """Per probe, the mean of ``spectra`` over ``vectors`` (in order, :data:`SAMPLE_BATCH` at a time;
    padded to that size so one compiled shape serves every batch); a probe stops taking batches once
    its relative error is ≤ ``tol`` (``None``: never; ``vectors`` must then be all of them, or a
    fixed set), and the walk stops when every probe has."""
    accs = [ShellMean(n_total) for _ in range(n_probes)]
    open_ = [True] * n_probes
    step = SAMPLE_BATCH * _BATCHES_PER_CALL
    for start in range(0, len(vectors), step):
        chunk = vectors[start:start + step]
        padded = np.concatenate([chunk, np.repeat(chunk[:1], step - len(chunk), axis=0)])
        out = np.asarray(spectra(jnp.asarray(padded)))
        for b in range(0, len(chunk), SAMPLE_BATCH):  # the batches as before, one at a time
            k = min(SAMPLE_BATCH, len(chunk) - b)
            for i, acc in enumerate(accs):
                if open_[i]:
                    acc.add(out[i, b:b + k])
                    open_[i] = not (tol is not None and acc.relative_error() <= tol)
            if not any(open_):
                return accs
    return accs


#: Sampling batches computed per call of :func:`_probe_spectra`: its product then has 2 × 256 rows (the
#: real and imaginary parts of 256 Q vectors), where XLA's CPU matrix product runs 3× faster than with
#: 64 rows (1 thread, 3,000 modes: 16 against 49 GFLOP/s). A sampled shell still stops after the same
#: batch as with one batch per call; at most 3 batches are computed in vain.
_BATCHES_PER_CALL = 4


@partial(jax.jit, static_argnums=(10,))
def _probe_spectra(r, inv_sqrt_m, dw, v, f, qv, amp, freq_min, bmat, scale, bounds):
    """Broadened S(Q, ω) ``(P, k, G)`` per probe and Q vector ``(k, d)``; atoms sorted by species,
    ``bounds`` their ranges, ``amp`` ``(P, k, S)`` the probes' amplitudes, ``scale`` ``(P,)``."""
    n, d = r.shape
    coef = _phase_coefficients(qv, r, dw, inv_sqrt_m[None, :])
    parts = []
    k = qv.shape[0]
    for a, b in bounds:  # per species: (k, M) partial sum, one slice of the product
        c, vs = coef[:, a * d:b * d], v[a * d:b * d]
        if jnp.iscomplexobj(v):
            parts.append(c @ vs)
        else:  # real and imaginary rows in one product (twice the rows: a faster matrix product)
            ri = jnp.concatenate([c.real, c.imag]) @ vs
            parts.append(ri[:k] + 1j * ri[k:])
    part = jnp.stack(parts, axis=1)  # (k, S, M)
    a2 = jnp.abs(jnp.einsum("pks,ksm->pkm", amp.astype(part.dtype), part)) ** 2  # (P, k, M)
    return (_mode_weights(a2, f, freq_min, n) @ bmat) * scale[:, None, None]


def ins_sqw(structure: Structure, modes, q, grid, sigma: float, temperature: float, **kwargs) -> Spectrum:
    """Inelastic neutron S(|Q|, ω): :func:`powder_sqw` with Sears 1992 coherent lengths."""
    return powder_sqw(structure, modes, q, grid, sigma, temperature, probe="neutron", **kwargs)
