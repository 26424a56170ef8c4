"""Real Airflow (dag.test) against the simulators, into DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest
from e2e_support import connection_env, environment, run_dag, running_simulators, task_states

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
LOGICAL = datetime(2026, 11, 23, 2, 0)


@pytest.fixture(scope="module")
def simulators():
    with running_simulators() as servers:
        yield servers


def warehouse_counts(url: str) -> dict[str, int]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        return {t: db.query(f"SELECT count(*) FROM {t}")[0][0]
                for t in ("employer", "employee", "employment", "salary", "payroll_result", "load_run",
                          "person_identity", "quarantine")}
    finally:
        db.close()


def table_contents(url: str, table: str) -> list[tuple]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        cols = "connector, employer, source_id, valid_from, valid_to, row_hash, recorded_at, superseded_at"
        return sorted(db.query(f"SELECT {cols} FROM {table}"), key=repr)
    finally:
        db.close()


@pytest.mark.parametrize("dag_id", ["payroll_loket_rest_zorggroep_zuid", "payroll_loket_soap_schoonmaak_west",
                                    "payroll_nmbrs_transport_oost", "payroll_nmbrs_rest_transport_oost_rest"])
def test_nightly_run_into_duckdb_is_idempotent(airflow_db, simulators, tmp_path, dag_id):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "data"),
                     **connection_env(simulators)):
        run = run_dag(dag_id, LOGICAL)
        assert task_states(run) == {t: "success" for t in ("extract", "normalize", "validate", "load")}
        first = warehouse_counts(url)
        assert first["employee"] > 0 and first["employment"] > 0 and first["salary"] > 0
        assert first["load_run"] == 1
        snapshot = {t: table_contents(url, t) for t in ("employee", "employment", "salary")}
        landed = sorted(p.relative_to(tmp_path) for p in (tmp_path / "data" / "landing").rglob("*.parquet"))
        assert landed and all("run_date=2026-11-23" in str(p) for p in landed)

        again = run_dag(dag_id, LOGICAL)
        assert task_states(again)["load"] == "success"
        assert warehouse_counts(url) == first
        assert {t: table_contents(url, t) for t in snapshot} == snapshot
        landing = tmp_path / "data" / "landing"
        committed = sorted(p.parent for p in landing.rglob("part-*.parquet"))
        assert len(committed) == len(set(committed))  # one readable part per entity: replaced, not appended
        kept = {p.relative_to(tmp_path).parent for p in landing.rglob("*.parquet")}
        assert {p.parent for p in landed} <= kept  # ... and the first run's payloads are still on disk
        superseded = list(landing.rglob("superseded-by-*.parquet"))
        assert len(superseded) == len(landed)


def test_nightly_run_into_postgres(airflow_db, simulators, tmp_path, postgres_url):
    dag_id = "payroll_loket_rest_bakkerij_de_vries"
    with environment(PAYROLL_WAREHOUSE_URL=postgres_url, PAYROLL_DATA_DIR=str(tmp_path / "data"),
                     **connection_env(simulators)):
        run = run_dag(dag_id, LOGICAL)
        assert task_states(run)["load"] == "success"
        counts = warehouse_counts(postgres_url)
        assert counts["employee"] > 0 and counts["person_identity"] == counts["employee"]
        run_dag(dag_id, LOGICAL)
        assert warehouse_counts(postgres_url) == counts


def test_blocking_quality_failure_loads_nothing(airflow_db, simulators, tmp_path):
    """The source suddenly answers with half the employees: volume check blocks, warehouse unchanged."""
    import json
    import urllib.request

    dag_id = "payroll_nmbrs_transport_oost"
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "data"),
                     **connection_env(simulators)):
        run_dag(dag_id, LOGICAL)
        before = {t: table_contents(url, t) for t in ("employee", "employment", "salary")}
        sim = simulators["nmbrs"].url
        req = urllib.request.Request(f"{sim}/_sim/faults", method="POST", headers={"Content-Type": "application/json"},
                                     data=json.dumps({"match": ".", "kind": "half", "times": -1}).encode())
        urllib.request.urlopen(req).read()
        try:
            run = run_dag(dag_id, datetime(2026, 11, 24, 2, 0))
        finally:
            urllib.request.urlopen(urllib.request.Request(f"{sim}/_sim/faults", method="DELETE")).read()
        states = task_states(run)
        assert states["validate"] == "failed" and states["load"] != "success"
        assert {t: table_contents(url, t) for t in before} == before
        from payroll_etl.warehouse.load import connect

        db = connect(url)
        try:
            status = db.query("SELECT status FROM load_run WHERE logical_date = DATE '2026-11-24'")
            failed_checks = db.query("SELECT count(*) FROM dq_result d JOIN load_run l USING (load_run_id) "
                                     "WHERE l.logical_date = DATE '2026-11-24' AND NOT d.success "
                                     "AND d.severity = 'error'")
        finally:
            db.close()
        assert status == [("failed",)]
        assert failed_checks[0][0] >= 1
