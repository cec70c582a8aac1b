"""The perturbation-theory study of a dataset and a trained linear model (``jaxglass perturb``).

For a dataset built by ``jaxglass generate`` and a linear model from ``jaxglass train``:

a. first-order theory vs exact re-diagonalisation (error orders) on test structures, along a
   random and a soft-mode direction;
b. Jacobian consistency ``W J_g δx`` vs ``J_y δx`` over random and soft-mode directions and over
   all Cartesian directions (full Jacobians) on test structures, and the physics kernel ``W_phys``
   fitted to the full Jacobians of training structures (ridge, penalty by leave-one-structure-out;
   weight maps side by side);
c. per-atom sensitivity of a spectral feature (a band integral of the PDOS) by the exact route and
   by the linear surrogate, drawn on the structure, with their correlation.

Writes ``perturb.json``, ``perturb.md``, ``kernels.png`` and ``sensitivity.png`` to the output folder.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import perturb as pt
from . import plots
from .errors import UserError
from .validation import Integral, validate

#: Spectral feature per family: (label, lower, upper) band of the PDOS integral F = ∫ PDOS dν.
FEATURE_BANDS = {
    "amc": ("G band 45-55 THz", 45.0, 55.0),
    "lj2d": ("low-frequency (boson-peak) region ω < 6", 0.0, 6.0),
    "lj3d": ("low-frequency (boson-peak) region ω < 6", 0.0, 6.0),
    "sic": ("acoustic region ν < 8 THz", 0.0, 8.0),
    "cualzr": ("low-frequency PDOS ν < 2 THz", 0.0, 2.0),
    "hea": ("low-frequency PDOS ν < 2 THz", 0.0, 2.0),
}


def _linear_weights(model_path):
    from .models import load_model

    try:
        est = load_model(model_path)
    except UserError as err:
        raise UserError(f"model_path: {err}") from err
    if not hasattr(est, "coef_"):  # a CNN
        raise UserError(
            f"model_path: {model_path} holds a {type(est).__name__}, not a linear model; the Jacobian test "
            "needs W, so train a ridge (or elastic-net) model"
        )
    return np.asarray(est.coef_), np.asarray(est.intercept_), est.metadata


def _pick(idx: np.ndarray, knob: np.ndarray, n: int) -> np.ndarray:
    """``n`` entries of ``idx`` spread over the knob (lowest, highest and in between)."""
    order = idx[np.argsort(knob[idx])]
    if len(order) <= n:
        return order
    return order[np.unique(np.round(np.linspace(0, len(order) - 1, n)).astype(int))]


class _Study(NamedTuple):
    """The loaded inputs and settings of one study run."""

    dataset: str | Path
    ds: object
    W: np.ndarray
    pot: object
    grids: pt.Grids
    band: tuple
    pos_test: np.ndarray
    pos_train: np.ndarray
    n_random: int
    n_soft: int
    seed: int
    full_jacobian: bool
    log: Callable[[str], None]

    def directions(self, s, nb) -> dict:
        return {
            "random": pt.random_directions(s, self.n_random, self.seed),
            "soft": pt.soft_mode_directions(self.pot, s, self.n_soft, nb),
        }


class _Sensitivity(NamedTuple):
    index: int
    structure: object
    exact: np.ndarray
    linear: np.ndarray
    corr: dict


@validate({
    "n_test": [Integral(1, 10**6), "the number of test structures analysed, e.g. 3 (minutes each)"],
    "n_train": [Integral(1, 10**6), "the number of training structures for W_phys, e.g. 3 (minutes each)"],
    "n_random": [Integral(1, 10**4), "random directions per structure, e.g. 6 (one Jacobian-vector "
                 "product each)"],
    "n_soft": [Integral(1, 10**4), "softest-mode directions per structure, e.g. 6 (one Jacobian-vector "
               "product each)"],
    "seed": [Integral(0, None), "a non-negative integer seed of the random directions, e.g. 0"],
})
def run(
    dataset: str | Path,
    model_path: str | Path,
    out: str | Path,
    *,
    n_test: int = 3,
    n_train: int = 3,
    n_random: int = 6,
    n_soft: int = 6,
    seed: int = 0,
    full_jacobian: bool = True,
    progress: bool = True,
) -> dict:
    """Run parts a–c of the study; returns the JSON record (also written to ``out/perturb.json``).

    ``full_jacobian=False`` (for large or expensive cells) fits W_phys to the directional samples
    (random + soft-mode directions) of the training structures instead of their full N·d Jacobians,
    and skips the full-Jacobian error on test structures.
    """
    t_start = time.time()
    out = _output_folder(out)

    def log(msg):
        if progress:
            print(f"perturb [{time.time() - t_start:6.0f} s] {msg}", flush=True)

    st = _load_study(dataset, model_path, n_test, n_train, n_random, n_soft, seed, full_jacobian, log)
    # (b, part 1) full Jacobians of training structures -> physics kernel (l2 by leave-one-out)
    W_phys, l2_phys, in_sample = _fit_physics_kernel(*_train_samples(st))
    per_structure = [_test_structure(st, W_phys, p) for p in st.pos_test]
    sens = _sensitivity(st)
    record = _record(st, model_path, per_structure, W_phys, l2_phys, in_sample, sens, t_start)
    _write_outputs(out, st, W_phys, sens, record)
    log(f"wrote {out / 'perturb.json'}")
    return record


def _output_folder(out: str | Path) -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _load_study(dataset, model_path, n_test, n_train, n_random, n_soft, seed, full_jacobian, log) -> _Study:
    """Load the dataset and the linear model, check they match, and pick the test/train structures."""
    from .data import load_dataset
    from .generate import family_potential

    ds = load_dataset(dataset)
    cfg = ds.config
    W, _, meta = _linear_weights(model_path)
    if W.ndim != 2 or W.shape != (len(ds.freq), len(ds.r)):
        raise UserError(
            f"model_path: weights of shape {W.shape} do not match the dataset grids (F={len(ds.freq)}, "
            f"R={len(ds.r)}); the Jacobian test needs a model trained on total g(r) of this dataset"
        )
    pot = family_potential(cfg.system)
    grids = pt.Grids.from_config(cfg)
    band = FEATURE_BANDS[cfg.system]
    tr, te = _train_test_positions(ds, meta)
    if len(te) == 0 or len(tr) == 0:
        raise UserError(f"dataset: none of the model's train/test structures are in {dataset}")
    pos_test = _pick(te, ds.knob, n_test)
    pos_train = _pick(tr[ds.knob[tr] >= 0], ds.knob, n_train)
    return _Study(
        dataset, ds, W, pot, grids, band, pos_test, pos_train, n_random, n_soft, seed, full_jacobian, log
    )


def _train_test_positions(ds, meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """Dataset positions of the model's training and test structures (its own split if recorded)."""
    from .study import split_indices

    pos_of = {int(k): i for i, k in enumerate(ds.indices)}
    if "train_indices" in meta and "test_indices" in meta:
        tr = np.array([pos_of[k] for k in meta["train_indices"] if k in pos_of])
        te = np.array([pos_of[k] for k in meta["test_indices"] if k in pos_of])
        return tr, te
    return split_indices(ds.knob, float(meta.get("test_fraction", 0.2)), int(meta.get("seed", 0)))


