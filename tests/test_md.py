"""Langevin MD with on-device neighbour-list rebuilds, against the same integrator without any
neighbour list (every atom sees all others; the potential's cutoff does the rest): the
trajectories agree to round-off through many rebuilds, for a hot Kob-Andersen liquid, also with
pinned atoms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass.generate import lj
from jaxglass.md import nvt_langevin


def _reference(pot, s, kT, n_steps, dt, gamma, seed, mobile):
    """BAOAB (jax-md) with all pairs for every force (no neighbour list)."""
    from jax_md import simulate, space

    box = jnp.asarray(s.box)
    _, shift = space.periodic(box)
    mob = jnp.asarray(mobile)

    n = s.n_atoms
    others = np.array([[j for j in range(n) if j != i] for i in range(n)], np.int32)
    nb = (jnp.asarray(others),)

    def force(R, structure=None, **unused):
        g = jax.grad(lambda x: pot.energy(structure.with_positions(x), nb))(R)
        return jnp.where(mob[:, None], -g, 0.0)

    init_fn, step_fn = simulate.nvt_langevin(force, shift, dt, 0.0, gamma=gamma)
    R0 = jnp.asarray(s.positions)
    st = init_fn(jax.random.PRNGKey(seed), R0, mass=jnp.asarray(s.masses)[:, None], kT=kT, structure=s)
    st = st.set(momentum=jnp.where(mob[:, None], st.momentum, 0.0))
    for _ in range(n_steps):
        st = step_fn(st, kT=kT, structure=s)
        st = st.set(position=jnp.where(mob[:, None], st.position, R0),
                    momentum=jnp.where(mob[:, None], st.momentum, 0.0))
    return np.asarray(st.position)


@pytest.mark.parametrize("pinned", [False, True])
def test_device_rebuilds_match_exact_lists(pinned):
    s, _ = lj.lattice(3, 256)
    rng = np.random.default_rng(0)
    species = (rng.random(s.n_atoms) < 0.2).astype(np.int32)
    s = s.replace(species=jnp.asarray(species))
    mobile = np.ones(s.n_atoms, bool)
    if pinned:
        mobile[: s.n_atoms // 2] = False
    pot = lj.potential()
    kT, n_steps, dt, gamma = 2.0, 80, 0.005, 1.0  # hot: the 0.3 skin lasts a few steps
    md = nvt_langevin(pot, s, kT=kT, n_steps=n_steps, dt=dt, gamma=gamma, seed=3, mobile=mobile, skin=0.3,
                      chunk=16)
    assert md.n_rebuilds >= 3  # the lists were rebuilt on the device several times
    ref = _reference(pot, s, kT, n_steps, dt, gamma, 3, mobile)
    got = np.asarray(md.structure.positions)
    d = got - ref
    d -= np.asarray(s.box) * np.round(d / np.asarray(s.box))
    assert np.max(np.abs(d)) < 1e-8
    if pinned:
        np.testing.assert_array_equal(got[: s.n_atoms // 2], np.asarray(s.positions)[: s.n_atoms // 2])


def _random_structure(dim, n, density, seed):
    from jaxglass.structure import make_structure

    rng = np.random.default_rng(seed)
    box = np.full(dim, (n / density) ** (1 / dim))
    pos = rng.random((n, dim)) * box
    return make_structure(pos, np.zeros(n, np.int32), box, species_names=("A",), masses=np.ones(n),
                          min_distance=None)


@pytest.mark.parametrize("dim,n", [(3, 1500), (2, 700)])
def test_device_lists_equal_host_lists(dim, n):
    """Cell-list and all-pairs builds on the device hold exactly the host k-d tree's neighbours."""
    from jaxglass.neighbors import cell_grid, device_neighbor_fn, device_sublist_fn, neighbor_list

    s = _random_structure(dim, n, 1.2, dim)
    reach = 2.8
    ref = neighbor_list(s, 2.5, skin=0.3)
    cells = cell_grid(s.box, s.periodic, reach)
    assert cells is not None and min(cells) >= 3
    cap = ref.shape[1] + 8
    for kw in ({}, dict(cells=cells, cell_capacity=int(2 * n / np.prod(cells) + 8))):
        build = jax.jit(device_neighbor_fn(s.box, s.periodic, reach, cap, **kw))
        idx, count = build(jnp.asarray(s.positions))
        assert int(count) == int(np.max(np.sum(ref < n, axis=1)))
        np.testing.assert_array_equal(np.sort(np.asarray(idx), axis=1)[:, : ref.shape[1]], ref)
    # an overflowing list is reported, not silently truncated
    _, count = jax.jit(device_neighbor_fn(s.box, s.periodic, reach, 8))(jnp.asarray(s.positions))
    assert int(count) > 8
    # a shorter list filtered from it holds exactly the host list's neighbours, overflow reported too
    short = neighbor_list(s, 1.7)
    for cap in (short.shape[1] + 4, 2):
        sub, count = jax.jit(device_sublist_fn(s.box, s.periodic, 1.7, cap))(jnp.asarray(s.positions), idx)
        assert int(count) == int(np.max(np.sum(short < n, axis=1))) and (cap > 2) == (int(count) <= cap)
        if cap > 2:
            np.testing.assert_array_equal(np.sort(np.asarray(sub), axis=1)[:, : short.shape[1]], short)


