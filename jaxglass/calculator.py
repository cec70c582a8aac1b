"""An ase Calculator for any jaxglass potential: energy, per-atom energies, forces and stress.

>>> import jaxglass
>>> from jaxglass.calculator import JaxglassCalculator
>>> from jaxglass.potentials import tersoff_sic_1989
>>> from jaxglass.generate.lattices import zincblende
>>> from jaxglass.structure import to_ase
>>> jaxglass.enable_x64()
>>> atoms = to_ase(zincblende(5.432, (1, 1, 1), ("Si", "Si")))   # 8 atoms: a cell smaller than 2 × cutoff
>>> atoms.calc = JaxglassCalculator(tersoff_sic_1989())
>>> round(atoms.get_potential_energy() / len(atoms), 4)
-4.6289

Units are the potential's: eV, Å and eV/Å³ for atomistic potentials; for Lennard-Jones potentials
the same numbers are ε, σ and ε/σ³ (ase labels them eV and Å). Cells must be orthorhombic (the
:class:`jaxglass.Structure` convention). Cells shorter than twice the cutoff are handled by
summing periodic images (see :mod:`jaxglass.neighbors`).

Stress (ase's convention, Voigt order xx, yy, zz, yz, xz, xy) is ``σ = (1/V) ∂E/∂ε`` at zero
strain, computed by autodiff of the energy with respect to an affine deformation ``F = I + ε`` of
every neighbour vector; it is defined for 3D cells periodic along all three axes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._config import require_x64
from .potentials.base import Potential
from .structure import Structure, from_ase

try:
    from ase.calculators.calculator import Calculator, PropertyNotImplementedError, all_changes
except ImportError as err:  # pragma: no cover - exercised only without ase
    raise ImportError("jaxglass.calculator needs ase: pip install 'jaxglass[io]'") from err


@jax.jit
def _energy_forces_virial(potential: Potential, structure: Structure, nbrs):
    d = structure.dim

    def e_sites(x, F):
        return potential.site_energies(structure.with_positions(x), nbrs, F)

    def e_tot(x, F):
        e = e_sites(x, F)
        return jnp.sum(e), e

    (_, sites), (g_x, g_F) = jax.value_and_grad(e_tot, argnums=(0, 1), has_aux=True)(
        structure.positions, jnp.eye(d, dtype=structure.positions.dtype)
    )
    return sites, -g_x, g_F


def _pad(lists, capacity):
    """Pad each list to the previous width (fewer recompilations); returns lists and widths."""
    out, cap = [], []
    for t, idx in enumerate(lists):
        k = idx.shape[1]
        w = max(k, capacity[t]) if t < len(capacity) else k
        if idx.ndim == 3:
            pad = np.zeros((idx.shape[0], w - k, idx.shape[2]), np.int32)
            pad[:, :, 0] = idx.shape[0]
        else:
            pad = np.full((idx.shape[0], w - k), idx.shape[0], np.int32)
        out.append(jnp.asarray(np.concatenate([idx, pad], axis=1)))
        cap.append(w)
    return tuple(out), tuple(cap)


class JaxglassCalculator(Calculator):
    """ase Calculator wrapping a jaxglass :class:`~jaxglass.potentials.Potential` (float64).

    Args:
      potential: any jaxglass potential (``jaxglass.potentials.from_spec`` builds one from a spec).
      min_distance: passed to :func:`jaxglass.structure.from_ase` (``None``: no overlap check).

    Properties: ``energy`` (= ``free_energy``), ``energies`` (per atom), ``forces`` and, for 3D
    cells periodic along every axis, ``stress``. Neighbour lists are rebuilt at every call.
    """

    implemented_properties = ["energy", "free_energy", "energies", "forces", "stress"]

    def __init__(self, potential: Potential, *, min_distance: float | None = None, **kwargs):
        if not isinstance(potential, Potential):
            raise TypeError(
                f"potential: expected a jaxglass Potential, got {type(potential).__name__}; build one with "
                "jaxglass.potentials.from_spec('vashishta-sic') or a constructor"
            )
        super().__init__(**kwargs)
        self.potential = potential
        self.min_distance = min_distance
        self._capacity: tuple[int, ...] = ()

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        require_x64("jaxglass.calculator.JaxglassCalculator")
        super().calculate(atoms, properties, system_changes)
        s = from_ase(self.atoms, min_distance=self.min_distance)
        # the positions as ase has them (not wrapped): image lists are built and used on the same ones
        s = s.with_positions(jnp.asarray(self.atoms.get_positions()[:, : s.dim]))
        self.potential.check(s)
        nbrs, self._capacity = _pad(self.potential.neighbors(s), self._capacity)
        sites, forces, virial = (np.asarray(a) for a in _energy_forces_virial(self.potential, s, nbrs))
        n = len(self.atoms)
        f3 = np.zeros((n, 3))
        f3[:, : s.dim] = forces
        self.results["energies"] = sites
        self.results["energy"] = self.results["free_energy"] = float(sites.sum())
        self.results["forces"] = f3
        if s.dim == 3 and all(s.periodic):
            w = 0.5 * (virial + virial.T) / float(np.prod(np.asarray(s.box)))
            self.results["stress"] = np.array([w[0, 0], w[1, 1], w[2, 2], w[1, 2], w[0, 2], w[0, 1]])
        elif "stress" in properties:
            raise PropertyNotImplementedError(
                "stress: defined for 3D cells periodic along x, y and z only (this cell: "
                f"dim {s.dim}, periodic {s.periodic})"
            )
