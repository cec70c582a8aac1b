"""Base glasses for benchmarks/scale.py and kpm_accuracy.py: the family generators at knob 1.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/scale_bases.py lj3d amc cualzr`` writes
``out/scale-base/{family}.npz`` (positions, species, box, masses, names, periodicity, generator
info). Sizes: ``generate.large.BASE_ATOMS``. With ``--paper`` first, it writes record 1 of each
family's committed paper export instead, to ``out/scale-base-paper/{family}.npz`` (no generation).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

import jaxglass
import jaxglass.families
from jaxglass._io import atomic_savez
from jaxglass.generate.large import BASE_ATOMS
from jaxglass.structure import to_arrays


def write_paper_bases(families) -> None:
    from _common import paper_record

    Path("out/scale-base-paper").mkdir(parents=True, exist_ok=True)
    for fam in families:
        s = paper_record(fam)
        info = json.dumps(dict(source=f"examples/datasets/paper/{fam}.npz record 1"))
        atomic_savez(f"out/scale-base-paper/{fam}.npz", dict(to_arrays(s), info=np.asarray(info)))
        print(f"{fam}: {s.n_atoms} atoms (paper record 1)", flush=True)


def main(families) -> None:
    jaxglass.enable_x64()
    if families and families[0] == "--paper":
        write_paper_bases(families[1:] or list(BASE_ATOMS))
        return
    Path("out/scale-base").mkdir(parents=True, exist_ok=True)
    for fam in families:
        t = time.time()
        g = jaxglass.families.generator(fam).generate(BASE_ATOMS[fam], 1.0, 0)
        s = g.structure
        info = json.dumps(dict(g.info, knob_values=g.knob_values), default=str)
        atomic_savez(f"out/scale-base/{fam}.npz", dict(to_arrays(s), info=np.asarray(info)))
        print(f"{fam}: {s.n_atoms} atoms in {time.time() - t:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or list(BASE_ATOMS))
