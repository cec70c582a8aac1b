"""Γ-point PDOS from the command line: jaxglass cold / warm-cache / steady vs phonopy + LAMMPS.

Two systems:

* ``ka``: a 1000-atom Kob-Andersen A80B20 3D glass (ρ = 1.2, random packing + L-BFGS to fmax 1e-5)
  with the force-shifted LJ cut-off (``lj:linear`` = LAMMPS ``lj/smooth/linear``, 2.5 σ_αβ), LJ units;
* ``carbon``: an 800-atom graphene sheet (10 x 20 rectangular cells, a = 2.49205 Å), every
  coordinate displaced by a seeded uniform ±0.05 Å, with the Lindsay-Broido Tersoff written as a
  LAMMPS ``.tersoff`` file that both codes read (``tersoff:FILE`` for jaxglass).

jaxglass side (the CLI a user runs: ``python -m jaxglass.cli pdos FILE --potential SPEC --no-partial
--no-plot``; ``--method auto`` takes the dense values-only route at these sizes):

* ``cold``: a fresh process with an empty persistent compilation cache;
* ``cold, warm cache``: a fresh process after the first one filled the cache;
* ``steady``: the second call of ``jaxglass.cli.main`` in one process (also with partial DOS).

Peer, in the same run: phonopy (finite displacements ±0.01 Å or σ, the supercell = the cell, forces from
LAMMPS through its Python module in memory: one instance, scatter positions, ``run 0``, gather forces),
force constants, the Γ dynamical matrix and phonopy's Gaussian total DOS with the same σ. ``cold`` is
the whole fresh process (imports included); ``steady`` the same work after the imports. When the
``lammps`` module cannot be loaded, the forces come from ``jaxglass.calculator.JaxglassCalculator``
and the rows are labelled so.

Wall time on a shared machine depends on the load; the table also gives CPU seconds (user + sys of
the process) and the load average before and after each system.

Usage::

    PYTHONPATH=. OPENBLAS_NUM_THREADS=2 .venv/bin/python benchmarks/cold_start.py \\
        [--systems ka,carbon] [--out benchmarks/results/cold_start.json]
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from _common import write_json
from lammps_peer import LB_TERSOFF, ka_pair_coeffs, load_lammps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "cold_start.json")
GRAPHENE_A = 2.49205
FD_STEP = 0.01
SIGMA = {"ka": 0.5, "carbon": 0.5}  # Gaussian width: ω (LJ units) / THz
VASP_TO_THZ = 15.633302  # phonopy's default unit factor: sqrt(eV/Å²/amu) → THz


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def _timed_process(cmd: list[str], env: dict) -> dict:
    """Run ``cmd``; wall seconds and the child's CPU seconds (user + sys)."""
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return dict(wall_s=wall, cpu_s=cpu, stdout=proc.stdout)


# ---------------------------------------------------------------------------------------------
# structures


