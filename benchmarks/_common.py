"""What the benchmark scripts share: one-thread settings, per-size worker processes, atomic JSON.

Scripts run as ``python benchmarks/NAME.py`` import it as ``from _common import ...`` (the script's
folder is first on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from jaxglass._io import atomic_write_text

#: Environment of a one-thread worker: XLA's CPU runtime and the BLAS on one thread each.
ONE_THREAD = {
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
}


def machine() -> dict:
    """Where a benchmark ran: platform, CPU count, Python version."""
    return dict(platform=platform.platform(), cpus=os.cpu_count(), python=sys.version.split()[0])


def write_json(path: str, record: dict) -> None:
    """Write ``record`` (with the date added) to ``path`` atomically, creating its folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    record = dict(record, date=record.get("date", time.strftime("%Y-%m-%d %H:%M:%S")))
    atomic_write_text(path, json.dumps(record, indent=1) + "\n")
    print(f"wrote {path}")


def worker_row(script: str, n: int, repeat: int, *, env: dict | None = None) -> dict:
    """Run ``script --worker n --repeat repeat`` in a fresh process (own compilation caches, own
    peak RSS) and return the JSON object it prints last, with the load average before and after."""
    load0 = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, script, "--worker", str(n), "--repeat", str(repeat)],
        capture_output=True, text=True, env=None if env is None else dict(os.environ, **env),
    )
    if proc.returncode != 0:
        print(proc.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"worker N={n} failed")
    row = json.loads(proc.stdout.strip().splitlines()[-1])
    row["load_before"], row["load_after"] = round(load0, 2), round(os.getloadavg()[0], 2)
    return row


def size_args(description: str, sizes: str, repeat: int, out: str, worker):
    """The options of a per-size benchmark (``--sizes``, ``--repeat``, ``--out``). Called in a worker
    process (hidden ``--worker N``), it prints ``worker(N, repeat)`` as JSON and returns ``None``."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--sizes", default=sizes)
    ap.add_argument("--repeat", type=int, default=repeat)
    ap.add_argument("--out", default=out)
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker is not None:
        print(json.dumps(worker(args.worker, args.repeat)))
        return None
    return args


def paper_record(family: str, index: int = 1):
    """Record ``index`` of a family's committed paper export (``examples/datasets/paper/<family>.npz``,
    run from the repository root) as a :class:`~jaxglass.structure.Structure`."""
    import tempfile

    from jaxglass.data import import_dataset, load_structure

    with tempfile.TemporaryDirectory() as tmp:
        import_dataset(f"examples/datasets/paper/{family}.npz", tmp)
        return load_structure(tmp, index)


def cpu_seconds_per_call(routes: dict, arg, calls: int, repeats: int) -> dict[str, float]:
    """Median over ``repeats`` interleaved rounds of the CPU seconds per call of each route (``name ->
    jitted function of arg``; the results are blocked on)."""
    import statistics

    import jax

    times: dict[str, list[float]] = {k: [] for k in routes}
    for _ in range(repeats):
        for k, f in routes.items():
            c = time.process_time()
            for _ in range(calls):
                jax.block_until_ready(f(arg))
            times[k].append((time.process_time() - c) / calls)
    return {k: statistics.median(t) for k, t in times.items()}


#: The families with a committed paper export, in table order.
PAPER_FAMILIES = ("lj2d", "lj3d", "amc", "sic", "cualzr", "hea")


def route_args(doc: str, call: str, extra: tuple = ()):
    """The command line of a per-family route comparison (``--families``, ``--calls``, ``--repeats``,
    ``--out``, and the switches ``extra``: ``(flag, help)`` pairs); ``call`` names one timed call."""
    import argparse

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--families", default=",".join(PAPER_FAMILIES))
    ap.add_argument("--calls", type=int, default=10, help=f"{call} per timed round")
    ap.add_argument("--repeats", type=int, default=3, help="rounds per route (median reported)")
    ap.add_argument("--out", default=None)
    for flag, text in extra:
        ap.add_argument(flag, action="store_true", help=text)
    return ap.parse_args()
