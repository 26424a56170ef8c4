"""The demo employer as configured (employers.yaml + demo connection) lands in the canonical tables."""

from __future__ import annotations

from pathlib import Path

import yaml

from payroll_etl.config import load_config
from payroll_etl.connectors import connector_class
from payroll_etl.connectors.base import RawPage, SourceCredentials
from payroll_etl.model import ENTITIES
from payroll_etl.parsing import Parser
from payroll_etl.pipeline import to_arrow

ROOT = Path(__file__).resolve().parents[2]


def test_demo_employer_config_and_connection_load_into_canonical_tables(kit):
    employer = load_config(ROOT / "include" / "employers.yaml").employer("transport_oost", "nmbrs")
    conn = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())[employer.conn_id]
    credentials = SourceCredentials(kit.url, conn["login"], str(conn["password"]), conn.get("extra") or {})
    connector = connector_class("nmbrs").from_credentials(credentials)
    result, sink = kit.extract(employer, connector=connector)
    pages = [RawPage(p["entity"], p["payload"], p["url"], p["source_id"], p["content_type"]) for p in sink.pages]
    parser = Parser(employer.employer)
    out = connector_class("nmbrs").normalize(pages, employer, kit.period(), parser)
    assert set(out.rows) == set(ENTITIES) and parser.issues == []
    for name, rows in out.rows.items():
        table = to_arrow(name, rows, employer)
        assert table.num_rows == len(rows) > 0 and table.column_names == ENTITIES[name].column_names
        keys = [(r["source_id"], r["valid_from"]) for r in rows]
        assert len(keys) == len(set(keys)), f"{name}: duplicate (source_id, valid_from)"
