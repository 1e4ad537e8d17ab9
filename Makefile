# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LAB ?= omnimind-lab

.PHONY: run test test-slow lint typecheck bench services clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

## run: install, create ./omnimind-lab if needed, run the default experiment in it
run: $(STAMP)
	@test -f $(LAB)/lab.toml || $(BIN)/omnimind init $(LAB)
	$(BIN)/omnimind --lab $(LAB) run

## test: install, make sure PostgreSQL and Redis are up, lint, type-check, run the fast suite
test: $(STAMP) services lint typecheck
	$(BIN)/python -m pytest -q

## test-slow: the slow suite (crash trials, long convergence checks)
test-slow: $(STAMP) services
	$(BIN)/python -m pytest -q -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy src

services:
	@bash scripts/services.sh

## bench: speed and memory benchmarks; JSON on stdout and in bench/results/
bench: $(STAMP)
	@mkdir -p bench/results
	@for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
