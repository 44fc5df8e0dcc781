# `make book` and `make test` each create and fill their own virtual environment (.venv).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Where datasets (and the svcca activations used by tests) are looked for; CI points it at ../shared/data.
export CCA_CORE_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
# Trained networks, shared by the notebooks, the book and the tests (delete it to retrain everything).
export CCA_CORE_CACHE_DIR ?= $(abspath .experiment-cache)
# CCA_CORE_SCHEDULER=tcp://host:8786 make book: the notebooks' training sweeps run on that Dask scheduler's
# workers (the cache directory must then be storage they share); unset, everything runs here.

.PHONY: test book page lab bench bench-dask clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench,experiments,book,distributed]'
	touch $@

# Unit and property tests, the notebook templates at their defaults (nbval), the book's freshness,
# its HTML build and the browser checks of the built pages, in TEST_WORKERS pytest processes (pytest-xdist;
# a test file stays in one process; TEST_WORKERS=0 or empty: all in this one). The notebooks come first:
# they are the slowest files, and xdist hands files out in order.
TEST_WORKERS ?= 2
test: $(VENV)/.installed
	$(BIN)/python -m pytest -n $(or $(strip $(TEST_WORKERS)),0) --dist loadfile --nbval-lax notebooks tests

# Execute the pages whose template, parameters or cca_core code changed, then build the HTML
# (book/_build/html/index.html). It refuses to execute pages while cca_core/, notebooks/ or
# book/experiments.yml have uncommitted changes (ALLOW_DIRTY=1: execute them anyway, and say so on each page).
# EXPERIMENTS=book/experiments.paper.yml: the book at the paper's scale (networks for a GPU machine; see README).
book: $(VENV)/.installed
	$(BIN)/python book/pipeline.py $(if $(strip $(EXPERIMENTS)),--experiments $(EXPERIMENTS)) build $(if $(strip $(ALLOW_DIRTY)),--allow-dirty)

# Rerun one notebook with other parameters into book/reruns/ (the book's pages are untouched), starting
# from its book page's parameters; the terminal ends with its findings table. P is a YAML mapping or
# KEY=VALUE pairs separated by spaces; DEFAULTS=1 starts from the template's defaults instead:
#   make page NB=width P="widths: [2, 4, 8], seeds: 3"
#   make page NB=memorization P="n_networks=3 epochs=20" DEFAULTS=1
page: $(VENV)/.installed
	@test -n "$$NB" || { echo 'usage: make page NB=<notebook or book page> [P="key: value, ..."] [DEFAULTS=1]'; exit 2; }
	@$(BIN)/python book/pipeline.py run "$$NB" $(if $(strip $(P)),-p "$$P") $(if $(strip $(DEFAULTS)),--defaults)

# JupyterLab in this environment, on localhost: its "Python 3" kernel is the interpreter that the
# pipeline's kernels run, with the cache and data directories above. Open notebooks/<name>.ipynb (a
# template) or book/reruns/<name>.ipynb (a rerun). LAB_ARGS="--no-browser --port 8899" to pass options.
lab: $(VENV)/.installed
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir="$(CURDIR)" \
	    $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# Speed and memory figures, each script rewriting its own section of benchmarks/README.md with the load
# it ran under: one pair at the limit, many networks, busy machines and wide layers (netrep, the peer,
# is timed when it is installed; see benchmarks/README.md), the bootstrap, DFT-CCA.
BENCH_README := benchmarks/README.md
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/run.py --markdown --readme $(BENCH_README)
	$(BIN)/python benchmarks/pairwise_bench.py --markdown --readme $(BENCH_README)
	$(BIN)/python benchmarks/stats_bench.py --readme $(BENCH_README)
	$(BIN)/python benchmarks/dft_bench.py --readme $(BENCH_README)
	$(BIN)/python benchmarks/train_bench.py --markdown --readme $(BENCH_README)

# Moments of a 2,000,000 x 256 dask array on 1 and 2 Dask workers against local streaming, into its
# section of benchmarks/README.md.
bench-dask: $(VENV)/.installed
	$(BIN)/python benchmarks/dask_bench.py --readme $(BENCH_README)

clean:
	rm -rf $(VENV) .pytest_cache book/_build book/_failed
