# The two set-up commands of the README: `make run` (the product) and `make test` (the whole suite).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: run test test-fast test-slow lint typecheck lock bench clean-venv

# The development run: DEBUG on (the settings default it off), unless the caller says otherwise.
run: export DEBUG ?= true
run:
	scripts/bootstrap.sh venv requirements/base.txt
	scripts/bootstrap.sh services $(if $(findstring amqp,$(CELERY_BROKER_URL)),rabbitmq,)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py mqtt_setup
	$(PY) manage.py collectstatic --noinput -v 0
	$(PY) manage.py mqtt_admin
	$(PY) manage.py mqtt_demo
	WEB_BIND=127.0.0.1 FLOWER_ADDRESS=127.0.0.1 honcho start -f Procfile.dev

# Everything, browser and fault tests included (what CI runs).
test:
	scripts/bootstrap.sh venv requirements/dev.txt
	scripts/bootstrap.sh services $(if $(findstring postgres,$(DATABASE_URL)),postgres,) rabbitmq
	scripts/ensure_chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# Quick loop: everything except the slow browser and fault tests.
test-fast:
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow:
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: typecheck
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# mypy with django-stubs on the product's packages (config: pyproject.toml).
typecheck:
	scripts/bootstrap.sh venv requirements/dev.txt
	$(VENV)/bin/mypy

# The ingestion benchmark on PostgreSQL (a database of its own, dropped and created per run), three runs summed
# up in one table; figures, not tests. The others: docs/benchmarks.md.
bench:
	scripts/bootstrap.sh venv requirements/dev.txt
	scripts/bootstrap.sh services postgres
	$(PY) -m bench.ingest_runs --runs $(or $(RUNS),3) $(if $(BENCH_ARGS),-- $(BENCH_ARGS),)

# Re-pin after editing requirements/*.in.
lock:
	cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links base.in -o base.txt
	cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-header --no-emit-index-url --no-emit-find-links dev.in -o dev.txt

clean-venv:
	rm -rf $(VENV)
