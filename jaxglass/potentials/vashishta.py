"""Vashishta two- plus three-body potentials, in the form of LAMMPS ``pair_style vashishta``.

The energy is (Vashishta et al., Phys. Rev. B 41, 12197 (1990); J. Appl. Phys. 101, 103515 (2007);
notation of Branicio et al., J. Phys.: Condens. Matter 21, 095002 (2009))

    E = sum_{i<j} V2_ij(r_ij) + sum_i sum_{j<k} V3_jik(r_ij, r_ik, theta_jik)

Two-body part, with the parameters of the file entry ``(i, j, j)``:

    V2(r) = H / r^eta + k_e Z_i Z_j exp(-r / lambda1) / r - D exp(-r / lambda4) / r^4 - W / r^6,

shifted and tilted so that the energy and the force vanish at ``r_c``:
``V2s(r) = V2(r) - V2(r_c) - (r - r_c) V2'(r_c)`` for ``r < r_c`` and 0 beyond.
``k_e = 14.399645 eV Å / e²`` (LAMMPS ``qqr2e`` in metal units). As in LAMMPS, a zero
``lambda1`` (``lambda4``) means no screening (the exponential is 1), and the file's ``D`` is used
as is (it is the paper's ``D / 2`` for SiC).

Three-body part centred at ``i``, summed over unordered neighbour pairs ``{j, k}`` (``j != k``):

    V3 = B_ijk f_ij(r_ij) f_ik(r_ik) (cos theta_jik - cos theta0_ijk)^2
                                   / (1 + C_ijk (cos theta_jik - cos theta0_ijk)^2),
    f_ij(r) = exp(gamma_ij / (r - r0_ij))  for r < r0_ij,  0 otherwise,

where ``gamma_ij, r0_ij`` come from the entry ``(i, j, j)``, ``gamma_ik, r0_ik`` from ``(i, k, k)``
and ``B, C, cos theta0`` from ``(i, j, k)`` (LAMMPS ``src/MANYBODY/pair_vashishta.cpp``). LAMMPS
visits each unordered pair once with the ``(i, j, k)`` entry in neighbour-list order; here each
pair gets the mean of the ``(i, j, k)`` and ``(i, k, j)`` terms, which is the same whenever the file
is symmetric in ``j, k`` (all published files are).

The two parts are two :class:`~jaxglass.potentials.base.Term` objects: the two-body part a pair
term with cutoff ``max r_c``, the three-body part a site term with cutoff ``max r0`` (a short
neighbour list: 4 neighbours per atom in 3C-SiC instead of ~170) and ``Term.pair_cutoffs`` ``r0_ij``
(0 for Si-Si and C-C in SiC: the MD engine steps a centre on its legs inside them only).

``exp(gamma / (r - r0))`` is evaluated on a sanitised distance, so its value, gradient and
Hessian are finite (and zero) at and beyond ``r0`` and at padded neighbour slots. Inside, the
factor is set to zero once ``gamma / (r0 - r) > 600`` (i.e. f < 1e-260), which keeps
``gamma / (r - r0)`` away from overflow as ``r -> r0``.

File format (LAMMPS ``.vashishta``): ``#`` starts a comment; each entry is 3 element names and 14
numbers ``H eta Zi Zj lambda1 D lambda4 W rc B gamma r0 C cos(theta0)`` (may span lines); every
triplet of the requested species must appear exactly once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from .._io import read_text
from ..errors import UserError
from ..units import QQR2E_LAMMPS_METAL
from .base import Potential, Term

__all__ = [
    "QQR2E_METAL",
    "VASHISHTA_PARAMETER_NAMES",
    "SIC_VASHISHTA_2007",
    "CITATION_SIC_2007",
    "vashishta",
    "read_vashishta_file",
    "parse_vashishta",
    "vashishta_sic_2007",
    "for_md",
    "tabulated",
    "MD_TABLE_INTERVALS",
    "MD_TABLE_R_INNER",
]

#: Coulomb constant e²/(4π ε0) in eV Å (LAMMPS ``force->qqr2e`` for ``units metal``).
QQR2E_METAL = QQR2E_LAMMPS_METAL

#: The 14 numbers of one file entry, in file order.
VASHISHTA_PARAMETER_NAMES = (
    "H", "eta", "Zi", "Zj", "lambda1", "D", "lambda4", "W", "rc", "B", "gamma", "r0", "C", "costheta",
)  # fmt: skip
_P = {name: k for k, name in enumerate(VASHISHTA_PARAMETER_NAMES)}

#: f(r) = exp(gamma / (r - r0)) is set to 0 once gamma / (r0 - r) exceeds this (f < 1e-260).
_EXP_ARG_MAX = 600.0

CITATION_SIC_2007 = (
    "P. Vashishta, R. K. Kalia, A. Nakano and J. P. Rino, J. Appl. Phys. 101, 103515 (2007); "
    "parameters of the LAMMPS potentials/SiC.vashishta file"
)

#: The LAMMPS ``potentials/SiC.vashishta`` file (DATE: 2015-10-14), parameters of Vashishta et al. 2007.
SIC_VASHISHTA_2007 = """\
# DATE: 2015-10-14 UNITS: metal CONTRIBUTOR: Aidan Thompson, athomps@sandia.gov CITATION: P. Vashishta, \
R. K. Kalia, A. Nakano, and J. P. Rino. J. Appl. Phys. 101, 103515 (2007).
#
# Vashishta potential file for SiC, P. Vashishta, R. K. Kalia, A. Nakano,
# and J. P. Rino. J. Appl. Phys. 101, 103515 (2007).
#
# These entries are in LAMMPS "metal" units:
#   H = eV*Angstroms^eta; Zi, Zj = |e| (e = electronic charge);
#   lambda1, lambda4, rc, r0, gamma = Angstroms;
#   D = eV*Angstroms^4; W = eV*Angstroms^6; B = eV;
#   other quantities are unitless
#
#  Note: Value of D here equals D/2 in paper
#
# element1  element2  element3
#           H  eta  Zi  Zj  lambda1  D  lambda4
#           W  rc  B  gamma  r0  C  cos(theta)

