# These commands do all set-up on a fresh machine (Python 3.11 + pip):
#   make figures   regenerate every figure of every notebook into figures/ (full settings, CPU by default)
#   make test      the test suite (notebooks in FAST mode; sliders in a real browser); .ci/run calls this
#   make test-quick   the unit tests only (no browser, kernel, notebook or subprocess runs; its cost: README)
#   make app       the notebooks as an app in the browser (Voila: text, figures and sliders, no code)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev

.PHONY: install lock figures test test-quick browser-deps app check-wiring check-reuse lab bench sync lint format clean

# Installs exactly requirements.lock's versions (constraints), whatever the registry holds today.
$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[$(EXTRAS)]"
	touch $(STAMP)

# Re-resolve pyproject.toml's pins in a clean venv and write every installed package to requirements.lock.
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet --upgrade pip
	build/lock-venv/bin/python -m pip install --quiet -e ".[dev]"
	{ sed -n '1,3p' requirements.lock; build/lock-venv/bin/pip freeze --exclude-editable | grep -vi '^cfgrl'; } \
	  > requirements.lock.new && mv requirements.lock.new requirements.lock
	rm -rf build/lock-venv

install: $(STAMP)

figures: $(STAMP)
	$(BIN)/python -m cfgrl_core.io.run_notebooks

test: $(STAMP) browser-deps
	$(BIN)/python -m pytest

test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

# Debian's chromium, which tests/test_browser.py drives with Playwright (Playwright's own browser download
# cannot work here). Installed only where it is missing and we are root (CI: a fresh Debian machine);
# otherwise this says why, and the browser tests are skipped with that reason.
browser-deps:
	@if command -v chromium >/dev/null 2>&1; then \
	  echo "browser-deps: using $$(command -v chromium)"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "browser-deps: no chromium and not root: browser tests will be skipped (apt-get install chromium)"; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "browser-deps: no chromium and no apt-get: browser tests will be skipped"; \
	else \
	  echo "browser-deps: installing Debian's chromium (apt-get, about 1-2 min)"; \
	  log=$$(mktemp); \
	  if (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >$$log 2>&1; then \
	    echo "browser-deps: installed $$(command -v chromium)"; \
	  else \
	    tail -n 20 $$log; echo "browser-deps: apt-get install chromium failed: browser tests will be skipped"; \
	  fi; \
	  rm -f $$log; \
	fi

# The notebooks as an app (Voila: markdown, figures and sliders; code hidden) at http://localhost:8866.
# Each notebook runs when opened: `make app FAST=1` for the small settings (notebook 01's slider then
# appears after about 30 s). Figures go to build/app-figures/, never to figures/. Notebook 04 loads the
# committed results and trained weights (CFGRL_REUSE_RESULTS=1) instead of training for half an hour.
APP_PORT ?= 8866
app: $(STAMP)
	env -u MPLBACKEND FAST=$(or $(FAST),0) CFGRL_FIGURES_DIR=$(CURDIR)/build/app-figures CFGRL_REUSE_RESULTS=1 \
	  $(BIN)/voila --port=$(APP_PORT) --no-browser \
	  --VoilaConfiguration.extension_denylist=jupyterlab-jupytext \
	  --VoilaConfiguration.extension_denylist=@jupyter-notebook/lab-extension \
	  --MappingKernelManager.cull_idle_timeout=900 --MappingKernelManager.cull_interval=60 \
	  notebooks/

# Mutation check of the slider tests: on copies of the notebooks with every `*_slider.observe(...)` line
# removed, every in-process, in-kernel and browser slider test must fail (takes about 5 min).
check-wiring: $(STAMP) browser-deps
	$(BIN)/python scripts/check_broken_wiring.py

# Recorded check: notebooks 04-08 run on the committed results (CFGRL_REUSE_RESULTS=1) must rewrite the committed
# CSVs and summaries byte for byte; the outcome goes to figures/reuse_check.json (about 5 min; datasets first).
check-reuse: $(STAMP)
	$(BIN)/python scripts/check_reuse.py

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py
	$(BIN)/python benchmarks/bench_physics.py
	$(BIN)/python benchmarks/bench_offline.py

# The .py (percent format) twin is the reviewed source; push its edits into the .ipynb.
sync: $(STAMP)
	$(BIN)/jupytext --update --to ipynb notebooks/[0-9][0-9]_*.py

lint: $(STAMP)
	$(BIN)/ruff check cfgrl_core tests benchmarks notebooks scripts
	$(BIN)/ruff format --check cfgrl_core tests benchmarks scripts

format: $(STAMP)
	$(BIN)/ruff format cfgrl_core tests benchmarks
	$(BIN)/ruff check --fix cfgrl_core tests benchmarks notebooks

clean:
	rm -rf build .pytest_cache
