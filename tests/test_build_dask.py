"""Dataset builds on Dask: lost workers, failures, Ctrl-C, a killed parent, resume after each.

The fault tests use ``_toy.faulty_compute`` (numpy only) so they exercise the scheduling, not the
physics; the command-line tests run the real ``jaxglass generate`` (lj2d, 80 atoms) in a
subprocess and interrupt it while its workers are computing.
"""

import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

import _toy  # noqa: E402

from jaxglass import data  # noqa: E402
from jaxglass.data import records  # noqa: E402

ROOT = Path(data.__file__).resolve().parents[2]


def test_lost_workers_rescheduled_and_failures_reported(tmp_path):
    cfg = data.DatasetConfig.make("lj2d", 6, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    out = tmp_path / "ds"
    compute = functools.partial(_toy.faulty_compute, marker_dir=str(tmp_path))
    with pytest.raises(data.BuildError, match="1 structure\\(s\\) failed") as info:
        data.build_dataset(out, cfg, workers=2, memory_limit="600MB", dashboard_address=":0",
                           progress=False, compute=compute)
    assert set(info.value.failed) == {3} and "cannot be built" in info.value.failed[3]
    # structure 1 killed its worker, structure 2 outgrew its worker's memory: both were retried
    # elsewhere and written; every other structure is written once
    assert (tmp_path / "1.tried").exists() and (tmp_path / "2.tried").exists()
    assert data.pending_structures(out, cfg) == [3]
    for k in (0, 1, 2, 4, 5):
        rec = data.read_record(out / "structures" / f"{k:05d}.npz")
        assert int(rec["seed"]) == cfg.plan(k)[1]
    log = (out / "build.log").read_text()
    died = [ln for ln in log.splitlines() if " died " in ln]
    assert len(died) >= 2, log
    assert any("00001" in ln for ln in died) and any("00002" in ln for ln in died), log
    assert "rescheduled after a lost worker" in log and "FAILED 00003: ValueError" in log
    assert "lost worker(s)" in next(ln for ln in log.splitlines() if ln.split()[2:4] == ["done", "00001"])
    # a rerun retries only the failed structure
    assert data.build_dataset(out, cfg, progress=False, compute=_toy.fake_record) == [3]


def _start_generate(out: Path, n: int, stdout: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "jaxglass.cli", "generate", "--system", "lj2d", "--n-atoms", "80",
           "--n-structures", str(n), "--out", str(out), "--workers", "2", "--dashboard-address", ":0"]
    with open(stdout, "w") as fh:  # a new session: signals go to the CLI's own process group only
        # SIGINT back to its default disposition, as for a program started from a terminal: a test run
        # launched in the background (`cmd &`, nohup) inherits SIGINT *ignored*, and an ignored signal
        # stays ignored across exec, so the CLI would never see the Ctrl-C this test sends
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_starts(proc, out: Path, n: int, timeout: float = 180.0) -> None:
    """Until ``n`` structures have started on Dask workers (lines of DIR/build.log)."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        log = out / "build.log"
        if log.exists() and sum(" start " in ln and " on worker " in ln
                                for ln in log.read_text().splitlines()) >= n:
            return
        assert proc.poll() is None, f"generate exited early ({proc.returncode})"
        time.sleep(0.2)
    raise AssertionError("workers did not start in time")


def _descendants(pid: int) -> list:
    return psutil.Process(pid).children(recursive=True)


def _gone(procs, timeout: float) -> list:
    """Processes still alive (not zombies) after ``timeout`` seconds."""
    t_end = time.monotonic() + timeout
    alive = list(procs)
    while alive and time.monotonic() < t_end:
        time.sleep(0.2)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    return alive


def _cleanup(procs) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


def test_ctrl_c_cancels_keeps_records_and_resumes(tmp_path):
    out = tmp_path / "ds"
    cfg = data.DatasetConfig.make("lj2d", 8, n_atoms=80)
    # two structures finished by an earlier run (stand-ins: the CLI must keep them untouched)
    data.build_dataset(out, data.DatasetConfig.make("lj2d", 2, n_atoms=80), progress=False,
                       compute=_toy.fake_record)
    before = {k: (out / "structures" / f"{k:05d}.npz").read_bytes() for k in (0, 1)}
    proc = _start_generate(out, 8, tmp_path / "stdout.txt")
    kids = []
    try:
        _wait_for_starts(proc, out, 2)  # both workers are computing real lj2d structures
        kids = _descendants(proc.pid)
        assert len(kids) >= 2
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
        rc = proc.wait(timeout=60)
        elapsed = time.monotonic() - t0
        printed = (tmp_path / "stdout.txt").read_text()
        assert rc == 130, printed
        assert elapsed < 15.0, f"exit took {elapsed:.1f} s\n{printed}"
        assert "dashboard http://127.0.0.1:" in printed
        assert "interrupted" in printed and "rerun the same command to resume" in printed
        assert _gone(kids, 10.0) == []
    finally:
        _cleanup([proc, *kids] if proc.poll() is None else kids)
    # finished records kept (and intact); a rerun computes exactly the missing ones
    assert {k: (out / "structures" / f"{k:05d}.npz").read_bytes() for k in (0, 1)} == before
    missing = data.pending_structures(out, cfg)  # also checks that every record on disk is readable
    assert 0 < len(missing) <= 6
    assert data.build_dataset(out, cfg, progress=False, compute=_toy.fake_record) == missing
    assert data.pending_structures(out, cfg) == []
    assert not list((out / "structures").glob(".*.tmp.npz"))


def test_killed_parent_leaves_no_worker(tmp_path):
    out = tmp_path / "ds"
    proc = _start_generate(out, 4, tmp_path / "stdout.txt")
    kids = []
    try:
        _wait_for_starts(proc, out, 2)
        kids = _descendants(proc.pid)
        assert len(kids) >= 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        alive = _gone(kids, 20.0)
        assert alive == [], [p.cmdline() for p in alive]
    finally:
        _cleanup([proc, *kids] if proc.poll() is None else kids)


def test_existing_cluster_via_environment(tmp_path, monkeypatch, capsys):
    """`--scheduler` / $JAXGLASS_SCHEDULER submits to a running cluster and leaves it running."""
    from distributed import Client, LocalCluster

    from jaxglass.cli import main

    monkeypatch.setattr(records, "compute_record",  # the workers are threads here
                        lambda cfg, k, log=None: _toy.fake_record(cfg, k))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0") as cluster:
        monkeypatch.setenv("JAXGLASS_SCHEDULER", cluster.scheduler_address)
        out = tmp_path / "ds"
        assert main(["generate", "--system", "lj2d", "--n-atoms", "80", "--n-structures", "3",
                     "--out", str(out)]) == 0
        printed = capsys.readouterr().out
        assert f"on the Dask cluster at {cluster.scheduler_address}" in printed
        assert "dashboard http" in printed and "3 new structure(s)" in printed
        assert data.pending_structures(out, data.DatasetConfig.make("lj2d", 3, n_atoms=80)) == []
        with Client(cluster) as client:  # still up after the build
            assert len(client.scheduler_info()["workers"]) == 2
        # a dataset directory the workers cannot see is refused with the fix named
        monkeypatch.setattr("os.path.isdir", lambda p: False)
        assert main(["generate", "--system", "lj2d", "--n-atoms", "80", "--n-structures", "3",
                     "--out", str(tmp_path / "ds2")]) == 2
        assert "shared by the workers" in capsys.readouterr().err


def test_second_ctrl_c_ends_everything_at_once(tmp_path):
    out = tmp_path / "ds"
    proc = _start_generate(out, 4, tmp_path / "stdout.txt")
    kids = []
    try:
        _wait_for_starts(proc, out, 2)
        kids = _descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGINT)
        time.sleep(0.3)  # the first Ctrl-C's clean shutdown is under way (it takes ~1-2 s)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=30) == 130
        assert _gone(kids, 10.0) == []
    finally:
        _cleanup([proc, *kids] if proc.poll() is None else kids)


def test_worker_progress_events_go_to_the_build_log(tmp_path):
    """A worker's progress lines (MD, eigen-solve) arrive as events on the build's topic; the client writes
    them to build.log (and echoes them when printing progress), and they do not count as a start."""
    import queue

    from jaxglass.data import dask_build
    from jaxglass.data.progress import BuildProgress

    cfg = data.DatasetConfig.make("lj2d", 2, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    rep = BuildProgress(tmp_path, cfg, 2, echo=False)
    events = queue.SimpleQueue()
    text = "00001 MD: 40/120 steps (33 %), elapsed 0:00:10, ETA 0:00:20"
    events.put(("start", {"event": "start", "k": 1, "where": "worker w"}))
    events.put(("start", {"event": "progress", "k": 1, "text": text}))
    dask_build._drain_events(events, {}, rep)
    log = (tmp_path / "build.log").read_text()
    assert "start 00001 on worker w" in log and text in log and rep.running == {1: "worker w"}
