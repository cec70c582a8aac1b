"""Resumable dataset builder: structures → RDFs (total + partials) → PDOS (total + partials).

Layout of a dataset directory::

    DIR/manifest.json         format tag, jaxglass version, the full build configuration and grids
    DIR/structures/00000.npz  one file per structure (written atomically: temp file + os.replace)
    DIR/build.log             one line per event of every build run (start, done, failure, worker loss)

Structure ``k`` is fully determined by the configuration and ``k`` (knob and seed are derived from
them), so an interrupted build resumes by computing only the missing files, and building on any
number of workers gives the same files as a serial build. Builds run on ``dask.distributed``: a
``LocalCluster`` of single-threaded worker processes started and stopped by :func:`build_dataset`,
or an existing cluster given by its scheduler address (workers must see the dataset directory).
One structure is one task; the worker writes its record itself, so a lost worker or an interrupted
build loses at most the structures in flight. :func:`export_dataset` / :func:`import_dataset` pack a
dataset into one compressed file and back. Index 0 is the crystalline
reference when ``include_crystal`` is set; the other knobs are stratified over
``[knob_min, knob_max]`` in a seeded random order, so every prefix of the dataset spans the range.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import families as _families
from .errors import BuildError, UserError
from .families import FamilyDefaults

FORMAT = "jaxglass-dataset"
FORMAT_VERSION = 1
RECORD_KEYS = (
    "positions",
    "species",
    "box",
    "masses",
    "species_names",
    "periodic",
    "knob",
    "seed",
    "knob_values",
    "info",
    "energy_per_atom",
    "frequencies",
    "n_imaginary",
    "rdf_total",
    "rdf_partial",
    "pdos_total",
    "pdos_partial",
    "pdos_outside",
)


#: Grids and default sizes per family, derived from the one registry :data:`jaxglass.families.REGISTRY`.
FAMILIES: dict[str, FamilyDefaults] = {name: f.defaults for name, f in _families.REGISTRY.items()}


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    system: str
    n_structures: int
    n_atoms: int
    size: str = "small"
    seed: int = 0
    knob_min: float = 0.0
    knob_max: float = 1.0
    include_crystal: bool = True
    n_freq: int = 300
    freq_max: float = 0.0
    freq_sigma: float = 0.0
    n_r: int = 200
    r_min: float = 0.0
    r_max: float = 0.0
    r_sigma: float = 0.0

    @staticmethod
    def make(
        system: str, n_structures: int, *, n_atoms: int | None = None, size: str = "small", **kw
    ) -> DatasetConfig:
        if system not in FAMILIES:
            raise UserError(f"system: unknown family {system!r}; choose one of {sorted(FAMILIES)}")
        if n_structures < 1:
            raise UserError(f"n_structures: must be at least 1, got {n_structures}")
        if n_atoms is not None and n_atoms < 2:
            raise UserError(f"n_atoms: need at least 2 atoms per structure, got {n_atoms}; "
                             "omit it for the family default")
        if size not in ("small", "paper"):
            raise UserError(f"size: expected 'small' or 'paper', got {size!r}")
        fam = FAMILIES[system]
        if n_atoms is None:
            n_atoms = fam.n_atoms_small if size == "small" else fam.n_atoms_paper
        defaults = dict(
            freq_max=fam.freq_max,
            freq_sigma=fam.freq_sigma,
            r_min=fam.r_min,
            r_max=fam.r_max,
            r_sigma=fam.r_sigma,
        )
        for k, v in defaults.items():
            if not kw.get(k):
                kw[k] = v
        cfg = DatasetConfig(
            system=system, n_structures=int(n_structures), n_atoms=int(n_atoms), size=size, **kw
        )
        if not (0.0 <= cfg.knob_min <= cfg.knob_max <= 1.0):
            raise UserError(
                f"knob_min/knob_max: need 0 <= min <= max <= 1, got {cfg.knob_min}, {cfg.knob_max}"
            )
        return cfg

    def freq_grid(self) -> np.ndarray:
        return np.linspace(0.0, self.freq_max, self.n_freq)

    def r_grid(self) -> np.ndarray:
        return np.linspace(self.r_min, self.r_max, self.n_r)

    def plan(self, k: int) -> tuple[float, int]:
        """Knob and seed of structure ``k`` (``knob = -1`` marks the crystalline reference).

        Knobs follow a base-2 van der Corput sequence with a seeded random shift (mod 1): every
        prefix of the dataset spreads evenly over the range, and structure ``k`` does not depend on
        ``n_structures``, so a dataset can be grown later without changing finished structures.
        """
        if self.include_crystal and k == 0:
            return -1.0, self.seed
        j = k - (1 if self.include_crystal else 0)
        x, denom, jj = 0.0, 1.0, j + 1
        while jj:
            jj, bit = divmod(jj, 2)
            denom *= 2.0
            x += bit / denom
        shift = float(np.random.default_rng([self.seed, 7919]).random())
        frac = (x + shift) % 1.0
        return float(self.knob_min + (self.knob_max - self.knob_min) * frac), int(self.seed * 1_000_003 + k)


def _family(system: str):
    from . import generate

    return generate.SYSTEMS[system]


def compute_record(cfg: DatasetConfig, k: int, family: Any = None, *,
                   observables: bool = True) -> dict[str, Any]:
    """Generate, relax and characterise structure ``k`` (RDF, modes, PDOS and, if ``observables``,
    the spectroscopic observables of :mod:`jaxglass.data_observables` on the PDOS grid).

    ``family`` (an object with ``generate`` and ``crystal`` as in :mod:`jaxglass.generate`) replaces
    the generator of ``cfg.system``, e.g. for a custom family or a fast test double.
    """
    from . import phonons
    from ._config import require_x64
    from .rdf import rdf, rdf_neighbors
    from .structure import with_species_names

    require_x64("jaxglass.data.compute_record")
    t0 = time.time()
    knob, seed = cfg.plan(k)
    fam = _family(cfg.system) if family is None else family
    gen = (
        fam.crystal(cfg.n_atoms, size=cfg.size)
        if knob < 0
        else fam.generate(cfg.n_atoms, knob, seed, size=cfg.size)
    )
    # one species order for the whole dataset, so partials line up (absent species give zeros)
    s, pot = with_species_names(gen.structure, FAMILIES[cfg.system].species), gen.potential
    # features: smoothed RDFs on the fixed grid
    r = cfg.r_grid()
    idx = rdf_neighbors(s, cfg.r_max, cfg.r_sigma)
    g = rdf(s, r, cfg.r_sigma, idx)
    # targets: Γ-point modes → PDOS on the fixed grid
    m = phonons.modes(pot, s)
    grid = cfg.freq_grid()
    w = phonons.species_weights(s, m.eigenvectors)
    tot = np.asarray(phonons.dos(m.frequencies, grid, cfg.freq_sigma))
    part = np.asarray(phonons.dos(m.frequencies, grid, cfg.freq_sigma, weights=w))
    f = np.asarray(m.frequencies)
    energy = float(pot.energy(s, pot.neighbors(s))) / s.n_atoms
    info = dict(gen.info)
    obs = {}
    if observables:
        from .data_observables import compute_observables

        obs = compute_observables(s, m, grid, cfg.freq_sigma, cfg.system)
    info.update(wall_seconds_total=time.time() - t0, potential=pot.name, potential_citation=pot.citation)
    return dict(
        positions=np.asarray(s.positions),
        species=np.asarray(s.species),
        box=np.asarray(s.box),
        masses=np.asarray(s.masses),
        species_names=np.asarray(s.species_names),
        periodic=np.asarray(s.periodic),
        knob=np.float64(gen.knob if knob >= 0 else -1.0),
        seed=np.int64(seed),
        knob_values=json.dumps(gen.knob_values, default=float),
        info=json.dumps(info, default=str),
        energy_per_atom=np.float64(energy),
        frequencies=f,
        n_imaginary=np.int64(phonons.count_imaginary(f)),
        rdf_total=np.asarray(g.total),
        rdf_partial=np.asarray(g.partial),
        pdos_total=tot,
        pdos_partial=part,
        pdos_outside=np.float64(1.0 - np.trapezoid(tot, grid)),
        **obs,
    )


def _record_path(out: Path, k: int) -> Path:
    return out / "structures" / f"{k:05d}.npz"


def _write_record(out: Path, k: int, rec: dict[str, Any]) -> None:
    from ._io import atomic_savez

    atomic_savez(_record_path(out, k), rec)


def _read_manifest(man: Path) -> dict[str, Any]:
    """The parsed ``manifest.json``; a corrupt or foreign file raises ``ValueError`` naming it."""
    try:
        meta = json.loads(man.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise UserError(
            f"{man}: corrupt manifest ({err}); remove the directory or choose another --out"
        ) from err
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise UserError(f"{man}: not a jaxglass dataset manifest; choose another --out")
    if not isinstance(meta.get("config"), dict):
        raise UserError(f"{man}: corrupt manifest (no 'config' entry); remove the directory")
    try:
        DatasetConfig(**meta["config"])
    except TypeError as err:
        raise UserError(f"{man}: corrupt manifest (config: {err}); remove the directory") from err
    return meta


def read_record(path: Path) -> dict[str, Any]:
    """Load one structure record; a truncated or foreign file raises ``ValueError`` naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            rec = {key: z[key] for key in z.files}
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError, ValueError ...
        raise UserError(
            f"{path}: unreadable dataset record ({err}); delete it and resume the build"
        ) from err
    missing = [key for key in RECORD_KEYS if key not in rec]
    if missing:
        raise UserError(f"{path}: not a jaxglass dataset record (missing {missing}); delete it and resume")
    return rec


