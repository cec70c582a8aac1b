"""What a dataset is: :class:`DatasetConfig` (family, size, MD protocol, grids) and its knob plan.

Structure ``k`` is fully determined by the configuration and ``k`` (:meth:`DatasetConfig.plan`
derives its knob and seed), so an interrupted build resumes by computing only the missing records,
and any number of workers gives the same records as a serial build. Index 0 is the crystalline
reference when ``include_crystal`` is set; the other knobs are stratified over
``[knob_min, knob_max]`` in a seeded random order, so every prefix of the dataset spans the range.
See docs/datasets.md.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .. import families
from ..errors import UserError
from ..validation import Integral, Options, validate


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    system: str
    n_structures: int
    n_atoms: int
    size: str = "small"
    protocol: str | None = None
    seed: int = 0
    knob_min: float = 0.0
    knob_max: float = 1.0
    include_crystal: bool = True
    n_freq: int = 300
    freq_max: float = 0.0
    freq_sigma: float = 0.0
    n_r: int = 200
    r_min: float = 0.0
    r_max: float = 0.0
    r_sigma: float = 0.0

    @staticmethod
    @validate({
        "n_structures": [Integral(1, 10**7), "the number of structures, e.g. 200"],
        "n_atoms": [None, Integral(2, 10**7), "atoms per structure; omit it for the family default"],
        "size": [Options("small", "paper")],
        "seed": [Integral(0, None), "a non-negative integer seed, e.g. 0"],
    })
    def make(
        system: str, n_structures: int, *, n_atoms: int | None = None, size: str = "small",
        protocol: str | None = None, seed: int = 0, **kw
    ) -> DatasetConfig:
        """A checked configuration; grids and ``n_atoms`` left out (or 0) take the family defaults
        of :mod:`jaxglass.families`. An ``n_atoms`` below the family's smallest cell
        (:func:`jaxglass.families.check_n_atoms`) is refused here, before a build starts.

        ``protocol`` names one of the family's protocols (:func:`jaxglass.families.protocols`, e.g.
        ``"paper-half"`` for lj2d/lj3d) for the glasses' melt-quench; ``None`` (or the size's own
        name, stored as ``None``) keeps the size's. The crystalline reference has no melt-quench and
        is relaxed with the size's settings."""
        fam = families.get(system).defaults  # an unknown family names the valid ones
        if n_structures < 1:
            raise UserError(f"n_structures: must be at least 1, got {n_structures}")
        if n_atoms is not None and n_atoms < 2:
            raise UserError(f"n_atoms: need at least 2 atoms per structure, got {n_atoms}; "
                            "omit it for the family default")
        if size not in ("small", "paper"):
            raise UserError(f"size: expected 'small' or 'paper', got {size!r}")
        if n_atoms is None:
            n_atoms = fam.n_atoms_small if size == "small" else fam.n_atoms_paper
        families.check_n_atoms(system, int(n_atoms))  # the family's smallest cell, before any work
        protocol = check_protocol(system, size, protocol)
        defaults = dict(
            freq_max=fam.freq_max,
            freq_sigma=fam.freq_sigma,
            r_min=fam.r_min,
            r_max=fam.r_max,
            r_sigma=fam.r_sigma,
        )
        for k, v in defaults.items():
            if not kw.get(k):
                kw[k] = v
        cfg = DatasetConfig(
            system=system, n_structures=int(n_structures), n_atoms=int(n_atoms), size=size, protocol=protocol,
            seed=int(seed), **kw
        )
        if not (0.0 <= cfg.knob_min <= cfg.knob_max <= 1.0):
            raise UserError(
                f"knob_min/knob_max: need 0 <= min <= max <= 1, got {cfg.knob_min}, {cfg.knob_max}"
            )
        return cfg

    def protocol_name(self, knob: float) -> str:
        """The protocol a structure with ``knob`` is made with: ``protocol`` (else the size's own) for
        a glass, the size's for the crystalline reference (``knob = -1``)."""
        return self.size if knob < 0 or self.protocol is None else self.protocol

    def freq_grid(self) -> np.ndarray:
        return np.linspace(0.0, self.freq_max, self.n_freq)

    def r_grid(self) -> np.ndarray:
        return np.linspace(self.r_min, self.r_max, self.n_r)

    def plan(self, k: int) -> tuple[float, int]:
        """Knob and seed of structure ``k`` (``knob = -1`` marks the crystalline reference).

        Knobs follow a base-2 van der Corput sequence with a seeded random shift (mod 1): every
        prefix of the dataset spreads evenly over the range, and structure ``k`` does not depend on
        ``n_structures``, so a dataset can be grown later without changing finished structures.
        """
        if self.include_crystal and k == 0:
            return -1.0, self.seed
        j = k - (1 if self.include_crystal else 0)
        x, denom, jj = 0.0, 1.0, j + 1
        while jj:
            jj, bit = divmod(jj, 2)
            denom *= 2.0
            x += bit / denom
        shift = float(np.random.default_rng([self.seed, 7919]).random())
        frac = (x + shift) % 1.0
        return float(self.knob_min + (self.knob_max - self.knob_min) * frac), int(self.seed * 1_000_003 + k)


def check_protocol(system: str, size: str, protocol: str | None) -> str | None:
    """``protocol`` checked against the names family ``system`` accepts (its generator's
    ``PROTOCOLS``); the size's own name becomes ``None``, so a dataset resumes whichever way the
    size's protocol was asked for."""
    if protocol is None or protocol == size:
        return None
    names = tuple(families.protocols(system))
    if protocol not in names:
        raise UserError(
            f"protocol: {protocol!r} is not a protocol of the {system} family; it accepts {names} "
            f"(leave it out for the protocol of size {size!r})", field="protocol")
    return protocol
