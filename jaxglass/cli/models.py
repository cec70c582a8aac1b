"""``train``, ``evaluate``, ``predict``: fit a model on a dataset or on your own arrays, score it, and
predict spectra from features, structure files or a measured S(Q) (:mod:`jaxglass.models`,
:mod:`jaxglass.workflows.features`)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from .._config import enable_x64
from .._io import atomic_write_text, random_split, read_array, read_grid, read_split
from ..errors import UserError
from ..validation import check_args
from ..workflows.features import features_from_sq, features_from_structures
from ._common import add_partial_arg, add_study_args, out_dir, out_file, study_config


def _estimator(kind: str, args, **axes):
    """The estimator ``--model`` names (:func:`jaxglass.models.make_estimator`, which checks the
    penalties) with the penalties and the seed the options give."""
    from ..models import make_estimator

    if kind == "ridge" and args.l1 is not None:
        raise UserError("--l1: ridge has no L1 penalty; use --model lasso or elastic-net")
    return make_estimator(kind, l1=args.l1, l2=args.l2, seed=args.seed,
                          max_epochs=args.cnn_max_epochs if kind == "cnn" else None, **axes)


def _read_xy(args):
    """``(X, Y)`` from ``--features``/``--targets``, shapes checked."""
    X = read_array(args.features, "features")
    Y = read_array(args.targets, "targets")
    if X.ndim not in (2, 3):
        raise UserError(f"--features: expected (n_samples, n_r) or (n_samples, C, n_r), got shape {X.shape}")
    Y = Y[:, None] if Y.ndim == 1 else Y
    if Y.ndim != 2:
        raise UserError(f"--targets: expected (n_samples, n_freq), got shape {Y.shape}")
    if len(X) != len(Y):
        raise UserError(f"--features/--targets: {len(X)} samples in X but {len(Y)} in Y; one row per sample")
    return X, Y


def _train_arrays(args, out: Path) -> int:
    """`train --features X --targets Y`: an estimator on plain arrays, saved with its axes and split."""
    from ..study import scores

    if args.features is None or args.targets is None:
        raise UserError(
            "train: --features and --targets go together (X: (n_samples, n_r) g(r) or "
            "(n_samples, C, n_r) partials; Y: (n_samples, n_freq) spectra)"
        )
    check_args(random_split, test_fraction=args.test_fraction, seed=args.seed)  # before reading anything
    check_args(features_from_structures, r_sigma=args.r_sigma)  # the width `predict` will smooth with
    if args.model == "cnn" and args.cnn_max_epochs is not None:
        from ..models import CNNConfig

        check_args(CNNConfig, max_epochs=args.cnn_max_epochs)
    X, Y = _read_xy(args)
    r = read_grid(args.r_grid, "r_grid", X.shape[-1], "--features (last axis)")
    freq = read_grid(args.omega_grid, "omega_grid", Y.shape[1], "--targets (columns)")
    tr, te = (
        read_split(args.split, len(X)) if args.split else random_split(len(X), args.test_fraction, args.seed)
    )
    if len(tr) < 3:
        raise UserError(f"--split/--test-fraction: {len(tr)} training rows; at least 3 are needed")
    y_unit = args.y_unit or f"1/{args.omega_unit}"
    est = _estimator(
        args.model, args, r=r, freq=freq, r_unit=args.r_unit, freq_unit=args.omega_unit, y_unit=y_unit
    )
    print(f"train: fitting {args.model} on {len(tr)} of {len(X)} samples ...", flush=True)
    t0 = time.time()
    est.fit(X[tr], Y[tr])
    sc = scores(Y[tr], est.predict(X[tr]).reshape(len(tr), -1))
    hyper = getattr(est, "info_", {})
    est.save(out, metadata=dict(
        kind=args.model, source="arrays", features_file=str(Path(args.features).resolve()),
        targets_file=str(Path(args.targets).resolve()), train_indices=tr.tolist(), test_indices=te.tolist(),
        test_fraction=args.test_fraction, seed=args.seed, r_sigma=args.r_sigma, y_unit=y_unit, hyper=hyper,
        train_mse=sc["mse"], n_targets=int(Y.shape[1])))
    print(
        f"train: {args.model} on {len(tr)} of {len(X)} samples ({len(te)} held out) in "
        f"{time.time() - t0:.1f} s ({hyper}); train MSE {sc['mse']:.4e} ({y_unit})^2; wrote {out}"
    )
    return 0


def _load_model(path):
    """The fitted estimator of a model file and the metadata it records
    (:func:`jaxglass.models.load_model`)."""
    from ..models import load_model

    est = load_model(path)
    return est, est.metadata


def _scores_checked(Y, P) -> dict:
    """:func:`jaxglass.study.scores_checked`, with a warning on stderr when R² is not trustworthy."""
    from ..study import scores_checked

    sc = scores_checked(Y, P)
    if sc["r2_status"] != "ok":
        print(f"jaxglass: warning: R² {sc['r2_status']}", file=sys.stderr)
    return sc


def _fmt_r2(v) -> str:
    return "undefined" if v is None else f"{v:.4f}"


def _print_scores(res: dict, args, noun: str = "samples") -> int:
    print(
        f"evaluate: {res['kind']} on {res['n']} {res['split']} {noun}: MSE {res['mse']:.4e} "
        f"{res['mse_units']}, R² mean {_fmt_r2(res['r2_mean'])}, overall {_fmt_r2(res['r2_overall'])}"
        + ("" if res["r2_status"] == "ok" else f" ({res['r2_status'].split(':')[0]})")
    )
    if args.out:
        atomic_write_text(Path(args.out), json.dumps(res, indent=2))
    return 0


def _evaluate_arrays(args, est, meta: dict) -> int:
    enable_x64()
    if args.dataset is not None:
        raise UserError("evaluate: give --dataset or --features/--targets, not both")
    given = args.features is not None
    if given != (args.targets is not None):
        raise UserError("evaluate: --features and --targets go together")
    fx = args.features if given else meta.get("features_file")
    fy = args.targets if given else meta.get("targets_file")
    if fx is None or fy is None:
        raise UserError(
            "evaluate: the model file records no data files; give --features X.npy --targets Y.npy"
        )
    X = read_array(fx, "features")
    Y = read_array(fy, "targets")
    Y = Y[:, None] if Y.ndim == 1 else Y
    if tuple(X.shape[1:]) != tuple(est.feature_shape_) and int(np.prod(X.shape[1:])) != est.n_features_in_:
        raise UserError(
            f"--features: samples of shape {X.shape[1:]}, the model takes {est.feature_shape_} "
            "(another g(r) grid?)"
        )
    n_t = meta.get("n_targets") or len(np.atleast_1d(est.y_mean_))
    if Y.ndim != 2 or Y.shape[1] != n_t or len(Y) != len(X):
        raise UserError(
            f"--targets: shape {Y.shape}; the model predicts {n_t} values per sample for {len(X)} samples"
        )
    for opt, path, have in (("--r-grid", args.r_grid, est.r), ("--omega-grid", args.omega_grid, est.freq)):
        if path is not None and have is not None:
            g = read_array(path, opt.lstrip("-").replace("-", "_")).ravel()
            if g.shape != np.shape(have) or not np.allclose(g, have, rtol=1e-9, atol=1e-12):
                raise UserError(f"{opt}: differs from the grid stored in the model")
    if args.split == "all" or given:
        idx, split = np.arange(len(X)), "all"
    else:
        idx = np.asarray(meta.get(f"{args.split}_indices", []), int)
        split = args.split
        if idx.size and idx.max() >= len(X):
            raise UserError(f"--split {args.split}: the stored rows exceed the {len(X)} samples of {fx}")
    if idx.size == 0:
        raise UserError(
            f"--split {args.split}: no samples in this split (trained with --test-fraction 0?); "
            "use --split all or --features/--targets of held-out data"
        )
    P = np.asarray(est.predict(X[idx])).reshape(len(idx), -1)
    sc = _scores_checked(Y[idx], P)
    res = dict(
        model=str(args.model),
        kind=meta.get("kind"),
        features=str(fx),
        targets=str(fy),
        split=split,
        n=int(len(idx)),
        **sc,
        mse_units=f"({meta.get('y_unit', 'target unit')})^2",
    )
    return _print_scores(res, args)


def _add_train_args(t) -> None:
    t.add_argument(
        "dataset",
        nargs="?",
        default=None,
        help="dataset directory from `jaxglass generate` (or give --features/--targets)",
    )
    t.add_argument(
        "--model",
        choices=("ridge", "lasso", "elastic-net", "cnn"),
        default="ridge",
        help="ridge/lasso/elastic-net: linear map y = W g + b, penalties by cross-validation; "
        "cnn: the 1D convolutional baseline",
    )
    t.add_argument("--out", required=True, help="model file to write (.npz)")
    t.add_argument(
        "--features",
        default=None,
        help="your own inputs: X.npy/.npz/.csv of shape (n_samples, n_r) g(r) or "
        "(n_samples, C, n_r); with a dataset directory: 'total' or 'partial' g(r) "
        "(None: total)",
    )
    t.add_argument(
        "--targets", default=None, help="your own targets: Y.npy/.npz/.csv, (n_samples, n_freq) spectra"
    )
    t.add_argument(
        "--split",
        default=None,
        help='with --features: train/test rows, a JSON {"train": [...], "test": [...]} or a '
        ".npy/.txt "
        "of test rows (None: a seeded random --test-fraction split)",
    )
    t.add_argument("--r-grid", default=None, help="with --features: the r values of the g(r) columns (.npy)")
    t.add_argument(
        "--omega-grid", default=None, help="with --features: the frequencies of the target columns (.npy)"
    )
    t.add_argument("--r-unit", default="Å", help="with --features: length unit of the r grid")
    t.add_argument("--omega-unit", default="THz", help="with --features: unit of the frequency grid")
    t.add_argument("--y-unit", default=None, help="with --features: unit of the targets (None: 1/OMEGA_UNIT)")
    t.add_argument(
        "--l1",
        type=float,
        default=None,
        help="with --features: fixed L1 penalty of lasso/elastic-net (None: cross-validated on "
        "the estimator's default grid)",
    )
    t.add_argument(
        "--l2",
        type=float,
        default=None,
        help="with --features: fixed L2 penalty of ridge/elastic-net (None: cross-validated; "
        "fixing it makes the elastic-net search one-dimensional and much faster)",
    )
    t.add_argument(
        "--r-sigma",
        type=float,
        default=None,
        help="with --features: Gaussian width of your g(r) smoothing (r unit); stored so that "
        "`predict --structure/--sq` can compute matching g(r)",
    )
    add_study_args(t, features=False)
    add_partial_arg(t)


def _add_evaluate_args(e) -> None:
    e.add_argument("model", help="model file written by `jaxglass train`")
    e.add_argument("--dataset", default=None, help="dataset directory (None: the one it was trained on)")
    e.add_argument(
        "--features", default=None, help="held-out inputs X (.npy/.npz/.csv) for a model trained on arrays"
    )
    e.add_argument("--targets", default=None, help="held-out targets Y (.npy/.npz/.csv), with --features")
    e.add_argument("--r-grid", default=None, help="r grid of --features (.npy), checked against the model's")
    e.add_argument(
        "--omega-grid", default=None, help="frequency grid of --targets (.npy), checked against the model's"
    )
    e.add_argument(
        "--split",
        choices=("test", "train", "all"),
        default="test",
        help="which stored split to score (--features data: all)",
    )
    e.add_argument("--out", default=None, help="write the scores as JSON to this file")


def _add_predict_args(pr) -> None:
    pr.add_argument("model", help="model file written by `jaxglass train` (or an estimator's save)")
    pr.add_argument(
        "--features", default=None, help="inputs X (.npy/.npz/.csv), one g(r) per row on the model's grid"
    )
    pr.add_argument(
        "--structure",
        nargs="+",
        default=None,
        help="structure files (any format ase reads; every frame of a trajectory): smoothed g(r) "
        "on the model's r grid, then the spectrum",
    )
    pr.add_argument(
        "--sq",
        default=None,
        help="measured S(Q): text/CSV with columns Q (1/length, 2π included) and S(Q); Fourier "
        "transformed to g(r) (needs --density), then the spectrum",
    )
    pr.add_argument(
        "--density",
        type=float,
        default=None,
        help="with --sq: number density (atoms per length unit^d, e.g. atoms/Å^3)",
    )
    pr.add_argument(
        "--dim",
        type=int,
        choices=(2, 3),
        default=None,
        help="with --sq: dimension (None: the model's, else 3)",
    )
    pr.add_argument(
        "--window",
        choices=("lorch", "none"),
        default="lorch",
        help="with --sq: window on S(Q) - 1 before the transform (Lorch: resolution 2π/Q_max)",
    )
    pr.add_argument(
        "--q-min", type=float, default=None, help="with --sq: lowest Q used (1/length; None: the file's)"
    )
    pr.add_argument(
        "--q-max", type=float, default=None, help="with --sq: highest Q used (1/length; None: the file's)"
    )
    pr.add_argument(
        "--no-smoothing",
        action="store_true",
        help="with --sq: skip the Gaussian smoothing along r that matches the model's g(r) features",
    )
    pr.add_argument(
        "--r-sigma",
        type=float,
        default=None,
        help="Gaussian width of the g(r) smoothing (length unit; None: stored in the model/dataset)",
    )
    pr.add_argument(
        "--index", default=":", help="with --structure: frames to use (ase index: ':' all, '-1' last)"
    )
    pr.add_argument("--out", default="out/predict", help="output folder (predictions.csv/.npz, predict.json)")


class Train:
    """fit a model on a dataset's training split or on your own arrays"""

    @staticmethod
    def add_arguments(p) -> None:
        _add_train_args(p)

    @staticmethod
    def run(args) -> int:
        out = out_file(args.out)
        if args.features in ("total", "partial") and args.dataset is not None:
            kind, args.features = args.features, None
        else:
            kind = "total"
        if args.features is not None or args.targets is not None:
            if args.dataset is not None:
                raise UserError(
                    f"train: give a dataset directory ({args.dataset}) or --features/--targets, not both"
                )
            return _train_arrays(args, out)
        if args.dataset is None:
            raise UserError(
                "train: give a dataset directory (from `jaxglass generate`) or your own arrays: "
                "--features X.npy --targets Y.npy"
            )
        for opt in ("split", "r_grid", "omega_grid", "r_sigma", "l1", "l2"):
            if getattr(args, opt) is not None:
                raise UserError(
                    f"--{opt.replace('_', '-')}: only with --features/--targets (a dataset "
                    "directory has its own grids and split)"
                )
        from ..data import load_dataset, load_structure
        from ..study import fit_dataset_model

        enable_x64()
        args.features = kind
        cfg = study_config(args)
        ds = load_dataset(args.dataset, allow_partial=args.partial)
        print(f"train: fitting {args.model} on the training split of {len(ds)} structures ...", flush=True)
        t0 = time.time()
        est = fit_dataset_model(ds, args.model, cfg, dataset=args.dataset,
                                dim=load_structure(args.dataset, int(ds.indices[0])).dim)
        est.save(out)
        n_train = len(est.metadata["train_indices"])
        print(
            f"train: {args.model} on {n_train} {ds.config.system} structures in {time.time() - t0:.1f} s "
            f"({est.info_}); train MSE {est.metadata['train_mse']:.4e}; wrote {out}"
        )
        return 0


