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
# Airflow's metadata DB: its own database on the local PostgreSQL the README requires (created by
# scripts/airflow_setup.py if missing). SQLite cannot serve a scheduler and a backfill at once.
# One database per checkout (its Fernet key lives in .airflow/): airflow_payroll_<hash of the path>.
AIRFLOW_DB ?= airflow_payroll_$(shell printf %s "$(CURDIR)" | sha1sum | cut -c1-8)
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= postgresql+psycopg://postgres@127.0.0.1:5432/$(AIRFLOW_DB)
# The Connections page's "Test" button (the payroll hooks make one cheap authenticated call).
export AIRFLOW__CORE__TEST_CONNECTION ?= Enabled
export PAYROLL_DATA_DIR ?= $(CURDIR)/data
# Connections are Fernet-encrypted; scripts/airflow_setup.py generates this key once (0600).
export AIRFLOW__CORE__FERNET_KEY_CMD ?= cat $(AIRFLOW_HOME)/fernet.key

.PHONY: help install demo test lint simulators airflow airflow-cli backfill bench schema soak dq-report connect-loket connect-nmbrs compare-connectors clean

help:
	@echo "make demo        - install, start simulators, run every demo employer's nightly DAG, print results"
	@echo "make test        - the whole test suite (CI runs this)"
	@echo "make airflow     - local Airflow (PostgreSQL metadata DB) + simulators; UI on http://127.0.0.1:8080"
	@echo "make airflow-cli ARGS=\"dags list\" - any airflow command with the project's environment"
	@echo "make backfill EMPLOYER=key FROM=YYYY-MM-DD TO=YYYY-MM-DD [UNPAUSE=1] [DRY_RUN=1] - backfill past pay periods"
	@echo "make simulators  - payroll simulators in the foreground (8081 Loket REST, 8082 Loket SOAP, 8083 Nmbrs SOAP, 8084 Nmbrs REST)"
	@echo "                   WORLD=scenario.yaml serves that scenario (docs/simulators.md); default: the demo world"
	@echo "make bench       - benchmarks (prints figures)"
	@echo "make schema      - regenerate docs/employers.schema.json from the config models"
	@echo "make soak        - the Celery stack under injected faults, 50 employers x 3 nights, compared with a clean run"
	@echo "                   (~25 min; needs PostgreSQL and Redis; SOAK_ARGS=\"--employers 10 --nights 2\" resizes it)"
	@echo "make dq-report   - data-quality summary of the latest runs"
	@echo "make connect-loket EMPLOYER=key - first login (Eerste aanmelding) of a Loket.nl REST employer"
	@echo "make connect-nmbrs EMPLOYER=key - first consent of an Nmbrs REST employer (again after 30 idle days)"
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

# The JSON schema of include/employers.yaml, generated from payroll_etl/config/models.py (a test checks it is current).
schema: install
	PYTHONPATH=include $(PY) -m payroll_etl.config.schema

# ruff, the type checker on payroll_etl ([tool.mypy]) and the import contracts ([tool.importlinter]).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# make simulators [WORLD=scenario.yaml] [PORTS="nmbrs=9083 ..."]: serve a scenario file (docs/simulators.md)
simulators: install
	$(PY) -m payroll_simulators $(if $(WORLD),--world "$(WORLD)") $(foreach p,$(PORTS),--port $(p))

airflow: install
	$(PY) scripts/local_airflow.py

airflow-cli: install
	@test -n "$(ARGS)" || (echo 'usage: make airflow-cli ARGS="dags list"'; exit 2)
	@$(PY) scripts/airflow_cli.py $(ARGS)

backfill: install
	@test -n "$(EMPLOYER)" -a -n "$(FROM)" -a -n "$(TO)" || \
		(echo "usage: make backfill EMPLOYER=<employer key> FROM=YYYY-MM-DD TO=YYYY-MM-DD [UNPAUSE=1] [DRY_RUN=1]"; exit 2)
	@$(PY) scripts/backfill.py --employer "$(EMPLOYER)" --from "$(FROM)" --to "$(TO)" \
		$(if $(filter 1 true yes,$(UNPAUSE)),--unpause) $(if $(filter 1 true yes,$(DRY_RUN)),--dry-run)

bench: install
	$(PY) bench/run_all.py

# Not part of `make test`: docs/operations.md "Soak under faults".
soak: install
	$(PY) scripts/soak.py $(SOAK_ARGS)

dq-report: install
	$(PY) -m payroll_etl.quality.report

connect-loket: install
	@test -n "$(EMPLOYER)" || (echo "usage: make connect-loket EMPLOYER=<employer key>"; exit 2)
	$(PY) scripts/connect_loket.py --employer $(EMPLOYER)

connect-nmbrs: install
	@test -n "$(EMPLOYER)" || (echo "usage: make connect-nmbrs EMPLOYER=<employer key>"; exit 2)
	$(PY) scripts/connect_nmbrs.py --employer $(EMPLOYER)
compare-connectors: install
	@test -n "$(EMPLOYER)" || (echo "usage: make compare-connectors EMPLOYER=<employer key> [DATE=YYYY-MM-DD]"; exit 2)
	$(PY) -m payroll_etl.compare $(EMPLOYER) $(if $(DATE),--date $(DATE)) $(if $(CONNECTOR),--connector $(CONNECTOR))

clean:
	rm -rf data .airflow
