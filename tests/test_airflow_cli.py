"""`make airflow-cli ARGS="..."` on a fresh checkout: the metadata DB is created and migrated on
first use, then any airflow command runs with the project's environment (issue 13: a plain
`.venv/bin/airflow` said "Database migration required")."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from airflow_stack import json_output
from pg_support import PG_HOST, PG_PORT, _pg_admin, require_postgres

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]


def test_make_airflow_cli_creates_and_migrates_the_metadata_db_on_first_use(tmp_path):
    require_postgres()
    from payroll_etl.config import load_config

    name = f"payroll_af_cli_{uuid.uuid4().hex[:10]}"  # does not exist yet: `make airflow-cli` creates it
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PAYROLL_"))}
    env.update({"AIRFLOW_HOME": str(tmp_path / "airflow"), "PAYROLL_DATA_DIR": str(tmp_path / "data"),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"})
    try:
        result = subprocess.run(["make", "--no-print-directory", "-o", "install", "airflow-cli",
                                 "ARGS=pools list -o json"], cwd=ROOT, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        assert f"created PostgreSQL database {name}" in result.stdout
        pools = {p["pool"]: int(p["slots"]) for p in json_output(result.stdout)}
        assert {k: pools.get(k) for k in load_config().pools} == load_config().pools
        assert (tmp_path / "airflow" / "fernet.key").exists()  # Connections are stored encrypted

        again = subprocess.run(["make", "--no-print-directory", "-o", "install", "airflow-cli",
                                "ARGS=connections list -o json"], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "created PostgreSQL database" not in again.stdout and "metadata DB migrated" not in again.stdout
        conn_ids = {c["conn_id"] for c in json_output(again.stdout)}
        assert {cfg.conn_id for cfg in load_config().employers} <= conn_ids
    finally:
        with _pg_admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_make_airflow_cli_without_args_prints_its_usage():
    result = subprocess.run(["make", "--no-print-directory", "-o", "install", "airflow-cli"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert 'usage: make airflow-cli ARGS="dags list"' in result.stdout
