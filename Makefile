# RNN Zoo: `make demo` sets everything up and runs the demo; `make test` sets up and runs the tests.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
# Offline data mirror (spa-eng.zip etc.); downloads are cached in $(ZOO_HOME).
export ZOO_MIRROR ?= $(abspath ../shared/data)
export ZOO_HOME ?= $(HOME)/.cache/zoo
export TF_CPP_MIN_LOG_LEVEL ?= 3

.PHONY: setup demo test test-slow bench lint format clean

$(VENV)/.installed: requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; run 'make PYTHON=python3 ...'"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m ipykernel install --user --name python3 >/dev/null
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(PY) -m zoo demo

test: setup
	$(PY) -m pytest -n 2 --dist loadgroup -q --durations=20

test-slow: setup
	$(PY) -m pytest -m slow -q

bench: setup
	$(PY) -m zoo bench layers

lint: setup
	$(VENV)/bin/ruff check zoo tests notebooks
	$(VENV)/bin/ruff format --check zoo tests notebooks

format: setup
	$(VENV)/bin/ruff format zoo tests notebooks
	$(VENV)/bin/ruff check --fix zoo tests notebooks

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