@pytest.mark.parametrize("vectorize", [True, False])
def test_batched_replicas_match_single_runs(vectorize):
    """Replicas stepped in one program, vectorised (vmap, shared rebuilds) or in turn, follow their
    single-structure trajectories."""
    from jaxglass.md import nvt_langevin_batch

    s, _ = lj.lattice(3, 256)
    rng = np.random.default_rng(1)
    reps = [s.replace(species=jnp.asarray((rng.random(s.n_atoms) < 0.2).astype(np.int32))) for _ in range(2)]
    mobile = [np.ones(s.n_atoms, bool), rng.random(s.n_atoms) < 0.7]
    kw = dict(kT=1.5, n_steps=60, dt=0.005, gamma=1.0, skin=0.3, chunk=20)
    batch = nvt_langevin_batch(lj.potential(), reps, seeds=[5, 9], mobile=mobile, vectorize=vectorize, **kw)
    for b, (r, m, seed) in enumerate(zip(reps, mobile, [5, 9])):
        one = nvt_langevin(lj.potential(), r, seed=seed, mobile=m, **kw)
        d = np.asarray(batch[b].structure.positions) - np.asarray(one.structure.positions)
        d -= np.asarray(s.box) * np.round(d / np.asarray(s.box))
        assert np.max(np.abs(d)) < 1e-9
        assert abs(batch[b].kinetic_kT - one.kinetic_kT) < 1e-9


def test_float32_stage_same_ensemble():
    """A float32 MD stage samples the same liquid as float64: mean potential energy and kinetic
    temperature of 4 replicas (KA 3D, 256 atoms, kT 1.0) agree within their statistical error."""
    from jaxglass.md import nvt_langevin_batch
    from jaxglass.potentials.base import energy

    s, _ = lj.lattice(3, 256)
    rng = np.random.default_rng(2)
    s = s.replace(species=jnp.asarray((rng.random(s.n_atoms) < 0.2).astype(np.int32)))
    kw = dict(kT=1.0, n_steps=200, dt=0.005, gamma=1.0, skin=0.3, chunk=100)
    stats = {}
    for prec in ("float64", "float32"):
        out = nvt_langevin_batch(lj.potential(), [s] * 4, seeds=range(4), precision=prec, **kw)
        assert out[0].structure.positions.dtype == jnp.float64
        e = np.array([energy(lj.potential(), o.structure) / s.n_atoms for o in out])
        t = np.array([o.kinetic_kT for o in out])
        stats[prec] = (e.mean(), e.std(ddof=1) / np.sqrt(len(e)), t.mean(), t.std(ddof=1) / np.sqrt(len(t)))
    (e64, se64, t64, st64), (e32, se32, t32, st32) = stats["float64"], stats["float32"]
    assert abs(e64 - e32) < 4 * np.hypot(se64, se32) + 1e-3
    assert abs(t64 - t32) < 4 * np.hypot(st64, st32) + 1e-3
    assert abs(t64 - 1.0) < 0.1


