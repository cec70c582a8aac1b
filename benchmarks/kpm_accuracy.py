"""KPM accuracy against the dense route: DOS error vs number of moments M and random vectors R.

For each family and size, one relaxed glass; the dense Γ PDOS (Hessian + LAPACK eigh, Gaussian
σ = 1 % of the spectral width, 400 points) is the reference. KPM moments are computed once for
``R_max`` single vectors up to ``M_max`` (the first M moments of an M_max run are the M-moment
run's, so every (M, R) pair comes from the same recursion); the DOS for each (M, R) uses the first
R vectors and the Jackson kernel of order M.

Error measures (both relative to the dense DOS): ``L1`` = ∫|g_KPM − g_dense| dν (the DOS integrates
to 1, so this is the misplaced fraction of modes) and ``max`` = max|g_KPM − g_dense| / max g_dense.
The same map applied to the *exact* moments (from the dense eigenvalues) gives the kernel
(truncation) error alone. ``ν_res``: the frequency resolution of the Jackson kernel at ν_max/2
(δλ ≈ π h / M → δν = δλ / (2 ν) · factor²), in the DOS unit.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/kpm_accuracy.py [--families lj3d,amc]
[--sizes 1000,2000] [--out benchmarks/results/kpm_accuracy.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxglass
from jaxglass import kpm, phonons
from jaxglass._io import atomic_write_text
from jaxglass.generate import Generated, family_potential
from jaxglass.generate.large import large_glass
from jaxglass.hessian import as_f64, dynamical_hvp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import _load  # noqa: E402


def run_case(family: str, n: int, m_list, r_list, base_dir: str, seed: int = 0) -> list[dict]:
    path = Path(base_dir) / f"{family}.npz"
    if path.exists():  # a carried base glass (benchmarks/scale.py --base), tiled without relaxation
        s0, _ = _load(path)
        base = Generated(structure=s0, potential=family_potential(family), knob=1.0, knob_values={}, info={})
        g = large_glass(family, n, base=base, relax=False)
    else:  # the family's own glass of about n atoms
        g = large_glass(family, n, base_atoms=n, seed=seed, relax=False)
    s, pot = as_f64(g.structure), g.potential
    nb = pot.neighbors(s)
    t0 = time.perf_counter()
    dense_m = phonons.modes(pot, s, nb, eigenvectors=False)
    t_dense = time.perf_counter() - t0
    grid, sigma = phonons.default_grid(dense_m.frequencies)
    dense = phonons.dos(dense_m.frequencies, grid, sigma)
    f = np.asarray(dense_m.frequencies)
    v0 = jax.random.normal(jax.random.PRNGKey(seed), s.positions.shape)
    a, b = kpm.spectral_bounds(lambda v: dynamical_hvp(pot, s, nb, v), v0)
    m_max, r_max = max(m_list), max(r_list)
    z = kpm.probe_vectors(jax.random.PRNGKey(seed + 1), r_max, s.positions.shape)
    mom = jax.jit(lambda zz: kpm.moments(pot, s, nb, zz, (a, b), m_max)[0])
    t0 = time.perf_counter()
    mus = np.stack([np.asarray(mom(z[r : r + 1])) for r in range(r_max)])  # (R, M)
    t_kpm = time.perf_counter() - t0
    rows = []
    scale = float(dense.max())
    dnu = float(grid[1] - grid[0])
    for m in m_list:
        coef = kpm.frequency_dos_coefficients(grid, sigma, pot.freq_factor, a, b, m)
        nu_half = 0.5 * float(f.max())
        lam_res = np.pi * 0.5 * float(b - a) / m
        nu_res = lam_res / (2 * nu_half) * pot.freq_factor**2
        # the kernel (truncation) error alone: the same map applied to the exact moments
        x = (np.asarray(dense_m.eigenvalues) - 0.5 * float(a + b)) / (0.5 * float(b - a))
        th = np.arccos(np.clip(x, -1.0, 1.0))
        mu_exact = np.array([np.cos(k * th).mean() for k in range(m)])
        err_k = np.abs(np.asarray(coef @ jnp.asarray(mu_exact)) - np.asarray(dense))
        l1_kernel, max_kernel = float(err_k.sum() * dnu), float(err_k.max() / scale)
        for r in r_list:
            dos = np.asarray(coef @ jnp.asarray(mus[:r, :m].mean(0)))
            err = np.abs(dos - np.asarray(dense))
            rows.append(
                dict(
                    family=family,
                    n_atoms=int(s.n_atoms),
                    moments=m,
                    vectors=r,
                    l1=float(err.sum() * dnu),
                    l1_kernel_only=l1_kernel,
                    max_rel_kernel_only=max_kernel,
                    max_rel=float(err.max() / scale),
                    nu_res_at_half_max=nu_res,
                    sigma=sigma,
                    unit=pot.freq_unit,
                )
            )
    for row in rows:
        row.update(t_dense_s=t_dense, t_kpm_all_vectors_s=t_kpm, m_max=m_max, r_max=r_max)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default="lj3d,amc")
    ap.add_argument("--sizes", default="1000,2000")
    ap.add_argument("--moments", default="128,256,512,1024,2048")
    ap.add_argument("--vectors", default="1,4,16")
    ap.add_argument("--base", default="out/scale-base", help="base glasses {family}.npz (tiled to N)")
    ap.add_argument("--out", default="benchmarks/results/kpm_accuracy.json")
    args = ap.parse_args()
    jaxglass.enable_x64()
    m_list = [int(x) for x in args.moments.split(",")]
    r_list = [int(x) for x in args.vectors.split(",")]
    rows = []
    for fam in args.families.split(","):
        for n in (int(x) for x in args.sizes.split(",")):
            t0 = time.perf_counter()
            rows += run_case(fam, n, m_list, r_list, args.base)
            print(f"# {fam} N≈{n}: {time.perf_counter() - t0:.1f} s", flush=True)
            atomic_write_text(args.out + ".partial", json.dumps(rows))
    print("| family | N | M | R | L1 error | max error | L1, exact moments | max, exact moments "
          "| ν resolution at ν_max/2 | σ |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['family']} | {r['n_atoms']} | {r['moments']} | {r['vectors']} | {r['l1']:.2e} | "
            f"{r['max_rel']:.2e} | {r['l1_kernel_only']:.2e} | {r['max_rel_kernel_only']:.2e} | "
            f"{r['nu_res_at_half_max']:.3g} {r['unit']} | {r['sigma']:.3g} |"
        )
    meta = dict(
        device=str(jax.devices()[0]),
        platform=platform.platform(),
        cpus=os.cpu_count(),
        jax=jax.__version__,
        load=os.getloadavg(),
    )
    atomic_write_text(args.out, json.dumps(dict(meta=meta, rows=rows), indent=1))
    Path(args.out + ".partial").unlink(missing_ok=True)
    print(f"# wrote {args.out}")


if __name__ == "__main__":
    main()
