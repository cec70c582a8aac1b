"""Overhead of MD progress reports: ``md.nvt_langevin(progress=...)`` with the dataset build's reporter
(:func:`jaxglass.data.records.md_progress`: an :class:`~jaxglass.data.progress.EtaProgress` called after
every chunk, writing at most a line every few seconds) against ``progress=None``, on one MD stage.

The MD engine runs ``chunk`` steps per compiled call either way (the host checks the neighbour lists
and the positions between chunks), so the report costs one Python call per chunk: this measures it.
CPU time (``time.process_time``) of one stage, single-threaded XLA (set below, before jax is
imported), both variants called once to compile, then ``--repeats`` times alternately; the median is
reported. The stage: a Kob-Andersen 3D glass (A80B20, ρ = 1.2, a random packing relaxed by L-BFGS to
fmax 1e-3), the lj3d family's MD settings (dt 0.005 τ, γ = 1/τ, skin 0.45 σ, ``chunk`` steps per call),
kT 2.0 (the melt temperature). The two trajectories are the same (checked: equal positions).

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/md_progress.py [--atoms 1000] [--steps 2000]
[--chunk 40] [--repeats 3] [--out benchmarks/results/md_progress.json]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402

import jaxglass  # noqa: E402
from jaxglass import md  # noqa: E402
from jaxglass.data.records import md_progress  # noqa: E402
from jaxglass.generate import lj, random_packing  # noqa: E402
from jaxglass.minimize import minimize  # noqa: E402


def _cpu(f):
    t = time.process_time()
    res = f()
    jax.block_until_ready(res.structure.positions)
    return time.process_time() - t, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--atoms", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--chunk", type=int, default=lj.PROTOCOLS["paper"].chunk)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=None, help="JSON file for the results")
    a = ap.parse_args()
    jaxglass.enable_x64()
    pot = lj.potential()
    s = random_packing(a.atoms, lj.DENSITY, 3, {"A": 0.8, "B": 0.2}, min_distance=0.7, seed=0)
    s = minimize(pot, s, fmax=1e-3).structure
    prot = lj.PROTOCOLS["paper"]
    lines: list[str] = []
    kw = dict(kT=prot.kT_melt, n_steps=a.steps, dt=prot.dt, gamma=prot.gamma, seed=1, skin=lj.SKIN,
              chunk=a.chunk)
    plain = functools.partial(md.nvt_langevin, pot, s, **kw)

    def reported():
        return md.nvt_langevin(pot, s, progress=md_progress(lines.append), **kw)

    load = os.getloadavg()
    (_, r0), (_, r1) = _cpu(plain), _cpu(reported)  # compile both
    same = bool(np.array_equal(np.asarray(r0.structure.positions), np.asarray(r1.structure.positions)))
    t0, t1 = [], []
    for _ in range(a.repeats):
        t0.append(_cpu(plain)[0])
        t1.append(_cpu(reported)[0])
    m0, m1 = float(np.median(t0)), float(np.median(t1))
    n_chunks = -(-a.steps // a.chunk)
    res = dict(atoms=s.n_atoms, steps=a.steps, chunk=a.chunk, chunks=n_chunks, repeats=a.repeats,
               cpu_s_plain=t0, cpu_s_progress=t1, median_plain=m0, median_progress=m1,
               overhead_percent=100 * (m1 / m0 - 1), overhead_ms_per_chunk=1e3 * (m1 - m0) / n_chunks,
               same_trajectory=same, lines_per_stage=len(lines) / (a.repeats + 1),
               loadavg_start=load, loadavg_end=os.getloadavg(), xla_flags=os.environ["XLA_FLAGS"])
    print(f"load average {load[0]:.1f} (end {res['loadavg_end'][0]:.1f}); KA 3D, N = {s.n_atoms}, "
          f"{a.steps} steps in {n_chunks} chunks of {a.chunk}, single-threaded XLA")
    print("| progress | median CPU s | runs (CPU s) |")
    print("|---|---|---|")
    print(f"| None | {m0:.3f} | {', '.join(f'{x:.3f}' for x in t0)} |")
    print(f"| md_progress (build) | {m1:.3f} | {', '.join(f'{x:.3f}' for x in t1)} |")
    print(f"overhead {res['overhead_percent']:+.2f} % ({res['overhead_ms_per_chunk']:+.2f} ms per chunk); "
          f"same trajectory: {same}; {res['lines_per_stage']:.1f} lines per stage, e.g. "
          f"{lines[-1] if lines else '(none)'}")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=1)
        print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
