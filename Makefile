# cspr_engine: `make run` to try it, `make test` to test it. Everything installs into .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: install install-test assets browser proxy screenshots run serve migrate seed test test-postgres bench bench-backup bench-transitions bench-sweep-scaling bench-latency bench-startup check lint fmt openapi openapi-check revision lock clean

# Exactly the locked versions, hash-checked (requirements/runtime.txt for the service,
# requirements/test.txt for the tests; `make lock` writes them), then the project itself.
# pip is pinned here, uv (which writes the locks) too.
PIP_VERSION := 26.3
UV_VERSION := 0.13.10
LOCKS := requirements

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(LOCKS)/runtime.txt pyproject.toml setup.py | $(BIN)/python
	$(BIN)/pip install --quiet pip==$(PIP_VERSION)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCKS)/runtime.txt
	$(BIN)/pip install --quiet --no-deps -e .
	@touch $@

$(TEST_STAMP): $(LOCKS)/test.txt $(STAMP)
	$(BIN)/pip install --quiet --require-hashes -r $(LOCKS)/test.txt
	@touch $@

## Refresh every lock for Python 3.11 on Linux: runtime.txt from pyproject.toml, test.txt from
## its test extras within runtime.txt's pins, and requirements/NAME.txt from each NAME.in.
## A pin pyproject.toml still allows is kept; `make lock UPGRADE=1` takes the newest allowed.
LOCK_COMPILE = $(BIN)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform linux --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(LOCK_COMPILE) pyproject.toml -o $(LOCKS)/runtime.txt
	$(LOCK_COMPILE) pyproject.toml --extra test -c $(LOCKS)/runtime.txt -o $(LOCKS)/test.txt
	@for source in $(wildcard $(LOCKS)/*.in); do \
		echo "uv pip compile $$source -o $${source%.in}.txt"; \
		$(LOCK_COMPILE) $$source -o $${source%.in}.txt || exit 1; \
	done

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

# The API documentation's (/docs, /redoc: api/docs.py), served from here, not from a CDN.
# ReDoc's sidebar shows a logo it loads from its maker's CDN: that one URL becomes an empty
# data: URI, so the page asks nothing of any other host (the image hides itself).
DOCS := $(ASSETS)/docs
REDOC_LOGO := https://cdn.redoc.ly/redoc/logo-mini.svg
$(DOCS)/redoc.standalone.js: $(NPM_STAMP)
	@mkdir -p $(DOCS)
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css $(DOCS)/
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt node_modules/swagger-ui-dist/LICENSE $(DOCS)/
	cp node_modules/redoc/bundles/redoc.standalone.js.LICENSE.txt $(DOCS)/
	sed 's|$(REDOC_LOGO)|data:,|' node_modules/redoc/bundles/redoc.standalone.js > $@.tmp
	@! grep -q 'cdn\.redoc\.ly' $@.tmp || { echo "redoc.standalone.js still names its CDN"; exit 1; }
	mv $@.tmp $@

assets: $(ASSETS)/app.css $(DOCS)/redoc.standalone.js

# The browser the web UI tests drive: Debian's chromium (Playwright never downloads one).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@$(CHROMIUM) --version

# The deployment test's reverse proxy and throwaway certificates (tests/deployment): Debian's
# nginx and openssl.
NGINX ?= /usr/sbin/nginx
proxy:
	@{ test -x $(NGINX) && command -v openssl >/dev/null; } || { \
		echo "installing Debian's nginx and openssl for the deployment test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light openssl >/dev/null; }
	@$(NGINX) -v

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
