"""The daily ``payroll_retention`` DAG, run for real with ``dag.test()``.

It reads the policy from include/employers.yaml, asks Airflow which employers have a queued or
running payroll run (a pending backfill) and leaves those alone, purges the rest through the
plain-Python core (tests/history/test_retention.py checks every data class with a fixed clock),
and returns counts only. Parsing its DAG file imports nothing heavy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from e2e_support import environment

from payroll_etl.landing import LandingWriter

pytestmark = [pytest.mark.airflow]
ROOT = Path(__file__).resolve().parents[2]
OLD = time.time() - 200 * 86400  # older than the 92-day landing window


def _old_partition(data_dir: Path, connector: str, employer: str, run_date: date) -> Path:
    writer = LandingWriter(data_dir / "landing", connector, employer, run_date)
    writer.write("employee", "{}", url="https://example/x", source_id="W1")
    writer.commit()
    path = data_dir / "landing" / f"connector={connector}" / f"employer={employer}" / "entity=employee" \
        / f"run_date={run_date}"
    for p in [path, *path.rglob("*")]:
        os.utime(p, (OLD, OLD))
    return path


def _queued_backfill_run(dag_id: str, day: datetime) -> None:
    """A pending backfill run of an employer DAG, as `airflow backfill create` leaves it queued."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    with create_session() as session:
        session.add(DagRun(dag_id=dag_id, run_id=f"backfill__{day.isoformat()}", run_type=DagRunType.BACKFILL_JOB,
                           state=DagRunState.QUEUED, logical_date=day, run_after=day))


def _run_retention(day: datetime):
    from payroll_etl.airflow.retention_dag import build_retention_dag

    run = build_retention_dag().test(logical_date=day)
    (ti,) = run.get_task_instances()
    assert ti.state == "success"
    return ti.xcom_pull(task_ids="purge")


def test_retention_dag_purges_and_spares_employers_with_a_pending_backfill(airflow_db, tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    with environment(PAYROLL_DATA_DIR=str(tmp_path), PAYROLL_WAREHOUSE_URL=url):
        first = _old_partition(tmp_path, "loket_rest", "bakkerij_de_vries", date(2026, 1, 5))
        _run_retention(datetime(2026, 11, 28, 3, 30, tzinfo=UTC))
        assert not first.exists()  # nothing was busy

        free = _old_partition(tmp_path, "loket_rest", "bakkerij_de_vries", date(2026, 1, 6))
        pending = _old_partition(tmp_path, "loket_soap", "schoonmaak_west", date(2026, 1, 6))
        _queued_backfill_run("payroll_loket_soap_schoonmaak_west", datetime(2025, 3, 1, 1, 0, tzinfo=UTC))
        counts = _run_retention(datetime(2026, 11, 29, 3, 30, tzinfo=UTC))
        assert not free.exists()
        assert pending.exists(), "an employer with a pending backfill is left alone"
        assert counts["landing_partitions"] == 1


def test_retention_dag_file_is_thin():
    code = ("import runpy, sys; g = runpy.run_path('dags/payroll_retention.py');"
            "heavy = [m for m in ('great_expectations', 'pandas', 'pyarrow', 'zeep', 'duckdb', 'psycopg')"
            " if m in sys.modules]; print('HEAVY=' + ','.join(heavy)); print('DAG=' + g['dag'].dag_id)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "HEAVY=" in out.stdout.splitlines() and "DAG=payroll_retention" in out.stdout.splitlines()
