# Developer entry points for the todo service. `make` lists them; README.md explains them.
# Everything runs from a local virtualenv (.venv) built from the locked requirements:
# `make run` installs only the runtime lock (requirements/base.txt); `make install`, `make test`,
# `make lint` and the tools install the dev lock (requirements/dev.txt, a superset at the same
# versions) and checkov's own virtualenv (.venv-checkov from requirements/checkov.txt).

.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
# One Redis database per pass: `make -j2 test` (.ci/run) runs the passes side by side, and their
# cache, throttle and broker keys would otherwise meet.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
TEST_POSTGRES_REDIS_URL ?= redis://127.0.0.1:6379/14
PYTEST_ARGS ?=

.PHONY: help install install-runtime checkov-env run superuser bench bench-instructions bench-cycles bench-bytecodes test test-sqlite test-postgres \
	coverage-erase lint lint-python \
	lint-generated lint-observability lint-k8s generate rules dashboards k8s schema format lock clean load soak fuzz check-django-mixin

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip prints each package as it is collected and installed (no --quiet: long installs show
# progress); PIP_ARGS adds options (e.g. PIP_ARGS=--quiet).
PIP_ARGS ?=
PIP := $(BIN)/python -m pip install --disable-pip-version-check $(PIP_ARGS)

$(VENV)/.runtime-installed: requirements/base.txt | $(BIN)/python
	@echo "==> installing the runtime lock (requirements/base.txt) into $(VENV)"
	$(PIP) --upgrade pip
	$(PIP) -r requirements/base.txt
	@touch $@

# The dev lock holds every runtime package at the same version (`make lock` constrains it to
# base.txt), so a dev install also counts as a runtime install.
$(VENV)/.installed: requirements/dev.txt | $(BIN)/python
	@echo "==> installing the dev lock (requirements/dev.txt) into $(VENV)"
	$(PIP) --upgrade pip
	$(PIP) -r requirements/dev.txt
	@touch $@ $(VENV)/.runtime-installed

# checkov (tests/k8s/test_checkov.py) runs from its own virtualenv: its pins would drag the
# shared lock backwards (pyproject.toml, group `checkov`).
CHECKOV_VENV ?= .venv-checkov
$(CHECKOV_VENV)/.installed: requirements/checkov.txt
	@echo "==> installing checkov (requirements/checkov.txt) into $(CHECKOV_VENV)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check $(PIP_ARGS) --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --disable-pip-version-check $(PIP_ARGS) \
		-r requirements/checkov.txt
	@touch $@

install-runtime: $(VENV)/.runtime-installed ## create .venv with the runtime dependencies only (what `make run` needs)
checkov-env: $(CHECKOV_VENV)/.installed ## checkov's own virtualenv (.venv-checkov), for tests/k8s
install: $(VENV)/.installed checkov-env ## create .venv with the dev dependencies, and .venv-checkov

# `make run` is a plain-HTTP local server with debug off: a secret is generated once into
# var/secret_key, TLS-only protections are switched off, and SQLite lives in var/. Beside
# gunicorn run one Celery worker and beat (app/jobs/supervise.py); without REDIS_URL their
# broker is Kombu's filesystem transport in var/broker, export files go to var/exports.
run superuser: export DJANGO_SECRET_KEY_FILE ?= var/secret_key
run superuser: export DJANGO_ALLOWED_HOSTS ?= 127.0.0.1,localhost,[::1]
run superuser: export DJANGO_SECURE_SSL_REDIRECT ?= false
run superuser: export DJANGO_SECURE_HSTS_SECONDS ?= 0
run superuser: export DJANGO_SESSION_COOKIE_SECURE ?= false
run superuser: export DJANGO_CSRF_COOKIE_SECURE ?= false
run superuser: export DATABASE_URL ?= sqlite:///$(CURDIR)/var/db.sqlite3
run superuser: export DJANGO_STATIC_ROOT ?= $(CURDIR)/var/static
run superuser: export BIND_HOST ?= 127.0.0.1
run: export PORT := $(PORT)
run: install-runtime var/secret_key ## serve the API (gunicorn, :8000, PORT=...) plus a Celery worker and beat
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py ensure_demo_user --base-url http://127.0.0.1:$(PORT)
	@$(BIN)/python manage.py ensure_demo_user --staff --username demo-admin \
		--password demo-admin-password-2024 --base-url http://127.0.0.1:$(PORT) >/dev/null
	@echo "Staff user 'demo-admin' (password demo-admin-password-2024): /admin/ and /api/faults/"
	@echo "API docs: http://127.0.0.1:$(PORT)/api/docs/  metrics: http://127.0.0.1:$${METRICS_PORT:-9464}/metrics  (Ctrl-C stops)"
	@echo "Jobs: one Celery worker and beat beside gunicorn; broker: $${CELERY_BROKER_URL:-$${REDIS_URL:-filesystem:// in var/broker}}; worker metrics: http://127.0.0.1:$${WORKER_METRICS_PORT:-9465}/metrics"
	exec $(BIN)/python -m app.jobs.supervise --config gunicorn.conf.py

var/secret_key: | $(VENV)/.runtime-installed
	@mkdir -p var
	@umask 077; $(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))' > $@