class Evaluate:
    """test MSE and R² of a saved model"""

    @staticmethod
    def add_arguments(p) -> None:
        _add_evaluate_args(p)

    @staticmethod
    def run(args) -> int:
        if args.out:
            out_file(args.out)
        model, meta = _load_model(args.model)
        if args.features is not None or args.targets is not None or meta.get("source") == "arrays":
            return _evaluate_arrays(args, model, meta)
        from ..data import load_dataset
        from ..study import check_dataset, features, predict_any, targets

        enable_x64()
        where = args.dataset or meta.get("dataset")
        if not where:
            raise UserError(
                "--dataset: the model file records no dataset; give --dataset DIR or "
                "--features X.npy --targets Y.npy"
            )
        ds = load_dataset(where)
        check_dataset(meta, ds, str(where))
        pos = {int(k): i for i, k in enumerate(ds.indices)}
        if args.split == "all":
            idx = np.arange(len(ds))
        else:
            key = f"{args.split}_indices"
            if key not in meta:
                raise UserError(f"--split {args.split}: the model file records no {key}; use --split all")
            if args.dataset and meta.get("dataset") and Path(args.dataset).resolve() != Path(meta["dataset"]):
                raise UserError(
                    f"--split {args.split}: the model's split indexes the dataset it was trained on "
                    f"({meta['dataset']}); on another dataset use --split all"
                )
            missing = [k for k in meta[key] if k not in pos]
            if missing:
                raise UserError(
                    f"--dataset: structures {missing[:5]} of the model's {args.split} split are absent"
                )
            idx = np.array([pos[k] for k in meta[key]])
        if idx.size == 0:
            raise UserError(f"--split {args.split}: no structures in this split")
        X = features(ds, meta.get("features", "total"))[idx]
        Y, _, y_unit = targets(ds, meta.get("target", "pdos"))
        Y = Y[idx]
        sc = _scores_checked(Y, predict_any(model, X))
        res = dict(
            model=str(args.model),
            kind=meta.get("kind"),
            dataset=str(where),
            split=args.split,
            n=len(idx),
            target=meta.get("target", "pdos"),
            **sc,
            mse_units=f"({y_unit})^2",
        )
        return _print_scores(res, args, "structures")


