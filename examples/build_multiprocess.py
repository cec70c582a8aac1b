"""Build several jaxglass datasets on one many-core machine without Dask (multiprocessing pool).

Each task is one structure: ``data.compute_record(cfg, k)`` written with ``data.write_record``, the
same record ``jaxglass generate`` writes; records already on disk are skipped, so reruns resume.
Tasks are interleaved over the systems (k = 0 of every system first) and none starts after
DEADLINE_S seconds. This is the driver that built the LJ knob datasets of docs/study.md (16
processes, JAX on CPU); ``jaxglass generate`` is the supported route.

    DSOUT=out/dev NPROC=16 DEADLINE_S=370 python examples/build_multiprocess.py lj3d-comp:200 lj2d-comp:200
"""

import json
import os
import sys
import time
import traceback

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
import multiprocessing as mp
from pathlib import Path

T0 = time.time()
DEADLINE = float(os.environ.get("DEADLINE_S", "420"))
OUT = Path(os.environ.get("DSOUT", "/tmp/ds"))


def work(task):
    system, n, k = task
    if time.time() - T0 > DEADLINE:
        return system, k, "skipped", 0.0
    import jaxglass
    jaxglass.enable_x64()
    from jaxglass import data
    t = time.time()
    try:
        cfg = data.DatasetConfig.make(system, n, n_atoms=256)
        rec = data.compute_record(cfg, k)
        data.write_record(OUT / system, k, rec)
        return system, k, f"ok nimag={int(rec['n_imaginary'])}", time.time() - t
    except Exception:
        return system, k, "FAIL " + traceback.format_exc()[-800:], time.time() - t


if __name__ == "__main__":
    import jaxglass
    jaxglass.enable_x64()
    from jaxglass import data
    plan = [(s, int(n)) for s, n in (a.split(":") for a in sys.argv[1:])]
    tasks = []
    for system, n in plan:
        cfg = data.DatasetConfig.make(system, n, n_atoms=256)
        data.prepare_manifest(OUT / system, cfg)
        have = {p.stem for p in (OUT / system / "structures").glob("*.npz")}
        tasks += [(system, n, k) for k in range(n) if f"{k:05d}" not in have]
    # interleave the systems so every dataset grows from k = 0 together
    tasks.sort(key=lambda t: (t[2], t[0]))
    done = {s: 0 for s, _ in plan}
    ctx = mp.get_context("spawn")
    with ctx.Pool(int(os.environ.get("NPROC", "16"))) as pool:
        for system, k, msg, sec in pool.imap_unordered(work, tasks, chunksize=1):
            if msg.startswith("ok"):
                done[system] += 1
            if not msg.startswith("skipped"):
                print(f"{time.time() - T0:6.1f}s {system} {k} {sec:.1f}s {msg}", flush=True)
    print("DONE", json.dumps(done), f"{time.time() - T0:.0f}s", flush=True)