superuser: install-runtime var/secret_key ## create an admin login for the `make run` database
	$(BIN)/python manage.py migrate --noinput --verbosity 0
	$(BIN)/python manage.py createsuperuser

bench: install ## instrumentation overhead: bare vs project, zero-code OTel and Sentry tracing, the response cache on vs off; alternating rounds, then paired rounds the targets are read from (needs wrk, Redis)
	@command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk"; exit 2; }
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

bench-instructions: install ## the same variants as instructions per request (callgrind; steady on a busy machine; needs valgrind)
	@command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind"; exit 2; }
	$(BIN)/python -m loadtests.instructions $(BENCH_ARGS)

bench-cycles: install ## the same variants as modelled CPU cycles per request: instructions, cache misses and mispredicted branches simulated by cachegrind (steady from run to run; minutes per variant under valgrind; needs valgrind)
	@command -v valgrind >/dev/null || { echo "valgrind is missing: apt-get install -y valgrind"; exit 2; }
	$(BIN)/python -m loadtests.cycles $(BENCH_ARGS)

bench-bytecodes: install ## where a variant's extra work over bare goes: Python bytecodes per request by component and function (30 s with the defaults)
	$(BIN)/python -m loadtests.bytecodes $(BENCH_ARGS)

# Coverage (pyproject.toml's [tool.coverage.*] says what is measured and how): both passes run
# pytest under coverage.py, and every Python process the tests start from .venv (gunicorn
# masters and workers, Celery, manage.py) measures itself; each writes a data file under
# var/coverage/ (git-ignored). At the end `make test` combines them, prints the files not fully
# covered, writes var/coverage/html/index.html and coverage.json, and fails under the overall
# floor (fail_under) or a package's COVERAGE_FLOORS (tests/support/coverage_floors.py).
# On by default; `make test COVERAGE=0` runs the tests unmeasured and prints no report. With
# the two passes side by side, measured, `make test` fits CI's 20 minutes (README, Coverage).
COVERAGE ?= 1
COVERAGE_DIR := var/coverage
COVERAGE_FLOORS ?= app/todos=95 app/accounts=95 app/api=95
ifeq ($(COVERAGE),1)
PYTEST := $(BIN)/python -m coverage run -m pytest
else
PYTEST := $(BIN)/python -m pytest
endif
# Absolute, so that processes started in another directory write their data here too.
test test-sqlite test-postgres coverage-erase: export COVERAGE_FILE := $(CURDIR)/$(COVERAGE_DIR)/.coverage

# The two passes share nothing but the servers (each its own Redis database, random database,
# port and directory names): `make test` runs them side by side (a make of its own with -j2,
# each pass's output kept together by -O), then reports coverage.
test: ## run the whole suite on SQLite and, side by side, on PostgreSQL if reachable; then coverage and its floors
	@$(MAKE) --no-print-directory -j2 -O test-sqlite test-postgres
