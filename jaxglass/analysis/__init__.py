"""Structure descriptors beyond g(r): ring statistics of sp2 networks, bond-orientational order."""

from .order import bond_order, crystalline_fraction
from .rings import ring_statistics

__all__ = ["bond_order", "crystalline_fraction", "ring_statistics"]
