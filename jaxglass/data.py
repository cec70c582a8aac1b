"""Resumable dataset builder: structures → RDFs (total + partials) → PDOS (total + partials).

Layout of a dataset directory::

    DIR/manifest.json         format tag, jaxglass version, the full build configuration and grids
    DIR/structures/00000.npz  one file per structure (written atomically: temp file + os.replace)

Structure ``k`` is fully determined by the configuration and ``k`` (knob and seed are derived from
them), so an interrupted build resumes by computing only the missing files, and building with
several worker processes gives the same files as a serial build. Index 0 is the crystalline
reference when ``include_crystal`` is set; the other knobs are stratified over
``[knob_min, knob_max]`` in a seeded random order, so every prefix of the dataset spans the range.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

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


@dataclasses.dataclass(frozen=True)
class FamilyDefaults:
    """Grids and default sizes per family (frequency unit: THz, or ω in LJ units)."""

    n_atoms_small: int
    n_atoms_paper: int
    freq_max: float
    freq_sigma: float
    r_min: float
    r_max: float
    r_sigma: float
    species: tuple[str, ...]
    freq_unit: str = "THz"
    length_unit: str = "Å"


FAMILIES: dict[str, FamilyDefaults] = {
    "amc": FamilyDefaults(160, 800, 60.0, 0.5, 1.0, 6.0, 0.05, ("C",)),
    "lj2d": FamilyDefaults(256, 1024, 80.0, 0.5, 0.6, 3.5, 0.03, ("A", "B"), "omega (LJ units)", "sigma"),
    "lj3d": FamilyDefaults(256, 1000, 50.0, 0.5, 0.6, 2.7, 0.03, ("A", "B"), "omega (LJ units)", "sigma"),
    "sic": FamilyDefaults(400, 1000, 36.0, 0.3, 1.2, 7.0, 0.05, ("Si", "C")),
    "cualzr": FamilyDefaults(250, 1000, 12.0, 0.1, 2.0, 7.5, 0.05, ("Cu", "Zr", "Al")),
}


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
            raise ValueError(f"system: unknown family {system!r}; choose one of {sorted(FAMILIES)}")
        if n_structures < 1:
            raise ValueError(f"n_structures: must be at least 1, got {n_structures}")
        if size not in ("small", "paper"):
            raise ValueError(f"size: expected 'small' or 'paper', got {size!r}")
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
            raise ValueError(
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


def compute_record(cfg: DatasetConfig, k: int) -> dict[str, Any]:
    """Generate, relax and characterise structure ``k`` (RDF, modes, PDOS)."""
    from . import phonons
    from ._config import enable_x64
    from .rdf import rdf, rdf_neighbors
    from .structure import with_species_names

    enable_x64()
    t0 = time.time()
    knob, seed = cfg.plan(k)
    fam = _family(cfg.system)
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
    )


def _record_path(out: Path, k: int) -> Path:
    return out / "structures" / f"{k:05d}.npz"


def _write_record(out: Path, k: int, rec: dict[str, Any]) -> None:
    path = _record_path(out, k)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, **rec)
    os.replace(tmp, path)


def read_record(path: Path) -> dict[str, Any]:
    """Load one structure record; a truncated or foreign file raises ``ValueError`` naming it."""
    try:
        with np.load(path, allow_pickle=False) as z:
            rec = {key: z[key] for key in z.files}
    except Exception as err:  # zipfile.BadZipFile, EOFError, OSError, ValueError ...
        raise ValueError(
            f"{path}: unreadable dataset record ({err}); delete it and resume the build"
        ) from err
    missing = [key for key in RECORD_KEYS if key not in rec]
    if missing:
        raise ValueError(f"{path}: not a jaxglass dataset record (missing {missing}); delete it and resume")
    return rec


def _worker(args) -> int:
    cfg_dict, out, k = args
    cfg = DatasetConfig(**cfg_dict)
    _write_record(Path(out), k, compute_record(cfg, k))
    return k


def _check_manifest(out: Path, cfg: DatasetConfig) -> None:
    from . import __version__

    man = out / "manifest.json"
    want = dict(format=FORMAT, format_version=FORMAT_VERSION, config=dataclasses.asdict(cfg))
    if man.exists():
        try:
            have = json.loads(man.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{man}: corrupt manifest ({err}); remove the directory or choose another --out"
            ) from err
        if not isinstance(have, dict) or have.get("format") != FORMAT:
            raise ValueError(f"{man}: not a jaxglass dataset manifest; choose another --out")
        old = have.get("config", {})
        diff = {
            key: (old.get(key), v)
            for key, v in want["config"].items()
            if key != "n_structures" and old.get(key) != v
        }
        if diff:
            raise ValueError(
                f"{out}: holds a dataset built with different settings {diff} (on disk, requested); "
                "resume with the same settings or choose another --out"
            )
        if old.get("n_structures", 0) >= cfg.n_structures:
            return
    elif out.exists() and any(p for p in out.iterdir() if not p.name.startswith(".")):
        raise ValueError(
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
    tmp = man.with_name(".manifest.tmp")
    tmp.write_text(json.dumps(want, indent=1))
    os.replace(tmp, man)


def build_dataset(
    out: str | Path,
    cfg: DatasetConfig,
    *,
    workers: int = 1,
    progress: bool = True,
    on_done: Callable[[int], None] | None = None,
) -> list[int]:
    """Build (or resume) the dataset in ``out``; returns the indices computed in this call."""
    out = Path(out)
    _check_manifest(out, cfg)
    todo = []
    for k in range(cfg.n_structures):
        p = _record_path(out, k)
        if p.exists():
            read_record(p)  # raises on corrupt / foreign files
        else:
            todo.append(k)
    for stale in (out / "structures").glob(".*.tmp.npz") if (out / "structures").exists() else []:
        stale.unlink()  # leftovers of an interrupted write; their structures are in `todo`
    bar = _progress(len(todo), cfg, progress, done=cfg.n_structures - len(todo))
    computed = []
    if workers <= 1 or len(todo) <= 1:
        for k in todo:
            _write_record(out, k, compute_record(cfg, k))
            computed.append(k)
            bar(k)
            if on_done:
                on_done(k)
    else:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = mp.get_context("spawn")  # JAX is not fork-safe
        args = [(dataclasses.asdict(cfg), str(out), k) for k in todo]
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as ex:
            futs = [ex.submit(_worker, a) for a in args]
            for fut in as_completed(futs):
                k = fut.result()
                computed.append(k)
                bar(k)
                if on_done:
                    on_done(k)
    bar(None)
    return computed


def _progress(total: int, cfg: DatasetConfig, enabled: bool, done: int):
    if not enabled:
        return lambda k: None
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=cfg.n_structures, initial=done, desc=f"generate {cfg.system}", unit="structure")

        def update(k):
            if k is None:
                bar.close()
            else:
                bar.update(1)

        return update
    count = [done]

    def update_plain(k):
        if k is not None:
            count[0] += 1
            print(f"generate {cfg.system}: {count[0]}/{cfg.n_structures} (structure {k})", flush=True)

    return update_plain


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

    def __len__(self) -> int:
        return len(self.indices)


def load_dataset(path: str | Path, *, allow_partial: bool = True) -> Dataset:
    """Stack the finished records of a dataset directory (missing ones skipped if ``allow_partial``)."""
    path = Path(path)
    man = path / "manifest.json"
    if not man.exists():
        raise ValueError(f"{path}: no manifest.json, not a jaxglass dataset")
    meta = json.loads(man.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{man}: not a jaxglass dataset manifest")
    cfg = DatasetConfig(**meta["config"])
    recs, idx = [], []
    for k in range(cfg.n_structures):
        p = _record_path(path, k)
        if not p.exists():
            if allow_partial:
                continue
            raise ValueError(f"{p}: missing; resume the build first")
        recs.append(read_record(p))
        idx.append(k)
    if not recs:
        raise ValueError(f"{path}: no finished structures yet")
    names = tuple(str(x) for x in recs[0]["species_names"])
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
    )


def load_structure(path: str | Path, k: int):
    """The relaxed :class:`~jaxglass.structure.Structure` of record ``k``."""
    import jax.numpy as jnp

    from .structure import Structure

    rec = read_record(_record_path(Path(path), k))
    return Structure(
        positions=jnp.asarray(rec["positions"]),
        species=jnp.asarray(rec["species"]),
        box=jnp.asarray(rec["box"]),
        masses=jnp.asarray(rec["masses"]),
        species_names=tuple(str(x) for x in rec["species_names"]),
        periodic=tuple(bool(x) for x in rec["periodic"]),
    )
