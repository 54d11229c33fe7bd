# trackgw — the two commands in the README are `make run` and `make test`.
# Everything they need is installed by these targets: the venv, the local TimescaleDB and
# Mosquitto (deploy/local/up), and the database schema.

VENV   ?= .venv
PYTHON ?= $(shell command -v python3.11 || command -v python3)
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-stamp

.PHONY: run test setup venv services down status migrate lint typecheck bench clean

run: setup                      ## the gateway with the demo phone, on the local services
	$(BIN)/trackgw serve --demo

test: setup                     ## the whole suite against the real local services
	$(BIN)/pytest

setup: venv services migrate

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

migrate: venv services
	$(BIN)/trackgw db migrate

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check protocols geofence entitlements

typecheck: venv
	$(BIN)/mypy protocols geofence entitlements

bench: setup
	@for b in bench/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
