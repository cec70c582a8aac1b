"""Potentials from specs and files, and the three LJ cut-off treatments against independent numpy
implementations of the LAMMPS formulas (energy, forces; Hessian against finite differences of the
numpy forces)."""

from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass.cli import _common as cli
from jaxglass.generate.lattices import triangular, zincblende
from jaxglass.hessian import hessian
from jaxglass.potentials import (
    SPEC_FORMS,
    from_spec,
    read_setfl,
    tersoff_sic_1989,
    vashishta_sic_2007,
)
from jaxglass.potentials.base import energy, forces
from jaxglass.potentials.tersoff import SIC_TERSOFF_1989
from jaxglass.potentials.vashishta import SIC_VASHISHTA_2007
from jaxglass.structure import make_structure

SETFL = Path(__file__).resolve().parents[2] / "shared/potentials/ZrCuAl2011.eam.alloy"
EPS = np.array([[1.0, 1.5], [1.5, 0.5]])
SIG = np.array([[1.0, 0.8], [0.8, 0.88]])


# -- numpy reference: LAMMPS formulas (lj/cut + shift yes, lj/smooth/linear) and jaxglass's C² form
def _phi(r, e, s):
    return 4 * e * ((s / r) ** 12 - (s / r) ** 6)


def _dphi(r, e, s):
    return 4 * e * (-12 * s**12 / r**13 + 6 * s**6 / r**7)


def _d2phi(r, e, s):
    return 4 * e * (156 * s**12 / r**14 - 42 * s**6 / r**8)


def _pair(kind, r, e, s, rc):
    if kind == "shift":
        return _phi(r, e, s) - _phi(rc, e, s), _dphi(r, e, s)
    if kind == "linear":
        return _phi(r, e, s) - _phi(rc, e, s) - (r - rc) * _dphi(rc, e, s), _dphi(r, e, s) - _dphi(rc, e, s)
    x = r - rc
    en = _phi(r, e, s) - _phi(rc, e, s) - x * _dphi(rc, e, s) - 0.5 * x * x * _d2phi(rc, e, s)
    return en, _dphi(r, e, s) - _dphi(rc, e, s) - x * _d2phi(rc, e, s)


def _np_energy_forces(kind, pos, sp, box, ratio=2.5):
    """All pairs i < j, explicit minimum image (vectorised numpy)."""
    i, j = np.triu_indices(len(pos), 1)
    d = pos[j] - pos[i]
    d -= box * np.round(d / box)
    r = np.linalg.norm(d, axis=1)
    e, s = EPS[sp[i], sp[j]], SIG[sp[i], sp[j]]
    inside = r < ratio * s
    en, de = _pair(kind, r[inside], e[inside], s[inside], ratio * s[inside])
    fij = (de / r[inside])[:, None] * d[inside]  # F_i = -dE/dx_i = +φ'(r) d/r
    f = np.zeros_like(pos)
    np.add.at(f, i[inside], fij)
    np.add.at(f, j[inside], -fij)
    return float(en.sum()), f


@pytest.fixture(scope="module")
def ka2d():
    lat = triangular(1.05, (6, 3))  # 36 atoms, box 6.3 × 5.46 σ (> 2 × 2.5 σ)
    rng = np.random.default_rng(3)
    pos = np.asarray(lat.positions) + 0.08 * rng.standard_normal((36, 2))
    return make_structure(pos, rng.choice(["A", "B"], 36, p=[0.65, 0.35]), np.asarray(lat.box),
                          species_names=("A", "B"))


