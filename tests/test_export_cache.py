"""Traced programs kept on disk (``jaxglass._export_cache``) and their use by ``jaxglass pdos``.

Reference: the same function under ``jax.jit`` in this process (results must be identical, not
merely close: the stored program is the traced one).
"""

import dataclasses
import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import _export_cache as ec
from jaxglass import cli
from jaxglass.generate import random_packing
from jaxglass.hessian import _hessian_jit, default_chunk
from jaxglass.potentials import kob_andersen

pytest.importorskip("flatbuffers")


@pytest.fixture(scope="module")
def ka():
    pot = kob_andersen()
    s = random_packing(48, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.8, seed=1)
    nb = tuple(jnp.asarray(i) for i in pot.neighbors(s))
    return pot, s, nb


def _hess(chunk, pot, s, nb):
    return _hessian_jit(pot, s, nb, chunk, True)


def test_program_is_stored_reused_and_exact(ka, tmp_path, monkeypatch):
    pot, s, nb = ka
    chunk = default_chunk(pot, nb, s.dim)
    fn = functools.partial(_hess, chunk)
    ref = np.asarray(jax.jit(fn)(pot, s, nb))
    H1 = np.asarray(ec.cached_call(tmp_path, "h", fn, pot, s, nb))
    files = list(tmp_path.glob("h-*.jaxexport"))
    assert len(files) == 1
    np.testing.assert_array_equal(H1, ref)

    # a second call must come from the file, not from tracing again
    def no_tracing(*a, **k):
        raise AssertionError("traced again although the program is stored")

    monkeypatch.setattr(ec, "_export", no_tracing)
    H2 = np.asarray(ec.cached_call(tmp_path, "h", fn, pot, s, nb))
    np.testing.assert_array_equal(H2, ref)
    # other positions, same shapes: the stored program computes at the new positions
    s2 = s.with_positions(s.positions + 0.01)
    np.testing.assert_array_equal(np.asarray(ec.cached_call(tmp_path, "h", fn, pot, s2, nb)),
                                  np.asarray(jax.jit(fn)(pot, s2, nb)))
    # other parameters (leaves), same form: still the stored program, with the new values
    pot2 = pot.with_params([{**pot.params[0], "epsilon": pot.params[0]["epsilon"] * 1.1}])
    np.testing.assert_allclose(np.asarray(ec.cached_call(tmp_path, "h", fn, pot2, s, nb)), 1.1 * ref,
                               rtol=1e-12, atol=1e-12)
    assert len(list(tmp_path.glob("h-*.jaxexport"))) == 1


def test_key_follows_shapes_and_static_form(ka, tmp_path):
    pot, s, nb = ka
    fn = lambda p, st, n: p.energy(st, n)  # noqa: E731 (the function is not part of the key)
    e1 = ec.cached_call(tmp_path, "e", fn, pot, s, nb)
    small = random_packing(32, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.8, seed=2)
    nb_small = tuple(jnp.asarray(i) for i in pot.neighbors(small))
    e2 = ec.cached_call(tmp_path, "e", fn, pot, small, nb_small)
    assert len(list(tmp_path.glob("e-*.jaxexport"))) == 2  # new shapes, new program
    assert float(e1) == float(jax.jit(fn)(pot, s, nb))
    assert float(e2) == float(jax.jit(fn)(pot, small, nb_small))
    # the key holds the tree structure (potential form, species, cutoffs), the shapes, the versions
    leaves, treedef = jax.tree.flatten((pot, s, nb))
    leaves = [jnp.asarray(x) for x in leaves]
    k = ec.program_key("e", treedef, leaves)
    assert k == ec.program_key("e", treedef, leaves) and len(k) == 32
    assert ec.program_key("other", treedef, leaves) != k
    assert ec.program_key("e", treedef, [jnp.zeros((3,))] + leaves[1:]) != k


def test_closures_are_not_cached_and_bad_files_are_replaced(ka, tmp_path):
    pot, s, nb = ka

    # a tree whose static data hold a local function (a user closure)
    Box = jax.tree_util.register_dataclass(
        dataclasses.make_dataclass(
            "Box", [("x", object), ("f", object, dataclasses.field(metadata=dict(static=True)))]
        ),
    )
    out = ec.cached_call(tmp_path, "c", lambda b: b.f(b.x), Box(jnp.arange(3.0), lambda v: 2 * v))
    np.testing.assert_array_equal(np.asarray(out), [0.0, 2.0, 4.0])
    assert not list(tmp_path.glob("c-*"))  # closures are never stored

    fn = lambda p, st, n: p.energy(st, n)  # noqa: E731
    ec.cached_call(tmp_path, "e", fn, pot, s, nb)
    (path,) = tmp_path.glob("e-*.jaxexport")
    path.write_bytes(b"not a program")
    e = ec.cached_call(tmp_path, "e", fn, pot, s, nb)
    assert float(e) == float(jax.jit(fn)(pot, s, nb))
    assert path.read_bytes() != b"not a program"  # replaced by a good program
    assert ec.cached_call(None, "e", fn, pot, s, nb) == e  # no directory: a plain call


def test_pdos_cli_reuses_programs(ka, tmp_path, monkeypatch):
    from jaxglass.minimize import minimize
    from jaxglass.structure import write

    pot, s, _ = ka
    res = minimize(pot, s, method="lbfgs", fmax=1e-6)
    path = tmp_path / "g.extxyz"
    write(str(path), res.structure)
    monkeypatch.setenv("JAXGLASS_COMPILE_CACHE", str(tmp_path / "cache"))
    outs = []
    for k in range(2):
        out = tmp_path / f"o{k}"
        assert cli.main(["pdos", str(path), "--potential", "ka", "--no-plot", "--out", str(out)]) == 0
        with np.load(out / "pdos.npz") as z:
            outs.append({n: z[n] for n in z.files})
        assert json.loads((out / "summary.json").read_text())["route"] == "dense"
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").rglob("programs/*.jaxexport"))
    assert names == ["dynamical", "energy_forces"]
    for n in outs[0]:
        np.testing.assert_array_equal(outs[0][n], outs[1][n])
    # against the library's own route (no cache) on the structure as read back from the file; the
    # three zero modes are sqrt(round-off) ~ 1e-7
    from jaxglass import phonons
    from jaxglass.structure import read

    ref = np.asarray(phonons.modes(pot, read(str(path))).frequencies)
    np.testing.assert_allclose(outs[0]["frequencies"][3:], ref[3:], rtol=1e-10)
    np.testing.assert_allclose(outs[0]["frequencies"][:3], ref[:3], atol=1e-6)