def _check_manifest(out: Path, cfg: DatasetConfig) -> None:
    from . import __version__

    man = out / "manifest.json"
    want = dict(format=FORMAT, format_version=FORMAT_VERSION, config=dataclasses.asdict(cfg))
    if man.exists():
        have = _read_manifest(man)
        old = have.get("config", {})
        diff = {
            key: (old.get(key), v)
            for key, v in want["config"].items()
            if key != "n_structures" and old.get(key) != v
        }
        # a manifest without any finished record (a build that failed at once) holds no work: replace it
        finished = (out / "structures").is_dir() and any((out / "structures").glob("[0-9]*.npz"))
        if diff and finished:
            raise UserError(
                f"{out}: holds a dataset built with different settings {diff} (on disk, requested); "
                "resume with the same settings or choose another --out"
            )
        if not diff and old.get("n_structures", 0) >= cfg.n_structures:
            return
    elif out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise UserError(
            f"{out}: directory exists, is not empty and has no manifest.json; choose another --out"
        )
    out.mkdir(parents=True, exist_ok=True)
    want.update(jaxglass_version=__version__, created=time.strftime("%Y-%m-%dT%H:%M:%S"))
    want["grids"] = dict(
        freq=cfg.freq_grid().tolist(),
        r=cfg.r_grid().tolist(),
        freq_unit=FAMILIES[cfg.system].freq_unit,
        length_unit=FAMILIES[cfg.system].length_unit,
    )
    from ._io import atomic_write_text
    from .data_observables import default_observable_config, manifest_entry

    want["observables"] = manifest_entry(cfg.system, default_observable_config(cfg.system),
                                         FAMILIES[cfg.system].species)
    atomic_write_text(man, json.dumps(want, indent=1))


