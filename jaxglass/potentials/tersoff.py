"""Multi-species Tersoff potential in the LAMMPS ``pair_style tersoff`` form.

Energy (Tersoff, PRB 37, 6991 (1988); PRB 39, 5566 (1989)), written as a sum of site energies::

    E   = sum_i e_i,
    e_i = 1/2 sum_{j != i} fc(r_ij) [ fR(r_ij) + b_ij fA(r_ij) ]
    fR(r) = A exp(-lambda1 r),     fA(r) = -B exp(-lambda2 r)
    fc(r) = 1                                  r < R - D
          = 1/2 - 1/2 sin(pi/2 (r - R) / D)    R - D < r < R + D
          = 0                                  r > R + D
    b_ij   = (1 + (beta zeta_ij)^n)^(-1/(2n))
    zeta_ij = sum_{k != i, j} fc(r_ik) g(theta_ijk) exp[(lambda3 (r_ij - r_ik))^m]
    g(theta) = gamma (1 + c^2/d^2 - c^2 / (d^2 + (cos theta - h)^2))

Every parameter belongs to an ordered triplet of elements ``(i, j, k)``, in the order of a LAMMPS
``.tersoff`` file entry: ``m, gamma, lambda3, c, d, costheta0 (= h), n, beta, lambda2, B, R, D,
lambda1, A`` (units eV and Å). As in LAMMPS, element 1 is the centre ``i``, element 2 the bonded
neighbour ``j`` and element 3 the third atom ``k``:

* the two-body quantities (``fR``, ``fA``, ``fc(r_ij)``) and the bond-order parameters ``beta``,
  ``n`` come from the ``i j j`` entry;
* the three-body quantities (``fc(r_ik)`` with ``R``, ``D``; ``g`` with ``gamma, c, d, h``; the
  exponential with ``lambda3, m``) come from the ``i j k`` entry.

LAMMPS counts the repulsion once per pair with the parameters of the ``i j j`` entry of the atom it
visits first; here each pair contributes half of its repulsion to each atom, which is the same
whenever the ``i j j`` and ``j i i`` repulsive parameters agree (true in LAMMPS's ``SiC.tersoff`` and
``BNC.tersoff``; a warning is issued otherwise). ``m`` must be 1 or 3, and the exponent argument is limited
to ±69.0776 as in LAMMPS.
LAMMPS evaluates ``b_ij`` through asymptotic expansions for very small and very large
``beta * zeta``; those agree with the closed form to ~1e-16, and the closed form is used here, with
``b_ij = 1`` below LAMMPS's own threshold ``(2 n 1e-16)^(1/n)``. That keeps the value, gradient and
Hessian finite at ``zeta = 0`` (an isolated pair), where ``zeta^n`` with ``n < 1`` has an infinite
slope.

Built-in parameter sets:

* :func:`lindsay_broido_carbon` -- L. Lindsay and D. A. Broido, PRB 81, 205441 (2010), the
  optimised carbon parameters for phonons of graphene and nanotubes.
* :func:`tersoff_sic_1989` -- J. Tersoff, PRB 39, 5566 (1989); erratum PRB 41, 3248 (1990):
  Si, C and Si-C, with the table of LAMMPS ``potentials/SiC.tersoff``.

Other parameterisations are read from LAMMPS files with :func:`read_tersoff_file`.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Mapping, Sequence

import jax.numpy as jnp
import numpy as np

from .._io import read_text
from ..errors import UserError
from .base import Potential, Term

__all__ = [
    "TERSOFF_PARAMETERS",
    "CITATION_LINDSAY_BROIDO",
    "CITATION_TERSOFF_SIC",
    "SIC_TERSOFF_1989",
    "lindsay_broido_carbon",
    "parse_tersoff",
    "read_tersoff_file",
    "tersoff",
    "tersoff_sic_1989",
]

#: Parameter order of one entry (after the three element names), as in LAMMPS ``.tersoff`` files.
TERSOFF_PARAMETERS = (
    "m",
    "gamma",
    "lambda3",
    "c",
    "d",
    "costheta0",
    "n",
    "beta",
    "lambda2",
    "B",
    "R",
    "D",
    "lambda1",
    "A",
)
_NP = len(TERSOFF_PARAMETERS)
_IDX = {p: i for i, p in enumerate(TERSOFF_PARAMETERS)}

#: LAMMPS clips the argument of exp[(lambda3 (r_ij - r_ik))^m] to this magnitude.
_EXP_ARG_MAX = 69.0776

CITATION_LINDSAY_BROIDO = (
    "L. Lindsay and D. A. Broido, Phys. Rev. B 81, 205441 (2010) (Tersoff form: J. Tersoff, "
    "Phys. Rev. B 37, 6991 (1988))"
)
CITATION_TERSOFF_SIC = (
    "J. Tersoff, Phys. Rev. B 39, 5566 (1989); erratum Phys. Rev. B 41, 3248 (1990); "
    "parameter table of LAMMPS potentials/SiC.tersoff"
)

#: Tersoff (1989) Si-C parameters in LAMMPS format: the table of LAMMPS ``potentials/SiC.tersoff``
#: (contributed by R. Narulkar; values of J. Tersoff, PRB 39, 5566 (1989) with the erratum PRB 41,
#: 3248 (1990)). The Si-C two-body entries follow the paper's mixing rules: B_SiC = chi sqrt(B_Si B_C)
#: with chi = 0.9776, A_SiC = sqrt(A_Si A_C), lambda_SiC = (lambda_Si + lambda_C) / 2; R = 2.36,
#: D = 0.15 approximate the geometric means of the inner/outer radii.
SIC_TERSOFF_1989 = """\
# element1 element2 element3  m gamma lambda3 c d costheta0 n beta lambda2 B R D lambda1 A
C   C   C   3.0 1.0 0.0  38049   4.3484  -0.57058  0.72751
            0.00000015724  2.2119   346.7    1.95  0.15  3.4879  1393.6
