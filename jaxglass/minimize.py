"""Energy minimisation to a true minimum: L-BFGS (covalent networks, default) and FIRE (LJ).

Both work on JAX energies and gradients (float64) with neighbour lists carrying a skin; the lists
are rebuilt whenever an atom has moved more than half the skin since the last build, so the energy
being minimised is always the exact one. Convergence is judged by the largest per-atom force norm
``fmax`` (eV/Å, or ε/σ in LJ units). A run that does not converge returns ``converged=False`` with
a message, or raises :class:`MinimizationError` when ``raise_on_fail=True``.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from ._config import enable_x64
from .neighbors import neighbor_list
from .potentials.base import Potential
from .structure import Structure


class MinimizationError(RuntimeError):
    """Raised when a minimisation does not reach its force tolerance."""


@dataclasses.dataclass(frozen=True)
class MinimizeResult:
    structure: Structure
    energy: float
    fmax: float
    n_steps: int
    n_force_calls: int
    converged: bool
    method: str
    message: str


class _Evaluator:
    """Energy and gradient with neighbour lists that are rebuilt as atoms move (host side)."""

    def __init__(self, potential: Potential, structure: Structure, skin: float):
        self.potential = potential
        self.structure = structure
        self.skin = skin
        self.calls = 0
        self.rebuilds = 0
        self.capacity: list[int] = []
        self._vg = jax.jit(jax.value_and_grad(self._energy), static_argnums=())
        self._rebuild(np.asarray(structure.positions))

    def _energy(self, positions, nbrs):
        return self.potential.energy(self.structure.with_positions(positions), nbrs)

    def _rebuild(self, positions: np.ndarray) -> None:
        s = self.structure.with_positions(jnp.asarray(positions))
        lists = []
        # Fixed capacities with 20 % headroom keep the jitted shapes (no recompilation per rebuild);
        # a list that outgrows its capacity gets a new one (and one recompilation).
        for t, term in enumerate(self.potential.terms):
            idx = neighbor_list(s, term.cutoff, skin=self.skin)
            if len(self.capacity) <= t:
                self.capacity.append(int(np.ceil(1.2 * idx.shape[1] / 4) * 4))
            elif idx.shape[1] > self.capacity[t]:
                self.capacity[t] = int(np.ceil(1.2 * idx.shape[1] / 4) * 4)
            lists.append(
                np.pad(idx, ((0, 0), (0, self.capacity[t] - idx.shape[1])), constant_values=len(idx))
            )
        self.nbrs = tuple(jnp.asarray(i) for i in lists)
        self.ref = positions.copy()
        self.rebuilds += 1

    def _moved(self, positions: np.ndarray) -> float:
        dr = positions - self.ref
        per = np.asarray(self.structure.periodic)
        box = np.asarray(self.structure.box)
        dr = np.where(per, dr - box * np.round(dr / box), dr)
        return float(np.sqrt(np.max(np.sum(dr * dr, axis=1))))

    def __call__(self, positions: np.ndarray):
        if self._moved(positions) > 0.5 * self.skin:
            self._rebuild(positions)
        self.calls += 1
        e, g = self._vg(jnp.asarray(positions), self.nbrs)
        return float(e), np.asarray(g)


def _fmax(grad: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(grad, axis=1))) if grad.size else 0.0


def minimize(
    potential: Potential,
    structure: Structure,
    *,
    method: str = "lbfgs",
    fmax: float = 1e-4,
    max_steps: int = 20000,
    skin: float | None = None,
    raise_on_fail: bool = False,
    fire_dt: float | None = None,
) -> MinimizeResult:
    """Relax atomic positions at fixed box until the largest force norm is below ``fmax``.

    Args:
      method: ``"lbfgs"`` (scipy L-BFGS-B on JAX gradients, robust on covalent networks; polished
        by FIRE if it stalls at the round-off floor of the energy before reaching ``fmax``) or
        ``"fire"`` (FIRE, Bitzek et al. PRL 97, 170201 (2006); good for LJ glasses).
      fmax: force tolerance (eV/Å, or reduced units).
      max_steps: iteration cap.
      skin: neighbour-list skin (default 0.1 × cutoff).
    """
    enable_x64()
    if method not in ("lbfgs", "fire"):
        raise ValueError(f"method: expected 'lbfgs' or 'fire', got {method!r}")
    if not fmax > 0:
        raise ValueError(f"fmax: must be positive, got {fmax}")
    potential.check(structure)
    structure = structure.replace(
        positions=jnp.asarray(structure.positions, jnp.float64), box=jnp.asarray(structure.box, jnp.float64)
    )
    if skin is None:
        skin = 0.1 * potential.cutoff
    ev = _Evaluator(potential, structure, skin)
    x0 = np.asarray(structure.positions, dtype=np.float64)
    if method == "lbfgs":
        x, e, g, steps, msg = _lbfgs(ev, x0, fmax, max_steps)
        if _fmax(g) > fmax and steps < max_steps:
            # L-BFGS stops where energy differences reach round-off; FIRE needs forces only.
            x, e, g, more, msg2 = _fire(ev, x, fmax, max_steps - steps, None)
            steps += more
            msg = f"{msg}; then FIRE polish ({more} steps)"
    else:
        x, e, g, steps, msg = _fire(ev, x0, fmax, max_steps, fire_dt)
    f = _fmax(g)
    converged = f <= fmax
    if not converged:
        msg = (
            f"{method} did not converge: fmax = {f:.3e} > tolerance {fmax:.1e} after {steps} steps "
            f"({ev.calls} force calls; last status: {msg}). Try more steps (max_steps), the other "
            "method, or check the structure for overlapping atoms."
        )
        if raise_on_fail:
            raise MinimizationError(msg)
    per = np.asarray(structure.periodic)
    box = np.asarray(structure.box)
    x = np.where(per, np.mod(x, box), x)
    out = structure.with_positions(jnp.asarray(x))
    return MinimizeResult(out, e, f, steps, ev.calls, bool(converged), method, msg)


def _lbfgs(ev: _Evaluator, x0: np.ndarray, fmax: float, max_steps: int):
    from scipy.optimize import minimize as sp_minimize

    shape = x0.shape
    x = x0.ravel()
    steps = 0
    msg = ""
    e, g = ev(x.reshape(shape))
    # Restart L-BFGS when the line search gives up before the force tolerance (round-off floor
    # of the energy): the fresh memory usually gets the last orders of magnitude.
    for _ in range(20):
        if _fmax(g) <= fmax or steps >= max_steps:
            break

        def fun(flat):
            e, g = ev(flat.reshape(shape))
            return e, g.ravel()

        res = sp_minimize(
            fun,
            x,
            jac=True,
            method="L-BFGS-B",
            options=dict(maxiter=max_steps - steps, gtol=fmax / np.sqrt(shape[1]) / 4, ftol=1e-16, maxcor=20),
        )
        steps += int(res.nit)
        msg = str(res.message)
        if np.allclose(res.x, x) and res.nit <= 1:
            x = res.x
            e, g = ev(x.reshape(shape))
            break
        x = res.x
        e, g = ev(x.reshape(shape))
    return x.reshape(shape), e, g, steps, msg


def _fire(ev: _Evaluator, x0: np.ndarray, fmax: float, max_steps: int, dt: float | None):
    """FIRE with unit masses (Bitzek et al. 2006 parameters), host loop over jitted gradients.

    Steps are capped at 2 % of the potential's cutoff per atom (as ASE caps FIRE's ``maxstep``),
    which keeps the first steps from overlapping starts stable.
    """
    max_step = 0.02 * ev.potential.cutoff
    dt = 0.005 if dt is None else float(dt)
    dt_max = 10 * dt
    n_min, f_inc, f_dec, a_start, f_a = 5, 1.1, 0.5, 0.1, 0.99
    x = x0.copy()
    v = np.zeros_like(x)
    a = a_start
    since_neg = 0
    e, g = ev(x)
    steps = 0
    while steps < max_steps and _fmax(g) > fmax:
        f = -g
        p = float(np.sum(f * v))
        if p > 0:
            vn, fn = np.linalg.norm(v), np.linalg.norm(f)
            v = (1 - a) * v + a * vn * f / max(fn, 1e-300)
            since_neg += 1
            if since_neg > n_min:
                dt = min(dt * f_inc, dt_max)
                a *= f_a
        else:
            v[:] = 0.0
            dt *= f_dec
            a = a_start
            since_neg = 0
        # velocity Verlet with unit masses; no atom moves more than max_step per step
        v = v + 0.5 * dt * f
        dx = dt * v
        step_len = float(np.sqrt(np.max(np.sum(dx * dx, axis=1))))
        if step_len > max_step:
            dx *= max_step / step_len
        x = x + dx
        e, g = ev(x)
        v = v + 0.5 * dt * (-g)
        steps += 1
    return x, e, g, steps, "fire"
