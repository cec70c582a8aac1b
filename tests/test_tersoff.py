"""Tests of the multi-species Tersoff potential against LAMMPS values, jax-md, finite differences
and an independent loop implementation of the LAMMPS ``pair_style tersoff`` equations."""

from __future__ import annotations

import io
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from jaxglass import make_structure, replicate
from jaxglass.potentials.tersoff import (
    SIC_TERSOFF_1989,
    TERSOFF_PARAMETERS,
    lindsay_broido_carbon,
    parse_tersoff,
    read_tersoff_file,
    tersoff,
    tersoff_sic_1989,
)

FCC = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def graphene(a, reps=(2, 1, 1)):
    """Rectangular 4-atom graphene cell (a x a sqrt(3), armchair along y), bond a / sqrt(3)."""
    b = a / np.sqrt(3.0)
    pos = np.array([[0, 0, 0], [0, b, 0], [a / 2, 1.5 * b, 0], [a / 2, 2.5 * b, 0]])
    cell = make_structure(pos, ["C"] * 4, [a, 3 * b, 20.0], periodic=(True, True, False))
    return replicate(cell, reps)


def zincblende(a, species=("Si", "C"), reps=(2, 2, 2)):
    """Conventional 8-atom zincblende / diamond cell, replicated."""
    pos = np.concatenate([FCC, FCC + 0.25]) * a
    names = [species[0]] * 4 + [species[1]] * 4
    return replicate(make_structure(pos, names, a, species_names=("Si", "C")), reps)


_JIT = {}


def jitted(pot):
    """Energy, gradient and Hessian of ``pot`` as functions of (positions, structure, nbrs), jitted
    once per potential so that structures of equal shapes share one compilation."""
    if id(pot) not in _JIT:

        def e(pos, s, nbrs):
            return pot.energy(s.with_positions(pos), nbrs)

        batched = jax.vmap(e, (0, None, None))
        _JIT[id(pot)] = (pot, jax.jit(e), jax.jit(jax.grad(e)), jax.jit(jax.hessian(e)), jax.jit(batched))
    return _JIT[id(pot)][1:]


def nbrs_of(pot, s, k=None):
    """The potential's neighbour lists, optionally padded to ``k`` columns (shared shapes)."""
    out = []
    for idx in pot.neighbors(s):
        if k is not None:
            idx = np.concatenate([idx, np.full((idx.shape[0], k - idx.shape[1]), s.n_atoms, idx.dtype)], 1)
        out.append(jnp.asarray(idx))
    return tuple(out)


def energy_per_atom(pot, s, k=32):
    """Energy per atom; lists padded to ``k`` columns so that cells of one size share a compile."""
    return float(jitted(pot)[0](s.positions, s, nbrs_of(pot, s, k))) / s.n_atoms


@pytest.fixture(scope="module")
def lb():
    return lindsay_broido_carbon()


@pytest.fixture(scope="module")
def sic():
    return tersoff_sic_1989()


# -- parser -----------------------------------------------------------------------------------


def test_parser_reads_lammps_table(tmp_path, sic):
    table = parse_tersoff(SIC_TERSOFF_1989)
    assert len(table) == 8
    assert table[("Si", "C", "C")][TERSOFF_PARAMETERS.index("A")] == 1597.3111
    assert table[("Si", "Si", "C")][TERSOFF_PARAMETERS.index("R")] == 2.36
    # same potential from a file path, from text, with species in the other order
    path = tmp_path / "SiC.tersoff"
    path.write_text("# DATE: x CITATION: Tersoff, PRB 39, 5566 (1989)\n" + SIC_TERSOFF_1989)
    from_path = read_tersoff_file(str(path), ("C", "Si"))
    from_text = read_tersoff_file(SIC_TERSOFF_1989, ("Si", "C"))
    assert "5566" in from_path.citation
    assert from_path.species == ("C", "Si") and from_text.species == ("Si", "C")
    assert parse_tersoff(path.read_text()) == table
    s = zincblende(4.3)
    assert energy_per_atom(from_path, s) == pytest.approx(energy_per_atom(sic, s), rel=1e-13)
    assert sic.cutoff == pytest.approx(3.0)


