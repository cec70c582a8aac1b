"""The one mass table (jaxglass._masses.ATOMIC_MASSES) against ase's default table."""

import numpy as np
import pytest

ase_data = pytest.importorskip("ase.data")
import ase  # noqa: E402

from jaxglass.structure import ATOMIC_MASSES, default_masses, make_structure  # noqa: E402


def test_table_equals_ase_atomic_masses():
    assert len(ATOMIC_MASSES) == 118
    for sym, m in ATOMIC_MASSES.items():
        assert m == ase_data.atomic_masses[ase_data.atomic_numbers[sym]], sym
    assert ATOMIC_MASSES["Si"] == 28.085  # IUPAC 2016 (ase default); 28.0855 is ase's legacy table


def test_structures_get_ase_masses():
    names = ["Si", "C", "Cu", "Zr", "Al"]
    s = make_structure(np.arange(15.0).reshape(5, 3) * 2.0, names, 30.0)
    np.testing.assert_array_equal(np.asarray(s.masses), ase.Atoms(names).get_masses())
    np.testing.assert_array_equal(default_masses(("A", "B")), [1.0, 1.0])  # Lennard-Jones types
    assert default_masses(("B", "N"))[0] == ase_data.atomic_masses[5]  # boron when no LJ type "A"
