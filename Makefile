# cspr_engine: `make run` to try it, `make test` to test it. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test assets browser screenshots run serve migrate seed test test-postgres bench bench-backup bench-transitions bench-sweep-scaling bench-latency bench-startup check lint fmt openapi openapi-check revision clean

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

# The web UI's styles and scripts: GOV.UK Frontend compiled with the service's own (npm, once).
WEB := src/cspr_engine/web
ASSETS := $(WEB)/static/build
NPM_STAMP := node_modules/.installed

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "make assets needs Node.js and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(ASSETS)/app.css: $(NPM_STAMP) $(wildcard $(WEB)/scss/*.scss)
	@mkdir -p $(ASSETS)/govuk
	node_modules/.bin/sass --pkg-importer=node --style=compressed --no-source-map --quiet-deps $(WEB)/scss/app.scss $@
	cp node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js $(ASSETS)/
	cp -r node_modules/govuk-frontend/dist/govuk/assets/images $(ASSETS)/govuk/

assets: $(ASSETS)/app.css

# The browser the web UI tests drive: Debian's chromium (Playwright never downloads one).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@$(CHROMIUM) --version

install-test: $(TEST_STAMP)

migrate: install
	$(BIN)/cspr-engine migrate

seed: migrate
	@$(BIN)/cspr-engine admin seed-demo

## Install, build the web UI, migrate the embedded SQLite database, seed demo users, serve.
run: seed assets
	@echo
	@echo "Sign in to the web UI with the e-mail and password above, or give the API a token:"
	@echo "    TOKEN=\$$($(BIN)/cspr-engine admin create-token chair@demo.example)"
	@echo "then call it with  -H \"Authorization: Bearer \$$TOKEN\"  (see README: a short tour)."
	@echo
	$(BIN)/cspr-engine serve

serve: install assets
	$(BIN)/cspr-engine serve

## The whole suite on SQLite (set CSPR_TEST_DATABASE_URL to run it on PostgreSQL).
test: install-test assets browser
	$(BIN)/pytest -q

test-postgres: install-test assets browser
	CSPR_TEST_DATABASE_URL=$${CSPR_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postgres} $(BIN)/pytest -q

## The README's screenshots, taken by the browser tests.
screenshots: install-test assets browser
	CSPR_SCREENSHOT_DIR=docs/screenshots $(BIN)/pytest -q -m browser tests/web/test_browser.py

## Sweep timings on SQLite and PostgreSQL side by side (bench/sweep.py says what is measured).
bench: install
	$(BIN)/python bench/sweep.py

## Transitions per second through the HTTP API against a raw-SQL baseline (bench/transition_rate.py).
bench-transitions: install
	$(BIN)/python bench/transition_rate.py

## Sweep time against due rungs and against open clocks (bench/sweep.py --scaling).
bench-sweep-scaling: install
	$(BIN)/python bench/sweep.py --scaling

## Read latency, start-up time and resident memory by data size (bench/latency.py says what is measured).
bench-latency: install
	$(BIN)/python bench/latency.py

## Start-up time of `cspr-engine serve` to its first 200 from /readyz (bench/startup.py).
bench-startup: install
	$(BIN)/python bench/startup.py

## Backup, restore and audit-check timings on SQLite and PostgreSQL side by side (bench/backup.py).
bench-backup: install
	$(BIN)/python bench/backup.py

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
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache node_modules $(ASSETS)
