"""The physics of one record: generate, relax and characterise structure ``k`` of a dataset.

:func:`compute_record` returns the arrays of :mod:`jaxglass.data.schema` (RDFs on the ``r`` grid,
Γ-point modes, PDOS on the frequency grid and, optionally, the observables of
:mod:`jaxglass.data.observables`); :func:`run_one` computes a record, writes it atomically and
returns the summary the build log reports. See docs/datasets.md.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import families
from ..errors import UserError
from .config import DatasetConfig
from .observables import compute_observables
from .progress import EtaProgress
from .schema import make_record, write_record

#: Progress of a structure's MD stage in a build: a line at most every ``MD_PROGRESS_EVERY_S`` seconds
#: and about ``MD_PROGRESS_LINES`` lines per stage; a stage shorter than that stays silent.
MD_PROGRESS_EVERY_S = 5.0
MD_PROGRESS_LINES = 10


def _family(system: str):
    """The generator object of ``system`` (tests replace it by a fast stand-in)."""
    from .. import families

    return families.generator(system)


def _prefixed(log: Callable[[str], None] | None, prefix: str) -> Callable[[str], None] | None:
    return None if log is None else (lambda text: log(f"{prefix} {text}"))


def md_progress(log: Callable[[str], None] | None) -> EtaProgress | None:
    """The ``progress(steps_done, n_steps)`` of a build's MD stages: ``MD: done/total steps (p %),
    elapsed, ETA`` lines through ``log``, rate-limited (:data:`MD_PROGRESS_EVERY_S`,
    :data:`MD_PROGRESS_LINES`); ``None`` without ``log``."""
    if log is None:
        return None
    return EtaProgress("MD", log, unit="steps", every=MD_PROGRESS_EVERY_S, lines=MD_PROGRESS_LINES,
                       final=False)


def _progress_kw(fn: Callable, progress) -> dict[str, Any]:
    """``{"progress": progress}`` when ``fn`` takes it (generators with an MD stage do; amc, custom
    families and test doubles may not)."""
    if progress is None:
        return {}
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {"progress": progress} if "progress" in params else {}


def _protocol_kw(cfg: DatasetConfig, fam: Any) -> dict[str, Any]:
    """``{"protocol": settings}`` for the glasses of a dataset with a named ``protocol``, looked up in
    the family's own ``PROTOCOLS``; ``{}`` for the size's own (the generator's default)."""
    if cfg.protocol is None:
        return {}
    table = getattr(fam, "PROTOCOLS", None)
    if table is None or cfg.protocol not in table:
        raise UserError(f"protocol: the {cfg.system} generator has no protocol {cfg.protocol!r} "
                        f"(its PROTOCOLS: {None if table is None else tuple(table)})", field="protocol")
    return {"protocol": table[cfg.protocol]}


def compute_record(cfg: DatasetConfig, k: int, family: Any = None, *, observables: bool = True,
                   log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Generate, relax and characterise structure ``k`` (RDF, modes, PDOS and, if ``observables``,
    the spectroscopic observables of :mod:`jaxglass.data.observables` on the PDOS grid).

    ``family`` (an object with ``generate`` and ``crystal`` as in :mod:`jaxglass.generate`) replaces
    the generator of ``cfg.system``, e.g. for a custom family or a fast test double. ``log`` gets
    progress lines prefixed with ``k``: the MD stage's (:func:`md_progress`) and the announcement of a
    large dense eigen-solve (:func:`jaxglass.modes.modes`).
    """
    from .._config import require_x64

    require_x64("jaxglass.data.compute_record")
    t0 = time.time()
    knob, seed = cfg.plan(k)
    fam = _family(cfg.system) if family is None else family
    say = _prefixed(log, f"{k:05d}")
    if knob < 0:
        gen = fam.crystal(cfg.n_atoms, size=cfg.size)
    else:
        gen = fam.generate(cfg.n_atoms, knob, seed, size=cfg.size, **_protocol_kw(cfg, fam),
                           **_progress_kw(fam.generate, md_progress(say)))
    return characterise(cfg, gen, knob, seed, t0, observables=observables, log=say)


def compute_records(cfg: DatasetConfig, ks: list[int], family: Any = None, *, observables: bool = True,
                    log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Records ``ks`` (as :func:`compute_record`), the glasses generated together when the family has
    ``generate_batch`` (their MD stepped in one compiled program), the crystal on its own."""
    from .._config import require_x64

    require_x64("jaxglass.data.compute_records")
    fam = _family(cfg.system) if family is None else family
    plans = [cfg.plan(k) for k in ks]
    glass = [i for i, (knob, _) in enumerate(plans) if knob >= 0]
    if not hasattr(fam, "generate_batch") or len(glass) < 2:
        return [compute_record(cfg, k, fam, observables=observables, log=log) for k in ks]
    t0 = time.time()
    batch = _prefixed(log, f"{ks[glass[0]]:05d}-{ks[glass[-1]]:05d}")
    gens = fam.generate_batch(cfg.n_atoms, [plans[i][0] for i in glass], [plans[i][1] for i in glass],
                              size=cfg.size, **_protocol_kw(cfg, fam),
                              **_progress_kw(fam.generate_batch, md_progress(batch)))
    out: dict[int, dict[str, Any]] = {}
    for i, gen in zip(glass, gens):
        out[i] = characterise(cfg, gen, plans[i][0], plans[i][1], t0, observables=observables,
                              log=_prefixed(log, f"{ks[i]:05d}"))
    for i in set(range(len(ks))) - set(glass):
        out[i] = compute_record(cfg, ks[i], fam, observables=observables, log=log)
    return [out[i] for i in range(len(ks))]


def characterise(cfg: DatasetConfig, gen: Any, knob: float, seed: int, t0: float, *,
                 observables: bool = True, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The record of a generated structure: RDF, modes, PDOS and (if ``observables``) the
    spectroscopic observables on the dataset's grids; ``log`` gets the announcement and the finish
    line of a large dense eigen-solve (:func:`jaxglass.modes.modes`)."""
    from .. import phonons
    from ..rdf import rdf, rdf_neighbors
    from ..structure import with_species_names

    # one species order for the whole dataset, so partials line up (absent species give zeros)
    s = with_species_names(gen.structure, families.get(cfg.system).defaults.species)
    pot = gen.potential
    # features: smoothed RDFs on the fixed grid
    r = cfg.r_grid()
    idx = rdf_neighbors(s, cfg.r_max, cfg.r_sigma)
    g = rdf(s, r, cfg.r_sigma, idx)
    # targets: Γ-point modes → PDOS on the fixed grid
    m = phonons.modes(pot, s, log=log)
    grid = cfg.freq_grid()
    w = phonons.species_weights(s, m.eigenvectors)
    tot = np.asarray(phonons.dos(m.frequencies, grid, cfg.freq_sigma))
    part = np.asarray(phonons.dos(m.frequencies, grid, cfg.freq_sigma, weights=w))
    f = np.asarray(m.frequencies)
    energy = float(pot.energy(s, pot.neighbors(s))) / s.n_atoms
    info = dict(gen.info)
    obs = compute_observables(s, m, grid, cfg.freq_sigma, cfg.system) if observables else {}
    info.update(wall_seconds_total=time.time() - t0, potential=pot.name, potential_citation=pot.citation,
                protocol_name=cfg.protocol_name(knob))
    return make_record(dict(
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
    ))


def _relax_steps(info: dict[str, Any]) -> int | None:
    """Relaxation steps recorded by a generator (L-BFGS + FIRE, whatever it names them)."""
    steps = [v for key, v in info.items()
             if (key.startswith("relax_steps") or key == "minimizer_steps") and isinstance(v, int)]
    return sum(steps) if steps else None


def summary(k: int, rec: dict[str, Any], seconds: float, where: str) -> dict[str, Any]:
    """What the build log reports of a finished record."""
    info = json.loads(str(rec["info"]))
    return dict(k=k, seconds=seconds, where=where, n_atoms=int(len(rec["species"])),
                knob=float(rec["knob"]), n_imaginary=int(rec["n_imaginary"]), relax_steps=_relax_steps(info),
                energy_per_atom=float(rec["energy_per_atom"]))


def run_batch(cfg: DatasetConfig, out: Path, ks: list[int], where: str,
              log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Compute records ``ks`` together (:func:`compute_records`), write each atomically, summarise."""
    t0 = time.time()
    recs = compute_records(cfg, ks, log=log)
    seconds = (time.time() - t0) / len(ks)
    out_s = []
    for k, rec in zip(ks, recs):
        write_record(out, k, rec)
        out_s.append(summary(k, rec, seconds, where))
    return out_s


def run_one(cfg: DatasetConfig, out: Path, k: int, compute: Callable | None, where: str,
            log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Compute record ``k`` (``compute``, or :func:`compute_record` with its progress lines going to
    ``log``), write it atomically, summarise it."""
    t0 = time.time()
    rec = compute(cfg, k) if compute is not None else compute_record(cfg, k, log=log)
    write_record(out, k, rec)
    return summary(k, rec, time.time() - t0, where)
