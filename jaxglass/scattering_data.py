"""Scattering data for the spectroscopic observables: neutron lengths/cross sections, X-ray f₀(s).

Neutrons
    V. F. Sears, "Neutron scattering lengths and cross sections", Neutron News 3(3), 26-37 (1992).
    ``SEARS_1992[el] = (b_coh [fm], σ_coh [barn], σ_inc [barn])``, natural isotope mixture,
    bound-atom values (the ones used for phonon scattering).

X-rays
    D. Waasmaier & A. Kirfel, "New analytical scattering-factor functions for free atoms and ions",
    Acta Cryst. A51, 416-431 (1995), Table 1 (neutral atoms).
    ``f₀(s) = Σ_{i=1..5} a_i exp(-b_i s²) + c`` with ``s = sin θ / λ = Q / (4π)`` in Å⁻¹ (Q with the
    2π included); the fit is valid for ``0 ≤ s ≤ 6 Å⁻¹``. ``WAASMAIER_KIRFEL_1995[el] = (a, b, c)``.

Lennard-Jones types ``A``/``B`` have no physical scattering data: every look-up raises a
``ValueError`` naming the fix (pass lengths / cross sections / form factors explicitly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .errors import UserError

# Sears 1992: (coherent scattering length b_coh in fm, σ_coh in barn, σ_inc in barn).
SEARS_1992: dict[str, tuple[float, float, float]] = {
    "H": (-3.7390, 1.7568, 80.26),
    "B": (5.30, 3.54, 1.70),
    "C": (6.6460, 5.551, 0.001),
    "N": (9.36, 11.01, 0.50),
    "O": (5.803, 4.232, 0.0008),
    "Al": (3.449, 1.495, 0.0082),
    "Si": (4.1491, 2.163, 0.004),
    "Ti": (-3.438, 1.485, 2.87),
    "Fe": (9.45, 11.22, 0.40),
    "Co": (2.49, 0.779, 4.8),
    "Ni": (10.3, 13.3, 5.2),
    "Cu": (7.718, 7.485, 0.55),
    "Ge": (8.185, 8.42, 0.18),
    "Zr": (7.16, 6.44, 0.02),
}

# Waasmaier & Kirfel 1995, Table 1, neutral atoms: (a1..a5, b1..b5 [Å²], c).
WAASMAIER_KIRFEL_1995: dict[str, tuple[tuple[float, ...], tuple[float, ...], float]] = {
    "H": ((0.413048, 0.294953, 0.187491, 0.080701, 0.023736),
          (15.569946, 32.398468, 5.711404, 61.889874, 1.334118), 0.000049),
    "B": ((2.085185, 1.064580, 1.062788, 0.140515, 0.641784),
          (23.494068, 1.137894, 61.238976, 0.114886, 0.399036), 0.003823),
    "C": ((2.657506, 1.078079, 1.490909, -4.241070, 0.713791),
          (14.780758, 0.776775, 42.086842, -0.000294, 0.239535), 4.297983),
    "N": ((11.893780, 3.277479, 1.858092, 0.858927, 0.912985),
          (0.000158, 10.232723, 30.344690, 0.656065, 0.217287), -11.804902),
    "O": ((2.960427, 2.508818, 0.637853, 0.722838, 1.142756),
          (14.182259, 5.936858, 0.112726, 34.958481, 0.390240), 0.027014),
    "Al": ((4.730796, 2.313951, 1.541980, 1.117564, 3.154754),
           (3.628931, 43.051167, 0.095960, 108.932388, 1.555918), 0.139509),
    "Si": ((5.275329, 3.191038, 1.511514, 1.356849, 2.519114),
           (2.631338, 33.730728, 0.081119, 86.288643, 1.170087), 0.145073),
    "Ti": ((9.818524, 1.522646, 1.703101, 1.768774, 7.082555),
           (8.001879, 0.029763, 39.885422, 120.157997, 0.532405), 0.102473),
    "Fe": ((12.311098, 1.876623, 3.066177, 2.070451, 6.975185),
           (5.009415, 0.014461, 18.743040, 82.767876, 0.346506), -0.304931),
    "Co": ((12.914510, 2.481908, 3.466894, 2.106351, 6.960892),
           (4.507138, 0.009126, 16.438129, 76.987320, 0.314418), -0.936572),
    "Ni": ((13.521865, 6.947285, 3.866028, 2.135900, 4.284731),
           (4.077277, 0.286763, 14.622634, 71.966080, 0.004437), -2.762697),
    "Cu": ((14.014192, 4.784577, 5.056806, 1.457971, 6.932996),
           (3.738280, 0.003744, 13.034982, 72.554794, 0.265666), -3.254477),
    "Ge": ((16.540613, 1.567900, 3.727829, 3.345098, 6.785079),
           (2.866618, 0.012198, 13.432163, 58.866047, 0.210974), 0.018726),
    "Zr": ((17.859772, 10.911038, 5.821115, 3.512513, 0.746965),
           (1.310692, 12.319285, 0.104353, 91.777542, 0.104353), 1.124859),
}

#: Upper end of the Waasmaier-Kirfel fit, s = sin θ / λ in Å⁻¹ (Q = 4π s ≈ 75.4 Å⁻¹).
FORM_FACTOR_S_MAX = 6.0

def _is_lj(names: Sequence[str]) -> bool:
    """A name set with a non-element LJ type (``A``) is a Lennard-Jones mixture (``B`` is not boron)."""
    from .structure import ATOMIC_MASSES, LJ_TYPES

    return any(n in LJ_TYPES and n not in ATOMIC_MASSES for n in names)


def _lookup(table: Mapping, names: Sequence[str], what: str, override: Mapping | None, arg: str):
    from .structure import LJ_TYPES

    lj = _is_lj(names)
    out = []
    for n in names:
        if override is not None and n in override:
            out.append(override[n])
        elif lj and n in LJ_TYPES:
            raise UserError(
                f"species {n!r}: Lennard-Jones types have no physical {what}; pass {arg}= explicitly "
                f"for every LJ type, e.g. {arg}={{'A': 1.0, 'B': 0.5}}"
            )
        elif n in table:
            out.append(table[n])
        else:
            raise UserError(
                f"species {n!r}: no {what} in jaxglass.scattering_data (known: {sorted(table)}); "
                f"pass {arg}={{{n!r}: ...}} explicitly"
            )
    return out


def coherent_lengths(names: Sequence[str], override: Mapping[str, float] | None = None) -> np.ndarray:
    """Coherent neutron scattering length per species (fm), Sears 1992 unless overridden."""
    vals = _lookup({k: v[0] for k, v in SEARS_1992.items()}, names, "neutron scattering length",
                   override, "lengths")
    return np.asarray(vals, dtype=np.float64)


def total_cross_sections(names: Sequence[str], override: Mapping[str, float] | None = None) -> np.ndarray:
    """Total bound scattering cross section σ_coh + σ_inc per species (barn), Sears 1992."""
    vals = _lookup({k: v[1] + v[2] for k, v in SEARS_1992.items()}, names, "neutron cross section",
                   override, "cross_sections")
    return np.asarray(vals, dtype=np.float64)


def check_form_factor_range(q) -> None:
    """Raise if any |Q| (Å⁻¹, 2π included) lies beyond the fit's validity s = Q/4π ≤ 6 Å⁻¹."""
    q = np.abs(np.asarray(q, dtype=np.float64))
    s_max = float(q.max()) / (4 * np.pi) if q.size else 0.0
    if s_max > FORM_FACTOR_S_MAX:
        raise UserError(
            f"q: |Q| up to {q.max():.4g} Å⁻¹ (sin θ/λ = {s_max:.3g} Å⁻¹) exceeds the Waasmaier-Kirfel "
            f"validity sin θ/λ ≤ {FORM_FACTOR_S_MAX} Å⁻¹ (|Q| ≤ {4 * np.pi * FORM_FACTOR_S_MAX:.1f} Å⁻¹); "
            "use a smaller Q range"
        )


def form_factors(names: Sequence[str], q, override: Mapping[str, float] | None = None):
    """f₀ per species at |Q| (Å⁻¹, 2π included): array ``(..., S)`` in electrons.

    ``override`` maps a species to a constant (Q-independent) form factor, e.g. for LJ types.
    Jittable in ``q`` when the range check is done beforehand (it runs on concrete values only).
    """
    import jax
    import jax.numpy as jnp

    q = jnp.asarray(q)
    if not isinstance(q, jax.core.Tracer):
        check_form_factor_range(q)
    s2 = (q / (4 * jnp.pi))[..., None] ** 2  # (..., 1)
    rows = _lookup(WAASMAIER_KIRFEL_1995, names, "X-ray form factor", override, "form_factors")
    cols = []
    for r in rows:
        if isinstance(r, tuple):
            a, b, c = (jnp.asarray(x, dtype=q.dtype) for x in r)
            cols.append(jnp.sum(a * jnp.exp(-b * s2), axis=-1) + c)
        else:
            cols.append(jnp.full(q.shape, float(r), dtype=q.dtype))
    return jnp.stack(cols, axis=-1)
