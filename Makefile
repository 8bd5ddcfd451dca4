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

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -m "not bench" -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e ".[dev,bench]"
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