def _train_samples(st: _Study) -> tuple[list, list]:
    """J_g and J_y of the training structures: full Jacobians, or their directional samples."""
    from .data import load_structure

    n_r, n_freq = len(st.ds.r), len(st.ds.freq)
    jg_train, jy_train = [], []
    for p in st.pos_train:
        k = int(st.ds.indices[p])
        s = load_structure(st.dataset, k)
        nb = st.pot.neighbors(s)
        Jg = np.asarray(pt.rdf_jacobian(s, st.grids)).reshape(n_r, -1)
        if st.full_jacobian:
            jg_train.append(Jg)
            jy_train.append(np.asarray(pt.pdos_jacobian(st.pot, s, st.grids, nb)).reshape(n_freq, -1))
        else:
            v = np.concatenate([np.asarray(d).reshape(len(d), -1) for d in st.directions(s, nb).values()])
            jg_train.append(Jg @ v.T)
            dirs = v.reshape(len(v), *s.positions.shape)
            jy_train.append(np.asarray(pt.pdos_jvps(st.pot, s, st.grids, dirs, nb)).T)
        st.log(f"train structure {k}: Jacobian samples ({jy_train[-1].shape[1]} directions) done")
    return jg_train, jy_train


def _fit_physics_kernel(jg_train: list, jy_train: list) -> tuple[np.ndarray, float, float]:
    """W_phys (ridge, l2 by leave-one-structure-out), its l2, and the in-sample error of a free fit."""
    W_phys, l2_phys, _ = pt.physics_kernel_cv(jg_train, jy_train)
    # capacity: a nearly unregularised kernel fitted and scored on the same training structures
    W_fit, _, _ = pt.physics_kernel_cv(jg_train, jy_train, l2_grid=(1e-8,))
    in_sample = float(np.mean([pt.jacobian_error(W_fit, g, y) for g, y in zip(jg_train, jy_train)]))
    return W_phys, l2_phys, in_sample