def test_parser_errors():
    with pytest.raises(ValueError, match="lacks the entries"):
        read_tersoff_file(SIC_TERSOFF_1989, ("Si", "Ge"))
    with pytest.raises(ValueError, match="incomplete entry"):
        parse_tersoff("Si Si Si 3.0 1.0 0.0\n")
    with pytest.raises(ValueError, match="duplicate"):
        lines = SIC_TERSOFF_1989.splitlines()
        parse_tersoff(SIC_TERSOFF_1989 + lines[1] + "\n" + lines[2])
    bad = SIC_TERSOFF_1989.replace("C   C   C   3.0", "C   C   C   2.0")
    with pytest.raises(ValueError, match="m must be 1 or 3"):
        read_tersoff_file(bad, ("C",))
    with pytest.raises(FileNotFoundError):
        read_tersoff_file("/nonexistent/file.tersoff", ("Si",))


# -- reference energies -----------------------------------------------------------------------


def test_lindsay_broido_graphene_energy(lb):
    # LAMMPS with BNC.tersoff (C C C entry): -7.977702 eV/atom at a = 2.49205 Å
    e = energy_per_atom(lb, graphene(2.49205))
    assert e == pytest.approx(-7.977702, abs=1e-4)


def test_lindsay_broido_graphene_lattice_minimum(lb):
    grid = np.linspace(2.472, 2.512, 9)
    es = np.array([energy_per_atom(lb, graphene(a)) for a in grid])
    assert np.argmin(es) == 4  # a = 2.492
    c2, c1, _ = np.polyfit(grid - 2.492, es, 2)
    a0 = 2.492 - c1 / (2 * c2)
    assert a0 == pytest.approx(2.49205, abs=5e-4)


def test_sic_zincblende_energy(sic):
    # LAMMPS with SiC.tersoff: 3C-SiC -6.163788 eV/atom at a = 4.32117 Å
    assert energy_per_atom(sic, zincblende(4.32117)) == pytest.approx(-6.163788, abs=1e-4)


@pytest.mark.parametrize(
    "element, a_guess, e_pub",
    [("Si", 5.432, -4.630), ("C", 3.566, -7.371)],  # Tersoff, PRB 39, 5566 (1989)
)
def test_sic_diamond_elements(sic, element, a_guess, e_pub):
    def f(a):
        return energy_per_atom(sic, zincblende(a, (element, element)))

    res = minimize_scalar(f, bounds=(a_guess - 0.05, a_guess + 0.05), method="bounded",
                          options=dict(xatol=1e-5))
    assert res.x == pytest.approx(a_guess, abs=0.01)
    assert res.fun == pytest.approx(e_pub, abs=5e-3)


# -- independent implementations --------------------------------------------------------------


def mixed_sic_cell(seed=0, a=4.32, amp=0.05, margin=0.01):
    """Zincblende sites with random Si / C occupancy, randomly perturbed, with every pair at least
    ``margin`` away from the R - D and R + D boundaries that can apply to it."""
    table = parse_tersoff(SIC_TERSOFF_1989)
    ir, idd = TERSOFF_PARAMETERS.index("R"), TERSOFF_PARAMETERS.index("D")
    edges = {}
    for (e1, _, e3), v in table.items():
        for key in ((e1, e3), (e3, e1)):
            edges.setdefault(key, set()).update({v[ir] - v[idd], v[ir] + v[idd]})
    base = zincblende(a)
    box = np.asarray(base.box)
    for s in range(seed, seed + 100):
        rng = np.random.default_rng(s)
        names = np.where(rng.random(base.n_atoms) < 0.5, "Si", "C")
        pos = np.asarray(base.positions) + rng.uniform(-amp, amp, (base.n_atoms, 3))
        d = pos[None, :, :] - pos[:, None, :]
        r = np.linalg.norm(d - box * np.round(d / box), axis=-1)
        ok = True
        for i, j in zip(*np.triu_indices(base.n_atoms, 1)):
            if any(abs(r[i, j] - e) < margin for e in edges[(names[i], names[j])]):
                ok = False
                break
        if ok:
            return make_structure(pos, names, box, species_names=("Si", "C"))
    raise RuntimeError("no admissible random cell found")