Si  Si  Si  3.0 1.0 0.0  100390  16.217  -0.59825  0.78734
            0.0000011      1.73222  471.18   2.85  0.15  2.4799  1830.8
Si  Si  C   3.0 1.0 0.0  100390  16.217  -0.59825  0.0
            0.0            0.0      0.0      2.36  0.15  0.0     0.0
Si  C   C   3.0 1.0 0.0  100390  16.217  -0.59825  0.78734
            0.0000011      1.97205  395.126  2.36  0.15  2.9839  1597.3111
C   Si  Si  3.0 1.0 0.0  38049   4.3484  -0.57058  0.72751
            0.00000015724  1.97205  395.126  2.36  0.15  2.9839  1597.3111
C   Si  C   3.0 1.0 0.0  38049   4.3484  -0.57058  0.0
            0.0            0.0      0.0      1.95  0.15  0.0     0.0
C   C   Si  3.0 1.0 0.0  38049   4.3484  -0.57058  0.0
            0.0            0.0      0.0      2.36  0.15  0.0     0.0
Si  C   Si  3.0 1.0 0.0  100390  16.217  -0.59825  0.0
            0.0            0.0      0.0      2.85  0.15  0.0     0.0
"""

#: Lindsay & Broido (2010) carbon, PRB 81, 205441, Table I ("optimized Tersoff"); the same numbers
#: are the ``C C C`` entry of LAMMPS ``potentials/BNC.tersoff``.
_LINDSAY_BROIDO = dict(
    m=3.0,
    gamma=1.0,
    lambda3=0.0,
    c=38049.0,
    d=4.3484,
    costheta0=-0.930,
    n=0.72751,
    beta=1.5724e-7,
    lambda2=2.2119,
    B=430.0,
    R=1.95,
    D=0.15,
    lambda1=3.4879,
    A=1393.6,
)


# -- parsing ----------------------------------------------------------------------------------


def parse_tersoff(text: str) -> dict[tuple[str, str, str], tuple[float, ...]]:
    """Parse the text of a LAMMPS ``.tersoff`` file.

    Comments start with ``#``; an entry is 3 element names and 14 numbers, possibly spread over
    several lines. Returns ``{(e1, e2, e3): (m, gamma, ..., A)}`` in :data:`TERSOFF_PARAMETERS`
    order. Raises ``ValueError`` on a malformed or duplicated entry.
    """
    words: list[tuple[str, int]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        words.extend((w, lineno) for w in line.split("#", 1)[0].split())
    per = 3 + _NP
    if len(words) % per:
        last = words[(len(words) // per) * per]
        raise UserError(
            f"tersoff file: incomplete entry starting at line {last[1]} ({last[0]!r}); every entry "
            f"needs 3 element names and {_NP} numbers"
        )
    table: dict[tuple[str, str, str], tuple[float, ...]] = {}
    for start in range(0, len(words), per):
        chunk = words[start : start + per]
        key = tuple(w for w, _ in chunk[:3])
        line = chunk[0][1]
        try:
            vals = tuple(float(w) for w, _ in chunk[3:])
        except ValueError as err:
            raise UserError(
                f"tersoff file: entry {' '.join(key)} (line {line}) has a non-numeric parameter: {err}"
            ) from None
        if any(_is_number(e) for e in key):
            raise UserError(
                f"tersoff file: entry at line {line} should start with 3 element names, got {key}"
            )
        if key in table:
            raise UserError(f"tersoff file: duplicate entry {' '.join(key)} (line {line})")
        table[key] = vals
    return table


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _validate(key: tuple[str, str, str], v: Sequence[float]) -> None:
    p = dict(zip(TERSOFF_PARAMETERS, v))
    name = " ".join(key)
    if p["m"] not in (1.0, 3.0):
        raise UserError(f"tersoff entry {name}: m must be 1 or 3, got {p['m']}")
    for q in ("gamma", "c", "d", "n", "beta", "lambda2", "B", "R", "D", "lambda1", "A"):
        if not np.isfinite(p[q]) or p[q] < 0:
            raise UserError(f"tersoff entry {name}: {q} must be finite and non-negative, got {p[q]}")
    if p["D"] > p["R"]:
        raise UserError(f"tersoff entry {name}: D ({p['D']}) must not exceed R ({p['R']})")
    if p["R"] + p["D"] <= 0:
        raise UserError(f"tersoff entry {name}: R + D must be positive")
    if key[1] == key[2] and p["n"] <= 0 and p["beta"] > 0:
        raise UserError(f"tersoff entry {name}: n must be positive for a two-body (i j j) entry")


# -- the potential ----------------------------------------------------------------------------


def tersoff(
    table: Mapping[tuple[str, str, str], Sequence[float] | Mapping[str, float]],
    species: Sequence[str],
    *,
    name: str = "Tersoff",
    citation: str = "",
) -> Potential:
    """A multi-species Tersoff :class:`Potential` from a parameter table.

    Args:
      table: ``{(e1, e2, e3): params}`` with ``params`` 14 numbers in :data:`TERSOFF_PARAMETERS`
        order or a mapping by those names; it must hold every ordered triplet of ``species``
        (other entries are ignored).
      species: the elements, in the order the potential indexes them.
      name, citation: metadata.
    """
    species = tuple(str(s) for s in species)
    if not species:
        raise UserError("species: give at least one element")
    if len(set(species)) != len(species):
        raise UserError(f"species: duplicated element in {species}")
    ns = len(species)
    p3 = np.zeros((ns, ns, ns, _NP))
    missing = []
    for a, ea in enumerate(species):
        for b, eb in enumerate(species):
            for c, ec in enumerate(species):
                key = (ea, eb, ec)
                if key not in table:
                    missing.append(" ".join(key))
                    continue
                v = table[key]
                if isinstance(v, Mapping):
                    unknown = set(v) - set(TERSOFF_PARAMETERS)
                    absent = set(TERSOFF_PARAMETERS) - set(v)
                    if unknown or absent:
                        raise UserError(
                            f"tersoff entry {' '.join(key)}: unknown {sorted(unknown)} / missing "
                            f"{sorted(absent)} parameters; expected {TERSOFF_PARAMETERS}"
                        )
                    v = [v[q] for q in TERSOFF_PARAMETERS]
                v = np.asarray(v, dtype=np.float64)
                if v.shape != (_NP,):
                    raise UserError(
                        f"tersoff entry {' '.join(key)}: expected {_NP} parameters, got shape {v.shape}"
                    )
                _validate(key, v)
                p3[a, b, c] = v
    if missing:
        raise UserError(
            f"tersoff: the parameter table lacks the entries {missing} needed for species {species}"
        )

    col = {q: p3[..., i] for q, i in _IDX.items()}
    for q in ("A", "lambda1", "R", "D"):
        m2 = col[q][:, np.arange(ns), np.arange(ns)]  # (i, j, j) entries
        if not np.allclose(m2, m2.T, rtol=1e-12, atol=0.0):
            warnings.warn(
                f"tersoff: the repulsive parameter {q} of the (i, j, j) and (j, i, i) entries differ; "
                "each atom of a pair gets half of the repulsion with its own entry (LAMMPS uses one of "
                "the two, chosen by atom order)",
                stacklevel=2,
            )
            break
    cutoff = float(np.max(col["R"] + col["D"]))

    # Two-body parameters of the (i, j, j) entries, shape (ns, ns); three-body ones (ns, ns, ns).
    diag = np.arange(ns)
    params = {f"{q}_2": col[q][:, diag, diag] for q in _TWO_BODY}
    params.update({f"{q}_3": col[q] for q in _THREE_BODY})
    return Potential(
        terms=(Term(params=params, cutoff=cutoff, site_fn=_tersoff_site),),
        name=name,
        species=species,
        units="metal",
        dims=(3,),
        citation=citation,
    )


_TWO_BODY = ("n", "beta", "lambda2", "B", "R", "D", "lambda1", "A")
_THREE_BODY = ("m", "gamma", "lambda3", "c", "d", "costheta0", "R", "D")


def _tersoff_site(p, dr, mask, si, sj):
    """Site energy of atom ``i`` (module level: one compiled form for every parameter set)."""
    k = dr.shape[0]
    r2 = jnp.sum(dr * dr, axis=-1)
    r = jnp.sqrt(jnp.where(r2 > 0.0, r2, 1.0))  # padded slots are far, never 0; guard anyway
    # -- two-body, (i, j, j) parameters
    fc_ij = _fc(r, p["R_2"][si, sj], p["D_2"][si, sj])
    f_rep = p["A_2"][si, sj] * jnp.exp(-p["lambda1_2"][si, sj] * r)
    f_att = -p["B_2"][si, sj] * jnp.exp(-p["lambda2_2"][si, sj] * r)
    # -- three-body, (i, j, k) parameters; rows j, columns k
    sjj, skk = sj[:, None], sj[None, :]
    m = p["m_3"][si, sjj, skk]
    lam3 = p["lambda3_3"][si, sjj, skk]
    c2 = p["c_3"][si, sjj, skk] ** 2
    d2 = p["d_3"][si, sjj, skk] ** 2
    h = p["costheta0_3"][si, sjj, skk]
    gamma = p["gamma_3"][si, sjj, skk]
    unit = dr / r[:, None]
    cos = unit @ unit.T
    g = gamma * (1.0 + c2 / d2 - c2 / (d2 + (h - cos) ** 2))
    x = lam3 * (r[:, None] - r[None, :])
    arg = jnp.clip(jnp.where(m == 3.0, x * x * x, x), -_EXP_ARG_MAX, _EXP_ARG_MAX)
    fc_ik = _fc(r[None, :], p["R_3"][si, sjj, skk], p["D_3"][si, sjj, skk])
    use = mask[:, None] & mask[None, :] & ~jnp.eye(k, dtype=bool)
    zeta = jnp.sum(jnp.where(use, fc_ik * g * jnp.exp(arg), 0.0), axis=1)
    # -- bond order (1 + (beta zeta)^n)^(-1/2n), = 1 below LAMMPS's threshold (2 n 1e-16)^(1/n)
    n = p["n_2"][si, sj]
    has_n = n > 0.0
    n_safe = jnp.where(has_n, n, 1.0)
    small = jnp.where(has_n, (2.0 * n_safe * 1e-16) ** (1.0 / n_safe), jnp.inf)
    t = p["beta_2"][si, sj] * zeta
    big = t > small
    ts = jnp.where(big, t, 1.0)
    b = jnp.where(big, (1.0 + ts**n_safe) ** (-0.5 / n_safe), 1.0)
    e = fc_ij * (f_rep + b * f_att)
    return 0.5 * jnp.sum(jnp.where(mask, e, 0.0))


def _fc(r, R, D):
    """Tersoff's switching function (C1 at R - D and R + D)."""
    ds = jnp.where(D > 0.0, D, 1.0)
    mid = 0.5 - 0.5 * jnp.sin(0.5 * jnp.pi * (r - R) / ds)
    return jnp.where(r < R - D, 1.0, jnp.where(r > R + D, 0.0, mid))


