"""Progress with an ETA: of a dataset build (done / failed / running counts, rate and ETA, one line per
event; every line goes to ``DIR/build.log`` (:func:`jaxglass.data.schema.log_line`) and, when echoing,
to stdout; see docs/datasets.md), and of one long computation that reports ``progress(done, total)``
(:class:`EtaProgress`: the KPM recursion of :func:`jaxglass.kpm.pdos`, the MD chunks of
:func:`jaxglass.md.nvt_langevin`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .config import DatasetConfig
from .schema import log_line, log_path, read_record, record_path

#: Seconds between status lines when nothing else happens.
HEARTBEAT_S = 30.0


def fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class EtaProgress:
    """A ``progress(done, total)`` callable that writes ``"LABEL: done/total UNIT (p %), elapsed H:MM:SS,
    ETA H:MM:SS"`` through ``write``, at most once per ``every`` seconds, and at the end.

    The rate is measured from the second report on: the first chunk of a compiled loop includes its
    compilation, which would inflate the ETA (until then the line says ``ETA n/a``).

    ``lines``: at most about that many lines per stage (a line also waits until ``total / lines``
    more has been done). ``final=False``: the closing line only when an earlier line was written, so a
    stage shorter than ``every`` stays silent. One object can follow successive stages (the MD of
    several structures): a report with a smaller ``done`` or another ``total`` starts a new stage.
    """

    def __init__(self, label: str, write, unit: str = "", every: float = 2.0, clock=time.monotonic, *,
                 lines: int | None = None, final: bool = True):
        self.label, self.write, self.unit, self.every, self.clock = label, write, unit, every, clock
        self.lines, self.final = lines, final
        self._restart(None)

    def _restart(self, total) -> None:
        self.t0 = self.ref = None
        self.last, self.last_done, self.done, self.total, self.written = 0.0, 0, 0, total, 0

    def __call__(self, done: int, total: int) -> None:
        now = self.clock()
        if self.t0 is not None and (done < self.done or total != self.total):
            self._restart(total)  # a new stage
        self.done, self.total = done, total
        if self.t0 is None:
            self.t0 = self.last = now
        elif self.ref is None:
            self.ref = (now, done)  # after the first chunk (and its compilation)
        if done >= total:
            if not (self.final or self.written):
                return
        elif now - self.last < self.every or (self.lines and done - self.last_done < total / self.lines):
            return
        self.last, self.last_done, self.written = now, done, self.written + 1
        eta = "ETA n/a"
        if self.ref is not None and done > self.ref[1]:
            eta = f"ETA {fmt_duration((total - done) * (now - self.ref[0]) / (done - self.ref[1]))}"
        unit = f" {self.unit}" if self.unit else ""
        self.write(f"{self.label}: {done}/{total}{unit} ({100.0 * done / max(total, 1):.0f} %), "
                   f"elapsed {fmt_duration(now - self.t0)}, {eta}")


#: Energy per atom (the family's units) within which a relaxed glass counts as the crystal itself.
RECRYSTALLIZED_TOL = 1e-6


def _crystal_energy(out: Path) -> float | None:
    """Energy per atom of the crystalline reference (record 0, knob < 0) if it is on disk."""
    path = record_path(out, 0)
    if not path.is_file():
        return None
    rec = read_record(path)
    return float(rec["energy_per_atom"]) if float(rec["knob"]) < 0 else None


class BuildProgress:
    """Done / failed / running counts, rate and ETA; every line also goes to ``DIR/build.log``."""

    def __init__(self, out: Path, cfg: DatasetConfig, n_todo: int, echo: bool):
        self.out, self.log_path = out, log_path(out)
        self.total, self.echo = cfg.n_structures, echo
        self.done_before = cfg.n_structures - n_todo
        self.done, self.failed = 0, {}
        self.running: dict[int, str] = {}
        self.restarted: dict[int, int] = {}
        self.t0 = time.monotonic()
        self.last_line = self.t0
        self.crystal_energy = _crystal_energy(out)

    def _recrystallized(self, s: dict[str, Any]) -> str:
        """A warning for a glass that relaxed to the crystal's energy (a melt-quench protocol that
        let the melt regrow on the crystal around it); '' otherwise or when unknown."""
        e, e0 = s.get("energy_per_atom"), self.crystal_energy
        if s["knob"] < 0 or e0 is None or e is None or abs(e - e0) > RECRYSTALLIZED_TOL:
            return ""
        return (f"; WARNING: at the crystal's energy (within {RECRYSTALLIZED_TOL:g} per atom): "
                "the melt recrystallized")

    def line(self, text: str, echo: bool = True) -> None:
        log_line(self.out, text, echo=self.echo and echo)
        self.last_line = time.monotonic()

    def status(self) -> str:
        done = self.done_before + self.done
        queued = self.total - done - len(self.failed) - len(self.running)
        elapsed = time.monotonic() - self.t0
        if self.done:
            rate = self.done / elapsed * 3600.0
            left = self.total - done - len(self.failed)
            eta = f"ETA {fmt_duration(left / rate * 3600.0)}"
            speed = f"{rate:.1f} structures/h"
        else:
            speed, eta = "rate n/a", "ETA n/a"
        return (f"[{done}/{self.total} done, {len(self.failed)} failed, {len(self.running)} running, "
                f"{max(queued, 0)} queued; {speed}, {eta}, elapsed {fmt_duration(elapsed)}]")

    def started(self, k: int, where: str) -> None:
        self.running[k] = where
        self.line(f"start {k:05d} on {where}", echo=False)  # the log file only: the status counts them

    def finished(self, s: dict[str, Any]) -> None:
        k = s["k"]
        self.running.pop(k, None)
        self.done += 1
        if s["knob"] < 0:  # the crystalline reference: what the glasses are compared with
            self.crystal_energy = s.get("energy_per_atom")
        knob = "crystal" if s["knob"] < 0 else f"knob {s['knob']:.3f}"
        steps = "?" if s["relax_steps"] is None else s["relax_steps"]
        again = f", after {self.restarted[k]} lost worker(s)" if k in self.restarted else ""
        self.line(f"done  {k:05d} in {s['seconds']:.1f} s on {s['where']}: {s['n_atoms']} atoms, {knob}, "
                  f"{steps} relaxation steps, {s['n_imaginary']} imaginary modes{again}"
                  f"{self._recrystallized(s)} {self.status()}")

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
