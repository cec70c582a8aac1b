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
