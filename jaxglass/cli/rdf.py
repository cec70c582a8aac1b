"""``rdf``: smoothed total and partial g(r) of structure files (:mod:`jaxglass.workflows.features`)."""

from __future__ import annotations

import sys

from ..validation import check_args
from ._common import out_dir


class Rdf:
    """smoothed total and partial g(r) of structure files (CSV + npz)"""

    @staticmethod
    def add_arguments(p) -> None:
        p.add_argument(
            "files", nargs="+", help="structure files (any format ase reads; every frame of a trajectory)"
        )
        p.add_argument(
            "--r-min", type=float, default=0.0, help="first r of the grid (length unit of the positions)"
        )
        p.add_argument(
            "--r-max", type=float, default=6.0, help="last r of the grid (length unit of the positions)"
        )
        p.add_argument("--n-r", type=int, default=300, help="points of the r grid")
        p.add_argument("--sigma", type=float, default=0.05, help="Gaussian smoothing width (length unit)")
        p.add_argument("--index", default=":", help="frames to use (ase index: ':' all, '-1' last, '::10')")
        p.add_argument("--out", default="out/rdf", help="output folder (rdf.csv, rdf.npz, rdf.json)")

    @staticmethod
    def run(args) -> int:
        from ..rdf import r_grid, rdf
        from ..workflows.features import rdf_of_frames, structure_frames, write_rdf

        out = out_dir(args.out)
        check_args(rdf, sigma=args.sigma)
        r = r_grid(args.r_min, args.r_max, args.n_r, sigma=args.sigma)
        frames = structure_frames(args.files, args.index)
        res = rdf_of_frames(
            frames, r, args.sigma, warn=lambda msg: print(f"jaxglass: warning: {msg}", file=sys.stderr)
        )
        names = res["species_names"]
        meta = dict(
            files=[str(f) for f in args.files],
            frames=[lab for lab, _ in frames],
            n_frames=len(frames),
            species_names=names,
            sigma=args.sigma,
            r_min=args.r_min,
            r_max=args.r_max,
            n_r=args.n_r,
            dim=res["dim"],
            number_density=res["number_density"],
            length_unit="that of the positions (Å, or σ for LJ)",
            definition="Gaussian-smoothed g(r) of jaxglass.rdf; CSV: average over frames; npz: per frame",
        )
        write_rdf(out, res, meta)
        print(
            f"rdf: {len(frames)} frame(s), species {names}, r in [{args.r_min:g}, {args.r_max:g}] "
            f"({args.n_r} points, sigma {args.sigma:g}); wrote {out / 'rdf.csv'}, {out / 'rdf.npz'}"
        )
        return 0
