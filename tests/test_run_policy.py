"""Run options, the pay-period timetable, the deadline reference and the provider, through Airflow's own
serialization and backfill code (no running Airflow; tests/distributed/test_run_options_api.py drives
the same through the REST API of a running one)."""

from __future__ import annotations

import json
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MONTHLY = "payroll_loket_rest_bakkerij_de_vries"
FOUR_WEEKLY = "payroll_loket_rest_techniek_noord"


def serialized(dag_id: str):
    """The DAG as the scheduler and API server see it: serialized by the DAG processor, then decoded."""
    from airflow.serialization.serialized_objects import DagSerialization

    from payroll_etl.airflow.dag_factory import build_all
    from payroll_etl.config import load_config

    dag = build_all(load_config(), only_dag_id=dag_id)[dag_id]
    return DagSerialization.from_dict(json.loads(json.dumps(DagSerialization.to_dict(dag))))


def backfill_dates(dag_id: str, first: datetime, last: datetime) -> list[str]:
    """The logical dates Airflow's backfill would create (airflow.models.backfill._get_info_list)."""
    from airflow.models.backfill import _get_info_list

    infos = _get_info_list(dag=serialized(dag_id), from_date=first, to_date=last, reverse=False)
    return [info.logical_date.isoformat() for info in infos]


def test_run_options_are_validated_params_after_serialization():
    from airflow.exceptions import ParamValidationError

    dag = serialized(MONTHLY)
    assert dict(dag.params) == {"full_refresh": False, "backfill": "auto"}
    assert dag.params.deep_merge({"full_refresh": True, "backfill": "true"}).validate() == {
        "full_refresh": True, "backfill": "true"}
    for typo in ({"full_refresh": "yes"}, {"backfill": "maybe"}, {"backfill": True}):
        with pytest.raises(ParamValidationError):
            dag.params.deep_merge(typo).validate()
    # Tasks carry no copies of the DAG's Params (parse time); the task runner merges dag.params.
    assert all(not task.params for task in dag.tasks)


def test_run_options_at_run_time_refuse_unknown_keys_and_wrong_types():
    from payroll_etl.airflow.run_policy import run_options
    from payroll_etl.errors import ConfigurationError

    assert run_options({}) == (False, None)
    assert run_options({"full_refresh": True, "backfill": "false"}) == (True, False)
    with pytest.raises(ConfigurationError, match="fullrefresh"):
        run_options({"fullrefresh": True})
    with pytest.raises(ConfigurationError, match="full_refresh"):
        run_options({"full_refresh": "yes"})


def test_api_guard_judges_trigger_and_backfill_bodies():
    from payroll_etl.airflow.run_policy import conf_problem

    trigger = f"/api/v2/dags/{MONTHLY}/dagRuns"
    assert conf_problem(trigger, b'{"conf": {"full_refresh": true}}') is None
    assert "'ful_refresh'" in conf_problem(trigger, b'{"conf": {"ful_refresh": true}}')
    body = json.dumps({"dag_id": MONTHLY, "dag_run_conf": {"x": 1}}).encode()
    assert "'x'" in conf_problem("/api/v2/backfills", body)
    assert "'x'" in conf_problem("/api/v2/backfills/dry_run", body)
    # Other DAGs and other endpoints are not ours to judge.
    assert conf_problem("/api/v2/dags/other_dag/dagRuns", b'{"conf": {"x": 1}}') is None
    assert conf_problem(f"/api/v2/dags/{MONTHLY}/dagRuns/some_run/clear", b'{"conf": {"x": 1}}') is None


def test_backfill_of_three_monthly_periods_creates_three_runs():
    dates = backfill_dates(MONTHLY, datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 3, 31, tzinfo=UTC))
    # 02:00 Europe/Amsterdam on each period's first day (the nightly's time), one per period.
    assert dates == ["2025-01-01T01:00:00+00:00", "2025-02-01T01:00:00+00:00", "2025-03-01T01:00:00+00:00"]


def test_backfill_of_a_four_weekly_employer_creates_one_run_per_period_start():
    from payroll_etl.periods import periods_between

    dates = backfill_dates(FOUR_WEEKLY, datetime(2025, 11, 1, tzinfo=UTC), datetime(2026, 2, 28, tzinfo=UTC))
    periods = periods_between(datetime(2025, 11, 1).date(), datetime(2026, 2, 28).date(), "four_weeks")
    assert [d[:10] for d in dates] == [p.start.isoformat() for p in periods]
    # Periods 11-13 of 2025 (13 runs 2025-12-03 .. 12-31: the year's left-over day is in it), then 2026's 1-3.
    assert [d[:10] for d in dates] == ["2025-10-08", "2025-11-05", "2025-12-03", "2026-01-01", "2026-01-29",
                                       "2026-02-26"]


