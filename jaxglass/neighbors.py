"""Dense, padded neighbour lists.

A neighbour list is an ``(N, K)`` int32 array: row ``i`` holds the indices of the atoms within
``cutoff + skin`` of atom ``i`` (minimum image), padded with ``N``. This is the same convention as
``jax_md.partition`` in ``Dense`` format, so either builder can feed the potentials.

Lists are built on the host with a periodic k-d tree (``scipy.spatial.cKDTree``), O(N log N), and
are valid while no atom has moved more than ``skin / 2`` since the build.

Small periodic cells (a periodic length not above twice the interaction range) need more than the
minimum image: an atom interacts with several images of the same neighbour, and with its own
images. :func:`image_neighbor_list` handles them with an *image list*, an ``(N, K, 1 + d)`` int32
array whose last axis holds the neighbour index ``j`` and the integer image shift ``n``, so the
neighbour vector is ``x_j + n * box - x_i`` (raw positions, no minimum image; padding ``[N, 0, ...]``).
Such a list is valid for the positions it was built from (up to ``skin / 2`` moves): rebuild it
after wrapping positions back into the cell. :func:`neighbor_list` returns one only when asked
(``images=True``), and keeps the ``(N, K)`` minimum-image fast path for cells that do not need it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .errors import UserError
from .space import displacement, periodic_kdtree
from .structure import Structure


def check_box(structure: Structure, reach: float) -> None:
    """Minimum image needs every periodic cell length above ``2 * reach``."""
    box = np.asarray(structure.box)
    for ax, (length, per) in enumerate(zip(box, structure.periodic)):
        if per and length <= 2.0 * reach:
            raise UserError(
                f"box: periodic length {length:.4g} along axis {ax} must exceed twice the interaction "
                f"range ({2 * reach:.4g}) for the minimum-image convention; replicate the cell "
                "(jaxglass.structure.replicate) to a larger supercell"
            )


def needs_images(structure: Structure, reach: float) -> bool:
    """True if some periodic cell length is not above ``2 * reach`` (minimum image is not enough)."""
    box = np.asarray(structure.box)
    return any(per and length <= 2.0 * reach for length, per in zip(box, structure.periodic))


def neighbor_list(
    structure: Structure,
    cutoff: float,
    *,
    skin: float = 0.0,
    capacity: int | None = None,
    multiple: int = 4,
    images: bool = False,
) -> np.ndarray:
    """All neighbours within ``cutoff + skin`` of each atom, as an ``(N, K)`` padded index array.

    Args:
      structure: the atoms.
      cutoff: interaction range.
      skin: extra margin so the list stays valid for small displacements.
      capacity: fixed ``K`` (raises if too small); default is the largest count rounded up to a
        multiple of ``multiple`` (fewer distinct shapes, fewer recompilations).
      images: if the cell is too short for the minimum image along a periodic axis, return an
        ``(N, K, 1 + d)`` image list (:func:`image_neighbor_list`) instead of raising.
    """
    if cutoff <= 0:
        raise UserError(f"cutoff: must be positive, got {cutoff}")
    if skin < 0:
        raise UserError(f"skin: must be non-negative, got {skin}")
    reach = float(cutoff) + float(skin)
    if images and needs_images(structure, reach):
        return image_neighbor_list(structure, cutoff, skin=skin, capacity=capacity, multiple=multiple)
    check_box(structure, reach)
    pos = np.asarray(structure.positions, dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise UserError("positions: non-finite coordinates; cannot build a neighbour list")
    n = pos.shape[0]
    tree = periodic_kdtree(pos, np.asarray(structure.box), structure.periodic, reach)
    pairs = tree.query_pairs(reach, output_type="ndarray")
    if len(pairs) == 0:
        k = capacity if capacity is not None else max(multiple, 1)
        return np.full((n, k), n, dtype=np.int32)
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    order = np.lexsort((dst, src))
    src, dst = src[order], dst[order]
    counts = np.bincount(src, minlength=n)
    kmax = int(counts.max())
    if capacity is None:
        k = max(multiple, int(np.ceil(kmax / multiple) * multiple))
    else:
        k = int(capacity)
        if kmax > k:
            raise UserError(f"capacity: {k} is too small, an atom has {kmax} neighbours")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(src)) - starts[src]
    idx = np.full((n, k), n, dtype=np.int32)
    idx[src, slot] = dst
    return idx


def image_neighbor_list(
    structure: Structure,
    cutoff: float,
    *,
    skin: float = 0.0,
    capacity: int | None = None,
    multiple: int = 4,
    max_block: int = 4_000_000,
) -> np.ndarray:
    """Neighbours over all periodic images within ``cutoff + skin``: ``(N, K, 1 + d)`` int32.

    Row ``i`` lists ``[j, n_1, ..., n_d]`` for every atom ``j`` and integer image shift ``n`` with
    ``|x_j + n * box - x_i| < cutoff + skin`` (``(j, n) != (i, 0)``), so an atom may appear several
    times, itself included (its own images). Positions are taken as they are (not wrapped); padding
    rows are ``[N, 0, ..., 0]``. Works for any cell size (cost O(N² × images), in blocks of rows of
    at most ``max_block`` distances); :func:`neighbor_list` stays the fast path for large cells.
    """
    if cutoff <= 0:
        raise UserError(f"cutoff: must be positive, got {cutoff}")
    if skin < 0:
        raise UserError(f"skin: must be non-negative, got {skin}")
    reach = float(cutoff) + float(skin)
    pos = np.asarray(structure.positions, dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise UserError("positions: non-finite coordinates; cannot build a neighbour list")
    n, d = pos.shape
    box = np.asarray(structure.box, dtype=np.float64)
    per = np.asarray(structure.periodic, dtype=bool)
    # x = w + c * box with w in the cell and c integer (periodic axes); images are searched for the
    # wrapped differences and converted back to shifts of the raw positions.
    cell = np.where(per, np.floor(pos / box), 0.0)
    w = pos - cell * box
    m = np.where(per, np.ceil(reach / box).astype(int) + 1, 0)
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in m], indexing="ij")
    shifts = np.stack([g.ravel() for g in grids], axis=1)  # (M, d)
    offsets = shifts * box
    rows = max(1, int(max_block // max(1, n * len(shifts))))
    found_i, found_j, found_s = [], [], []
    for start in range(0, n, rows):
        i_blk = np.arange(start, min(n, start + rows))
        diff = w[None, :, :] - w[i_blk, None, :]  # (b, N, d)
        dist2 = np.sum((diff[:, :, None, :] + offsets[None, None, :, :]) ** 2, axis=-1)  # (b, N, M)
        hit = dist2 < reach * reach
        zero = int(np.flatnonzero(np.all(shifts == 0, axis=1))[0])
        hit[np.arange(len(i_blk)), i_blk, zero] = False  # the atom itself
        bi, bj, bm = np.nonzero(hit)
        gi = i_blk[bi]
        found_i.append(gi)
        found_j.append(bj)
        found_s.append(shifts[bm] - cell[bj].astype(int) + cell[gi].astype(int))
    src = np.concatenate(found_i)
    dst = np.concatenate(found_j)
    sft = np.concatenate(found_s).reshape(-1, d)
    counts = np.bincount(src, minlength=n)
    kmax = int(counts.max()) if len(src) else 0
    if capacity is None:
        k = max(multiple, int(np.ceil(kmax / multiple) * multiple))
    else:
        k = int(capacity)
        if kmax > k:
            raise UserError(f"capacity: {k} is too small, an atom has {kmax} neighbours (with images)")
    out = np.zeros((n, k, 1 + d), dtype=np.int32)
    out[:, :, 0] = n
    if len(src):
        order = np.lexsort((*sft.T[::-1], dst, src))
        src, dst, sft = src[order], dst[order], sft[order]
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        slot = np.arange(len(src)) - starts[src]
        out[src, slot, 0] = dst
        out[src, slot, 1:] = sft
    return out


def within_pair_reach(structure: Structure, idx: np.ndarray, reach, species: np.ndarray) -> np.ndarray:
    """The entries of a padded list ``idx`` (``(N, K)`` minimum image or ``(N, K, 1 + d)`` with image
    shifts, padding ``N``) within ``reach[a][b]`` of their row's atom (``a, b``: the two atoms'
    ``species`` indices into the table), compacted to the left in their order and cut to the widest
    row (host, numpy). A Verlet list of a term with per-species-pair ranges: built with
    ``reach = pair cutoffs + skin``, it holds every pair that can come within its pair cutoff before
    an atom has moved half the skin."""
    n = structure.n_atoms
    pos, box = np.asarray(structure.positions, np.float64), np.asarray(structure.box, np.float64)
    j = np.minimum(idx[..., 0] if idx.ndim == 3 else idx, n - 1)
    d = pos[j] - pos[:, None, :]
    if idx.ndim == 3:
        d = d + idx[..., 1:] * box
    else:
        d = np.asarray(displacement(d, box, structure.periodic))
    sp = np.asarray(species)
    first = idx[..., 0] if idx.ndim == 3 else idx
    keep = (first < n) & (np.sum(d * d, axis=-1) < np.asarray(reach, np.float64)[sp[:, None], sp[j]] ** 2)
    order = np.argsort(~keep, axis=1, kind="stable")  # kept entries first, in their order
    width = max(int(keep.sum(axis=1).max(initial=0)), 1)
    cols = order[:, :width, None] if idx.ndim == 3 else order[:, :width]
    out = np.take_along_axis(idx, cols, axis=1).copy()
    drop = ~np.take_along_axis(keep, order[:, :width], axis=1)
    if idx.ndim == 3:
        out[drop] = np.concatenate([[n], np.zeros(idx.shape[2] - 1, out.dtype)])
    else:
        out[drop] = n
    return out


def fixed_capacity_lists(
    structure: Structure,
    cutoffs,
    skin: float,
    capacity: tuple[int, ...] = (),
    headroom: float = 1.2,
    images: bool = False,
    pair_reach: tuple = (),
) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """One list per cutoff padded to a fixed width; returns ``(lists, capacity)``.

    ``capacity`` holds the widths of the previous call (empty at the first); a width grows (with
    ``headroom``) only when a list no longer fits, so jitted shapes stay fixed across rebuilds. The
    argument is not modified: pass the returned capacity to the next call. ``images``: allow image
    lists for small cells (see :func:`neighbor_list`; only for callers that do not wrap positions
    between rebuilds). ``pair_reach``: per cutoff, ``None`` or ``(table, species)``: keep only the
    entries within ``table[a][b] + skin`` (:func:`within_pair_reach`; a site term's pair cutoffs).
    """
    out, cap = [], list(capacity)
    for t, cut in enumerate(cutoffs):
        idx = neighbor_list(structure, cut, skin=skin, images=images)
        if t < len(pair_reach) and pair_reach[t] is not None:
            table, species = pair_reach[t]
            idx = within_pair_reach(structure, idx, np.asarray(table, np.float64) + skin, species)
        if len(cap) <= t:
            cap.append(int(np.ceil(headroom * idx.shape[1] / 4) * 4))
        elif idx.shape[1] > cap[t]:
            cap[t] = int(np.ceil(headroom * idx.shape[1] / 4) * 4)
        widths = ((0, 0), (0, cap[t] - idx.shape[1])) + ((0, 0),) * (idx.ndim - 2)
        padded = np.pad(idx, widths, constant_values=len(idx))
        if idx.ndim == 3:
            padded[:, idx.shape[1] :, 1:] = 0  # padding rows [N, 0, ..., 0]
        out.append(padded)
    return tuple(out), tuple(cap)


def pair_list(structure: Structure, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs ``i < j`` within ``cutoff`` (minimum image) as two index arrays."""
    check_box(structure, cutoff)
    pos, box = np.asarray(structure.positions), np.asarray(structure.box)
    tree = periodic_kdtree(pos, box, structure.periodic, cutoff)
    pairs = tree.query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)


