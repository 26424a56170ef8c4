"""`make demo`: simulators up, every demo employer's nightly DAG through real Airflow, a summary.

Steps: prepare the Airflow home (metadata DB, pools, Connections), start the payroll
simulators on 127.0.0.1, run `airflow dags test <dag> <today>` for every enabled employer
(one after the other: DuckDB has one writer), then print what landed where.
Running it again gives the same warehouse row counts: every step is idempotent.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("PAYROLL_DATA_DIR", str(ROOT / "data"))
sys.path.insert(0, str(ROOT / "scripts"))
import airflow_setup  # noqa: E402 - sets the Fernet key for this process and its airflow children

from payroll_etl.connectors.registry import CONNECTORS  # noqa: E402

SIM_PORTS = {name: spec.simulator_port for name, spec in CONNECTORS.items()}  # from the connector registry


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start_simulators() -> subprocess.Popen | None:
    if all(port_open(p) for p in SIM_PORTS.values()):
        print("simulators already running")
        return None
    proc = subprocess.Popen([sys.executable, "-m", "payroll_simulators"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        print(f"  simulator {line.rstrip()}")
        if line.strip() == "ready":
            return proc
    raise SystemExit("simulators did not start")


def consent_demo(config) -> None:
    """Sources whose first login is a person's consent (registry ``demo_consent``, e.g. Nmbrs REST): do it
    against the local simulator with the demo login (what `make connect-nmbrs` asks a person to do), once,
    when the Connection holds no tokens; the tokens go to the Connection."""
    from airflow.models.connection import Connection  # noqa: AIR311 - reads the metadata DB

    from payroll_etl.airflow.hooks import base_url
    from payroll_etl.airflow.tokens import AirflowConnectionTokenStore
    from payroll_etl.connectors.base import SourceCredentials

    for cfg in config.employers:
        spec = CONNECTORS[cfg.connector]
        consenter = spec.demo_consenter()
        if consenter is None or not cfg.enabled:
            continue
        conn = Connection.get_connection_from_secrets(cfg.conn_id)  # noqa: AIR311
        extra = conn.extra_dejson or {}
        if extra.get("refresh_token"):
            continue
        print(f"consenting {cfg.employer} on the {spec.label} simulator (demo login) ...", flush=True)
        credentials = SourceCredentials(host=base_url(conn.host, conn.schema, conn.port), login=conn.login,
                                        password=conn.password, extra=dict(extra), conn_id=cfg.conn_id)
        consenter(credentials, AirflowConnectionTokenStore(cfg.conn_id), cfg)
        print(f"Tokens stored in Airflow Connection {cfg.conn_id}. Companies configured: {', '.join(cfg.source_ids)}. "
              f"The nightly DAG {cfg.dag_id} can run now.")


def run_dag(dag_id: str, logical_date: date) -> tuple[bool, float]:
    started = time.perf_counter()
    log_dir = Path(os.environ["PAYROLL_DATA_DIR"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{dag_id}.log"
    with log_file.open("w") as fh:
        result = subprocess.run([str(VENV_BIN / "airflow"), "dags", "test", dag_id, logical_date.isoformat()],
                                stdout=fh, stderr=subprocess.STDOUT)
    return result.returncode == 0, time.perf_counter() - started


def summary(config, results: dict[str, tuple[bool, float]]) -> None:
    from payroll_etl.settings import data_dir, warehouse_url
    from payroll_etl.warehouse.load import connect

    url = warehouse_url()
    db = connect(url)
    try:
        print("\nWarehouse rows (current / all versions):")
        for table in ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result"):
            (total,), = db.query(f"SELECT count(*) FROM {table}")
            (current,), = db.query(f"SELECT count(*) FROM {table} WHERE superseded_at IS NULL")
            print(f"  {table:<16} {current:>7} / {total:<7}")
        for table in ("load_run", "dq_result", "quarantine", "person_identity"):
            (total,), = db.query(f"SELECT count(*) FROM {table}")
            print(f"  {table:<16} {total:>7}")
        for optional in ("mutation", "benefit_basis"):
            try:
                (total,), = db.query(f"SELECT count(*) FROM {optional}")
                print(f"  {optional:<16} {total:>7}")
            except Exception:  # noqa: BLE001 - table arrives with a later migration
                pass
        print("\nRuns and data quality per employer:")
        rows = db.query(
            "SELECT l.dag_id, l.status, l.period_id, coalesce(l.message, ''), "
            "(SELECT count(*) FROM dq_result d WHERE d.load_run_id = l.load_run_id AND NOT d.success "
            " AND d.severity = 'error'), "
            "(SELECT count(*) FROM dq_result d WHERE d.load_run_id = l.load_run_id AND NOT d.success "
            " AND d.severity = 'warn') FROM load_run l "
            "WHERE l.logical_date = (SELECT max(logical_date) FROM load_run l2 WHERE l2.dag_id = l.dag_id) "
            "ORDER BY l.dag_id")
        for dag_id, status, period, message, errors, warns in rows:
            ok, secs = results.get(dag_id, (None, 0))
            print(f"  {dag_id:<42} {status:<8} period {period}  dq: {errors} error / {warns} warn checks failed"
                  f"  ({secs:.0f} s){'  ' + message if message else ''}")
    finally:
        db.close()
    try:
        from payroll_etl.benefits.mart import demo_summary  # issue 10

        demo_summary(url)
    except ImportError:
        pass
    base = data_dir()
    print("\nWhere things are:")
    print(f"  raw landing (Parquet)   {base / 'landing'}")
    print(f"  staging (canonical)     {base / 'staging'}")
    print(f"  warehouse (DuckDB)      {url.removeprefix('duckdb:///')}")
    print(f"  data-quality reports    {base / 'reports' / 'index.html'}  (offline HTML: per run date, run, employer)")
    print(f"  Airflow task logs       {Path(os.environ['AIRFLOW_HOME']) / 'logs'}  (demo run logs: {base / 'logs'})")
    print("  next: `make dq-report`, `make airflow` (UI), `make test`")


def main() -> int:
    from payroll_etl.config import load_config

    if airflow_setup.main() != 0:
        return 1
    config = load_config()
    sims = start_simulators()
    results: dict[str, tuple[bool, float]] = {}
    today = date.today()
    try:
        consent_demo(config)
        for cfg in config.employers:
            if not cfg.enabled:
                continue
            print(f"running {cfg.dag_id} for {today} ...", flush=True)
            results[cfg.dag_id] = run_dag(cfg.dag_id, today)
            ok, secs = results[cfg.dag_id]
            print(f"  {'success' if ok else 'FAILED'} in {secs:.0f} s", flush=True)
    finally:
        if sims is not None:
            sims.terminate()
            sims.wait(timeout=10)
    summary(config, results)
    failed = [d for d, (ok, _) in results.items() if not ok]
    if failed:
        logs = Path(os.environ["PAYROLL_DATA_DIR"]) / "logs"
        print(f"\n{len(failed)} DAG run(s) failed: {', '.join(failed)}; see {logs}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
