# The two commands of the README. Each sets up .venv first (again only when a requirements file changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: plan test bench

$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

# The offline plan of the dev stack (no Pulumi CLI, no credentials); written to build/plan-dev.json.
plan: $(STAMP)
	$(VENV)/bin/python -m bankctl plan dev --out build/plan-dev.json

# Lint, then the whole test suite; it starts its own services (moto server on loopback).
test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest -n 2 -q

bench: $(STAMP)
	$(VENV)/bin/python bench/plan_bench.py
