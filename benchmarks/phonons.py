"""Benchmark of the jaxglass phonon engine: Hessian assembly, eigensolves, memory, finite-difference peer.

Two systems per size N:

* ``ka``: Kob-Andersen A80B20 3D glass (reduced units) -- random packing at ρ = 1.2 minimised with
  L-BFGS to fmax = 1e-5 (preparation is printed but not timed in the table);
* ``carbon``: an AMC-size graphene sheet (Lindsay-Broido Tersoff, a = 2.49205 Å), every atom
  displaced at random by up to 0.05 Å along x, y and z (seeded), not minimised.

Each (system, N) runs in a fresh subprocess so that its peak resident memory (``ru_maxrss``) is
its own. Measured per case:

* ``jaxglass.phonons.hessian(pot, s)``: first call (neighbour list + JIT compile + run) and a
  second, steady-state call (``.block_until_ready()``);
* the eigensolve of the mass-weighted matrix: ``jnp.linalg.eigh`` (with vectors) and
  ``jnp.linalg.eigvalsh`` (compiled ahead of time, so the time is the solve alone), and
  ``scipy.linalg.eigh(..., eigvals_only=True, driver="evd")``;
* peak resident memory after the Hessian + eigensolves (before the finite-difference peer);
* the peer: a finite-displacement Hessian as phonopy builds it -- central differences of jaxglass's
  jitted forces, 6N force calls, step 0.01 (Å, or σ for LJ) -- for N <= ``--fd-max``, and its max
  abs deviation from the autodiff Hessian relative to the largest element. When ``phonopy`` is
  importable, phonopy's own displacement generation + force-constant production with jaxglass
  forces is timed as well (phonopy is not a dependency; it is skipped with a note otherwise).

Usage::

    .venv/bin/python benchmarks/phonons.py [--sizes 250,500,1000,2000] [--fd-max 1000]
                                           [--systems ka,carbon] [--out benchmarks/results/phonons.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

from _common import write_json

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "phonons.json")
MEMORY_LIMIT_BYTES = 24e9  # "fits in 24 GB"
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
FD_STEP = 0.01  # phonopy's default displacement distance (Å)
GRAPHENE_A = 2.49205  # Å, Lindsay-Broido lattice constant


def _peak_mb() -> float:
    """Peak resident set size of this process so far, MB (1e6 bytes); ru_maxrss is in KiB on Linux."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _graphene_reps(n_target: int) -> tuple[int, int]:
    """(nx, ny) of the 4-atom rectangular cell giving about ``n_target`` atoms in a near-square sheet."""
    ax, ay = GRAPHENE_A, GRAPHENE_A * math.sqrt(3.0)
    best = None
    for ny in range(2, 200):
        nx = max(2, round(n_target / (4 * ny)))
        aspect = (nx * ax) / (ny * ay)
        if not 0.5 <= aspect <= 2.0:
            continue
        score = abs(4 * nx * ny - n_target) / n_target + 0.01 * abs(math.log(aspect))
        if best is None or score < best[0]:
            best = (score, nx, ny)
    return best[1], best[2]


# ---------------------------------------------------------------------------------------------
# worker: one (system, N) case in its own process


def _prepare(system: str, n: int, seed: int):
    from jaxglass.generate import graphene, random_packing
    from jaxglass.minimize import minimize
    from jaxglass.potentials import kob_andersen, lindsay_broido_carbon

    info: dict = {}
    t0 = time.perf_counter()
    if system == "ka":
        pot = kob_andersen()
        s0 = random_packing(n, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=seed)
        res = minimize(pot, s0, method="lbfgs", fmax=1e-5)
        s = res.structure
        info.update(
            prep=f"random_packing + L-BFGS: {res.n_steps} steps, {res.n_force_calls} force calls, "
            f"fmax={res.fmax:.2e}, converged={res.converged}, E/N={res.energy / n:.6f}",
            converged=bool(res.converged),
            fmax=float(res.fmax),
        )
    elif system == "carbon":
        import jax.numpy as jnp
        import numpy as np

        pot = lindsay_broido_carbon()
        reps = _graphene_reps(n)
        s0 = graphene(GRAPHENE_A, reps)
        rng = np.random.default_rng(seed)
        disp = rng.uniform(-0.05, 0.05, size=np.shape(s0.positions))
        s = s0.with_positions(jnp.asarray(np.asarray(s0.positions) + disp))
        info.update(
            prep=f"graphene reps={reps} box={np.round(np.asarray(s.box), 3).tolist()} + "
            f"uniform random displacement in [-0.05, 0.05] Å per component (seed {seed})"
        )
    else:
        raise ValueError(f"system: expected 'ka' or 'carbon', got {system!r}")
    info["prep_s"] = time.perf_counter() - t0
    return pot, s, info


