"""Gaussian-smoothed radial distribution functions (total and partial), differentiable in positions.

For species a, b the smoothed partial RDF on a grid r is

    g_ab(r) = V / (N_a N_b) · Σ_{i∈a} Σ_{j∈b, j≠i} G_σ(r − r_ij) / S_d(r_ij),

with G_σ a unit-area Gaussian, S_3(r) = 4πr² and S_2(r) = 2πr the shell measure, and V the volume
(area in 2D). The total RDF is g(r) = V/N² Σ_{i≠j} G_σ(r − r_ij)/S_d(r_ij) = Σ_ab c_a c_b g_ab(r).
Normalising each Gaussian by the shell measure at the *pair* distance (not the grid point) keeps the
estimator finite at small r and smooth in the positions; as σ → 0 it converges to the usual
histogram estimator. An ideal gas gives g → 1.

Dimension of the normalisation = number of periodic axes: a 2D sheet in a 3D box with a vacuum
axis (amorphous monolayer carbon) uses the areal density and S_2.

How it is computed (O(pairs) work, O(N) memory):

* Pairs are unique pairs (from host k-d trees, slab by slab, :func:`rdf_pairs`, or taken from a
  padded ``(N, K)`` neighbour list), processed in fixed-size chunks inside ``lax.scan``. Without
  ``idx``, :func:`rdf` streams the slabs' pairs through the accumulation in fixed-size blocks (the
  host search of the next slab overlaps the device work), so the pair list is never held whole.
* Binned moments: every pair lands in a fine bin of width h = σ/4 (centre c_k = k h) and adds
  w_ij u^m / m! (m < M, u = (r_ij − c_k)/σ ∈ [−1/8, 1/8], w_ij = 1/S_d(r_ij)) to that bin: one
  scatter-add of M numbers per pair, whatever the length of the r grid. Taylor expansion of the
  Gaussian about the bin centre gives exactly

      G_σ(r − r_ij) = Σ_m u^m/m! · He_m(x) G_σ(r − c_k),   x = (r − c_k)/σ,

  (He_m the probabilists' Hermite polynomials), so the smoothed g(r) is a fixed banded contraction
  of the bin moments (bins within 9σ of r). With M = 10 in float64 (6 in float32) the truncation
  error is below 3e-13 (1e-7) of the Gaussian's peak; the window drops terms below e^{-40}.
* The gradient is a ``jax.custom_vjp``: the backward pass recomputes each chunk's per-pair moments
  and pulls the cotangent of the bin moments back to the pair vectors (Σ_pairs ∂g/∂r_ij · r̂_ij),
  scatter-added into an (N, d) buffer, so no per-pair quantity is stored between passes.
  Forward-mode autodiff (``jax.jvp``/``jacfwd``) is not available through this custom VJP.
* When the grid ``r`` is traced (not a concrete array), the per-pair Gaussians are evaluated at
  every grid point instead (same chunking and custom VJP, O(pairs × R) work).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .errors import UserError
from .neighbors import check_box, neighbor_list
from .space import displacement
from .structure import Structure, check_finite
from .validation import Integral, memory_check, nonnegative, positive, smoothing_width, validate

#: Fine-bin width in units of σ, Gaussian window half-width in σ, moments per bin (float64, float32).
_BIN = 0.25
_WINDOW = 9.0
_MOMENTS = {jnp.dtype("float64"): 10, jnp.dtype("float32"): 6}
#: Target number of pairs per scan step (memory per step ≈ pairs × (M + 2d) numbers).
_CHUNK_PAIRS = 1 << 14


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class RDF:
    """``r`` ``(R,)``, ``total`` ``(R,)`` and ``partial`` ``(S, S, R)`` (symmetric in the species)."""

    r: jax.Array
    total: jax.Array
    partial: jax.Array
    species_names: tuple[str, ...] = dataclasses.field(metadata=dict(static=True))


def norm_dim(structure: Structure) -> int:
    """Dimension used for the RDF normalisation: the number of periodic axes (2 or 3)."""
    nd = int(sum(structure.periodic))
    if nd < 2:
        raise UserError(
            f"structure.periodic: the RDF needs at least two periodic axes, got {structure.periodic}"
        )
    return nd


def rdf_neighbors(structure: Structure, r_max: float, sigma: float) -> np.ndarray:
    """Neighbour list reaching ``r_max + 5σ`` so Gaussians near ``r_max`` are complete (host)."""
    return neighbor_list(structure, float(r_max) + 5.0 * float(sigma))


def rdf_pairs(structure: Structure, r_max: float, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs within ``r_max + 5σ`` as two int32 arrays (host k-d trees, slab by slab).

    The compact alternative to :func:`rdf_neighbors` (half the pairs, no padding); pass it as
    ``idx`` to :func:`rdf` to jit or differentiate with a fixed pair set.
    """
    blocks = list(_pair_blocks(structure, float(r_max) + 5.0 * float(sigma)))
    if not blocks:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])


