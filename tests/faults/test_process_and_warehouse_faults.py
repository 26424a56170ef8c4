"""The warehouse going away mid-load, and the task process SIGKILLed mid-extract.

* PostgreSQL: a post-load step parks the loader inside its transaction; another connection
  kills the loader's backend with ``pg_terminate_backend``. The load fails (psycopg's
  AdminShutdown wrapped as a WarehouseError: retryable, so production's task retries take it), the transaction
  leaves nothing behind, and ONE re-run yields exactly the clean run's warehouse.
* SIGKILL: a subprocess runs the extract step against a slowed-down source and is killed
  part-way. Nothing partial becomes readable (no committed ``part-0``), the attempt's
  ``.inprogress-*`` files stay on disk with 0600 permissions, and ONE DAG re-run yields
  exactly the clean run's warehouse.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from e2e_support import environment
from fault_support import (
    DAGS,
    ROOT,
    assert_failed_at,
    assert_same_warehouse,
    assert_succeeded,
    business_rows,
    calls,
    landing_files,
    reset_calls,
    run_dag,
    sim_call,
    snapshot,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]


class BackendKiller:
    """A post-load step that parks the loader until another connection has terminated its backend."""

    def __init__(self, url: str):
        from sqlalchemy.engine import make_url

        self.url = make_url(url)
        self.reached, self.done = threading.Event(), threading.Event()
        self.killed: list[int] = []

    def step(self, db, batch, changes) -> None:  # noqa: ANN001 - the PostLoadStep signature
        self.reached.set()
        self.done.wait(30)

    def kill(self) -> None:
        import psycopg

        try:
            if not self.reached.wait(120):
                return
            with psycopg.connect(host=self.url.host, port=self.url.port, user=self.url.username,
                                 dbname=self.url.database, autocommit=True) as admin:
                rows = admin.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND state = 'idle in transaction'").fetchall()
                self.killed = [pid for pid, ok in rows if ok]
        finally:
            self.done.set()


@pytest.fixture
def killer(postgres_url: str) -> Iterator[BackendKiller]:
    from payroll_etl import pipeline

    steps = pipeline.post_load_steps
    k = BackendKiller(postgres_url)
    try:
        yield k
    finally:
        pipeline.post_load_steps = steps  # type: ignore[method-assign]
        k.done.set()


def test_warehouse_connection_killed_mid_load(simulators, run_env, baselines, postgres_url, killer, caplog):
    from payroll_etl import pipeline
    from payroll_etl.warehouse.load import connect

    connector = "loket_soap"
    baseline = baselines(connector)  # before the step is armed: the baseline loads undisturbed
    steps = pipeline.post_load_steps
    pipeline.post_load_steps = lambda: (*steps(), killer.step)  # type: ignore[method-assign]
    with environment(PAYROLL_WAREHOUSE_URL=postgres_url):
        thread = threading.Thread(target=killer.kill, daemon=True)
        thread.start()
        run = run_dag(DAGS[connector])
        thread.join(30)
        pipeline.post_load_steps = steps  # type: ignore[method-assign]

        assert len(killer.killed) == 1, "the loader's backend was terminated mid-load"
        assert_failed_at(run, "load")
        # psycopg's AdminShutdown becomes a WarehouseError (retryable), so production retries it
        assert any(re.search(r"task=load error=WarehouseError", r.getMessage())
                   for r in caplog.records), "a lost warehouse connection must surface as such"
        assert business_rows(postgres_url) == 0, "the killed transaction left nothing behind"
        db = connect(postgres_url)
        try:
            assert db.query("SELECT count(*) FROM load_run WHERE status IN ('success', 'partial')")[0][0] == 0
        finally:
            db.close()

        rerun = run_dag(DAGS[connector])
        assert_succeeded(rerun)
        assert_same_warehouse(snapshot(postgres_url), baseline.snapshot)


EXTRACT_SCRIPT = """
import json, sys
from datetime import date
from payroll_etl import pipeline
from payroll_etl.config import load_config
from payroll_etl.connectors.base import SourceCredentials

args = json.loads(sys.argv[1])
cfg = load_config().by_dag_id(args["dag_id"])
spec = args["connection"]
creds = SourceCredentials(host=spec["host"], login=spec.get("login"), password=spec.get("password"),
                          extra=spec["extra"])
print("extracting", flush=True)
pipeline.extract(pipeline.RunContext(cfg, date.fromisoformat(args["date"])), creds)
print("finished", flush=True)
"""


def test_task_process_killed_mid_extract(simulators, run_env, baselines):
    connector = "loket_rest"
    baseline = baselines(connector)
    sim, data_dir, url = simulators[connector].url, run_env["data_dir"], run_env["url"]
    dag_id = DAGS[connector]
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{dag_id.upper()}"])
    sim_call(sim, "/_sim/latency", {"seconds": 0.05})
    reset_calls(sim)
    proc = subprocess.Popen(
        [sys.executable, "-c", EXTRACT_SCRIPT,
         json.dumps({"dag_id": dag_id, "connection": conn, "date": "2026-11-23"})],
        cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if sum(calls(sim).values()) >= 45:  # past the first row group (32 pages), well before the end
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"the extract ended before it could be killed: {proc.communicate()}"
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        sim_call(sim, "/_sim/latency", {"seconds": 0.0})
    assert proc.returncode == -signal.SIGKILL

    files = landing_files(data_dir) + sorted((data_dir / "landing").rglob(".inprogress-*"))
    orphans = [p for p in files if p.name.startswith(".inprogress-")]
    assert orphans, "the killed attempt's received pages stay on disk"
    assert not [p for p in files if p.name == "part-0.parquet"], "nothing partial is readable"
    for path in orphans:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert business_rows(url) == 0

    rerun = run_dag(dag_id)
    assert_succeeded(rerun)
    assert_same_warehouse(snapshot(url), baseline.snapshot)
    assert all(p.exists() for p in orphans), "the re-run never deletes what an earlier attempt received"