def _test_structure(st: _Study, W_phys: np.ndarray, p) -> dict:
    """Parts a and b on one test structure."""
    from .data import load_structure

    k = int(st.ds.indices[p])
    s = load_structure(st.dataset, k)
    nb = st.pot.neighbors(s)
    rec: dict = dict(index=k, knob=float(st.ds.knob[p]), n_atoms=int(s.n_atoms))
    dirs = st.directions(s, nb)
    # (a) first-order theory vs exact
    for kind in ("random", "soft"):
        chk = pt.check_first_order(st.pot, s, dirs[kind][0], st.grids.freq, st.grids.freq_sigma, nbrs=nb)
        rec[f"first_order_{kind}"] = dict(
            eps=chk.eps.tolist(),
            eig_error=chk.eig_error.tolist(),
            pdos_error=chk.pdos_error.tolist(),
            eig_order=chk.eig_order,
            pdos_order=chk.pdos_order,
            shift_vs_jvp=chk.shift_vs_jvp,
        )
    # (b) Jacobian consistency on this test structure: full Jacobians and chosen directions
    W = st.W
    Jg = np.asarray(pt.rdf_jacobian(s, st.grids)).reshape(len(st.ds.r), -1)
    if st.full_jacobian:
        Jy = np.asarray(pt.pdos_jacobian(st.pot, s, st.grids, nb)).reshape(len(st.ds.freq), -1)
        rec["jacobian_full"] = dict(
            learned=pt.jacobian_error(W, Jg, Jy), physics=pt.jacobian_error(W_phys, Jg, Jy)
        )
    for kind, v in dirs.items():
        jg = np.asarray(v).reshape(len(v), -1) @ Jg.T
        jy = np.asarray(pt.pdos_jvps(st.pot, s, st.grids, v, nb))
        rec[f"jacobian_{kind}"] = dict(
            learned=pt.consistency(W, jg, jy).summary(), physics=pt.consistency(W_phys, jg, jy).summary()
        )
    st.log(f"test structure {k}: perturbation theory and Jacobians done")
    return rec


def _sensitivity(st: _Study) -> _Sensitivity:
    """(c) the sensitivity map of the band feature on the most disordered test structure."""
    from .data import load_structure

    _, lo, hi = st.band
    k = int(st.ds.indices[st.pos_test[-1]])
    s = load_structure(st.dataset, k)
    w = pt.band_weights(st.grids.freq, lo, hi)
    sens_exact = pt.sensitivity_exact(st.pot, s, st.grids, w)
    sens_lin = pt.sensitivity_linear(s, st.grids, st.W, w)
    corr = pt.correlation(sens_exact, sens_lin)
    st.log(f"sensitivity map on structure {k}: pearson {corr['pearson']:.3f}")
    return _Sensitivity(k, s, sens_exact, sens_lin, corr)


def _record(st: _Study, model_path, per_structure, W_phys, l2_phys, in_sample, sens, t_start) -> dict:
    """The JSON record of the study."""
    ds, cfg = st.ds, st.ds.config
    label, lo, hi = st.band
    return dict(
        system=cfg.system,
        dataset=str(st.dataset),
        model=str(model_path),
        freq_unit=ds.freq_unit,
        length_unit=ds.length_unit,
        n_atoms=int(cfg.n_atoms),
        test_structures=[int(ds.indices[p]) for p in st.pos_test],
        train_structures=[int(ds.indices[p]) for p in st.pos_train],
        directions=dict(random=st.n_random, soft=st.n_soft, seed=st.seed),
        w_phys_from="full Jacobians" if st.full_jacobian else "random + soft-mode directional samples",
        per_structure=per_structure,
        summary=_summary(per_structure, st.W, W_phys, st.full_jacobian, l2_phys, in_sample),
        sensitivity=dict(feature=label, band=[lo, hi], structure=sens.index, **sens.corr),
        seconds=time.time() - t_start,
    )