def _fd_hessian(pot, s, h: float):
    """Central-difference Hessian from 6N calls of jaxglass's jitted forces (phonopy's scheme)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    nb = tuple(jnp.asarray(i) for i in pot.neighbors(s, skin=0.1 * pot.cutoff))
    force = jax.jit(lambda x: -jax.grad(pot.energy_fn(s, nb))(x))
    x0 = np.asarray(s.positions, dtype=np.float64)
    np.asarray(force(x0))  # compile outside the timing (phonopy's calculator is "warm" too)
    n, d = x0.shape
    H = np.empty((n * d, n * d))
    t0 = time.perf_counter()
    for i in range(n):
        for a in range(d):
            xp = x0.copy()
            xp[i, a] += h
            fp = np.asarray(force(xp))
            xm = x0.copy()
            xm[i, a] -= h
            fm = np.asarray(force(xm))
            H[i * d + a] = -(fp - fm).ravel() / (2.0 * h)  # Φ(ia, jb) = -dF_jb / du_ia
    return H, time.perf_counter() - t0, force


def _phonopy_fc(s, force, h: float) -> dict:
    """Time phonopy's displacement generation + force-constant production with jaxglass forces."""
    try:
        import phonopy
        from phonopy import Phonopy
        from phonopy.structure.atoms import PhonopyAtoms
    except ImportError:
        return dict(phonopy="not importable: skipped (phonopy is not a jaxglass dependency)")
    import numpy as np

    names = s.species_names
    symbols = [names[k] for k in np.asarray(s.species)]
    # phonopy needs chemical symbols; LJ types A/B are mapped to two dummy elements.
    symbols = [{"A": "Ar", "B": "Ne"}.get(x, x) for x in symbols]
    cell = np.diag(np.asarray(s.box, dtype=np.float64))
    unit = PhonopyAtoms(
        symbols=symbols, cell=cell, positions=np.asarray(s.positions), masses=np.asarray(s.masses)
    )
    t0 = time.perf_counter()
    ph = Phonopy(unit, supercell_matrix=np.eye(3, dtype=int), primitive_matrix=None)
    ph.generate_displacements(distance=h, is_plusminus=True)
    t_disp = time.perf_counter() - t0
    scs = ph.supercells_with_displacements
    t1 = time.perf_counter()
    forces = [np.asarray(force(np.asarray(sc.positions))) for sc in scs]
    t_forces = time.perf_counter() - t1
    t2 = time.perf_counter()
    ph.forces = np.asarray(forces)
    ph.produce_force_constants()
    t_fc = time.perf_counter() - t2
    return dict(
        phonopy=f"phonopy {phonopy.__version__}: {len(scs)} displaced supercells",
        phonopy_displacements_s=t_disp,
        phonopy_forces_s=t_forces,
        phonopy_fc_s=t_fc,
        phonopy_total_s=t_disp + t_forces + t_fc,
        phonopy_fc=ph.force_constants,
    )


