"""Retries, the retry policy, failure callbacks and the deadline alert, with real task failures.

dag.test() runs the real DAG against the simulators: a 503 from Loket is retried (exponential
backoff) and the run then succeeds; a refused login fails the task at once, without a retry.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from e2e_support import connection_env, environment, running_simulators

pytestmark = [pytest.mark.airflow, pytest.mark.slow]
DAG_ID = "payroll_loket_rest_bakkerij_de_vries"
CONN_ENV = "AIRFLOW_CONN_PAYROLL_LOKET_REST_BAKKERIJ_DE_VRIES"
BSN_LIKE = "123456782"


@pytest.fixture(scope="module")
def simulators():
    with running_simulators() as servers:
        yield servers


def _sim(url: str, path: str, body: dict | None = None, method: str = "POST") -> None:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", data=data, method=method, headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=10).read()


def _dag(fast_retries: bool = True):
    from payroll_etl.airflow.dag_factory import build_all
    from payroll_etl.config import load_config

    dag = build_all(load_config(), only_dag_id=DAG_ID)[DAG_ID]
    if fast_retries:  # same policy and backoff, seconds instead of minutes
        for t in dag.tasks:
            t.retry_delay = timedelta(seconds=1)
            t.max_retry_delay = timedelta(seconds=4)
    return dag


def _connection(simulators, **changes) -> dict[str, str]:
    env = connection_env(simulators)
    spec = json.loads(env[CONN_ENV])
    extra = {**spec["extra"], **changes.pop("extra", {})}
    env[CONN_ENV] = json.dumps({**spec, **changes, "extra": extra})
    return env


def _run(dag, logical: datetime):
    return dag.test(logical_date=logical.replace(tzinfo=UTC))


def _ti(run, task_id: str):
    return next(ti for ti in run.get_task_instances() if ti.task_id == task_id)


def test_transient_source_error_is_retried_then_succeeds(airflow_db, simulators, tmp_path):
    sim = simulators["loket_rest"].url
    # The connector's own retries are off (max_attempts=1), so the 503 reaches Airflow as
    # TransientSourceError: the task must go up_for_retry and succeed on its second try.
    env = _connection(simulators, extra={"max_attempts": 1, "backoff": 0})
    _sim(sim, "/_sim/faults", {"match": "^GET /v2/", "kind": "503", "times": 1})
    try:
        with environment(PAYROLL_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'wh.duckdb'}",
                         PAYROLL_DATA_DIR=str(tmp_path / "data"), **env):
            run = _run(_dag(), datetime(2026, 11, 23, 2, 0))
    finally:
        _sim(sim, "/_sim/faults", method="DELETE")
    extract = _ti(run, "extract")
    assert str(extract.state) == "success"
    assert extract.try_number == 2, "one failed try (TransientSourceError), then a retry"
    assert str(_ti(run, "load").state) == "success"


def test_authentication_error_fails_at_once_without_retry(airflow_db, simulators, tmp_path, capsys, caplog):
    env = _connection(simulators, password="wrong-password")
    caplog.set_level(logging.ERROR, logger="payroll_etl.airflow.dag_factory")
    with environment(PAYROLL_WAREHOUSE_URL=f"duckdb:///{tmp_path / 'wh.duckdb'}",
                     PAYROLL_DATA_DIR=str(tmp_path / "data"), **env):
        run = _run(_dag(), datetime(2026, 11, 22, 2, 0))
    extract = _ti(run, "extract")
    assert str(extract.state) == "failed", "the retry policy must FAIL auth errors, not retry them"
    assert extract.try_number == 1
    assert extract.max_tries == 3  # retries were available: the policy, not a lack of retries, stopped it
    assert str(_ti(run, "load").state) == "upstream_failed"
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text
    lines = [line for line in text.splitlines() if "payroll run failed:" in line]
    assert lines, "the failure callback logs one line"
    assert "AuthenticationError" in lines[0] and f"dag={DAG_ID}" in lines[0] and "task=extract" in lines[0]
    assert "wrong-password" not in text


def test_backoff_is_exponential_and_capped():
    """The delays Airflow computes for retries 1, 2, 3 grow (base 2) and stay under the cap."""
    from airflow.models.taskinstance import TaskInstance

    task = _dag(fast_retries=False).get_task("extract")
    assert task.retry_exponential_backoff == 2.0 and task.retries == 3
    delays = []
    for try_number in (1, 2, 3):
        ti = TaskInstance(task=task, run_id="r", dag_version_id=None)
        ti.try_number = try_number
        ti.end_date = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
        delays.append((ti.next_retry_datetime() - ti.end_date).total_seconds())
    assert delays == sorted(delays) and delays[0] < delays[-1], delays
    assert delays[0] >= 60 and delays[-1] <= task.max_retry_delay.total_seconds(), delays


def test_retry_policy_rules():
    from airflow.sdk import RetryAction

    from payroll_etl.airflow.dag_factory import NO_RETRY, retry_policy

    policy = retry_policy()
    assert [r.action for r in policy.rules] == [RetryAction.FAIL]
    assert "payroll_etl.errors.AuthenticationError" in NO_RETRY
    assert "payroll_etl.errors.TransientSourceError" not in NO_RETRY


@pytest.mark.parametrize("exc, retried", [
    (ValueError("timeout must be a number"), False),  # a bug or a bad Connection extra: not weather
    (KeyError("x"), False),
    ("AuthenticationError", False), ("ConfigurationError", False), ("QuotaExhaustedError", False),
    ("TransientSourceError", True), ("WarehouseError", True),
])
def test_the_airflow_retry_decision_is_the_error_taxonomy(exc, retried):
    """errors.is_retryable decides: only a retryable payroll error takes the task's retries (with backoff)."""
    from airflow.sdk import RetryAction

    from payroll_etl import errors
    from payroll_etl.airflow.dag_factory import retry_policy

    if isinstance(exc, str):
        exc = getattr(errors, exc)("employer=acme: something")
    decision = retry_policy().evaluate(exc, try_number=1, max_tries=4)
    assert decision.action == (RetryAction.DEFAULT if retried else RetryAction.FAIL)
    assert errors.is_retryable(exc) is retried


