from types import SimpleNamespace

import numpy as np
import pytest

import jaxglass
from jaxglass import data
from jaxglass.generate import random_packing, triangular
from jaxglass.generate.base import Generated, check_knob
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen

# Hessians, eigenproblems and finite-difference references need float64.
jaxglass.enable_x64()


def _toy_generate(n_atoms, knob, seed, *, size="small"):
    """A fast 2D KA 'glass': random packing quenched instantly; knob = B fraction / 0.35."""
    check_knob(knob, size)
    xb = 0.35 * knob
    s = random_packing(
        n_atoms, 1.2, 2, {"A": 1 - xb, "B": xb} if xb > 0 else {"A": 1.0}, min_distance=0.7, seed=seed
    )
    res = minimize(kob_andersen(), s, fmax=1e-6)
    return Generated(
        res.structure, kob_andersen(), knob, {"x_B": xb}, dict(fmax=res.fmax, fmax_tol=1e-6, seed=seed)
    )


def _toy_crystal(n_atoms, *, size="small"):
    a = np.sqrt(2 / (np.sqrt(3) * 1.2))
    s = triangular(a, (8, 4) if n_atoms <= 64 else (10, 6), species="A")
    return Generated(s, kob_andersen(), 0.0, {"x_B": 0.0}, dict(fmax=0.0, fmax_tol=1e-6))


@pytest.fixture
def toy_family(monkeypatch):
    """Replace every dataset family by the fast toy 2D KA generator (instant quench)."""
    fam = SimpleNamespace(generate=_toy_generate, crystal=_toy_crystal)
    monkeypatch.setattr(data, "_family", lambda system: fam)
    return fam


@pytest.fixture
def toy(toy_family):
    return data.DatasetConfig.make("lj2d", 4, n_atoms=64, n_freq=240, n_r=60, r_max=2.5)