def lammps_loop_energy(table, s):
    """Plain-loop transcription of the LAMMPS pair_style tersoff energy (incl. its b_ij branches)."""
    p = {k: dict(zip(TERSOFF_PARAMETERS, v)) for k, v in table.items()}
    pos = np.asarray(s.positions)
    box = np.asarray(s.box)
    names = s.symbols()
    n = len(pos)

    def vec(i, j):
        d = pos[j] - pos[i]
        return d - box * np.round(d / box)

    def fc(r, q):
        if r < q["R"] - q["D"]:
            return 1.0
        if r > q["R"] + q["D"]:
            return 0.0
        return 0.5 * (1.0 - np.sin(np.pi / 2 * (r - q["R"]) / q["D"]))

    def bij(zeta, q):
        nn = q["n"]
        c1 = (2 * nn * 1e-16) ** (-1 / nn)
        c2 = (2 * nn * 1e-8) ** (-1 / nn)
        tmp = q["beta"] * zeta
        if tmp > c1:
            return 1 / np.sqrt(tmp)
        if tmp > c2:
            return (1 - tmp ** (-nn) / (2 * nn)) / np.sqrt(tmp)
        if tmp < 1 / c1:
            return 1.0
        if tmp < 1 / c2:
            return 1 - tmp**nn / (2 * nn)
        return (1 + tmp**nn) ** (-1 / (2 * nn))

    e = 0.0
    for i in range(n):
        for j in range(n):
            if j == i:
                continue
            q = p[(names[i], names[j], names[j])]
            dij = vec(i, j)
            rij = np.linalg.norm(dij)
            if rij > q["R"] + q["D"]:
                continue
            zeta = 0.0
            for k in range(n):
                if k in (i, j):
                    continue
                t = p[(names[i], names[j], names[k])]
                dik = vec(i, k)
                rik = np.linalg.norm(dik)
                if rik > t["R"] + t["D"]:
                    continue
                cos = dij @ dik / (rij * rik)
                c2, d2 = t["c"] ** 2, t["d"] ** 2
                g = t["gamma"] * (1 + c2 / d2 - c2 / (d2 + (t["costheta0"] - cos) ** 2))
                arg = t["lambda3"] * (rij - rik)
                arg = arg**3 if t["m"] == 3 else arg
                zeta += fc(rik, t) * g * np.exp(np.clip(arg, -69.0776, 69.0776))
            f = fc(rij, q)
            e += 0.5 * f * q["A"] * np.exp(-q["lambda1"] * rij)  # half of each pair's repulsion
            e += 0.5 * f * bij(zeta, q) * (-q["B"] * np.exp(-q["lambda2"] * rij))
    return e


# a = 4.5: nearest neighbours (1.95 Å) sit in the C-C switching shell; a = 4.0: second neighbours
# (2.83 Å) sit in the Si-Si shell. Random occupancy exercises all eight (i, j, k) entries.
CELLS = [(4.5, 0.05), (4.0, 0.05)]


@pytest.fixture(scope="module")
def mixed_cells(sic):
    cells = [mixed_sic_cell(seed=0, a=a, amp=amp) for a, amp in CELLS]
    assert max(idx.shape[1] for c in cells for idx in sic.neighbors(c)) < 32
    return [(c, nbrs_of(sic, c, 32)) for c in cells]


def test_mixed_sic_matches_loop_reference(sic, mixed_cells):
    table = parse_tersoff(SIC_TERSOFF_1989)
    for s, nbrs in mixed_cells:
        e = float(jitted(sic)[0](s.positions, s, nbrs))
        assert e == pytest.approx(lammps_loop_energy(table, s), rel=1e-11)


def test_forces_match_finite_differences(sic, mixed_cells):
    e_fn, g_fn, _, ev_fn = jitted(sic)
    h = 1e-5
    for s, nbrs in mixed_cells:
        x0 = np.asarray(s.positions)
        grad = np.asarray(g_fn(x0, s, nbrs)).ravel()
        dx = np.eye(x0.size).reshape(-1, *x0.shape) * h
        fd = (np.asarray(ev_fn(x0 + dx, s, nbrs)) - np.asarray(ev_fn(x0 - dx, s, nbrs))) / (2 * h)
        assert np.max(np.abs(fd - grad)) < 1e-6
        assert np.max(np.abs(grad)) > 0.5  # the perturbation really produced forces


