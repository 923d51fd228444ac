# georecall: build and test the book.
#
#   make setup          .venv (CPU torch + the package with [book,test]) and the npm browser assets; idempotent
#   make book           clean build of book/_build/html; nonzero exit on any warning or failing cell
#   make test           lint, then side by side: the live panels in JupyterLab; unit+integration tests + smoke sweep;
#                       nbval on book/, the book, then the browser tests (all required; see `test:` below)
#   make lint           ruff check + ruff format --check over lib/, tests/, benchmarks/ and book/; actionlint and
#                       zizmor (offline) over .github/workflows
#   make test-smoke | test-unit | test-notebooks | test-browser | test-lab   one stage (test-browser: existing build)
#   make lab            JupyterLab on 127.0.0.1 with the chapters (installs the [lab] extra into .venv on first use)
#   make serve          serve the built book on 127.0.0.1 and print its URL
#   make clean          remove build outputs (keeps .venv and .browser-assets; `make distclean` removes them too)
#
# System prerequisites (python3-venv, npm; chromium for the browser tests) are checked first by .ci/prereqs: as root
# with apt-get it installs what is missing, otherwise it stops, before anything is created, with the apt line to run.

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

.PHONY: prereqs setup lint book test test-smoke test-unit test-notebooks test-browser test-lab lab serve clean distclean

# What the system must provide, by what is still to be made: python3-venv while .venv has no python, npm while the
# browser assets are missing, chromium for the targets that run the browser tests (a target-specific value, which
# GNU make passes on to the prerequisites of those targets, prereqs included).
PREREQS_NEEDED = $(if $(wildcard $(PY)),,venv) $(if $(wildcard $(ASSETS_STAMP)),,npm) $(PREREQS_BROWSER)
test test-browser test-lab: PREREQS_BROWSER := chromium
export PYTHON_BOOTSTRAP

prereqs:
	@.ci/prereqs $(PREREQS_NEEDED)

setup: prereqs $(VENV_STAMP) $(ASSETS_STAMP)

# One pip call: pinning torch==$(TORCH_VERSION) next to the package makes pip pick the CPU wheel (an unpinned torch on
# Linux pulls the multi-GB CUDA build). A venv that fails half-way is removed, never left without pip.
$(VENV_STAMP): pyproject.toml | prereqs
	test -x $(PY) || $(PYTHON_BOOTSTRAP) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(PY) -m pip install "torch==$(TORCH_VERSION)" -e ".[book,test]"
	touch $@

# The scripts the built book serves itself (no CDN): require.js, the widget manager with its fonts, and MathJax.
# book/_ext/offline_assets.py copies them (and plotly.min.js from the plotly package) into the book at build time.
$(ASSETS_STAMP): | prereqs
	rm -rf $(ASSETS)
	npm install --prefix $(ASSETS) --no-audit --no-fund --save-exact \
		requirejs@$(REQUIREJS) @jupyter-widgets/html-manager@$(HTML_MANAGER) mathjax@$(MATHJAX)
	touch $@

