"""``demo``, ``study``, ``perturb``: the linear-map study (:mod:`jaxglass.study`) and first-order
perturbation theory (:mod:`jaxglass.perturb_study`)."""

from __future__ import annotations

import time
from pathlib import Path

from .. import families
from .._config import enable_x64
from ..errors import UserError
from ..validation import check, check_args
from ._common import SYSTEM_CHOICES, add_partial_arg, add_study_args, out_dir, study_config

#: ``demo``'s default size: small and fast, unless the family's smallest cell is larger.
DEMO_N_ATOMS = 128


class Demo:
    """small end-to-end study: dataset, models, table, figures"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("--system", choices=SYSTEM_CHOICES, default="lj2d", help="glass family")
        p.add_argument("--n-structures", type=int, default=60, help="structures in the dataset")
        p.add_argument("--n-atoms", type=int, default=None,
                       help="atoms (particles) per structure (default: 128, or the family's smallest cell "
                       "if larger)")
        p.add_argument(
            "--train-sizes", type=int, nargs="+", default=[12, 24], help="learning-curve training sizes"
        )
        p.add_argument("--n-seeds", type=int, default=3, help="random subsets per learning-curve size")
        p.add_argument(
            "--workers", type=int, default=2, help="local Dask worker processes (0: in this process)"
        )
        p.add_argument("--seed", type=int, default=0, help="dataset and split seed")
        p.add_argument("--out", default="out/demo", help="output folder")

    @staticmethod
    def run(args) -> int:
        from ..data import DatasetConfig, build_dataset, load_dataset
        from ..study import StudyConfig, run_study

        enable_x64()
        t0 = time.time()
        out = out_dir(args.out)
        n_atoms = (max(DEMO_N_ATOMS, families.smallest_cell(args.system).n_atoms) if args.n_atoms is None
                   else args.n_atoms)
        cfg = DatasetConfig.make(args.system, args.n_structures, n_atoms=n_atoms, seed=args.seed)
        scfg = StudyConfig(train_sizes=tuple(args.train_sizes), n_seeds=args.n_seeds, seed=args.seed)
        check_args(build_dataset, workers=args.workers)  # every option checked before the build
        print(
            f"demo: {args.system}, {cfg.n_structures} structures of ~{cfg.n_atoms} atoms from crystal to "
            f"glass -> {out / 'dataset'} (resumable)"
        )
        build_dataset(out / "dataset", cfg, workers=args.workers, progress=True)
        ds = load_dataset(out / "dataset")
        print(f"demo: dataset ready after {time.time() - t0:.0f} s; fitting the models")
        from ..plots import plot_knob_series

        plot_knob_series(ds, out / "rdf_pdos.png")
        run_study(ds, out / "study", scfg)
        print(Path(out / "study" / "study.md").read_text())
        print(
            f"demo: done in {time.time() - t0:.0f} s; figures in {out / 'study'} and {out / 'rdf_pdos.png'}"
        )
        return 0


class Study:
    """linear vs CNN: table, learning curve, weight maps, predictions"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("--system", required=True, choices=SYSTEM_CHOICES, help="glass family")
        p.add_argument("--out", required=True, help="output folder (study.json, study.md, PNGs)")
        p.add_argument("--dataset", default=None, help="dataset directory (None: OUT/dataset)")
        p.add_argument(
            "--n-structures",
            type=int,
            default=None,
            help="build/grow the dataset to this many structures first (resumable)",
        )
        p.add_argument("--n-atoms", type=int, default=None, help="atoms per structure (None: family default)")
        p.add_argument(
            "--size", choices=("small", "paper"), default="small", help="family default cell sizes"
        )
        p.add_argument("--data-seed", type=int, default=0, help="dataset seed")
        p.add_argument(
            "--workers",
            type=int,
            default=0,
            help="0: build the dataset in this process; N: on a local Dask cluster of N workers",
        )
        p.add_argument(
            "--train-sizes",
            type=int,
            nargs="+",
            default=None,
            help="learning-curve training sizes (None: the study's defaults)",
        )
        p.add_argument("--n-seeds", type=int, default=None, help="subsets per learning-curve size (None: 3)")
        p.add_argument(
            "--models",
            nargs="+",
            choices=("ridge", "elastic-net", "cnn"),
            default=["ridge", "elastic-net", "cnn"],
            help="models compared",
        )
        p.add_argument("--quiet", action="store_true", help="no progress lines")
        add_study_args(p)
        add_partial_arg(p)

    @staticmethod
    def run(args) -> int:
        from ..data import DatasetConfig, build_dataset, load_dataset
        from ..study import run_study

        enable_x64()
        out_dir(args.out)
        scfg = study_config(args)  # every option checked before the build
        check_args(build_dataset, workers=args.workers)
        check_args(DatasetConfig.make, n_atoms=args.n_atoms,
                   **({} if args.n_structures is None else {"n_structures": args.n_structures}))
        check("data_seed", args.data_seed, *DatasetConfig.make.__parameter_constraints__["seed"])
        dataset = Path(args.dataset or Path(args.out) / "dataset")
        if args.n_structures:
            cfg = DatasetConfig.make(
                args.system, args.n_structures, n_atoms=args.n_atoms, size=args.size, seed=args.data_seed
            )
            t0 = time.time()
            new = build_dataset(dataset, cfg, workers=args.workers, progress=not args.quiet)
            print(f"study: dataset {dataset}: {len(new)} new structure(s) in {time.time() - t0:.1f} s")
        ds = load_dataset(dataset, allow_partial=args.partial)
        if ds.config.system != args.system:
            raise UserError(
                f"--dataset: {dataset} holds {ds.config.system!r} structures, not {args.system!r}"
            )
        res = run_study(ds, args.out, scfg, verbose=not args.quiet, models=tuple(args.models))
        print(Path(args.out, "study.md").read_text())
        return 0 if res else 1


class Perturb:
    """first-order perturbation theory, Jacobian consistency and sensitivity maps for a
    dataset and a linear model"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("dataset", help="dataset directory (from `jaxglass generate`)")
        p.add_argument("--model", required=True, help="linear model file from `jaxglass train --model ridge`")
        p.add_argument("--out", required=True, help="output folder (perturb.json, perturb.md, PNGs)")
        p.add_argument("--n-test", type=int, default=3, help="test structures analysed")
        p.add_argument("--n-train", type=int, default=3, help="training structures for W_phys")
        p.add_argument("--n-random", type=int, default=6, help="random directions per structure")
        p.add_argument("--n-soft", type=int, default=6, help="softest-mode directions per structure")
        p.add_argument("--seed", type=int, default=0, help="seed of the random directions")
        p.add_argument(
            "--directions-only",
            action="store_true",
            help="fit W_phys to the random + soft directions, not full N·d Jacobians (large cells)",
        )
        p.add_argument("--quiet", action="store_true", help="no progress lines")

    @staticmethod
    def run(args) -> int:
        from ..perturb_study import run

        out_dir(args.out)
        run(
            args.dataset,
            args.model,
            args.out,
            n_test=args.n_test,
            n_train=args.n_train,
            n_random=args.n_random,
            n_soft=args.n_soft,
            seed=args.seed,
            full_jacobian=not args.directions_only,
            progress=not args.quiet,
        )
        print(Path(args.out, "perturb.md").read_text())
        return 0
