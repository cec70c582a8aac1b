"""AMC generator (Stone-Wales switching of graphene), ring statistics and the box-relaxing minimiser.

References: LAMMPS LB Tersoff graphene a = 2.49205 Å, -7.977702 eV/atom (BNC.tersoff); ring counts
of perfect graphene and of one Stone-Wales defect (2 pentagons + 2 heptagons) by construction;
two independent ring algorithms (planar faces, shortest-path rings) checked against each other and
against the generator's own bond network.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxglass import phonons
from jaxglass.generate import amc, graphene
from jaxglass.minimize import minimize_with_box
from jaxglass.potentials import lindsay_broido_carbon

N = 128  # 8 x 4 rectangular graphene cells: small, and no ring can wrap around the box
KNOBS = (0.0, 0.5, 1.0)
A_LAMMPS = 2.49205
E_LAMMPS = -7.977702


def first_peak(s, sigma=0.02):
    """Height of the first peak of g(r): pair distances histogrammed with Gaussian bins of width
    ``sigma`` Å on a 1 mÅ grid (numpy), normalised in 2D by the in-plane area."""
    pos = np.asarray(s.positions)
    box = np.asarray(s.box)
    per = np.asarray(s.periodic)
    dr = pos[None] - pos[:, None]
    dr = np.where(per, dr - box * np.round(dr / box), dr)
    r = np.linalg.norm(dr, axis=-1)[np.triu_indices(len(pos), 1)]
    r = r[r < 2.0]
    grid = np.linspace(1.0, 2.0, 1001)
    n = len(pos)
    g = np.exp(-0.5 * ((grid[:, None] - r[None]) / sigma) ** 2).sum(1) / (np.sqrt(2 * np.pi) * sigma)
    g = 2 * g / (n * (n / (box[0] * box[1])) * 2 * np.pi * grid)
    return float(g.max())


@pytest.fixture(scope="module")
def series():
    return {k: amc.generate(N, k, 0) for k in KNOBS}


# -- minimize_with_box ------------------------------------------------------------------------


@pytest.mark.parametrize("a0,noise", [(2.45, 0.0), (2.55, 0.0), (2.55, 0.03)])
def test_box_relaxation_finds_graphene_lattice_constant(a0, noise):
    pot = amc.potential()
    g = graphene(a0, (3, 2))
    if noise:
        rng = np.random.default_rng(1)
        g = g.with_positions(g.positions + rng.normal(scale=noise, size=g.positions.shape))
    res = minimize_with_box(pot, g, fmax=1e-5)
    assert res.converged, res.message
    box = np.asarray(res.structure.box)
    assert box[0] / 3 == pytest.approx(A_LAMMPS, abs=1e-4)
    assert box[1] / (2 * np.sqrt(3.0)) == pytest.approx(A_LAMMPS, abs=1e-4)
    assert box[2] == pytest.approx(float(g.box[2]))  # vacuum kept
    assert res.energy / g.n_atoms == pytest.approx(E_LAMMPS, abs=2e-6)


def test_box_relaxation_balances_pressure():
    """At pressure P the relaxed cell has dE/d ln L_a = -P V (central differences at fixed fractions)."""
    pot = amc.potential()
    P = -2e-3  # tension, eV/Å^3 (times L_z = 20 Å: 0.04 eV/Å^2)
    res = minimize_with_box(pot, graphene(2.49, (3, 2)), fmax=1e-6, pressure=P)
    assert res.converged, res.message
    s = res.structure
    nb = pot.neighbors(s, skin=0.3)
    e = jax.jit(pot.energy)
    V = float(np.prod(np.asarray(s.box)))
    h = 1e-5
    for ax in (0, 1):
        sc = np.ones(3)
        sc[ax] = 1 + h
        up = s.replace(positions=s.positions * sc, box=s.box * sc)
        sc[ax] = 1 - h
        dn = s.replace(positions=s.positions * sc, box=s.box * sc)
        dE = (float(e(up, nb)) - float(e(dn, nb))) / (2 * h)
        assert dE == pytest.approx(-P * V, rel=1e-3)
    assert float(s.box[0]) / 3 > A_LAMMPS + 1e-3  # stretched by the tension


def test_box_relaxation_rejects_vacuum_axis():
    with pytest.raises(ValueError, match="not periodic"):
        minimize_with_box(lindsay_broido_carbon(), graphene(2.49, (3, 2)), axes=(0, 2))
    with pytest.raises(ValueError, match="axes"):
        minimize_with_box(lindsay_broido_carbon(), graphene(2.49, (3, 2)), axes=(0, 0))


# -- ring statistics ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["faces", "shortest_path"])
def test_graphene_rings_are_hexagons(method):
    g = graphene(A_LAMMPS, (8, 4))
    rs = amc.ring_statistics(g, method=method)
    assert rs["counts"][6] == rs["n_rings"] == N // 2
    assert rs["hexagon_fraction"] == 1.0
    assert rs["coordination"] == {3: N}


@pytest.mark.parametrize("method", ["faces", "shortest_path"])
def test_one_stone_wales_defect_gives_two_pentagons_two_heptagons(method):
    g = graphene(A_LAMMPS, (8, 4))
    i = 37
    j = int(amc._sheet_graph(g, 1.85)[0][i][0])
    sw = amc.stone_wales(g, (i, j))
    rs = amc.ring_statistics(sw, method=method)
    assert {k: v for k, v in rs["counts"].items() if v} == {5: 2, 6: N // 2 - 4, 7: 2}
    assert rs["coordination"] == {3: N}


def test_keating_proxy_matches_tersoff_biaxial_modulus():
    """Keating biaxial stiffness (9/4)(α+β)d² per atom equals LB Tersoff's (no internal relaxation)."""
    pot = amc.potential()
    g = graphene(A_LAMMPS, (3, 2))
    nb = pot.neighbors(g, skin=0.2)
    e = jax.jit(pot.energy)
    h = 2e-3

    def E(t):
        sc = jnp.array([t, t, 1.0])
        return float(e(g.replace(positions=g.positions * sc, box=g.box * sc), nb)) / g.n_atoms

    curv = (E(1 + h) - 2 * E(1.0) + E(1 - h)) / h**2
    keating = 2.25 * (amc.KEATING_ALPHA + amc.KEATING_BETA) * amc.BOND**2
    assert keating == pytest.approx(curv, rel=5e-3)


