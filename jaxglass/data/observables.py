"""Spectroscopic observables in dataset records: neutron-weighted DOS, INS/IXS S(Q, ω), Raman.

Every record of a dataset (:mod:`jaxglass.data`) can carry, next to its PDOS, the observables of
:mod:`jaxglass.observables` computed from the same Γ-point modes, on the dataset's frequency grid
(``DatasetConfig.freq_grid()``, the PDOS grid) with the PDOS broadening ``freq_sigma``. Their keys,
shapes and units are declared in :data:`jaxglass.data.schema.OBSERVABLE_FIELDS`: the
neutron-weighted DOS (σ_coh + σ_inc, Sears 1992) and its per-species parts, the coherent one-phonon
powder S(|Q|, ω) for neutrons (``ins_sqw``, Debye-Waller and Bose factors at ``temperature``) and
with X-ray form factors f₀(|Q|) (``ixs_sqw``) and the estimated error of each shell's powder average
(``ins_powder_err``, ``ixs_powder_err``: standard error of the mean over the shell's
reciprocal-lattice vectors / the shell's maximum, 0 where every vector is used), the unpolarised
Stokes Raman spectrum normalised to unit area on the grid (bond polarizability for AMC, C-C
parameters of Wirtz et al. 2005; Shuker-Gammon with constant coupling for the others), the |Q| shell
centres ``obs_q`` and the :class:`ObservableConfig` (JSON) they were computed with.

The |Q| values are ``n_q`` evenly spaced shell centres over ``[q_min, q_max]``, the range of a
direct-geometry neutron chopper spectrometer at thermal energies (1-8 Å⁻¹); their mean over Q
(:func:`q_average`) is the "Q-integrated" INS/IXS spectrum the study uses as target.

Lennard-Jones families (reduced units) are mapped to physical units to compute the observables:
lengths σ_AA = 3.405 Å, energies ε_AA/k_B = 119.8 K and masses 39.948 amu (argon, Rahman 1964), so
one unit of ω is ``sqrt(ε/(m σ²))/(2π)`` = 0.0738 THz; the types get the scattering amplitudes of the
Ni80P20 alloy the Kob-Andersen model was built for (A = Ni, B = P: b = 10.3 / 5.13 fm, σ_coh + σ_inc
= 18.5 / 3.312 barn, Sears 1992; X-rays: Q-independent f = Z = 28 / 15 electrons). The temperature
is ``0.1 ε/k_B`` (11.98 K, well below the glass transition). Their stored spectra are densities per
unit of the dataset grid (per LJ ω unit) instead of per meV.

:func:`extend_dataset` adds the observables to the records of an existing dataset without
regenerating structures: it reloads each relaxed structure, recomputes the Hessian and modes and
rewrites the record atomically (temp file + ``os.replace``). Records that already hold observables
of the same configuration are skipped, so an interrupted run resumes where it stopped; with
``recompute=True`` (``jaxglass spectra DATASET --recompute``) observables of other settings (such as
the former 48-direction powder average) are replaced the same way.
"""

from __future__ import annotations

import dataclasses
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .. import families
from ..errors import UserError
from ..observables.powder import MAX_SHELL_VECTORS, POWDER_TOL
from ..observables.registry import REGISTRY, TARGETS  # TARGETS: the kinds datasets store (study targets)
from ..units import THZ_TO_MEV
from ..validation import Integral, check, positive, relative_tolerance, temperature_kelvin
from .config import DatasetConfig
from .schema import (
    FIELDS,
    OBS_KEYS,
    OBSERVABLE_FIELDS,
    RECORD_KEYS,
    finished_records,
    log_line,
    manifest_path,
    read_manifest,
    read_record,
    record_path,
    write_manifest,
    write_record,
)

