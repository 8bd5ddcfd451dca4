# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make report   run fplab's main job (every shipped study, quick tier) -> reports/index.html
#   make test     run the test suite
# Both create .venv and install fplab with its dependencies on first use.
# CONSTRAINTS pins torch to the CPU build (torch==2.13.0, on this machine's disk); on a machine
# with a GPU use `make CONSTRAINTS= test` to get your platform's normal torch.

PYTHON ?= python3
VENV ?= .venv
CONSTRAINTS ?= constraints/cpu.txt
BIN := $(VENV)/bin
STAMP := $(VENV)/.fplab-installed

.PHONY: install test test-all bench report lint clean mutation

$(STAMP): pyproject.toml examples/my-sampler/pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[nn,dask,dev]"
	$(BIN)/python -m pip install --quiet --no-deps -e examples/my-sampler
	# compile every cached numba kernel the studies use once, so no study case (and no first
	# simulate / solve of a session) pays compilation
	$(BIN)/python -m fplab._warm
	touch $(STAMP)

install: $(STAMP)

# fplab's suite, then the example plugin's own suite (it uses fplab.testing, as other projects do)
test: $(STAMP)
	$(BIN)/python -m pytest -m "not bench" -q
	cd examples/my-sampler && $(abspath $(BIN))/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[nn,dask,dev,bench]"
	$(BIN)/python -m pytest -m bench tests/benchmarks -q -s

report: $(STAMP)
	$(BIN)/fplab run

# mutation score: plant each curated bug of tools/mutation/mutants.toml in a scratch copy, run its
# tests and `fplab check` on its studies (not part of CI; ~1 min per mutant on 2 cores)
mutation: $(STAMP)
	$(BIN)/python tools/mutation/run.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache
