# trackgw — the two commands in the README are `make run` and `make test`.
# Everything they need is installed by these targets: the venv, the local TimescaleDB and
# Mosquitto (deploy/local/up), and the database schema.

VENV   ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: run test setup venv services down status migrate web test-tools lint typecheck ci bench clean

run: setup                      ## the gateway with the demo phone, on the local services
	$(BIN)/trackgw serve --demo

test: setup test-tools          ## the whole suite against the real local services
	$(BIN)/pytest

setup: venv services migrate web

venv: $(STAMP)
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

services:
	deploy/local/up

down:
	deploy/local/down

status:
	deploy/local/status

WEB = gateway/web
web: $(WEB)/dist/.built          ## the live page's assets: Leaflet from the npm registry (lock file)
$(WEB)/dist/.built: $(WEB)/package.json $(WEB)/package-lock.json $(wildcard $(WEB)/src/*)
	deploy/local/tools node
	npm ci --prefix $(WEB) --no-audit --no-fund --loglevel=error
	rm -rf $(WEB)/dist && mkdir -p $(WEB)/dist/vendor/leaflet
	cp $(WEB)/src/* $(WEB)/dist/
	cp -r $(WEB)/node_modules/leaflet/dist/leaflet.js $(WEB)/node_modules/leaflet/dist/leaflet.css \
	  $(WEB)/node_modules/leaflet/dist/images $(WEB)/dist/vendor/leaflet/
	touch $@

test-tools:                     ## what only the tests need: Debian's chromium for the browser test
	deploy/local/tools chromium

migrate: venv services
	$(BIN)/trackgw db migrate

# the one quality bar, on the whole tree (pyproject.toml: [tool.ruff], [tool.mypy])
TYPED = gateway protocols geofence entitlements tests bench

lint: venv                      ## ruff lint and format check, the whole tree
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv                 ## mypy: protocols/geofence/entitlements strict, the rest typed
	$(BIN)/mypy $(TYPED)

ci: lint typecheck test         ## what .ci/run runs: the bar first, then the suite

bench: setup
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
