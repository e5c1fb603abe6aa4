# Two commands do all the set-up on a fresh machine (see README.md):
#   make demo   — create .venv, install xinbao, run the main job
#   make test   — create .venv, install xinbao with its test extra, lint and run the tests
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench faults lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "xinbao needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/xinbao demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest -n 2

bench: $(STAMP)
	$(BIN)/python tests/bench/bench_store.py
	$(BIN)/python tests/bench/bench_bundle.py
	$(BIN)/python -m tests.bench.bench_daemon
	$(BIN)/python tests/bench/bench_similar.py

# a fault campaign on a five-tier chain (by hand, several minutes): >= 1,000 faults, then the
# counts (lost, doubled, receipts missing, settle time); SEED=n replays a schedule
faults: $(STAMP)
	$(BIN)/python -m tests.faults.campaign --faults 1000 --max-seconds 600 $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
