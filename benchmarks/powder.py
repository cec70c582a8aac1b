"""Convergence and cost of the powder average of INS / IXS S(|Q|, ω) on small cells.

For each structure, the coherent one-phonon S(|Q|, ω) at T = 300 K on the dataset's grid of its
family (|Q| = 1, 2, ..., 8 Å⁻¹, the dataset's ``ObservableConfig``) is computed four ways with
``jaxglass.observables.powder_sqw``:

* ``all``: every reciprocal-lattice vector of each shell (``max_vectors`` above every shell size): the
  exact powder average of the cell, the reference;
* ``fixed48``: the former default, at most 48 vectors nearest Fibonacci directions (``n_directions=48``);
* ``default``: the converged average (``powder_tol`` = POWDER_TOL, ``max_vectors`` = MAX_SHELL_VECTORS);
* ``sample256``: a random sample of 256 vectors per larger shell (``max_vectors=256, powder_tol=0``), to
  check the error estimate against the true error.

Errors are per shell, ``max_ω |S - S_all| / max_ω S_all`` (the normalisation of the estimate
``Spectrum.powder_error``). Times are wall seconds after one warm-up call (compilation excluded).

Cells: 3C-SiC 64 atoms (2×2×2 conventional cells, Tersoff 1989, the test crystal), graphene (the AMC
family's crystalline reference, 160 atoms, LB Tersoff, 20 Å vacuum) and one AMC sheet of the AMC
family (160 atoms, knob 0.5, seed 0).

Usage::

    PYTHONPATH=. .venv/bin/python benchmarks/powder.py [--cases sic64 graphene amc] \
        [--out benchmarks/results/powder.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def _case(name: str):
    """``(structure, modes, DatasetConfig)`` of a case."""
    from jaxglass import data, phonons
    from jaxglass.generate import amc
    from jaxglass.generate.lattices import zincblende
    from jaxglass.potentials import tersoff_sic_1989

    if name == "sic64":
        s, pot, system = zincblende(4.32117, (2, 2, 2)), tersoff_sic_1989(), "sic"
    elif name == "graphene":
        s, pot, system = amc.crystal(160).structure, amc.potential(), "amc"
    elif name == "amc":
        s, pot, system = amc.generate(160, 0.5, 0).structure, amc.potential(), "amc"
    else:
        raise SystemExit(f"unknown case {name!r}")
    return s, phonons.modes(pot, s), data.DatasetConfig.make(system, 1)


def _timed(fn, **kw):
    t = time.perf_counter()
    sp = fn(**kw)
    return sp, time.perf_counter() - t


def _run(name: str) -> list[dict]:
    from jaxglass import observables as ob
    from jaxglass.data import ObservableConfig

    s, m, cfg = _case(name)
    q, grid, sigma, T = ObservableConfig().q(), cfg.freq_grid(), cfg.freq_sigma, 300.0
    sizes = ob.shell_vectors(s, q).sizes
    rows = []
    for probe, fn in (("ins", ob.ins_sqw), ("ixs", ob.ixs_sqw)):
        def call(fn=fn, **kw):
            return fn(s, m, q, grid, sigma, T, **kw)

        call(n_directions=1)  # warm-up: compiles the one batch shape every variant uses
        ref, t_all = _timed(call, max_vectors=int(sizes.max()))
        top = np.asarray(ref.intensity).max(1)
        row = dict(case=name, probe=probe, n_atoms=s.n_atoms, box=np.asarray(s.box).tolist(), q=q.tolist(),
                   shell_size=sizes.tolist(), sigma_THz=sigma, all_s=t_all)
        for label, kw in (("fixed48", dict(n_directions=48)), ("default", {}),
                          ("sample256", dict(max_vectors=256, powder_tol=0.0))):
            sp, t = _timed(call, **kw)
            err = np.abs(np.asarray(sp.intensity) - np.asarray(ref.intensity)).max(1) / top
            row[label] = dict(seconds=t, true_error=err.tolist(),
                              estimate=np.asarray(sp.powder_error).tolist(),
                              n_vectors=np.asarray(sp.n_vectors).tolist())
        rows.append(row)
        _print(row)
    return rows


def _print(r: dict) -> None:
    print(f"\n{r['case']} {r['probe']} ({r['n_atoms']} atoms); shell sizes {r['shell_size']}; "
          f"all vectors {r['all_s']:.2f} s")
    for label in ("fixed48", "default", "sample256"):
        v = r[label]
        print(f"  {label:9s} {v['seconds']:6.2f} s  max true error {max(v['true_error']):.3g}  "
              f"true {np.round(v['true_error'], 3).tolist()}  "
              f"estimate {np.round(v['estimate'], 3).tolist()}  n {v['n_vectors']}")


def main() -> None:
    import jax

    jax.config.update("jax_enable_x64", True)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", nargs="+", default=["sic64", "graphene", "amc"])
    ap.add_argument("--out", default="benchmarks/results/powder.json")
    args = ap.parse_args()
    from jaxglass.observables import MAX_SHELL_VECTORS, POWDER_TOL

    rows = [r for c in args.cases for r in _run(c)]
    meta = dict(machine=platform.node(), cpus=os.cpu_count(), load=os.getloadavg()[0], powder_tol=POWDER_TOL,
                max_shell_vectors=MAX_SHELL_VECTORS, temperature_K=300.0, rows=rows)
    with open(args.out, "w") as fh:
        json.dump(meta, fh, indent=1)
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