def prepare(system: str, work: str, size: int) -> tuple[str, str]:
    """Write the structure (extxyz) and, for carbon, the .tersoff file; returns (file, potential spec)."""
    import jax.numpy as jnp
    import numpy as np

    import jaxglass
    from jaxglass.generate import graphene, random_packing
    from jaxglass.minimize import minimize
    from jaxglass.potentials import from_spec
    from jaxglass.structure import write

    jaxglass.enable_x64()
    path = os.path.join(work, f"{system}.extxyz")
    if system == "ka":
        spec = "lj:linear"
        s0 = random_packing(size, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=0)
        res = minimize(from_spec(spec), s0, method="lbfgs", fmax=1e-5)
        print(f"ka: L-BFGS {res.n_steps} steps, fmax {res.fmax:.1e}, converged {res.converged}", flush=True)
        s = res.structure
    else:
        tfile = os.path.join(work, "LB.tersoff")
        with open(tfile, "w") as fh:
            fh.write(LB_TERSOFF)
        spec = f"tersoff:{tfile}"
        s = graphene(GRAPHENE_A, (10, size // 40))  # 4 atoms per rectangular cell
        rng = np.random.default_rng(0)
        s = s.with_positions(
            jnp.asarray(np.asarray(s.positions) + rng.uniform(-0.05, 0.05, np.shape(s.positions)))
        )
    write(path, s)
    return path, spec


# ---------------------------------------------------------------------------------------------
# workers (fresh processes)


def _lammps_instance(system: str, atoms, spec: str):
    """An in-memory LAMMPS instance holding the structure; None when the module cannot be loaded."""
    lammps = load_lammps()
    if lammps is None:
        return None
    import numpy as np

    lmp = lammps.lammps(cmdargs=["-screen", "none", "-log", "none", "-nocite"])
    box = np.diag(atoms.cell[:])
    species = atoms.arrays["jaxglass_species"] + 1
    ntypes = int(species.max())
    lmp.commands_list(
        [
            f"units {'lj' if system == 'ka' else 'metal'}",
            "atom_style atomic",
            "atom_modify map array sort 0 0.0",
            "boundary p p p",
            f"region box block 0 {box[0]} 0 {box[1]} 0 {box[2]}",
            f"create_box {ntypes} box",
        ]
    )
    pos = np.mod(atoms.get_positions(), box)
    lmp.create_atoms(
        len(atoms), list(range(1, len(atoms) + 1)), [int(t) for t in species], pos.reshape(-1).tolist()
    )
    masses = atoms.get_masses()
    for t in range(1, ntypes + 1):
        lmp.command(f"mass {t} {masses[species == t][0]}")
    if system == "ka":
        lmp.commands_list(["pair_style lj/smooth/linear 2.5", *ka_pair_coeffs()])
        lmp.command("neighbor 0.3 bin")
    else:
        lmp.commands_list(
            ["pair_style tersoff", f"pair_coeff * * {spec.split(':', 1)[1]} C", "neighbor 1.0 bin"]
        )
    lmp.command("neigh_modify every 1 delay 0 check yes")
    n = len(atoms)

    def forces(positions):
        x = (ctypes.c_double * (3 * n))(*np.asarray(positions, dtype=float).reshape(-1))
        lmp.scatter_atoms("x", 1, 3, x)
        lmp.command("run 0")
        return np.ctypeslib.as_array(lmp.gather_atoms("f", 1, 3)).reshape(n, 3).copy()

    return forces


def worker_phonopy(system: str, path: str, spec: str, out: str) -> None:
    t_start = time.perf_counter()
    import ase.io
    import numpy as np
    from phonopy import Phonopy
    from phonopy.structure.atoms import PhonopyAtoms

    atoms = ase.io.read(path)
    t0 = time.perf_counter()
    forces = _lammps_instance(system, atoms, spec)
    engine = "LAMMPS"
    if forces is None:  # fall back to the ase calculator (labelled)
        import jaxglass
        from jaxglass.calculator import JaxglassCalculator
        from jaxglass.potentials import from_spec

        jaxglass.enable_x64()
        calc = JaxglassCalculator(from_spec(spec))
        engine = "jaxglass ase calculator"

        def forces(positions):
            a = atoms.copy()
            a.set_positions(positions)
            a.calc = calc
            return a.get_forces().copy()

    # LJ species are not elements: stand-in symbols (the masses are given explicitly)
    symbols = [
        s if s != "X" else ("Ar", "Kr")[t]
        for s, t in zip(atoms.get_chemical_symbols(), atoms.arrays["jaxglass_species"])
    ]
    unit = PhonopyAtoms(
        symbols=symbols,
        positions=atoms.get_positions(),
        cell=atoms.cell[:],
        masses=atoms.get_masses(),
    )
    ph = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int), primitive_matrix=None)
    ph.generate_displacements(distance=FD_STEP)
    scs = ph.supercells_with_displacements
    t1 = time.perf_counter()
    ph.forces = np.asarray([forces(sc.positions) for sc in scs])
    t2 = time.perf_counter()
    ph.produce_force_constants()
    t3 = time.perf_counter()
    ph.run_mesh([1, 1, 1], with_eigenvectors=False)
    scale = 1.0 / VASP_TO_THZ if system == "ka" else 1.0  # phonopy's THz factor → ω for LJ units
    sig = SIGMA[system] / scale
    ph.run_total_dos(sigma=sig, freq_pitch=sig / 10, use_tetrahedron_method=False)
    dos = ph.total_dos
    t4 = time.perf_counter()
    freqs = np.sort(np.asarray(ph.mesh.frequencies).reshape(-1)) * scale
    np.savez(
        out,
        grid=np.asarray(dos.frequency_points) * scale,
        dos=np.asarray(dos.dos) / scale / (3 * len(atoms)),
        frequencies=freqs,
    )
    print(
        json.dumps(
            dict(
                engine=engine,
                n_force_calls=len(scs),
                setup_s=t1 - t0,
                forces_s=t2 - t1,
                force_constants_s=t3 - t2,
                dos_s=t4 - t3,
                steady_s=t4 - t0,
                in_process_total_s=t4 - t_start,
            )
        )
    )