@pytest.mark.parametrize("kind", ["shift", "linear", "c2"])
def test_lj_treatments_match_lammps_formulas(kind, ka2d):
    pot = from_spec(f"lj:{kind}")
    pos, box = np.asarray(ka2d.positions), np.asarray(ka2d.box)
    sp = np.asarray(ka2d.species)
    e_ref, f_ref = _np_energy_forces(kind, pos, sp, box)
    assert energy(pot, ka2d) == pytest.approx(e_ref, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(np.asarray(forces(pot, ka2d)), f_ref, rtol=0, atol=1e-10)
    # Hessian vs central differences of the numpy forces (step 1e-5 σ): -dF/dx
    h, H_fd = 1e-5, np.zeros((pos.size, pos.size))
    for k in range(pos.size):
        dp = np.zeros(pos.size)
        dp[k] = h
        fp = _np_energy_forces(kind, pos + dp.reshape(pos.shape), sp, box)[1]
        fm = _np_energy_forces(kind, pos - dp.reshape(pos.shape), sp, box)[1]
        H_fd[:, k] = -(fp - fm).ravel() / (2 * h)
    H = np.asarray(hessian(pot, ka2d))
    np.testing.assert_allclose(H, H_fd, rtol=0, atol=1e-6 * np.abs(H).max())


def test_lj_cutoff_continuity():
    # at r_c: shift keeps only E continuous, linear E and F, c2 E, F and the force constant
    rc = 2.5
    for kind, smooth in [("shift", 0), ("linear", 1), ("c2", 2)]:
        pot = from_spec(f"lj:{kind}")
        d = 1e-4
        vals = [float(pot.terms[0].pair_energy(jnp.asarray(rc - k * d), 0, 0)) for k in (1, 2, 3)]
        first = (vals[0] - 0.0) / d  # one-sided slope into the cutoff
        curv = (vals[2] - 2 * vals[1] + vals[0]) / d**2
        assert abs(vals[0]) < 1e-3
        assert (abs(first) < 1e-3) == (smooth >= 1)
        assert (abs(curv) < 1e-2) == (smooth >= 2)
    assert from_spec("lj:shift:3.0").terms[0].cutoff == pytest.approx(3.0)
    assert from_spec("ka").name == from_spec("lj:c2").name == "Kob-Andersen LJ"


def test_tersoff_and_vashishta_files_equal_builtins(tmp_path):
    s = zincblende(4.36, (2, 2, 2))
    s = s.with_positions(s.positions + 0.03 * np.random.default_rng(0).standard_normal(s.positions.shape))
    (tmp_path / "SiC.tersoff").write_text(SIC_TERSOFF_1989)
    (tmp_path / "SiC.vashishta").write_text(SIC_VASHISHTA_2007)
    for spec, ref in [
        (f"tersoff:{tmp_path}/SiC.tersoff:Si,C", tersoff_sic_1989()),
        (f"tersoff:{tmp_path}/SiC.tersoff", tersoff_sic_1989()),
        (f"vashishta:{tmp_path}/SiC.vashishta:Si,C", vashishta_sic_2007()),
    ]:
        pot = from_spec(spec)
        assert set(pot.species) == {"Si", "C"}
        assert energy(pot, s) == pytest.approx(energy(ref, s), rel=1e-13)
    with pytest.raises(ValueError, match="element names"):
        from_spec(f"vashishta:{tmp_path}/SiC.vashishta:Si;C")


def test_setfl_element_order():
    if not SETFL.is_file():
        pytest.skip(f"{SETFL} not present")
    s = make_structure(
        np.random.default_rng(1).uniform(0, 9.0, (40, 3)), ["Cu", "Zr"] * 20, 9.0, min_distance=None
    )
    pot = from_spec(f"setfl:{SETFL}:Cu,Zr")
    assert pot.species == ("Cu", "Zr") and pot.masses == {"Cu": 63.55, "Zr": 91.22}
    assert energy(pot, s) == pytest.approx(energy(read_setfl(SETFL), s), rel=1e-12)
    with pytest.raises(ValueError, match="missing \\['Fe'\\]"):
        from_spec(f"setfl:{SETFL}:Cu,Fe")
    with pytest.raises(ValueError, match="unknown to potential"):
        pot.check(make_structure([[0, 0, 0.0]], ["Al"], 20.0))


def test_unknown_spec_names_accepted_forms(tmp_path):
    with pytest.raises(ValueError) as err:
        from_spec("morse:1.0")
    for form in SPEC_FORMS:
        assert form in str(err.value)
    with pytest.raises(ValueError, match="not found"):
        from_spec(f"setfl:{tmp_path}/none.eam.alloy")
    with pytest.raises(ValueError, match="TREATMENT"):
        from_spec("lj:cubic")
    with pytest.raises(ValueError, match="positive"):
        from_spec("lj:shift:-1")
    with pytest.raises(ValueError, match="^--potential: potential spec: unknown"):
        cli.load_potential("nope")