# Always a clean build: jupyter-cache and Sphinx's incremental rebuild key on the notebooks only, so a change in
# lib/georecall would otherwise leave stale pages. Failing cells abort (raise_on_error); warnings fail (-W).
# A failing cell's traceback is in book/_build/html/reports/: printed here, so the log of a failed build shows it.
book: setup
	rm -rf book/_build
	$(JB) build book -n -W --keep-going || { \
		for log in book/_build/html/reports/*.log; do [[ -f $$log ]] && { echo "==== $$log"; cat "$$log"; }; done; \
		exit 1; }

# Lint and format gate: ruff (configured in pyproject.toml) over the code, the book's extension and the notebooks' code
# cells.
# The workflows: actionlint (syntax, expressions, job graph; without shellcheck, so every machine checks the same) and
# zizmor's security audits, both offline.
LINT_PATHS := lib tests benchmarks book
WORKFLOWS  := $(wildcard .github/workflows/*.yml)

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/actionlint -shellcheck= -pyflakes= $(WORKFLOWS)
	$(VENV)/bin/zizmor --offline --strict-collection --no-progress --quiet $(WORKFLOWS)

# The lint gate runs first, alone. Then three lanes run side by side on the two cores: the live panels in a real
# JupyterLab (test-lab, the longest stage); the other unit and integration tests, then the smoke sweep and its check
# against the committed tables; nbval, then the book build, then the browser tests against it. Three lanes for two
# cores, because no lane keeps a core busy throughout (the browser tests mostly wait for figures, MathJax and slider
# updates; kernels start up). OpenMP threads that wait sleep instead of spinning (OMP_WAIT_POLICY, no effect on
# results), so a waiting torch thread does not take a core from another lane. The lanes share nothing (nbval runs the
# notebooks in memory, the build writes book/_build, the sweep writes build/). Each stage's log is printed whole when
# the stage ends (--output-sync), with its wall time; a failing stage fails `make test` once the running stages have
# finished. Every chapter is executed twice, from scratch: by nbval and by the `-W` build.
STAGE = start=$$SECONDS; $(MAKE) --no-print-directory $(1); echo "==== $(1) passed in $$((SECONDS - start)) s"

test: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory -j3 --output-sync=line test-lanes

.PHONY: test-lanes test-lane-lab test-lane-unit test-lane-book
test-lanes: export OMP_WAIT_POLICY = PASSIVE
test-lanes: test-lane-lab test-lane-unit test-lane-book

test-lane-lab:
	$(call STAGE,test-lab)

test-lane-unit:
	$(call STAGE,test-unit)
	$(call STAGE,test-smoke)

test-lane-book:
	$(call STAGE,test-notebooks)
	$(call STAGE,book)
	$(call STAGE,test-browser)

# The sweep CLI's `smoke` preset (a subset of the committed `book` points), run fresh into build/; then
# tests/integration/test_smoke_vs_book.py checks its tables against book/_data. test-unit runs every other test.
SMOKE_OUT  := build/sweeps-smoke
SMOKE_TEST := tests/integration/test_smoke_vs_book.py

test-smoke: setup
	rm -rf $(SMOKE_OUT)
	$(PY) -m georecall sweep smoke --out $(SMOKE_OUT) --no-cache --quiet
	GEORECALL_SMOKE_TABLES=$(SMOKE_OUT) $(PY) -m pytest $(SMOKE_TEST)

test-unit: setup
	$(PY) -m pytest tests -m "not browser" --ignore=$(SMOKE_TEST)
	$(PY) -m pytest --doctest-modules lib/georecall

# nbval: the notebooks in place, run top to bottom; the hidden `remove-cell` asserts are the checks.
test-notebooks: setup
	$(PY) -m pytest --nbval-lax --nbval-current-env book

# Against the existing book/_build/html. GEORECALL_REQUIRE_BROWSER=1 turns "chromium or build missing" from a
# skip into a failure, so `make test` can never pass without running the browser tests.
LAB_TEST := tests/browser/test_lab_explorers.py

test-browser: setup
	GEORECALL_REQUIRE_BROWSER=1 $(PY) -m pytest tests/browser -m browser --ignore=$(LAB_TEST)

# Every Explore panel driven through JupyterLab's UI in chromium (Run All, then every control); needs no built book.
test-lab: setup
	GEORECALL_REQUIRE_BROWSER=1 $(PY) -m pytest $(LAB_TEST) -m browser

# JupyterLab (with jupyterlab-myst, which renders the chapters' MyST) comes from the [lab] extra, installed on first
# use. It listens on 127.0.0.1 only, with a fresh token (passed through the environment, not the command line) in the
# URL printed first; port_retries=0, so the printed URL is the one it serves or it stops. As root (uid 0) JupyterLab
# refuses to start without --allow-root, and no browser is opened.
LAB_PORT ?= 8888
LAB_ROOT_FLAGS := $(if $(filter 0,$(shell id -u)),--allow-root --no-browser)

lab: setup
	$(PY) -c "import jupyterlab, jupyterlab_myst" 2>/dev/null || $(PY) -m pip install "torch==$(TORCH_VERSION)" -e ".[lab]"
	@token=$$($(PY) -c "import secrets; print(secrets.token_hex(24))"); \
	echo "JupyterLab: http://127.0.0.1:$(LAB_PORT)/lab?token=$$token   (Ctrl-C stops it)"; \
	JUPYTER_TOKEN=$$token exec $(VENV)/bin/jupyter lab --ip=127.0.0.1 --port=$(LAB_PORT) --ServerApp.port_retries=0 \
		$(LAB_ROOT_FLAGS) book/

# The built book over HTTP on 127.0.0.1 (the same pages a reader opens from disk); `make book` first.
SERVE_PORT ?= 8000

serve:
	@test -f book/_build/html/index.html || { echo "no built book in book/_build/html: run make book first" >&2; exit 1; }
	@echo "The book: http://127.0.0.1:$(SERVE_PORT)/   (Ctrl-C stops it)"
	@exec $(PYTHON_BOOTSTRAP) -m http.server --bind 127.0.0.1 --directory book/_build/html $(SERVE_PORT)

clean:
	rm -rf book/_build book/_vendor build .pytest_cache

distclean: clean
	rm -rf $(VENV) $(ASSETS)
