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
