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

from ._config import require_x64
from .errors import MinimizationError, UserError
from .neighbors import fixed_capacity_lists
from .potentials.base import Potential
from .space import displacement, wrap
from .structure import Structure
from .validation import Integral, force_tolerance, nonnegative, positive, validate


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


def _pair_reach(potential, structure: Structure) -> tuple:
    """Per term, ``(pair_cutoffs, species)`` for a site term with per-species-pair cutoffs, else None:
    such a term (the Vashishta three-body one) costs ∝ K² per atom, so its list keeps only the pairs
    within those + skin (a 1,000-atom a-SiC glass: 20 -> 8 slots; :func:`fixed_capacity_lists`)."""
    if all(t.pair_cutoffs is None for t in potential.terms):
        return ()
    sp = potential.species_map(structure)[np.asarray(structure.species)]
    return tuple(None if t.pair_cutoffs is None else (t.pair_cutoffs, sp) for t in potential.terms)


class _Evaluator:
    """Energy and gradient with neighbour lists that are rebuilt as atoms move (host side)."""

    def __init__(self, potential: Potential, structure: Structure, skin: float):
        self.potential = potential
        self.structure = structure
        self.skin = skin
        self.calls = 0
        self.rebuilds = 0
        self.capacity: tuple[int, ...] = ()
        self._rebuild(np.asarray(structure.positions))

    def _rebuild(self, positions: np.ndarray) -> None:
        s = self.structure.with_positions(jnp.asarray(positions))
        cutoffs = [t.cutoff for t in self.potential.terms]
        lists, self.capacity = fixed_capacity_lists(s, cutoffs, self.skin, self.capacity, images=True,
                                                    pair_reach=_pair_reach(self.potential, s))
        self.nbrs = tuple(jnp.asarray(i) for i in lists)
        self.ref = positions.copy()
        self.rebuilds += 1

    def _moved(self, positions: np.ndarray) -> float:
        dr = positions - self.ref
        dr = displacement(dr, np.asarray(self.structure.box), self.structure.periodic)
        return float(np.sqrt(np.max(np.sum(dr * dr, axis=1))))

    def __call__(self, positions: np.ndarray):
        if self._moved(positions) > 0.5 * self.skin:
            self._rebuild(positions)
        self.calls += 1
        e, g = _value_and_grad(self.potential, self.structure, jnp.asarray(positions), self.nbrs)
        return float(e), np.asarray(g)


@jax.jit
def _value_and_grad(potential: Potential, structure: Structure, positions, nbrs):
    """Energy and gradient. Module-level jit: compiled once per (potential form, shapes), reused
    across minimize calls. With :attr:`~jaxglass.potentials.base.Potential.explicit_forces` the
    gradient is ``-forces`` (no reverse pass): 72 -> 37 ms for a 1,000-atom Vashishta a-SiC glass
    on one core."""
    s = structure.with_positions(positions)
    if potential.explicit_forces:
        e, f = potential.energy_and_forces(s, nbrs)
        return e, -f
    return jax.value_and_grad(lambda x: potential.energy(structure.with_positions(x), nbrs))(positions)


def _fmax(grad: np.ndarray) -> float:
    return float(np.max(np.linalg.norm(grad, axis=1))) if grad.size else 0.0


@validate({
    "fmax": [force_tolerance, "the force tolerance (eV/Å; LJ: ε/σ), e.g. 1e-4"],
    "max_steps": [Integral(1, None), "the step budget of the relaxation, e.g. 20000"],
    "skin": [None, nonnegative, "the neighbour-list skin (length unit), e.g. 0.3"],
    "fire_dt": [None, positive, "the FIRE time step, e.g. 0.01"],
})
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
    require_x64("jaxglass.minimize.minimize")
    if method not in ("lbfgs", "fire"):
        raise UserError(f"method: expected 'lbfgs' or 'fire', got {method!r}")
    if not fmax > 0:
        raise UserError(f"fmax: must be positive, got {fmax}")
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
    x = wrap(x, np.asarray(structure.box), structure.periodic)
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


