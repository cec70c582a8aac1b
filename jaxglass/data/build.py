"""Build, resume or grow a dataset: the manifest check, the pending records and the build loop.

Structure ``k`` depends only on the configuration and ``k``, so a build computes only the records
missing in the directory, serially in this process (``workers=0``) or on Dask
(:mod:`jaxglass.data.dask_build`); every record is written atomically by whoever computed it.
See docs/datasets.md.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import families
from ..errors import UserError
from ..validation import Integral, validate
from .config import DatasetConfig
from .dask_build import build_dask
from .observables import default_observable_config, manifest_entry
from .progress import BuildProgress
from .records import run_batch, run_one
from .schema import (
    FORMAT,
    FORMAT_VERSION,
    manifest_path,
    read_manifest,
    read_record,
    record_path,
    write_manifest,
)


def _new_manifest(cfg: DatasetConfig) -> dict[str, Any]:
    from .. import __version__

    fam = families.get(cfg.system).defaults
    return dict(
        format=FORMAT, format_version=FORMAT_VERSION, config=dataclasses.asdict(cfg),
        jaxglass_version=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%S"),
        grids=dict(freq=cfg.freq_grid().tolist(), r=cfg.r_grid().tolist(), freq_unit=fam.freq_unit,
                   length_unit=fam.length_unit),
        observables=manifest_entry(cfg.system, default_observable_config(cfg.system), fam.species),
    )


def prepare_manifest(out: Path, cfg: DatasetConfig) -> None:
    """Create ``out/manifest.json`` for ``cfg``, or check that the dataset already in ``out`` was built
    with the same settings (a larger ``n_structures`` grows it; the manifest is then rewritten)."""
    man = manifest_path(out)
    if man.exists():
        old = read_manifest(man).get("config", {})
        diff = {
            key: (old.get(key), v)
            for key, v in dataclasses.asdict(cfg).items()
            if key != "n_structures" and old.get(key) != v
        }
        # a manifest without any finished record (a build that failed at once) holds no work: replace it
        finished = (out / "structures").is_dir() and any((out / "structures").glob("[0-9]*.npz"))
        if diff and finished:
            raise UserError(
                f"{out}: holds a dataset built with different settings {diff} (on disk, requested); "
                "resume with the same settings or choose another output directory", field="out")
        if not diff and old.get("n_structures", 0) >= cfg.n_structures:
            return
    elif out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise UserError(
            f"{out}: directory exists, is not empty and has no manifest.json; choose another output "
            "directory", field="out")
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out, _new_manifest(cfg))


def pending_structures(out: str | Path, cfg: DatasetConfig) -> list[int]:
    """Indices of ``cfg`` without a finished record in ``out`` (finished ones are checked readable)."""
    out = Path(out)
    todo = []
    for k in range(cfg.n_structures):
        p = record_path(out, k)
        if p.exists():
            read_record(p)  # raises on corrupt / foreign files
        else:
            todo.append(k)
    return todo


def _build_here(out: Path, todo: list[int], rep: BuildProgress, cfg: DatasetConfig,
                on_done: Callable[[int], None] | None, compute: Callable | None, batch: int = 1) -> list[int]:
    computed = []
    where = f"pid {os.getpid()}"
    for start in range(0, len(todo), batch):
        ks = todo[start : start + batch]
        for k in ks:
            rep.started(k, where)
        done = (run_batch(cfg, out, ks, where, log=rep.line) if batch > 1 and compute is None
                else [run_one(cfg, out, k, compute, where, log=rep.line) for k in ks])
        for k, s in zip(ks, done):
            computed.append(k)
            rep.finished(s)
            if on_done:
                on_done(k)
    rep.line(f"build finished: {len(computed)} computed {rep.status()}")
    return computed


@validate({"workers": [None, Integral(0, 4096), "worker processes (0: in this process), e.g. 4"],
           "batch": [Integral(1, 4096), "structures generated together in one process (workers=0), e.g. 4"]})
def build_dataset(
    out: str | Path,
    cfg: DatasetConfig,
    *,
    workers: int | None = 0,
    scheduler: str | None = None,
    memory_limit: str | int = "auto",
    dashboard_address: str = ":8787",
    progress: bool = True,
    on_done: Callable[[int], None] | None = None,
    compute: Callable[[DatasetConfig, int], dict[str, Any]] | None = None,
    batch: int = 1,
) -> list[int]:
    """Build (or resume, or grow) the dataset in ``out``; returns the indices computed in this call.

    ``workers=0`` computes in this process, without Dask. Otherwise the structures run as Dask
    tasks: on an existing cluster when ``scheduler`` (an address such as ``tcp://host:8786``) is
    given, else on a ``LocalCluster`` of ``workers`` single-threaded processes (``None``: sized to
    the machine, :func:`default_workers`) with ``memory_limit`` each (``"auto"``: the machine's
    memory shared evenly), started here and closed on return. Progress (done / failed / running,
    rate, ETA) and one line per structure (time, relaxation steps, imaginary modes) are printed
    when ``progress`` and always appended to ``out/build.log``.

    A worker that dies has its structures rescheduled on another worker (reported); a structure
    whose computation raises is reported and skipped, and :class:`BuildError` is raised at the end
    (all other records are written; rerunning retries the failed ones). Ctrl-C cancels the queued
    structures, stops the workers and re-raises ``KeyboardInterrupt`` within seconds; finished
    records are kept. ``compute(cfg, k) -> record`` replaces :func:`compute_record` (it must be
    importable where the workers run). ``on_done(k)`` is called after each record is written.
    ``batch`` > 1 (in this process, ``workers=0``) generates that many structures together where the
    family has ``generate_batch`` (their MD in one compiled program; see :func:`compute_records`).
    """
    out = Path(out).resolve()
    if compute is None:  # the family's generator builds the structures: its smallest cell, before any work
        families.check_n_atoms(cfg.system, cfg.n_atoms)
    prepare_manifest(out, cfg)
    todo = pending_structures(out, cfg)
    for stale in (out / "structures").glob(".*.tmp*") if (out / "structures").exists() else []:
        stale.unlink()  # leftovers of an interrupted write; their structures are in `todo`
    rep = BuildProgress(out, cfg, len(todo), progress)
    mode = ("in this process" if not scheduler and workers == 0 else
            f"on the Dask cluster at {scheduler}" if scheduler else "on a local Dask cluster")
    named = f" (protocol {cfg.protocol})" if cfg.protocol else ""
    rep.line(f"build {cfg.system}{named}: {len(todo)} of {cfg.n_structures} structures to compute {mode} "
             f"({cfg.n_structures - len(todo)} finished before) in {out}")
    if not todo:
        return []
    if not scheduler and workers == 0:
        return _build_here(out, todo, rep, cfg, on_done, compute, batch)
    if batch > 1:
        raise UserError("batch: batched generation runs in this process; use workers=0 (--workers 0)")
    return build_dask(out, cfg, todo, rep, workers=workers, scheduler=scheduler, memory_limit=memory_limit,
                      dashboard_address=dashboard_address, on_done=on_done, compute=compute)