C   C    C  471.74538  7  -1.201  -1.201  5.0  0.0  3.0
            0.0  7.35  0.0  0.0  0.0  0.0  0.0

Si  Si  Si  23.67291  7  1.201  1.201  5.0  15.575  3.0
            0.0  7.35  0.0  0.0  0.0  0.0  0.0

C   Si  Si  447.09026  9  -1.201  1.201  5.0  7.7874  3.0
            61.4694  7.35  9.003  1.0  2.90  5.0  -0.333333333333

Si  C   C   447.09026  9  1.201  -1.201  5.0  7.7874  3.0
            61.4694  7.35  9.003  1.0  2.90  5.0  -0.333333333333

C   C   Si  0.0  0.0  0.0  0.0  0.0  0.0  0.0
            0.0  0.0  0.0  0.0  0.0  0.0  0.0

C   Si  C   0.0  0.0  0.0  0.0  0.0  0.0  0.0
            0.0  0.0  0.0  0.0  0.0  0.0  0.0

Si  C   Si  0.0  0.0  0.0  0.0  0.0  0.0  0.0
            0.0  0.0  0.0  0.0  0.0  0.0  0.0

Si  Si  C   0.0  0.0  0.0  0.0  0.0  0.0  0.0
            0.0  0.0  0.0  0.0  0.0  0.0  0.0
"""


# -- two-body function (numpy on the host for the shift constants, jnp inside) ----------------


def _v2(xp, r, h, eta, zz, l1inv, d, l4inv, w):
    """Unshifted V2(r) and dV2/dr with ``zz = k_e Z_i Z_j`` and inverse screening lengths."""
    vc2 = zz * xp.exp(-r * l1inv) / r
    vc3 = d * xp.exp(-r * l4inv) / r**4
    rep = h * r ** (-eta)
    v = rep + vc2 - vc3 - w / r**6
    dv = -eta * rep / r - vc2 * (1.0 / r + l1inv) + vc3 * (4.0 / r + l4inv) + 6.0 * w / r**7
    return v, dv


def _two_body_tables(table: np.ndarray, species: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-pair (a, b) two-body parameters from the entries (a, b, b); checks they are symmetric."""
    ns = len(species)
    idx = np.arange(ns)
    pair = table[idx[:, None], idx[None, :], idx[None, :]]  # (ns, ns, 14): entry (a, b, b)
    p = {name: pair[..., _P[name]] for name in VASHISHTA_PARAMETER_NAMES}

    def inv(x):
        return np.where(x == 0.0, 0.0, 1.0 / np.where(x == 0.0, 1.0, x))  # LAMMPS: 0 means no screening

    out = {
        "H": p["H"],
        "eta": p["eta"],
        "zz": p["Zi"] * p["Zj"] * QQR2E_METAL,
        "l1inv": inv(p["lambda1"]),
        "D": p["D"],
        "l4inv": inv(p["lambda4"]),
        "W": p["W"],
        "rc": p["rc"],
    }
    for name, arr in out.items():
        if not np.allclose(arr, arr.T, rtol=1e-12, atol=0.0):
            a, b = (int(x) for x in np.argwhere(~np.isclose(arr, arr.T, rtol=1e-12, atol=0.0))[0])
            raise UserError(
                f"vashishta: two-body parameter {name} differs between entries "
                f"({species[a]} {species[b]} {species[b]}) and ({species[b]} {species[a]} {species[a]}); "
                "LAMMPS would then depend on atom ids, so jaxglass requires them to agree"
            )
    return out