@dataclasses.dataclass(frozen=True)
class FireConfig:
    """FIRE parameters (Bitzek et al., PRL 97, 170201 (2006); unit masses).

    ``dt_max`` defaults to 4 ``dt`` (Bitzek's 10 ``dt`` exceeds the Verlet stability limit
    2/ω_max of dense LJ glasses: measured, fmax grew during polishing). ``max_step`` caps the move
    of any atom per step (as ASE caps FIRE's ``maxstep``); an energy rise resets the velocities and
    halves ``dt``.
    """

    dt: float = 0.005
    dt_max: float | None = None
    max_step: float = float("inf")
    n_min: int = 5
    f_inc: float = 1.1
    f_dec: float = 0.5
    a_start: float = 0.1
    f_a: float = 0.99

    @property
    def dt_cap(self) -> float:
        return 4.0 * self.dt if self.dt_max is None else float(self.dt_max)


def fire_init(x, cfg: FireConfig):
    """FIRE state ``(v, dt, a, n_pos)`` for positions ``x`` (numpy or jax arrays)."""
    xp = jnp if isinstance(x, jax.Array) else np
    return xp.zeros_like(x), cfg.dt, cfg.a_start, 0


def fire_step(x, state, e, f, energy_and_forces, cfg: FireConfig):
    """One FIRE step: mixing, velocity Verlet with a capped move, energy-rise reset.

    ``energy_and_forces(x) -> (e, f)``; works on numpy arrays in a host loop and on jax arrays inside
    ``jax.lax.while_loop`` (the one implementation behind :func:`minimize` and the AMC generator's
    Keating relaxations). Returns ``(x, state, e, f)``.
    """
    xp = jnp if isinstance(x, jax.Array) else np
    v, dt, a, n_pos = state
    p = xp.sum(f * v)
    vn, fn = xp.sqrt(xp.sum(v * v)), xp.sqrt(xp.sum(f * f))
    up = p > 0
    v = xp.where(up, (1 - a) * v + a * vn * f / xp.maximum(fn, 1e-300), 0.0)
    n_pos = xp.where(up, n_pos + 1, 0)
    grow = up & (n_pos > cfg.n_min)
    dt = xp.where(grow, xp.minimum(dt * cfg.f_inc, cfg.dt_cap), xp.where(up, dt, dt * cfg.f_dec))
    a = xp.where(grow, a * cfg.f_a, xp.where(up, a, cfg.a_start))
    v = v + 0.5 * dt * f
    dx = dt * v
    step_len = xp.sqrt(xp.max(xp.sum(dx * dx, axis=-1)))
    dx = dx * xp.minimum(1.0, cfg.max_step / xp.maximum(step_len, 1e-300))
    x = x + dx
    e_new, f_new = energy_and_forces(x)
    v = v + 0.5 * dt * f_new
    rise = e_new > e + 1e-12 * xp.maximum(1.0, xp.abs(e))
    v = xp.where(rise, 0.0, v)
    dt = xp.where(rise, dt * cfg.f_dec, dt)
    a = xp.where(rise, cfg.a_start, a)
    n_pos = xp.where(rise, 0, n_pos)
    return x, (v, dt, a, n_pos), e_new, f_new


def _fire(ev: _Evaluator, x0: np.ndarray, fmax: float, max_steps: int, dt: float | None):
    """FIRE (:func:`fire_step`) in a host loop over jitted gradients (neighbour lists rebuilt as needed).

    Steps are capped at 2 % of the potential's cutoff per atom, which keeps the first steps from
    overlapping starts stable.
    """
    cfg = FireConfig(dt=0.005 if dt is None else float(dt), max_step=0.02 * ev.potential.cutoff)

    def energy_and_forces(x):
        e, g = ev(x)
        return e, -g

    x = x0.copy()
    state = fire_init(x, cfg)
    e, f = energy_and_forces(x)
    steps = 0
    while steps < max_steps and _fmax(f) > fmax:
        x, state, e, f = fire_step(x, state, e, f, energy_and_forces, cfg)
        steps += 1
    return x, e, -f, steps, "fire"