#: Atoms per slab of the host pair search (bounds its temporary memory; ~60 pairs per atom at
#: the lj3d grid's reach), and the size from which slabs are searched in parallel threads.
_SLAB_ATOMS = 40_000
_THREAD_MIN_ATOMS = 5_000


def _workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


def _pair_blocks(structure: Structure, reach: float):
    """Yield the unique pairs within ``reach`` (minimum image) slab by slab as int32 ``(i, j)``.

    The cell is cut into slabs along its longest periodic axis; each slab's k-d tree holds its
    atoms plus a halo of width ``reach`` below it (unwrapped, non-periodic along the cut axis), and
    keeps the pairs with at least one atom in the slab, so every pair is found exactly once and the
    temporaries scale with the slab, not the system. Slabs are searched by a thread pool (scipy's
    pair query releases the GIL), at most one slab per thread ahead of the consumer.
    """
    from scipy.spatial import cKDTree

    check_box(structure, reach)
    pos = np.array(structure.positions, dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise UserError("positions: non-finite coordinates; cannot search for pairs")
    box = np.array(structure.box, dtype=np.float64)
    per = np.asarray(structure.periodic)
    n = pos.shape[0]
    pos[:, per] = np.mod(pos[:, per], box[per])
    size = box.copy()
    for a in np.nonzero(~per)[0]:  # non-periodic axes: shift to 0, box large enough never to wrap
        pos[:, a] -= pos[:, a].min()
        size[a] = pos[:, a].max() + 2.0 * reach + 1.0
    pos = np.where(pos >= size, 0.0, pos)  # cKDTree wants coordinates strictly below the box
    ax = int(np.argmax(np.where(per, box, -1.0))) if per.any() else 0
    workers = _workers() if n >= _THREAD_MIN_ATOMS else 1
    n_slabs = 1
    if per[ax]:
        n_slabs = max(1, min(max(-(-n // _SLAB_ATOMS), workers), int(box[ax] // (2.0 * reach))))
    if n_slabs == 1:
        pairs = cKDTree(pos, boxsize=size).query_pairs(reach, output_type="ndarray")
        if len(pairs):
            yield pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)
        return
    width = box[ax] / n_slabs
    x = pos[:, ax]
    sub_size = size.copy()
    sub_size[ax] = width + 3.0 * reach + 1.0

    def slab(k):
        lo = k * width
        hi = box[ax] if k == n_slabs - 1 else (k + 1) * width
        core = np.nonzero((x >= lo) & (x < hi))[0]
        # halo: atoms within reach below the slab, unwrapped to sit just below it
        shifted = np.mod(x - (lo - reach), box[ax])
        halo = np.nonzero(shifted < reach)[0]
        halo = halo[(x[halo] < lo) | (x[halo] >= hi)]
        idx = np.concatenate([core, halo])
        p = pos[idx].copy()
        p[:, ax] = np.concatenate([x[core] - lo + reach, shifted[halo]])
        pairs = cKDTree(p, boxsize=sub_size).query_pairs(reach, output_type="ndarray")
        pairs = pairs[(pairs[:, 0] < len(core)) | (pairs[:, 1] < len(core))]
        return idx[pairs[:, 0]].astype(np.int32), idx[pairs[:, 1]].astype(np.int32)

    if workers == 1:
        for k in range(n_slabs):
            yield slab(k)
        return
    from collections import deque

    pool = _search_pool(workers, os.getpid())  # a forked child gets its own pool
    ahead = deque(pool.submit(slab, k) for k in range(min(workers, n_slabs)))
    nxt = len(ahead)
    while ahead:
        res = ahead.popleft().result()
        if nxt < n_slabs:
            ahead.append(pool.submit(slab, nxt))
            nxt += 1
        yield res


@functools.lru_cache(maxsize=4)
def _search_pool(workers: int, pid: int):
    """One long-lived thread pool per size for the slab search: fresh threads on every call would
    each get a new malloc arena, and the process's memory would grow call after call (glibc)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jaxglass-rdf-pairs")


class _Plan(NamedTuple):
    """Static description of one accumulation (hashable: a ``custom_vjp`` non-diff argument)."""

    binned: bool
    nd: int  # normalisation dimension
    n_sp: int
    periodic: tuple[bool, ...]
    sigma: float
    h: float  # fine-bin width (binned)
    k_lo: int  # global index of the first fine bin (binned)
    n_fine: int  # number of fine bins (binned)
    n_mom: int  # moments per bin (binned)
    n_rows: int  # accumulator rows
    width: int  # accumulator row width


def _pair_terms(plan: _Plan, r, xi, xj, box, si, sj, valid):
    """Accumulator row and row values of each pair in a chunk (rows out of range are dropped)."""
    dr = displacement(xj - xi, box, plan.periodic)
    d2 = jnp.sum(dr * dr, axis=-1)
    d = jnp.sqrt(jnp.where(valid, d2, 1.0))
    shell = 4.0 * jnp.pi * d**2 if plan.nd == 3 else 2.0 * jnp.pi * d
    w = jnp.where(valid, 1.0 / shell, 0.0)
    ab = si * plan.n_sp + sj
    if plan.binned:
        kk = jnp.round(jax.lax.stop_gradient(d) / plan.h)
        u = (d - kk * plan.h) / plan.sigma
        k = kk.astype(jnp.int32) - plan.k_lo
        ok = valid & (k >= 0) & (k < plan.n_fine)
        row = jnp.where(ok, ab * plan.n_fine + k, plan.n_rows)
        cols = [w]
        for m in range(1, plan.n_mom):
            cols.append(cols[-1] * u / m)
        vals = jnp.stack(cols, axis=-1)
    else:
        inv = 1.0 / (plan.sigma * math.sqrt(2.0 * math.pi))
        vals = jnp.exp(-0.5 * ((r[None, :] - d[:, None]) / plan.sigma) ** 2) * (inv * w[:, None])
        row = jnp.where(valid, ab, plan.n_rows)
    return row, vals


def _gather(pos, sp, ii, jj):
    n = pos.shape[0]
    valid = (ii < n) & (jj < n)
    i = jnp.where(valid, ii, 0)
    j = jnp.where(valid, jj, 0)
    return i, j, valid, pos[i], pos[j], sp[i], sp[j]


def _accumulate_impl(plan, pos, box, r, sp, ii, jj):
    def body(acc, c):
        i, j, valid, xi, xj, si, sj = _gather(pos, sp, *c)
        row, vals = _pair_terms(plan, r, xi, xj, box, si, sj, valid)
        return acc.at[row].add(vals, mode="drop"), None

    acc0 = jnp.zeros((plan.n_rows, plan.width), pos.dtype)
    acc, _ = jax.lax.scan(body, acc0, (ii, jj))
    return acc


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _accumulate(plan, pos, box, r, sp, ii, jj):
    """Σ over pairs of the row values, as an ``(n_rows, width)`` array (chunked over ``ii``/``jj``)."""
    return _accumulate_impl(plan, pos, box, r, sp, ii, jj)


def _accumulate_fwd(plan, pos, box, r, sp, ii, jj):
    return _accumulate_impl(plan, pos, box, r, sp, ii, jj), (pos, box, r, sp, ii, jj)


def _accumulate_bwd(plan, res, ct):
    pos, box, r, sp, ii, jj = res

    def body(carry, c):
        gpos, gbox = carry
        i, j, valid, xi, xj, si, sj = _gather(pos, sp, *c)

        def vals_of(xi, xj, box):
            return _pair_terms(plan, r, xi, xj, box, si, sj, valid)[1]

        row = _pair_terms(plan, r, xi, xj, box, si, sj, valid)[0]
        ct_vals = ct.at[row].get(mode="fill", fill_value=0.0)
        _, pull = jax.vjp(vals_of, xi, xj, box)
        gxi, gxj, gb = pull(ct_vals)
        gpos = gpos.at[i].add(gxi).at[j].add(gxj)
        return (gpos, gbox + gb), None

    (gpos, gbox), _ = jax.lax.scan(body, (jnp.zeros_like(pos), jnp.zeros_like(box)), (ii, jj))
    return gpos, gbox, None, None, None, None


_accumulate.defvjp(_accumulate_fwd, _accumulate_bwd)


def _hermite_kernel(r: np.ndarray, sigma: float, h: float, k_lo: int, n_fine: int, n_mom: int):
    """Host: bin index ``(R, 2W+1)`` and kernel He_m(x) G_σ(r − c_k) ``(R, 2W+1, M)`` (0 off-range)."""
    half = int(math.ceil(_WINDOW * sigma / h)) + 1
    kk = np.rint(r / h).astype(np.int64)[:, None] + np.arange(-half, half + 1)[None, :]
    x = (r[:, None] - kk * h) / sigma
    k = kk - k_lo
    ok = (k >= 0) & (k < n_fine) & (np.abs(x) <= _WINDOW + 1.0)
    g = np.exp(-0.5 * x * x) / (sigma * math.sqrt(2.0 * math.pi))
    he = [np.ones_like(x), x]
    for m in range(1, n_mom - 1):
        he.append(x * he[m] - m * he[m - 1])
    kern = np.stack(he[:n_mom], axis=-1) * np.where(ok, g, 0.0)[..., None]
    return np.where(ok, k, 0), kern


def _bucket(k: int) -> int:
    """Round a chunk count up to a few values per octave (≤ 9 % padding) so that structures with
    slightly different pair counts share one compiled program."""
    if k <= 8:
        return max(k, 1)
    e = math.ceil(8 * math.log2(k))
    while math.ceil(2 ** ((e - 1) / 8)) >= k:
        e -= 1
    return max(k, math.ceil(2 ** (e / 8)))


def _chunked(ii, jj, n: int, chunk: int):
    """Pad pair arrays with the invalid index ``n`` to ``(n_chunks, chunk)`` (bucketed count)."""
    p = ii.shape[0]
    c = max(1, min(chunk, 64 * _bucket(-(-p // 64))))
    pad = _bucket(-(-max(p, 1) // c)) * c - p
    ii = jnp.pad(jnp.asarray(ii, jnp.int32), (0, pad), constant_values=n).reshape(-1, c)
    jj = jnp.pad(jnp.asarray(jj, jnp.int32), (0, pad), constant_values=n).reshape(-1, c)
    return ii, jj


def _half_pairs(idx, n: int):
    """Unique pairs ``i < j`` of a symmetric ``(N, K)`` neighbour list (host if concrete)."""
    if isinstance(idx, jax.core.Tracer):
        idx = jnp.asarray(idx, jnp.int32)
        i = jnp.broadcast_to(jnp.arange(n, dtype=jnp.int32)[:, None], idx.shape)
        keep = (idx < n) & (idx > i)
        return jnp.where(keep, i, n).ravel(), jnp.where(keep, idx, n).ravel()
    idx = np.asarray(idx)
    if idx.ndim != 2 or idx.shape[0] != n:
        raise UserError(
            f"idx: expected an (N, K) neighbour list with N = {n} (from rdf_neighbors) or a pair "
            f"tuple (i, j) (from rdf_pairs), got shape {idx.shape}"
        )
    i, k = np.nonzero((idx < n) & (idx > np.arange(n)[:, None]))
    return i.astype(np.int32), idx[i, k].astype(np.int32)


@functools.partial(jax.jit, static_argnums=(0,))
def _accumulate_jit(plan: _Plan, pos, box, r, sp, ii, jj):
    return _accumulate(plan, pos, box, r, sp, ii, jj)


def _finish(plan: _Plan, n: int, acc, box, sp, kidx, kern):
    """Contract the moments with the Hermite kernel (binned), symmetrise, normalise."""
    n_sp = plan.n_sp
    if plan.binned:
        mom = acc.reshape(n_sp * n_sp, plan.n_fine, plan.n_mom)
        acc = jnp.einsum("srwm,rwm->sr", mom[:, kidx, :], kern)
    acc = acc.reshape(n_sp, n_sp, -1)
    acc = acc + jnp.swapaxes(acc, 0, 1)  # unique pairs → ordered pairs (i, j) and (j, i)
    per = np.asarray(plan.periodic)
    volume = jnp.prod(jnp.where(jnp.asarray(per), box, 1.0))
    counts = jnp.sum(jax.nn.one_hot(sp, n_sp, dtype=acc.dtype), axis=0)  # (S,)
    denom = counts[:, None] * counts[None, :]
    partial = jnp.where(denom[..., None] > 0, volume * acc / jnp.maximum(denom, 1.0)[..., None], 0.0)
    total = volume * jnp.sum(acc, axis=(0, 1)) / (n * n)
    return total, partial


_finish_jit = jax.jit(_finish, static_argnums=(0, 1))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _rdf_core(plan: _Plan, n: int, pos, box, r, sp, ii, jj, kidx, kern):
    """Accumulate over the given pairs and finish: (total, partial), differentiable."""
    return _finish(plan, n, _accumulate(plan, pos, box, r, sp, ii, jj), box, sp, kidx, kern)


#: Pairs per call when ``rdf`` searches the pairs itself (slab by slab, overlapping the host search
#: with the accumulation of the previous block).
_STREAM_PAIRS = 1 << 21


def _streamed(plan: _Plan, structure: Structure, reach: float, pos, box, r, sp, chunk: int):
    """Moments summed over host pair blocks, dispatched in fixed-size calls (one compiled shape)."""
    n = structure.n_atoms
    c = min(chunk, _STREAM_PAIRS)
    full = -(-_STREAM_PAIRS // c) * c
    acc = None
    buf_i: list[np.ndarray] = []
    buf_j: list[np.ndarray] = []
    held = 0

    def add(acc, ii, jj):
        part = _accumulate_jit(plan, pos, box, r, sp, *_chunked(ii, jj, n, c))
        return part if acc is None else acc + part

    for bi, bj in _pair_blocks(structure, reach):
        buf_i.append(bi)
        buf_j.append(bj)
        held += len(bi)
        if held >= full:
            ii, jj = np.concatenate(buf_i), np.concatenate(buf_j)
            for start in range(0, held - full + 1, full):
                acc = add(acc, ii[start : start + full], jj[start : start + full])
            rest = held - held % full
            buf_i, buf_j, held = [ii[rest:]], [jj[rest:]], held % full
    if held or acc is None:
        ii = np.concatenate(buf_i) if buf_i else np.zeros(0, np.int32)
        jj = np.concatenate(buf_j) if buf_j else np.zeros(0, np.int32)
        acc = add(acc, ii, jj)
    return acc


def _kernel_bytes(n_r: int, n_mom: int = 10) -> float:
    """Bytes of the host Hermite kernel and bin indices of an ``n_r``-point grid (:func:`_hermite_kernel`)."""
    width = 2 * (int(math.ceil(_WINDOW / _BIN)) + 1) + 1
    return float(n_r) * width * (8 * n_mom + 8 + 8)


def _fine_bins(r_lo: float, r_hi: float, sigma: float) -> tuple[float, int, int]:
    """``(h, k_lo, n_fine)``: the fine bins of width ``h = σ/4`` that a g(r) on ``[r_lo, r_hi]`` sums
    pairs into (every bin a Gaussian window reaches)."""
    h = _BIN * sigma
    reach = _WINDOW * sigma + h
    k_lo = max(0, int(math.floor((r_lo - reach) / h)))
    return h, k_lo, int(math.ceil((r_hi + reach) / h)) + 1 - k_lo


def _fine_bytes(n_fine: int, n_sp: int, n_mom: int) -> float:
    return 8.0 * n_sp * n_sp * n_fine * n_mom


@validate({
    "r_min": [nonnegative, "the first r of the grid (length unit of the positions), e.g. 0"],
    "r_max": [positive, "the last r of the grid (length unit of the positions), e.g. 6"],
    "n_r": [Integral(2, None), "the number of grid points, e.g. 300"],
    "sigma": [None, smoothing_width, "the Gaussian smoothing width the g(r) will use, e.g. 0.05"],
})
def r_grid(r_min: float, r_max: float, n_r: int, sigma: float | None = None) -> np.ndarray:
    """The ``n_r``-point grid from ``r_min`` to ``r_max`` of :func:`rdf`, checked (``0 <= r_min <
    r_max``, ``n_r >= 2``, and the memory an RDF on it needs: its kernel, and with ``sigma`` the fine
    bins of one species pair, a lower bound) before it is allocated."""
    if not r_min < r_max:
        raise UserError(f"r_min/r_max: need r_min < r_max, got {r_min:g} and {r_max:g}")
    memory_check("n_r", _kernel_bytes(n_r), f"a g(r) on {n_r} grid points", "use fewer points (e.g. 300)")
    if sigma is not None:
        n_fine = _fine_bins(float(r_min), float(r_max), float(sigma))[2]
        memory_check("sigma/r_max", _fine_bytes(n_fine, 1, 10),  # the bins grow as r_max / sigma
                     f"a g(r) up to r = {r_max:g} with sigma = {sigma:g} ({float(n_fine):.3g} fine bins of "
                     "width sigma/4)", "widen sigma or shorten the grid (r_max)")
    return np.linspace(float(r_min), float(r_max), int(n_r))


def _concrete_plan(structure: Structure, r_host: np.ndarray, sigma: float, dtype, nd: int, n_sp: int):
    """``(plan, kidx, kern)`` of a concrete grid: fine bins of width σ/4 with Hermite moments, after a
    memory check of the bins and the kernel."""
    r_max = float(r_host.max())
    n_mom = _MOMENTS.get(jnp.dtype(dtype), 10)
    h, k_lo, n_fine = _fine_bins(float(r_host.min()), r_max, sigma)
    fine = _fine_bytes(n_fine, n_sp, n_mom)
    memory_check(
        "sigma" if fine > _kernel_bytes(r_host.size, n_mom) else "r",
        fine + _kernel_bytes(r_host.size, n_mom),
        f"a g(r) up to r = {r_max:g} with sigma = {sigma:g} ({float(n_fine):.3g} fine bins of width sigma/4, "
        f"{r_host.size} grid points)",
        "widen sigma, shorten the grid or use fewer grid points",
    )
    plan = _Plan(True, nd, n_sp, tuple(structure.periodic), sigma, h, k_lo, n_fine, n_mom,
                 n_sp * n_sp * n_fine, n_mom)
    kidx, kern = _hermite_kernel(r_host, sigma, h, k_lo, n_fine, n_mom)
    return plan, jnp.asarray(kidx, jnp.int32), jnp.asarray(kern, dtype)


@validate({
    "sigma": [smoothing_width, "the Gaussian smoothing width (length unit of the positions), e.g. 0.05"],
    "chunk": [None, Integral(1, None), "pairs per scan step, e.g. 16384"],
})
def rdf(
    structure: Structure,
    r: jax.Array,
    sigma: float,
    idx: jax.Array | tuple[jax.Array, jax.Array] | None = None,
    *,
    chunk: int | None = None,
) -> RDF:
    """Smoothed total and partial RDFs of ``structure`` on the grid ``r`` (pure given ``idx``).

    Args:
      r: ``(R,)`` grid (same length unit as positions).
      sigma: Gaussian smoothing width.
      idx: the pairs: a symmetric ``(N, K)`` neighbour list from :func:`rdf_neighbors`, or the
        unique pairs ``(i, j)`` from :func:`rdf_pairs` (compact, faster). If omitted, the pairs
        are searched on the host slab by slab and accumulated block by block (never the whole
        pair list: the least memory), which needs concrete positions (no ``jit``/``grad``/``vmap``
        over this call: pass ``rdf_pairs(...)`` for those).
      chunk: pairs per scan step (default 16384); memory per step is O(chunk).

    Pairs must reach ``max(r) + 5σ``; pairs beyond it may be present (they contribute only
    through their Gaussians' tails). Differentiable (reverse mode) in the positions and the box,
    not in ``r`` or ``sigma``.
    """
    sigma = float(sigma)
    n = structure.n_atoms
    nd = norm_dim(structure)
    n_sp = len(structure.species_names)
    pos = structure.positions
    dtype = jnp.result_type(pos)
    r_concrete = not isinstance(r, jax.core.Tracer)
    if r_concrete:
        r_host = np.asarray(r, dtype=np.float64)
        if r_host.ndim != 1 or r_host.size == 0 or not np.all(np.isfinite(r_host)):
            raise UserError(f"r: expected a non-empty 1D grid of finite distances, got shape {r_host.shape}")
        r_max = float(r_host.max())
    r = jnp.asarray(r, dtype)
    check_finite(structure, "rdf")
    stream = idx is None
    if stream:
        pos = jnp.asarray(pos)
        if not r_concrete:
            raise UserError("idx: pass rdf_pairs(...) when r is traced (the pairs need a concrete r_max)")
        if isinstance(pos, jax.core.Tracer):
            raise UserError(
                "idx: positions are traced (jit/grad/vmap): pass the pairs, "
                "idx=rdf_pairs(structure, r_max, sigma), built outside the transformation"
            )
    elif isinstance(idx, tuple | list):
        if len(idx) != 2:
            raise UserError(f"idx: a pair tuple (i, j) from rdf_pairs has 2 arrays, got {len(idx)}")
        ii, jj = _chunked(*idx, n, chunk or _CHUNK_PAIRS)
    else:
        ii, jj = _chunked(*_half_pairs(idx, n), n, chunk or _CHUNK_PAIRS)
    sp = jnp.asarray(structure.species, jnp.int32)

    box = jnp.asarray(structure.box)
    if r_concrete:
        plan, kidx, kern = _concrete_plan(structure, r_host, sigma, dtype, nd, n_sp)
    else:
        plan = _Plan(False, nd, n_sp, tuple(structure.periodic), sigma, 0.0, 0, 0, 0, n_sp * n_sp, r.shape[0])
        kidx = kern = None
    if stream:
        acc = _streamed(plan, structure, r_max + 5.0 * sigma, pos, box, r, sp, chunk or _CHUNK_PAIRS)
        total, partial = _finish_jit(plan, n, acc, box, sp, kidx, kern)
    else:
        total, partial = _rdf_core(plan, n, pos, box, r, sp, ii, jj, kidx, kern)
    return RDF(r=r, total=total, partial=partial, species_names=structure.species_names)


def coordination_number(r: np.ndarray, g: np.ndarray, density: float, r_cut: float, dim: int = 3) -> float:
    """Running coordination number n(r_cut) = ρ ∫_0^{r_cut} g(r) S_d(r) dr (host, trapezoid).

    >>> import numpy as np
    >>> r = np.linspace(0.0, 2.0, 2001)
    >>> round(coordination_number(r, np.ones_like(r), density=1.0, r_cut=1.0), 4)  # ideal gas: 4π/3
    4.1888
    """
    r = np.asarray(r)
    g = np.asarray(g)
    m = r <= r_cut
    shell = 4 * np.pi * r**2 if dim == 3 else 2 * np.pi * r
    return float(density * np.trapezoid(g[m] * shell[m], r[m]))
