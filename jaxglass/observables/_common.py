"""What every observable shares: the :class:`Spectrum` result, mode-array input handling and checks,
the Gaussian line shape, the Bose occupation and the default frequency cut-offs (THz, K)."""

from __future__ import annotations

import dataclasses
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from ..structure import Structure
from ..units import THZ_TO_CM1, THZ_TO_K, THZ_TO_MEV

#: Unit of the PDOS Spectrum for THz modes (``1/<unit> per mode`` for another frequency unit).
PDOS_UNIT = "1/THz per mode"
#: Number of Q directions per |Q| shell of :func:`jaxglass.observables.q_shells` (a fixed set; the
#: converged powder average of :func:`jaxglass.observables.powder_sqw` does not use it).
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
      kind: the observable's name in :data:`jaxglass.observables.REGISTRY` (``"pdos"``, ``"ndos"``,
        ``"ins"``, ``"ixs"``, ``"raman"``), or ``"raman-sg"`` for the Shuker-Gammon fallback.
      unit: unit of ``intensity``.
      powder_error: ``(n_q,)`` estimated standard error of each shell's powder average, as a fraction
        of the shell's maximum (0: every reciprocal-lattice vector of the shell was used), or ``None``.
      n_vectors: ``(n_q,)`` reciprocal-lattice vectors averaged per shell, or ``None``.
      shell_size: ``(n_q,)`` reciprocal-lattice vectors each shell holds, or ``None``.
    """

    frequency: jax.Array
    intensity: jax.Array
    q: jax.Array | None = None
    partial: jax.Array | None = None
    kind: str = dataclasses.field(default="", metadata=dict(static=True))
    unit: str = dataclasses.field(default="", metadata=dict(static=True))
    species_names: tuple[str, ...] = dataclasses.field(default=(), metadata=dict(static=True))
    powder_error: jax.Array | None = None
    n_vectors: jax.Array | None = None
    shell_size: jax.Array | None = None

    @property
    def energy_mev(self) -> jax.Array:
        return self.frequency * THZ_TO_MEV

    @property
    def wavenumber_cm1(self) -> jax.Array:
        return self.frequency * THZ_TO_CM1


# ---------------------------------------------------------------------------------------------
# Input handling
def is_concrete(x) -> bool:
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


def check_vectors(structure: Structure, v) -> None:
    if v is not None and v.shape[0] != structure.n_atoms * structure.dim:
        raise UserError(
            f"eigenvectors: {v.shape[0]} rows do not match the structure's N d = "
            f"{structure.n_atoms} x {structure.dim}"
        )


def check_temperature(temperature) -> None:
    if is_concrete(temperature):
        t = np.asarray(temperature)
        if not np.all(np.isfinite(t)) or np.any(t <= 0):
            raise UserError(
                f"temperature: must be positive (K), got {t.tolist()}; for the T → 0 limit pass a small "
                "value such as 1e-3 K"
            )


def default_freq_min(f):
    """1e-3 of the largest |ν|: separates the numerically zero modes (a tracer under jit)."""
    if not is_concrete(f):
        return 1e-3 * jnp.max(jnp.abs(f))
    return 1e-3 * float(np.max(np.abs(np.asarray(f)))) if np.size(f) else 0.0


def warn_imaginary(f, freq_min: float) -> None:
    if is_concrete(f):
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
    base = default_freq_min(frequencies)
    return jnp.maximum(SHEET_DW_FREQ_MIN, base) if is_sheet(structure) else base


def gaussian(x, sigma):
    return jnp.exp(-0.5 * (x / sigma) ** 2) / (sigma * jnp.sqrt(2.0 * jnp.pi))


def check_sigma(sigma) -> None:
    if is_concrete(sigma) and not float(sigma) > 0:
        raise UserError(f"sigma: broadening must be positive (THz), got {sigma}")


def bose_occupation(frequencies, temperature):
    """Bose-Einstein occupation ``n = 1/(exp(hν/k_BT) - 1)`` for ν in THz, T in K (0 for ν ≤ 0)."""
    check_temperature(temperature)
    f = jnp.asarray(frequencies)
    x = THZ_TO_K * jnp.where(f > 0, f, 1.0) / temperature
    return jnp.where(f > 0, 1.0 / jnp.expm1(x), 0.0)


def pdos_spectrum(structure: Structure, modes, grid, sigma: float, *, eigenvectors=None) -> Spectrum:
    """The phonon DOS (per mode, unit area) and its per-species parts on ``grid``, Gaussian ``sigma``.

    Unlike the scattering observables it needs no physical units: a :class:`jaxglass.phonons.Modes`
    in any frequency unit (THz, or ω for Lennard-Jones) gives the DOS per that unit, on a grid in it.
    """
    from ..modes import dos, species_weights

    unit = "THz"
    if eigenvectors is None and hasattr(modes, "frequencies") and hasattr(modes, "eigenvalues"):
        unit = getattr(modes, "unit", "THz")
        f, v = mode_arrays(modes.frequencies, modes.eigenvectors)
    else:
        f, v = mode_arrays(modes, eigenvectors)
    grid = jnp.asarray(grid)
    return Spectrum(frequency=grid, intensity=dos(f, grid, sigma),
                    partial=dos(f, grid, sigma, weights=species_weights(structure, v)), kind="pdos",
                    unit=f"1/{unit} per mode", species_names=structure.species_names)
