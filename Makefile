# Two commands do everything: `make demo` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | sha1sum | cut -c1-12)

export AIRFLOW_HOME ?= $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(AIRFLOW_HOME)/airflow.db
export PAYROLL_DATA_DIR ?= $(CURDIR)/data
# Connections are Fernet-encrypted; scripts/airflow_setup.py generates this key once (0600).
export AIRFLOW__CORE__FERNET_KEY_CMD ?= cat $(AIRFLOW_HOME)/fernet.key

.PHONY: help install demo test lint simulators airflow bench dq-report connect-loket compare-connectors clean

help:
	@echo "make demo        - install, start simulators, run every demo employer's nightly DAG, print results"
	@echo "make test        - the whole test suite (CI runs this)"
	@echo "make airflow     - airflow standalone with the project's DAGs (UI on http://127.0.0.1:8080)"
	@echo "make simulators  - payroll simulators in the foreground (8081 Loket REST, 8082 Loket SOAP, 8083 Nmbrs)"
	@echo "make bench       - benchmarks (prints figures)"
	@echo "make dq-report   - data-quality summary of the latest runs"
	@echo "make connect-loket EMPLOYER=key - first login (Eerste aanmelding) of a Loket.nl REST employer"
	@echo "make compare-connectors EMPLOYER=key [DATE=YYYY-MM-DD] - go/no-go report of a shadow connector"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@rm -f $(VENV)/.installed-*; touch $@

install: $(STAMP)

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .

simulators: install
	$(PY) -m payroll_simulators

airflow: install
	$(PY) scripts/airflow_setup.py
	$(VENV)/bin/airflow standalone

bench: install
	$(PY) bench/run_all.py

dq-report: install
	$(PY) -m payroll_etl.quality.report

connect-loket: install
	@test -n "$(EMPLOYER)" || (echo "usage: make connect-loket EMPLOYER=<employer key>"; exit 2)
	$(PY) scripts/connect_loket.py --employer $(EMPLOYER)

compare-connectors: install
	@test -n "$(EMPLOYER)" || (echo "usage: make compare-connectors EMPLOYER=<employer key> [DATE=YYYY-MM-DD]"; exit 2)
	$(PY) -m payroll_etl.compare $(EMPLOYER) $(if $(DATE),--date $(DATE)) $(if $(CONNECTOR),--connector $(CONNECTOR))

clean:
	rm -rf data .airflow
