"""Helpers for fault-injection runs: fault switch calls, DAG runs with fast retries, warehouse snapshots.

A *snapshot* is the whole warehouse as comparable rows: every table, every column, except that
transaction timestamps and load/Airflow run ids (which differ between any two runs) are reduced
to "is it set?" (so "is this version current?" is still compared), and ``load_run.attempts``
is left out (a re-run after a failure legitimately counts 2).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
LOGICAL = datetime(2026, 11, 23, 2, 0)
NEXT_NIGHT = datetime(2026, 11, 24, 2, 0)
DAGS = {"loket_rest": "payroll_loket_rest_bakkerij_de_vries", "loket_soap": "payroll_loket_soap_schoonmaak_west",
        "nmbrs": "payroll_nmbrs_transport_oost", "nmbrs_rest": "payroll_nmbrs_rest_transport_oost_rest"}
# Registered connectors (payroll_etl.connectors.registry.CONNECTORS) without fault scenarios in a test module
# that sets no EXCLUDED of its own, with the reason; tests/test_source_tables.py fails when a connector is
# neither in a table nor excluded.
EXCLUDED: dict[str, str] = {}
STEPS = ("extract", "normalize", "validate", "load")
# Per-run identifiers and transaction times: compared as "set or not", never by value.
VOLATILE = {"recorded_at", "superseded_at", "load_run_id", "superseded_by_run", "first_load_run_id", "updated_at",
            "started_at", "finished_at", "checked_at", "quarantined_at", "airflow_run_id", "detected_at",
            "computed_at", "created_at"}
DROPPED = {("load_run", "attempts"), ("load_run", "dag_id")}
# Connector timeouts/backoff for tests: a "timeout" fault sleeps FAULT_SLEEP > TIMEOUT seconds.
TIMEOUT = 2.0
FAULT_SLEEP = 2.5
FAST_EXTRA = {
    "loket_rest": {"backoff": 0.01, "max_backoff": 0.05, "timeout": TIMEOUT, "max_attempts": 3},
    "loket_soap": {"backoff_seconds": 0.01, "max_backoff_seconds": 0.05, "timeout": TIMEOUT, "max_attempts": 3},
}
FAST_OPTIONS = {"nmbrs": {"timeout": TIMEOUT, "retry_wait": 0.01, "retry_attempts": 3},
                "nmbrs_rest": {"timeout_seconds": TIMEOUT, "backoff_seconds": 0.01, "max_backoff_seconds": 0.05,
                               "max_attempts": 3}}
MAX_ATTEMPTS = 3  # in-connector attempts per call with the settings above


# ----------------------------------------------------------------------------- simulators

def sim_call(url: str, path: str, body: dict[str, Any] | None = None, method: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", data=data, method=method or ("POST" if data else "GET"),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def add_fault(url: str, match: str, kind: str, times: int = 1, seconds: float = FAULT_SLEEP) -> None:
    sim_call(url, "/_sim/faults", {"match": match, "kind": kind, "times": times, "seconds": seconds})


def faults(url: str) -> list[dict[str, Any]]:
    return sim_call(url, "/_sim/faults")


def clear_faults(url: str) -> None:
    sim_call(url, "/_sim/faults", method="DELETE")
    sim_call(url, "/_sim/latency", {"seconds": 0.0})


def calls(url: str) -> dict[str, int]:
    return sim_call(url, "/_sim/calls")


def reset_calls(url: str) -> None:
    sim_call(url, "/_sim/calls", method="DELETE")


# -------------------------------------------------------------------------- configuration

def employers_file(directory: Path) -> Path:
    """The real employer config with test-speed connector options (short timeouts and backoff)."""
    raw = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    for item in raw["employers"]:
        item["options"] = {**(item.get("options") or {}), **FAST_OPTIONS.get(item["connector"], {})}
    path = directory / "employers.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def fast_connection_env(servers: dict[str, Any], **overrides: dict[str, Any]) -> dict[str, str]:
    """AIRFLOW_CONN_* for the demo connections with test-speed tuning; ``overrides[conn_id]`` patches one."""
    from e2e_support import connection_env

    env = connection_env(servers)
    for key, value in list(env.items()):
        spec = json.loads(value)
        connector = spec["extra"]["connector"]
        spec["extra"] = {**spec["extra"], **FAST_EXTRA.get(connector, {})}
        conn_id = key.removeprefix("AIRFLOW_CONN_").lower()
        if conn_id in overrides:
            patch = dict(overrides[conn_id])
            spec["extra"] = {**spec["extra"], **patch.pop("extra", {})}
            spec.update(patch)
            spec = {k: v for k, v in spec.items() if v is not None}
        env[key] = json.dumps(spec)
    return env


# ------------------------------------------------------------------------------- DAG runs

def run_dag(dag_id: str, logical: datetime = LOGICAL, *, retries: int = 0, **conf: Any):
    """dag.test() of the real DAG with ``retries`` immediate task retries (production: 3, backoff 2 min)."""
    from payroll_etl.airflow.dag_factory import build_all
    from payroll_etl.config import load_config

    dag = build_all(load_config(), only_dag_id=dag_id)[dag_id]
    for t in dag.tasks:
        t.retries = retries
        t.retry_delay = timedelta(seconds=0)
        t.retry_exponential_backoff = 0
    return dag.test(logical_date=logical.replace(tzinfo=UTC), run_conf=conf or None)


def states(run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def tries(run) -> dict[str, int]:
    return {ti.task_id: ti.try_number for ti in run.get_task_instances()}


def assert_succeeded(run) -> None:
    assert states(run) == {t: "success" for t in STEPS}, states(run)


def assert_failed_at(run, step: str) -> None:
    got = states(run)
    assert got[step] == "failed", got
    for later in STEPS[STEPS.index(step) + 1:]:
        assert got[later] in ("upstream_failed", "None", "scheduled"), got


# ------------------------------------------------------------------------------ warehouse

def _normal(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # 1.50 (DuckDB) == 1.5000 (PostgreSQL numeric)
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def snapshot(url: str) -> dict[str, list[tuple]]:
    """Every warehouse table as a sorted list of rows (see the module docstring)."""
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        schema = "main" if url.startswith("duckdb") else "public"
        tables = [r[0] for r in db.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = "
            f"'{schema}' AND table_type = 'BASE TABLE' AND table_name <> 'alembic_version' ORDER BY 1")]
        out: dict[str, list[tuple]] = {}
        for table in tables:
            cols = [r[0] for r in db.query(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                f"'{schema}' AND table_name = '{table}' ORDER BY ordinal_position")]
            exprs = [f'("{c}" IS NOT NULL)' if c in VOLATILE else f'"{c}"' for c in cols
                     if (table, c) not in DROPPED]
            rows = db.query(f"SELECT {', '.join(exprs)} FROM {table}")
            out[table] = sorted((tuple(_normal(v) for v in row) for row in rows), key=repr)
        return out
    finally:
        db.close()


def assert_same_warehouse(got: dict[str, list[tuple]], expected: dict[str, list[tuple]]) -> None:
    assert sorted(got) == sorted(expected)
    for table in expected:
        assert got[table] == expected[table], f"table {table} differs from the clean run"


def business_rows(url: str) -> int:
    snap = snapshot(url)
    return sum(len(snap[t]) for t in ("employer", "employee", "employment", "salary", "payroll_result",
                                      "person_identity"))


# -------------------------------------------------------------------------------- landing

def landing_files(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "landing").rglob("*.parquet"))


def landed_rows(data_dir: Path, prefix: str = "", skip: set[Path] | frozenset[Path] = frozenset()
                ) -> list[dict[str, Any]]:
    """Rows (url, status, payload, ...) of the readable landing files named ``prefix*``, except ``skip``."""
    import pyarrow.parquet as pq

    rows: list[dict[str, Any]] = []
    for path in landing_files(data_dir):
        if path.name.startswith(prefix) and not path.name.startswith(".inprogress") and path not in skip:
            for row in pq.read_table(path).to_pylist():
                rows.append({**row, "file": path})
    return rows


def copy_run_dir(source: Path, target: Path, url: str) -> str:
    """Copy a finished run's data directory and DuckDB warehouse (a baseline to build on)."""
    shutil.copytree(source, target)
    src_db = Path(url.removeprefix("duckdb:///"))
    dst_db = target / src_db.name if src_db.parent == source else target / "warehouse.duckdb"
    if not dst_db.exists():
        shutil.copy2(src_db, dst_db)
    os.chmod(dst_db, 0o600)
    return f"duckdb:///{dst_db}"