def run_case(system: str, n: int, fd_max: int, seed: int, repeat: int = 2, fd_step: float = FD_STEP) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    import scipy.linalg

    from jaxglass import enable_x64
    from jaxglass.phonons import hessian, mass_weight

    enable_x64()
    rec: dict = dict(system=system, n_target=n, load_start=_load(), rss_start_mb=_peak_mb())
    pot, s, info = _prepare(system, n, seed)
    rec.update(info)
    n_atoms, d = s.positions.shape
    rec.update(n=int(n_atoms), dof=int(n_atoms * d), potential=pot.name, rss_prepared_mb=_peak_mb())
    print(f"[{system} N={n_atoms}] prep {info['prep_s']:.1f} s: {info['prep']}", flush=True)

    t0 = time.perf_counter()
    nbrs = pot.neighbors(s)
    rec["neighbors_s"] = time.perf_counter() - t0
    rec["neighbors_K"] = [int(np.shape(i)[1]) for i in nbrs]

    t0 = time.perf_counter()
    H = hessian(pot, s).block_until_ready()
    rec["hessian_first_s"] = time.perf_counter() - t0
    steady = []
    for _ in range(repeat):
        del H
        t0 = time.perf_counter()
        H = hessian(pot, s).block_until_ready()
        steady.append(time.perf_counter() - t0)
    rec["hessian_steady_all_s"] = steady
    rec["hessian_steady_s"] = min(steady)
    rec["rss_hessian_mb"] = _peak_mb()

    D = mass_weight(H, s.masses, d).block_until_ready()
    # Compiled ahead of time: the timings below are the LAPACK solves alone.
    eigh = jax.jit(jnp.linalg.eigh).lower(D).compile()
    eigvalsh = jax.jit(jnp.linalg.eigvalsh).lower(D).compile()
    Dn = np.asarray(D)
    times: dict[str, list[float]] = dict(eigh=[], eigvalsh=[], scipy_evd=[])
    for _ in range(repeat):
        t0 = time.perf_counter()
        w, v = eigh(D)
        w.block_until_ready()
        v.block_until_ready()
        times["eigh"].append(time.perf_counter() - t0)
        del v
        rec["rss_eigh_mb"] = _peak_mb()
        t0 = time.perf_counter()
        w2 = eigvalsh(D).block_until_ready()
        times["eigvalsh"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        w3 = scipy.linalg.eigh(Dn, eigvals_only=True, driver="evd")
        times["scipy_evd"].append(time.perf_counter() - t0)
    for key, ts in times.items():
        rec[f"{key}_all_s"] = ts
        rec[f"{key}_s"] = min(ts)
    del Dn
    w = np.asarray(w)
    scale = float(np.max(np.abs(w)))
    rec["eig_agreement_rel"] = float(max(np.max(np.abs(np.asarray(w2) - w)), np.max(np.abs(w3 - w))) / scale)
    freqs = np.sign(w) * np.sqrt(np.abs(w)) * pot.freq_factor
    rec["freq_max"] = float(freqs.max())
    rec["freq_unit"] = pot.freq_unit
    rec["n_imaginary"] = int(np.sum(freqs < -1e-3 * np.max(np.abs(freqs))))
    rec["peak_mb"] = _peak_mb()  # Hessian + mass weighting + all eigensolves
    del D, w2, w3
    print(
        f"[{system} N={n_atoms}] hessian first {rec['hessian_first_s']:.2f} s, steady "
        f"{rec['hessian_steady_s']:.2f} s; eigh {rec['eigh_s']:.2f} s, eigvalsh {rec['eigvalsh_s']:.2f} s, "
        f"scipy evd {rec['scipy_evd_s']:.2f} s; peak {rec['peak_mb']:.0f} MB; "
        f"max freq {rec['freq_max']:.4g} {pot.freq_unit}, {rec['n_imaginary']} imaginary",
        flush=True,
    )

    if n_atoms <= fd_max:
        Hfd, t_fd, force = _fd_hessian(pot, s, fd_step)
        Ha = np.asarray(H)
        rec["fd_s"] = t_fd
        rec["fd_force_calls"] = 2 * n_atoms * d
        rec["fd_rel_err"] = float(np.max(np.abs(Hfd - Ha)) / np.max(np.abs(Ha)))
        rec["fd_asym_rel"] = float(np.max(np.abs(Hfd - Hfd.T)) / np.max(np.abs(Ha)))
        rec["speedup_vs_fd"] = t_fd / rec["hessian_steady_s"]
        del Hfd
        ph = _phonopy_fc(s, force, fd_step)
        fc = ph.pop("phonopy_fc", None)
        if fc is not None:
            fc = np.asarray(fc).transpose(0, 2, 1, 3).reshape(n_atoms * d, n_atoms * d)
            ph["phonopy_rel_err"] = float(np.max(np.abs(fc - Ha)) / np.max(np.abs(Ha)))
        rec.update(ph)
        print(
            f"[{system} N={n_atoms}] FD Hessian ({rec['fd_force_calls']} force calls) {t_fd:.2f} s, "
            f"max|H_fd - H_ad|/max|H_ad| = {rec['fd_rel_err']:.2e}; {ph['phonopy']}",
            flush=True,
        )
    rec["peak_total_mb"] = _peak_mb()
    rec["load_end"] = _load()
    return rec


# ---------------------------------------------------------------------------------------------
# driver


def _versions() -> dict:
    import jax
    import jaxlib
    import numpy
    import scipy

    return dict(
        python=platform.python_version(),
        jax=jax.__version__,
        jaxlib=jaxlib.__version__,
        numpy=numpy.__version__,
        scipy=scipy.__version__,
        jax_backend=jax.default_backend(),
    )


def _machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem = int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return dict(
        platform=platform.platform(),
        processor=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        mem_total_gb=round(mem, 2) if mem else None,
    )


def _fmt(x, spec=".2f") -> str:
    return "-" if x is None else format(x, spec)


def markdown_table(records: list[dict]) -> str:
    head = [
        "system",
        "N",
        "dof",
        "Hessian first s",
        "Hessian steady s",
        "eigh s",
        "eigvalsh s",
        "scipy evd s",
        "FD-Hessian s",
        "autodiff speed-up vs FD",
        "FD rel. err",
        "peak MB",
    ]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        if "error" in r:
            rows.append(f"| {r['system']} | {r.get('n_target')} | - | failed: {r['error'][:80]} |")
            continue
        rows.append(
            "| "
            + " | ".join(
                [
                    r["system"],
                    str(r["n"]),
                    str(r["dof"]),
                    _fmt(r["hessian_first_s"]),
                    _fmt(r["hessian_steady_s"], ".3f"),
                    _fmt(r["eigh_s"]),
                    _fmt(r["eigvalsh_s"]),
                    _fmt(r["scipy_evd_s"]),
                    _fmt(r.get("fd_s")),
                    _fmt(r.get("speedup_vs_fd"), ".0f"),
                    _fmt(r.get("fd_rel_err"), ".1e"),
                    _fmt(r["peak_mb"], ".0f"),
                ]
            )
            + " |"
        )
    return "\n".join(rows)


def _slope(ns, ys) -> float | None:
    import numpy as np

    if len(ns) < 2:
        return None
    return float(np.polyfit(np.log(ns), np.log(ys), 1)[0])


def scaling(records: list[dict]) -> dict:
    """Log-log slopes and the largest N whose dense Hessian + eigh fits in 24 GB, per system."""
    import numpy as np

    out: dict = {}
    for system in dict.fromkeys(r["system"] for r in records if "error" not in r):
        rs = sorted((r for r in records if r["system"] == system and "error" not in r), key=lambda r: r["n"])
        ns = np.array([r["n"] for r in rs], dtype=float)
        peak = np.array([r["peak_mb"] for r in rs]) * 1e6
        base = np.array([r["rss_prepared_mb"] for r in rs]) * 1e6
        mat = 8.0 * (3.0 * ns) ** 2  # bytes of one dense (3N)^2 float64 matrix
        e: dict = dict(
            sizes=ns.astype(int).tolist(),
            slope_hessian_steady=_slope(ns, [r["hessian_steady_s"] for r in rs]),
            slope_eigh=_slope(ns, [r["eigh_s"] for r in rs]),
            slope_eigvalsh=_slope(ns, [r["eigvalsh_s"] for r in rs]),
            slope_peak_mb=_slope(ns, peak),
            slope_peak_above_baseline=_slope(ns, np.maximum(peak - base, 1.0)),
            overhead_factor=((peak - base) / mat).round(2).tolist(),
        )
        # Model A: least-squares fit peak = a + b N^2.
        if len(ns) >= 2:
            b, a = np.polyfit(ns**2, peak, 1)
            e["fit_a_mb"], e["fit_b_bytes_per_N2"] = float(a / 1e6), float(b)
            e["nmax_fit_a_bN2"] = int(math.sqrt((MEMORY_LIMIT_BYTES - a) / b)) if b > 0 else None
        # Model B: baseline + k * 8 (3N)^2 bytes with k the overhead measured at the largest N.
        k = float((peak[-1] - base[-1]) / mat[-1])
        e["overhead_k_largest"] = k
        e["nmax_matrix_overhead"] = int(math.sqrt((MEMORY_LIMIT_BYTES - base[-1]) / (k * 8.0 * 9.0)))
        # Time of the eigh at that size, from the fitted slope (or the n^3 law if only one size).
        p = e["slope_eigh"] if e["slope_eigh"] else 3.0
        nmax = e.get("nmax_fit_a_bN2") or e["nmax_matrix_overhead"]
        e["eigh_s_at_nmax"] = float(rs[-1]["eigh_s"] * (nmax / ns[-1]) ** p)
        e["eigh_s_at_nmax_n3"] = float(rs[-1]["eigh_s"] * (nmax / ns[-1]) ** 3)
        out[system] = e
    return out


def _scaling_text(sc: dict) -> str:
    lines = []
    for system, e in sc.items():
        lines.append(
            f"{system}: log-log slopes vs N (sizes {e['sizes']}): Hessian steady "
            f"{_fmt(e['slope_hessian_steady'])}, eigh {_fmt(e['slope_eigh'])}, eigvalsh "
            f"{_fmt(e['slope_eigvalsh'])}, peak memory {_fmt(e['slope_peak_mb'])} "
            f"(peak above the post-preparation baseline: {_fmt(e['slope_peak_above_baseline'])})"
        )
        lines.append(
            f"  overhead factor k = (peak - baseline) / bytes of one (3N)^2 float64 matrix: "
            f"{e['overhead_factor']}"
        )
        if "nmax_fit_a_bN2" in e:
            lines.append(
                f"  model A, least squares peak = a + b N^2: a = {e['fit_a_mb']:.0f} MB, "
                f"b = {e['fit_b_bytes_per_N2']:.1f} bytes/N^2 -> largest N in 24 GB ~ {e['nmax_fit_a_bN2']}"
            )
        lines.append(
            f"  model B, baseline + k * 8 (3N)^2 bytes with k = {e['overhead_k_largest']:.2f} (largest N): "
            f"largest N in 24 GB ~ {e['nmax_matrix_overhead']}"
        )
        lines.append(
            f"  eigh at that N (model A if available): ~{e['eigh_s_at_nmax']:.0f} s with the fitted slope, "
            f"~{e['eigh_s_at_nmax_n3']:.0f} s with an N^3 law (this machine)"
        )
    return "\n".join(lines)


def _run_subprocess(system: str, n: int, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="jaxglass-bench-") as tmp:
        res_path = os.path.join(tmp, "case.json")
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--worker",
            system,
            str(n),
            "--fd-max",
            str(args.fd_max),
            "--seed",
            str(args.seed),
            "--worker-out",
            res_path,
            "--repeat",
            str(args.repeat),
            "--fd-step",
            str(args.fd_step),
        ]
        env = dict(os.environ)
        if args.blas_threads:
            for var in _THREAD_VARS:
                env[var] = str(args.blas_threads)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=REPO, env=env, timeout=args.case_timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0 or not os.path.exists(res_path):
            return dict(system=system, n_target=n, wall_s=wall, error=f"subprocess exit {proc.returncode}")
        with open(res_path) as fh:
            rec = json.load(fh)
    rec["wall_s"] = wall
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="250,500,1000,2000", help="comma-separated atom counts")
    ap.add_argument("--systems", default="ka,carbon", help="comma-separated: ka, carbon")
    ap.add_argument("--fd-max", type=int, default=1000, help="largest N for the finite-difference peer")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=DEFAULT_OUT, help="JSON results file (atomic write)")
    ap.add_argument("--fd-step", type=float, default=FD_STEP, help="finite-difference step (Å or σ)")
    ap.add_argument("--repeat", type=int, default=2, help="timed repeats of steady Hessian/eigensolves (min)")
    ap.add_argument(
        "--blas-threads", type=int, default=0, help="set OPENBLAS/OMP/MKL_NUM_THREADS in the cases (0: unset)"
    )
    ap.add_argument("--case-timeout", type=float, default=3600.0, help="seconds per (system, N) subprocess")
    ap.add_argument("--worker", nargs=2, metavar=("SYSTEM", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.worker:
        rec = run_case(args.worker[0], int(args.worker[1]), args.fd_max, args.seed, args.repeat, args.fd_step)
        with open(args.worker_out, "w") as fh:
            json.dump(rec, fh)
        return 0

    sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
    systems = [x.strip() for x in args.systems.split(",") if x.strip()]
    t_start = time.perf_counter()
    machine, versions = _machine(), _versions()
    print(f"machine: {machine}")
    print(f"versions: {versions}")
    threads = {v: (str(args.blas_threads) if args.blas_threads else os.environ.get(v)) for v in _THREAD_VARS}
    print(f"thread settings in the cases: {threads}; timed repeats: {args.repeat} (min reported)")
    print(f"load average at start (1, 5, 15 min): {_load()}")
    print(f"command: {' '.join([os.path.relpath(sys.executable, REPO), *sys.argv])}", flush=True)
    records = []
    for system in systems:
        for n in sizes:
            rec = _run_subprocess(system, n, args)
            records.append(rec)
            extra = f", load {rec.get('load_start')} -> {rec.get('load_end')}" if "error" not in rec else ""
            print(f"[{system} N={rec.get('n', n)}] case wall time {rec['wall_s']:.1f} s{extra}", flush=True)
    total = time.perf_counter() - t_start
    table = markdown_table(records)
    sc = scaling(records)
    print()
    print(table)
    print()
    print(
        "Columns: times in s on this machine; 'Hessian first' = neighbour list + JIT compile + run "
        "of jaxglass.phonons.hessian(pot, s); 'steady' = later call (min of repeats); eigh/eigvalsh = "
        "jnp.linalg on the mass-weighted matrix (compiled ahead, solve only; min of repeats); scipy evd "
        f"= eigvals_only; FD-Hessian = 6N jitted force calls, step {args.fd_step}; speed-up = FD / "
        "Hessian steady; FD rel. err = max|H_fd - H_ad| / max|H_ad|; peak MB = ru_maxrss of the case "
        "subprocess after the Hessian and eigensolves (before FD)."
    )
    for r in records:
        if "error" in r:
            continue
        ph = r.get("phonopy")
        if ph:
            msg = f"[{r['system']} N={r['n']}] {ph}"
            if "phonopy_total_s" in r:
                msg += (
                    f": displacements {r['phonopy_displacements_s']:.2f} s, forces "
                    f"{r['phonopy_forces_s']:.2f} s, FC {r['phonopy_fc_s']:.2f} s, total "
                    f"{r['phonopy_total_s']:.2f} s, rel. err vs autodiff {r['phonopy_rel_err']:.1e}"
                )
            print(msg)
    print()
    print(_scaling_text(sc))
    print(f"\nload average at end (1, 5, 15 min): {_load()}")
    print(f"total wall time: {total:.1f} s")
    write_json(
        args.out,
        dict(
            benchmark="phonons",
            machine=machine,
            versions=versions,
            argv=sys.argv,
            total_wall_s=total,
            fd_step=args.fd_step,
            repeat=args.repeat,
            thread_env=threads,
            memory_limit_bytes=MEMORY_LIMIT_BYTES,
            records=records,
            scaling=sc,
            table_markdown=table,
        ),
    )
    print(f"wrote {os.path.relpath(args.out, os.getcwd())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
