"""Ring statistics of sp2 networks (amorphous monolayer carbon) from their geometry.

Bonds are pairs closer than a cutoff (1.85 Å for carbon: between the first, 1.42 Å, and second,
2.46 Å, neighbour shells of graphene). Two counts: the faces of the planar embedding (what images
of AMC show) and King's shortest-path rings (no embedding needed).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from ..errors import UserError
from ..neighbors import pair_list
from ..space import displacement
from ..structure import Structure

__all__ = ["ring_statistics"]


def _plane_axes(structure: Structure) -> list[int]:
    """The sheet's plane: its two periodic axes, or (all three periodic) the two along which the
    atoms spread most, or the two axes of a 2D structure."""
    if structure.dim == 2:
        return [0, 1]
    per = [a for a, p in enumerate(structure.periodic) if p]
    if len(per) == 2:
        return per
    pos = np.asarray(structure.positions)
    normal = int(np.argmin(pos.max(axis=0) - pos.min(axis=0)))
    return [a for a in range(3) if a != normal]


def ring_statistics(
    structure: Structure,
    *,
    cutoff: float = 1.85,
    method: str = "faces",
    max_size: int = 12,
) -> dict[str, Any]:
    """Ring-size statistics of a carbon sheet from its geometry (bonds: pairs closer than ``cutoff`` Å).

    The sheet's plane (for ``"faces"``) is spanned by its two periodic axes (or, in a fully
    periodic cell, by the two axes along which the atoms spread most); rings that wind around the
    periodic box (non-contractible cycles) are never counted.

    Methods:

    * ``"faces"`` (default): the polygons of the sheet, i.e. the faces of its planar embedding,
      with each atom's bonds ordered by angle in the plane of the periodic axes (a buckled sheet is
      projected). Each bond borders two faces and each face is one ring, so for a 3-coordinated
      network the faces number N/2 and their sizes average exactly 6 (Euler's relation on the
      torus); these are the rings counted in images of AMC and the rings the generator's moves
      act on. Needs a projection without crossing bonds (true for sheets that do not fold over).
    * ``"shortest_path"``: for every bond angle ``a-i-b``, the shortest ring(s) through it
      (shortest paths ``a -> b`` avoiding ``i``, all of them when tied; King's criterion,
      S. V. King, Nature 213, 1112 (1967)), each distinct ring counted once, up to ``max_size``
      atoms. No embedding needed (any coordination, any geometry). On a planar sp2 network it
      returns the faces, except that an angle whose face is larger than a ring enclosing two faces
      (e.g. the 8-ring around two pentagons sharing a bond) gets that ring as well.

    Returns a dict: ``counts`` {size: number} (sizes 3..``max_size`` always present, larger faces
    added as found), ``n_rings``, ``hexagon_fraction`` (six-rings / rings), ``mean_size``,
    ``coordination`` {z: number of atoms}, ``n_bonds``, ``n_noncontractible`` (faces winding
    around the box, excluded), ``method``, ``cutoff``.
    """
    if method not in ("shortest_path", "faces"):
        raise UserError(f"method: expected 'shortest_path' or 'faces', got {method!r}")
    if not cutoff > 0:
        raise UserError(f"cutoff: must be positive, got {cutoff}")
    nbr, bvec, n_bonds = _bond_graph(structure, cutoff)
    tol = 1e-6 * float(np.max(np.asarray(structure.box, dtype=np.float64)))

    def contractible(ring: list[int]) -> bool:
        return _contractible(ring, bvec, structure.dim, tol)

    if method == "faces":
        sizes, n_wrap = _face_sizes(nbr, bvec, _plane_axes(structure), contractible)
    else:
        sizes, n_wrap = _shortest_path_sizes(nbr, max_size, contractible), 0
    return _ring_summary(sizes, nbr, n_bonds, n_wrap, method, cutoff, max_size)


def _bond_graph(structure: Structure, cutoff: float):
    """Each atom's bonded neighbours, the bond vectors ``(a, b) -> r_b − r_a`` (minimum image) and
    the number of bonds."""
    ii, jj = pair_list(structure, cutoff)
    nbr: list[list[int]] = [[] for _ in range(structure.n_atoms)]
    pos = np.asarray(structure.positions, dtype=np.float64)
    box = np.asarray(structure.box, dtype=np.float64)
    per = np.asarray(structure.periodic)
    bvec: dict[tuple[int, int], np.ndarray] = {}
    for a, b in zip(ii.tolist(), jj.tolist()):
        nbr[a].append(b)
        nbr[b].append(a)
        dr = displacement(pos[b] - pos[a], box, per)
        bvec[(a, b)] = dr
        bvec[(b, a)] = -dr
    return nbr, bvec, len(ii)


def _contractible(ring: list[int], bvec: dict, dim: int, tol: float) -> bool:
    """Whether the bond vectors around ``ring`` add up to zero (it does not wind around the box)."""
    wind = np.zeros(dim)
    for t in range(len(ring)):
        wind += bvec[(ring[t], ring[(t + 1) % len(ring)])]
    return bool(np.all(np.abs(wind) < tol))


def _face_sizes(nbr: list[list[int]], bvec: dict, ax: list[int], contractible) -> tuple[list[int], int]:
    """Sizes of the contractible faces of the planar embedding (bonds ordered by angle in the plane
    of axes ``ax``), and the number of non-contractible ones."""
    n = len(nbr)
    rows = []
    for a in range(n):
        if nbr[a]:
            dr = np.array([bvec[(a, b)][ax] for b in nbr[a]])
            order = np.argsort(np.arctan2(dr[:, 1], dr[:, 0]), kind="stable")
            rows.append([nbr[a][o] for o in order])
        else:
            rows.append([])
    sizes: list[int] = []
    n_wrap = 0
    seen: set[tuple[int, int]] = set()
    for a in range(n):
        for b in rows[a]:
            if (a, b) in seen:
                continue
            face = []
            u, v = a, b
            while (u, v) not in seen:
                seen.add((u, v))
                face.append(u)
                r = rows[v]
                u, v = v, r[(r.index(u) + 1) % len(r)]
            if contractible(face):
                sizes.append(len(face))
            else:
                n_wrap += 1
    return sizes, n_wrap


def _shortest_path_sizes(nbr: list[list[int]], max_size: int, contractible) -> list[int]:
    """Sizes of King's shortest-path rings (each distinct contractible ring once)."""
    rings: set[tuple[int, ...]] = set()
    for i in range(len(nbr)):
        nb = nbr[i]
        for x in range(len(nb)):
            for y in range(x + 1, len(nb)):
                for path in _shortest_paths(nbr, nb[x], nb[y], i, max_size - 2):
                    ring = [i, *path]
                    if contractible(ring):
                        rings.add(_canonical(ring))
    return [len(r) for r in rings]


