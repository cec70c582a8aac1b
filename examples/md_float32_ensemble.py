"""Does a float32 MD stage sample the same ensemble as float64? a-SiC (Vashishta) liquid, the
engine's two-body tables and per-step three-body sub-lists: docs/md.md.

``--replicas`` runs per precision of ``md.nvt_langevin_batch`` from one perturbed 3C-SiC crystal
(``--cells``³ conventional cells, P. Vashishta et al., J. Appl. Phys. 101, 103515 (2007)), each with
its own seed; from the final snapshots, in float64: the potential energy per atom (analytic
potential), the kinetic temperature, and the height and position of the first Si–C peak of the
partial g(r) (``rdf.rdf``, σ 0.05 Å). Each row gives the replica mean ± its standard error and the
float32 − float64 difference in units of the combined error (|z| < 3: the same ensemble within
the statistics)::

    PYTHONPATH=. python examples/md_float32_ensemble.py --out docs/figures/md_float32_sic.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import jaxglass
from jaxglass import rdf
from jaxglass.generate import sic, zincblende
from jaxglass.md import nvt_langevin_batch
from jaxglass.potentials.base import energy
from jaxglass.potentials.vashishta import SIC_VASHISHTA_2007, for_md, parse_vashishta, vashishta
from jaxglass.units import KB_EV, METAL_TIME_FS


def snapshot_stats(pot, structures, kts):
    """Per replica: energy per atom (eV), temperature (K), first Si-C peak height and position (Å)."""
    r = np.linspace(1.2, 3.0, 361)
    rows = []
    for s, kt in zip(structures, kts):
        res = rdf.rdf(s, r, 0.05)
        g = np.asarray(res.partial)[res.species_names.index("Si"), res.species_names.index("C")]
        k = int(np.argmax(g))
        rows.append((energy(pot, s) / s.n_atoms, kt / KB_EV, g[k], r[k]))
    return np.array(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=4, help="conventional cells per axis (4: 512 atoms)")
    ap.add_argument("--temperature", type=float, default=4000.0, help="K (a liquid of this model)")
    ap.add_argument("--steps", type=int, default=2000, help="MD steps of 1 fs")
    ap.add_argument("--replicas", type=int, default=8)
    ap.add_argument("--out", default=None, help="JSON file for the result")
    args = ap.parse_args()
    jaxglass.enable_x64()
    pot = vashishta(parse_vashishta(SIC_VASHISHTA_2007, sic.SPECIES), sic.SPECIES)
    s = zincblende(sic.A_VASHISHTA, (args.cells,) * 3, sic.SPECIES)
    rng = np.random.default_rng(0)
    s = s.with_positions(np.asarray(s.positions) + 0.1 * rng.standard_normal((s.n_atoms, 3)))
    kw = dict(kT=KB_EV * args.temperature, n_steps=args.steps, dt=1.0 / METAL_TIME_FS,
              gamma=0.1 * METAL_TIME_FS, skin=0.3, seeds=range(args.replicas))
    names = ("energy_eV_per_atom", "temperature_K", "g_SiC_peak", "r_SiC_peak_A")
    out = dict(n_atoms=s.n_atoms, **{k: v for k, v in vars(args).items() if k != "out"}, rows={})
    for prec in ("float64", "float32"):
        t0 = time.process_time()
        res = nvt_langevin_batch(for_md(pot), [s] * args.replicas, precision=prec, **kw)
        cpu = time.process_time() - t0
        x = snapshot_stats(pot, [o.structure for o in res], [o.kinetic_kT for o in res])
        out["rows"][prec] = dict(cpu_s=cpu, values=x.tolist(), mean=x.mean(0).tolist(),
                                 sem=(x.std(0, ddof=1) / np.sqrt(len(x))).tolist())
    a, b = out["rows"]["float64"], out["rows"]["float32"]
    print(f"{s.n_atoms} atoms, {args.temperature:.0f} K, {args.steps} steps, {args.replicas} replicas; "
          f"CPU s: float64 {a['cpu_s']:.0f}, float32 {b['cpu_s']:.0f}")
    print("| quantity | float64 | float32 | z |\n|---|---|---|---|")
    out["z"] = {}
    for i, name in enumerate(names):
        z = (b["mean"][i] - a["mean"][i]) / np.hypot(a["sem"][i], b["sem"][i])
        out["z"][name] = float(z)
        print(f"| {name} | {a['mean'][i]:.4f} ± {a['sem'][i]:.4f} | {b['mean'][i]:.4f} ± {b['sem'][i]:.4f} "
              f"| {z:+.2f} |")
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