# -- the generator -----------------------------------------------------------------------------


def test_crystal_is_relaxed_graphene():
    c = amc.crystal(N)
    assert c.structure.n_atoms == N
    assert c.info["converged"] and c.info["fmax"] <= c.info["fmax_tol"]
    assert c.info["lattice_constant"] == pytest.approx(A_LAMMPS, abs=1e-4)
    assert c.info["energy_per_atom"] == pytest.approx(E_LAMMPS, abs=1e-5)
    assert c.knob_values["hexagon_fraction"] == 1.0


def test_relaxed_and_recorded(series):
    for k, G in series.items():
        info = G.info
        assert G.structure.n_atoms == N
        assert info["converged"] and info["fmax"] <= info["fmax_tol"], (k, info["minimizer_message"])
        assert G.structure.periodic == (True, True, False)
        kv = G.knob_values
        assert kv["K"] == max(1, round(amc.knob_to_switch_fraction(k) * N))
        assert kv["K_per_N"] == pytest.approx(kv["K"] / N)
        assert kv["kT_a"] == amc.PROTOCOLS["small"]["kT_a"]
        for key in ("seed", "size", "protocol", "wall_time", "timing", "ring_statistics"):
            assert key in info
        assert info["excess_energy_per_atom"] > 0
        assert kv["n_ring_other"] == 0 and kv["n_ring4"] == 0 and kv["n_ring9"] == 0
        print(
            f"knob {k}: K={kv['K']} hex={kv['hexagon_fraction']:.3f} rings 4..9="
            f"{[kv[f'n_ring{s}'] for s in range(4, 10)]} E-E_gr={info['excess_energy_per_atom']:.4f} eV "
            f"buckling rms={info['buckling_rms']:.3f} Å wall={info['wall_time']:.1f} s {info['timing']}"
        )


def test_rings_obey_the_rule_and_match_the_network(series):
    for k, G in series.items():
        faces = amc.ring_statistics(G.structure, method="faces")
        sp = amc.ring_statistics(G.structure, method="shortest_path")
        net = {s: c for s, c in G.info["network_ring_counts"].items() if c}
        # Tersoff kept the switched network: bonds from geometry = the generator's bond graph
        assert G.info["topology_preserved"], k
        assert {s: c for s, c in faces["counts"].items() if c} == net
        assert faces["n_rings"] == N // 2 and faces["mean_size"] == pytest.approx(6.0)
        assert faces["coordination"] == {3: N}
        for rs in (faces, sp):
            assert all(c == 0 for s, c in rs["counts"].items() if s < 5 or s > 8), (k, rs["counts"])
        # shortest-path rings contain every face; extra rings only enclose two faces
        for s in range(5, 9):
            assert sp["counts"][s] >= faces["counts"][s]
        print(f"knob {k}: faces {net}, shortest-path {dict((s, c) for s, c in sp['counts'].items() if c)}")


