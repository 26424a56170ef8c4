"""The DQ reports from the Airflow UI: the validate task's extra link and the API server's /dq-reports.

A real run (dag.test against the simulators) of one employer, then: the plugin in the project's
plugins folder registers the link and the app; the validate task's link points to the run
date's index, other tasks get none; the API server (Airflow's own create_app) mounts the app and
refuses anonymous requests; a logged-in user gets the pages; nothing outside data/reports.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import pytest
from e2e_support import connection_env, environment, run_dag, running_simulators, task_states

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
DAG_ID = "payroll_loket_soap_schoonmaak_west"
LOGICAL = datetime(2026, 11, 23, 2, 0)  # 03:00 in Amsterdam: run date 2026-11-23


def test_validate_task_links_to_the_run_dates_report(airflow_db, tmp_path: Path) -> None:
    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.testclient import TestClient

    from payroll_etl.airflow import dq_reports

    links = {link.name: link for link in plugins_manager.get_global_operator_extra_links()}
    assert dq_reports.LINK_NAME in links
    apps = [a for a in plugins_manager.get_fastapi_plugins()[0] if a["url_prefix"] == dq_reports.URL_PREFIX]
    assert len(apps) == 1

    data = tmp_path / "data"
    with running_simulators() as servers, environment(
            PAYROLL_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'warehouse.duckdb'}", PAYROLL_DATA_DIR=str(data),
            **connection_env(servers)):
        run = run_dag(DAG_ID, LOGICAL)
        assert task_states(run)["load"] == "success"
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        link = links[dq_reports.LINK_NAME]
        assert link.get_link(None, ti_key=tis["validate"].key) == "/dq-reports/index-2026-11-23.html#schoonmaak_west"
        assert link.get_link(None, ti_key=tis["extract"].key) == ""

        page = data / "reports" / "index-2026-11-23.html"
        assert 'data-employer="schoonmaak_west"' in page.read_text()
        # the API server as `airflow api-server` builds it: the plugin app is mounted, anonymous users are refused
        api = TestClient(create_app())
        assert api.get("/dq-reports/index-2026-11-23.html").status_code == 401
        # a logged-in user (the API server's own get_user dependency) gets the page and nothing outside
        app = dq_reports.reports_app()
        app.dependency_overrides[get_user] = lambda: object()
        client = TestClient(app)
        got = client.get("/index-2026-11-23.html")
        assert got.status_code == 200 and got.text == page.read_text()
        assert 'href="static/dq.css"' in client.get("/").text
        assert client.get("/static/dq.css").status_code == 200
        assert client.get("/../warehouse.duckdb").status_code == 404
        assert client.get("/%2e%2e/warehouse.duckdb").status_code == 404
        assert client.get("/runs/loket_soap/schoonmaak_west/2026-11-23/").status_code == 200


def test_plugin_import_leaves_the_api_server_alone() -> None:
    """Every Airflow process imports the plugins folder: the reports app is built on its first request only."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    code = ("import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('p', {str(root / 'plugins' / 'dq_reports_plugin.py')!r})\n"
            "module = importlib.util.module_from_spec(spec); spec.loader.exec_module(module)\n"
            "print('RESULT', module.PayrollDataQualityReports.global_operator_extra_links[0].name)\n"
            "print('RESULT', 'airflow.api_fastapi.core_api.security' in sys.modules, 'fastapi' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(root / "include")}).stdout.splitlines()
    assert [line for line in out if line.startswith("RESULT")] == ["RESULT Data quality report", "RESULT False False"]