def vashishta(
    table: np.ndarray | Mapping[tuple[str, str, str], Sequence[float]],
    species: Sequence[str],
    *,
    name: str = "Vashishta",
    citation: str = "",
) -> Potential:
    """Build a Vashishta potential from a parameter table.

    Args:
      table: either an ``(ns, ns, ns, 14)`` array indexed ``[i, j, k]`` in ``species`` order, or a
        mapping ``(elem_i, elem_j, elem_k) -> 14 numbers`` (order of
        :data:`VASHISHTA_PARAMETER_NAMES`; units eV, Å, e) holding every triplet of ``species``.
      species: element names, defining the potential's species order.
      name, citation: stored on the :class:`Potential`.
    """
    species = tuple(str(s) for s in species)
    ns = len(species)
    if ns == 0 or len(set(species)) != ns:
        raise UserError(f"species: expected distinct element names, got {species}")
    if isinstance(table, Mapping):
        arr = np.zeros((ns, ns, ns, 14))
        for a in range(ns):
            for b in range(ns):
                for c in range(ns):
                    key = (species[a], species[b], species[c])
                    if key not in table:
                        raise UserError(f"table: missing the entry {' '.join(key)}")
                    vals = np.asarray(table[key], dtype=np.float64)
                    if vals.shape != (14,):
                        raise UserError(f"table: entry {' '.join(key)} needs 14 numbers, got {vals.shape}")
                    arr[a, b, c] = vals
        table = arr
    tab = np.asarray(table, dtype=np.float64)
    if tab.shape != (ns, ns, ns, 14):
        raise UserError(f"table: expected shape ({ns}, {ns}, {ns}, 14), got {tab.shape}")
    if not np.all(np.isfinite(tab)):
        raise UserError("table: parameters must be finite")
    nonneg = [n for n in VASHISHTA_PARAMETER_NAMES if n not in ("Zi", "Zj", "costheta")]
    for n in nonneg:
        if np.any(tab[..., _P[n]] < 0.0):
            raise UserError(
                f"table: parameter {n} must be non-negative (LAMMPS: illegal Vashishta parameter)"
            )

    terms = []
    two = _two_body_tables(tab, species)
    rc_max = float(np.max(two["rc"]))
    if rc_max > 0.0:
        terms.append(Term(params=two, cutoff=rc_max, pair_fn=_vashishta_pair))

    idx = np.arange(ns)
    diag = tab[idx[:, None], idx[None, :], idx[None, :]]  # entry (i, j, j): radial factor of the j leg
    r0_max = float(np.max(diag[..., _P["r0"]]))
    b_tab = tab[..., _P["B"]]
    if r0_max > 0.0 and np.any(b_tab > 0.0):
        three = dict(
            r0=diag[..., _P["r0"]],
            gamma=diag[..., _P["gamma"]],
            B=b_tab,
            C=tab[..., _P["C"]],
            costheta=tab[..., _P["costheta"]],
        )
        terms.append(Term(params=three, cutoff=r0_max, site_fn=_vashishta_three_body,
                          site_grad_fn=_vashishta_three_body_grad,
                          pair_cutoffs=tuple(tuple(float(x) for x in row) for row in three["r0"])))

    if not terms:
        raise UserError("table: no interaction (every rc is 0 and no three-body term)")
    return Potential(
        terms=tuple(terms), name=name, species=species, units="metal", dims=(3,), citation=citation
    )


