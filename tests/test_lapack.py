"""Two-stage values-only eigensolver (``jaxglass._lapack``) against scipy's ``dsyevd``."""

import numpy as np
import pytest
import scipy.linalg as sl

from jaxglass import _lapack, phonons
from jaxglass.generate import graphene
from jaxglass.potentials import lindsay_broido_carbon

pytestmark = pytest.mark.skipif(
    not _lapack.two_stage_available(), reason="no bundled OpenBLAS with dsyevd_2stage"
)


@pytest.mark.parametrize("order", ["C", "F"])
def test_eigvalsh_2stage_equals_evd(order):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 300))
    a = np.array(a + a.T, order=order)
    ref = sl.eigh(a, eigvals_only=True, driver="evd")
    w = _lapack.eigvalsh_2stage(a)
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    np.testing.assert_array_equal(a, np.array(a, order=order))  # not overwritten by default
    w2 = _lapack.eigvalsh_2stage(a.copy(order=order), overwrite_a=True)
    np.testing.assert_allclose(w2, ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    assert _lapack.eigvalsh_2stage(np.zeros((0, 0))).shape == (0,)
    with pytest.raises(ValueError, match="square"):
        _lapack.eigvalsh_2stage(np.zeros((3, 4)))


def test_modes_values_only_uses_it_and_matches_vectors_route(monkeypatch):
    s = graphene(2.49205, (2, 3))
    pot = lindsay_broido_carbon()
    full = phonons.modes(pot, s)  # dsyevd with vectors
    calls = []
    orig = _lapack.eigvalsh_2stage
    monkeypatch.setattr(_lapack, "eigvalsh_2stage", lambda *a, **k: calls.append(1) or orig(*a, **k))
    vals = phonons.modes(pot, s, eigenvectors=False)
    assert calls and vals.eigenvectors is None
    np.testing.assert_allclose(
        vals.eigenvalues, full.eigenvalues, atol=1e-10 * float(np.max(full.eigenvalues))
    )
    # fallback when the driver is missing: scipy's evd, same values
    monkeypatch.setattr(_lapack, "eigvalsh_2stage", lambda *a, **k: None)
    fb = phonons.modes(pot, s, eigenvectors=False)
    np.testing.assert_allclose(fb.eigenvalues, full.eigenvalues, atol=1e-10 * float(np.max(full.eigenvalues)))