def test_a_task_timeout_takes_the_task_retries():
    """Airflow's execution_timeout (a hung source or warehouse) is weather: the task's retries apply."""
    from airflow.sdk import RetryAction
    from airflow.sdk.exceptions import AirflowTaskTimeout

    from payroll_etl.airflow.dag_factory import retry_policy

    decision = retry_policy().evaluate(AirflowTaskTimeout(), try_number=1, max_tries=4)
    assert decision.action == RetryAction.DEFAULT


def test_failure_callback_is_one_scrubbed_line(caplog):
    from payroll_etl.airflow.dag_factory import on_task_failure
    from payroll_etl.errors import TransientSourceError

    class TI:
        dag_id, task_id = DAG_ID, "extract"

    caplog.set_level(logging.ERROR, logger="payroll_etl.airflow.dag_factory")
    on_task_failure({"task_instance": TI(), "exception": TransientSourceError(
        f"Loket answered 503 for employee with BSN {BSN_LIKE}\nsecond line with more detail")})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert BSN_LIKE not in lines[0] and "TransientSourceError" in lines[0] and "second line" not in lines[0]


def test_nightly_dag_has_a_deadline_alert_that_serializes():
    from airflow.sdk import AsyncCallback
    from airflow.serialization.serialized_objects import DagSerialization

    from payroll_etl.airflow.dag_factory import NIGHTLY_WINDOW

    dag = _dag(fast_retries=False)
    (alert,) = dag.deadline
    assert alert.interval == NIGHTLY_WINDOW == timedelta(hours=4)
    # The nightly window is the logical date of scheduled runs only (tests/test_run_policy.py evaluates it).
    assert type(alert.reference).__name__ == "ScheduledLogicalDate"
    assert isinstance(alert.callback, AsyncCallback)
    assert alert.callback.path == "payroll_etl.airflow.dag_factory.on_deadline_missed"
    restored = DagSerialization.from_dict(DagSerialization.to_dict(dag))
    assert restored.deadline and restored.deadline[0]["callback"]["__data__"]["path"] == alert.callback.path
    assert restored.deadline[0]["reference"]["__class_path"] == "payroll_etl.airflow.run_policy.ScheduledLogicalDate"


def test_deadline_callback_runs_in_the_triggerer_trigger(caplog):
    """The triggerer's CallbackTrigger runs our callback with the scheduler's context: one line, no conf."""
    from airflow.triggers.callback import CallbackTrigger

    context = {"dag_run": {"dag_id": DAG_ID, "dag_run_id": "scheduled__2026-11-23T01:00:00+00:00",
                           "logical_date": "2026-11-23T01:00:00Z", "state": "running",
                           "conf": {"note": f"BSN {BSN_LIKE}"}},
               "deadline": {"id": "x", "deadline_time": "2026-11-23T05:00:00Z"}}
    trigger = CallbackTrigger("payroll_etl.airflow.dag_factory.on_deadline_missed", {"context": context})

    async def collect():
        return [event.payload async for event in trigger.run()]

    caplog.set_level(logging.ERROR, logger="payroll_etl.airflow.dag_factory")
    events = asyncio.run(collect())
    assert events[-1]["state"] == "success", events
    line = events[-1]["body"]
    assert "nightly window missed" in line and f"dag={DAG_ID}" in line and "deadline=2026-11-23T05:00:00Z" in line
    assert BSN_LIKE not in line and "\n" not in line
    assert [r.getMessage() for r in caplog.records] == [line]