_TWO_BODY_ARGS = ("H", "eta", "zz", "l1inv", "D", "l4inv", "W")


def _vashishta_pair(p, r, si, sj):
    """Shifted and tilted two-body energy (module level: one compiled form per parameter shape).

    The shift ``V2(rc)`` and tilt ``V2'(rc)`` are evaluated on the ``(ns, ns)`` tables, not per pair
    (so they stay exact under :meth:`~jaxglass.potentials.base.Potential.with_params`), and every
    pair reads its 11 numbers in one gather from a stacked ``(ns * ns, 11)`` table: on XLA's CPU
    backend one gather per parameter cost more than the arithmetic (the 1,000-atom a-SiC relaxation
    spent ~60 ms per energy and gradient in this term with one gather per parameter)."""
    rc = p["rc"]
    has = rc > 0.0
    rc_safe = jnp.where(has, rc, 1.0)
    args = [p[k] for k in _TWO_BODY_ARGS]
    vrc, dvrc = _v2(jnp, rc_safe, *args)
    ns = rc.shape[-1]
    rows = jnp.stack([rc, rc_safe, vrc, dvrc, *args], axis=-1).reshape(ns * ns, 4 + len(_TWO_BODY_ARGS))
    q = rows[si * ns + sj]
    rc, rc_safe, vrc, dvrc = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    inside = r < rc
    rs = jnp.where(inside, r, rc_safe)  # keeps 1/r^n finite outside
    v, _ = _v2(jnp, rs, *(q[..., 4 + i] for i in range(len(_TWO_BODY_ARGS))))
    val = v - vrc - (rs - rc) * dvrc
    return jnp.where(inside, val, 0.0)


#: The angular factor in both orders, ``(i, j, k)`` and ``(i, k, j)``, or in the first only.
_BOTH_ORDERS, _ONE_ORDER = ((0, 1, 2), (0, 2, 1)), ((0, 1, 2),)


def _three_body_parts(p, dr, mask, si, sj, orders=_BOTH_ORDERS):
    """Radial factors ``f``, ``f'``, distances, unit vectors (a list of ``d`` components ``(K,)``) and
    cosines of one site, and the angular factor averaged over ``orders`` and its derivative in the
    cosine, ``(K, K)`` and zero on the diagonal: with both orders ``G_jk = (g_ijk + g_ikj) / 2``
    (symmetric in ``j, k``), with one ``g_ijk``; ``g_ijk(c) = B (c - c0)^2 / (1 + C (c - c0)^2)``.

    Written on components and ``(K, K)`` arrays, with the species-pair parameters selected by an
    unrolled loop over species: on XLA's CPU backend a length-3 minor axis, ``u @ u.T`` and a
    ``K^2`` gather from the parameter tables each cost several times the arithmetic."""
    r = jnp.sqrt(jnp.sum(dr * dr, axis=-1))  # padded slots are far, never 0
    r0_j, g_j = p["r0"][si, sj], p["gamma"][si, sj]
    inside = mask & (r < r0_j) & (g_j < _EXP_ARG_MAX * (r0_j - r))
    den = jnp.where(inside, r - r0_j, -1.0)  # sanitise before the division
    f = jnp.where(inside, jnp.exp(g_j / den), 0.0)
    df = -f * g_j / (den * den)  # d/dr exp(gamma / (r - r0))
    u = [dr[:, a] / r for a in range(dr.shape[-1])]
    cos = sum(c[:, None] * c[None, :] for c in u)
    ns = p["B"].shape[-1]
    onehot = [sj == b for b in range(ns)]

    def per_pair(t):  # t[si, sj, sk] as (K, K)
        rows = t[si][sj]  # (K, ns)
        return sum(jnp.where(onehot[b][None, :], rows[:, b][:, None], 0.0) for b in range(ns))

    off = (1.0 - jnp.eye(dr.shape[0], dtype=dr.dtype)) / len(orders)
    g = dg = 0.0
    for order in orders:
        dc = cos - per_pair(p["costheta"].transpose(order))
        q = 1.0 / (1.0 + per_pair(p["C"].transpose(order)) * dc * dc)
        b = off * per_pair(p["B"].transpose(order))
        g = g + b * dc * dc * q
        dg = dg + 2.0 * b * dc * q * q
    return r, f, df, u, cos, g, dg


