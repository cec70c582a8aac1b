"""Test doubles for dataset builds.

``toy_generate`` / ``toy_crystal``: a fast 2D Kob-Andersen family (random packing quenched by
L-BFGS), a real but cheap stand-in for the generators. ``fake_record`` and ``faulty_compute`` skip
physics altogether (numpy only, no JAX): they exercise the Dask build machinery (scheduling, lost
workers, failures, interruption), where what a record contains does not matter.
Worker processes import this module by name (pytest puts tests/ on sys.path, spawn copies it).
"""

import json
import os
import signal
import time

import numpy as np

from jaxglass.generate import random_packing, triangular
from jaxglass.generate.base import Generated, check_knob
from jaxglass.minimize import minimize
from jaxglass.potentials import kob_andersen


def toy_generate(n_atoms, knob, seed, *, size="small"):
    """A fast 2D KA 'glass': random packing quenched instantly; knob = B fraction / 0.35."""
    check_knob(knob, size)
    xb = 0.35 * knob
    s = random_packing(
        n_atoms, 1.2, 2, {"A": 1 - xb, "B": xb} if xb > 0 else {"A": 1.0}, min_distance=0.7, seed=seed
    )
    res = minimize(kob_andersen(), s, fmax=1e-6)
    return Generated(
        res.structure, kob_andersen(), knob, {"x_B": xb},
        dict(fmax=res.fmax, fmax_tol=1e-6, seed=seed, relax_steps=res.n_steps),
    )


def toy_crystal(n_atoms, *, size="small"):
    a = np.sqrt(2 / (np.sqrt(3) * 1.2))
    s = triangular(a, (8, 4) if n_atoms <= 64 else (10, 6), species="A")
    return Generated(s, kob_andersen(), 0.0, {"x_B": 0.0}, dict(fmax=0.0, fmax_tol=1e-6))


def protocol_family(seen):
    """The toy family with lj's named protocols (``PROTOCOLS``); appends to ``seen`` the ``protocol``
    each glass is given (one by one or batched)."""
    from types import SimpleNamespace

    from jaxglass.generate import lj

    def generate(n_atoms, knob, seed, *, size="small", protocol=None):
        seen.append(protocol)
        return toy_generate(n_atoms, knob, seed, size=size)

    def generate_batch(n_atoms, knobs, seeds, *, size="small", protocol=None):
        return [generate(n_atoms, kn, sd, size=size, protocol=protocol) for kn, sd in zip(knobs, seeds)]

    return SimpleNamespace(generate=generate, generate_batch=generate_batch, crystal=toy_crystal,
                           PROTOCOLS=lj.PROTOCOLS)


def fake_record(cfg, k):
    """A record with the right keys and shapes, derived from (cfg, k) only; no physics."""
    knob, seed = cfg.plan(k)
    rng = np.random.default_rng(seed)
    n, n_s = cfg.n_atoms, 2
    return dict(
        positions=rng.random((n, 2)) * 5.0,
        species=(np.arange(n) % n_s).astype(np.int32),
        box=np.array([5.0, 5.0]),
        masses=np.ones(n),
        species_names=np.array(["A", "B"]),
        periodic=np.array([True, True]),
        knob=np.float64(knob),
        seed=np.int64(seed),
        knob_values=json.dumps({"x_B": max(knob, 0.0)}),
        info=json.dumps({"generator": "fake", "relax_steps": k}),
        energy_per_atom=np.float64(-k),
        frequencies=np.sort(rng.random(2 * n)) * 10.0,
        n_imaginary=np.int64(0),
        rdf_total=rng.random(cfg.n_r),
        rdf_partial=rng.random((n_s, n_s, cfg.n_r)),
        pdos_total=rng.random(cfg.n_freq),
        pdos_partial=rng.random((n_s, cfg.n_freq)),
        pdos_outside=np.float64(0.0),
    )


def _first_attempt(marker_dir, k):
    try:
        fd = os.open(os.path.join(marker_dir, f"{k}.tried"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def faulty_compute(cfg, k, marker_dir):
    """Structure 1 kills its worker (SIGKILL) on its first attempt; structure 2 outgrows the worker's
    memory limit on its first attempt (the nanny terminates the worker); structure 3 always raises;
    the others take 0.2 s. (A worker with jaxglass imported holds ~230 MB.)"""
    if k == 1 and _first_attempt(marker_dir, k):
        os.kill(os.getpid(), signal.SIGKILL)
    if k == 2 and _first_attempt(marker_dir, k):
        hog = []
        for _ in range(60):  # up to 3 GB in 50 MB steps, touched; the nanny should stop us long before
            hog.append(np.ones(50 * 2**20 // 8))
            time.sleep(0.05)
        raise RuntimeError("the worker's memory limit was not enforced")
    if k == 3:
        raise ValueError("structure 3 cannot be built (test)")
    time.sleep(0.2)
    return fake_record(cfg, k)