#: Argon Lennard-Jones units (Rahman, Phys. Rev. 136, A405 (1964)): σ (Å), ε/k_B (K), m (amu).
LJ_ARGON = dict(sigma=3.405, epsilon_K=119.8, mass=39.948)
#: Kob-Andersen types as Ni80P20 (Kob & Andersen, PRL 73, 1376 (1994)); Sears 1992 values.
LJ_LENGTHS = {"A": 10.3, "B": 5.13}  # fm (Ni, P)
LJ_CROSS_SECTIONS = {"A": 13.3 + 5.2, "B": 3.307 + 0.005}  # barn, σ_coh + σ_inc (Ni, P)
LJ_FORM_FACTORS = {"A": 28.0, "B": 15.0}  # electrons, f(Q → 0) = Z (Ni, P)


@dataclasses.dataclass(frozen=True)
class ObservableConfig:
    """Settings of the stored observables (temperature in K, |Q| in Å⁻¹ with 2π included).

    The powder average of INS/IXS (:func:`jaxglass.observables.powder_sqw`) uses every
    reciprocal-lattice vector of a shell holding at most ``max_vectors``, else a random sample grown
    until its standard error is at most ``powder_tol`` of the shell's maximum (or ``max_vectors``
    are in); ``n_directions`` (an int; records made before this option have 48) averages the former
    fixed set of vectors nearest Fibonacci directions instead.
    """

    temperature: float = 300.0
    q_min: float = 1.0
    q_max: float = 8.0
    n_q: int = 8
    n_directions: int | None = None
    raman_coupling_exponent: float = 0.0
    powder_tol: float = POWDER_TOL
    max_vectors: int = MAX_SHELL_VECTORS

    def __post_init__(self):
        check("temperature", self.temperature, temperature_kelvin,
              "the temperature in K; use e.g. 1e-3 for T → 0")
        check("q_min", self.q_min, positive)
        check("q_max", self.q_max, positive)
        check("n_q", self.n_q, Integral(1, 10**5))
        check("n_directions", self.n_directions, None, Integral(1, 10**6),
              "None (converged powder average) or a fixed count, e.g. 48")
        check("powder_tol", self.powder_tol, relative_tolerance,
              "a fraction of the shell's maximum, e.g. 0.02")
        check("max_vectors", self.max_vectors, Integral(1, 10**8))
        if not 0 < self.q_min <= self.q_max:
            raise UserError(f"q_min/q_max: need 0 < q_min <= q_max (1/Å), got {self.q_min}, {self.q_max}")

    def q(self) -> np.ndarray:
        return np.linspace(self.q_min, self.q_max, self.n_q)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)


def is_lj(system: str) -> bool:
    """True for the families in reduced Lennard-Jones units (lj2d, lj3d and their alternative knobs)."""
    return system in families.REGISTRY and families.REGISTRY[system].reduced_units


def lj_thz_per_omega() -> float:
    """THz per LJ ω unit in the argon mapping: ``sqrt(ε/(m σ²)) / (2π)`` (from CODATA constants)."""
    from .. import units

    eps_ev = LJ_ARGON["epsilon_K"] * units.KB_EV
    lam = eps_ev / (LJ_ARGON["mass"] * LJ_ARGON["sigma"] ** 2)  # eV / Å² / amu
    return float(units.FREQ_THZ * np.sqrt(lam))


def default_observable_config(system: str) -> ObservableConfig:
    """300 K and |Q| = 1-8 Å⁻¹; for LJ (argon units, Q σ = 3.4-27) 0.1 ε/k_B = 11.98 K."""
    if is_lj(system):
        return ObservableConfig(temperature=0.1 * LJ_ARGON["epsilon_K"])
    return ObservableConfig()