# -- jax-md -----------------------------------------------------------------------------------

SI_ENTRY = "Si Si Si 3.0 1.0 0.0 100390 16.217 -0.59825 0.78734 1.1e-6 1.73222 471.18 2.85 0.15 2.4799 1830.8"
LB_ENTRY = "C C C 3.0 1.0 0.0 38049 4.3484 -0.930 0.72751 1.5724e-7 2.2119 430.0 1.95 0.15 3.4879 1393.6"


def test_agrees_with_jax_md(sic, monkeypatch):
    """jax-md's Tersoff is single-species: compare on a perturbed diamond-Si cell."""
    from jax_md import energy as jmd_energy
    from jax_md import quantity, space

    pot = sic  # only its Si Si Si entry acts in pure Si
    s = zincblende(5.432, ("Si", "Si"))
    rng = np.random.default_rng(7)
    s = s.with_positions(jnp.asarray(np.asarray(s.positions) + rng.normal(0.0, 0.05, (s.n_atoms, 3))))
    e = energy_per_atom(pot, s) * s.n_atoms

    words = SI_ENTRY.split()
    text = " ".join(words[:10]) + "\n" + " ".join(words[10:]) + "\n"  # jax-md wants two lines
    params = jmd_energy.load_lammps_tersoff_parameters(io.StringIO(text))
    box = np.asarray(s.box)
    disp, _ = space.periodic(box)
    x = np.mod(np.asarray(s.positions), box)
    # jax-md adds 1e-7 Å to both lengths in its cosines, a ~2e-8 relative bias in the energy
    # (measured here: 2.3e-8); compare with exact cosines, as the Tersoff equations have them.
    monkeypatch.setattr(
        quantity,
        "cosine_angle_between_two_vectors",
        lambda u, v: jnp.dot(u, v) / space.distance(u) / space.distance(v),
    )
    e_exact = float(jax.jit(jmd_energy.tersoff(disp, params))(x))
    assert e == pytest.approx(e_exact, rel=1e-8)


# -- smoothness / NaN safety ------------------------------------------------------------------


def test_hessian_finite_graphene(lb):
    s = graphene(2.49205, (2, 1, 1))
    nbrs = nbrs_of(lb, s)
    _, g_fn, h_fn, _ = jitted(lb)
    x0 = np.asarray(s.positions)
    hess = np.asarray(h_fn(x0, s, nbrs)).reshape(x0.size, x0.size)
    assert np.all(np.isfinite(hess))
    assert np.allclose(hess, hess.T, atol=1e-9)
    # a flat sheet at its lattice constant is at rest
    assert np.max(np.abs(np.asarray(g_fn(x0, s, nbrs)))) < 1e-10
    # Hessian columns against central differences of the gradient
    h = 1e-5
    for col in (0, 4, 8, 13, 23):
        dx = np.zeros(x0.size)
        dx[col] = h
        dx = dx.reshape(x0.shape)
        fd = (np.asarray(g_fn(x0 + dx, s, nbrs)) - np.asarray(g_fn(x0 - dx, s, nbrs))).ravel() / (2 * h)
        assert np.max(np.abs(fd - hess[col])) < 1e-5


def local_environment_np(pot, s, idx, cutoff):
    """numpy twin of :func:`jaxglass.potentials.base.local_environment` for one structure (avoids
    compiling many small eager jax ops in a test)."""
    pos, box, n = np.asarray(s.positions), np.asarray(s.box), s.n_atoms
    sp = pot.species_map(s)[np.asarray(s.species)]
    mask = idx < n
    safe = np.where(mask, idx, 0)
    dr = pos[safe] - pos[:, None, :]
    dr = np.where(np.asarray(s.periodic), dr - box * np.round(dr / box), dr)
    far = np.zeros(3)
    far[0] = 2.0 * cutoff + 1.0
    dr = np.where(mask[..., None], dr, far)
    return dr, mask, np.where(mask, sp[safe], 0), sp


