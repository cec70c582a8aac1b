"""Dataset builds on ``dask.distributed``: one structure is one task, the worker writes its record.

A ``LocalCluster`` of single-threaded worker processes started and stopped here, or an existing
cluster given by its scheduler address (its workers must see the dataset directory). A lost worker
or an interrupted build loses at most the structures in flight; failures are collected and raised
as one :class:`~jaxglass.errors.BuildError` at the end. See docs/datasets.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BuildError, UserError
from .config import DatasetConfig
from .progress import BuildProgress
from .records import run_one

#: Memory one worker is planned with when the LocalCluster is sized to the machine (bytes): a
#: 1000-atom structure's dense Hessian, eigenvectors and JIT caches stay below ~1.2 GB.
WORKER_MEMORY = 2 * 1024**3


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


def _task(cfg_dict: dict, out: str, k: int, topic: str, compute: Callable | None) -> dict[str, Any]:
    """One structure on a Dask worker: announce the start, compute (progress lines sent to the client
    as events, which writes them to build.log), write the record atomically."""
    from .._dask_worker import prepare_worker

    prepare_worker()
    where, log = f"pid {os.getpid()}", None
    try:
        from distributed import get_worker

        w = get_worker()
        where = f"worker {w.name} (pid {os.getpid()})"
        w.log_event(topic, {"event": "start", "k": k, "where": where})
        log = lambda text: w.log_event(topic, {"event": "progress", "k": k, "text": text})  # noqa: E731
    except ValueError:  # not on a worker (e.g. a synchronous scheduler)
        pass
    return run_one(DatasetConfig(**cfg_dict), Path(out), k, compute, where, log=log)


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


def _drain_events(events, keys: dict[str, int], rep: BuildProgress) -> None:
    import queue

    while True:
        try:
            kind, msg = events.get_nowait()
        except queue.Empty:
            return
        if not isinstance(msg, dict):
            continue
        if kind == "start" and msg.get("event") == "progress":
            rep.line(str(msg.get("text")))  # a worker's MD / eigen-solve progress
        elif kind == "start" and msg.get("k") is not None:
            rep.started(int(msg["k"]), str(msg.get("where")))
        elif kind == "all" and msg.get("action") == "remove-worker" and not msg.get("expected"):
            held = sorted(keys[key] for key in msg.get("processing-tasks", ()) if key in keys)
            rep.worker_lost(str(msg.get("worker")), held)


@dataclasses.dataclass
class _DaskBuild:
    """One build's cluster, client, event queue and futures (see :func:`build_dask`)."""

    out: Path
    cfg: DatasetConfig
    rep: BuildProgress
    scheduler: str | None
    topic: str
    events: Any
    cluster: Any = None
    client: Any = None
    computed: list[int] = dataclasses.field(default_factory=list)
    pending: dict = dataclasses.field(default_factory=dict)
    keys: dict[str, int] = dataclasses.field(default_factory=dict)
    old_sigint: Any = None

    def connect(self, workers: int | None, memory_limit: str | int, dashboard_address: str) -> None:
        """Connect to the cluster at ``scheduler``, or start a local one; report it."""
        from distributed import Client

        rep, scheduler = self.rep, self.scheduler
        if scheduler:
            try:
                self.client = Client(scheduler, timeout="30s")
            except OSError as err:
                raise UserError(
                    f"scheduler: cannot reach the Dask scheduler at {scheduler!r} ({err}); start the "
                    "cluster first or fix the address") from err
            _check_workers_see(self.client, self.out)
            n_workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
            rep.line(f"cluster: scheduler {scheduler}, {n_workers} workers now (the cluster may scale); "
                     f"dashboard {self.client.dashboard_link}")
            return
        from .._dask_worker import IgnoreSigint

        self.cluster = cluster = _local_cluster(workers, memory_limit, dashboard_address)
        self.client = Client(cluster)
        self.client.register_plugin(IgnoreSigint())
        mem = next(iter(cluster.scheduler_info["workers"].values()))["memory_limit"]
        rep.line(f"cluster: local, {len(cluster.workers)} worker processes x 1 thread, memory limit "
                 f"{mem / 1024**3:.1f} GiB each; scheduler {cluster.scheduler_address}; "
                 f"dashboard {self.client.dashboard_link}")

    def submit(self, todo: list[int], compute: Callable | None):
        """Subscribe to the start and worker events, submit one task per structure."""
        from distributed import as_completed

        client, events, topic = self.client, self.events, self.topic
        client.subscribe_topic(topic, lambda ev: events.put(("start", ev[1])))
        client.subscribe_topic("all", lambda ev: events.put(("all", ev[1])))
        cfg_dict = dataclasses.asdict(self.cfg)
        self.keys = {f"{topic}-{k:05d}": k for k in todo}
        futures = {client.submit(_task, cfg_dict, str(self.out), k, topic, compute, key=key, pure=False): k
                   for key, k in self.keys.items()}
        self.pending = dict(futures)
        return as_completed(list(futures))

    def collect(self, ac, on_done: Callable[[int], None] | None) -> None:
        """Report each finished or failed task until none is pending."""
        rep = self.rep
        while self.pending:
            batch = ac.next_batch(block=False)
            _drain_events(self.events, self.keys, rep)
            for fut in batch:
                k = self.pending.pop(fut)
                if fut.status == "finished":
                    rep.finished(fut.result())
                    self.computed.append(k)
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
        _drain_events(self.events, self.keys, rep)

    def interrupted(self) -> None:
        """Ctrl-C: report, cancel what an external cluster would still run (the caller re-raises)."""
        import signal

        try:  # a second Ctrl-C ends the workers at once instead of waiting for a clean shutdown
            self.old_sigint = signal.signal(signal.SIGINT, lambda *_: _kill_children())
        except ValueError:  # not the main thread
            pass
        rep = self.rep
        left = self.cfg.n_structures - rep.done_before - rep.done
        how = ("structures already running on the cluster finish and write their records" if self.scheduler
               else "stopping the workers")
        rep.line(f"interrupted: cancelling {left} unfinished structure(s), {how}; finished records are kept "
                 f"{rep.status()}")
        if self.client is not None and self.scheduler:
            with contextlib.suppress(Exception):  # best effort while shutting down
                self.client.cancel(list(self.pending), force=True)

    def close(self) -> None:
        """Disconnect, stop a local cluster, restore the Ctrl-C handler."""
        import signal

        t_close = time.monotonic()
        client, cluster = self.client, self.cluster
        if client is not None:
            for name in (self.topic, "all"):  # before closing: no event sent to a closed client
                with contextlib.suppress(Exception):
                    client.unsubscribe_topic(name)
            with contextlib.suppress(Exception):
                client.close(timeout=5)
        if cluster is not None:
            with contextlib.suppress(Exception):  # a timeout: the workers exit with this process anyway
                _stop_workers(cluster, grace=1.0)
                cluster.close(timeout=10)
        if self.old_sigint is not None:
            signal.signal(signal.SIGINT, self.old_sigint)
        if client is not None:
            self.rep.line(f"{'cluster closed' if cluster is not None else 'disconnected'} in "
                          f"{time.monotonic() - t_close:.1f} s")

    def finish(self) -> list[int]:
        """The closing log line; :class:`BuildError` if any structure failed."""
        rep, computed = self.rep, self.computed
        lost = sorted(rep.restarted)
        again = f", {len(lost)} rescheduled after a lost worker: {lost}" if lost else ""
        rep.line(f"build finished: {len(computed)} computed, {len(rep.failed)} failed{again} {rep.status()}")
        if rep.failed:
            failed = dict(sorted(rep.failed.items()))
            first, msg = next(iter(failed.items()))
            names = [f"{k:05d}" for k in failed][:20]
            raise BuildError(
                f"{len(failed)} structure(s) failed: {names} (first, {first:05d}: {msg}); the "
                f"{len(computed)} other new records are written; tracebacks in "
                f"{rep.log_path}; rerun the same command to retry the failed ones", failed)
        return computed


def build_dask(out: Path, cfg: DatasetConfig, todo: list[int], rep: BuildProgress, *, workers: int | None,
               scheduler: str | None, memory_limit: str | int, dashboard_address: str,
               on_done: Callable[[int], None] | None, compute: Callable | None) -> list[int]:
    """Compute the structures ``todo`` on Dask (see :func:`jaxglass.data.build_dataset`)."""
    import queue
    import uuid

    run = _DaskBuild(out, cfg, rep, scheduler, topic=f"jaxglass-build-{uuid.uuid4().hex[:12]}",
                     events=queue.SimpleQueue())
    try:
        run.connect(workers, memory_limit, dashboard_address)
        run.collect(run.submit(todo, compute), on_done)
    except KeyboardInterrupt:
        run.interrupted()
        raise
    finally:
        run.close()
    return run.finish()