# -- device builders (inside jit: the MD loop rebuilds its lists without leaving the device) ----------


def _compact(cand: jax.Array, hit: jax.Array, capacity: int, fill: int) -> tuple[jax.Array, jax.Array]:
    """Row-wise stream compaction: the ``cand`` entries where ``hit``, padded with ``fill`` to
    ``capacity`` columns; also the largest row count (a list overflowed if it exceeds ``capacity``).

    ``cand`` and ``hit`` come as ``(rows, 32, W)`` (:func:`_blocked`): entry ``[k, w]`` is bit ``k`` of
    the 32-bit word ``w``. Sort-free and scatter-free: the words are packed by 32 vectorised ORs, and
    output slot ``s`` finds its word from the running word counts and its bit by a 5-step binary
    search on population counts ("select" on a bit vector; G. Jacobson, FOCS 1989, 549).
    """
    rows, _, nw = cand.shape
    words = jnp.zeros((rows, nw), jnp.uint32)
    for k in range(32):
        words = words | (hit[:, k, :].astype(jnp.uint32) << k)
    per_word = jax.lax.population_count(words).astype(jnp.int32)
    incl = jnp.cumsum(per_word, axis=1)
    slots = jnp.arange(capacity, dtype=jnp.int32)
    w = jnp.minimum(jnp.sum(incl[:, None, :] <= slots[None, :, None], axis=-1, dtype=jnp.int32), nw - 1)
    word = jnp.take_along_axis(words, w, axis=1)
    r = slots[None, :] - (jnp.take_along_axis(incl, w, axis=1) - jnp.take_along_axis(per_word, w, axis=1))
    bit = jnp.zeros_like(r)
    for step in (16, 8, 4, 2, 1):
        below = jax.lax.population_count(word & ((jnp.uint32(1) << (bit + step).astype(jnp.uint32)) - 1))
        bit = jnp.where(below.astype(jnp.int32) <= r, bit + step, bit)
    out = jnp.take_along_axis(cand.reshape(rows, 32 * nw), bit * nw + w, axis=1)
    total = incl[:, -1]
    return jnp.where(slots[None, :] < total[:, None], out, fill).astype(jnp.int32), jnp.max(total)


