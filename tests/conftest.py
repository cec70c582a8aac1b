import os
from types import SimpleNamespace

import pytest
from _toy import toy_crystal, toy_generate

import jaxglass
from jaxglass import data
from jaxglass.data import records

# Hessians, eigenproblems and finite-difference references need float64.
jaxglass.enable_x64()
# CLI calls in tests do not write JAX's persistent compilation cache into the user's cache directory
# (tests/test_cli_pdos.py sets JAXGLASS_COMPILE_CACHE to a tmp dir where it tests the cache).
os.environ.setdefault("JAXGLASS_COMPILE_CACHE", "0")


@pytest.fixture
def toy_family(monkeypatch):
    """Replace every dataset family by the fast toy 2D KA generator (instant quench)."""
    fam = SimpleNamespace(generate=toy_generate, crystal=toy_crystal)
    monkeypatch.setattr(records, "_family", lambda system: fam)
    return fam


@pytest.fixture
def toy(toy_family):
    return data.DatasetConfig.make("lj2d", 4, n_atoms=64, n_freq=240, n_r=60, r_max=2.5)
