# `make test` and `make book` each create and fill their own virtual environment (.venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Where datasets and the svcca activations are looked for (see README); CI points it at ../shared/data.
export CCA_CORE_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)

.PHONY: test book bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench,experiments]'
	touch $@

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest

bench: $(VENV)/.test-installed
	$(BIN)/python benchmarks/run.py

book: $(VENV)/.test-installed
	@echo "The book is not built yet: its pipeline comes with the notebooks (issues 3-5)."
	@echo "Until then, 'make bench' prints the measures' speed and memory figures."

clean:
	rm -rf $(VENV) .pytest_cache book/_build
