"""Prepare the local Airflow home: metadata DB, pools from the config, demo Connections.

Run by `make demo` and `make airflow`; safe to run again (it replaces what it created).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def ensure_fernet_key() -> None:
    """Connections are stored Fernet-encrypted: generate the local key once (0600, git-ignored)."""
    if os.environ.get("AIRFLOW__CORE__FERNET_KEY"):
        return
    from cryptography.fernet import Fernet

    path = Path(os.environ["AIRFLOW_HOME"]) / "fernet.key"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(Fernet.generate_key().decode())
    os.environ["AIRFLOW__CORE__FERNET_KEY"] = path.read_text().strip()
    os.environ.pop("AIRFLOW__CORE__FERNET_KEY_CMD", None)


ensure_fernet_key()  # before airflow is imported anywhere in this process or its children


def connection_specs(path: Path = ROOT / "include" / "demo_connections.yaml") -> dict[str, dict]:
    return yaml.safe_load(path.read_text())


def main() -> int:
    from airflow.models import Connection, Pool  # noqa: AIR311 - the ORM model: this script writes the DB
    from airflow.utils import db
    from airflow.utils.session import create_session

    from payroll_etl.config import load_config

    Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    db.initdb()
    config = load_config()
    with create_session() as session:
        for name, slots in config.pools.items():
            Pool.create_or_update_pool(name, slots, f"Concurrent calls to {name.removeprefix('payroll_')}",
                                       include_deferred=False, session=session)
        for conn_id, spec in connection_specs().items():
            session.query(Connection).filter(Connection.conn_id == conn_id).delete()  # noqa: AIR311
            session.add(Connection(  # noqa: AIR311
                conn_id=conn_id, conn_type=spec.get("conn_type", "http"), host=spec.get("host"),
                login=spec.get("login"), password=spec.get("password"), extra=json.dumps(spec.get("extra", {}))))
    print(f"Airflow home {os.environ['AIRFLOW_HOME']}: metadata DB migrated, "
          f"{len(config.pools)} pools, {len(connection_specs())} connections")
    return 0


if __name__ == "__main__":
    sys.exit(main())