# -- public constructors ----------------------------------------------------------------------


def read_tersoff_file(
    path_or_text: str | os.PathLike,
    species: Sequence[str],
    *,
    name: str | None = None,
    citation: str | None = None,
) -> Potential:
    """A Tersoff :class:`Potential` for ``species`` from a LAMMPS ``.tersoff`` file.

    ``path_or_text`` is a file path or the file's text itself (anything with a line break is taken
    as text). Only the entries for ordered triplets of ``species`` are used; all of those must be
    present. The citation defaults to the file header's ``CITATION:`` field when there is one.
    """
    if isinstance(path_or_text, os.PathLike) or (
        isinstance(path_or_text, str) and "\n" not in path_or_text
    ):
        path = os.fspath(path_or_text)
        text = read_text(path, "a LAMMPS .tersoff file", field="path_or_text")
        label = os.path.basename(path)
    elif isinstance(path_or_text, str):
        path, text, label = None, path_or_text, "text"
    else:
        raise TypeError(f"path_or_text: expected a path or the file text, got {type(path_or_text).__name__}")
    if citation is None:
        found = re.search(r"CITATION:\s*(.+)", text)
        citation = found.group(1).strip() if found else ""
    try:
        return tersoff(
            parse_tersoff(text),
            species,
            name=name if name is not None else f"Tersoff ({label})",
            citation=citation,
        )
    except UserError as err:  # a broken file: name it
        if path is None:
            raise
        raise UserError(f"{path}: {err}; fix the file (LAMMPS .tersoff format)",
                        field="path_or_text") from err


