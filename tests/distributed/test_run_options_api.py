"""Run options, backfills, deadlines and connection tests the way the UI uses them: the REST API of a
running Airflow (API server, scheduler, DAG processor, triggerer, Celery worker on PostgreSQL metadata).

The DAGs stay paused, so nothing here executes payroll tasks: the assertions are about what Airflow
accepts, refuses and creates (runs, backfills, deadlines), which the API answers at once.
Takes about 1-2 minutes on 2 cores. Under CI=true a missing PostgreSQL or Redis fails the test.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from datetime import datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path

import pytest
import yaml
from airflow_stack import ROOT, AirflowStack
from test_celery_run import IN_CI
from test_celery_run import stack as _running_stack  # noqa: F401,F811 - fixture, used by name below

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

MONTHLY = "payroll_loket_rest_bakkerij_de_vries"
FOUR_WEEKLY = "payroll_loket_rest_techniek_noord"
NMBRS = "payroll_nmbrs_transport_oost"
SOAP = "payroll_loket_soap_schoonmaak_west"
RUN_TIMEOUT = float(os.environ.get("PAYROLL_DIST_RUN_TIMEOUT", "300"))


@pytest.fixture(scope="module")
def stack(_running_stack: AirflowStack) -> AirflowStack:  # noqa: F811
    """test_celery_run's running stack (its module-scoped fixture, here with this module's own
    databases and processes), once it lists our DAGs."""
    _running_stack.wait_for_dags([MONTHLY, FOUR_WEEKLY, NMBRS, SOAP, "payroll_loket_rest_zorggroep_zuid"])
    return _running_stack


def refused(stack: AirflowStack, method: str, path: str, body: dict) -> str:
    """The error text of a request the API must refuse with HTTP 400."""
    with pytest.raises(RuntimeError, match="HTTP 400") as err:
        stack.request(method, path, body)
    return str(err.value)


def runs(stack: AirflowStack, dag_id: str) -> list[dict]:
    return stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=logical_date")["dag_runs"]


def deadlines(stack: AirflowStack, dag_id: str, run_id: str) -> list[dict]:
    """The run's deadlines as the UI lists them (the "Missed deadlines" panel reads this)."""
    reply = stack.request("GET", f"/ui/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/deadlines")
    return reply["deadlines"]


def test_trigger_form_shows_the_run_options(stack):
    params = stack.request("GET", f"/api/v2/dags/{MONTHLY}/details")["params"]
    assert params["full_refresh"]["value"] is False
    assert params["full_refresh"]["schema"]["type"] == "boolean"
    assert params["backfill"]["value"] == "auto"
    assert params["backfill"]["schema"]["enum"] == ["auto", "true", "false"]


def test_run_option_typos_are_refused_at_trigger_time(stack):
    path = f"/api/v2/dags/{MONTHLY}/dagRuns"
    when = "2026-11-20T01:00:00Z"
    assert "full_refresh" in refused(stack, "POST", path, {"logical_date": when, "conf": {"full_refresh": "yes"}})
    assert "'fullrefresh'" in refused(stack, "POST", path, {"logical_date": when, "conf": {"fullrefresh": True}})
    assert "backfill" in refused(stack, "POST", path, {"logical_date": when, "conf": {"backfill": "maybe"}})
    assert runs(stack, MONTHLY) == []  # nothing was created for the refused requests

    run = stack.request("POST", path, {"logical_date": when, "conf": {"full_refresh": True, "backfill": "false"}})
    assert run["conf"] == {"full_refresh": True, "backfill": "false"}
    assert [r["dag_run_id"] for r in runs(stack, MONTHLY)] == [run["dag_run_id"]]
    assert deadlines(stack, MONTHLY, run["dag_run_id"]) == []  # a manual run has no nightly window


def _dry_run(stack: AirflowStack, dag_id: str, first: str, last: str) -> list[str]:
    reply = stack.request("POST", "/api/v2/backfills/dry_run",
                          {"dag_id": dag_id, "from_date": first, "to_date": last})
    return [b["logical_date"] for b in reply["backfills"]]


