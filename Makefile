# One virtual environment in .venv, rebuilt when pyproject.toml changes.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup demo test lint docs dist bench bench-quick bench-scale soak

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test,dev,bench,docs]"
	touch $@

setup: $(VENV)/.installed

demo: setup
	@echo "appmux demo: point a browser at"
	@echo "  http://localhost:8000/               Flask frontend"
	@echo "  http://localhost:8000/backend/       Flask API"
	@echo "  http://localhost:8000/legacy/        Django project"
	@echo "  http://localhost:8000/api/v2/        FastAPI service (websocket echo at /api/v2/ws)"
	@echo "  http://acme.localhost:8000/          a registry tenant's Flask app (also globex; others: 404)"
	@echo "  http://umbrella.localhost:8000/      a registry tenant's FastAPI app"
	@echo "  http://127.0.0.1:9100/status         the status page (/metrics for Prometheus)"
	@echo "Add a tenant while it runs: (cd examples && ../$(VENV)/bin/appmux tenants add initech)"
	@echo "Ctrl-C stops it."
	$(PY) examples/seed_tenants.py
	$(VENV)/bin/appmux serve examples/appmux.toml

test: setup
	$(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check src tests examples benchmarks
	$(VENV)/bin/ruff format --check src tests examples benchmarks
	$(VENV)/bin/mypy

# The documentation site: docs/_build/html (warnings are errors; offline).
docs: setup
	$(VENV)/bin/sphinx-build -W --keep-going -n -q -b html docs docs/_build/html

# A wheel and an sdist in dist/, checked by twine.
dist: setup
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

# The whole suite (a few minutes), its table, benchmarks/results.json and the plot.
bench: setup
	$(PY) -m benchmarks --json benchmarks/results.json --plot benchmarks/dispatch_cost.png

# A one-minute smoke run of every scenario.
bench-quick: setup
	$(PY) -m benchmarks --quick

# A registry of a million tenants, on SQLite and PostgreSQL (about 10 minutes;
# BENCHMARKS.md, section 11). BENCH_SCALE=--quick for small registries.
bench-scale: setup
	$(PY) -m benchmarks.scale $(BENCH_SCALE) --json benchmarks/scale.json

# The soak and fault suite: about 80 s of load on gunicorn, then on waitress (RELIABILITY.md).
soak: setup
	$(PY) tests/soak/soak_suite.py --seconds 80 --json soak-results.json
