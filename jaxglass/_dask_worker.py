"""Worker-side pieces of Dask dataset builds (imported only when a build runs on Dask)."""

from __future__ import annotations

import signal

from distributed.diagnostics.plugin import WorkerPlugin


def prepare_worker() -> None:
    """Entry point of a worker process: switch on float64 (the builder's tasks need it)."""
    from ._config import enable_x64

    enable_x64()


class IgnoreSigint(WorkerPlugin):
    """Worker plugin of the embedded LocalCluster.

    A terminal Ctrl-C reaches the whole process group; the workers ignore it and leave the shutdown
    to the parent, which owns them. They still exit when the parent dies: distributed's worker
    processes watch a pipe to their parent and exit at once when it closes.
    """

    name = "jaxglass-ignore-sigint"
    idempotent = True

    def setup(self, worker) -> None:
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except ValueError:  # not the worker's main thread: leave the default
            pass
