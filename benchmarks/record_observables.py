"""CPU cost of one dataset record's observables (modes, then :func:`jaxglass.data.compute_observables`:
neutron-weighted DOS, INS and IXS powder averages, Raman), per stage, on records of a built dataset.

It measures the package it imports, so a before/after comparison runs it twice, the old tree first
on ``PYTHONPATH`` (e.g. an export of the older commit), alternating the two runs. One thread
(``benchmarks._common.ONE_THREAD``), CPU seconds of this process (``time.process_time``); the first
call of each stage compiles, so each record is computed ``--repeats`` times and the minimum kept.

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/record_observables.py DATASET_DIR --records 0 1 \
        [--repeats 2] [--out benchmarks/results/record_observables.json]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks._common import ONE_THREAD, machine, write_json  # noqa: E402

for _k, _v in ONE_THREAD.items():
    os.environ.setdefault(_k, _v)


def _cpu(fn, *args):
    t = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", help="a dataset directory (jaxglass generate --out)")
    ap.add_argument("--records", type=int, nargs="+", default=[0], help="record indices")
    ap.add_argument("--repeats", type=int, default=2, help="calls per record (the minimum is kept)")
    ap.add_argument("--out", default=None, help="JSON file to write")
    a = ap.parse_args(argv)

    import jax

    jax.config.update("jax_enable_x64", True)
    import jaxglass
    from jaxglass import data, phonons
    from jaxglass.data.schema import manifest_path, read_manifest
    from jaxglass.generate import family_potential

    meta = read_manifest(manifest_path(a.dataset))
    cfg = data.DatasetConfig(**meta["config"])
    pot = family_potential(cfg.system)
    rows = []
    for k in a.records:
        s = data.load_structure(a.dataset, k)
        best: dict[str, float] = {}
        for _ in range(a.repeats):
            m, t_modes = _cpu(phonons.modes, pot, s)
            _, t_obs = _cpu(data.compute_observables, s, m, cfg.freq_grid(), cfg.freq_sigma, cfg.system)
            for key, t in (("modes_s", t_modes), ("observables_s", t_obs)):
                best[key] = min(best.get(key, float("inf")), t)
        rows.append(dict(record=k, n_atoms=s.n_atoms, **best))
        print(f"{cfg.system} record {k:05d} ({s.n_atoms} atoms): modes {best['modes_s']:.1f} s, "
              f"observables {best['observables_s']:.1f} s CPU (min of {a.repeats})", flush=True)
    result = dict(benchmark="record_observables", system=cfg.system,
                  package=str(Path(jaxglass.__file__).parent), repeats=a.repeats,
                  load_average=os.getloadavg(), machine=machine(), rows=rows)
    if a.out:
        write_json(a.out, result)


if __name__ == "__main__":
    main()
