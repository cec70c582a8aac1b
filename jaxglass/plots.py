"""Matplotlib figures (imported lazily; matplotlib is an optional dependency).

Figures are ``matplotlib.figure.Figure`` objects made without pyplot: no backend is selected and
nothing is registered with pyplot's figure manager, so the library leaves the caller's matplotlib
state alone (:func:`save_figure` renders through the file format's own canvas).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .validation import Integral, validate


def _figure(**kwargs):
    """A new pyplot-free ``Figure`` (``kwargs`` as ``matplotlib.figure.Figure``)."""
    try:
        from matplotlib.figure import Figure
    except ImportError as err:  # pragma: no cover
        raise ImportError("plots need matplotlib: pip install 'jaxglass[plot]'") from err
    return Figure(**kwargs)


def save_figure(fig, path: Path, dpi: int = 130, tight: bool = True) -> None:
    """Write ``fig`` to ``path`` atomically (format from the suffix, default png; ``dpi``; a tight
    bounding box unless ``tight`` is False)."""
    import io

    from ._io import atomic_write_bytes

    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches="tight" if tight else None)
    atomic_write_bytes(path, buf.getvalue())


@validate({"n_curves": [Integral(1, 1000), "the number of curves drawn, e.g. 6"]})
def plot_knob_series(ds, path, n_curves: int = 6) -> None:
    """Total RDF and PDOS for structures across the knob: crystal in blue → most disordered in red."""
    from matplotlib import colormaps

    order = np.argsort(ds.knob)
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(n_curves, len(order))).round().astype(int))]
    cmap = colormaps["coolwarm"]
    fig = _figure(figsize=(10, 3.8))
    axes = fig.subplots(1, 2)
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
    save_figure(fig, path)


_COLORS = {"ridge": "tab:blue", "elastic-net": "tab:green", "cnn": "tab:red"}
_LABELS = {"ridge": "linear, L2 (ridge)", "elastic-net": "linear, L1 (elastic net)", "cnn": "CNN"}


def plot_learning_curve(result: dict, path) -> None:
    """Test MSE vs number of training structures (log-log), error bars = std over seeds."""
    from matplotlib.ticker import NullLocator

    lc = result["learning_curve"]
    fig = _figure(figsize=(5, 3.8))
    ax = fig.subplots()
    for m in ("ridge", "cnn"):
        if m in lc:
            ax.errorbar(lc["sizes"], lc[m]["mean"], yerr=lc[m]["std"], marker="o", capsize=3,
                        color=_COLORS[m], label=_LABELS[m])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(lc["sizes"])
    ax.set_xticklabels([str(n) for n in lc["sizes"]])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("training structures")
    ax.set_ylabel(f"test MSE {result['mse_units']}")
    ax.set_title(f"{result['system']}: learning curve ({result['n_test']} test structures)")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_weight_map(model, ds, train_idx, path, title: str = "", labels=None, Y=None, y_unit=None) -> None:
    """Heat map of the linear map W(ω, r) with the mean g(r) on top and the mean PDOS on the right.

    Shown is ``W(ω, r)·σ_g(r)``: the PDOS change (1/freq unit) caused by a one-standard-deviation
    change of g at r (σ over the training set), which is the data-unit weight scaled so that radii
    where g never varies (inside the core) do not dominate. Several input channels (partial RDFs)
    are drawn side by side. ``Y`` (``(K, F)``, unit ``y_unit``) replaces the PDOS as the target
    (e.g. an observable of :mod:`jaxglass.data.observables`). For a model without a dataset see
    :func:`weight_map_figure` (used by the estimators' ``weight_map``).
    """
    Wp, _ = model.physical_weights()  # a jaxglass.models.LinearSPR
    C = int(np.prod(model.feature_shape[:-1])) if len(model.feature_shape) > 1 else 1
    if C > 1:
        S = ds.rdf_partial.shape[1]
        iu = np.triu_indices(S)
        X = np.asarray(ds.rdf_partial[:, iu[0], iu[1], :])[train_idx]
    else:
        X = np.asarray(ds.rdf_total)[train_idx]
    fig = weight_map_figure(np.asarray(Wp), X.mean(0), X.std(0), np.asarray(ds.r), np.asarray(ds.freq),
                            np.asarray(ds.pdos_total if Y is None else Y)[train_idx].mean(0), title=title,
                            labels=labels, r_unit=ds.length_unit, freq_unit=ds.freq_unit,
                            y_unit=f"1/{ds.freq_unit}" if y_unit is None else y_unit)
    save_figure(fig, path)


def weight_map_figure(W, x_mean, x_std, r, freq, y_mean, *, title: str = "", labels=None,
                      r_unit: str | None = None, freq_unit: str | None = None, y_unit: str | None = None):
    """Figure of a linear map ``W`` ``(F, R)`` or ``(F, C, R)`` (data units) drawn as ``W·σ_x``.

    ``x_mean``/``x_std`` (shape of one sample) draw the mean ± std input on top and scale the map;
    ``x_std=None`` draws ``W`` itself. ``y_mean`` ``(F,)`` is drawn on the right. The colour bar is
    labelled with ``y_unit`` (the units of ``W·σ_x`` are those of the targets). Returns the figure.
    """
    Wp = np.asarray(W)
    if Wp.ndim == 2:
        Wp = Wp[:, None, :]
    C = Wp.shape[1]
    gmean = np.asarray(x_mean).reshape(C, -1)
    gstd = None if x_std is None else np.asarray(x_std).reshape(C, -1)
    Wd = Wp if gstd is None else Wp * gstd[None]
    vmax = float(np.abs(Wd).max()) or 1.0
    r, w = np.asarray(r), np.asarray(freq)
    labels = labels or (["g(r)"] if C == 1 else [f"channel {c}" for c in range(C)])
    fig = _figure(figsize=(3.2 * C + 2.2, 5.2))
    gs = fig.add_gridspec(2, C + 2, width_ratios=[4] * C + [1, 0.15], height_ratios=[1, 4],
                          hspace=0.05, wspace=0.08)
    im = None
    for c in range(C):
        top = fig.add_subplot(gs[0, c])
        top.plot(r, gmean[c], "k", lw=1)
        if gstd is not None:
            top.fill_between(r, gmean[c] - gstd[c], gmean[c] + gstd[c], color="0.7")
        top.set_xlim(r[0], r[-1])
        top.set_xticklabels([])
        top.set_title(labels[c], fontsize=9)
        if c == 0:
            top.set_ylabel("mean input")
        ax = fig.add_subplot(gs[1, c])
        im = ax.pcolormesh(r, w, Wd[:, c, :], cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
        ax.set_xlabel(f"r ({r_unit})" if r_unit else "r")
        if c == 0:
            ax.set_ylabel(f"frequency ({freq_unit})" if freq_unit else "output")
        else:
            ax.set_yticklabels([])
    right = fig.add_subplot(gs[1, C])
    right.plot(np.asarray(y_mean), w, "k", lw=1)
    right.set_ylim(w[0], w[-1])
    right.set_yticklabels([])
    right.set_xlabel("mean target")
    right.set_xticks([])
    cax = fig.add_subplot(gs[1, C + 1])
    name = "W" if gstd is None else "W·σ"
    fig.colorbar(im, cax=cax, label=f"{name} ({y_unit})" if y_unit else f"{name} (target units)")
    fig.suptitle(title, fontsize=10)
    return fig


def plot_predictions(ds, test_idx, picks, predictions: dict, path, Y=None, y_label: str = "PDOS",
                     y_unit: str | None = None) -> None:
    """Reference vs predicted PDOS (or the target ``Y`` ``(K, F)``) for the test structures at
    positions ``picks`` of ``test_idx``."""
    w = np.asarray(ds.freq)
    fig = _figure(figsize=(4.2 * len(picks), 3.4))
    axes = fig.subplots(1, len(picks), sharey=True)
    axes = np.atleast_1d(axes)
    names = ("crystal-like", "medium", "highly disordered")
    for ax, p, nm in zip(axes, picks, names):
        k = test_idx[p]
        ax.plot(w, (ds.pdos_total if Y is None else Y)[k], "k", lw=2, label="reference (Hessian)")
        for m, P in predictions.items():
            ax.plot(w, P[p], color=_COLORS.get(m), lw=1.2, label=_LABELS.get(m, m))
        ax.set_title(f"{nm}: knob {ds.knob[k]:.2f} (structure {int(ds.indices[k])})", fontsize=9)
        ax.set_xlabel(f"frequency ({ds.freq_unit})")
    axes[0].set_ylabel(f"{y_label} ({f'1/{ds.freq_unit}' if y_unit is None else y_unit})")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{ds.config.system}: predicted vs reference {y_label} (test set)", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path)


def text_pdos(p, width: int = 60, rows: int = 16) -> str:
    """A text rendering of a PDOS (for a terminal): one row per frequency bin, bar length ∝ density."""
    grid = np.asarray(p.grid)
    tot = np.asarray(p.total)
    edges = np.linspace(grid[0], grid[-1], rows + 1)
    lines = [f"  {'frequency (' + p.unit + ')':>24}  density"]
    vals = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        m = (grid >= lo) & (grid < hi)
        vals.append(tot[m].mean() if m.any() else 0.0)
    vmax = max(vals) or 1.0
    for lo, hi, v in zip(edges[:-1], edges[1:], vals):
        lines.append(f"  {lo:10.3f} – {hi:10.3f}  {'#' * int(round(width * v / vmax))}")
    return "\n".join(lines)


def plot_pdos(p, path, title: str) -> None:
    """Total and species-resolved PDOS (a :class:`jaxglass.phonons.PDOS`) against frequency, as PNG."""
    fig = _figure(figsize=(6, 3.5))
    ax = fig.subplots()
    grid = np.asarray(p.grid)
    ax.plot(grid, np.asarray(p.total), "k", lw=1.5, label="total")
    for name, part in zip(p.species_names, np.asarray(p.partial) if p.partial is not None else ()):
        ax.plot(grid, part, lw=1, label=name)
    ax.set_xlabel(f"frequency ({p.unit})")
    ax.set_ylabel("PDOS (per mode)")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120, tight=False)


def plot_spectrum(frequency, curves, labels, kind: str, path, title: str, freq_unit: str = "THz") -> None:
    """One observable (rows of ``curves`` against ``frequency`` in ``freq_unit``) as PNG: the PDOS
    against frequency, Raman against wavenumber (cm⁻¹), INS/IXS/neutron DOS against energy (meV): the
    axis and labels of ``kind``'s entry in :data:`jaxglass.observables.REGISTRY`."""
    from .observables import observable

    obs = observable(kind)
    scale = obs.axis_scale
    xl, yl = (lab.replace("{freq_unit}", freq_unit) for lab in (obs.x_label, obs.y_label))
    fr = np.asarray(frequency)
    fig = _figure(figsize=(6, 3.8))
    ax = fig.subplots()
    for lab, y in zip(labels, curves):
        ax.plot(fr * scale, y, lw=1.6 if lab in ("total", "intensity") else 1.0, label=lab)
    ax.set_xlabel(xl)
    ax.set_ylabel(yl)
    ax.set_xlim(fr[0] * scale, fr[-1] * scale)
    ax.set_ylim(bottom=0)
    ax.set_title(title, fontsize=10)
    if len(labels) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=150, tight=False)


