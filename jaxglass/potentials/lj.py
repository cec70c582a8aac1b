"""Kob-Andersen binary Lennard-Jones glass formers, in reduced units.

Parameters (Kob & Andersen, PRL 73, 1376 (1994)): ε_AA = 1, σ_AA = 1, ε_AB = 1.5, σ_AB = 0.8,
ε_BB = 0.5, σ_BB = 0.88, cutoff r_c = 2.5 σ_αβ, unit masses. The usual compositions are A80B20 in
3D (Kob & Andersen 1994) and A65B35 in 2D (Brüning et al., J. Phys.: Condens. Matter 21, 035117
(2009)) at number density ρ = 1.2.

Three treatments of the cutoff (``cutoff_treatment``), all zero beyond r_c:

* ``"c2"`` (default, jaxglass's Kob-Andersen potential): the pair energy is shifted by its
  second-order Taylor polynomial at r_c,

      φ_s(r) = φ(r) - φ(r_c) - φ'(r_c)(r - r_c) - φ''(r_c)(r - r_c)² / 2    (r < r_c),

  so the energy, force and force constant all vanish at r_c and the Hessian has no jump when a pair
  crosses the cutoff. It is *not* a LAMMPS pair style: the extra second-order term raises the
  energy of a 3D KA glass by about 1.07 ε per atom above ``lj/smooth/linear``.
* ``"shift"``: truncated and shifted, φ(r) - φ(r_c) (LAMMPS ``pair_style lj/cut`` with
  ``pair_modify shift yes``); the force jumps at r_c.
* ``"linear"``: force-shifted, φ(r) - φ(r_c) - φ'(r_c)(r - r_c) (LAMMPS ``pair_style
  lj/smooth/linear``); energy and force vanish at r_c, the force constant jumps.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..errors import UserError
from .base import Potential, Term

KA_EPSILON = np.array([[1.0, 1.5], [1.5, 0.5]])
KA_SIGMA = np.array([[1.0, 0.8], [0.8, 0.88]])
KA_CUTOFF = 2.5

#: Composition x_B and density of the standard models.
KA_3D = dict(x_B=0.20, density=1.2)
KA_2D = dict(x_B=0.35, density=1.2)

CITATION_KA = "W. Kob and H. C. Andersen, Phys. Rev. Lett. 73, 1376 (1994)"
CITATION_KA2D = "R. Brüning et al., J. Phys.: Condens. Matter 21, 035117 (2009)"


def _lj(r, eps, sig):
    s6 = (sig / r) ** 6
    return 4.0 * eps * (s6 * s6 - s6)


def _lj_d1(r, eps, sig):
    s6 = (sig / r) ** 6
    return 4.0 * eps * (-12.0 * s6 * s6 + 6.0 * s6) / r


def _lj_d2(r, eps, sig):
    s6 = (sig / r) ** 6
    return 4.0 * eps * (156.0 * s6 * s6 - 42.0 * s6) / (r * r)


def _lj_shift_pair(params, r, si, sj):
    """Truncated-shifted LJ (LAMMPS ``lj/cut`` + ``pair_modify shift yes``)."""
    e, s = params["epsilon"][si, sj], params["sigma"][si, sj]
    c = params["cutoff_ratio"] * s
    inside = r < c
    rs = jnp.where(inside, r, c)
    return jnp.where(inside, _lj(rs, e, s) - _lj(c, e, s), 0.0)


def _lj_linear_pair(params, r, si, sj):
    """Force-shifted LJ (LAMMPS ``lj/smooth/linear``)."""
    e, s = params["epsilon"][si, sj], params["sigma"][si, sj]
    c = params["cutoff_ratio"] * s
    inside = r < c
    rs = jnp.where(inside, r, c)
    return jnp.where(inside, _lj(rs, e, s) - _lj(c, e, s) - _lj_d1(c, e, s) * (rs - c), 0.0)


def _ka_pair(params, r, si, sj):
    """Second-order smoothed LJ pair energy (module level: one compiled form for every instance)."""
    e, s = params["epsilon"][si, sj], params["sigma"][si, sj]
    c = params["cutoff_ratio"] * s
    inside = r < c
    rs = jnp.where(inside, r, c)  # keeps the powers finite outside
    x = rs - c
    val = _lj(rs, e, s) - _lj(c, e, s) - _lj_d1(c, e, s) * x - 0.5 * _lj_d2(c, e, s) * x * x
    return jnp.where(inside, val, 0.0)


#: Cutoff treatments: name -> (pair function, suffix of the potential's name).
CUTOFF_TREATMENTS = {
    "c2": (_ka_pair, ""),
    "shift": (_lj_shift_pair, " (truncated-shifted, lj/cut shift yes)"),
    "linear": (_lj_linear_pair, " (force-shifted, lj/smooth/linear)"),
}


def lennard_jones(
    epsilon=KA_EPSILON,
    sigma=KA_SIGMA,
    cutoff: float = KA_CUTOFF,
    species: tuple[str, ...] = ("A", "B"),
    name: str = "Kob-Andersen LJ",
    citation: str = CITATION_KA,
    cutoff_treatment: str = "c2",
) -> Potential:
    """Multi-species LJ cut at ``cutoff * sigma_ab`` (reduced units).

    ``cutoff_treatment`` is ``"c2"`` (second-order smooth, the default), ``"shift"`` (LAMMPS
    ``lj/cut`` with ``pair_modify shift yes``) or ``"linear"`` (LAMMPS ``lj/smooth/linear``); see
    the module docstring. The parameters ``epsilon``, ``sigma`` (``(S, S)`` symmetric) and
    ``cutoff_ratio`` are the PyTree leaves of the returned potential (``pot.terms[0].params``); the
    neighbour-list cutoff ``cutoff * max(sigma)`` is static.
    """
    if cutoff_treatment not in CUTOFF_TREATMENTS:
        raise UserError(
            f"cutoff_treatment: expected one of {sorted(CUTOFF_TREATMENTS)}, got {cutoff_treatment!r}"
        )
    pair_fn, suffix = CUTOFF_TREATMENTS[cutoff_treatment]
    eps = np.asarray(epsilon, dtype=np.float64)
    sig = np.asarray(sigma, dtype=np.float64)
    ns = len(species)
    if eps.shape != (ns, ns) or sig.shape != (ns, ns):
        raise UserError(f"epsilon/sigma: expected ({ns}, {ns}) matrices for species {species}")
    if not (np.allclose(eps, eps.T) and np.allclose(sig, sig.T)):
        raise UserError("epsilon/sigma: must be symmetric")
    if not (np.all(sig > 0) and cutoff > 0):
        raise UserError("sigma/cutoff: must be positive")
    params = dict(epsilon=eps, sigma=sig, cutoff_ratio=np.float64(cutoff))
    return Potential(
        terms=(Term(params=params, cutoff=float(cutoff * np.max(sig)), pair_fn=pair_fn),),
        name=name + suffix,
        species=tuple(species),
        units="lj",
        dims=(2, 3),
        citation=citation,
    )


def kob_andersen(cutoff_treatment: str = "c2", cutoff: float = KA_CUTOFF) -> Potential:
    """The Kob-Andersen potential (same parameters in 2D and 3D); see :func:`lennard_jones`."""
    return lennard_jones(cutoff=cutoff, cutoff_treatment=cutoff_treatment)