def test_vashishta_filtered_lists_match_exact_lists(monkeypatch):
    """A Vashishta SiC (two-body part cut at 4.5 Å for a 216-atom cell; three-body r0 = 2.9 Å for
    Si-C pairs) heated from a perturbed crystal: the engine filters the three-body list from the
    two-body one at each rebuild and the Si-C slots inside 2.9 Å from it at each step; the trajectory
    equals BAOAB with exact host lists built for every force, through a sub-list overflow (detected,
    widened, chunk re-run)."""
    from jax_md import simulate

    import jaxglass.md as md_mod
    from jaxglass.generate import sic, zincblende
    from jaxglass.neighbors import neighbor_list
    from jaxglass.potentials.vashishta import SIC_VASHISHTA_2007, for_md, parse_vashishta, vashishta
    from jaxglass.space import wrap
    from jaxglass.units import KB_EV, METAL_TIME_FS

    table = {k: v[:8] + (4.5 if v[8] else 0.0,) + v[9:]
             for k, v in parse_vashishta(SIC_VASHISHTA_2007, sic.SPECIES).items()}
    pot = for_md(vashishta(table, sic.SPECIES))  # the two-body part on tables, as in MD stages
    s = zincblende(sic.A_VASHISHTA, (3, 3, 3), sic.SPECIES)
    rng = np.random.default_rng(0)
    s = s.with_positions(jnp.asarray(np.asarray(s.positions) + 0.1 * rng.standard_normal((s.n_atoms, 3))))
    kT, n_steps, dt, gamma, seed = KB_EV * 8000, 60, 1.0 / METAL_TIME_FS, 0.1 * METAL_TIME_FS, 1
    layout = md_mod._layout([s], pot, 0.3, "auto")
    assert pot.terms[1].pair_cutoffs == ((0.0, 2.9), (2.9, 0.0))  # Si-centred: C legs only, and back
    assert layout.source == (None, 0) and layout.step_reaches == (None, pot.terms[1].pair_cutoffs)
    assert layout.step_capacity[1] < layout.capacity[1]
    inside = md_mod._count_inside(s, pot, pot.terms[1])
    assert inside == 4 < int(np.max(np.sum(neighbor_list(s, 2.9) < s.n_atoms, axis=1)))  # Si-C legs only
    # size the sub-list for 3 legs (width 4: the crystal's 4 just fit), so that it overflows in a chunk
    monkeypatch.setattr(md_mod, "_count_inside", lambda *args: 3)
    widened = []
    wider = md_mod._Layout.wider
    monkeypatch.setattr(md_mod._Layout, "wider", lambda self: widened.append(self) or wider(self))
    got = nvt_langevin(pot, s, kT=kT, n_steps=n_steps, dt=dt, gamma=gamma, seed=seed, skin=0.3, chunk=20)
    assert got.n_rebuilds >= 3 and widened  # rebuilt, and a sub-list overflowed and was widened

    box = jnp.asarray(s.box)
    shift = lambda R, dR: wrap(R + dR, box, s.periodic)  # noqa: E731
    forces = jax.jit(pot.forces)

    def force(R):
        x = s.with_positions(R)
        return forces(x, tuple(jnp.asarray(neighbor_list(x, t.cutoff)) for t in pot.terms))

    init_fn, _ = simulate.nvt_langevin(jnp.zeros_like, shift, dt, 0.0, gamma=gamma)  # force set below
    R0 = jnp.asarray(wrap(np.asarray(s.positions), np.asarray(s.box), s.periodic))
    st = init_fn(jax.random.PRNGKey(seed), R0, mass=jnp.asarray(s.masses)[:, None], kT=kT)
    st = st.set(force=force(R0))
    half = jax.jit(lambda st: simulate.position_step(simulate.momentum_step(st, dt / 2), shift, dt / 2))
    rest = jax.jit(lambda st: simulate.position_step(simulate.stochastic_step(st, dt, kT, gamma), shift,
                                                     dt / 2))
    kick = jax.jit(lambda st, f: simulate.momentum_step(st.set(force=f), dt / 2))
    for _ in range(n_steps):
        st = rest(half(st))
        st = kick(st, force(st.position))
    d = np.asarray(got.structure.positions) - np.asarray(st.position)
    d -= np.asarray(s.box) * np.round(d / np.asarray(s.box))
    assert np.max(np.abs(d)) < 1e-8


@pytest.mark.parametrize("pad", [0, 3])
def test_pair_forces_blocked_equal_one_pass(monkeypatch, pad):
    """On a CPU a pair force sums its list slots in blocks (``potentials.base.pair_term_forces``):
    equal to the one-pass sum and to -dE/dx to round-off, for a (padded) list width that is a
    multiple of the block (``pad`` 0) and one that is not (3 more padding columns: one pass); the
    energy carried along (``with_energy``) equals :meth:`Potential.energy`."""
    import jaxglass.potentials.base as base
    from jaxglass.neighbors import neighbor_list

    s, _ = lj.lattice(3, 256)
    rng = np.random.default_rng(3)
    s = s.replace(species=jnp.asarray((rng.random(s.n_atoms) < 0.2).astype(np.int32)))
    s = s.with_positions(jnp.asarray(np.asarray(s.positions) + 0.05 * rng.standard_normal((s.n_atoms, 3))))
    pot = lj.potential()
    idx = np.asarray(neighbor_list(s, pot.terms[0].cutoff))
    k = int(np.ceil(max(idx.shape[1], base.PAIR_BLOCKED_WIDTH) / 8) * 8) + pad  # wide enough for blocks
    idx = np.pad(idx, ((0, 0), (0, k - idx.shape[1])), constant_values=s.n_atoms)
    nb = (jnp.asarray(idx),)
    sp = jnp.asarray(pot.species_map(s))[s.species]

    def pair_fn():  # a new function per use: traces are cached per function
        return lambda structure: base.pair_term_forces(pot.terms[0], structure, nb[0], sp, True)

    e_blocked, blocked = pair_fn()(s)
    assert abs(float(e_blocked) - float(pot.energy(s, nb))) < 1e-12 * abs(float(pot.energy(s, nb)))
    assert ("scan" in str(jax.make_jaxpr(pair_fn())(s))) == (pad == 0)  # blocks only for a multiple of 8
    grad = -np.asarray(jax.grad(lambda x: pot.energy(s.with_positions(x), nb))(s.positions))
    monkeypatch.setattr(base, "PAIR_SLOT_BLOCK", 10**6)
    assert "scan" not in str(jax.make_jaxpr(pair_fn())(s))
    e_one, one_pass = pair_fn()(s)
    assert abs(float(e_one) - float(e_blocked)) < 1e-12 * abs(float(e_blocked))
    scale = np.max(np.abs(grad))
    assert np.max(np.abs(blocked - one_pass)) < 1e-12 * scale
    assert np.max(np.abs(blocked - grad)) < 1e-12 * scale
    assert np.max(np.abs(np.asarray(pot.forces(s, nb)) - grad)) < 1e-12 * scale
