# The two commands of the README: `make demo` and `make test`. Each sets everything up first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck imports unit suite install browser clean soak bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/lossledger demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

imports: $(STAMP)
	$(BIN)/lint-imports

# The audit report is checked in a real browser: Debian's chromium (root installs it here).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The pure tier alone (tests/unit): no database, no browser, no process; seconds.
unit: $(STAMP)
	$(BIN)/pytest tests/unit

# The whole suite: tests/unit, tests/specs and tests/process, on SQLite and PostgreSQL.
suite: $(STAMP) browser
	$(BIN)/pytest

test: lint typecheck imports suite

# The long campaigns of docs/reliability.md (kills and races on both backends); prints the figures.
soak: $(STAMP)
	$(BIN)/python -m tests.process.soak

# docs/performance.md: make bench N=1000000 DB=postgresql://postgres@127.0.0.1:5432/test
N ?= 100000
bench: $(STAMP)
	$(BIN)/lossledger bench --positions $(N) $(if $(DB),--db $(DB)) --json

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