#: Memory one worker is planned with when the LocalCluster is sized to the machine (bytes): a
#: 1000-atom structure's dense Hessian, eigenvectors and JIT caches stay below ~1.2 GB.
WORKER_MEMORY = 2 * 1024**3
#: Seconds between status lines when nothing else happens.
HEARTBEAT_S = 30.0


def default_workers() -> int:
    """Worker processes for a build on this machine: one per usable core, at most one per 2 GiB."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover (macOS, Windows)
        cores = os.cpu_count() or 1
    try:
        import psutil

        by_memory = int(psutil.virtual_memory().total // WORKER_MEMORY)
    except ImportError:  # pragma: no cover (psutil comes with distributed)
        by_memory = cores
    return max(1, min(cores, by_memory))


def _relax_steps(info: dict[str, Any]) -> int | None:
    """Relaxation steps recorded by a generator (L-BFGS + FIRE, whatever it names them)."""
    steps = [v for key, v in info.items()
             if (key.startswith("relax_steps") or key == "minimizer_steps") and isinstance(v, int)]
    return sum(steps) if steps else None


def _summary(k: int, rec: dict[str, Any], seconds: float, where: str) -> dict[str, Any]:
    info = json.loads(str(rec["info"]))
    return dict(k=k, seconds=seconds, where=where, n_atoms=int(len(rec["species"])),
                knob=float(rec["knob"]), n_imaginary=int(rec["n_imaginary"]), relax_steps=_relax_steps(info))


def _run_one(cfg: DatasetConfig, out: Path, k: int, compute: Callable | None, where: str) -> dict[str, Any]:
    t0 = time.time()
    rec = (compute or compute_record)(cfg, k)
    _write_record(out, k, rec)
    return _summary(k, rec, time.time() - t0, where)


def _task(cfg_dict: dict, out: str, k: int, topic: str, compute: Callable | None) -> dict[str, Any]:
    """One structure on a Dask worker: announce the start, compute, write the record atomically."""
    from ._dask_worker import prepare_worker

    prepare_worker()
    where = f"pid {os.getpid()}"
    try:
        from distributed import get_worker

        w = get_worker()
        where = f"worker {w.name} (pid {os.getpid()})"
        w.log_event(topic, {"event": "start", "k": k, "where": where})
    except ValueError:  # not on a worker (e.g. a synchronous scheduler)
        pass
    return _run_one(DatasetConfig(**cfg_dict), Path(out), k, compute, where)


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class _Progress:
    """Done / failed / running counts, rate and ETA; every line also goes to ``DIR/build.log``."""

    def __init__(self, out: Path, cfg: DatasetConfig, n_todo: int, echo: bool):
        self.log_path = out / "build.log"
        self.total, self.echo = cfg.n_structures, echo
        self.done_before = cfg.n_structures - n_todo
        self.done, self.failed = 0, {}
        self.running: dict[int, str] = {}
        self.restarted: dict[int, int] = {}
        self.t0 = time.monotonic()
        self.last_line = self.t0

    def line(self, text: str, echo: bool = True) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(f"{stamp} {text}\n")
        if self.echo and echo:
            print(f"{stamp[11:]} {text}", flush=True)
        self.last_line = time.monotonic()

    def status(self) -> str:
        done = self.done_before + self.done
        queued = self.total - done - len(self.failed) - len(self.running)
        elapsed = time.monotonic() - self.t0
        if self.done:
            rate = self.done / elapsed * 3600.0
            left = self.total - done - len(self.failed)
            eta = f"ETA {_fmt_duration(left / rate * 3600.0)}"
            speed = f"{rate:.1f} structures/h"
        else:
            speed, eta = "rate n/a", "ETA n/a"
        return (f"[{done}/{self.total} done, {len(self.failed)} failed, {len(self.running)} running, "
                f"{max(queued, 0)} queued; {speed}, {eta}, elapsed {_fmt_duration(elapsed)}]")

    def started(self, k: int, where: str) -> None:
        self.running[k] = where
        self.line(f"start {k:05d} on {where}", echo=False)  # the log file only: the status counts them

    def finished(self, s: dict[str, Any]) -> None:
        k = s["k"]
        self.running.pop(k, None)
        self.done += 1
        knob = "crystal" if s["knob"] < 0 else f"knob {s['knob']:.3f}"
        steps = "?" if s["relax_steps"] is None else s["relax_steps"]
        again = f", after {self.restarted[k]} lost worker(s)" if k in self.restarted else ""
        self.line(f"done  {k:05d} in {s['seconds']:.1f} s on {s['where']}: {s['n_atoms']} atoms, {knob}, "
                  f"{steps} relaxation steps, {s['n_imaginary']} imaginary modes{again} {self.status()}")

    def failed_one(self, k: int, err: BaseException, tb=None) -> None:
        self.running.pop(k, None)
        msg = f"{type(err).__name__}: {err}"
        self.failed[k] = msg
        self.line(f"FAILED {k:05d}: {msg} {self.status()}")
        if tb is not None:  # the worker's traceback, for the log file only
            import traceback

            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write("".join("    " + ln for ln in traceback.format_tb(tb)))

    def worker_lost(self, worker: str, ks: list[int]) -> None:
        for k in ks:
            self.running.pop(k, None)
            self.restarted[k] = self.restarted.get(k, 0) + 1
        held = ", ".join(f"{k:05d}" for k in ks) or "none"
        self.line(f"worker {worker} died (killed or out of memory); structures it held: {held}; "
                  "they are rescheduled on the remaining or restarted workers")

    def heartbeat(self) -> None:
        if time.monotonic() - self.last_line >= HEARTBEAT_S:
            self.line(f"status {self.status()}")


def pending_structures(out: str | Path, cfg: DatasetConfig) -> list[int]:
    """Indices of ``cfg`` without a finished record in ``out`` (finished ones are checked readable)."""
    out = Path(out)
    todo = []
    for k in range(cfg.n_structures):
        p = _record_path(out, k)
        if p.exists():
            read_record(p)  # raises on corrupt / foreign files
        else:
            todo.append(k)
    return todo


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
    """
    out = Path(out).resolve()
    _check_manifest(out, cfg)
    todo = pending_structures(out, cfg)
    for stale in (out / "structures").glob(".*.tmp*") if (out / "structures").exists() else []:
        stale.unlink()  # leftovers of an interrupted write; their structures are in `todo`
    rep = _Progress(out, cfg, len(todo), progress)
    mode = ("in this process" if not scheduler and workers == 0 else
            f"on the Dask cluster at {scheduler}" if scheduler else "on a local Dask cluster")
    rep.line(f"build {cfg.system}: {len(todo)} of {cfg.n_structures} structures to compute {mode} "
             f"({cfg.n_structures - len(todo)} finished before) in {out}")
    if not todo:
        return []
    if not scheduler and workers == 0:
        computed = []
        for k in todo:
            rep.started(k, f"pid {os.getpid()}")
            s = _run_one(cfg, out, k, compute, f"pid {os.getpid()}")
            computed.append(k)
            rep.finished(s)
            if on_done:
                on_done(k)
        rep.line(f"build finished: {len(computed)} computed {rep.status()}")
        return computed
    return _build_dask(out, cfg, todo, rep, workers=workers, scheduler=scheduler, memory_limit=memory_limit,
                       dashboard_address=dashboard_address, on_done=on_done, compute=compute)