def test_one_switch_at_knob_zero(series):
    kv = series[0.0].knob_values
    assert kv["K"] == 1
    assert (kv["n_ring5"], kv["n_ring6"], kv["n_ring7"]) == (2, N // 2 - 4, 2)


def test_disorder_rises_with_knob(series):
    hexf = [series[k].knob_values["hexagon_fraction"] for k in KNOBS]
    peaks = [first_peak(series[k].structure) for k in KNOBS]
    crystal_peak = first_peak(amc.crystal(N).structure)
    print(f"hexagon fractions {hexf}; first g(r) peak crystal {crystal_peak:.2f}, knobs {peaks}")
    assert hexf[0] > hexf[1] + 0.1
    assert hexf[1] > hexf[2] + 0.1
    assert crystal_peak > peaks[0] > 1.2 * peaks[1]
    assert peaks[1] > 1.1 * peaks[2]


def test_deterministic(series):
    again = amc.generate(N, 0.5, 0)
    np.testing.assert_array_equal(
        np.asarray(again.structure.positions), np.asarray(series[0.5].structure.positions)
    )
    np.testing.assert_array_equal(np.asarray(again.structure.box), np.asarray(series[0.5].structure.box))
    assert again.knob_values == series[0.5].knob_values


def test_stalled_random_switches_start_again(monkeypatch):
    """A random-switch stage that stalls starts again from graphene with the generator's next draws:
    the glass is still a function of the seed, and the stalls are recorded; one that keeps stalling
    is an error that names the knob."""
    switches, calls = amc.random_switches, []

    def stall_first(net, k, rng):  # one attempt per switch the first time: stalls at knob 1
        calls.append(k)
        return switches(net, k, rng, max_tries_per_switch=1) if len(calls) == 1 else switches(net, k, rng)

    monkeypatch.setattr(amc, "random_switches", stall_first)
    g = amc.generate(N, 1.0, 0)
    k = g.knob_values["K"]
    assert calls == [k, k] and len(g.info["switch_restarts"]) == 1 and g.info["switch_restarts"][0] < k
    assert g.info["switch_attempts"] > k
    sizes = [size for size, c in g.info["network_ring_counts"].items() if c]
    assert min(sizes) >= amc.RING_MIN and max(sizes) <= amc.RING_MAX
    calls.clear()
    again = amc.generate(N, 1.0, 0)
    np.testing.assert_array_equal(np.asarray(again.structure.positions), np.asarray(g.structure.positions))

    never = functools.partial(switches, max_tries_per_switch=0)
    monkeypatch.setattr(amc, "random_switches", never)
    with pytest.raises(RuntimeError, match="stalled 4 times.*use a smaller knob"):
        amc.generate(N, 1.0, 0)


def test_imaginary_modes_reported(series):
    """Count imaginary modes (THz) at the relaxed structures; flexural modes may give a few tiny ones."""
    counts = {}
    for k, G in series.items():
        f = np.asarray(phonons.frequencies(G.potential, G.structure))
        counts[k] = (phonons.count_imaginary(f), float(f.min()), float(f.max()))
    print("imaginary modes (count, min THz, max THz):", counts)
    for n_imag, fmin, _ in counts.values():
        assert n_imag <= 2 and fmin > -0.5


def test_bad_arguments():
    with pytest.raises(ValueError, match="knob"):
        amc.generate(N, 1.5, 0)
    with pytest.raises(ValueError, match="knob"):
        amc.generate(N, -0.1, 0)
    with pytest.raises(ValueError, match="size"):
        amc.generate(N, 0.5, 0, size="huge")
    with pytest.raises(ValueError, match="n_atoms"):
        amc.generate(20, 0.5, 0)
    with pytest.raises(ValueError, match="protocol: unknown setting.*anneal_steps"):
        amc.generate(N, 0.5, 0, protocol={"anneal_steps": 10})
    with pytest.raises(ValueError, match="n_atoms"):
        amc.crystal(40)
    with pytest.raises(ValueError, match="method"):
        amc.ring_statistics(graphene(A_LAMMPS, (6, 4)), method="primitive")