def worker_steady(path: str, spec: str, out: str) -> None:
    """Two calls of the CLI in one process, each with and without partial DOS; the second's times."""
    from jaxglass import cli

    res = {}
    for label, extra in (("total", ["--no-partial"]), ("partial", [])):
        argv = ["pdos", path, "--potential", spec, "--no-plot", "--allow-imaginary", "--out", out, *extra]
        times = []
        for _ in range(2):
            t = time.perf_counter()
            assert cli.main(argv) == 0
            times.append(time.perf_counter() - t)
        res[label] = times
    print(json.dumps(res))


# ---------------------------------------------------------------------------------------------


def run_system(system: str, work: str, size: int) -> dict:
    rec: dict = dict(system=system, load_before=_load())
    path, spec = prepare(system, work, size)
    rec.update(
        structure=os.path.basename(path),
        potential=spec.split(":")[0] + (":" + spec.split(":")[1] if system == "ka" else ":LB.tersoff"),
    )
    py = sys.executable
    out = os.path.join(work, f"out_{system}")
    cache = os.path.join(work, f"cache_{system}")
    cmd = [
        py,
        "-m",
        "jaxglass.cli",
        "pdos",
        path,
        "--potential",
        spec,
        "--no-partial",
        "--no-plot",
        "--allow-imaginary",  # the displaced graphene sheet is not at a minimum (same work either way)
        "--out",
        out,
    ]
    env = _env({"JAXGLASS_COMPILE_CACHE": cache})
    cold = _timed_process(cmd, env)
    with open(os.path.join(out, "summary.json")) as fh:
        summary = json.load(fh)
    warm = _timed_process(cmd, env)
    steady = _timed_process([py, __file__, "--worker", "steady", path, spec, out + "_steady"], env)
    st = json.loads(steady["stdout"].strip().splitlines()[-1])
    ph_out = os.path.join(work, f"phonopy_{system}.npz")
    peer = _timed_process([py, __file__, "--worker", "phonopy", system, path, spec, ph_out], _env())
    pj = json.loads(peer["stdout"].strip().splitlines()[-1])

    import numpy as np

    with np.load(os.path.join(out, "pdos.npz")) as z:
        jg_grid, jg_dos, jg_f = z["grid"], z["total"], z["frequencies"]
    with np.load(ph_out) as z:
        ph_grid, ph_dos, ph_f = z["grid"], z["dos"], z["frequencies"]
    # both total DOS per mode, same σ: compare on jaxglass's grid (phonopy's error is the FD one)
    ph_on = np.interp(jg_grid, ph_grid, ph_dos, left=0.0, right=0.0)
    rec.update(
        n_atoms=summary["n_atoms"],
        route=summary["route"],
        sigma=SIGMA[system],
        unit=summary["frequency_unit"],
        jaxglass=dict(
            cold_wall_s=cold["wall_s"],
            cold_cpu_s=cold["cpu_s"],
            warm_cache_wall_s=warm["wall_s"],
            warm_cache_cpu_s=warm["cpu_s"],
            steady_total_s=st["total"][1],
            steady_partial_s=st["partial"][1],
            steady_process_wall_s=steady["wall_s"],
            first_call_in_process_s=st["total"][0],
            spectrum_s=summary["spectrum_seconds"],
        ),
        peer=dict(cold_wall_s=peer["wall_s"], cold_cpu_s=peer["cpu_s"], **pj),
        max_frequency=dict(jaxglass=float(jg_f.max()), phonopy=float(ph_f.max())),
        dos_max_abs_diff_rel_peak=float(np.max(np.abs(ph_on - jg_dos)) / jg_dos.max()),
        load_after=_load(),
    )
    j, p = rec["jaxglass"], rec["peer"]
    rec["ratios"] = dict(
        cold=p["cold_wall_s"] / j["cold_wall_s"],
        warm_cache=p["cold_wall_s"] / j["warm_cache_wall_s"],
        steady=p["steady_s"] / j["steady_total_s"],
        cold_cpu=p["cold_cpu_s"] / j["cold_cpu_s"],
        warm_cache_cpu=p["cold_cpu_s"] / j["warm_cache_cpu_s"],
    )
    return rec