ifeq ($(COVERAGE),1)
	@echo "==> coverage of app/ (pytest, gunicorn masters and workers, Celery, manage.py; both passes)"
	@$(BIN)/python -m coverage combine --quiet
	@$(BIN)/python -m coverage html --quiet --fail-under=0
	@$(BIN)/python -m coverage json --quiet --fail-under=0
	@status=0; $(BIN)/python -m coverage report || status=1; \
		$(BIN)/python -m tests.support.coverage_floors $(COVERAGE_DIR)/coverage.json $(COVERAGE_FLOORS) \
			|| status=1; \
		echo "HTML report: $(COVERAGE_DIR)/html/index.html (open it in a browser)"; exit $$status
endif

# Once per make run, before the first pass: forget the data of an earlier run.
coverage-erase:
	@rm -rf $(COVERAGE_DIR) && mkdir -p $(COVERAGE_DIR)

# Deselected in `make test`: django_mixin (needs a rendered copy of the community django-mixin,
# which this repository does not ship: `make check-django-mixin`); browser on PostgreSQL.
test-sqlite: export TEST_REDIS_URL := $(TEST_REDIS_URL)
test-sqlite: install $(if $(filter 1,$(COVERAGE)),coverage-erase) ## run the suite on SQLite
	$(PYTEST) -m "not django_mixin" $(PYTEST_ARGS)

# Suites that never reach the database (manifests, observability configs, the load-test
# tooling, the image and the pod runner, whose pods get their own PostgreSQL database) and
# modules marked `database_free` (tests/conftest.py refuses the mark on a test with database
# access) run once, in the SQLite pass: a second run on PostgreSQL would test nothing new.
DATABASE_FREE_TESTS ?= tests/k8s tests/image tests/observability tests/loadtests tests/test_config_headers.py \
	tests/test_dependencies.py
test-postgres: export TEST_REDIS_URL := $(TEST_POSTGRES_REDIS_URL)
test-postgres: install $(if $(filter 1,$(COVERAGE)),coverage-erase) ## run the suite on PostgreSQL (TEST_POSTGRES_URL=...), less the database-free suites
	@if $(BIN)/python -m tests.support.backing_services postgres "$(TEST_POSTGRES_URL)"; then \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(PYTEST) \
			-m "not browser and not django_mixin and not database_free" \
			$(addprefix --ignore=,$(DATABASE_FREE_TESTS)) $(PYTEST_ARGS); \
	elif [ "$${REQUIRE_SERVICES:-0}" = "1" ]; then \
		echo "FAILED: PostgreSQL at $(TEST_POSTGRES_URL) is unreachable and REQUIRE_SERVICES=1"; exit 1; \
	else \
		echo "SKIPPED the PostgreSQL pass: no server at $(TEST_POSTGRES_URL)."; \
		echo "  Start one (e.g. apt-get install postgresql) or set TEST_POSTGRES_URL."; \
	fi

# `make load`: Locust against HOST with the SLO gate (loadtests/README.md). LOAD_SHAPE picks the
# shape; Locust's own LOCUST_USERS, LOCUST_SPAWN_RATE, LOCUST_RUN_TIME (or -u/-r/-t in
# LOCUST_ARGS) size it; LOAD_MIX, LOAD_ACCOUNTS, ... pass through the environment to Locust.
HOST ?= http://127.0.0.1:8000
LOAD_SHAPE ?= smoke
LOAD_RESULTS ?= loadtests/results
LOCUST_ARGS ?=

load: install ## headless Locust run (LOAD_SHAPE=smoke) against HOST; fails when the SLO gate does
	@mkdir -p $(LOAD_RESULTS)
	$(BIN)/locust -f loadtests/locustfile.py --headless --host $(HOST) --shape $(LOAD_SHAPE) \
		--csv $(LOAD_RESULTS)/$(LOAD_SHAPE) --html $(LOAD_RESULTS)/$(LOAD_SHAPE).html $(LOCUST_ARGS)