def manifest_entry(system: str, ocfg: ObservableConfig, names: tuple[str, ...]) -> dict[str, Any]:
    """The manifest's ``observables`` section: settings, grids and units."""
    fam = families.get(system).defaults
    per = "per LJ omega unit" if is_lj(system) else "per meV"
    raman = "bond-polarizability (C-C, Wirtz et al. PRB 71, 241402(R) (2005))" if system == "amc" else \
        "shuker-gammon (constant coupling C, Shuker & Gammon PRL 25, 222 (1970))"
    entry = dict(
        config=dataclasses.asdict(ocfg), q=ocfg.q().tolist(), q_unit="1/Å (2π included)",
        freq_grid="the PDOS grid (grids.freq)", freq_unit=fam.freq_unit,
        broadening="Gaussian, standard deviation config.freq_sigma (the PDOS broadening)",
        temperature_unit="K",
        units={f.name: f.unit.format(per=per, freq_unit=fam.freq_unit)
               for f in OBSERVABLE_FIELDS if f.dtype != "json"},
        raman_model=raman, species=list(names),
        powder_average=(
            "every reciprocal-lattice vector of a |Q| shell if it holds at most config.max_vectors, else "
            "a random sample grown until the standard error of the mean is at most config.powder_tol "
            "of the shell's maximum (or config.max_vectors are in); the estimate per shell in "
            "ins_powder_err / ixs_powder_err (0: exact for the cell)" if ocfg.n_directions is None else
            f"at most {ocfg.n_directions} vectors per shell, nearest Fibonacci directions"),
        references=dict(neutron="Sears, Neutron News 3(3), 26 (1992)",
                        xray="Waasmaier & Kirfel, Acta Cryst. A51, 416 (1995)"),
    )
    if is_lj(system):
        entry["lj_mapping"] = dict(argon=LJ_ARGON, thz_per_omega=lj_thz_per_omega(),
                                   lengths_fm=LJ_LENGTHS, cross_sections_barn=LJ_CROSS_SECTIONS,
                                   form_factors_e=LJ_FORM_FACTORS,
                                   note="Kob-Andersen A/B as Ni/P (Ni80P20), argon scale")
    return entry


def _physical(structure, frequencies, system: str):
    """Structure and frequencies (THz) in physical units, the factor grid → THz, and overrides."""
    if not is_lj(system):
        return structure, np.asarray(frequencies), 1.0, {}
    import jax.numpy as jnp

    s = LJ_ARGON["sigma"]
    c = lj_thz_per_omega()
    phys = dataclasses.replace(structure, positions=structure.positions * s, box=structure.box * s,
                               masses=jnp.full_like(structure.masses, LJ_ARGON["mass"]))
    over = dict(lengths=LJ_LENGTHS, form_factors=LJ_FORM_FACTORS, cross_sections=LJ_CROSS_SECTIONS)
    return phys, np.asarray(frequencies) * c, c, over


def compute_observables(structure, modes, grid, sigma: float, system: str,
                        ocfg: ObservableConfig | None = None) -> dict[str, np.ndarray]:
    """The observable arrays of one record (see the module table) from a structure and its modes.

    ``grid`` and ``sigma`` are in the family's frequency unit (THz, or ω for LJ), ``modes`` a
    :class:`jaxglass.phonons.Modes` with eigenvectors. Imaginary modes are left out (the record's
    ``n_imaginary`` counts them).
    """
    from .. import observables as ob

    ocfg = ocfg or default_observable_config(system)
    s, f, c, over = _physical(structure, modes.frequencies, system)
    v = modes.eigenvectors
    g = np.asarray(grid, np.float64) * c
    sig = float(sigma) * c
    per_grid = THZ_TO_MEV * c if is_lj(system) else 1.0  # per meV → per LJ ω unit
    T = ocfg.temperature
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # imaginary modes: counted in the record
        nd = ob.neutron_dos(s, f, g, sig, eigenvectors=v, cross_sections=over.get("cross_sections"))
        kw = dict(eigenvectors=v, n_directions=ocfg.n_directions, powder_tol=ocfg.powder_tol,
                  max_vectors=ocfg.max_vectors)
        both = ob.powder_sqw_probes(s, f, ocfg.q(), g, sig, T, probes=("neutron", "xray"),
                                    lengths=over.get("lengths"), form_factors=over.get("form_factors"), **kw)
        ins, ixs = both["neutron"], both["xray"]
        ram = ob.raman_spectrum(s, f, g, sig, T, eigenvectors=v,
                                coupling_exponent=ocfg.raman_coupling_exponent)
    r = np.asarray(ram.intensity, np.float64)
    area = float(np.trapezoid(r, np.asarray(grid, np.float64)))
    return dict(
        ndos_total=np.asarray(nd.intensity) * per_grid,
        ndos_partial=np.asarray(nd.partial) * per_grid,
        ins_sqw=np.asarray(ins.intensity) * per_grid,
        ixs_sqw=np.asarray(ixs.intensity) * per_grid,
        ins_powder_err=np.asarray(ins.powder_error, np.float64),
        ixs_powder_err=np.asarray(ixs.powder_error, np.float64),
        raman=r / area if area > 0 else r,
        obs_q=np.asarray(ins.q, np.float64),
        obs_config=np.array(ocfg.to_json()),
    )


