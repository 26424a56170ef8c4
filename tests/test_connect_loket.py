"""`make connect-loket EMPLOYER=…`: first login into the Airflow Connection, then nightly runs rotate it."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from e2e_support import environment, run_dag, running_simulators, task_states

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
CONN_ID = "payroll_loket_rest_bakkerij_de_vries"
pytestmark = [pytest.mark.airflow, pytest.mark.slow]


def stored_extra(conn_id: str) -> dict:
    from airflow.models import Connection  # noqa: AIR311 - reading the metadata DB directly
    from airflow.utils.session import create_session

    with create_session() as session:
        conn = session.query(Connection).filter(Connection.conn_id == conn_id).one()  # noqa: AIR311
        assert conn.is_extra_encrypted
        return dict(conn.extra_dejson)


def test_first_login_then_nightly_runs_rotate_the_refresh_token(airflow_db, tmp_path):
    import connect_loket
    from airflow.models import Connection  # noqa: AIR311
    from airflow.utils.session import create_session

    with running_simulators() as servers:
        sim = servers["loket_rest"].url
        with create_session() as session:  # as a data engineer creates it: host + client, no user password
            session.query(Connection).filter(Connection.conn_id == CONN_ID).delete()  # noqa: AIR311
            session.add(Connection(conn_id=CONN_ID, conn_type="http", host=sim,  # noqa: AIR311
                                   extra=json.dumps({"connector": "loket_rest", "client_id": "benefits-etl-demo",
                                                     "client_secret": "demo-secret"})))

        def browser(url: str) -> None:  # the Loket user logs in and clicks "Toestaan"
            fields = dict(parse_qsl(urlsplit(url).query))
            login = {"username": "demo@example.nl", "password": "demo", "decision": "allow"}
            page = requests.post(f"{sim}/oauth/authorize", timeout=10, data={**fields, **login})
            assert page.ok

        assert connect_loket.connect("bakkerij_de_vries", port=0, on_url=browser, timeout=20) == CONN_ID
        first = stored_extra(CONN_ID)
        assert first["refresh_token"] and first["access_token"] and first["client_id"] == "benefits-etl-demo"

        url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
        with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "data")):
            requests.post(f"{sim}/_sim/loket/expire-tokens", timeout=10)  # the night after: access token expired
            run = run_dag("payroll_loket_rest_bakkerij_de_vries", datetime(2026, 11, 23, 1, 0))
        assert set(task_states(run).values()) == {"success"}
        second = stored_extra(CONN_ID)
        assert second["refresh_token"] != first["refresh_token"]  # rotated and written back
        refused = requests.post(f"{sim}/oauth/token", timeout=10, data={
            "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
            "client_id": "benefits-etl-demo", "client_secret": "demo-secret"})
        assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_grant"