def table(records: list[dict]) -> str:
    lines = [
        "| system | N | peer forces | phonopy + peer: cold wall (CPU) s | steady s "
        "| jaxglass cold wall (CPU) s | cold, warm cache wall (CPU) s | steady s (with partials) "
        "| ratio cold / warm cache / steady "
        "| CPU-time ratio cold / warm cache | load before → after |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        j, p, q = r["jaxglass"], r["peer"], r["ratios"]
        lines.append(
            f"| {r['system']} | {r['n_atoms']} | {p['engine']} ({p['n_force_calls']} calls) | "
            f"{p['cold_wall_s']:.1f} ({p['cold_cpu_s']:.1f}) | {p['steady_s']:.1f} | "
            f"{j['cold_wall_s']:.2f} ({j['cold_cpu_s']:.2f}) | "
            f"{j['warm_cache_wall_s']:.2f} ({j['warm_cache_cpu_s']:.2f}) | "
            f"{j['steady_total_s']:.2f} ({j['steady_partial_s']:.2f}) | "
            f"{q['cold']:.1f}× / {q['warm_cache']:.1f}× / {q['steady']:.1f}× | "
            f"{q['cold_cpu']:.1f}× / {q['warm_cache_cpu']:.1f}× | "
            f"{r['load_before'][0]} → {r['load_after'][0]} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, *rest = sys.argv[2:]
        (worker_phonopy if kind == "phonopy" else worker_steady)(*rest)
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--systems", default="ka,carbon")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--ka-atoms", type=int, default=1000)
    ap.add_argument("--carbon-atoms", type=int, default=800, help="a multiple of 40")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (structures, outputs)")
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="jaxglass_cold_")
    records = []
    try:
        for system in args.systems.split(","):
            rec = run_system(system, work, args.ka_atoms if system == "ka" else args.carbon_atoms)
            records.append(rec)
            print(table([rec]).splitlines()[-1], flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    import jax
    import phonopy

    meta = dict(
        date=time.strftime("%Y-%m-%d %H:%M"),
        machine=platform.platform(),
        cpus=os.cpu_count(),
        python=platform.python_version(),
        jax=jax.__version__,
        phonopy=phonopy.__version__,
        threads={k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        command=" ".join(sys.argv),
    )
    try:
        from importlib.metadata import version

        meta["lammps"] = version("lammps")
    except Exception:  # noqa: BLE001
        meta["lammps"] = None
    print(table(records))
    write_json(args.out, dict(meta=meta, records=records))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