class Predict:
    """spectra from a trained model: features, structure files or S(Q)"""

    @staticmethod
    def add_arguments(p) -> None:
        _add_predict_args(p)

    @staticmethod
    def run(args) -> int:
        from ..workflows.features import write_predictions

        out = out_dir(args.out)
        given = [
            o
            for o, v in (("--features", args.features), ("--structure", args.structure), ("--sq", args.sq))
            if v
        ]
        if len(given) != 1:
            raise UserError(
                f"predict: give exactly one of --features, --structure, --sq (got {given or 'none'})"
            )
        if args.sq:  # every option checked before the model or the S(Q) file is read
            check_args(features_from_sq, density=args.density, q_min=args.q_min, q_max=args.q_max,
                       r_sigma=args.r_sigma)
        else:
            check_args(features_from_structures, r_sigma=args.r_sigma)
        enable_x64()
        est, meta = _load_model(args.model)
        if args.features:
            X = read_array(args.features, "features")
            X = X[None] if X.ndim == len(est.feature_shape_) else X
            if int(np.prod(X.shape[1:])) != est.n_features_in_:
                raise UserError(
                    f"--features: samples of shape {X.shape[1:]}, the model takes {est.feature_shape_}"
                )
            labels, info = (
                [f"row {i}" for i in range(len(X))],
                dict(source="features", file=str(args.features)),
            )
        elif args.structure:
            X, labels, info = features_from_structures(
                est, meta, args.structure, index=args.index, r_sigma=args.r_sigma
            )
        else:
            X, labels, info = features_from_sq(
                est,
                meta,
                args.sq,
                density=args.density,
                dim=args.dim,
                window=args.window,
                q_min=args.q_min,
                q_max=args.q_max,
                smoothing=not args.no_smoothing,
                r_sigma=args.r_sigma,
            )
        Y = np.asarray(est.predict(X)).reshape(len(X), -1)
        freq = est.freq if est.freq is not None else meta.get("freq", np.arange(Y.shape[1]))
        freq = np.asarray(freq, np.float64)
        funit = meta.get("freq_unit") or est.freq_unit or "index"
        yunit = meta.get("y_unit") or est.y_unit or (f"1/{funit}" if meta.get("freq_unit") else "target unit")
        r = est.r if est.r is not None else meta.get("r")
        info.update(
            model=str(args.model),
            kind=meta.get("kind"),
            n=len(X),
            labels=labels,
            frequency_unit=funit,
            y_unit=yunit,
        )
        write_predictions(out, freq, Y, X, r, labels, info, funit)
        print(
            f"predict: {len(X)} spectra ({yunit} on {len(freq)} frequencies, {funit}) from {info['source']}; "
            f"wrote {out / 'predictions.csv'}, {out / 'predictions.npz'}, {out / 'predict.json'}"
        )
        return 0
