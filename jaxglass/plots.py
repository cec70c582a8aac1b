"""Matplotlib figures (imported lazily; matplotlib is an optional dependency)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:  # pragma: no cover
        raise ImportError("plots need matplotlib: pip install 'jaxglass[plot]'") from err
    return plt


def _save(fig, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp" + path.suffix)
    fig.savefig(tmp, dpi=130)
    os.replace(tmp, path)


def plot_knob_series(ds, path, n_curves: int = 6) -> None:
    """Total RDF and PDOS for structures across the knob: crystal in blue → most disordered in red."""
    plt = _plt()
    order = np.argsort(ds.knob)
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(n_curves, len(order))).round().astype(int))]
    cmap = plt.get_cmap("coolwarm")
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for rank, i in enumerate(pick):
        c = cmap(rank / max(1, len(pick) - 1))
        lab = "crystal" if ds.knob[i] < 0 else f"knob {ds.knob[i]:.2f}"
        axes[0].plot(ds.r, ds.rdf_total[i], color=c, lw=1.2, label=lab)
        axes[1].plot(ds.freq, ds.pdos_total[i], color=c, lw=1.2, label=lab)
    axes[0].set_xlabel(f"r ({ds.length_unit})")
    axes[0].set_ylabel("g(r)")
    axes[1].set_xlabel(f"frequency ({ds.freq_unit})")
    axes[1].set_ylabel("PDOS (per mode)")
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{ds.config.system}: {len(ds)} structures of ~{ds.config.n_atoms} atoms")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
