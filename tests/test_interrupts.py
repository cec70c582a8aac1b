"""Ctrl-C in the single-process commands, and a build process killed while writing a record.

Each command runs in a subprocess (the ``jaxglass.cli`` module) and gets SIGINT once a line it prints
shows that its work is under way. The command must exit with status 130 (``cli/main.py``: the
interrupt status), print exactly one ``jaxglass:`` line on stderr (no traceback) and leave no partial
output in ``--out``: no temporary files and none of the files a finished run writes (a dataset's
finished records and its manifest stay: builds resume). Inputs are the smallest that keep the command
busy for a few seconds after the line; every wait has a deadline (``DEADLINE`` seconds), so a hang
fails the test instead of blocking the suite.

The dataset-build test runs ``build_dataset`` in a subprocess whose ``os.replace`` blocks on one record
(the temporary file is written, the rename not yet done: the moment an atomic write can be cut) and
kills it with SIGKILL there: the record is absent (never half-written), the others are complete, and
a resume computes exactly the missing one.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
#: Seconds any one wait may take (start-up and JAX compilation on a loaded machine included).
DEADLINE = 120.0


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)]), "OPENBLAS_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1", "JAXGLASS_COMPILE_CACHE": "0"}


#: The CLI with Python's own SIGINT handler (KeyboardInterrupt), as in a terminal: a test run started in
#: the background inherits SIGINT ignored, and Python then installs no handler.
CLI = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
       "sys.argv[0] = 'jaxglass'; runpy.run_module('jaxglass.cli', run_name='__main__')")


def _start(args: list[str], stdout: Path) -> subprocess.Popen:
    fh = open(stdout, "w")  # noqa: SIM115 (closed by the caller through proc.stdout_file)
    proc = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=fh, stderr=subprocess.PIPE, env=_env(),
                            text=True, start_new_session=True)  # its own process group, as a terminal job
    proc.stdout_file = fh
    return proc


def _interrupt(args: list[str], marker: str, tmp_path: Path,
               sig: int = signal.SIGINT) -> tuple[int, str, str]:
    """Run the command, send ``sig`` once ``marker`` is on its stdout; ``(status, stdout, stderr)``."""
    out_txt = tmp_path / "stdout.txt"
    proc = _start(args, out_txt)
    try:
        t_end = time.monotonic() + DEADLINE
        while marker not in out_txt.read_text():
            if proc.poll() is not None:
                raise AssertionError(f"exited ({proc.returncode}) before {marker!r}:\n{out_txt.read_text()}"
                                     f"\n{proc.stderr.read()}")
            assert time.monotonic() < t_end, f"no {marker!r} within {DEADLINE} s"
            time.sleep(0.05)
        os.killpg(proc.pid, sig)  # SIGINT: what a terminal's Ctrl-C does
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:  # CPython drops a KeyboardInterrupt raised inside a garbage-
            os.killpg(proc.pid, signal.SIGINT)  # collector callback (JAX has one): a user presses again
            _, err = proc.communicate(timeout=DEADLINE)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout_file.close()
    return proc.returncode, out_txt.read_text(), err


def _clean_interrupt(rc: int, out: str, err: str) -> None:
    if "Exception ignored in" in err and "KeyboardInterrupt" in err:  # rare: the Ctrl-C landed in a gc
        pytest.xfail("known gap: CPython drops a KeyboardInterrupt raised in JAX's garbage-collector "
                     "callback (printed as 'Exception ignored'); the command goes on until Ctrl-C again")
    assert rc == 130, f"status {rc}\n{out}\n{err}"
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("jaxglass:")]
    assert lines == ["jaxglass: interrupted"], err


def _no_partial_files(folder: Path, finished: tuple[str, ...]) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
    assert not [p for p in files if ".tmp" in p.name], files
    assert not [p for p in files if p.name in finished], files


@pytest.fixture(scope="module")
def arrays(tmp_path_factory):
    """Features and targets large enough that ridge's cross-validation takes a few seconds."""
    d = tmp_path_factory.mktemp("arrays")
    rng = np.random.default_rng(0)
    np.save(d / "X.npy", rng.random((3000, 1200)))
    np.save(d / "Y.npy", rng.random((3000, 300)))
    return d


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_in_pdos_kpm(tmp_path, sig):
    """Interrupted in the KPM recursion: the host runs it chunk by chunk, so Ctrl-C lands between chunks.
    SIGTERM (``kill``, a batch scheduler) stops it the same way (``cli/main.py``)."""
    from jaxglass.generate import random_packing
    from jaxglass.structure import write

    write(str(tmp_path / "s.extxyz"), random_packing(300, 1.2, 3, {"A": 0.8, "B": 0.2}, min_distance=0.7,
                                                     seed=0))
    rc, out, err = _interrupt(["pdos", str(tmp_path / "s.extxyz"), "--potential", "ka", "--method", "kpm",
                               "--moments", "8192", "--vectors", "4", "--allow-imaginary", "--out",
                               str(tmp_path / "out")], "pdos: KPM start", tmp_path, sig)
    _clean_interrupt(rc, out, err)
    _no_partial_files(tmp_path / "out", ("pdos.npz", "summary.json", "pdos.png"))