def test_backfill_creates_one_run_per_pay_period(stack):
    # Monthly: three periods -> three runs, each at 02:00 Amsterdam on the period's first day.
    assert _dry_run(stack, MONTHLY, "2025-01-01T00:00:00Z", "2025-03-31T00:00:00Z") == [
        "2025-01-01T01:00:00Z", "2025-02-01T01:00:00Z", "2025-03-01T01:00:00Z"]
    # Four-weekly (period 1 starts on 1 January, 28 days each): the starts of periods 1-5; the last
    # one is in summer time (02:00 CEST = 00:00 UTC).
    assert _dry_run(stack, FOUR_WEEKLY, "2025-01-01T00:00:00Z", "2025-04-30T00:00:00Z") == [
        "2025-01-01T01:00:00Z", "2025-01-29T01:00:00Z", "2025-02-26T01:00:00Z", "2025-03-26T01:00:00Z",
        "2025-04-23T00:00:00Z"]
    # A range inside one period still backfills that period, once (02:00 CEST).
    assert _dry_run(stack, MONTHLY, "2025-05-10T00:00:00Z", "2025-05-20T00:00:00Z") == ["2025-05-01T00:00:00Z"]
    text = refused(stack, "POST", "/api/v2/backfills/dry_run",
                   {"dag_id": MONTHLY, "from_date": "2025-01-01T00:00:00Z", "to_date": "2025-03-31T00:00:00Z",
                    "dag_run_conf": {"full_refesh": True}})
    assert "'full_refesh'" in text


def test_backfill_runs_one_period_at_a_time_without_deadline_alerts(stack):
    backfill = stack.request("POST", "/api/v2/backfills",
                             {"dag_id": FOUR_WEEKLY, "from_date": "2025-01-01T00:00:00Z",
                              "to_date": "2025-03-31T00:00:00Z", "max_active_runs": 10})
    try:
        assert backfill["max_active_runs"] == 1
        created = [r for r in runs(stack, FOUR_WEEKLY) if r["run_type"] == "backfill"]
        assert [r["logical_date"] for r in created] == [
            "2025-01-01T01:00:00Z", "2025-01-29T01:00:00Z", "2025-02-26T01:00:00Z", "2025-03-26T01:00:00Z"]
        for run in created:
            assert deadlines(stack, FOUR_WEEKLY, run["dag_run_id"]) == []
    finally:
        stack.request("PUT", f"/api/v2/backfills/{backfill['id']}/cancel")


def test_cli_backfill_is_per_period_and_one_at_a_time(stack):
    """``airflow backfill create`` (CLI default: 10 runs at a time) goes through the same timetable and guard."""
    dag_id = "payroll_loket_rest_zorggroep_zuid"  # monthly, paused
    airflow = str(Path(sys.executable).parent / "airflow")
    stack.run("cli-backfill", [airflow, "backfill", "create", "--dag-id", dag_id, "--from-date", "2025-01-01",
                               "--to-date", "2025-03-31", "--max-active-runs", "5"])
    (backfill,) = stack.request("GET", f"/api/v2/backfills?dag_id={dag_id}")["backfills"]
    try:
        assert backfill["max_active_runs"] == 1
        assert [r["logical_date"] for r in runs(stack, dag_id) if r["run_type"] == "backfill"] == [
            "2025-01-01T01:00:00Z", "2025-02-01T01:00:00Z", "2025-03-01T01:00:00Z"]
    finally:
        stack.request("PUT", f"/api/v2/backfills/{backfill['id']}/cancel")


def test_scheduled_nightly_keeps_its_four_hour_window(stack):
    """Only the scheduler's nightly runs get the window; once it has passed the triggerer alerts."""
    when = "2026-11-23T01:00:00Z"
    run_id = stack.scheduled_run(NMBRS, when)
    found = deadlines(stack, NMBRS, run_id)
    assert len(found) == 1, found
    assert datetime.fromisoformat(found[0]["deadline_time"].replace("Z", "+00:00")) == \
        datetime.fromisoformat(when.replace("Z", "+00:00")) + timedelta(hours=4)
    line = stack.wait_for_log("triggerer", f"payroll nightly window missed: dag={NMBRS}", timeout=120)
    assert run_id in line
    # The manual and backfill runs created above raised no alert.
    triggerer = next(p.log for p in stack.procs if p.name == "triggerer").read_text(errors="replace")
    assert f"dag={MONTHLY}" not in triggerer and f"dag={FOUR_WEEKLY}" not in triggerer


