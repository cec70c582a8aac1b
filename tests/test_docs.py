"""The docstring examples of chosen public modules run as doctests, and the API reference builds."""

import doctest
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DOCTESTED = ("jaxglass.units", "jaxglass.space", "jaxglass.rdf", "jaxglass.sq", "jaxglass.models.estimators",
             "jaxglass.errors")


@pytest.mark.parametrize("name", DOCTESTED)
def test_docstring_examples(name):
    res = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert res.attempted > 0 and res.failed == 0, res


def test_mkdocs_build_is_strict_clean(tmp_path):
    pytest.importorskip("mkdocstrings")
    root = Path(__file__).resolve().parents[1]
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None or not (root / "mkdocs.yml").is_file():
        pytest.skip("mkdocs not installed here")
    res = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=root,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "pair_correlation_from_sq" in (tmp_path / "site" / "api" / "index.html").read_text()