# ---------------------------------------------------------------------------------------------
# Relaxation of positions and box lengths together


class _BoxEvaluator:
    """Enthalpy and its gradient in the generalised coordinates of :func:`minimize_with_box`.

    The state is an ``(N + 1, d)`` array: rows ``0..N-1`` hold ``u``, the positions measured in the
    starting box (``x_a = u_a s_a`` along a relaxed axis ``a``, ``x_a = u_a`` otherwise), and the
    first ``len(axes)`` entries of row ``N`` hold ``eta_a = c ln s_a``, with ``s_a = L_a / L0_a`` the
    box stretch and ``c`` the cell factor. The gradient row of ``eta_a`` is ``(dH/d ln L_a) / c``.
    """

    def __init__(self, potential, structure, axes, pressure, cell_factor, skin):
        self.potential = potential
        self.structure = structure
        self.axes = np.asarray(axes, dtype=int)
        self.pressure = float(pressure)
        self.c = float(cell_factor)
        self.skin = float(skin)
        self.box0 = np.asarray(structure.box, dtype=np.float64)
        self.calls = 0
        self.rebuilds = 0
        self.capacity: tuple[int, ...] = ()
        n, d = structure.positions.shape
        self.n, self.d = n, d
        self._axes = tuple(int(a) for a in axes)
        self._args = (structure, jnp.asarray(self.box0), jnp.float64(self.pressure), jnp.float64(self.c))
        u0 = np.asarray(structure.positions, dtype=np.float64)
        self._rebuild(u0, self.box0.copy())

    def stretch(self, eta: np.ndarray) -> np.ndarray:
        s = np.ones(self.d, dtype=np.float64)
        s[self.axes] = np.exp(eta / self.c)
        return s

    def _rebuild(self, x: np.ndarray, box: np.ndarray) -> None:
        s = self.structure.replace(positions=jnp.asarray(x), box=jnp.asarray(box))
        cutoffs = [t.cutoff for t in self.potential.terms]
        lists, self.capacity = fixed_capacity_lists(s, cutoffs, self.skin, self.capacity, images=True,
                                                    pair_reach=_pair_reach(self.potential, s))
        self.nbrs = tuple(jnp.asarray(i) for i in lists)
        self.ref_x = x.copy()
        self.ref_box = box.copy()
        self.rebuilds += 1

    def _stale(self, x: np.ndarray, box: np.ndarray) -> bool:
        # A pair outside the list at the build stays beyond the cutoff while
        # 2 max|non-affine displacement| + max|strain| (cutoff + skin) < skin.
        ratio = box / self.ref_box
        dr = displacement(x - self.ref_x * ratio, box, self.structure.periodic)
        move = float(np.sqrt(np.max(np.sum(dr * dr, axis=1))))
        strain = float(np.max(np.abs(ratio - 1.0)))
        return 2.0 * move + strain * (self.potential.cutoff + self.skin) > self.skin

    def split(self, X: np.ndarray):
        X = np.asarray(X, dtype=np.float64).reshape(self.n + 1, self.d)
        return X[: self.n], X[self.n, : len(self.axes)].copy()

    def cartesian(self, X: np.ndarray):
        u, eta = self.split(X)
        s = self.stretch(eta)
        return u * s, self.box0 * s

    def __call__(self, X: np.ndarray):
        u, eta = self.split(X)
        x, box = self.cartesian(X)
        if self._stale(x, box):
            self._rebuild(x, box)
        self.calls += 1
        h, (gu, geta) = _box_enthalpy_vg(
            self._axes, self.potential, jnp.asarray(u), jnp.asarray(eta), self.nbrs, *self._args
        )
        G = np.zeros((self.n + 1, self.d))
        G[: self.n] = np.asarray(gu)
        G[self.n, : len(self.axes)] = np.asarray(geta)
        return float(h), G

    def residuals(self, X: np.ndarray, G: np.ndarray) -> tuple[float, float]:
        """(largest Cartesian force norm, largest |dH/d ln L_a| / N) at state ``X``."""
        _, eta = self.split(X)
        s = self.stretch(eta)
        f = _fmax(G[: self.n] / s)
        box_res = float(np.max(np.abs(G[self.n, : len(self.axes)]))) * self.c / self.n
        return f, box_res


