"""Time and peak memory of the Γ PDOS vs N: dense route (Hessian + eigh) and KPM (matrix-free).

Each case runs in a fresh subprocess (peak memory = that process's max RSS on CPU, or the device's
``peak_bytes_in_use`` on a GPU). Structures are made by :func:`jaxglass.generate.large.large_glass`
(the family's relaxed glass tiled, rattled and relaxed; ``--no-relax`` tiles only) and cached under
``--cache`` so the timing runs do not regenerate them. Reported per case: structure time, neighbour
list time, first call (JIT included) and steady call of the PDOS, and for KPM the time per
Hessian-vector product (``steady / (R · (M/2 + Lanczos steps))``), which should grow linearly in N.

Run (CPU here):
  PYTHONPATH=. .venv/bin/python benchmarks/scale.py --family lj3d --sizes 1000,10000,100000 \
      --dense-max 2000 --out benchmarks/results/scale_cpu.json
On a GPU machine the same command with ``--out benchmarks/results/scale_gpu.json`` (JAX picks the
GPU; ``JAX_PLATFORMS=cpu`` forces the CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(path):
    import numpy as np

    from jaxglass.structure import from_arrays

    d = np.load(path, allow_pickle=False)
    return from_arrays(d), json.loads(str(d["info"]))


def _case(args) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    import jaxglass
    from jaxglass import kpm, phonons
    from jaxglass.generate import Generated, family_potential
    from jaxglass.generate.large import large_glass
    from jaxglass.hessian import as_f64
    from jaxglass.structure import to_arrays

    jaxglass.enable_x64()
    out = dict(family=args.family, n_target=args.n, route=args.route, device=str(jax.devices()[0]))
    cache = Path(args.cache) / f"{args.family}-{args.n}-{'relaxed' if args.relax else 'tiled'}.npz"
    t0 = time.perf_counter()
    if cache.exists():
        s, out["structure_info"] = _load(cache)
        pot = family_potential(args.family)
    else:
        base = None
        if args.base and (Path(args.base) / f"{args.family}.npz").exists():
            s0, info0 = _load(Path(args.base) / f"{args.family}.npz")
            base = Generated(structure=s0, potential=family_potential(args.family), knob=1.0,
                             knob_values={}, info=info0)
        g = large_glass(args.family, args.n, base=base, relax=args.relax, max_steps=args.max_steps)
        s, pot = g.structure, g.potential
        out["structure_info"] = g.info
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp.npz")
        np.savez(tmp, **to_arrays(s), info=json.dumps(g.info))
        os.replace(tmp, cache)
    out["t_structure_s"] = time.perf_counter() - t0
    s = as_f64(s)
    out["n_atoms"] = int(s.n_atoms)
    t0 = time.perf_counter()
    nb = pot.neighbors(s)
    out["t_neighbors_s"] = time.perf_counter() - t0
    out["neighbor_widths"] = [int(np.shape(i)[1]) for i in nb]
    grid = jnp.linspace(0.0, args.numax, 400) if args.numax else None

    def run():
        if args.route == "dense":
            m = phonons.modes(pot, s, nb, eigenvectors=False)
            g_, sig = phonons.default_grid(m.frequencies) if grid is None else (grid, 0.01 * args.numax)
            return phonons.dos(m.frequencies, g_, sig).block_until_ready()
        res = kpm.pdos(
            pot, s, grid, None if grid is None else 0.01 * args.numax, nbrs=nb, moments=args.moments,
            vectors=args.vectors, partial=False, key=0,
        )
        res.total.block_until_ready()
        return res

    t0 = time.perf_counter()
    run()
    out["t_first_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run()
    out["t_steady_s"] = time.perf_counter() - t0
    if args.route == "kpm":  # the spectrum itself, for the figure in docs/kpm.md
        out["dos_total"] = np.asarray(res.total).round(8).tolist()
        out["dos_grid"] = np.asarray(res.grid).round(6).tolist()
        out["dos_unit"] = pot.freq_unit
    if args.route == "kpm":
        n_hvp = args.vectors * ((args.moments + 1) // 2) + kpm.LANCZOS_STEPS
        out.update(moments=args.moments, vectors=args.vectors, n_hvp=n_hvp)
        out["t_per_hvp_s"] = out["t_steady_s"] / n_hvp
        out["t_per_hvp_per_atom_ns"] = 1e9 * out["t_per_hvp_s"] / s.n_atoms
    dev = jax.devices()[0]
    stats = dev.memory_stats() if dev.platform != "cpu" else None
    if stats:
        out["peak_device_gb"] = stats.get("peak_bytes_in_use", 0) / 1e9
    import resource

    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="lj3d")
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--routes", default="dense,kpm")
    ap.add_argument("--dense-max", type=int, default=4000, help="largest N for the dense route")
    ap.add_argument("--moments", type=int, default=512)
    ap.add_argument("--vectors", type=int, default=1)
    ap.add_argument("--numax", type=float, default=0.0, help="grid 0..numax (0: default grid)")
    ap.add_argument("--no-relax", dest="relax", action="store_false")
    ap.add_argument("--max-steps", type=int, default=3000)
    ap.add_argument("--cache", default="out/scale")
    ap.add_argument("--base", default="", help="folder of base glasses {family}.npz to tile (else generated)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds per case")
    ap.add_argument("--out", default="benchmarks/results/scale_cpu.json")
    ap.add_argument("--case", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--route", default="kpm", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        print("RESULT " + json.dumps(_case(args)), flush=True)
        return
    rows = []
    base = [sys.executable, __file__, "--case", "--family", args.family, "--moments", str(args.moments),
            "--vectors", str(args.vectors), "--numax", str(args.numax), "--cache", args.cache,
            "--base", args.base, "--max-steps", str(args.max_steps)] + ([] if args.relax else ["--no-relax"])
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for n in (int(x) for x in args.sizes.split(",")):
        for route in args.routes.split(","):
            if route == "dense" and n > args.dense_max:
                continue
            t0 = time.perf_counter()
            try:
                p = subprocess.run(base + ["--n", str(n), "--route", route], capture_output=True, text=True,
                                   env=env, timeout=args.timeout)
                res = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
                row = json.loads(res[-1][7:]) if res else dict(family=args.family, n_target=n, route=route,
                                                               error=p.stderr[-1500:])
            except subprocess.TimeoutExpired:
                row = dict(family=args.family, n_target=n, route=route, error=f"timeout {args.timeout} s")
            row["wall_s"] = time.perf_counter() - t0
            rows.append(row)
            print(json.dumps(row), flush=True)
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            meta = dict(platform=platform.platform(), cpus=os.cpu_count(), load=os.getloadavg(),
                        argv=sys.argv)
            tmp = Path(args.out).with_suffix(".tmp")
            tmp.write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
            os.replace(tmp, args.out)
    print("| family | N | route | device | structure s | first s (JIT) | steady s | s per HVP | ns/HVP/atom "
          "| peak GB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['family']} | {r['n_target']} | {r['route']} | – | error: {r['error'][-80:]!r} |||||")
            continue
        peak = r.get("peak_device_gb", r["peak_rss_gb"])
        print(
            f"| {r['family']} | {r['n_atoms']} | {r['route']} | {r['device']} | {r['t_structure_s']:.1f} | "
            f"{r['t_first_s']:.2f} | {r['t_steady_s']:.2f} | {r.get('t_per_hvp_s', float('nan')):.3g} | "
            f"{r.get('t_per_hvp_per_atom_ns', float('nan')):.3g} | {peak:.2f} |"
        )


if __name__ == "__main__":
    main()