def _summary(per_structure, W, W_phys, full_jacobian, l2_phys, in_sample) -> dict:
    """Medians over the test structures and the kernel comparison."""

    def med(key, route, field):
        return float(np.median([r[key][route][field] for r in per_structure]))

    def order(field):
        return float(
            np.median(
                [r["first_order_random"][field] for r in per_structure]
                + [r["first_order_soft"][field] for r in per_structure]
            )
        )

    return dict(
        eig_order_median=order("eig_order"),
        pdos_order_median=order("pdos_order"),
        random_learned_rel_error=med("jacobian_random", "learned", "rel_error_median"),
        random_learned_cosine=med("jacobian_random", "learned", "cosine_median"),
        soft_learned_rel_error=med("jacobian_soft", "learned", "rel_error_median"),
        soft_learned_cosine=med("jacobian_soft", "learned", "cosine_median"),
        random_physics_rel_error=med("jacobian_random", "physics", "rel_error_median"),
        random_physics_cosine=med("jacobian_random", "physics", "cosine_median"),
        soft_physics_rel_error=med("jacobian_soft", "physics", "rel_error_median"),
        soft_physics_cosine=med("jacobian_soft", "physics", "cosine_median"),
        kernel_correlation=float(np.corrcoef(W.ravel(), W_phys.ravel())[0, 1]),
        full_learned_rel_error=_median_or_nan(per_structure, "learned"),
        full_physics_rel_error=_median_or_nan(per_structure, "physics"),
        full_jacobian=full_jacobian,
        physics_l2=l2_phys,
        physics_in_sample_rel_error=in_sample,
    )


def _write_outputs(out: Path, st: _Study, W_phys, sens: _Sensitivity, record: dict) -> None:
    """kernels.png, sensitivity.png, sensitivity.npz, perturb.json and perturb.md."""
    from ._io import atomic_savez, atomic_write_text

    label, lo, hi = st.band
    s = sens.structure
    positions, band = np.asarray(s.positions), np.asarray([lo, hi])
    plots.plot_kernels(st.W, W_phys, st.ds, out / "kernels.png")
    plots.plot_sensitivity(s, sens.exact, sens.linear, sens.corr, label, out / "sensitivity.png")
    atomic_savez(
        out / "sensitivity.npz",
        dict(positions=positions, exact=sens.exact, linear=sens.linear, band=band),
    )
    atomic_write_text(out / "perturb.json", json.dumps(record, indent=1))
    atomic_write_text(out / "perturb.md", summary_markdown(record))


def _median_or_nan(per_structure, route: str) -> float:
    vals = [r["jacobian_full"][route] for r in per_structure if "jacobian_full" in r]
    return float(np.median(vals)) if vals else float("nan")


def summary_markdown(rec: dict) -> str:
    s = rec["summary"]
    lines = [
        f"# Perturbation theory and Jacobian consistency: {rec['system']}",
        "",
        f"Dataset {rec['dataset']}, model {rec['model']}; test structures {rec['test_structures']}, "
        f"kernel fitted on training structures {rec['train_structures']}.",
        "",
        f"- first-order error order (slope of log error vs log ε; 2 expected): eigenvalues "
        f"{s['eig_order_median']:.2f}, PDOS {s['pdos_order_median']:.2f}",
        f"- learned W: random directions rel. error {s['random_learned_rel_error']:.3f}, cosine "
        f"{s['random_learned_cosine']:.3f}; soft modes rel. error {s['soft_learned_rel_error']:.3f}, cosine "
        f"{s['soft_learned_cosine']:.3f}",
        f"- physics kernel W_phys: random {s['random_physics_rel_error']:.3f} / "
        f"{s['random_physics_cosine']:.3f}; "
        f"soft {s['soft_physics_rel_error']:.3f} / {s['soft_physics_cosine']:.3f}",
        (
            f"- full Jacobians (all N d directions): ‖J_y − W J_g‖/‖J_y‖ = {s['full_learned_rel_error']:.3f} "
            f"(learned W), {s['full_physics_rel_error']:.3f} (W_phys, ridge l2 {s['physics_l2']:.0e} by "
            f"leave-one-structure-out); a kernel fitted and scored on the training structures themselves: "
            f"{s['physics_in_sample_rel_error']:.3f}"
            if s.get("full_jacobian", True)
            else "- full Jacobians not computed (full_jacobian=False, `--directions-only`): W_phys fitted to "
            "the directional samples "
            f"of the training structures, ridge l2 {s['physics_l2']:.0e} by leave-one-structure-out"
        ),
        f"- correlation of the maps W and W_phys: {s['kernel_correlation']:.3f}",
        f"- sensitivity of {rec['sensitivity']['feature']}: Pearson {rec['sensitivity']['pearson']:.3f}, "
        f"Spearman {rec['sensitivity']['spearman']:.3f} (exact vs linear surrogate)",
        "",
    ]
    return "\n".join(lines)
