"""Protocol audit: how long a melt-quench must be for the glass ensemble to stop changing.

For one family, every (knob, quench length, seed) in the plan generates one structure with the
family's *paper* protocol (its time step, friction, temperatures and melt stage) but the quench
shortened to a fraction of the paper's ``n_quench``, at the family's SMALL size (e.g. 256 atoms), so
lengths are comparable in time and only the cell is small. Per structure (as the dataset builder,
:func:`jaxglass.data.records.compute_record`, computes its record):

* ``energy``: energy per atom after relaxation (the inherent-structure energy);
* ``peak``: first-peak height of the smoothed total g(r) (:func:`jaxglass.rdf.rdf` on the family's
  dataset grid and width);
* PDOS features of the Γ-point modes (:func:`jaxglass.phonons.modes`; the ``dim`` translations
  dropped): ``nu_mean`` (mean frequency), ``nu2`` (second moment ⟨ν²⟩), ``low_w`` (fraction of the
  modes below 10 % of the family's PDOS grid maximum, a fixed threshold per family, so ensembles
  compare), ``nu_max``; and the PDOS itself on a 60-point grid (for the figure).

Each run is one JSON under ``<out>/runs/`` (written when the run finishes; a rerun skips the runs
already there), so an interrupted audit resumes. :func:`summarize` then gives mean ± standard
error per (knob, length), :func:`converged_length` the shortest length whose every feature agrees
with the longest one (and every length in between) within ``z`` combined standard errors. Outputs:
``<out>/summary.json``, a markdown table on stdout (and ``<out>/table.md``), and a figure.

amc runs no MD: its protocol length is the number of Metropolis Stone-Wales switch trials
(``anneal_per_atom`` × N, 10 per atom in its paper protocol), which ``--fractions`` scales in the
same way (the length column then counts trials, its unit is trials per atom), and its runs also
record the hexagon fraction of the relaxed network (:func:`jaxglass.generate.amc.ring_statistics`),
a feature of the table.

Usage (one process, single-threaded XLA, at low priority; see docs/datasets.md, "Protocol audit")::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. nice -n 5 .venv/bin/python examples/protocol_audit.py lj3d \
        --fractions 0.05,0.1,0.25,0.5,1 --seeds 0,1,2,3 --knobs 1.0 \
        --out examples/protocol_audit/lj3d --figure docs/figures/protocol_audit_lj3d.png

``--max-cpu-min`` stops starting new runs once the process has used that much CPU time;
``--summarize-only`` rebuilds the summary, table and figure from the runs on disk.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import math
import time
from pathlib import Path

import numpy as np

#: The per-structure features summarised (keys of a run's JSON) and their labels.
FEATURES = {
    "energy": "E_IS / atom",
    "peak": "g(r) first peak",
    "nu_mean": "mean ν",
    "nu2": "⟨ν²⟩",
    "low_w": "low-ν weight",
    "nu_max": "ν_max",
}
N_PDOS = 60


# -- statistics (no JAX: tested on synthetic input in tests/test_protocol_audit.py) -----------------


def mean_sem(values) -> tuple[float, float, int]:
    """Mean, standard error of the mean (sample std with ddof 1 over √n; NaN for n < 2) and n."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    n = int(v.size)
    if n == 0:
        return float("nan"), float("nan"), 0
    sem = float(np.std(v, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
    return float(np.mean(v)), sem, n


def summarize(runs: list[dict], features=tuple(FEATURES)) -> dict:
    """``{knob: {n_quench: {feature: (mean, sem, n)}}}`` over the seeds of each (knob, length)."""
    out: dict = {}
    for r in runs:
        out.setdefault(float(r["knob"]), {}).setdefault(int(r["n_quench"]), []).append(r)
    return {
        knob: {nq: {f: mean_sem([r.get(f) for r in group]) for f in features}
               for nq, group in sorted(by_len.items())}
        for knob, by_len in sorted(out.items())
    }


def paired_differences(runs: list[dict], features=tuple(FEATURES)) -> dict:
    """``{knob: {n_quench: {feature: (mean, sem, n)}}}`` of the per-seed differences from the
    longest length's run of the same seed (seeds present at both lengths). The runs of one seed share
    its random start (the melt, or amc's random switches), so the paired differences resolve what
    the seed-to-seed scatter of :func:`summarize` hides."""
    out: dict = {}
    for r in runs:
        out.setdefault(float(r["knob"]), {}).setdefault(int(r["n_quench"]), {})[int(r["seed"])] = r
    res: dict = {}
    for knob, by_len in sorted(out.items()):
        ref = by_len[max(by_len)]
        res[knob] = {nq: {f: mean_sem([by_seed[s].get(f) - ref[s].get(f) for s in by_seed if s in ref
                                       and by_seed[s].get(f) is not None and ref[s].get(f) is not None])
                          for f in features}
                     for nq, by_seed in sorted(by_len.items())}
    return res


def converged_paired(by_len: dict, features=tuple(FEATURES), z: float = 2.0) -> int | None:
    """:func:`converged_length` on paired differences (:func:`paired_differences`): the shortest
    length from which every length's mean difference from the longest is within ``z`` standard errors
    of zero; ``None`` when a needed error is undefined."""
    return _shortest_agreeing(by_len, lambda nq: [_z0(*by_len[nq][f][:2]) for f in features], z)


def _z0(mean: float, sem: float) -> float:
    """``mean / sem``; 0 where every pair is identical (both 0), NaN where the error is undefined."""
    if mean == 0.0 and sem == 0.0:
        return 0.0
    return mean / sem if sem > 0 else float("nan")


def z_score(a: tuple, b: tuple) -> float:
    """``(mean_a - mean_b) / sqrt(sem_a² + sem_b²)`` (NaN when either error is undefined)."""
    se = math.sqrt(a[1] ** 2 + b[1] ** 2) if np.isfinite(a[1]) and np.isfinite(b[1]) else float("nan")
    return (a[0] - b[0]) / se if se > 0 else float("nan")


def converged_length(by_len: dict, features=tuple(FEATURES), z: float = 2.0) -> int | None:
    """Shortest length ``L`` such that every length ``>= L`` agrees with the longest on every feature
    (``|z_score| < z``); ``None`` when a needed z-score is undefined (fewer than 2 seeds)."""
    ref = by_len[max(by_len)]
    return _shortest_agreeing(by_len, lambda nq: [z_score(by_len[nq][f], ref[f]) for f in features], z)


def _shortest_agreeing(by_len: dict, z_scores, z: float) -> int | None:
    """Walk down from the longest length while every ``z_scores(length)`` is below ``z`` in size."""
    lengths = sorted(by_len)
    best = lengths[-1]
    for nq in reversed(lengths[:-1]):
        zs = z_scores(nq)
        if any(not np.isfinite(x) for x in zs):
            return None
        if max(abs(x) for x in zs) >= z:
            break
        best = nq
    return best


# -- one run ----------------------------------------------------------------------------------------


def family_protocol(family: str):
    """The family's module and its published ("paper") protocol."""
    from jaxglass import families

    mod = importlib.import_module(f"jaxglass.generate.{families.get(family).module}")
    return mod, mod.PROTOCOLS["paper"]


def features_of(family: str) -> dict:
    """The features summarised for ``family``: :data:`FEATURES`, for amc also the hexagon fraction."""
    return {**FEATURES, "hex": "hexagon fraction"} if family == "amc" else dict(FEATURES)


def shortened(paper, fraction: float, n_atoms: int):
    """``(protocol, length)``: the paper protocol with its length scaled by ``fraction``, and that
    length in steps (MD quench steps; for amc's dict protocol, Metropolis trials at ``n_atoms``)."""
    if isinstance(paper, dict):  # amc: Metropolis switch trials per atom
        prot = {k: v for k, v in paper.items() if k != "n_atoms"}
        prot["anneal_per_atom"] = fraction * paper["anneal_per_atom"]
        return prot, int(round(prot["anneal_per_atom"] * n_atoms))
    prot = dataclasses.replace(paper, n_quench=max(1, int(round(fraction * paper.n_quench))))
    return prot, prot.n_quench


def time_axis(family: str, paper) -> tuple[float, str]:
    """``(length of one step, its unit)`` for the table and figure."""
    from jaxglass.data import DatasetConfig

    if family == "amc":
        return 1.0 / DatasetConfig.make(family, 1).n_atoms, "trials/atom"
    if family.startswith("lj"):
        return paper.dt, "τ"
    return paper.dt_fs * 1e-3, "ps"


def pdos_features(freqs: np.ndarray, dim: int, nu_low: float) -> dict:
    """Moments of the Γ-point mode list with the ``dim`` modes nearest zero (translations) dropped."""
    f = np.sort(np.asarray(freqs, np.float64))
    keep = np.ones(f.size, bool)
    keep[np.argsort(np.abs(f))[:dim]] = False
    f = f[keep]
    return {"nu_mean": float(np.mean(f)), "nu2": float(np.mean(f**2)), "low_w": float(np.mean(f < nu_low)),
            "nu_max": float(f.max())}


def run_one(family: str, knob: float, fraction: float, seed: int) -> dict:
    """Generate, relax and characterise one structure (paper protocol, quench × ``fraction``)."""
    import jaxglass
    from jaxglass import families, phonons
    from jaxglass.data import DatasetConfig
    from jaxglass.rdf import rdf, rdf_neighbors

    jaxglass.enable_x64()
    mod, paper = family_protocol(family)
    cfg = DatasetConfig.make(family, 1)
    prot, length = shortened(paper, fraction, cfg.n_atoms)
    cpu0, t0 = time.process_time(), time.perf_counter()
    gen = families.generator(family).generate(cfg.n_atoms, knob, seed, size="small", protocol=prot)
    s, pot = gen.structure, gen.potential
    g = rdf(s, cfg.r_grid(), cfg.r_sigma, rdf_neighbors(s, cfg.r_max, cfg.r_sigma))
    m = phonons.modes(pot, s)
    f = np.asarray(m.frequencies)
    grid = np.linspace(0.0, cfg.freq_max, N_PDOS)
    pd = np.asarray(phonons.dos(m.frequencies, grid, cfg.freq_sigma))
    dim = int(np.asarray(s.positions).shape[1])
    info = gen.info
    return {
        "family": family, "knob": float(knob), "fraction": float(fraction), "seed": int(seed),
        "n_atoms": int(s.n_atoms), "protocol": prot if isinstance(prot, dict) else dataclasses.asdict(prot),
        "n_quench": int(info.get("anneal_trials", length)),
        **({"hex": float(gen.knob_values["hexagon_fraction"]),
            **{k: int(v) for k, v in info.items() if k.startswith("anneal_")}} if family == "amc" else {}),
        "energy": float(info["energy_per_atom"]), "peak": float(np.max(np.asarray(g.total))),
        "r_peak": float(np.asarray(g.r)[int(np.argmax(np.asarray(g.total)))]),
        **pdos_features(f, dim, 0.1 * cfg.freq_max),
        "n_imaginary": int(phonons.count_imaginary(f)), "fmax": float(info["fmax"]),
        "converged": bool(info["converged"]), "pdos": [round(float(x), 5) for x in pd],
        "md_s": info.get("md_s"), "wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - cpu0,
    }


# -- output -----------------------------------------------------------------------------------------


def fmt(ms: tuple, digits: int = 4) -> str:
    mean, sem, n = ms
    return f"{mean:.{digits}g} ± {sem:.2g}" if np.isfinite(sem) else f"{mean:.{digits}g}"


def table(family: str, summ: dict, dt: float, unit_time: str, paired: dict | None = None) -> str:
    """Markdown table: one row per (knob, length), mean ± standard error per feature; with
    ``paired`` (:func:`paired_differences`) a second "converged from" row on the paired differences."""
    features = features_of(family)
    steps = "anneal trials" if family == "amc" else "quench steps"
    head = ["knob", steps, f"{steps.split()[0]} ({unit_time})", "n", *features.values()]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for knob, by_len in summ.items():
        for nq, feats in by_len.items():
            n = feats["energy"][2]
            lines.append("| " + " | ".join([f"{knob:g}", f"{nq:,}", f"{nq * dt:g}", str(n),
                                           *(fmt(feats[f]) for f in features)]) + " |")
        conv = [converged_length(by_len, (f,)) for f in features]
        lines.append("| " + " | ".join([f"{knob:g}", "converged from", "", "",
                                       *("n/a" if c is None else f"{c:,}" for c in conv)]) + " |")
        if paired is not None:
            conv = [converged_paired(paired[knob], (f,)) for f in features]
            lines.append("| " + " | ".join([f"{knob:g}", "converged from (paired)", "", "",
                                           *("n/a" if c is None else f"{c:,}" for c in conv)]) + " |")
    lines.append(f"\n'converged from': the shortest length ({steps}) whose mean, and that of every "
                 "longer one, lies within 2 combined standard errors of the longest one's."
                 + ("\n'(paired)': the same on the per-seed differences from the longest length's run of "
                    "that seed (within 2 standard errors of zero)." if paired is not None else ""))
    return "\n".join(lines)


def figure(family: str, runs: list[dict], summ: dict, path: Path, unit_time: str, dt: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxglass import families
    from jaxglass.data import DatasetConfig

    cfg = DatasetConfig.make(family, 1)
    unit = families.get(family).defaults.freq_unit
    features = features_of(family)
    feats = list(features)
    rows, cols = (2, 4) if len(feats) < 7 else (3, 3)
    fig, axes = plt.subplots(rows, cols, figsize=(15, 6.5) if rows == 2 else (12, 9.5))
    for ax, f in zip(axes.flat, feats):
        for knob, by_len in summ.items():
            x = np.array(list(by_len)) * dt
            ref = by_len[max(by_len)][f][0]
            m = np.array([by_len[k][f][0] for k in by_len]) - ref
            e = np.array([by_len[k][f][1] for k in by_len])
            line = ax.errorbar(x, m, yerr=np.nan_to_num(e), marker="o", capsize=3,
                               label=f"knob {knob:g} (longest: {ref:.4g})")
            pts = [r for r in runs if r["knob"] == knob]
            ax.plot([r["n_quench"] * dt for r in pts], [r[f] - ref for r in pts], ".",
                    color=line[0].get_color(), alpha=0.35, ms=3)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(f"protocol length ({unit_time})")
        ax.set_title(f"{features[f]} − longest protocol's mean")
        ax.legend(fontsize=7)
    grid = np.linspace(0.0, cfg.freq_max, N_PDOS)
    for ax, knob in zip(axes.flat[len(feats):], list(summ)[:2]):
        for nq in summ[knob]:
            ps = np.array([r["pdos"] for r in runs if r["knob"] == knob and r["n_quench"] == nq])
            ax.plot(grid, ps.mean(0), label=f"{nq * dt:g} {unit_time}")
        ax.set_title(f"mean PDOS, knob {knob:g}")
        ax.set_xlabel(f"frequency, {unit}")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(feats) + min(2, len(summ)):]:
        ax.axis("off")
    n_atoms = runs[0]["n_atoms"]
    what = "the anneal" if family == "amc" else "the quench"
    fig.suptitle(f"{family}: protocol audit, {n_atoms} atoms, paper protocol with {what} shortened "
                 "(mean ± standard error over seeds; dots: single structures)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("family", choices=["lj2d", "lj3d", "cualzr", "sic", "amc", "hea"])
    ap.add_argument("--fractions", default="0.05,0.1,0.25,0.5,1", help="quench lengths / the paper's")
    ap.add_argument("--seeds", default="0,1,2,3")
    ap.add_argument("--knobs", default="1.0")
    ap.add_argument("--out", required=True, help="folder: runs/*.json, summary.json, table.md")
    ap.add_argument("--figure", default=None)
    ap.add_argument("--max-cpu-min", type=float, default=60.0, help="start no new run past this CPU time")
    ap.add_argument("--summarize-only", action="store_true")
    args = ap.parse_args(argv)
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    fracs = [float(x) for x in args.fractions.split(",")]
    seeds = [int(x) for x in args.seeds.split(",")]
    knobs = [float(x) for x in args.knobs.split(",")]
    # seeds outermost: an interrupted audit still has every length for the seeds it finished
    plan = [(k, fr, sd) for k in knobs for sd in seeds for fr in fracs]
    for knob, fr, seed in ([] if args.summarize_only else plan):
        path = out / "runs" / f"knob{knob:g}_q{fr:g}_seed{seed}.json"
        if path.exists():
            continue
        if time.process_time() / 60.0 > args.max_cpu_min:
            print(f"CPU budget {args.max_cpu_min} min spent: stopping before {path.name}", flush=True)
            break
        rec = run_one(args.family, knob, fr, seed)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec))
        tmp.replace(path)
        print(f"{path.name}: E {rec['energy']:.5f} peak {rec['peak']:.3f} nu_mean {rec['nu_mean']:.4f} "
              f"low_w {rec['low_w']:.4f} imag {rec['n_imaginary']} cpu {rec['cpu_s']:.1f} s "
              f"wall {rec['wall_s']:.1f} s", flush=True)
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    if not runs:
        return 1
    _, paper = family_protocol(args.family)
    dt, unit_time = time_axis(args.family, paper)
    features = features_of(args.family)
    summ = summarize(runs, tuple(features))
    paired = paired_differences(runs, tuple(features))
    tab = table(args.family, summ, dt, unit_time, paired)
    (out / "table.md").write_text(tab + "\n")
    print(tab)
    conv = {str(k): {f: converged_length(v, (f,)) for f in features} for k, v in summ.items()}
    (out / "summary.json").write_text(json.dumps({
        "family": args.family, "n_atoms": runs[0]["n_atoms"],
        "paper_protocol": paper if isinstance(paper, dict) else dataclasses.asdict(paper),
        "time_unit": unit_time, "dt": dt, "features": features,
        "summary": {str(k): {str(nq): {f: list(v) for f, v in feats.items()} for nq, feats in by_len.items()}
                    for k, by_len in summ.items()},
        "paired_differences": {str(k): {str(nq): {f: list(v) for f, v in feats.items()}
                                        for nq, feats in by_len.items()} for k, by_len in paired.items()},
        "converged_n_quench_paired": {str(k): {f: converged_paired(v, (f,)) for f in features}
                                      for k, v in paired.items()},
        "converged_n_quench": conv, "cpu_s_total": sum(r["cpu_s"] for r in runs), "n_runs": len(runs),
    }, indent=1))
    if args.figure:
        figure(args.family, runs, summ, Path(args.figure), unit_time, dt)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