def _ring_summary(sizes, nbr, n_bonds, n_wrap, method, cutoff, max_size) -> dict[str, Any]:
    """The dict :func:`ring_statistics` returns."""
    counts = {k: 0 for k in range(3, max_size + 1)}
    for k in sizes:
        counts[k] = counts.get(k, 0) + 1
    n_rings = len(sizes)
    coord: dict[int, int] = {}
    for a in range(len(nbr)):
        coord[len(nbr[a])] = coord.get(len(nbr[a]), 0) + 1
    return dict(
        counts=dict(sorted(counts.items())),
        n_rings=n_rings,
        hexagon_fraction=counts.get(6, 0) / n_rings if n_rings else 0.0,
        mean_size=float(np.mean(sizes)) if sizes else 0.0,
        coordination=dict(sorted(coord.items())),
        n_bonds=n_bonds,
        n_noncontractible=n_wrap,
        method=method,
        cutoff=float(cutoff),
    )


def _shortest_paths(nbr: list[list[int]], a: int, b: int, avoid: int, max_len: int) -> list[list[int]]:
    """All shortest paths ``a -> b`` (as vertex lists) not through ``avoid``, of at most ``max_len`` bonds."""
    dist = {a: 0}
    q = deque([a])
    while q:
        u = q.popleft()
        if u == b or dist[u] >= max_len:
            continue
        for w in nbr[u]:
            if w != avoid and w not in dist:
                dist[w] = dist[u] + 1
                q.append(w)
    if b not in dist:
        return []
    out: list[list[int]] = []

    def back(path):
        u = path[-1]
        if u == a:
            out.append(path[::-1])
            return
        for w in nbr[u]:
            if w != avoid and dist.get(w, -1) == dist[u] - 1:
                back(path + [w])

    back([b])
    return out


def _canonical(ring: list[int]) -> tuple[int, ...]:
    k = ring.index(min(ring))
    r = ring[k:] + ring[:k]
    rev = [r[0], *r[1:][::-1]]
    return tuple(min(r, rev))
