"""Dense, padded neighbour lists.

A neighbour list is an ``(N, K)`` int32 array: row ``i`` holds the indices of the atoms within
``cutoff + skin`` of atom ``i`` (minimum image), padded with ``N``. This is the same convention as
``jax_md.partition`` in ``Dense`` format, so either builder can feed the potentials.

Lists are built on the host with a periodic k-d tree (``scipy.spatial.cKDTree``), O(N log N), and
are valid while no atom has moved more than ``skin / 2`` since the build.
"""

from __future__ import annotations

import numpy as np

from .structure import Structure, _kdtree


def check_box(structure: Structure, reach: float) -> None:
    """Minimum image needs every periodic cell length above ``2 * reach``."""
    box = np.asarray(structure.box)
    for ax, (length, per) in enumerate(zip(box, structure.periodic)):
        if per and length <= 2.0 * reach:
            raise ValueError(
                f"box: periodic length {length:.4g} along axis {ax} must exceed twice the interaction "
                f"range ({2 * reach:.4g}) for the minimum-image convention; replicate the cell "
                "(jaxglass.structure.replicate) to a larger supercell"
            )


def neighbor_list(
    structure: Structure,
    cutoff: float,
    *,
    skin: float = 0.0,
    capacity: int | None = None,
    multiple: int = 4,
) -> np.ndarray:
    """All neighbours within ``cutoff + skin`` of each atom, as an ``(N, K)`` padded index array.

    Args:
      structure: the atoms.
      cutoff: interaction range.
      skin: extra margin so the list stays valid for small displacements.
      capacity: fixed ``K`` (raises if too small); default is the largest count rounded up to a
        multiple of ``multiple`` (fewer distinct shapes, fewer recompilations).
    """
    if cutoff <= 0:
        raise ValueError(f"cutoff: must be positive, got {cutoff}")
    if skin < 0:
        raise ValueError(f"skin: must be non-negative, got {skin}")
    reach = float(cutoff) + float(skin)
    check_box(structure, reach)
    pos = np.asarray(structure.positions, dtype=np.float64)
    if not np.all(np.isfinite(pos)):
        raise ValueError("positions: non-finite coordinates; cannot build a neighbour list")
    n = pos.shape[0]
    tree, _ = _kdtree(pos, np.asarray(structure.box), structure.periodic, reach)
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
            raise ValueError(f"capacity: {k} is too small, an atom has {kmax} neighbours")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(src)) - starts[src]
    idx = np.full((n, k), n, dtype=np.int32)
    idx[src, slot] = dst
    return idx


def fixed_capacity_lists(
    structure: Structure, cutoffs, skin: float, capacity: tuple[int, ...] = (), headroom: float = 1.2
) -> tuple[tuple[np.ndarray, ...], tuple[int, ...]]:
    """One list per cutoff padded to a fixed width; returns ``(lists, capacity)``.

    ``capacity`` holds the widths of the previous call (empty at the first); a width grows (with
    ``headroom``) only when a list no longer fits, so jitted shapes stay fixed across rebuilds. The
    argument is not modified: pass the returned capacity to the next call.
    """
    out, cap = [], list(capacity)
    for t, cut in enumerate(cutoffs):
        idx = neighbor_list(structure, cut, skin=skin)
        if len(cap) <= t:
            cap.append(int(np.ceil(headroom * idx.shape[1] / 4) * 4))
        elif idx.shape[1] > cap[t]:
            cap[t] = int(np.ceil(headroom * idx.shape[1] / 4) * 4)
        out.append(np.pad(idx, ((0, 0), (0, cap[t] - idx.shape[1])), constant_values=len(idx)))
    return tuple(out), tuple(cap)


def pair_list(structure: Structure, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs ``i < j`` within ``cutoff`` (minimum image) as two index arrays."""
    check_box(structure, cutoff)
    tree, _ = _kdtree(np.asarray(structure.positions), np.asarray(structure.box), structure.periodic, cutoff)
    pairs = tree.query_pairs(cutoff, output_type="ndarray")
    if len(pairs) == 0:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    return pairs[:, 0].astype(np.int32), pairs[:, 1].astype(np.int32)