def test_nightly_schedule_is_the_stock_cron_timetable():
    """Outside a backfill the timetable answers exactly as Airflow's CronTriggerTimetable of the same cron."""
    from airflow.timetables.base import DagRunInfo
    from airflow.timetables.trigger import CronTriggerTimetable

    dag = serialized(MONTHLY)
    stock = CronTriggerTimetable("0 2 * * *", timezone="Europe/Amsterdam")
    for last in (None, *(DagRunInfo.exact(datetime(2026, m, d, 1, 0, tzinfo=UTC)) for m, d in ((3, 27), (3, 28),
                                                                                                  (10, 24), (11, 23)))):
        for restriction in (dag._time_restriction, dag._time_restriction._replace(catchup=True)):
            ours = dag.timetable.next_dagrun_info_v2(last_dagrun_info=last, restriction=restriction)
            assert ours == stock.next_dagrun_info_v2(last_dagrun_info=last, restriction=restriction)
    following = dag.timetable.next_dagrun_info_v2(
        last_dagrun_info=DagRunInfo.exact(datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
        restriction=dag._time_restriction._replace(catchup=True))
    assert following.logical_date.isoformat() == "2026-03-30T00:00:00+00:00"  # 02:00 CEST


def test_deadline_is_the_scheduled_runs_logical_date_only(airflow_db):
    """Airflow evaluates the reference when it creates a run: only scheduled runs get a deadline."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunTriggeredByType, DagRunType

    from payroll_etl.airflow.run_policy import ScheduledLogicalDate

    when = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    with create_session() as session:
        for run_type in (DagRunType.SCHEDULED, DagRunType.MANUAL, DagRunType.BACKFILL_JOB):
            session.add(DagRun(dag_id="payroll_deadline_test", run_id=f"{run_type.value}__x", logical_date=when,
                               run_after=when, run_type=run_type, state=DagRunState.QUEUED,
                               triggered_by=DagRunTriggeredByType.TEST))
            when = when.replace(day=when.day + 1)
        session.flush()
        ref = ScheduledLogicalDate()
        got = {t: ref._evaluate_with(session=session, dag_id="payroll_deadline_test", run_id=f"{t}__x")
               for t in ("scheduled", "manual", "backfill")}
        session.rollback()
    assert got == {"scheduled": datetime(2026, 11, 23, 1, 0, tzinfo=UTC), "manual": None, "backfill": None}


def test_provider_info_is_valid_and_declared_as_entry_point():
    import importlib.resources

    import jsonschema

    from payroll_etl.airflow import hooks
    from payroll_etl.airflow.provider import get_provider_info

    info = get_provider_info()
    schema = json.loads(importlib.resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(info, schema)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert info["package-name"] == project["project"]["name"]
    assert project["project"]["entry-points"]["apache_airflow_provider"]["provider_info"] == \
        "payroll_etl.airflow.provider:get_provider_info"
    for entry in info["connection-types"]:
        cls = getattr(hooks, entry["hook-class-name"].rsplit(".", 1)[1])
        assert cls.conn_type == entry["connection-type"]
        assert callable(cls.test_connection)
    assert {e["connection-type"] for e in info["connection-types"]} == set(hooks.CONNECTORS)


def test_hook_resolves_the_connector_and_masks_secrets():
    from payroll_etl.airflow.hooks import connector_of, without_secrets
    from payroll_etl.connectors.base import SourceCredentials
    from payroll_etl.errors import ConfigurationError

    assert connector_of("nmbrs", {}, "c") == "nmbrs"
    assert connector_of("http", {"connector": "loket_soap"}, "c") == "loket_soap"
    with pytest.raises(ConfigurationError, match="extra.connector says nmbrs"):
        connector_of("loket_rest", {"connector": "nmbrs"}, "c")
    with pytest.raises(ConfigurationError, match="names no payroll connector"):
        connector_of("http", {}, "c")
    creds = SourceCredentials(host="h", password="s3cret-pass", extra={"client_secret": "cl-secret"})
    assert without_secrets("bad s3cret-pass and cl-secret", creds) == "bad *** and ***"
