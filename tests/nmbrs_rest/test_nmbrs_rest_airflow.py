"""Nmbrs REST through real Airflow: first consent into the Connection, rotation written back, a lapsed
refresh token failing with the re-consent message, concurrent runs refreshing once, and a re-run after
a fault giving the clean-run warehouse."""

from __future__ import annotations

import json
import logging
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from e2e_support import environment, run_dag, running_simulators, task_states

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
EMPLOYER, CONN_ID = "transport_oost_rest", "payroll_nmbrs_rest_transport_oost"
DAG_ID = f"payroll_nmbrs_rest_{EMPLOYER}"
LOGICAL = datetime(2026, 11, 23, 2, 0)
pytestmark = [pytest.mark.airflow, pytest.mark.slow]


@pytest.fixture(scope="module")
def simulators():
    with running_simulators() as servers:
        yield servers


def _browser(url: str) -> None:
    from urllib.parse import parse_qsl, urlsplit

    parts = urlsplit(url)
    page = requests.get(url, timeout=10)
    assert page.ok and "Toestaan" in page.text
    requests.post(f"{parts.scheme}://{parts.netloc}/connect/authorize", timeout=10, data={
        **dict(parse_qsl(parts.query)), "username": "demo@example.nl", "password": "demo", "decision": "allow"})


