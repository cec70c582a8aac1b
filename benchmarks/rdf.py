"""Benchmark: jaxglass's smoothed g(r) (total + all partials, and its gradient) vs freud.density.RDF.

System: a Kob-Andersen-like A80B20 random packing of 1,000 particles at ρ = 1.2 (no pair closer
than 0.75, reduced units), tiled to N = 10^3 ... 10^6 (reps (1,1,1), (5,2,1), (5,5,4), (10,10,10)).
The grid is the lj3d dataset's: 200 points on r ∈ [0.6, 2.7], σ = 0.03 (pairs to 2.7 + 5σ).

Cases, each in a fresh subprocess so that peak memory (``ru_maxrss``) is its own:

* ``freud``: ``freud.density.RDF(bins=200, r_min=0.6, r_max=2.7)`` on all points (total) and on the
  species pairs AA, AB, BB (query_points = species a, points = species b): "total" and
  "total+partials" times (freud's histogram, no smoothing; all of freud's threads).
* ``jaxglass``: ``rdf(s, r, sigma)`` (total and all partials in one call, float64): host pair
  search slab by slab (scipy k-d trees) streamed through the accumulation.
* ``jaxglass-grad``: pair list (:func:`jaxglass.rdf.rdf_pairs`) + ``jax.value_and_grad`` of a
  random weighted sum of the total and partial g(r) with respect to the positions; then the
  forward pass with the pair list, timed as pair search + g(r).

Times are the best of ``--repeats`` steady calls after one warm-up call (the cold first call,
including JIT compilation, is recorded too). Memory: peak RSS of the subprocess and the increase
over the RSS just before the first call (structure built, libraries imported).

Usage::

    .venv/bin/python benchmarks/rdf.py [--sizes 1000,10000,100000,1000000] [--repeats 3]
                                       [--out benchmarks/results/rdf.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_OUT = os.path.join(HERE, "results", "rdf.json")
REPS = {1000: (1, 1, 1), 10000: (5, 2, 1), 100000: (5, 5, 4), 1000000: (10, 10, 10)}
R_MIN, R_MAX, BINS, SIGMA = 0.6, 2.7, 200, 0.03


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def _structure(n: int):
    from jaxglass.generate import random_packing
    from jaxglass.structure import replicate

    if n not in REPS:
        raise SystemExit(f"--sizes: each size must be one of {sorted(REPS)}, got {n}")
    base = random_packing(1000, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.75, seed=0)
    return replicate(base, REPS[n])


def _best(fn, repeats: int) -> tuple[float, float, list[float]]:
    t = time.perf_counter()
    fn()
    cold = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return cold, min(times), times


def case(tool: str, n: int, repeats: int, chunk: int | None = None) -> dict:
    """Run one case in this process and return its record."""
    import numpy as np

    s = _structure(n)
    out: dict = {"tool": tool, "n_atoms": n}
    if tool == "freud":
        import freud

        out["version"] = freud.__version__
        box = freud.box.Box(*np.asarray(s.box))
        pos = np.asarray(s.positions) - np.asarray(s.box) / 2
        sp = np.asarray(s.species)
        base = _rss_mb()

        def total():
            return freud.density.RDF(bins=BINS, r_max=R_MAX, r_min=R_MIN).compute((box, pos)).rdf

        def partials():
            out_ = [total()]
            for a in range(2):
                for b in range(a, 2):
                    rd = freud.density.RDF(bins=BINS, r_max=R_MAX, r_min=R_MIN)
                    out_.append(rd.compute((box, pos[sp == b]), query_points=pos[sp == a]).rdf)
            return out_

        out["total_cold_s"], out["total_s"], out["total_times"] = _best(total, repeats)
        out["forward_cold_s"], out["forward_s"], out["forward_times"] = _best(partials, repeats)
    else:
        import jax
        import jax.numpy as jnp

        import jaxglass
        from jaxglass import rdf as R

        jaxglass.enable_x64()
        out["version"] = jax.__version__
        out["device"] = str(jax.devices()[0])
        r = jnp.linspace(R_MIN, R_MAX, BINS)
        rng = np.random.default_rng(0)
        wt = jnp.asarray(rng.normal(size=BINS))
        wp = jnp.asarray(rng.normal(size=(2, 2, BINS)))
        base = _rss_mb()
        parts: dict = {}

        def forward():  # the plain call: host pair search slab by slab, streamed accumulation
            g = R.rdf(s, r, SIGMA, chunk=chunk)
            return g.partial.block_until_ready()

        def split():  # the same with the pair list built first (what the gradient needs)
            t = time.perf_counter()
            pairs = R.rdf_pairs(s, R_MAX, SIGMA)
            t1 = time.perf_counter()
            g = R.rdf(s, r, SIGMA, pairs, chunk=chunk)
            g.partial.block_until_ready()
            parts.setdefault("pairs", []).append(t1 - t)
            parts.setdefault("rdf", []).append(time.perf_counter() - t1)
            out["n_pairs"] = int(len(pairs[0]))

        def loss(x, pairs):
            g = R.rdf(s.with_positions(x), r, SIGMA, pairs, chunk=chunk)
            return jnp.dot(wt, g.total) + jnp.sum(wp * g.partial)

        vg = jax.jit(jax.value_and_grad(loss))

        def gradient():
            pairs = R.rdf_pairs(s, R_MAX, SIGMA)
            v, gx = vg(s.positions, pairs)
            return gx.block_until_ready()

        if tool == "jaxglass":
            out["forward_cold_s"], out["forward_s"], out["forward_times"] = _best(forward, repeats)
        else:
            out["grad_cold_s"], out["grad_s"], out["grad_times"] = _best(gradient, repeats)
            _, out["split_s"], _ = _best(split, repeats)
            k = int(np.argmin(np.add(parts["pairs"], parts["rdf"])[1:])) + 1  # skip the cold call
            out["pairs_s"], out["rdf_s"] = parts["pairs"][k], parts["rdf"][k]
        stats = jax.devices()[0].memory_stats() or {}
        if jax.devices()[0].platform != "cpu" and "peak_bytes_in_use" in stats:
            out["device_peak_mb"] = stats["peak_bytes_in_use"] / 1e6
    out["peak_mb"] = _peak_mb()
    out["base_mb"] = base
    out["delta_mb"] = out["peak_mb"] - base
    return out


def _run_case(tool: str, n: int, repeats: int, chunk: int | None) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--case", tool, "--sizes", str(n)]
    cmd += ["--repeats", str(repeats)] + (["--chunk", str(chunk)] if chunk else [])
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        err = p.stderr.strip().splitlines()[-1] if p.stderr.strip() else f"exit status {p.returncode}"
        return {"tool": tool, "n_atoms": n, "error": err}
    return json.loads(p.stdout.strip().splitlines()[-1])


def _fmt(x, spec=".3g"):
    return "—" if x is None else format(x, spec)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="1000,10000,100000,1000000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--chunk", type=int, default=None, help="pairs per scan step in rdf (default 16384)")
    ap.add_argument("--no-freud-above", type=int, default=10**9, help="skip freud above this N")
    ap.add_argument("--case", choices=["freud", "jaxglass", "jaxglass-grad"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",")]
    except ValueError:
        print(f"--sizes: comma-separated integers, got {args.sizes!r}", file=sys.stderr)
        raise SystemExit(2) from None
    if args.repeats < 1:
        print("--repeats: must be at least 1", file=sys.stderr)
        raise SystemExit(2)
    if args.case:
        print(json.dumps(case(args.case, sizes[0], args.repeats, args.chunk)))
        return
    bad = [n for n in sizes if n not in REPS]
    if bad:
        print(f"--sizes: each size must be one of {sorted(REPS)}, got {bad}", file=sys.stderr)
        raise SystemExit(2)
    try:
        import freud  # noqa: F401

        have_freud = True
    except ImportError:
        have_freud = False
        print("freud is not installed (pip install 'jaxglass[bench]'): jaxglass only", file=sys.stderr)
    records = []
    rows = []
    for n in sizes:
        rec = {}
        tools = ["jaxglass", "jaxglass-grad"]
        if have_freud and n <= args.no_freud_above:
            tools = ["freud"] + tools
        for tool in tools:
            t0 = time.time()
            rec[tool] = _run_case(tool, n, args.repeats, args.chunk)
            wall, load = time.time() - t0, os.getloadavg()[0]
            print(f"  N={n} {tool}: {wall:.1f} s wall, load {load:.1f}", file=sys.stderr, flush=True)
            records.append(rec[tool])
        fr, jg, gr = rec.get("freud", {}), rec["jaxglass"], rec["jaxglass-grad"]
        row = dict(
            n=n,
            pairs=gr.get("n_pairs"),
            freud_total=fr.get("total_s"),
            freud_all=fr.get("forward_s"),
            jg=jg.get("forward_s"),
            jg_pairs=gr.get("pairs_s"),
            jg_rdf=gr.get("rdf_s"),
            jg_cold=jg.get("forward_cold_s"),
            grad=gr.get("grad_s"),
            split=gr.get("split_s"),
            freud_mb=fr.get("peak_mb"),
            freud_dmb=fr.get("delta_mb"),
            jg_mb=jg.get("peak_mb"),
            jg_device_mb=jg.get("device_peak_mb"),
            grad_device_mb=gr.get("device_peak_mb"),
            jg_dmb=jg.get("delta_mb"),
            grad_mb=gr.get("peak_mb"),
            grad_dmb=gr.get("delta_mb"),
            errors={k: v["error"] for k, v in rec.items() if "error" in v},
        )
        rows.append(row)

    def ratio(a, b):
        return None if a is None or b is None else a / b

    head = (
        "| N | pairs | freud total (s) | freud total+partials (s) | jaxglass total+partials (s) "
        "| ratio vs freud total+partials | ratio vs freud total | jaxglass cold (s) "
        "| with the pair list: search + g(r) (s) | gradient (s) | gradient / forward with the pair list "
        "| peak RSS MB (increase): freud / jaxglass / gradient |"
    )
    print(head)
    print("|" + "---|" * (head.count("|") - 1))
    for w in rows:
        mem = " / ".join(
            f"{_fmt(w[a], '.0f')} ({_fmt(w[b], '.0f')})"
            for a, b in (("freud_mb", "freud_dmb"), ("jg_mb", "jg_dmb"), ("grad_mb", "grad_dmb"))
        )
        print(
            f"| {w['n']:,} | {_fmt(w['pairs'], ',')} | {_fmt(w['freud_total'])} | {_fmt(w['freud_all'])} | "
            f"{_fmt(w['jg'])} | {_fmt(ratio(w['jg'], w['freud_all']), '.2f')} | "
            f"{_fmt(ratio(w['jg'], w['freud_total']), '.2f')} | {_fmt(w['jg_cold'])} | "
            f"{_fmt(w['jg_pairs'])} + {_fmt(w['jg_rdf'])} | {_fmt(w['grad'])} | "
            f"{_fmt(ratio(w['grad'], w['split']), '.2f')} | {mem} |"
        )
        if w["errors"]:
            print(f"  errors at N={w['n']}: {w['errors']}")
    meta = dict(
        command="python benchmarks/rdf.py " + " ".join(sys.argv[1:] if argv is None else argv),
        machine=dict(platform=platform.platform(), cpus=os.cpu_count(), python=platform.python_version()),
        jax_device=next((r.get("device") for r in records if r.get("device")), None),
        load_after=[round(x, 2) for x in os.getloadavg()],
        grid=dict(r_min=R_MIN, r_max=R_MAX, points=BINS, sigma=SIGMA),
        system="A80B20 random packing, 1000 particles, rho = 1.2, min distance 0.75, tiled",
        time=time.strftime("%Y-%m-%d %H:%M:%S"),
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(dict(meta=meta, table=rows, records=records), f, indent=1)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
