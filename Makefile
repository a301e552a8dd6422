# cspr_engine: `make run` to try it, `make test` to test it. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test run serve migrate seed test test-postgres bench check lint fmt openapi openapi-check revision clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(STAMP)

install-test: $(TEST_STAMP)

migrate: install
	$(BIN)/cspr-engine migrate

seed: migrate
	@$(BIN)/cspr-engine admin seed-demo

## Install, migrate the embedded SQLite database, seed demo users, serve on CSPR_HOST:CSPR_PORT.
run: seed
	@echo
	@echo "Sign in: each demo user above gets an API token with"
	@echo "    TOKEN=\$$($(BIN)/cspr-engine admin create-token chair@demo.example)"
	@echo "then call the API with  -H \"Authorization: Bearer \$$TOKEN\"  (see README: a short tour)."
	@echo
	$(BIN)/cspr-engine serve

serve: install
	$(BIN)/cspr-engine serve

## The whole suite on SQLite (set CSPR_TEST_DATABASE_URL to run it on PostgreSQL).
test: install-test
	$(BIN)/pytest -q

test-postgres: install-test
	CSPR_TEST_DATABASE_URL=$${CSPR_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} $(BIN)/pytest -q

## Sweep timings on SQLite and PostgreSQL side by side (bench/sweep.py says what is measured).
bench: install
	$(BIN)/python bench/sweep.py

lint: install-test
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench
	$(BIN)/mypy

fmt: install-test
	$(BIN)/ruff check --fix src tests migrations bench
	$(BIN)/ruff format src tests migrations bench

check: lint test

openapi: install
	$(BIN)/cspr-engine openapi

openapi-check: install
	$(BIN)/cspr-engine openapi --check

revision: install
	$(BIN)/alembic revision --autogenerate -m "$(m)"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
