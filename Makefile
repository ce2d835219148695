# BlinkPOS: `make run` starts the whole stack, `make test` runs the test suite.
# Both use DATABASE_URL / REDIS_URL when set, and otherwise start an embedded PostgreSQL and Redis
# (Python packages, data under .local/) that stop when the command exits.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
WITH_SERVICES := $(BIN)/python -m blinkpos.devservices --
# The servers default to production settings; everything started from here names its own.
# (make test: pyproject.toml names blinkpos.settings.test.)
DEV_SETTINGS ?= blinkpos.settings.dev

.PHONY: install run test lint typecheck check bench bench-webhooks chaos cluster audit clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

run: install
	DJANGO_SETTINGS_MODULE=$(DEV_SETTINGS) $(WITH_SERVICES) $(BIN)/python -m blinkpos.runstack

test: install
	$(WITH_SERVICES) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy blinkpos payments analytics dashboard console fakeblink cluster bench chaos

check: lint typecheck test

clean:
	rm -rf .local .pytest_cache .mypy_cache .ruff_cache artifacts

# Benchmarks (bench/, docs/PERFORMANCE.md): loopback only, bounded, prints a table + artifacts/bench/*.json.
bench: install
	DJANGO_SETTINGS_MODULE=$(DEV_SETTINGS) $(WITH_SERVICES) $(BIN)/python -m bench $(BENCH_ARGS)
	DJANGO_SETTINGS_MODULE=$(DEV_SETTINGS) $(WITH_SERVICES) $(BIN)/python -m bench.webhooks_out $(BENCH_WEBHOOKS_ARGS)

# Merchants' outgoing webhooks alone (bench/webhooks_out.py, docs/WEBHOOKS.md).
bench-webhooks: install
	DJANGO_SETTINGS_MODULE=$(DEV_SETTINGS) $(WITH_SERVICES) $(BIN)/python -m bench.webhooks_out $(BENCH_WEBHOOKS_ARGS)

# Chaos soak (chaos/, README "Reliability"): the real stack under stacked faults, then the money invariants
# and a secret scan; its own PostgreSQL and Redis, loopback only. JSON report under artifacts/chaos/.
# CHAOS_ARGS="--sales 20000 --duration 7200" is the long run.
chaos: install
	DJANGO_SETTINGS_MODULE=$(DEV_SETTINGS) $(WITH_SERVICES) $(BIN)/python -m chaos $(CHAOS_ARGS)

# Multi-node rehearsal (cluster/, docs/SCALING.md): PostgreSQL primary + streaming replica, Redis with
# three Sentinels, two web nodes, forwarding workers on two "hosts", beat; fails Redis over and kills a
# worker host under load, then checks the money invariants. Its own servers, loopback only, bounded.
cluster: install
	$(BIN)/python -m cluster $(CLUSTER_ARGS)

# Known vulnerabilities in the pinned dependencies (needs the PyPI / OSV JSON APIs).
audit: install
	$(BIN)/pip-audit -r requirements.txt