def _vashishta_three_body(p, dr, mask, si, sj):
    """Three-body energy centred at ``i``, ``e_i = 1/2 sum_{j != k} g_ijk f_j f_k``: the sum over
    unordered pairs of the mean of the (i, j, k) and (i, k, j) terms, for any table."""
    _, f, _, _, _, g, _ = _three_body_parts(p, dr, mask, si, sj, _ONE_ORDER)
    return 0.5 * jnp.sum(g * f[:, None] * f[None, :])


def _vashishta_three_body_grad(p, dr, mask, si, sj):
    """``d e_i / d r_ij`` ``(K, 3)`` of :func:`_vashishta_three_body`, by hand. With the symmetrised
    angular factor ``G`` of :func:`_three_body_parts`, ``e_i = 1/2 sum_{j != k} G_jk f_j f_k`` and

        d e_i / d r_ij = f'_j (sum_k G_jk f_k) u_j + (f_j / r_j) sum_k G'_jk f_k (u_k - c_jk u_j),

    with ``u_j = r_ij / r_j`` and ``d c_jk / d r_ij = (u_k - c_jk u_j) / r_j`` (LAMMPS
    ``PairVashishta::threebody`` has the same terms per triplet). When ``B``, ``C`` and ``cos theta0``
    are symmetric in ``j, k`` (every published file) ``G = g`` is evaluated in one order, else in both
    (a ``lax.cond`` on the parameters, so a table changed by ``with_params`` stays exact)."""
    sym = functools.reduce(jnp.logical_and, [jnp.all(p[k] == jnp.swapaxes(p[k], -1, -2))
                                             for k in ("B", "C", "costheta")])
    return jax.lax.cond(sym, functools.partial(_three_body_grad, orders=_ONE_ORDER),
                        functools.partial(_three_body_grad, orders=_BOTH_ORDERS), p, dr, mask, si, sj)


def _three_body_grad(p, dr, mask, si, sj, orders):
    r, f, df, u, cos, g, dg = _three_body_parts(p, dr, mask, si, sj, orders)
    w = dg * f[None, :]
    fr = f / r
    radial = df * jnp.sum(g * f[None, :], axis=1) - fr * jnp.sum(w * cos, axis=1)
    return jnp.stack([radial * c + fr * jnp.sum(w * c[None, :], axis=1) for c in u], axis=-1)


# -- the two-body part on a table, for MD stages ------------------------------------------------

#: Defaults of :func:`for_md`: intervals of the r² table and its inner end (Å).
MD_TABLE_INTERVALS = 4096
MD_TABLE_R_INNER = 1.0


def for_md(potential: Potential, n_table: int = MD_TABLE_INTERVALS, r_inner: float = MD_TABLE_R_INNER
           ) -> Potential:
    """The potential an MD stage should step with: :func:`tabulated` for a Vashishta potential with an
    analytic two-body term, the potential itself otherwise (already tabulated, or another family)."""
    if any(t.pair_fn is _vashishta_pair for t in potential.terms):
        return tabulated(potential, n_table, r_inner)
    return potential


