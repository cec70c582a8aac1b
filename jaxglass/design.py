"""Inverse design on the potential-energy landscape: move a structure so its PDOS approaches a target
while it stays at a minimum.

Design variables are reference positions ``R`` of a harmonic restraint ``(k/2) Σ_i |x_i - R_i|²``
(:func:`jaxglass.equilibrium.bias_energy`) added to the physical energy; the relaxation maps ``R`` to
the restrained minimum ``x*(R)`` (:func:`jaxglass.equilibrium.biased_minimum`), whose derivative
``dx*/dR = k (H + k I)⁻¹`` comes from the implicit function theorem (CG on Hessian-vector products,
no finite differences). The loss is

    L(R) = ‖y(x*(R)) - target‖² / ‖target‖²,

with ``y`` the exact PDOS of the *physical* potential at ``x*`` (``route="exact"``: potential →
Hessian → eigenvalues → PDOS) or a linear surrogate ``W g(x*) + b`` of the smoothed total g(r)
(``route="linear"``), minimised over ``R`` with Adam (optax); each step relaxes from the previous ``x*``.

``x*`` is a minimum of the restrained energy, not of the physical one (its forces are
``k (R - x*)``). So every ``probe_every`` steps the restraint is switched off and ``x*`` relaxed to a
minimum of the physical potential (largest force ≤ ``final_fmax``, e.g. the dataset's relaxation
tolerance); the route's own loss is evaluated there, and the result is the probed minimum with the
lowest one (the start if none is lower). Every reported distance is measured with the exact PDOS.

What this can and cannot do: the minima of the physical potential are isolated points, so no
continuous design variable maps onto them smoothly; the restrained minimum does, and the probes
project it onto a basin. The gradient lowers the loss at the restrained minimum, and it may do so by
straining the structure inside its basin (then every probe returns to the start) rather than by
moving it to another basin; ``k`` sets how far ``x*`` can be held from a minimum (small ``k``: along
the soft modes only, ``dx*/dR ≈ k H⁻¹``; large ``k``: ``x*`` follows ``R``).
:func:`jaxglass.perturb.inverse_design` is the older route that moves the positions themselves with a
force penalty (its end point is not a minimum).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from ._config import require_x64
from .equilibrium import biased_minimum
from .errors import UserError
from .hessian import as_f64
from .minimize import minimize
from .modes import pdos
from .neighbors import fixed_capacity_lists
from .perturb import Grids
from .potentials.base import Potential
from .rdf import rdf
from .space import displacement
from .structure import Structure
from .validation import Integral, Options, Real, validate

__all__ = ["LandscapeDesignResult", "design_on_landscape"]


@dataclasses.dataclass(frozen=True)
class LandscapeDesignResult:
    """The outcome of :func:`design_on_landscape` (distances ``‖PDOS - target‖ / ‖target‖``, exact PDOS)."""

    structure: Structure  # the chosen minimum of the physical potential (lowest route loss)
    reference: np.ndarray  # the designed reference positions R after the last step
    distance_start: float  # at the starting structure
    distance_restrained: float  # at the last restrained minimum x*(R)
    distance_end: float  # at the chosen minimum
    fmax_end: float  # largest force there (eV/Å, or ε/σ)
    converged: bool  # its relaxation reached final_fmax
    losses: tuple[float, ...]  # the route's loss at the restrained minimum of every step
    probes: tuple[float, ...]  # the route's loss at every probed minimum (inf: relaxation failed)
    probe_shifts: tuple[float, ...]  # largest displacement of each probed minimum from the start's (net
    # translation removed: the restraint can move the whole structure, which is the same minimum)
    steps: int
    seconds: float  # wall time of the steps and the final relaxation
    route: str


class _Lists:
    """Fixed-width neighbour lists (potential terms with a skin, RDF pairs) rebuilt at every ``x*``,
    so the jitted loss keeps its shapes."""

    def __init__(self, potential: Potential, reach: float):
        self.cutoffs = [t.cutoff for t in potential.terms]
        self.reach = reach
        self.cap: tuple[int, ...] = ()
        self.cap_rdf: tuple[int, ...] = ()

    def __call__(self, structure: Structure):
        nb, self.cap = fixed_capacity_lists(structure, self.cutoffs, 0.1 * max(self.cutoffs), self.cap,
                                            images=True)
        idx, self.cap_rdf = fixed_capacity_lists(structure, [self.reach], 0.0, self.cap_rdf)
        return tuple(jnp.asarray(i) for i in nb), jnp.asarray(idx[0])


def _spectra(potential, grids: Grids, W, b):
    """The exact PDOS ``y(x)`` and the surrogate ``W g(x) + b`` at a structure with given lists."""
    grid, r = jnp.asarray(grids.freq), np.asarray(grids.r)
    Wm = None if W is None else jnp.asarray(np.asarray(W).reshape(len(grid), -1))
    bm = None if b is None else jnp.asarray(b)

    def y_exact(s, nb, idx):
        return pdos(potential, s, grid, grids.freq_sigma, nbrs=nb, partial=False, backend="jax").total

    def y_lin(s, nb, idx):
        return Wm @ rdf(s, r, grids.r_sigma, idx).total + bm

    return y_exact, y_lin


@validate({
    "route": [Options("exact", "linear")],
    "k": [Real(0, None, closed="neither"), "a restraint spring constant > 0 (energy / length²), e.g. 2.0"],
    "k_end": [None, Real(0, None, closed="neither"), "the last step's spring constant > 0, or None for k"],
    "steps": [Integral(1, None), "a positive number of Adam steps, e.g. 20"],
    "learning_rate": [Real(0, None, closed="neither"), "an Adam step size > 0 (length), e.g. 0.01"],
    "fmax": [Real(0, None, closed="neither"), "the restrained relaxation's force tolerance, e.g. 1e-8"],
    "final_fmax": [Real(0, None, closed="neither"), "the final relaxation's force tolerance, e.g. 1e-6"],
    "probe_every": [Integral(1, None), "a positive number of steps between probes, e.g. 1"],
})
def design_on_landscape(
    potential: Potential,
    structure: Structure,
    target,
    grids: Grids,
    *,
    route: str = "exact",
    W=None,
    b=None,
    k: float = 2.0,
    k_end: float | None = None,
    steps: int = 20,
    learning_rate: float = 0.01,
    fmax: float = 1e-8,
    final_fmax: float = 1e-6,
    probe_every: int = 1,
    callback: Callable[[int, float], None] | None = None,
) -> LandscapeDesignResult:
    """Move ``structure`` (at a minimum) so its PDOS approaches ``target`` through restrained minima.

    Adam on the reference positions ``R`` of the restraint (start: ``R`` = the starting positions, so
    the first ``x*`` is the start), gradient ``dL/dR = k (H + k I)⁻¹ ∂L/∂x*`` (see the module). Every
    ``probe_every`` steps and after the last one, ``x*`` is relaxed without the restraint (L-BFGS to
    ``final_fmax``) and the route's loss is evaluated at that minimum; the result is the minimum with
    the lowest route loss (the start if none is lower), so the exact and the surrogate route each
    choose with their own model. With ``k_end`` the spring constant falls geometrically from ``k``
    (first step) to ``k_end`` (last step). ``route="linear"`` needs the map's physical weights ``W``
    ``(F, R)`` (``F`` = len(grids.freq), ``R`` = len(grids.r)) and ``b`` ``(F,)``.
    ``callback(step, loss)`` is called after every step. Call outside ``jax.jit`` (the relaxations run
    on the host).
    """
    require_x64("jaxglass.design.design_on_landscape")
    if route == "linear" and (W is None or b is None):
        raise UserError("W, b: the linear route needs the model's physical weights (W, b)")
    structure = as_f64(structure)
    potential.check(structure)
    target = jnp.asarray(target, jnp.float64)
    if target.shape != (len(grids.freq),):
        raise UserError(f"target: expected a PDOS of shape ({len(grids.freq)},) on grids.freq, "
                        f"got {target.shape}")
    tnorm = jnp.sum(target**2)
    y_exact, y_lin = _spectra(potential, grids, W, b)
    y_route = y_exact if route == "exact" else y_lin

    def route_loss(x, nb, idx):
        return jnp.sum((y_route(structure.with_positions(x), nb, idx) - target) ** 2) / tnorm

    def distance(s):
        y = pdos(potential, s, grids.freq, grids.freq_sigma, partial=False, backend="host").total
        return float(jnp.sqrt(jnp.sum((y - target) ** 2) / tnorm))

    run = _Run(potential, structure, _Lists(potential, float(np.max(grids.r)) + 5.0 * grids.r_sigma),
               jax.jit(jax.value_and_grad(route_loss)), jax.jit(route_loss), fmax, final_fmax)
    t0 = time.perf_counter()
    ks = np.geomspace(k, k if k_end is None else k_end, steps + 1)
    R, x = run.descend(ks, learning_rate, probe_every, callback)
    seconds = time.perf_counter() - t0
    best = run.best
    return LandscapeDesignResult(
        best.structure, np.asarray(R), distance(structure), distance(structure.with_positions(x)),
        distance(best.structure), float(best.fmax), bool(best.converged), tuple(run.losses),
        tuple(run.probes), tuple(run.shifts), steps, seconds, route,
    )


class _Run:
    """One design run: the Adam loop on ``R`` (:meth:`descend`) and the probes of plain minima."""

    def __init__(self, potential, structure, lists, loss_grad, loss, fmax, final_fmax):
        self.potential, self.structure, self.lists = potential, structure, lists
        self.loss_grad, self.loss, self.fmax, self.final_fmax = loss_grad, loss, fmax, final_fmax
        self.losses: list[float] = []
        self.probes: list[float] = []
        self.shifts: list[float] = []
        res = minimize(potential, structure, method="lbfgs", fmax=final_fmax)
        self.best, self.best_loss = res, self._loss_at(res.structure)
        self.start = np.asarray(res.structure.positions)

    def _loss_at(self, s):
        nb, idx = self.lists(s)
        return float(self.loss(s.positions, nb, idx))

    def probe(self, x):
        """Relax ``x`` without the restraint; keep it if the route's loss there is the lowest so far."""
        res = minimize(self.potential, self.structure.with_positions(x), method="lbfgs", fmax=self.final_fmax)
        val = self._loss_at(res.structure) if res.converged else float("inf")
        self.probes.append(val)
        s = self.structure
        dx = displacement(np.asarray(res.structure.positions) - self.start, np.asarray(s.box), s.periodic)
        dx = dx - np.where(np.asarray(s.periodic), dx.mean(axis=0), 0.0)
        self.shifts.append(float(np.max(np.linalg.norm(dx, axis=1))))
        if val < self.best_loss:
            self.best, self.best_loss = res, val

    def _restrained(self, s, k, nb):
        """``R -> x*(R)`` restrained with ``k``, relaxed from ``s`` (at that minimum: no steps)."""
        return lambda r: biased_minimum(self.potential, s, r, k, fmax=self.fmax, nbrs=nb)

    def descend(self, ks, learning_rate, probe_every, callback):
        """``len(ks) - 1`` Adam steps on ``R`` (spring constant ``ks[step]``); returns ``(R, x*(R))``."""
        import optax

        opt = optax.adam(learning_rate)
        R = x = self.structure.positions
        state, steps = opt.init(R), len(ks) - 1
        for step, k in enumerate(float(v) for v in ks):
            x = biased_minimum(self.potential, self.structure.with_positions(x), R, k, fmax=self.fmax)
            if step == steps or (step and step % probe_every == 0):
                self.probe(x)
            if step == steps:
                return R, x
            s = self.structure.with_positions(x)
            nb, idx = self.lists(s)
            val, gx = self.loss_grad(x, nb, idx)
            (gR,) = jax.vjp(self._restrained(s, k, nb), R)[1](gx)
            self.losses.append(float(val))
            if callback is not None:
                callback(step, float(val))
            upd, state = opt.update(gR, state, R)
            R = optax.apply_updates(R, upd)
