"""``generate``, ``export``, ``import``, ``plot``: datasets of glasses (:mod:`jaxglass.data`)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import BuildError
from ..validation import check_args
from ._common import SYSTEM_CHOICES, add_partial_arg, out_dir, out_file


class Generate:
    """build (or resume) a dataset of glasses with RDFs and PDOS"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("--system", required=True, choices=SYSTEM_CHOICES, help="glass family")
        p.add_argument("--n-structures", type=int, required=True, help="structures in the dataset")
        p.add_argument("--out", required=True, help="dataset directory (resumed if it exists)")
        p.add_argument(
            "--size", choices=("small", "paper"), default="small", help="family default cell sizes"
        )
        p.add_argument(
            "--protocol", default=None, metavar="NAME",
            help="named melt-quench protocol of the family's generator for the glasses, e.g. paper-half "
            "(lj2d, lj3d: the paper protocol with a 50 tau quench; cualzr: a 50 ps quench); "
            "None: the --size's own",
        )
        p.add_argument(
            "--n-atoms", type=int, default=None, help="target atoms per structure (None: family default)"
        )
        p.add_argument("--seed", type=int, default=0, help="dataset seed (knobs and generator seeds)")
        p.add_argument(
            "--workers",
            type=int,
            default=None,
            help="local Dask worker processes (None: one per core, at most one per 2 GiB); "
            "0 computes in this process without Dask",
        )
        p.add_argument(
            "--scheduler",
            default=None,
            help="address of an existing Dask scheduler (e.g. tcp://host:8786) to submit to; "
            "None: $JAXGLASS_SCHEDULER, else a LocalCluster started for this build",
        )
        p.add_argument(
            "--memory-limit",
            default="auto",
            help="memory limit per local worker, e.g. 4GiB (auto: the machine's memory shared)",
        )
        p.add_argument(
            "--dashboard-address",
            default=":8787",
            help="where the local cluster serves its dashboard (':0' picks a free port)",
        )
        p.add_argument(
            "--batch", type=int, default=1,
            help="structures generated together in one program (with --workers 0; families with "
            "generate_batch: lj2d, lj3d, sic, cualzr, hea), e.g. 4",
        )
        p.add_argument("--no-crystal", action="store_true", help="omit the crystalline reference (index 0)")
        p.add_argument(
            "--quiet", action="store_true", help="no progress lines (DIR/build.log still gets them)"
        )

    @staticmethod
    def run(args) -> int:
        from ..data import DatasetConfig, build_dataset, pending_structures

        out_dir(args.out)
        cfg = DatasetConfig.make(
            args.system,
            args.n_structures,
            n_atoms=args.n_atoms,
            size=args.size,
            protocol=args.protocol,
            seed=args.seed,
            include_crystal=not args.no_crystal,
        )
        scheduler = args.scheduler or os.environ.get("JAXGLASS_SCHEDULER") or None
        check_args(build_dataset, workers=args.workers, batch=args.batch)
        t0 = time.time()
        try:
            done = build_dataset(
                args.out,
                cfg,
                workers=args.workers,
                scheduler=scheduler,
                memory_limit=args.memory_limit,
                dashboard_address=args.dashboard_address,
                progress=not args.quiet,
                batch=args.batch,
            )
        except KeyboardInterrupt:
            left = len(pending_structures(args.out, cfg))
            print(
                f"generate: interrupted after {time.time() - t0:.1f} s; {cfg.n_structures - left} of "
                f"{cfg.n_structures} records finished in {args.out}; rerun the same command to resume",
                file=sys.stderr,
                flush=True,
            )
            return 130
        except BuildError as err:
            print(f"jaxglass: error: {err}", file=sys.stderr)
            return 1
        print(
            f"generate: {len(done)} new structure(s) in {time.time() - t0:.1f} s; dataset of "
            f"{cfg.n_structures} {cfg.system} structures in {args.out}"
        )
        return 0


class Export:
    """pack a dataset into one compressed file (float32 arrays)"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("dataset", help="dataset directory")
        p.add_argument("--out", required=True, help="output file, e.g. lj2d.npz")

    @staticmethod
    def run(args) -> int:
        from ..data import export_dataset

        out_file(args.out)
        res = export_dataset(args.dataset, args.out)
        print(
            f"export: {res['n_structures']} structures ({res['n_atoms_total']} atoms) -> {args.out}: "
            f"{res['bytes'] / 1e6:.2f} MB, {res['bytes_per_structure'] / 1e3:.1f} kB per structure"
        )
        return 0


class Import:
    """unpack an exported dataset into a directory (then resumable)"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("file", help="file written by `jaxglass export`")
        p.add_argument(
            "--out", required=True, help="dataset directory (new, or the same dataset to complete)"
        )

    @staticmethod
    def run(args) -> int:
        from ..data import import_dataset

        out_dir(args.out)
        written = import_dataset(args.file, args.out)
        print(f"import: {len(written)} record(s) written to {args.out}")
        return 0


class Plot:
    """RDF and PDOS across the disorder knob of a dataset"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument("dataset", help="dataset directory")
        p.add_argument("--out", default=None, help="figure file (None: DATASET/rdf_pdos.png)")
        p.add_argument("--n-curves", type=int, default=6, help="curves drawn across the knob")
        add_partial_arg(p)

    @staticmethod
    def run(args) -> int:
        from ..data import load_dataset
        from ..plots import plot_knob_series

        out = out_file(args.out or Path(args.dataset) / "rdf_pdos.png")
        check_args(plot_knob_series, n_curves=args.n_curves)
        ds = load_dataset(args.dataset, allow_partial=args.partial)
        plot_knob_series(ds, out, n_curves=args.n_curves)
        print(f"plot: wrote {out}")
        return 0