def test_site_hessians_finite(sic, mixed_cells):
    """What the phonon engine differentiates: e_i(dr) per site, padded slots and real neighbours
    beyond the cutoff included, for a diamond crystal, graphene, a mixed Si-C cell, an isolated
    pair (zeta = 0) and a trimer. One batch, one compilation."""
    term = sic.terms[0]
    k = 32
    r = 2.05  # in the C-C switching shell
    cells = [
        zincblende(3.566, ("C", "C")),  # 4 + 12 + 12 neighbours within the 3.0 Å list; C-C cutoff 2.1
        graphene(2.49205, (3, 2, 1)),
        mixed_cells[1][0],
        make_structure([[0, 0, 0], [r, 0, 0], [0, 0, 10.0]], ["C"] * 3, 30.0, periodic=False),
        make_structure([[0, 0, 0], [1.42, 0, 0], [-0.5, np.sqrt(r**2 - 0.25), 0]], ["C"] * 3, 30.0,
                       periodic=False),
    ]
    envs = [local_environment_np(sic, c, np.asarray(nbrs_of(sic, c, k)[0]), term.cutoff) for c in cells]
    dr, mask, sj, sp = (np.concatenate([e[i][:8] for e in envs]) for i in range(4))
    assert not np.any(mask[:, -4:])  # padded slots present everywhere
    hess = np.asarray(jax.jit(jax.vmap(jax.hessian(term.site)))(dr, mask, sp, sj))
    assert np.all(np.isfinite(hess))
    assert not np.any(hess[:, -4:]) and not np.any(hess[:, :, :, -4:])  # padded slots decouple
    assert np.allclose(hess, np.swapaxes(np.swapaxes(hess, 1, 3), 2, 4), atol=1e-9)
    assert np.max(np.abs(hess)) > 1.0


def test_isolated_pair_energy(lb):
    e_fn, g_fn, _, _ = jitted(lb)
    for r in (1.42, 2.0):  # 2.0 lies in the switching shell
        # dimer: zeta = 0, b = 1, E = fc(r) (A exp(-l1 r) - B exp(-l2 r))
        s = make_structure([[0, 0, 0], [r, 0, 0]], ["C"] * 2, 30.0, periodic=False)
        nbrs = nbrs_of(lb, s, 32)
        fc = 1.0 if r < 1.8 else 0.5 - 0.5 * np.sin(np.pi / 2 * (r - 1.95) / 0.15)
        expect = fc * (1393.6 * np.exp(-3.4879 * r) - 430.0 * np.exp(-2.2119 * r))
        assert float(e_fn(s.positions, s, nbrs)) == pytest.approx(expect, rel=1e-12)
        grad = np.asarray(g_fn(s.positions, s, nbrs))
        assert np.all(np.isfinite(grad))
        h = 1e-5
        e_p, e_m = (float(e_fn(np.array([[0, 0, 0], [r + d, 0, 0]]), s, nbrs)) for d in (h, -h))
        assert grad[1, 0] == pytest.approx((e_p - e_m) / (2 * h), rel=1e-7, abs=1e-9)


def test_table_from_mapping_and_validation(lb):
    entry = dict(zip(TERSOFF_PARAMETERS, [float(w) for w in LB_ENTRY.split()[3:]]))
    pot = tersoff({("C", "C", "C"): entry}, ("C",))
    s = graphene(2.46, (2, 1, 1))
    assert energy_per_atom(pot, s) == pytest.approx(energy_per_atom(lb, s), rel=1e-14)
    with pytest.raises(ValueError, match="must not exceed R"):
        tersoff({("C", "C", "C"): {**entry, "D": 3.0}}, ("C",))
    with pytest.raises(ValueError, match="duplicated element"):
        tersoff({("C", "C", "C"): entry}, ("C", "C"))
    table = parse_tersoff(SIC_TERSOFF_1989)
    for a, b in itertools.permutations(["Si", "C"]):
        assert (a, b, b) in table
    ia = TERSOFF_PARAMETERS.index("A")
    table[("Si", "C", "C")] = table[("Si", "C", "C")][:ia] + (1500.0,)
    with pytest.warns(UserWarning, match="repulsive parameter A"):
        tersoff(table, ("Si", "C"))
