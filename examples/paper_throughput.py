"""Generation throughput of dataset builds, from their ``build.log`` files.

Reads the per-structure lines (``done  00012 in 93.5 s on worker 0 ...``) of every dataset directory
given and prints, per family, the structures built, the median / min / max seconds per structure
(the crystalline reference, index 0, left out) and the structures per hour per core (one
single-threaded worker = one core). A build that ran under load says so only through its
timings: record the load with the numbers.

Usage::

    python examples/paper_throughput.py [--since "2026-11-26 06:10:00"] out/paper/amc out/paper/lj2d ...
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

LINE = re.compile(r"^(\S+ \S+) done\s+(\d+) in ([0-9.]+) s .*?: (\d+) atoms")


def throughput(path: Path, since: str = "") -> dict:
    """Per-structure times of one dataset directory's build.log (later lines win for an index),
    only from lines stamped at or after ``since`` ("YYYY-MM-DD HH:MM:SS", e.g. after a code change)."""
    times: dict[int, float] = {}
    atoms: set[int] = set()
    log = path / "build.log"
    if not log.exists():
        raise SystemExit(f"{log}: no build log")
    for line in log.read_text().splitlines():
        m = LINE.match(line)
        # index 0 is the crystalline reference (no melt-quench)
        if m and int(m.group(2)) > 0 and m.group(1) >= since:
            times[int(m.group(2))] = float(m.group(3))
            atoms.add(int(m.group(4)))
    man = json.loads((path / "manifest.json").read_text())
    n_done = len(list((path / "structures").glob("[0-9]*.npz")))
    t = sorted(times.values())
    if not t:
        return dict(system=man["config"]["system"], structures=n_done, timed=0)
    med = t[len(t) // 2] if len(t) % 2 else 0.5 * (t[len(t) // 2 - 1] + t[len(t) // 2])
    return dict(system=man["config"]["system"], size=man["config"]["size"], atoms=sorted(atoms),
                structures=n_done, timed=len(t), median_s=med, min_s=t[0], max_s=t[-1],
                per_hour_per_core=3600.0 / med)


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    since = ""
    if "--since" in args:
        i = args.index("--since")
        since = args[i + 1]
        del args[i : i + 2]
    dirs = [Path(a) for a in args]
    if not dirs:
        print(__doc__)
        return 2
    print("| family | atoms | structures | timed | s per structure (median, min–max) | "
          "structures / h / core |")
    print("|---|---|---|---|---|---|")
    for d in dirs:
        r = throughput(d, since)
        if not r["timed"]:
            print(f"| {r['system']} | – | {r['structures']} | 0 | – | – |")
            continue
        print(f"| {r['system']} | {', '.join(map(str, r['atoms']))} | {r['structures']} | {r['timed']} | "
              f"{r['median_s']:.0f} ({r['min_s']:.0f}–{r['max_s']:.0f}) | {r['per_hour_per_core']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