def has_observables(rec: dict[str, Any], ocfg: ObservableConfig) -> bool:
    """Whether a record holds every observable array, computed with ``ocfg``."""
    return all(k in rec for k in OBS_KEYS) and str(rec["obs_config"]) == ocfg.to_json()


def q_average(sqw: np.ndarray) -> np.ndarray:
    """Mean over the |Q| axis (``(..., Q, F)`` → ``(..., F)``): the Q-integrated spectrum / range."""
    return np.asarray(sqw).mean(axis=-2)


def _write_manifest_entry(path: Path, entry: dict[str, Any], recompute: bool = False) -> None:
    meta = read_manifest(manifest_path(path))
    old = meta.get("observables")
    if old is not None and old.get("config") != entry["config"] and not recompute:
        raise UserError(
            f"{path}: its records hold observables computed with {old.get('config')}, not "
            f"{entry['config']}; use the same settings, recompute them all with `jaxglass spectra "
            "DATASET --recompute` (extend_dataset(..., recompute=True)), or use a copy of the dataset")
    if old == entry:
        return
    meta["observables"] = entry
    write_manifest(path, meta)


def extend_dataset(path: str | Path, ocfg: ObservableConfig | None = None, *, progress: bool = True,
                   limit: int | None = None, recompute: bool = False) -> list[int]:
    """Add the observables to every finished record of the dataset in ``path`` that lacks them.

    Structures are not regenerated: each record's relaxed structure is reloaded, its Hessian and
    modes recomputed with the family's potential, and the record rewritten atomically with the
    observable arrays added (every other array unchanged). Records already extended with the same
    ``ocfg`` are skipped, so rerunning after an interruption (Ctrl-C, a crash) finishes the rest.
    ``limit`` stops after that many new records. ``recompute`` replaces observables computed with
    other settings (an older ``ObservableConfig``, e.g. the former 48-direction powder average): the
    manifest takes ``ocfg`` first, then every record not computed with it is recomputed, one atomic
    rewrite each, so an interrupted recompute resumes with the same call (or without ``recompute``);
    without it, a dataset whose manifest names other settings is refused. Returns the indices extended
    in this call; progress
    lines (done/total, seconds per record, ETA) go to stdout when ``progress`` and to
    ``path/build.log``.
    """
    from .. import phonons
    from .._config import require_x64
    from ..generate import family_potential
    from ..structure import from_arrays

    require_x64("jaxglass.data.extend_dataset")
    path = Path(path)
    man = manifest_path(path)
    if not man.exists():
        raise UserError(f"{path}: no manifest.json, not a jaxglass dataset directory")
    meta = read_manifest(man)
    cfg = DatasetConfig(**meta["config"])
    ocfg = ocfg or default_observable_config(cfg.system)
    ks = finished_records(path, cfg.n_structures)
    if not ks:
        raise UserError(f"{path}: no finished structures to extend")
    first = read_record(record_path(path, ks[0]), meta["grids"])
    names = tuple(str(x) for x in first["species_names"])
    _write_manifest_entry(path, manifest_entry(cfg.system, ocfg, names), recompute)
    todo = [k for k in ks if not has_observables(read_record(record_path(path, k), meta["grids"]), ocfg)]
    n_have = len(ks) - len(todo)
    if limit is not None:
        todo = todo[:limit]

    def line(text: str) -> None:
        log_line(path, f"spectra: {text}", echo=progress)

    line(f"{n_have} of {len(ks)} records already hold these observables; {len(todo)} to compute now "
         f"(T = {ocfg.temperature:g} K, |Q| = {ocfg.q_min:g}-{ocfg.q_max:g} 1/Å in {ocfg.n_q} shells)")
    pot = family_potential(cfg.system) if todo else None
    grid = cfg.freq_grid()
    done: list[int] = []
    t0 = time.monotonic()
    for i, k in enumerate(todo):
        t1 = time.monotonic()
        rec = read_record(record_path(path, k), meta["grids"])
        s = from_arrays(rec)
        m = phonons.modes(pot, s, log=lambda text, k=k: line(f"{k:05d} {text}"))
        obs = compute_observables(s, m, grid, cfg.freq_sigma, cfg.system, ocfg)
        rec.update(obs)
        write_record(path, k, rec)
        done.append(k)
        el = time.monotonic() - t0
        eta = el / (i + 1) * (len(todo) - i - 1)
        err = max(float(obs["ins_powder_err"].max()), float(obs["ixs_powder_err"].max()))
        line(f"done {k:05d} in {time.monotonic() - t1:.1f} s, powder error <= {err:.3g} of max "
             f"[{i + 1}/{len(todo)}; elapsed {el:.0f} s, ETA {eta:.0f} s]")
    line(f"finished: {len(done)} record(s) extended in {time.monotonic() - t0:.1f} s")
    return done