def _blocked(cand: jax.Array, fill: int) -> jax.Array:
    """``(..., m)`` candidates padded with ``fill`` and laid out as ``(..., 32, ceil(m / 32))``."""
    m = cand.shape[-1]
    nw = max(1, -(-m // 32))
    pad = [(0, 0)] * (cand.ndim - 1) + [(0, nw * 32 - m)]
    return jnp.pad(cand, pad, constant_values=fill).reshape(*cand.shape[:-1], 32, nw)


#: Rows per block of a device list build (keeps each block's candidate bits in cache).
ROW_BLOCK = 512


def _by_rows(rows_fn, n: int):
    """``rows_fn(i) -> (idx (B, K), max_count)`` over all ``n`` rows in blocks of :data:`ROW_BLOCK`
    (``i`` past ``n`` are padding rows, cut off here)."""
    if n <= ROW_BLOCK:
        return rows_fn(jnp.arange(n))
    nb = -(-n // ROW_BLOCK)
    idx, cnt = jax.lax.map(rows_fn, jnp.arange(nb * ROW_BLOCK).reshape(nb, ROW_BLOCK))
    return idx.reshape(nb * ROW_BLOCK, -1)[:n], jnp.max(cnt)


def cell_grid(box, periodic, reach: float) -> tuple[int, ...] | None:
    """Cells per axis for a cell list of cell side ``>= reach`` (host; ``box`` concrete), or ``None``
    when some axis holds fewer than 3 cells (then every cell is a neighbour cell: use all pairs)."""
    box = np.asarray(box, dtype=np.float64)
    m = np.floor(box / reach).astype(int)
    if not all(periodic) or np.any(m < 3):
        return None
    return tuple(int(v) for v in m)


def device_neighbor_fn(box, periodic, reach: float, capacity: int, *, cells: tuple[int, ...] | None = None,
                       cell_capacity: int = 0):
    """A jit-compatible builder ``build(R) -> (idx, max_count)`` of the ``(N, capacity)`` padded
    minimum-image list within ``reach`` (the host :func:`neighbor_list` convention, padding ``N``;
    the order within a row differs).

    ``cells`` (from :func:`cell_grid`) selects the O(N) cell-list search: atoms binned into cells of
    side ``>= reach``, each atom's candidates are the atoms of its 3^d neighbouring cells
    (``cell_capacity`` slots per cell; a fuller cell shows as ``max_count > capacity``, the caller's
    overflow signal; Allen & Tildesley, *Computer Simulation of Liquids*, 2nd ed. (2017), §5.3).
    Without ``cells`` every pair is tested, O(N²), faster up to several thousand atoms. Either way
    the caller compares ``max_count`` with ``capacity`` and reallocates wider on overflow.
    """
    per = tuple(bool(p) for p in periodic)
    r2max = float(reach) ** 2

    def hits(R, i, cand, bx):
        """``cand`` ``(len(i) or 1, 32, W)``: which candidates lie within ``reach`` of atoms ``i``."""
        n = R.shape[0]
        real = (cand < n) & (cand != i[:, None, None])
        xj = R[jnp.minimum(cand, n - 1)]  # padding: any atom, masked by ``real``
        d2 = jnp.sum(displacement(xj - R[jnp.minimum(i, n - 1)][:, None, None, :], bx, per) ** 2, axis=-1)
        return real & (d2 < r2max)

    def all_pairs(R):
        n = R.shape[0]
        cand = _blocked(jnp.arange(n, dtype=jnp.int32), n)[None]  # (1, 32, W)

        def rows(i):
            hit = hits(R, i, cand, jnp.asarray(box, R.dtype))
            return _compact(jnp.broadcast_to(cand, hit.shape), hit, capacity, n)

        return _by_rows(rows, n)

    if cells is None:
        return all_pairs
    m = np.asarray(cells)
    d = len(m)
    strides = np.concatenate([[1], np.cumprod(m[:-1])]).astype(np.int32)
    offs = np.stack(np.meshgrid(*[np.arange(-1, 2)] * d, indexing="ij"), -1).reshape(-1, d)

    def cell_list(R):
        n = R.shape[0]
        bx = jnp.asarray(box, R.dtype)
        c3 = jnp.clip(jnp.floor(jnp.mod(R, bx) / bx * m).astype(jnp.int32), 0, m - 1)  # (N, d)
        cid = c3 @ strides
        order = jnp.argsort(cid)
        sorted_c = cid[order]
        start = jnp.searchsorted(sorted_c, jnp.arange(int(np.prod(m)), dtype=jnp.int32))
        rank = jnp.arange(n, dtype=jnp.int32) - start[sorted_c]
        table = jnp.full((int(np.prod(m)), cell_capacity), n, jnp.int32)
        table = table.at[sorted_c, rank].set(order.astype(jnp.int32), mode="drop")

        def rows(i):
            neigh = jnp.mod(c3[jnp.minimum(i, n - 1)][:, None, :] + offs[None, :, :], m) @ strides  # (B, 3^d)
            cand = _blocked(table[neigh].reshape(len(i), -1), n)  # (B, 32, W)
            return _compact(cand, hits(R, i, cand, bx), capacity, n)

        idx, cnt = _by_rows(rows, n)
        over = jnp.max(rank) >= cell_capacity
        return idx, jnp.where(over, capacity + 1, cnt)

    return cell_list


def device_sublist_fn(box, periodic, reach, capacity: int):
    """A jit-compatible filter ``sub(R, idx, sp=None) -> (idx_sub, max_count)``: the entries of a
    padded minimum-image list ``idx`` ``(N, K)`` (padding ``N``) that lie within ``reach`` of their
    row's atom at positions ``R``, in their order, compacted to ``capacity`` columns (padding ``N``).
    ``reach`` is a distance, or a species x species table of them read at ``sp[i], sp[j]`` (``sp``
    ``(N,)`` the atoms' species indices).

    A list of a shorter range from a longer one without a new search: the MD engine derives a short
    three-body list from the two-body list at each rebuild, and the slots inside a site term's own
    cutoff from its list at each step. Complete when ``idx`` holds every neighbour within ``reach``;
    the caller compares ``max_count`` with ``capacity`` (overflow) as for :func:`device_neighbor_fn`.
    """
    per = tuple(bool(p) for p in periodic)
    r2 = np.asarray(reach, dtype=np.float64) ** 2

    def sub(R, idx, sp=None):
        n = R.shape[0]
        bx = jnp.asarray(box, R.dtype)
        r2max = jnp.asarray(r2, R.dtype)

        def rows(i):
            i = jnp.minimum(i, n - 1)  # rows past n (block padding) are cut off by _by_rows
            cand = _blocked(idx[i], n)  # (B, 32, W)
            j = jnp.minimum(cand, n - 1)
            d2 = jnp.sum(displacement(R[j] - R[i][:, None, None, :], bx, per) ** 2, axis=-1)
            lim = r2max if r2max.ndim == 0 else r2max[sp[i][:, None, None], sp[j]]
            return _compact(cand, (cand < n) & (d2 < lim), capacity, n)

        return _by_rows(rows, n)

    return sub
