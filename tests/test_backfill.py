"""Backfilling past pay periods through real DAG runs (what `airflow backfill create` schedules)."""

from __future__ import annotations

from datetime import datetime

import pytest
from e2e_support import connection_env, environment, run_dag, running_simulators, task_states

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def query(url: str, sql: str) -> list[tuple]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        return db.query(sql)
    finally:
        db.close()


def run_note(dag_run) -> str | None:
    """The run's note as stored in the metadata DB (what the UI and the REST API show)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return session.scalar(select(DagRun).where(DagRun.dag_id == dag_run.dag_id,
                                                   DagRun.run_id == dag_run.run_id)).note


@pytest.mark.parametrize("dag_id", ["payroll_loket_rest_bakkerij_de_vries", "payroll_nmbrs_transport_oost"])
def test_daily_backfill_loads_each_pay_period_once(airflow_db, tmp_path, dag_id):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with running_simulators() as servers, environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "d"),
                                                      **connection_env(servers)):
        march_1 = run_dag(dag_id, datetime(2026, 3, 2, 1, 0))
        march_2 = run_dag(dag_id, datetime(2026, 3, 16, 1, 0))  # same pay period as the day before
        april = run_dag(dag_id, datetime(2026, 4, 1, 1, 0))
    assert set(task_states(march_1).values()) == {"success"}
    assert task_states(march_2) == {"extract": "skipped", "normalize": "skipped", "validate": "skipped",
                                    "load": "skipped"}
    # Airflow has no "skipped" run state (the run is marked success): the run's note, which the UI shows
    # on the run, says it loaded nothing and why; the runs that did load have no such note.
    assert run_note(march_2).startswith("Skipped: pay period 202603 was already loaded")
    assert "full_refresh" in run_note(march_2)
    assert run_note(march_1) is None and run_note(april) is None
    assert set(task_states(april).values()) == {"success"}
    runs = query(url, "SELECT logical_date, period_id, status FROM load_run ORDER BY logical_date")
    assert [(str(d), p, s) for d, p, s in runs] == [("2026-03-02", "202603", "success"),
                                                    ("2026-04-01", "202604", "success")]
    periods = {p for (p,) in query(url, "SELECT DISTINCT period_id FROM payroll_result")}
    assert {"202603", "202604"} <= periods  # each backfilled period's payroll results were fetched