# `make soak` (opt-in, not in `make test`): 10 minutes of the Locust soak shape against a local
# gunicorn (2 workers, PostgreSQL if reachable); RSS per worker, errors, latency, PASS/FAIL.
SOAK_ARGS ?=
SOAK_MINUTES ?= 10
soak: install ## opt-in soak (SOAK_MINUTES=10): a progress line per sample, RSS per worker, PASS/FAIL
	@mkdir -p loadtests/results
	TEST_POSTGRES_URL="$(TEST_POSTGRES_URL)" $(BIN)/python -m loadtests.soak --minutes $(SOAK_MINUTES) $(SOAK_ARGS)

# `make fuzz`: the long schemathesis run of tests/security/test_fuzz.py against a fresh server.
# FUZZ_EXAMPLES per operation and phase; FUZZ_SEED picks another reproducible sample. `-s`: the
# test echoes schemathesis' output as it comes, so the run shows progress instead of nothing.
FUZZ_EXAMPLES ?= 500
FUZZ_SEED ?= 20261127
fuzz: install ## long property-based API fuzzing, streamed as it runs (FUZZ_EXAMPLES=500, FUZZ_SEED=...), at most 15 min
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FUZZ_SEED=$(FUZZ_SEED) FUZZ_TIMEOUT_S=900 \
		DATABASE_URL="$(TEST_POSTGRES_URL)" $(BIN)/python -m pytest tests/security/test_fuzz.py -s -rA $(PYTEST_ARGS)

# The four parts are independent: `make -j2 -O lint` (as .ci/run does) runs them side by side.
lint: lint-python lint-generated lint-observability lint-k8s ## ruff, mypy, bandit, generated files fresh, the observability and k8s checks

lint-python: install ## ruff (lint and format), mypy, bandit
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_DEBUG=true $(BIN)/mypy  # the stubs plugin imports the settings
	$(BIN)/bandit -r app loadtests k8s observability gunicorn.conf.py -q

lint-generated: install ## fail naming every stale generated file (what `make generate CHECK=1` does)
	$(call run-generators,1)