@functools.lru_cache(maxsize=8)
def tabulated(potential: Potential, n_table: int = MD_TABLE_INTERVALS, r_inner: float = MD_TABLE_R_INNER
              ) -> Potential:
    """The Vashishta potential with its two-body term read from tables, as LAMMPS's
    ``pair_style vashishta/table Ntable cutinner`` does; the three-body term is unchanged. For MD
    stages; relax and take Hessians with the analytic potential. Cached per potential object.

    The tables are uniform in ``s = r²`` from ``r_inner²`` to ``r_c²`` (``n_table`` intervals, one per
    species pair), as LAMMPS's, so a lookup needs no square root and the force ``-V2'(r) r_ij / r``
    is ``-2 dV2/ds r_ij``. Where LAMMPS interpolates the energy and the force linearly from two
    separate tables, each interval here holds the cubic Hermite interpolant of the analytic ``V2``
    and ``dV2/ds`` at its ends: the energy is within ``~h^4`` of the analytic one, the force is its
    exact derivative (C¹, so NVE dynamics conserve the tabulated energy) and within ``~h^3``. With
    4,096 intervals (a 128 kB table per species pair) the forces on a 1,000-atom 3000 K a-SiC liquid
    are within 6e-6 eV/Å of the analytic ones and the energy within 1e-9 eV/atom, where LAMMPS's
    linear tables need 10^5 points for as much (docs/md.md; tests/test_vashishta.py). Below
    ``r_inner``, where LAMMPS switches to the analytic form, the energy continues linearly in ``s``:
    a finite repulsion (Si-Si 28 eV at 1 Å and 96 eV at r = 0; Si-C and C-C 370-490 eV at 1 Å and
    ~2,200 eV at 0) that no thermal trajectory approaches.
    """
    n_table, r_inner = int(n_table), float(r_inner)
    pair = [t for t in potential.terms if t.pair_fn is _vashishta_pair]
    if len(pair) != 1:
        raise UserError(f"potential: {potential.name} has no analytic Vashishta two-body term to tabulate")
    term = pair[0]
    if n_table < 16:
        raise UserError(f"n_table: need at least 16 table intervals, got {n_table}")
    if not 0.0 < r_inner < term.cutoff:
        raise UserError(f"r_inner: must lie in (0, {term.cutoff}) Å (the two-body cutoff), got {r_inner}")
    p = {k: np.asarray(v, dtype=np.float64) for k, v in term.params.items()}
    s_in, s_cut = r_inner**2, float(term.cutoff) ** 2
    h = (s_cut - s_in) / n_table
    s_nodes = s_in + h * np.arange(n_table + 1)
    r = np.sqrt(s_nodes)
    ns = p["rc"].shape[0]
    coef = np.zeros((ns, ns, n_table, 4))
    for a in range(ns):
        for b in range(ns):
            rc = p["rc"][a, b]
            if rc <= 0.0:
                continue
            args = [p[k][a, b] for k in _TWO_BODY_ARGS]
            vrc, dvrc = _v2(np, rc, *args)
            v, dv = _v2(np, r, *args)
            inside = r < rc
            e = np.where(inside, v - vrc - (r - rc) * dvrc, 0.0)
            de = h * np.where(inside, (dv - dvrc) / (2.0 * r), 0.0)  # h dV2/ds at the nodes
            e0, e1, d0, d1 = e[:-1], e[1:], de[:-1], de[1:]
            coef[a, b] = np.stack([e0, d0, 3.0 * (e1 - e0) - 2.0 * d0 - d1, 2.0 * (e0 - e1) + d0 + d1],
                                  axis=-1)
    params = dict(coef=coef, s_inner=np.float64(s_in), inv_h=np.float64(1.0 / h), s_cut=np.float64(s_cut))
    table_term = Term(params=params, cutoff=term.cutoff, pair_fn=_vashishta_pair_table,
                      pair_dr2_fn=_vashishta_pair_table_dr2)
    return potential.replace(
        terms=tuple(table_term if t is term else t for t in potential.terms),
        name=f"{potential.name} (two-body r² table, {n_table} intervals from {r_inner:g} Å)",
    )


def _table_interval(p, s, si, sj):
    """The Hermite coefficients ``(..., 4)`` of the interval holding ``s = r²`` and the position
    ``t`` in it (``t < 0`` below the table)."""
    coef = p["coef"]
    n = coef.shape[2]
    x = (s - p["s_inner"]) * p["inv_h"]
    k = jnp.clip(jnp.floor(x), 0, n - 1).astype(jnp.int32)
    return coef.reshape(-1, 4)[(si * coef.shape[1] + sj) * n + k], x - k


def _vashishta_pair_table(p, r, si, sj):
    """The two-body energy from the tables of :func:`tabulated` (one gather of 4 numbers per pair)."""
    s = r * r
    c, t = _table_interval(p, s, si, sj)
    tt = jnp.maximum(t, 0.0)  # below r_inner: linear in s, the slope of the first node
    e = c[..., 0] + tt * (c[..., 1] + tt * (c[..., 2] + tt * c[..., 3])) + jnp.minimum(t, 0.0) * c[..., 1]
    return jnp.where(s < p["s_cut"], e, 0.0)


