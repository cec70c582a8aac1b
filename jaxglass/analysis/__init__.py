"""Structure descriptors beyond g(r): ring statistics of sp2 networks."""

from .rings import ring_statistics

__all__ = ["ring_statistics"]
