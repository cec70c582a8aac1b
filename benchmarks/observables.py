"""Benchmark of the coherent INS structure factor: jaxglass.observables vs euphonic, same modes.

For 3C-SiC supercells (Tersoff 1989) of increasing size, the Γ-point modes are computed once with
jaxglass; then both codes compute, from those same modes, the Debye-Waller matrices at 300 K and the
mode-resolved coherent one-phonon S(Q) (mbarn per atom) at the reciprocal-lattice vectors of a
powder average (``n_shells`` |Q| shells × ``n_directions`` directions):

* jaxglass: ``debye_waller`` + ``one_phonon_structure_factor`` (jitted; first call = compile, then steady);
* euphonic (``pip install 'jaxglass[check]'``): ``QpointPhononModes`` built from the same arrays,
  ``calculate_debye_waller`` (one q-point, not symmetrised) + ``calculate_structure_factor``.

The table gives wall times, their ratio and the largest difference of the degenerate-group sums.

Usage::

    .venv/bin/python benchmarks/observables.py [--reps 2 3 4] [--out benchmarks/results/observables.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np


def _timed(fn, *a, **k):
    import jax

    t = time.perf_counter()
    out = jax.block_until_ready(fn(*a, **k))
    return out, time.perf_counter() - t


def _run_one(r: int, n_shells: int, n_directions: int, T: float = 300.0) -> dict:
    from jaxglass import observables as ob
    from jaxglass import phonons, units
    from jaxglass.generate.lattices import zincblende
    from jaxglass.potentials import tersoff_sic_1989

    s = zincblende(4.32117, (r, r, r))
    m = phonons.modes(tersoff_sic_1989(), s)
    f, v = m.frequencies, m.eigenvectors
    fa = np.asarray(f)
    fmin = 1e-3 * float(np.max(np.abs(fa)))
    shells = ob.q_shells(s, np.linspace(3.0, 7.0, n_shells), n_directions=n_directions)
    qv = np.asarray(shells.vectors)[np.asarray(shells.mask)]

    def ours():
        dw = ob.debye_waller(s, f, T, eigenvectors=v)
        return ob.one_phonon_structure_factor(s, f, qv, eigenvectors=v, dw=dw)

    _, t_cold = _timed(ours)
    s_ours, t_ours = _timed(ours)
    row = dict(n_atoms=s.n_atoms, n_modes=int(fa.shape[0]), n_q=len(qv), jaxglass_cold_s=t_cold,
               jaxglass_s=t_ours)
    try:
        from euphonic import Crystal, QpointPhononModes, ureg
    except ImportError:  # pragma: no cover
        return row
    n, box = s.n_atoms, np.asarray(s.box)
    cr = Crystal(np.diag(box) * ureg("angstrom"), np.asarray(s.positions) / box, np.array(s.symbols()),
                 np.asarray(s.masses) * ureg("amu"))
    hkl = np.round(qv * box / (2 * np.pi))
    evec = np.asarray(v).T.reshape(1, 3 * n, n, 3).astype(complex)

    def peer():
        g = QpointPhononModes(cr, np.zeros((1, 3)), fa[None] * ureg("THz"), evec)
        dw = g.calculate_debye_waller(T * ureg("K"), frequency_min=fmin * units.THZ_TO_MEV * ureg("meV"),
                                      symmetrise=False)
        qpm = QpointPhononModes(cr, hkl, np.repeat(fa[None], len(hkl), 0) * ureg("THz"),
                                np.repeat(evec, len(hkl), 0))
        return qpm.calculate_structure_factor(dw=dw).structure_factors.to("mbarn").magnitude

    t = time.perf_counter()
    s_peer = peer()
    t_peer = time.perf_counter() - t
    s_peer = np.where(fa > fmin, s_peer, 0.0)
    g = np.concatenate([[0], np.nonzero(np.diff(fa) > 1e-6 * fa.max())[0] + 1])
    diff = np.abs(np.add.reduceat(np.asarray(s_ours), g, 1) - np.add.reduceat(s_peer, g, 1)).max()
    row.update(euphonic_s=t_peer, speedup=t_peer / t_ours, max_abs_diff_mbarn=float(diff),
               max_s_mbarn=float(s_peer.max()))
    print(row, flush=True)
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, nargs="+", default=[2, 3, 4], help="supercell repeats (8 n³ atoms)")
    ap.add_argument("--n-shells", type=int, default=3)
    ap.add_argument("--n-directions", type=int, default=48)
    ap.add_argument("--out", default="benchmarks/results/observables.json")
    args = ap.parse_args(argv)

    import jax

    import jaxglass

    jaxglass.enable_x64()
    rows = [_run_one(r, args.n_shells, args.n_directions) for r in args.reps]
    print(f"{'atoms':>6} {'modes':>6} {'Q vecs':>7} {'jaxglass s':>11} {'(cold)':>8} {'euphonic s':>11} "
          f"{'ratio':>7} {'max |diff| mbarn':>17}")
    for r in rows:
        print(f"{r['n_atoms']:>6} {r['n_modes']:>6} {r['n_q']:>7} {r['jaxglass_s']:>11.3f} "
              f"{r['jaxglass_cold_s']:>8.2f} {r.get('euphonic_s', float('nan')):>11.3f} "
              f"{r.get('speedup', float('nan')):>6.1f}x {r.get('max_abs_diff_mbarn', float('nan')):>17.2e}")
    T = 300.0
    res = dict(benchmark="observables: coherent S(Q) + Debye-Waller, jaxglass vs euphonic (same modes)",
               temperature_K=T, n_shells=args.n_shells, n_directions=args.n_directions, rows=rows,
               machine=dict(platform=platform.platform(), cpus=os.cpu_count(), jax=jax.__version__,
                            backend=jax.default_backend()))
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
