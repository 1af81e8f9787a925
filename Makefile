# Two commands do all the set-up on a fresh machine:
#   make demo   - create .venv, install the core, run the demo: leaderboard and HTML report (reports/demo/)
#   make test   - create/update .venv with the dev extras (torch first), run the test suite
PYTHON ?= python3.11
VENV := .venv
PIP := $(VENV)/bin/python -m pip
# torch/torchvision are pinned and installed first, by pip, so that no resolver picks a build
# of its own (see the README's installation section).
TORCH_PIN := torch==2.14.1 torchvision==0.29.1
# Object trackers (docs/metrics.md): sam2 is source-only and must build against the torch above
# (no build isolation, no CUDA extension); CoTracker3 is not on PyPI under its own name, and
# napari-cotrack 0.1.7 ships the unmodified upstream `cotracker` package (CC BY-NC, not vendored).
# (setuptools >= 70.1 builds wheels without the separate `wheel` package a fresh venv lacks.)
SAM2_INSTALL := $(PIP) install --quiet 'setuptools>=70.1' && \
	SAM2_BUILD_CUDA=0 $(PIP) install --quiet --no-build-isolation sam2==1.1.0
COTRACKER_INSTALL := $(PIP) install --quiet --no-deps --ignore-requires-python \
	napari-cotrack==0.1.7

.PHONY: demo test lint clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.core: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(PIP) install --quiet $(TORCH_PIN)
	$(PIP) install --quiet -e '.[dev]'
	$(SAM2_INSTALL)
	$(COTRACKER_INSTALL)
	touch $@ $(VENV)/.core

demo: $(VENV)/.core
	$(VENV)/bin/ttm-bench demo

test: $(VENV)/.dev
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .

clean:
	rm -rf demo-out .pytest_cache .ruff_cache
