"""Rotated Loket refresh tokens written back into the Connection; tenant isolation per employer.

* Rotation: the employer's Connection lives in the metadata DB (Fernet-encrypted extra), not in
  the environment, so the Connection-backed token store can write the rotated pair back. After
  a DAG run the stored refresh token has changed, the old one is refused by Loket, and the
  stored extra is encrypted (no token readable in the table).
* Tenants: a Loket REST user that sees two tenants, and a Loket SOAP webservice user linked to two
  werkgevers, configured for employer A: A's run lands and loads none of B's records.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
import requests
from e2e_support import connection_env, environment, run_dag, running_simulators, task_states
from warehouse_support import query as _warehouse

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
LOGICAL = datetime(2026, 11, 23, 2, 0)
REST_DAG, REST_CONN = "payroll_loket_rest_bakkerij_de_vries", "payroll_loket_rest_bakkerij_de_vries"
SOAP_DAG, SOAP_CONN = "payroll_loket_soap_schoonmaak_west", "payroll_loket_soap_schoonmaak_west"


@pytest.fixture(scope="module")
def simulators():
    with running_simulators() as servers:
        yield servers


def _password_grant(sim: str, user: str = "demo@example.nl", password: str = "demo") -> dict[str, Any]:
    return requests.post(f"{sim}/oauth/token", data={
        "grant_type": "password", "username": user, "password": password,
        "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}, timeout=10).json()


def _store_connection(conn_id: str, spec: dict[str, Any]) -> None:
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import delete

    with create_session() as session:
        session.execute(delete(Connection).where(Connection.conn_id == conn_id))
        session.add(Connection(conn_id=conn_id, conn_type="http", host=spec["host"], login=spec.get("login"),
                               password=spec.get("password"), extra=json.dumps(spec["extra"])))


def _stored(conn_id: str) -> tuple[dict[str, Any], str, bool]:
    """(decrypted extra, raw stored extra, is_extra_encrypted) of a Connection in the metadata DB."""
    from airflow.models.connection import Connection
    from airflow.utils.session import create_session
    from sqlalchemy import select, text

    with create_session() as session:
        conn = session.scalar(select(Connection).where(Connection.conn_id == conn_id))
        raw = session.execute(text("SELECT extra FROM connection WHERE conn_id = :c"), {"c": conn_id}).scalar_one()
        return dict(conn.extra_dejson), raw, bool(conn.is_extra_encrypted)


def test_rotated_refresh_token_is_written_back_to_the_connection(airflow_db, simulators, tmp_path):
    sim = simulators["loket_rest"].url
    first = _password_grant(sim)
    spec = {"host": sim, "extra": {"connector": "loket_rest", "client_id": "benefits-etl-demo",
                                   "client_secret": "demo-secret", "access_token": first["access_token"],
                                   "refresh_token": first["refresh_token"], "expires_at": time.time() - 60}}
    _store_connection(REST_CONN, spec)  # no login: the stored (expired) tokens must do
    env = {k: v for k, v in connection_env(simulators).items() if k != f"AIRFLOW_CONN_{REST_CONN.upper()}"}
    url = f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(tmp_path / "data"), **env):
        import os

        os.environ.pop(f"AIRFLOW_CONN_{REST_CONN.upper()}", None)  # the metadata DB must be the source
        run = run_dag(REST_DAG, LOGICAL)
    assert set(task_states(run).values()) == {"success"}, task_states(run)

    extra, raw, encrypted = _stored(REST_CONN)
    assert extra["refresh_token"] != first["refresh_token"], "the rotated refresh token was written back"
    assert extra["access_token"] != first["access_token"] and float(extra["expires_at"]) > time.time()
    assert encrypted and first["refresh_token"] not in raw and extra["refresh_token"] not in raw
    old = requests.post(f"{sim}/oauth/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}, timeout=10)
    assert old.status_code == 400 and old.json()["error"] == "invalid_grant", "the old refresh token is dead"


def _landed_payloads(data_dir) -> list[dict[str, Any]]:
    import pyarrow.parquet as pq

    return [row for p in sorted((data_dir / "landing").rglob("*.parquet")) for row in pq.read_table(p).to_pylist()]


@pytest.mark.parametrize(("dag_id", "conn_id", "login", "password", "own", "others"), [
    (REST_DAG, REST_CONN, "multi@example.nl", "multi", "bakkerij_de_vries",
     ("techniek_noord", "zorggroep_zuid_1", "transport_oost", "schoonmaak_west")),
    (SOAP_DAG, SOAP_CONN, "Webservice#02", "demo2", "schoonmaak_west", ("techniek_noord",)),
], ids=["loket_rest-two-tenants", "loket_soap-two-werkgevers"])
def test_employer_a_never_lands_or_loads_employer_b(airflow_db, simulators, tmp_path, dag_id, conn_id, login,
                                                     password, own, others):
    world = simulators["loket_rest"].server.app.world
    by_key = {wg_key: wg for wg_key, wg in _werkgevers_by_key(world).items()}
    mine, theirs = by_key[own], [by_key[k] for k in others]
    env = connection_env(simulators)
    key = f"AIRFLOW_CONN_{conn_id.upper()}"
    spec = json.loads(env[key])
    env[key] = json.dumps({**spec, "login": login, "password": password})
    data_dir = tmp_path / "data"
    url = f"duckdb:///{data_dir / 'warehouse.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(data_dir), **env):
        run = run_dag(dag_id, LOGICAL)
    assert set(task_states(run).values()) == {"success"}, task_states(run)

    landed = _landed_payloads(data_dir)
    assert landed
    text = "\n".join(r["payload"] for r in landed)
    for wg in theirs:
        leaked = [p.id for p in wg.persons if p.id in text] + [p.bsn for p in wg.persons if p.bsn in text]
        assert not leaked, f"{len(leaked)} identifiers of another employer's people were landed"
        assert not [e.id for e in wg.employments if e.id in text]
    assert {r["source_id"] for r in landed} <= {mine.id, ""} | {str(mine.number)}
    employers = {r[0] for r in _warehouse(url, "SELECT DISTINCT source_id FROM employer")}
    assert employers == {mine.id}
    people = {r[0] for r in _warehouse(url, "SELECT DISTINCT source_id FROM employee")}
    assert people and people <= {p.id for p in mine.persons}
    from payroll_etl.warehouse.identity import read_identities

    keys = [r[0] for r in _warehouse(url, "SELECT person_key FROM person_identity")]
    bsns = {i.bsn for i in read_identities(url, keys, reader="tests/privacy", purpose="tenant isolation test").values()}
    assert bsns and bsns <= {p.bsn for p in mine.persons}


def _werkgevers_by_key(world) -> dict[str, Any]:
    from payroll_simulators.world import stable_id

    keys = ("bakkerij_de_vries", "techniek_noord", "zorggroep_zuid_1", "zorggroep_zuid_2", "transport_oost",
            "schoonmaak_west")
    return {k: world.werkgevers[stable_id("werkgever", k)] for k in keys}