def lindsay_broido_carbon() -> Potential:
    """Carbon Tersoff of Lindsay & Broido, PRB 81, 205441 (2010), species ``("C",)``.

    m=3, gamma=1, lambda3=0, c=38049, d=4.3484, h=-0.930, n=0.72751, beta=1.5724e-7,
    lambda2=2.2119 1/Å, B=430.0 eV, R=1.95 Å, D=0.15 Å, lambda1=3.4879 1/Å, A=1393.6 eV.
    Graphene: -7.977702 eV/atom at a = 2.49205 Å (LAMMPS with ``BNC.tersoff``).
    """
    return tersoff(
        {("C", "C", "C"): _LINDSAY_BROIDO},
        ("C",),
        name="Tersoff (Lindsay-Broido 2010 carbon)",
        citation=CITATION_LINDSAY_BROIDO,
    )


def tersoff_sic_1989(species: Sequence[str] = ("Si", "C")) -> Potential:
    """Tersoff's 1989 Si-C potential (PRB 39, 5566; erratum PRB 41, 3248), LAMMPS ``SiC.tersoff``.

    Diamond Si -4.63 eV/atom (a = 5.432 Å), diamond C -7.371 eV/atom (a = 3.566 Å), 3C-SiC
    -6.163788 eV/atom at a = 4.32117 Å (LAMMPS). ``species`` may be ``("Si",)``, ``("C",)`` or both,
    in any order.
    """
    return tersoff(
        parse_tersoff(SIC_TERSOFF_1989),
        species,
        name="Tersoff (1989 Si-C)",
        citation=CITATION_TERSOFF_SIC,
    )
