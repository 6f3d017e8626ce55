# The two commands of the README. Each sets up .venv first (again only when a requirements file changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: plan test bench setup postgresql

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# What `plan` and `test` share: the virtualenv, and PostgreSQL for the database tests (which start their own server).
setup: $(STAMP) postgresql

# Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres), installed when initdb is missing; as root, since
# the package manager needs it (no sudo on our machines). The tests run the server as the package's `postgres` user.
postgresql:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; \
	else echo "PostgreSQL is missing: as root, run apt-get update && apt-get install -y postgresql" >&2; exit 1; fi

# The offline plan of the dev stack (no Pulumi CLI, no credentials); written to build/plan-dev.json.
plan: setup
	$(VENV)/bin/python -m bankctl plan dev --out build/plan-dev.json

# Lint, then the whole test suite; it starts its own services (moto server and PostgreSQL on loopback).
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -n 2 -q

bench: $(STAMP)
	$(VENV)/bin/python bench/plan_bench.py