# promtool/amtool come from Debian's prometheus and prometheus-alertmanager packages.
# (Whether the generated files are fresh: `make lint-generated`, part of `make lint`.)
lint-observability: install ## promtool and amtool checks of the rules, tests and configs
	promtool check config --syntax-only observability/prometheus/prometheus.yml
	promtool check rules observability/prometheus/rules/*.yml
	promtool test rules observability/prometheus/tests/*_test.yml
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
		sed 's|$${ALERTMANAGER_WEBHOOK_URL}|http://127.0.0.1:9/webhook|' \
		observability/alertmanager/alertmanager.yml > "$$tmp/alertmanager.yml" && \
		amtool check-config "$$tmp/alertmanager.yml"

# Offline: every overlay renders and validates strictly against each of $(K8S_VERSIONS), the
# oldest and newest supported Kubernetes releases (k8s/validate.py says why these; custom
# resources and policies: tests/k8s), hadolint.
K8S_VERSIONS ?= 1.35.0 1.37.0
K8S_TARGETS ?= k8s/overlays/dev k8s/overlays/production k8s/loadtest
lint-k8s: install ## k8s manifests rendered and schema-valid; both Dockerfiles linted
	$(BIN)/hadolint Dockerfile
	$(BIN)/hadolint loadtests/Dockerfile
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; for target in $(K8S_TARGETS); do \
		echo "kubectl kustomize $$target | python -m k8s.validate"; \
		kubectl kustomize "$$target" > "$$tmp/rendered.yaml"; \
		$(BIN)/python -m k8s.validate $(foreach version,$(K8S_VERSIONS),--kubernetes-version $(version)) \
			"$$tmp/rendered.yaml"; \
	done

# `make generate`: every generated file from its single source, in dependency order: the SLO
# rules (from observability/slo.yaml), the dashboards' JSON (from their code), then the k8s
# manifests that wrap them; and the GraphQL schema's SDL (from app/graphql; the settings need
# debug to load without secrets, which the SDL does not depend on). CHECK=1 writes nothing and
# fails naming every stale file.
# (The community django-mixin's alerts are not generated here: `make check-django-mixin`.)
SCHEMA_COMMAND := DJANGO_DEBUG=true $(BIN)/python manage.py graphql_schema
GENERATORS := observability.prometheus.slo_rules observability.grafana.dashboards.src.generate \
	k8s.generate
CHECK ?=
# $(call run-generators,CHECK): every generator in order; with a non-empty CHECK, --check each.
define run-generators
	@status=0; for module in $(GENERATORS); do \
		echo "$(BIN)/python -m $$module $(if $(1),--check)"; \
		$(BIN)/python -m $$module $(if $(1),--check) || { status=1; [ -n "$(1)" ] || exit 1; }; \
	done; \
	echo "$(SCHEMA_COMMAND) $(if $(1),--check)"; \
	$(SCHEMA_COMMAND) $(if $(1),--check) || { status=1; [ -n "$(1)" ] || exit 1; }; \
	if [ $$status -ne 0 ]; then echo "generated files are stale: run \`make generate\`"; fi; \
	exit $$status
endef
generate: install ## regenerate rules -> dashboards -> k8s manifests -> GraphQL SDL (CHECK=1: fail if any is stale)
	$(call run-generators,$(CHECK))

# `make check-django-mixin` (opt-in, not in `make test` or `make lint`): for a user who has the
# community django-mixin (no licence: this repository ships nothing of it; see
# observability/django-mixin/README.md). Fits DJANGO_MIXIN (its rendered prometheus_alerts.yaml)
# to this service into a temporary directory, then promtool checks the rules, runs this
# project's promtool tests on them, and runs the live test against gunicorn and Prometheus.
DJANGO_MIXIN ?=
check-django-mixin: install ## opt-in: fit your django-mixin copy (DJANGO_MIXIN=.../prometheus_alerts.yaml), promtool + live tests
	@[ -n "$(DJANGO_MIXIN)" ] || { echo "usage: make check-django-mixin DJANGO_MIXIN=/path/to/prometheus_alerts.yaml (observability/django-mixin/README.md)"; exit 2; }
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	echo "$(BIN)/python -m observability.prometheus.django_mixin_rules --upstream $(DJANGO_MIXIN) --output $$tmp/django-mixin.yml --unit-tests-output $$tmp/django_mixin_test.yml"; \
	$(BIN)/python -m observability.prometheus.django_mixin_rules --upstream "$(DJANGO_MIXIN)" \
		--output "$$tmp/django-mixin.yml" --unit-tests-output "$$tmp/django_mixin_test.yml"; \
	promtool check rules "$$tmp/django-mixin.yml"; \
	promtool test rules "$$tmp/django_mixin_test.yml"; \
	DJANGO_MIXIN="$(abspath $(DJANGO_MIXIN))" DJANGO_MIXIN_RULES="$$tmp/django-mixin.yml" \
		$(BIN)/python -m pytest tests/e2e/test_django_mixin_live.py -m django_mixin $(PYTEST_ARGS)

schema: install ## regenerate the GraphQL schema's SDL (app/graphql/schema.graphql) from its code
	$(SCHEMA_COMMAND)

k8s: install ## regenerate the k8s/ files made from observability/
	$(BIN)/python -m k8s.generate

rules: install ## regenerate the SLO rules (observability/prometheus/rules/slo.yml) from slo.yaml
	$(BIN)/python -m observability.prometheus.slo_rules

dashboards: install ## regenerate the Grafana dashboards' JSON from their code
	$(BIN)/python -m observability.grafana.dashboards.src.generate

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Three locks: runtime; dev (+ the grpc extra) at the runtime lock's versions; checkov alone.
LOCK_ARGS := --python-version 3.11 --no-emit-index-url --no-emit-find-links --quiet
lock: install ## re-resolve requirements/*.txt from pyproject.toml (exact versions, no index URLs)
	$(BIN)/uv pip compile pyproject.toml $(LOCK_ARGS) -o requirements/base.txt
	$(BIN)/uv pip compile pyproject.toml --extra grpc --group dev -c requirements/base.txt \
		$(LOCK_ARGS) -o requirements/dev.txt
	$(BIN)/uv pip compile --group pyproject.toml:checkov $(LOCK_ARGS) -o requirements/checkov.txt

clean: ## remove the virtualenv, local database, static files and caches
	rm -rf $(VENV) $(CHECKOV_VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