def _provider_installed() -> bool:
    return any(ep.value == "payroll_etl.airflow.provider:get_provider_info"
               for ep in entry_points(group="apache_airflow_provider"))


@pytest.fixture
def provider():
    if not _provider_installed():
        reason = ("the payroll provider entry point is not installed in this environment: re-install the "
                  "package (make install, or pip install --no-deps -e .)")
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.parametrize("conn_id", [MONTHLY, NMBRS, SOAP])
def test_connections_test_button_makes_an_authenticated_call(stack, provider, conn_id):
    spec = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())[conn_id]
    stored = stack.request("GET", f"/api/v2/connections/{conn_id}")
    assert stored["conn_type"] == spec["conn_type"]
    body = {"connection_id": conn_id, "conn_type": stored["conn_type"], "host": stored["host"],
            "login": stored["login"], "password": spec["password"], "extra": stored["extra"]}
    ok = stack.request("POST", "/api/v2/connections/test", body)
    assert ok["status"] is True, ok
    assert stored["host"] in ok["message"], ok
    assert "authenticated" in ok["message"] or "logged in" in ok["message"], ok

    wrong = "x" * 32 if spec["conn_type"] == "nmbrs" else "wrong-password-123"
    bad = stack.request("POST", "/api/v2/connections/test", {**body, "password": wrong})
    assert bad["status"] is False, bad
    assert "AuthenticationError" in bad["message"]
    assert wrong not in bad["message"]
    if spec["password"] not in spec["login"]:  # the demo Loket password "demo" is part of its login
        assert spec["password"] not in ok["message"] + bad["message"]
    for secret in filter(None, [spec["extra"].get("client_secret")]):
        assert secret not in ok["message"] + bad["message"]


def test_connection_types_are_offered_by_the_ui(stack, provider):
    hooks = {h["connection_type"]: h for h in stack.request("GET", "/ui/connections/hook_meta")}
    for conn_type in ("loket_rest", "loket_soap", "nmbrs"):
        assert hooks[conn_type]["hook_name"], hooks.get(conn_type)


def test_api_server_log_has_no_secret(stack):
    log = next(p.log for p in stack.procs if p.name == "api-server").read_text(errors="replace")
    for secret in ("demo-secret", "0123456789abcdef0123456789abcdef", "wrong-password-123"):
        assert secret not in log


def test_a_run_whose_period_was_loaded_shows_as_skipped(stack):
    """Two backfill runs in one four-weekly period, executed by the scheduler and a Celery worker: the
    second skips every task, and the scheduler notes on the run why (Airflow marks the run success)."""
    conf = {"backfill": "true"}
    first = stack.trigger(SOAP, "2025-01-01T01:00:00Z", conf=conf)
    second = stack.trigger(SOAP, "2025-01-15T01:00:00Z", conf=conf)  # the same pay period 202501
    states = stack.wait_for_runs({"first": first, "second": second}, timeout=RUN_TIMEOUT, dag_id=SOAP)
    assert states == {"first": "success", "second": "success"}, f"{states}\n{stack.diagnostics()}"
    assert set(stack.task_states(SOAP, first).values()) == {"success"}
    assert set(stack.task_states(SOAP, second).values()) == {"skipped"}
    note = stack.request("GET", f"/api/v2/dags/{SOAP}/dagRuns/{urllib.parse.quote(second)}")["note"]
    assert "Skipped: pay period 202501 was already loaded" in note, note
    assert "test run" in note  # the trigger's own note is kept
    assert "Skipped" not in (stack.request("GET", f"/api/v2/dags/{SOAP}/dagRuns/{urllib.parse.quote(first)}")
                             ["note"] or "")
