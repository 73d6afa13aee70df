# INFER: `make run` serves the whole platform on an embedded default; `make test` runs every check.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
export TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/infer
export TEST_REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: run test lint format install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev system-deps node-deps

# What the tests need from Debian: Chromium for the browser tests (Playwright drives it, never
# downloads one), pg_dump, which proves no API key secret is ever stored, and PostgreSQL 15's server
# binaries, for the test that restarts a private server of its own (tests/pgserver.py; Debian's
# package would also create and start a cluster of its own: createcluster.conf tells it not to).
.PHONY: system-deps
system-deps:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
	@command -v pg_dump >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null; }
	@test -x /usr/lib/postgresql/15/bin/initdb || { mkdir -p /etc/postgresql-common \
		&& { grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf \
		     || echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf; } \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-15 >/dev/null; }

# Node tools for tests, pinned in package-lock.json: solc compiles the test ERC-20 (billing/chains/contracts),
# hardhat@2 runs a local EVM node in one end-to-end test. Installed once; tests never download.
.PHONY: node-deps
node-deps: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Rebuild the committed ABI + bytecode after editing TestUSDC.sol.
.PHONY: contracts
contracts: node-deps
	node billing/chains/contracts/compile.js > billing/chains/contracts/TestUSDC.json

run: install
	PORT=$(PORT) $(BIN)/python -m infer.devserver

lint: install-dev
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install-dev lint
	$(BIN)/pytest

bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf var
