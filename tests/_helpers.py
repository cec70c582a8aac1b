"""Independent numpy references shared by several test files."""

import numpy as np

from jaxglass.potentials import eam as _eam
from jaxglass.potentials import vashishta as _vashishta


def first_peak(structure, r_max=4.0, width=0.05):
    """Highest bin of the total g(r) below r_max: all pairs, explicit minimum image (numpy)."""
    pos = np.asarray(structure.positions)
    box = np.asarray(structure.box)
    n = len(pos)
    dr = pos[None, :, :] - pos[:, None, :]
    dr -= box * np.round(dr / box)
    r = np.sqrt((dr**2).sum(-1))[np.triu_indices(n, 1)]
    edges = np.arange(0.0, r_max + 1e-9, width)
    h, _ = np.histogram(r, edges)
    mid = 0.5 * (edges[1:] + edges[:-1])
    return float(np.max(2 * h / (n * n / np.prod(box) * 4 * np.pi * mid**2 * width)))


def vashishta_short():
    """The Vashishta 2007 Si-C form and numbers with the two-body cutoff cut from 7.35 to 4.2 Å.

    Same code path as the published potential (pair + three-body terms), small enough for a 64-atom
    3C-SiC cell (box 8.72 Å > 2 × 4.2 Å), so the gradient tests stay fast.
    """
    return _vashishta.read_vashishta_file(_vashishta.SIC_VASHISHTA_2007.replace("7.35", "4.2"), ("Si", "C"))


def eam_short(cutoff=4.5):
    """ZJW Cu with a shortened cutoff (0.5 Å taper): 4.5 Å fits a 108-atom fcc cell (10.8 Å), 3.4 Å a
    32-atom one (7.2 Å). Same code path as the published form, small cells for fast gradient tests."""
    return _eam.zhou_johnson_wadley(("Cu",), cutoff=cutoff)
