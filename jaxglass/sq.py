"""Static structure factor S(Q) ↔ pair correlation g(r): the Fourier transforms between them (2D and 3D),
and g(r) from a measured S(Q) on a model's r grid (:func:`g_from_sq`, used by ``jaxglass predict --sq``).

Units: r in a length unit L, Q in 1/L with 2π included, number density in atoms per L^d. Host code
(NumPy/SciPy): these transforms prepare features and references; the differentiable g(r) is
:func:`jaxglass.rdf.rdf`.
"""

from __future__ import annotations

import numpy as np

from .errors import UserError


def sq_from_pair_correlation(
    r: np.ndarray, g: np.ndarray, q: np.ndarray, density: float, dim: int = 3
) -> np.ndarray:
    """Static structure factor from g(r): S(q) = 1 + ρ ∫ (g(r) − 1) K_d(qr) S_d(r) dr, K_3 = sin(qr)/(qr),
    K_2 = J_0(qr) (host; inverse of :func:`pair_correlation_from_sq`).

    Truncation at the largest r of the grid ripples S(q) at small q; window g − 1 if needed.
    """
    from scipy.special import j0

    r, g, q = (np.asarray(x, dtype=np.float64) for x in (r, g, q))
    h = g - 1.0
    qr = q[:, None] * r[None, :]
    if dim == 3:
        kern = np.sinc(qr / np.pi) * 4 * np.pi * r[None, :] ** 2
    elif dim == 2:
        kern = j0(qr) * 2 * np.pi * r[None, :]
    else:
        raise UserError(f"dim: must be 2 or 3, got {dim}")
    return 1.0 + density * np.trapezoid(h[None, :] * kern, r, axis=1)


def pair_correlation_from_sq(
    q: np.ndarray, s: np.ndarray, r: np.ndarray, density: float, dim: int = 3, *, window: str | None = None
) -> np.ndarray:
    """g(r) from S(q), inverse of :func:`sq_from_pair_correlation`:
    g(r) = 1 + 1/((2π)^d ρ) ∫ (S(q) − 1) M(q) K_d(qr) S_d(q) dq.

    The integral runs over the given ``q`` (trapezoid; nothing is assumed outside it). ``window``:
    ``None`` (M = 1) or ``"lorch"``, M(q) = sin(πq/q_max)/(πq/q_max) with q_max = max(q): it removes the
    truncation ripples at the price of a resolution of Δr = 2π/q_max (in 3D, r·(g − 1) is averaged
    over a box of width Δr, exactly when S − 1 is negligible beyond q_max).

    Example (a Gaussian shell of g − 1 and back; 3D, ρ = 1)::

        >>> import numpy as np
        >>> r = np.linspace(0.01, 8.0, 1600); g = 1 + np.exp(-(r - 2.0) ** 2 / 0.08)
        >>> q = np.linspace(0.0, 60.0, 3000)
        >>> back = pair_correlation_from_sq(q, sq_from_pair_correlation(r, g, q, 1.0), r, 1.0)
        >>> bool(np.max(np.abs(back - g)[r > 0.5]) < 1e-4)
        True
    """
    from scipy.special import j0

    q, s, r = (np.asarray(x, dtype=np.float64) for x in (q, s, r))
    if window not in (None, "none", "lorch"):
        raise UserError(f"window: None, 'none' or 'lorch', got {window!r}")
    qr = r[:, None] * q[None, :]
    if dim == 3:
        kern = np.sinc(qr / np.pi) * 4 * np.pi * q[None, :] ** 2
    elif dim == 2:
        kern = j0(qr) * 2 * np.pi * q[None, :]
    else:
        raise UserError(f"dim: must be 2 or 3, got {dim}")
    m = np.sinc(q / q.max()) if window == "lorch" else 1.0
    return 1.0 + np.trapezoid(((s - 1.0) * m)[None, :] * kern, q, axis=1) / ((2 * np.pi) ** dim * density)


def g_from_sq(q, s, r, density: float, *, dim: int = 3, window: str = "lorch", sigma: float | None = None,
              q_min: float | None = None, q_max: float | None = None):
    """g(r) on ``r`` from a measured S(Q): the Fourier transform of ``pair_correlation_from_sq`` over
    [q_min, q_max] (S held at S(q_min) below q_min), an optional Lorch window, then (``sigma``) the same
    Gaussian smoothing along r as a model's g(r) features. Returns ``(g, info)``, ``info`` stating it all.

    ``q`` in 1/length (2π included), ``density`` in atoms per length^dim, ``r`` in the same length unit."""
    q, s, r = (np.asarray(x, np.float64) for x in (q, s, r))
    lo = q.min() if q_min is None else q_min
    hi = q.max() if q_max is None else q_max
    keep = (q >= lo) & (q <= hi)
    if keep.sum() < 10:
        raise UserError(f"q_min/q_max: only {int(keep.sum())} Q points in [{lo:g}, {hi:g}]; need >= 10")
    q, s = q[keep], s[keep]
    used = [float(q[0]), float(q[-1])]  # the measured Q range used (q_min/q_max may be caps beyond it)
    if q[0] > 0:  # S(Q) held at its first value down to Q = 0 (the integrand vanishes as Q^(d-1) there)
        lowq = np.linspace(0.0, q[0], max(3, int(np.ceil(q[0] / np.diff(q).min()))), endpoint=False)
        q, s = np.concatenate([lowq, q]), np.concatenate([np.full(lowq.size, s[0]), s])
    if sigma:  # fine grid, then the model's smoothing g_sigma = g * G_sigma along r
        h = min(sigma / 5.0, np.pi / q.max() / 4.0)
        rf = np.arange(max(r.min() - 6 * sigma, h), r.max() + 6 * sigma + h, h)
        gf = pair_correlation_from_sq(q, s, rf, density, dim, window=window)
        w = np.exp(-0.5 * ((r[:, None] - rf[None, :]) / sigma) ** 2)
        g = (w * gf[None, :]).sum(1) / w.sum(1)
    else:
        g = pair_correlation_from_sq(q, s, r, density, dim, window=window)
    info = dict(transform=f"g(r) = 1 + 1/((2pi)^{dim} rho) Int (S(Q)-1) M(Q) K_{dim}(Qr) S_{dim}(Q) dQ "
                          f"({'sin(Qr)/(Qr)' if dim == 3 else 'J0(Qr)'} kernel, trapezoid)",
                density=float(density), dim=dim, q_min=float(lo), q_max=float(hi),
                q_used=used,
                low_q="S(Q) held at S(Q_min) for 0 <= Q < Q_min",
                window="Lorch M(Q) = sin(pi Q/Q_max)/(pi Q/Q_max), resolution 2 pi/Q_max"
                if window == "lorch" else "none (truncation ripples of period 2 pi/Q_max)",
                r_smoothing=f"Gaussian along r, sigma = {sigma:g} (the model's g(r) smoothing)" if sigma
                else "none")
    return g, info