def plot_kernels(W, W_phys, ds, path) -> None:
    """The learned map W and the physics kernel W_phys (:mod:`jaxglass.perturb_study`) side by side,
    as heat maps over r and frequency (∂PDOS/∂g in 1/freq unit)."""
    fig = _figure(figsize=(10, 4), constrained_layout=True)
    axes = fig.subplots(1, 2)
    ext = [ds.r[0], ds.r[-1], ds.freq[0], ds.freq[-1]]
    for ax, M, title in ((axes[0], W, "learned W (ridge)"), (axes[1], W_phys, "physics kernel W_phys")):
        v = float(np.percentile(np.abs(M), 99)) or 1.0
        im = ax.imshow(M, origin="lower", aspect="auto", extent=ext, cmap="RdBu_r", vmin=-v, vmax=v)
        ax.set_xlabel(f"r ({ds.length_unit})")
        ax.set_ylabel(f"frequency ({ds.freq_unit})")
        ax.set_title(title)
        fig.colorbar(im, ax=ax, label=f"∂PDOS/∂g (1/{ds.freq_unit})")
    save_figure(fig, path, dpi=120, tight=False)


def plot_sensitivity(s, exact, linear, corr, label, path) -> None:
    """Per-atom sensitivity |∂F/∂x_i| of a spectral feature by the exact route and the linear surrogate
    (maps over the periodic plane) and their scatter, with Pearson/Spearman ``corr``."""
    pos = np.asarray(s.positions)
    per = [a for a, p in enumerate(s.periodic) if p][:2]
    x, y = pos[:, per[0]], pos[:, per[1]]
    fig = _figure(figsize=(14, 4.4), constrained_layout=True)
    axes = fig.subplots(1, 3)
    for ax, val, title in ((axes[0], exact, "exact route"), (axes[1], linear, "linear surrogate")):
        sc = ax.scatter(x, y, c=val / val.max(), s=18, cmap="viridis")
        ax.set_aspect("equal")
        ax.set_title(f"|∂F/∂x_i|, {title}")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.colorbar(sc, ax=ax, label="relative sensitivity")
    axes[2].scatter(exact / exact.max(), linear / linear.max(), s=8)
    axes[2].set_xlabel("exact (relative)")
    axes[2].set_ylabel("linear surrogate (relative)")
    axes[2].set_title(f"{label}\nPearson {corr['pearson']:.2f}, Spearman {corr['spearman']:.2f}")
    save_figure(fig, path, dpi=120, tight=False)


def plot_parameter_fit(fits: dict, path) -> None:
    """Planted-parameter recovery: loss vs step (log) and relative parameter error |θ/θ* - 1| vs step.

    ``fits``: ``{label: {"loss": [...], "value": [...], "planted": float}}``.
    """
    fig = _figure(figsize=(9, 3.6))
    ax_l, ax_p = fig.subplots(1, 2)
    for label, f in fits.items():
        steps = range(len(f["loss"]))
        ax_l.semilogy(steps, f["loss"], marker="o", ms=3, label=label)
        err = [max(abs(v / f["planted"] - 1.0), 1e-16) for v in f["value"]]
        ax_p.semilogy(steps, err, marker="o", ms=3, label=label)
    ax_l.set_xlabel("gradient step")
    ax_l.set_ylabel("loss (PDOS misfit)")
    ax_p.set_xlabel("gradient step")
    ax_p.set_ylabel("|θ / θ_planted − 1|")
    ax_l.legend()
    ax_p.legend()
    fig.tight_layout()
    save_figure(fig, path)
