# Two commands on a fresh machine:
#   make demo   creates .venv, installs jaxglass, runs the main job on a small default
#   make test   creates .venv, installs the test extras, runs the test suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python

.PHONY: demo test lint bench docs clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.demo-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[io,plot]"
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.demo-installed
	$(PY) -m jaxglass.cli demo --out out/demo

test: $(VENV)/.test-installed
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest tests -n 2 --dist loadfile --durations=15

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check jaxglass tests benchmarks examples

# API reference (mkdocs + mkdocstrings) from the docstrings into out/site; --strict: warnings fail
docs: $(VENV)/bin/python
	$(PY) -m pip install -q -e ".[docs]"
	$(VENV)/bin/mkdocs build --strict

bench: $(VENV)/.test-installed
	$(PY) -m pip install -q -e ".[bench]"
	$(PY) benchmarks/phonons.py

clean:
	rm -rf $(VENV) out .pytest_cache