def _vashishta_pair_table_dr2(p, s, si, sj):
    """``dV2/d(r²)`` of :func:`_vashishta_pair_table` at ``s = r²`` (the exact derivative)."""
    c, t = _table_interval(p, s, si, sj)
    tt = jnp.maximum(t, 0.0)
    de = c[..., 1] + tt * (2.0 * c[..., 2] + 3.0 * tt * c[..., 3])
    return jnp.where(s < p["s_cut"], de * p["inv_h"], 0.0)


# -- LAMMPS file reader ------------------------------------------------------------------------


def parse_vashishta(text: str, species: Sequence[str]) -> dict[tuple[str, str, str], tuple[float, ...]]:
    """Entries of a ``.vashishta`` file whose three elements are all in ``species``.

    Follows LAMMPS's reader: comments after ``#``; an entry is 17 words (3 names, 14 numbers) and
    may span lines; entries naming other elements are skipped; duplicates and missing triplets
    of ``species`` are errors.
    """
    species = tuple(str(s) for s in species)
    out: dict[tuple[str, str, str], tuple[float, ...]] = {}
    words: list[str] = []
    start_line = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        w = line.split("#", 1)[0].split()
        if not w:
            continue
        if not words:
            start_line = lineno
        words.extend(w)
        if len(words) < 17:
            continue
        if len(words) > 17:
            raise UserError(
                f"vashishta file: incorrect format in the entry starting at line {start_line}: "
                f"expected 17 words (3 elements + 14 numbers), got {len(words)}"
            )
        key = (words[0], words[1], words[2])
        try:
            vals = tuple(float(x) for x in words[3:])
        except ValueError as err:
            raise UserError(
                f"vashishta file: non-numeric parameter in entry at line {start_line}: {err}"
            ) from None
        words = []
        if not all(e in species for e in key):
            continue
        if key in out:
            raise UserError(f"vashishta file: duplicate entry {' '.join(key)} (line {start_line})")
        out[key] = vals
    if words:
        raise UserError(
            f"vashishta file: incomplete entry starting at line {start_line} ({len(words)} of 17 words)"
        )
    missing = [" ".join((a, b, c)) for a in species for b in species for c in species if (a, b, c) not in out]
    if missing:
        raise UserError(f"vashishta file: missing entries for {missing} (species {species})")
    return out


def _file_citation(text: str) -> str:
    for line in text.splitlines():
        if "CITATION:" in line:
            return line.split("CITATION:", 1)[1].strip()
    return ""


def read_vashishta_file(
    path_or_text: str | os.PathLike, species: Sequence[str], *, name: str | None = None
) -> Potential:
    """Read a LAMMPS ``.vashishta`` file (a path, or the file's text) for the given elements.

    ``species`` plays the role of the element names after the file name in LAMMPS's
    ``pair_coeff * * file.vashishta Si C``; it also sets the potential's species order.
    """
    path = None
    if isinstance(path_or_text, os.PathLike):
        path = os.fspath(path_or_text)
    elif "\n" not in str(path_or_text) and len(str(path_or_text).split()) < 17:
        path = str(path_or_text)
    if path is not None:
        text = read_text(path, "a LAMMPS .vashishta file", field="path_or_text")
        label = path
    else:
        text, label = str(path_or_text), "Vashishta"
    try:
        table = parse_vashishta(text, species)
        return vashishta(
            table,
            species,
            name=name if name is not None else f"Vashishta ({os.path.basename(label)})",
            citation=_file_citation(text),
        )
    except UserError as err:  # a broken file: name it
        if path is None:
            raise
        raise UserError(f"{path}: {err}; fix the file (LAMMPS .vashishta format)",
                        field="path_or_text") from err


def vashishta_sic_2007(species: Sequence[str] = ("Si", "C")) -> Potential:
    """Vashishta et al. 2007 Si-C potential (LAMMPS ``SiC.vashishta``).

    3C-SiC: a = 4.35817 Å, E = -6.340145 eV/atom (LAMMPS). Cutoffs: r_c = 7.35 Å (two-body),
    r0 = 2.90 Å (three-body, Si-C-Si and C-Si-C angles only, B = 9.003 eV, C = 5, cos θ0 = -1/3,
    γ = 1 Å).
    """
    table = parse_vashishta(SIC_VASHISHTA_2007, species)
    return vashishta(table, species, name="Vashishta SiC 2007", citation=CITATION_SIC_2007)
