"""Raman: the bond-polarizability model (Raman tensors, unpolarised powder Stokes intensities) and
the Shuker-Gammon form for families without published bond parameters."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .._config import require_x64
from ..errors import UserError
from ..space import displacement, periodic_kdtree
from ..structure import Structure
from ._common import (
    Spectrum,
    bose_occupation,
    check_sigma,
    check_temperature,
    check_vectors,
    default_freq_min,
    gaussian,
    mode_arrays,
    warn_imaginary,
)

#: Unit of the bond-polarizability Raman spectrum (relative).
RAMAN_UNIT = "Å⁴/amu/THz² (relative)"
#: Unit of the Shuker-Gammon Raman spectrum (relative).
SHUKER_GAMMON_UNIT = "1/THz² (relative)"


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
    check_temperature(temperature)
    f = jnp.asarray(frequencies)
    if freq_min is None:
        freq_min = default_freq_min(f)
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
    require_x64("raman_spectrum")
    check_sigma(sigma)
    check_temperature(temperature)
    model = model or raman_model(structure, parameters)
    if model == "shuker-gammon":
        f, _ = mode_arrays(modes, eigenvectors, need_vectors=False)
        warn_imaginary(f, default_freq_min(f))
        return shuker_gammon(f, grid, sigma, temperature, coupling_exponent=coupling_exponent)
    if model != "bond-polarizability":
        raise UserError(f"model: expected 'bond-polarizability' or 'shuker-gammon', got {model!r}")
    f, v = mode_arrays(modes, eigenvectors)
    check_vectors(structure, v)
    warn_imaginary(f, default_freq_min(f))
    if bonds is None:
        bonds = find_bonds(structure, parameters)
    inten = raman_intensities(f, raman_tensors(structure, v, bonds), temperature)
    g = gaussian(jnp.asarray(grid)[:, None] - f[None, :], sigma)
    return Spectrum(frequency=jnp.asarray(grid), intensity=g @ inten, kind="raman",
                    unit=RAMAN_UNIT, species_names=structure.species_names)


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
    check_sigma(sigma)
    check_temperature(temperature)
    f = jnp.asarray(frequencies)
    if freq_min is None:
        freq_min = default_freq_min(f)
    keep = f > freq_min
    fs = jnp.where(keep, f, 1.0)
    w = jnp.where(keep, fs**coupling_exponent * (bose_occupation(fs, temperature) + 1.0) / fs, 0.0)
    g = gaussian(jnp.asarray(grid)[:, None] - f[None, :], sigma)
    return Spectrum(frequency=jnp.asarray(grid), intensity=g @ w / f.shape[0], kind="raman-sg",
                    unit=SHUKER_GAMMON_UNIT)
