"""The one family registry (jaxglass.families) and the views derived from it agree."""

import pytest

from jaxglass import families
from jaxglass.cli._common import SYSTEM_CHOICES
from jaxglass.generate import family_potential


def test_views_agree_with_registry():
    names = set(families.REGISTRY)
    assert names == set(SYSTEM_CHOICES)
    assert tuple(SYSTEM_CHOICES) == families.NAMES
    for name, fam in families.REGISTRY.items():
        assert fam.name == name
        gen = families.generator(name)
        assert callable(gen.generate) and callable(gen.crystal)
    # the alternative LJ generators share the grids and potential of their base family
    for base in ("lj2d", "lj3d"):
        for knob in ("comp", "quench"):
            f = families.get(f"{base}-{knob}")
            assert f.defaults == families.get(base).defaults and f.potential == families.get(base).potential
    assert family_potential("lj2d") is not None
    # every LJ family is in reduced units (the observables use the argon mapping for all of them)
    from jaxglass.data import is_lj

    assert {n for n in names if is_lj(n)} == {n for n in names if n.startswith("lj")}
    with pytest.raises(ValueError, match="unknown family 'nope'"):
        families.get("nope")
    with pytest.raises(ValueError, match="unknown family"):
        families.generator("nope")


def test_batch_help_lists_the_families_with_generate_batch():
    """`jaxglass generate --batch`'s help names exactly the families whose generator has generate_batch."""
    from jaxglass.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["generate"]
    text = next(a for a in sub._actions if a.dest == "batch").help
    listed = text.split("generate_batch: ")[1].split(")")[0].split(", ")
    assert listed == [n for n in families.NAMES if hasattr(families.generator(n), "generate_batch")]
    assert listed == ["lj2d", "lj3d", "sic", "cualzr", "hea"]


def _cell_rules():
    """Each family's own cell rule (what its generator calls before building), at its default potential."""
    from jaxglass.generate import amc, cualzr, hea, lj, sic

    return {
        "amc": amc._check_n,
        "lj2d": lj.reps_2d,
        "lj3d": lj.reps_3d,
        "sic": sic.supercell,
        "cualzr": lambda n: cualzr.supercell(n, cualzr.A_B2_DEFAULT, cualzr.default_potential().cutoff),
        "hea": lambda n: hea.supercell(n, hea.A_B2_DEFAULT, hea.default_potential().cutoff),
    }


@pytest.mark.parametrize("name", families.NAMES)
def test_smallest_cell_is_the_generators_rule(name):
    """families.check_n_atoms refuses exactly what the generator's cell rule refuses, with its message;
    the registry's default sizes are allowed."""
    from jaxglass import data

    rules = _cell_rules()
    rule = rules[name.split("-")[0]]
    smallest = families.smallest_cell(name).n_atoms
    rule(smallest)
    families.check_n_atoms(name, smallest)
    own = f"n_atoms: .* at least {smallest} atoms .* got n_atoms={smallest - 1};"
    with pytest.raises(ValueError, match=own):
        rule(smallest - 1)
    with pytest.raises(ValueError, match=f"n_atoms: the {name} family needs at least {smallest} atoms") as e:
        families.check_n_atoms(name, smallest - 1)
    assert e.value.field == "n_atoms" and f"n_atoms >= {smallest}" in str(e.value)
    d = families.get(name).defaults
    assert min(d.n_atoms_small, d.n_atoms_paper) >= smallest
    # the dataset configuration refuses it before any build
    with pytest.raises(ValueError, match=f"at least {smallest} atoms"):
        data.DatasetConfig.make(name, 2, n_atoms=smallest - 1)
    assert data.DatasetConfig.make(name, 2).n_atoms >= smallest


def test_build_dataset_checks_the_smallest_cell_before_writing(tmp_path):
    """A configuration made without DatasetConfig.make is checked by build_dataset before anything is
    written (its family's generator would build the structures)."""
    from jaxglass import data

    smallest = families.smallest_cell("lj3d").n_atoms
    cfg = data.DatasetConfig(system="lj3d", n_structures=1, n_atoms=smallest - 1)
    with pytest.raises(ValueError, match=f"n_atoms: the lj3d family needs at least {smallest} atoms"):
        data.build_dataset(tmp_path / "ds", cfg, workers=0, progress=False)
    assert not (tmp_path / "ds").exists()