def _local_cluster(workers: int | None, memory_limit: str | int, dashboard_address: str):
    import logging

    from distributed import LocalCluster

    n = default_workers() if workers is None else int(workers)
    if n < 1:
        raise UserError(f"workers: need at least 1 worker process for a Dask build, got {n}")
    if memory_limit == "auto":
        import psutil

        memory_limit = int(psutil.virtual_memory().total // n)
    return LocalCluster(n_workers=n, threads_per_worker=1, processes=True, memory_limit=memory_limit,
                        dashboard_address=dashboard_address, silence_logs=logging.CRITICAL)


def _check_workers_see(client, out: Path) -> None:
    seen = client.run(os.path.isdir, str(out))
    blind = [w for w, ok in seen.items() if not ok]
    if blind:
        raise UserError(f"{out}: not visible on the workers {blind}; the dataset directory must be on a "
                         "file system shared by the workers (e.g. the cluster's scratch or home)")


def _stop_workers(cluster, grace: float) -> None:
    """Close the local workers with a short grace period: every record is written by then, and a
    worker that has imported JAX takes ~4 s to stop on its own (the nanny's default grace)."""
    import asyncio

    async def close_all(nannies):
        await asyncio.gather(*(n.close(timeout=grace) for n in nannies), return_exceptions=True)

    cluster.sync(close_all, list(cluster.workers.values()))


def _kill_children() -> None:
    """Second Ctrl-C: end this process's own child processes now (the local workers) and exit."""
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                child.kill()
            except psutil.Error:
                pass
    finally:
        os._exit(130)


def _build_dask(out, cfg, todo, rep, *, workers, scheduler, memory_limit, dashboard_address, on_done,
                compute):
    import queue
    import signal
    import uuid

    from distributed import Client, as_completed

    events: queue.SimpleQueue = queue.SimpleQueue()
    topic = f"jaxglass-build-{uuid.uuid4().hex[:12]}"
    cluster = client = None
    computed: list[int] = []
    pending: dict = {}
    old_sigint = None
    try:
        if scheduler:
            try:
                client = Client(scheduler, timeout="30s")
            except OSError as err:
                raise UserError(
                    f"scheduler: cannot reach the Dask scheduler at {scheduler!r} ({err}); start the "
                    "cluster first or fix the address (--scheduler / JAXGLASS_SCHEDULER)") from err
            _check_workers_see(client, out)
            n_workers = len(client.scheduler_info(n_workers=-1)["workers"])
            rep.line(f"cluster: scheduler {scheduler}, {n_workers} workers now (the cluster may scale); "
                     f"dashboard {client.dashboard_link}")
        else:
            cluster = _local_cluster(workers, memory_limit, dashboard_address)
            client = Client(cluster)
            from ._dask_worker import IgnoreSigint

            client.register_plugin(IgnoreSigint())
            mem = next(iter(cluster.scheduler_info["workers"].values()))["memory_limit"]
            rep.line(f"cluster: local, {len(cluster.workers)} worker processes x 1 thread, memory limit "
                     f"{mem / 1024**3:.1f} GiB each; scheduler {cluster.scheduler_address}; "
                     f"dashboard {client.dashboard_link}")
        client.subscribe_topic(topic, lambda ev: events.put(("start", ev[1])))
        client.subscribe_topic("all", lambda ev: events.put(("all", ev[1])))
        cfg_dict = dataclasses.asdict(cfg)
        keys = {f"{topic}-{k:05d}": k for k in todo}
        futures = {client.submit(_task, cfg_dict, str(out), k, topic, compute, key=key, pure=False): k
                   for key, k in keys.items()}
        ac = as_completed(list(futures))
        pending = dict(futures)
        while pending:
            batch = ac.next_batch(block=False)
            _drain_events(events, keys, rep)
            for fut in batch:
                k = pending.pop(fut)
                if fut.status == "finished":
                    rep.finished(fut.result())
                    computed.append(k)
                    if on_done:
                        on_done(k)
                else:
                    tb = None
                    try:
                        exc = fut.exception(timeout=5)
                        tb = fut.traceback(timeout=5)
                    except Exception as err:  # cancelled: the scheduler lost it
                        exc = err
                    rep.failed_one(k, exc if exc is not None else RuntimeError(fut.status), tb)
                fut.release()
            if not batch:
                rep.heartbeat()
                time.sleep(0.1)
        _drain_events(events, keys, rep)
    except KeyboardInterrupt:
        try:  # a second Ctrl-C ends the workers at once instead of waiting for a clean shutdown
            old_sigint = signal.signal(signal.SIGINT, lambda *_: _kill_children())
        except ValueError:  # not the main thread
            pass
        left = cfg.n_structures - rep.done_before - rep.done
        how = ("structures already running on the cluster finish and write their records" if scheduler
               else "stopping the workers")
        rep.line(f"interrupted: cancelling {left} unfinished structure(s), {how}; finished records are kept "
                 f"{rep.status()}")
        if client is not None and scheduler:
            with contextlib.suppress(Exception):  # best effort while shutting down
                client.cancel(list(pending), force=True)
        raise
    finally:
        t_close = time.monotonic()
        if client is not None:
            for name in (topic, "all"):  # before closing: no event sent to a closed client
                with contextlib.suppress(Exception):
                    client.unsubscribe_topic(name)
            with contextlib.suppress(Exception):
                client.close(timeout=5)
        if cluster is not None:
            with contextlib.suppress(Exception):  # a timeout: the workers exit with this process anyway
                _stop_workers(cluster, grace=1.0)
                cluster.close(timeout=10)
        if old_sigint is not None:
            signal.signal(signal.SIGINT, old_sigint)
        if client is not None:
            rep.line(f"{'cluster closed' if cluster is not None else 'disconnected'} in "
                     f"{time.monotonic() - t_close:.1f} s")
    lost = sorted(rep.restarted)
    again = f", {len(lost)} rescheduled after a lost worker: {lost}" if lost else ""
    rep.line(f"build finished: {len(computed)} computed, {len(rep.failed)} failed{again} {rep.status()}")
    if rep.failed:
        failed = dict(sorted(rep.failed.items()))
        first, msg = next(iter(failed.items()))
        raise BuildError(
            f"{len(failed)} structure(s) failed: {[f'{k:05d}' for k in failed][:20]} (first, {first:05d}: "
            f"{msg}); the {len(computed)} other new records are written; tracebacks in {out / 'build.log'}; "
            "rerun the same command to retry the failed ones", failed)
    return computed


def _drain_events(events, keys: dict[str, int], rep: _Progress) -> None:
    import queue

    while True:
        try:
            kind, msg = events.get_nowait()
        except queue.Empty:
            return
        if not isinstance(msg, dict):
            continue
        if kind == "start" and msg.get("k") is not None:
            rep.started(int(msg["k"]), str(msg.get("where")))
        elif kind == "all" and msg.get("action") == "remove-worker" and not msg.get("expected"):
            held = sorted(keys[key] for key in msg.get("processing-tasks", ()) if key in keys)
            rep.worker_lost(str(msg.get("worker")), held)


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A loaded dataset: features (RDFs) and targets (PDOS) stacked over structures."""

    config: DatasetConfig
    r: np.ndarray
    freq: np.ndarray
    rdf_total: np.ndarray  # (K, R)
    rdf_partial: np.ndarray  # (K, S, S, R)
    pdos_total: np.ndarray  # (K, F)
    pdos_partial: np.ndarray  # (K, S, F)
    knob: np.ndarray  # (K,), -1 for the crystal
    n_imaginary: np.ndarray
    species_names: tuple[str, ...]
    freq_unit: str
    length_unit: str
    indices: np.ndarray
    #: observable arrays stacked over structures (:mod:`jaxglass.data_observables`), if every
    #: loaded record has them: ndos_total, ndos_partial, ins_sqw, ixs_sqw, raman, obs_q
    observables: dict = dataclasses.field(default_factory=dict)
    observable_units: dict = dataclasses.field(default_factory=dict)
    #: atoms in each structure (the generators round ``config.n_atoms`` to whole cells)
    n_atoms: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, int))

    def __len__(self) -> int:
        return len(self.indices)


def load_dataset(path: str | Path, *, allow_partial: bool = True) -> Dataset:
    """Stack the finished records of a dataset directory (missing ones skipped if ``allow_partial``)."""
    path = Path(path)
    man = path / "manifest.json"
    if not path.is_dir():
        raise UserError(f"{path}: no such dataset directory" if not path.exists() else
                         f"{path}: is a file, not a dataset directory")
    if not man.exists():
        raise UserError(f"{path}: no manifest.json, not a jaxglass dataset")
    meta = _read_manifest(man)
    cfg = DatasetConfig(**meta["config"])
    missing = [k for k in range(cfg.n_structures) if not _record_path(path, k).exists()]
    if missing and not allow_partial:
        raise UserError(
            f"{path}: incomplete dataset, {cfg.n_structures - len(missing)} of {cfg.n_structures} "
            f"structures finished (missing {missing[:5]}{' ...' if len(missing) > 5 else ''}); finish it "
            "(rerun `jaxglass generate` with the same settings) or accept it as is (--partial)"
        )
    recs, idx = [], []
    skip = set(missing)
    for k in range(cfg.n_structures):
        if k in skip:
            continue
        recs.append(read_record(_record_path(path, k)))
        idx.append(k)
    if not recs:
        raise UserError(f"{path}: no finished structures yet")
    names = tuple(str(x) for x in recs[0]["species_names"])
    from .data_observables import load_observables

    obs, obs_units = load_observables(path, recs, meta)
    return Dataset(
        config=cfg,
        r=np.asarray(meta["grids"]["r"]),
        freq=np.asarray(meta["grids"]["freq"]),
        rdf_total=np.stack([r["rdf_total"] for r in recs]),
        rdf_partial=np.stack([r["rdf_partial"] for r in recs]),
        pdos_total=np.stack([r["pdos_total"] for r in recs]),
        pdos_partial=np.stack([r["pdos_partial"] for r in recs]),
        knob=np.array([float(r["knob"]) for r in recs]),
        n_imaginary=np.array([int(r["n_imaginary"]) for r in recs]),
        species_names=names,
        freq_unit=meta["grids"]["freq_unit"],
        length_unit=meta["grids"]["length_unit"],
        indices=np.asarray(idx),
        observables=obs,
        observable_units=obs_units,
        n_atoms=np.array([len(r["positions"]) for r in recs]),
    )


def load_structure(path: str | Path, k: int):
    """The relaxed :class:`~jaxglass.structure.Structure` of record ``k``."""
    from .structure import from_arrays

    return from_arrays(read_record(_record_path(Path(path), k)))


EXPORT_FORMAT = "jaxglass-dataset-export"
EXPORT_VERSION = 1
#: Arrays stored as float32 in exports: relative rounding 6e-8 (positions: < 1e-5 Å in a 100 Å box,
#: far below relaxation tolerances; spectra and g(r) are smooth features fitted at ~1e-3 accuracy).
EXPORT_FLOAT32 = ("positions", "frequencies", "rdf_total", "rdf_partial", "pdos_total", "pdos_partial",
                  "ndos_total", "ndos_partial", "ins_sqw", "ixs_sqw", "raman", "obs_q")


def export_dataset(path: str | Path, out_file: str | Path) -> dict[str, Any]:
    """Pack the finished records of a dataset into one compressed ``.npz`` file.

    Stored: the manifest; per structure its index, positions (float32), species (int8), box, periodic
    flags, knob, seed, knob values and generator info (JSON), energy per atom, frequencies (float32),
    imaginary-mode count, total and partial g(r) and PDOS (float32), and the observables of
    :mod:`jaxglass.data_observables` (float32) when every record has them. Masses are stored per species
    (per atom if a dataset has per-atom masses). Ragged per-structure arrays (atoms, modes) are
    concatenated with counts. :func:`import_dataset` restores a resumable dataset directory.
    Returns counts and the file size.
    """
    path, out_file = Path(path), Path(out_file)
    man = path / "manifest.json"
    if not man.exists():
        raise UserError(f"{path}: no manifest.json, not a jaxglass dataset")
    manifest = _read_manifest(man)
    cfg = DatasetConfig(**manifest["config"])
    idx = [k for k in range(cfg.n_structures) if _record_path(path, k).exists()]
    if not idx:
        raise UserError(f"{path}: no finished structures to export")
    recs = [read_record(_record_path(path, k)) for k in idx]
    names = [str(x) for x in recs[0]["species_names"]]
    for k, r in zip(idx, recs):
        if [str(x) for x in r["species_names"]] != names:
            raise UserError(f"{_record_path(path, k)}: species names differ from the dataset's {names}")
    species = np.concatenate([r["species"] for r in recs])
    masses = np.concatenate([r["masses"] for r in recs])
    table = np.zeros(len(names))
    table[species] = masses
    per_species = bool(np.array_equal(table[species], masses))
    arrays: dict[str, Any] = dict(
        format=np.array(EXPORT_FORMAT),
        format_version=np.int64(EXPORT_VERSION),
        manifest=np.array(json.dumps(manifest)),
        indices=np.asarray(idx, np.int64),
        n_atoms=np.array([len(r["species"]) for r in recs], np.int64),
        n_modes=np.array([len(r["frequencies"]) for r in recs], np.int64),
        species_names=np.array(names),
        species=species.astype(np.int8),
        box=np.stack([r["box"] for r in recs]),
        periodic=np.stack([r["periodic"] for r in recs]),
        positions=np.concatenate([r["positions"] for r in recs]),
        frequencies=np.concatenate([r["frequencies"] for r in recs]),
        meta=np.array(json.dumps([[str(r["knob_values"]), str(r["info"])] for r in recs])),
    )
    arrays["masses_by_species" if per_species else "masses"] = table if per_species else masses
    for key in ("knob", "seed", "energy_per_atom", "n_imaginary", "pdos_outside"):
        arrays[key] = np.array([r[key] for r in recs])
    for key in ("rdf_total", "rdf_partial", "pdos_total", "pdos_partial"):
        arrays[key] = np.stack([r[key] for r in recs])
    from .data_observables import OBS_KEYS

    with_obs = all(all(key in r for key in OBS_KEYS) for r in recs)
    if with_obs and len({str(r["obs_config"]) for r in recs}) == 1:
        for key in OBS_KEYS[:-1]:  # observables, one obs_config for all records
            arrays[key] = np.stack([r[key] for r in recs])
        arrays["obs_config"] = np.array(str(recs[0]["obs_config"]))
    for key in EXPORT_FLOAT32:
        if key in arrays:  # the observables only when the records have them
            arrays[key] = np.asarray(arrays[key], np.float32)
    from ._io import atomic_savez

    atomic_savez(out_file, arrays, compressed=True)
    size = out_file.stat().st_size
    return dict(n_structures=len(idx), n_atoms_total=int(arrays["n_atoms"].sum()), bytes=size,
                bytes_per_structure=size / len(idx))


def import_dataset(file: str | Path, out: str | Path) -> list[int]:
    """Unpack a file written by :func:`export_dataset` into the dataset directory ``out``.

    ``out`` may be new, or hold the same dataset (same configuration): records already there are
    kept, missing ones are written (atomically). Float32-stored arrays come back as float64. The
    result is an ordinary dataset directory: ``build_dataset`` resumes or grows it. Returns the
    indices written.
    """
    file, out = Path(file), Path(out)
    try:
        z = np.load(file, allow_pickle=False)
    except Exception as err:
        raise UserError(f"{file}: not a readable dataset export ({err})") from err
    with z:
        if "format" not in z.files or str(z["format"]) != EXPORT_FORMAT:
            raise UserError(f"{file}: not a jaxglass dataset export (written by `jaxglass export`)")
        if int(z["format_version"]) > EXPORT_VERSION:
            raise UserError(f"{file}: export format version {int(z['format_version'])} is newer than this "
                             f"jaxglass reads ({EXPORT_VERSION}); upgrade jaxglass")
        d = {key: z[key] for key in z.files}
    manifest = json.loads(str(d["manifest"]))
    cfg = DatasetConfig(**manifest["config"])
    fresh = not (out / "manifest.json").exists()
    _check_manifest(out, cfg)  # creates out/manifest.json, or checks that an existing dataset matches
    if fresh:  # keep the original provenance (version, creation time, grids) and say where it came from
        manifest["imported_from"] = dict(file=str(file), precision="float32: " + ", ".join(EXPORT_FLOAT32))
        from ._io import atomic_write_text

        atomic_write_text(out / "manifest.json", json.dumps(manifest, indent=1))
    atom_end = np.cumsum(d["n_atoms"])
    mode_end = np.cumsum(d["n_modes"])
    meta = json.loads(str(d["meta"]))
    names = d["species_names"]
    written = []
    for i, k in enumerate(int(x) for x in d["indices"]):
        if _record_path(out, k).exists():
            continue
        a = slice(atom_end[i] - d["n_atoms"][i], atom_end[i])
        m = slice(mode_end[i] - d["n_modes"][i], mode_end[i])
        species = d["species"][a].astype(np.int32)
        masses = d["masses_by_species"][species] if "masses_by_species" in d else d["masses"][a]
        rec = dict(
            positions=d["positions"][a].astype(np.float64),
            species=species,
            box=d["box"][i],
            masses=np.asarray(masses, np.float64),
            species_names=names,
            periodic=d["periodic"][i],
            knob=np.float64(d["knob"][i]),
            seed=np.int64(d["seed"][i]),
            knob_values=meta[i][0],
            info=meta[i][1],
            energy_per_atom=np.float64(d["energy_per_atom"][i]),
            frequencies=d["frequencies"][m].astype(np.float64),
            n_imaginary=np.int64(d["n_imaginary"][i]),
            rdf_total=d["rdf_total"][i].astype(np.float64),
            rdf_partial=d["rdf_partial"][i].astype(np.float64),
            pdos_total=d["pdos_total"][i].astype(np.float64),
            pdos_partial=d["pdos_partial"][i].astype(np.float64),
            pdos_outside=np.float64(d["pdos_outside"][i]),
        )
        if "obs_config" in d:
            from .data_observables import OBS_KEYS

            rec.update({key: d[key][i].astype(np.float64) for key in OBS_KEYS[:-1]})
            rec["obs_config"] = d["obs_config"]
        _write_record(out, k, rec)
        written.append(k)
    return written