def _box_enthalpy(axes, potential, u, eta, nbrs, structure, box0, pressure, c):
    s = jnp.ones(box0.shape, box0.dtype).at[jnp.asarray(axes)].set(jnp.exp(eta / c))
    box = box0 * s
    st = structure.replace(positions=u * s, box=box)
    return potential.energy(st, nbrs) + pressure * jnp.prod(box)


# Module level, the potential a PyTree argument: repeated calls with any potential of the same form
# reuse the compiled function (a generator relaxing many structures compiles once).
_box_enthalpy_vg = jax.jit(jax.value_and_grad(_box_enthalpy, argnums=(2, 3)), static_argnums=(0,))


def _check_box_args(potential, structure, axes, fmax, pressure, cell_factor) -> tuple[tuple[int, ...], float]:
    """Validate :func:`minimize_with_box`'s arguments; returns the axes as ints and the cell factor."""
    if not fmax > 0:
        raise UserError(f"fmax: must be positive, got {fmax}")
    potential.check(structure)
    d = structure.dim
    axes = tuple(int(a) for a in np.atleast_1d(axes))
    if not axes or len(set(axes)) != len(axes) or any(a < 0 or a >= d for a in axes):
        raise UserError(f"axes: expected distinct box axes in [0, {d}), got {axes}")
    for a in axes:
        if not structure.periodic[a]:
            raise UserError(
                f"axes: axis {a} is not periodic (a vacuum/free direction); only periodic box lengths "
                "can be relaxed"
            )
    if not np.isfinite(pressure):
        raise UserError(f"pressure: must be finite, got {pressure}")
    c = float(structure.n_atoms if cell_factor is None else cell_factor)
    if not c > 0:
        raise UserError(f"cell_factor: must be positive, got {cell_factor}")
    return axes, c


def _relax_box(ev: _BoxEvaluator, structure: Structure, fmax: float, max_steps: int):
    """L-BFGS (+ FIRE polish) on the generalised coordinates until the Cartesian criteria hold.

    Returns the coordinates ``X``, the force and box residuals, the step count and the last message.
    """
    X = np.zeros((structure.n_atoms + 1, structure.dim))
    X[:-1] = np.asarray(structure.positions)
    steps, msg = 0, ""
    f = box_res = np.inf
    # The optimisers judge the generalised gradient (rows of u scale forces by L/L0); iterate until
    # the exact Cartesian criteria hold, tightening the internal tolerance if they do not.
    tol = fmax
    for _ in range(4):
        X, _h, G, n_lb, msg = _lbfgs(ev, X, tol, max_steps - steps)
        steps += n_lb
        if _fmax(G) > tol and steps < max_steps:
            X, _h, G, more, _ = _fire(ev, X, tol, max_steps - steps, None)
            steps += more
            msg = f"{msg}; then FIRE polish ({more} steps)"
        f, box_res = ev.residuals(X, G)
        if max(f, box_res) <= fmax or steps >= max_steps:
            break
        tol *= 0.5
    return X, f, box_res, steps, msg