def _create_connection(sim_url: str) -> None:
    """As a data engineer creates it: host, subscription key, API client; no tokens yet."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    from payroll_simulators.nmbrs_rest.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_SUBSCRIPTION_KEY

    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == CONN_ID))
        session.add(Connection(conn_id=CONN_ID, conn_type="http", host=sim_url, password=DEMO_SUBSCRIPTION_KEY,
                               extra=json.dumps({"connector": "nmbrs_rest", "client_id": DEMO_CLIENT_ID,
                                                 "client_secret": DEMO_CLIENT_SECRET})))


def _stored() -> tuple[dict[str, Any], str, bool]:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select, text

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == CONN_ID))
        raw = session.execute(text("SELECT extra FROM connection WHERE conn_id = :c"), {"c": CONN_ID}).scalar_one()
        return dict(conn.extra_dejson), raw, bool(conn.is_extra_encrypted)


def _consent() -> None:
    import connect_nmbrs

    assert connect_nmbrs.connect(EMPLOYER, port=0, on_url=_browser, timeout=20) == CONN_ID


def _refused(sim: str, refresh_token: str) -> bool:
    from payroll_simulators.nmbrs_rest.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

    answer = requests.post(f"{sim}/connect/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET})
    return answer.status_code == 400 and answer.json()["error"] == "invalid_grant"


def test_consent_rotation_written_back_and_lapse_asks_for_re_consent(airflow_db, simulators, tmp_path, capsys,
                                                                       caplog):
    sim = simulators["nmbrs_rest"].url
    _create_connection(sim)
    _consent()
    first, raw, encrypted = _stored()
    assert first["refresh_token"] and first["access_token"] and first["client_id"] == "benefits-etl-demo"
    assert encrypted and first["refresh_token"] not in raw

    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "data")):
        requests.post(f"{sim}/_sim/nmbrs/expire-tokens", timeout=10)  # the night after: access token dead
        run = run_dag(DAG_ID, LOGICAL)
        assert set(task_states(run).values()) == {"success"}, task_states(run)
        second, raw, _ = _stored()
        assert second["refresh_token"] != first["refresh_token"], "the rotated refresh token was written back"
        assert second["refresh_token"] not in raw and _refused(sim, first["refresh_token"])

        requests.post(f"{sim}/_sim/nmbrs/clock", json={"advance": 31 * 24 * 3600}, timeout=10)  # DAG paused 31 days
        requests.post(f"{sim}/_sim/nmbrs/expire-tokens", timeout=10)
        caplog.set_level(logging.ERROR, logger="payroll_etl.airflow.dag_factory")
        try:
            lapsed = run_dag(DAG_ID, LOGICAL, retries=2)
            states = task_states(lapsed)
            extract = next(ti for ti in lapsed.get_task_instances() if ti.task_id == "extract")
            assert states["extract"] == "failed" and extract.try_number == 1, "re-consent is not retried"
            out = capsys.readouterr()
            text = out.out + out.err + caplog.text
            line = next(x for x in text.splitlines() if "payroll run failed:" in x)
            assert "ReconsentNeeded" in line and "re-consent needed" in line
            assert f"make connect-nmbrs EMPLOYER={EMPLOYER}" in line
            assert second["refresh_token"] not in text and second["access_token"] not in text

            _consent()  # the person consents again: the next run works
            again = run_dag(DAG_ID, LOGICAL)
            assert set(task_states(again).values()) == {"success"}
        finally:
            requests.post(f"{sim}/_sim/nmbrs/clock", json={"advance": -31 * 24 * 3600}, timeout=10)


def test_two_concurrent_runs_do_not_both_refresh(airflow_db, simulators, tmp_path):
    """Two extracts of the employer at once, each with the Connection-backed token store: one refresh."""
    from airflow.models.connection import Connection
    from nmbrs_calls import MemorySink

    from payroll_etl.airflow.hooks import base_url
    from payroll_etl.airflow.tokens import credentials_with_token_store
    from payroll_etl.config import load_config
    from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
    from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
    from payroll_etl.periods import period_for

    sim = simulators["nmbrs_rest"].url
    _create_connection(sim)
    _consent()
    requests.post(f"{sim}/_sim/nmbrs/expire-tokens", timeout=10)
    before = requests.get(f"{sim}/_sim/nmbrs/stats", timeout=10).json()["refreshes"]
    cfg = load_config().employer(EMPLOYER, "nmbrs_rest")
    errors: list[BaseException] = []

    def run() -> None:
        try:
            conn = Connection.get_connection_from_secrets(CONN_ID)
            credentials = credentials_with_token_store(SourceCredentials(
                base_url(conn.host, conn.schema, conn.port), conn.login, conn.password, dict(conn.extra_dejson)), cfg)
            connector = NmbrsRestConnector.from_credentials(credentials)
            try:
                connector.extract(ExtractRequest(cfg, LOGICAL.date(), period_for(LOGICAL.date(), "month")),
                                  MemorySink())
            finally:
                connector.close()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert requests.get(f"{sim}/_sim/nmbrs/stats", timeout=10).json()["refreshes"] - before == 1
    stored, _, _ = _stored()
    assert not _refused(sim, stored["refresh_token"]), "the stored refresh token is the live one"


def _current(url: str) -> dict[str, list[tuple]]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        return {t: sorted(db.query(f"SELECT source_id, valid_from, valid_to, row_hash FROM {t} "
                                   "WHERE superseded_at IS NULL"), key=repr)
                for t in ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")}
    finally:
        db.close()


def test_rerun_after_a_fault_gives_the_clean_run_warehouse(airflow_db, simulators, tmp_path):
    sim = simulators["nmbrs_rest"].url
    _create_connection(sim)
    _consent()
    clean_url = f"duckdb:///{tmp_path / 'clean.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=clean_url, PAYROLL_DATA_DIR=str(tmp_path / "clean")):
        assert set(task_states(run_dag(DAG_ID, LOGICAL)).values()) == {"success"}
    url = f"duckdb:///{tmp_path / 'faulty.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "faulty")):
        requests.post(f"{sim}/_sim/faults", json={"match": "employees/salaries", "kind": "truncate", "times": -1},
                      timeout=10)
        try:
            failed = run_dag(DAG_ID, LOGICAL)
        finally:
            requests.delete(f"{sim}/_sim/faults", timeout=10)
        assert task_states(failed)["extract"] == "failed" and task_states(failed)["load"] == "upstream_failed"
        kept = list((tmp_path / "faulty" / "landing").rglob("failed-*.parquet"))
        assert kept, "what was received before the fault stays in landing"
        recovered = run_dag(DAG_ID, LOGICAL)
        assert set(task_states(recovered).values()) == {"success"}
    assert _current(url) == _current(clean_url)
