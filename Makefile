# georecall: build and test the book.
#
#   make setup          .venv (CPU torch + the package with [book,test]) and the npm browser assets; idempotent
#   make book           clean build of book/_build/html; nonzero exit on any warning or failing cell
#   make test           lint, unit+integration tests, nbval on book/, the book, then the browser tests (all required)
#   make lint           ruff check + ruff format --check over lib/, tests/, benchmarks/ and book/
#   make test-unit | test-notebooks | test-browser     one stage (test-browser uses the existing build)
#   make lab            open the chapters in JupyterLab (installs it into .venv on first use)
#   make clean          remove build outputs (keeps .venv and .browser-assets; `make distclean` removes them too)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test

PYTHON_BOOTSTRAP ?= python3
TORCH_VERSION    ?= 2.13.0
REQUIREJS        ?= 2.3.8
HTML_MANAGER     ?= 1.0.15
MATHJAX          ?= 3.2.2

VENV   := .venv
PY     := $(VENV)/bin/python
JB     := $(VENV)/bin/jupyter-book
ASSETS := .browser-assets

# Notebooks read BOOK_SCALE (georecall.sweeps.scale()); the build and nbval run at smoke scale unless overridden.
BOOK_SCALE ?= smoke
export BOOK_SCALE

# Stamps make `setup` a no-op until pyproject.toml (or an asset version) changes.
VENV_STAMP   := $(VENV)/.stamp
ASSETS_STAMP := $(ASSETS)/.stamp-requirejs-$(REQUIREJS)-html-manager-$(HTML_MANAGER)-mathjax-$(MATHJAX)

.PHONY: setup lint book test test-unit test-notebooks test-browser lab clean distclean

setup: $(VENV_STAMP) $(ASSETS_STAMP)

# One pip call: pinning torch==$(TORCH_VERSION) next to the package makes pip pick the CPU wheel (an unpinned torch on
# Linux pulls the multi-GB CUDA build).
$(VENV_STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV)
	$(PY) -m pip install "torch==$(TORCH_VERSION)" -e ".[book,test]"
	touch $@

# The scripts the built book serves itself (no CDN): require.js, the widget manager with its fonts, and MathJax.
# book/_ext/offline_assets.py copies them (and plotly.min.js from the plotly package) into the book at build time.
$(ASSETS_STAMP):
	rm -rf $(ASSETS)
	npm install --prefix $(ASSETS) --no-audit --no-fund --save-exact \
		requirejs@$(REQUIREJS) @jupyter-widgets/html-manager@$(HTML_MANAGER) mathjax@$(MATHJAX)
	touch $@

# Always a clean build: jupyter-cache and Sphinx's incremental rebuild key on the notebooks only, so a change in
# lib/georecall would otherwise leave stale pages. Failing cells abort (raise_on_error); warnings fail (-W).
book: setup
	rm -rf book/_build
	$(JB) build book -n -W --keep-going

# Lint and format gate: ruff (configured in pyproject.toml) over the code, the book's extension and the notebooks' code
# cells.
LINT_PATHS := lib tests benchmarks book

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)

# Stages run in this order even under `make -j`; the lint gate runs first.
test: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory test-unit
	$(MAKE) --no-print-directory test-notebooks
	$(MAKE) --no-print-directory book
	$(MAKE) --no-print-directory test-browser

# The sweep CLI's `smoke` preset (a subset of the committed `book` points), run fresh into build/; the tests then
# check its tables against book/_data (tests/integration/test_smoke_vs_book.py).
SMOKE_OUT := build/sweeps-smoke

test-unit: setup
	rm -rf $(SMOKE_OUT)
	$(PY) -m georecall sweep smoke --out $(SMOKE_OUT) --no-cache --quiet
	GEORECALL_SMOKE_TABLES=$(SMOKE_OUT) $(PY) -m pytest tests -m "not browser"
	$(PY) -m pytest --doctest-modules lib/georecall

# nbval: the notebooks in place, run top to bottom; the hidden `remove-cell` asserts are the checks.
test-notebooks: setup
	$(PY) -m pytest --nbval-lax --nbval-current-env book

# Against the existing book/_build/html. GEORECALL_REQUIRE_BROWSER=1 turns "chromium or build missing" from a
# skip into a failure, so `make test` can never pass without running the browser tests.
test-browser: setup
	GEORECALL_REQUIRE_BROWSER=1 $(PY) -m pytest tests/browser -m browser

# JupyterLab is not a dependency of the book or the tests; install it on first use and open the chapters.
lab: setup
	$(PY) -c "import jupyterlab" 2>/dev/null || $(PY) -m pip install "jupyterlab>=4"
	$(VENV)/bin/jupyter lab book/

clean:
	rm -rf book/_build book/_vendor build .pytest_cache

distclean: clean
	rm -rf $(VENV) $(ASSETS)
