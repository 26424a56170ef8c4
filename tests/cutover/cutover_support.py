"""Helpers for the connector-switch tests: an employer config with a connector history, runs, queries."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import yaml
from e2e_support import ROOT

from payroll_etl.config import EmployerConfig, load_config
from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.pipeline import RunContext, run_all
from payroll_etl.warehouse.load import connect

EMPLOYER = "schoonmaak_west"
SOAP_NIGHT, SWITCH_NIGHT = date(2026, 11, 27), date(2026, 11, 28)


def history_config(tmp_path: Path, connectors: list[dict], today: date = SWITCH_NIGHT) -> dict[str, EmployerConfig]:
    """The demo config with schoonmaak_west on a ``connectors:`` history; connector -> its EmployerConfig."""
    raw = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    for item in raw["employers"]:
        if item["employer"] == EMPLOYER:
            item.pop("connector"), item.pop("conn_id")
            item["connectors"] = connectors
    path = tmp_path / "employers.yaml"
    path.write_text(yaml.safe_dump(raw))
    return {e.connector: e for e in load_config(path, today=today).employers if e.employer == EMPLOYER}


SWITCH = [{"connector": "loket_soap", "conn_id": "payroll_loket_soap_schoonmaak_west"},
          {"connector": "loket_rest", "conn_id": "payroll_loket_rest_schoonmaak_west", "from": SWITCH_NIGHT}]
SHADOW = [{"connector": "loket_soap", "conn_id": "payroll_loket_soap_schoonmaak_west"},
          {"connector": "loket_rest", "conn_id": "payroll_loket_rest_schoonmaak_west", "shadow": True}]


def credentials(server_url: str, conn_id: str) -> SourceCredentials:
    spec = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())[conn_id]
    return SourceCredentials(host=server_url, login=spec.get("login"), password=str(spec.get("password")),
                             extra=dict(spec.get("extra") or {}))


def run(cfg: EmployerConfig, server_url: str, url: str, data_dir: Path, logical: date) -> dict:
    """One employer run through the real connector and the whole pipeline (extract .. load)."""
    ctx = RunContext(cfg, logical, data_dir=data_dir, warehouse_url=url, today=logical)
    return run_all(ctx, credentials(server_url, cfg.conn_id))


def q(url: str, sql: str) -> list[tuple]:
    db = connect(url)
    try:
        return db.query(sql)
    finally:
        db.close()


def count(url: str, sql: str) -> int:
    return int(q(url, sql)[0][0])