#: Label of each study target (plots and tables).
TARGET_LABELS = {k: REGISTRY[k].target_label for k in TARGETS}


def load_observables(path: Path, recs: list[dict[str, Any]], meta: dict[str, Any]) -> tuple[dict, dict]:
    """Stacked observable arrays of loaded records (empty if any record lacks them) and their units."""
    entry = meta.get("observables")
    if entry is None or not recs or not all(all(k in r for k in OBS_KEYS) for r in recs):
        return {}, {}
    want = json.dumps(entry["config"], sort_keys=True)
    if any(str(r["obs_config"]) != want for r in recs):
        return {}, {}
    arrays = {f.name: np.stack([r[f.name] for r in recs]) for f in OBSERVABLE_FIELDS if f.dtype != "json"}
    return arrays, dict(entry["units"])


def target_arrays(ds, target: str) -> tuple[np.ndarray, str, str]:
    """``(Y (K, F), label, unit)`` of a study target of a loaded dataset.

    ``pdos``: the total PDOS; ``ndos``: the neutron-weighted DOS; ``ins`` / ``ixs``: the coherent
    S(|Q|, ω) averaged over the stored |Q| shells; ``raman``: the Raman spectrum (unit area).
    """
    if target not in TARGETS:
        raise UserError(f"target: expected one of {TARGETS}, got {target!r}")
    obs_kind = REGISTRY[target]
    key = obs_kind.record_key
    if key in RECORD_KEYS:  # stored with every record (the PDOS)
        unit = FIELDS[key].unit.replace("{freq_unit}", ds.freq_unit)
        return np.asarray(getattr(ds, key), np.float64), TARGET_LABELS[target], unit
    obs = getattr(ds, "observables", {}) or {}
    if not obs:
        raise UserError(
            f"target {target!r}: the dataset {ds.config.system} has no observables in (all) its records; "
            "run `jaxglass spectra DATASET` first (resumable)")
    Y = np.asarray(obs[key], np.float64)
    if obs_kind.needs_q:
        Y = q_average(Y)
    return Y, TARGET_LABELS[target], ds.observable_units.get(key, "")
