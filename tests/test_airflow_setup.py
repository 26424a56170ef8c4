"""`scripts/airflow_setup.py` (run by make demo / make airflow) creates pools and encrypted Connections."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def test_setup_creates_pools_and_encrypted_connections(airflow_db):
    import airflow_setup
    from airflow.models import Connection, Pool  # noqa: AIR311 - reading the metadata DB directly
    from airflow.utils.session import create_session

    from payroll_etl.config import load_config

    assert airflow_setup.main() == 0
    assert airflow_setup.main() == 0  # idempotent
    specs = airflow_setup.connection_specs()
    with create_session() as session:
        pools = {p.pool: p.slots for p in session.query(Pool).all()}
        conns = {c.conn_id: c for c in session.query(Connection).all()}  # noqa: AIR311
        for name, slots in load_config().pools.items():
            assert pools[name] == slots
        for conn_id, spec in specs.items():
            conn = conns[conn_id]
            assert conn.host == spec["host"] and conn.login == spec.get("login")  # Nmbrs REST has none
            assert conn.password == spec["password"] and conn.is_encrypted
            assert conn.extra_dejson["connector"] == spec["extra"]["connector"]
            assert conn.is_extra_encrypted
            raw = session.execute(
                __import__("sqlalchemy").text("SELECT password FROM connection WHERE conn_id = :c"), {"c": conn_id}
            ).scalar()
            assert raw != spec["password"]  # stored Fernet-encrypted, not in clear
    for cfg in load_config().employers:
        assert cfg.conn_id in specs, f"{cfg.dag_id} has no demo Connection"