def minimize_with_box(
    potential: Potential,
    structure: Structure,
    *,
    axes: tuple[int, ...] = (0, 1),
    fmax: float = 1e-4,
    max_steps: int = 20000,
    pressure: float = 0.0,
    skin: float | None = None,
    cell_factor: float | None = None,
    raise_on_fail: bool = False,
) -> MinimizeResult:
    """Relax atomic positions and the box lengths along ``axes`` together (orthorhombic cell).

    Minimises the enthalpy ``H = E + pressure * V`` (``V`` the product of all box lengths; for a
    sheet with a vacuum axis ``pressure * L_z`` acts as a 2D tension) over the positions and the
    box lengths ``L_a`` of the periodic axes ``axes``; the other box lengths are kept (e.g. the
    vacuum of a sheet). L-BFGS (scipy, JAX gradients) runs on the generalised coordinates

    * ``u``: positions in the starting box, the Cartesian ones being ``x_a = u_a L_a / L0_a``
      (a homogeneous deformation, as in ASE's ``ExpCellFilter``/``UnitCellFilter``);
    * ``eta_a = c ln(L_a / L0_a)`` with the cell factor ``c`` (default ``N``), so the box gradient
      is ``(dH/d ln L_a) / c`` -- a strain derivative per atom, comparable with atomic forces;

    and is polished by FIRE on the same coordinates if it stalls at round-off. Neighbour lists are
    rebuilt whenever the non-affine displacement plus the strain since the last build could bring a
    new pair inside the cutoff.

    Converged means: largest atomic force norm ``<= fmax`` (eV/Å) *and* ``|dH/d ln L_a| / N <=
    fmax`` (eV per atom) for every relaxed axis -- the per-atom stress residual times the volume.
    For graphene with LB Tersoff (2D modulus ~21 eV/Å²), ``fmax = 1e-4`` pins the lattice
    constant to ~1e-5 Å.

    Args:
      axes: box axes to relax (each must be periodic; a vacuum axis cannot be relaxed).
      pressure: external pressure (eV/Å³ for metal units); 0 relaxes the stress to zero.
      cell_factor: ``c`` above (default: the number of atoms).

    Returns:
      A :class:`MinimizeResult` whose ``structure`` has the relaxed box (positions wrapped into it)
      and ``energy`` the potential energy ``E`` (not the enthalpy); ``fmax`` is the larger of the
      two residuals above; ``method`` is ``"lbfgs+box"``; ``message`` reports the box and the
      stress residual.
    """
    require_x64("jaxglass.minimize.minimize_with_box")
    axes, c = _check_box_args(potential, structure, axes, fmax, pressure, cell_factor)
    structure = structure.replace(
        positions=jnp.asarray(structure.positions, jnp.float64), box=jnp.asarray(structure.box, jnp.float64)
    )
    if skin is None:
        skin = 0.1 * potential.cutoff
    ev = _BoxEvaluator(potential, structure, axes, pressure, c, skin)
    X, f, box_res, steps, msg = _relax_box(ev, structure, fmax, max_steps)
    x, box = ev.cartesian(X)
    res_f = max(f, box_res)
    converged = res_f <= fmax
    box_txt = ", ".join(f"L{a} = {box[a]:.6f}" for a in axes)
    if not converged:
        msg = (
            f"lbfgs+box did not converge: force {f:.3e}, box residual |dH/dlnL|/N {box_res:.3e} > "
            f"tolerance {fmax:.1e} after {steps} steps ({ev.calls} force calls; last status: {msg}). "
            "Try more steps (max_steps) or check the structure for overlapping atoms."
        )
        if raise_on_fail:
            raise MinimizationError(msg)
    else:
        msg = f"{msg}; box {box_txt}; box residual |dH/dlnL|/N = {box_res:.2e} eV"
    x = wrap(x, box, structure.periodic)
    out = structure.replace(positions=jnp.asarray(x), box=jnp.asarray(box))
    h, _ = ev(X)  # the lists are current for X
    energy = h - float(pressure) * float(np.prod(box))
    return MinimizeResult(out, energy, res_f, steps, ev.calls, bool(converged), "lbfgs+box", msg)
