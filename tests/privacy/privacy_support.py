"""Collecting everything a run leaves behind, and scanning it for secrets and BSNs."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO_DAGS = ("payroll_loket_rest_bakkerij_de_vries", "payroll_loket_rest_techniek_noord",
             "payroll_loket_rest_zorggroep_zuid", "payroll_nmbrs_transport_oost", "payroll_loket_soap_schoonmaak_west",
             "payroll_nmbrs_rest_transport_oost_rest")


def configured_secrets() -> set[str]:
    """Passwords, client secrets and API tokens of the demo connections (long enough to be unambiguous)."""
    specs = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())
    found = set()
    for spec in specs.values():
        for value in (spec.get("password"), *(spec.get("extra") or {}).values()):
            if isinstance(value, str) and len(value) >= 8 and value not in ("loket_rest", "loket_soap", "nmbrs_rest"):
                found.add(value)
    found.discard("benefits-etl-demo")  # the OAuth client id is not a secret
    return found


def issued_tokens(servers: dict[str, Any]) -> set[str]:
    """Every access/refresh token (Loket REST, Nmbrs REST) and user token (Loket SOAP) the simulators issued."""
    rest = servers["loket_rest"].server.app
    soap = servers["loket_soap"].server.app
    nmbrs = servers["nmbrs_rest"].server.app.identity
    with rest.oauth.lock:
        tokens = set(rest.oauth.access) | set(rest.oauth.refresh) | set(rest.oauth.used)
    with nmbrs.lock:
        tokens |= set(nmbrs.access) | set(nmbrs.refresh) | set(nmbrs.spent)
    return tokens | set(soap.service.tokens)


def xcom_values(run_ids: Iterable[tuple[str, str]]) -> list[str]:
    """Serialized XCom values of the given (dag_id, run_id)s, from the metadata DB."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    out = []
    with create_session() as session:
        for dag_id, run_id in run_ids:
            for xcom in session.scalars(select(XComModel).where(XComModel.dag_id == dag_id,
                                                                XComModel.run_id == run_id)):
                out.append(json.dumps(xcom.value, default=str) if not isinstance(xcom.value, str) else xcom.value)
    return out


def variables() -> list[str]:
    from airflow.models.variable import Variable
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return [f"{v.key}={v.val}" for v in session.scalars(select(Variable))]


def text_files(*roots: Path) -> list[tuple[Path, str]]:
    out = []
    for root in roots:
        if root.exists():
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                out.append((path, path.read_bytes().decode("utf-8", errors="replace")))
    return out


def parquet_text(root: Path) -> list[tuple[Path, str]]:
    """Every landing/staging Parquet file (any readable one) as one text blob per file."""
    import pyarrow.parquet as pq

    out = []
    for path in sorted(root.rglob("*.parquet")):
        if path.name.startswith(".inprogress"):
            continue
        table = pq.read_table(path)
        out.append((path, "\n".join(" ".join(str(v) for v in row.values()) for row in table.to_pylist())))
    return out


def warehouse_rows(url: str) -> dict[str, tuple[list[str], list[tuple]]]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        tables = [r[0] for r in db.query("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                         "'main' AND table_type = 'BASE TABLE'")]
        out = {}
        for table in tables:
            cols = [r[0] for r in db.query("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                           f"'{table}' ORDER BY ordinal_position")]
            out[table] = (cols, db.query(f"SELECT * FROM {table}"))
        return out
    finally:
        db.close()


def modes(root: Path) -> list[tuple[Path, int]]:
    return [(p, stat.S_IMODE(p.stat().st_mode)) for p in sorted(root.rglob("*"))]
