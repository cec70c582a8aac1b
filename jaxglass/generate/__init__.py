"""Structure generators: crystals and glasses with a disorder knob."""

from .lattices import fcc, graphene, random_packing, square, triangular, zincblende

__all__ = ["fcc", "graphene", "random_packing", "square", "triangular", "zincblende"]
