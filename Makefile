# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.installed

export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION := False
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__CORE__EXECUTOR := LocalExecutor
# `make airflow AIRFLOW_PORT=8090` moves the api-server; the workers' execution API URL follows it
# (Airflow's default for that URL is http://localhost:8080/execution/ whatever the api port is).
AIRFLOW_PORT ?= 8080
export AIRFLOW__API__PORT := $(AIRFLOW_PORT)
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL := http://localhost:$(AIRFLOW_PORT)/execution/
export AIRFLOW__OPENLINEAGE__TRANSPORT := {"type": "file", "log_file_path": "$(CURDIR)/.estate/lineage/events.jsonl", "append": true}
# Lineage events from a thread of the task, not a fork of it per event (the provider's opt-in;
# forking a task process twice per task cost seconds per demo run).
export AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD := True
export MULTICLOUD_ESTATE ?= include/estate/local.yaml
export PATH := $(CURDIR)/$(BIN):$(PATH)
# Some shells set this; without cached bytecode every Airflow process recompiles airflow, oci and
# boto on start (seconds each), which multiplies across the demo and the test suite.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install lock demo test test-e2e test-fast lint validate airflow db lineage-dir bench browser clean oci-cli

help:
	@echo "make demo      install, then run the whole story end to end on the local estate"
	@echo "make test      install, then run every test (real PostgreSQL, Redis, Celery, S3, browser)"
	@echo "make airflow   Airflow standalone on http://localhost:8080 with these DAGs (AIRFLOW_PORT=...)"
	@echo "make validate  validate the estate file (MULTICLOUD_ESTATE=...)"
	@echo "make bench     run the benchmarks in bench/ (long)"
	@echo "make lock      recompile requirements.txt from requirements.in"

install: $(STAMP)

# The venv is rebuilt only when the lock or the project metadata change.
$(STAMP): requirements.txt pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --python $(BIN)/python --quiet requirements.txt
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	@touch $@

# The real `oci` CLI, for the test that compares its OKE tokens with ours. Its pins (certifi,
# PyYAML, click, ...) conflict with the main lock, so it lives in its own small venv, built once.
OCI_CLI_VERSION := 3.95.1
OCI_CLI_VENV := .cache/oci-cli-$(OCI_CLI_VERSION)
oci-cli: $(OCI_CLI_VENV)/bin/oci

$(OCI_CLI_VENV)/bin/oci: | $(STAMP)
	$(BIN)/uv venv --quiet --python $(PYTHON) $(OCI_CLI_VENV)
	$(BIN)/uv pip install --quiet --python $(OCI_CLI_VENV)/bin/python oci-cli==$(OCI_CLI_VERSION)
	@touch $@

lock:
	$(BIN)/uv pip compile requirements.in -o requirements.txt --python-version 3.11 --no-header --quiet

$(AIRFLOW_HOME)/airflow.db: $(STAMP)
	@mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/migrate.log; exit 1)

db: $(AIRFLOW_HOME)/airflow.db

# OpenLineage's file transport (above) appends to its file but never creates the folder.
lineage-dir:
	@mkdir -p $(CURDIR)/.estate/lineage

validate: $(STAMP)
	$(BIN)/python -m multicloud.estate validate $(MULTICLOUD_ESTATE)

demo: $(STAMP) db validate lineage-dir
	$(BIN)/python -m multicloud.demo $(DEMO_ARGS)

# Headless Chromium from Debian for the Estate view's browser test (no browser download).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian's chromium for the browser test"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	  || echo "WARNING: could not install chromium; the browser test will fail"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest tests -m "not e2e"

# The long real-scheduler tier: tens of minutes on 2 cores (see README, Tests and benchmarks).
test-e2e: $(STAMP) browser
	$(BIN)/python -m pytest tests -m e2e

test-fast: $(STAMP)
	$(BIN)/python -m pytest tests -m "not integration and not browser and not e2e"

lint: $(STAMP)
	$(BIN)/ruff check .

airflow: $(STAMP) db lineage-dir
	@echo "Airflow UI: http://localhost:$(AIRFLOW_PORT)  (user admin; password printed below and in $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated)"
	$(BIN)/airflow standalone

bench: $(STAMP)
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

clean:
	rm -rf .estate $(AIRFLOW_HOME)
