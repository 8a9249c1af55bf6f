# Two commands do all set-up on a fresh machine (Python 3.11 + pip):
#   make figures   regenerate every figure of every notebook into figures/ (full settings, CPU by default)
#   make test      the test suite (notebooks in FAST mode); .ci/run calls this
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
EXTRAS ?= dev

.PHONY: install figures test lab bench sync lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

figures: $(STAMP)
	$(BIN)/python -m cfgrl_core.run_notebooks

test: $(STAMP)
	$(BIN)/python -m pytest

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks/

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_core.py

# The .py (percent format) twin is the reviewed source; push its edits into the .ipynb.
sync: $(STAMP)
	$(BIN)/jupytext --update --to ipynb notebooks/[0-9][0-9]_*.py

lint: $(STAMP)
	$(BIN)/ruff check cfgrl_core tests benchmarks notebooks
	$(BIN)/ruff format --check cfgrl_core tests benchmarks

format: $(STAMP)
	$(BIN)/ruff format cfgrl_core tests benchmarks
	$(BIN)/ruff check --fix cfgrl_core tests benchmarks notebooks

clean:
	rm -rf build .pytest_cache