def test_ctrl_c_in_train(arrays, tmp_path):
    model = tmp_path / "out" / "m.npz"
    rc, out, err = _interrupt(["train", "--features", str(arrays / "X.npy"), "--targets",
                               str(arrays / "Y.npy"), "--out", str(model)], "train: fitting", tmp_path)
    _clean_interrupt(rc, out, err)
    _no_partial_files(tmp_path / "out", ("m.npz",))


def test_ctrl_c_in_study(tmp_path):
    from _toy import fake_record

    from jaxglass import data
    from jaxglass.data import build, schema

    cfg = data.DatasetConfig.make("lj2d", 40, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    ds = tmp_path / "ds"
    build.prepare_manifest(ds, cfg)
    for k in range(cfg.n_structures):
        schema.write_record(ds, k, fake_record(cfg, k))
    rc, out, err = _interrupt(["study", "--system", "lj2d", "--dataset", str(ds), "--out",
                               str(tmp_path / "out")], "study lj2d:", tmp_path)
    _clean_interrupt(rc, out, err)
    _no_partial_files(tmp_path / "out", ("study.json", "study.md"))


def test_ctrl_c_in_demo(tmp_path):
    out_dir = tmp_path / "out"
    rc, out, err = _interrupt(["demo", "--system", "lj2d", "--n-structures", "4", "--n-atoms", "128",
                               "--workers", "0", "--out", str(out_dir)], "demo: lj2d", tmp_path)
    _clean_interrupt(rc, out, err)
    _no_partial_files(out_dir, ("study.json", "study.md", "rdf_pdos.png"))
    from jaxglass import data

    for p in (out_dir / "dataset" / "structures").glob("*.npz"):
        data.read_record(p)  # a record on disk is complete


KILL_CHILD = textwrap.dedent("""
    import os, sys, time
    from _toy import fake_record
    from jaxglass import data

    real_replace = os.replace

    def replace(src, dst):  # record 1: the temporary file is written; stop before the rename
        if str(dst).endswith("00001.npz"):
            print("WRITING", flush=True)
            time.sleep(600)
        real_replace(src, dst)

    os.replace = replace
    cfg = data.DatasetConfig.make("lj2d", 3, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    data.build_dataset(sys.argv[1], cfg, progress=False, compute=fake_record)
""")


def test_build_killed_while_writing_a_record_resumes(tmp_path):
    from _toy import fake_record

    from jaxglass import data

    out = tmp_path / "ds"
    log = tmp_path / "child.txt"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-c", KILL_CHILD, str(out)], stdout=fh,
                                stderr=subprocess.STDOUT, env=_env())
        try:
            t_end = time.monotonic() + DEADLINE
            while "WRITING" not in log.read_text():
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < t_end, "the build did not reach record 1"
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=DEADLINE)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    structures = out / "structures"
    assert (structures / "00000.npz").is_file() and not (structures / "00001.npz").exists()
    assert list(structures.glob(".00001.npz.*.tmp")), "the cut write left its temporary file"
    cfg = data.DatasetConfig.make("lj2d", 3, n_atoms=56, n_freq=20, n_r=10, r_max=2.5)
    assert data.pending_structures(out, cfg) == [1, 2]  # reads every record on disk: all complete
    assert data.build_dataset(out, cfg, progress=False, compute=fake_record) == [1, 2]
    assert data.pending_structures(out, cfg) == []
    assert not [p for p in structures.iterdir() if ".tmp" in p.name]
    rec = data.read_record(structures / "00001.npz")
    np.testing.assert_array_equal(rec["positions"], fake_record(cfg, 1)["positions"])
