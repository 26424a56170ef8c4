"""The daily retention DAG ``payroll_retention``: one task that calls ``payroll_etl.retention.purge``.

Thin on purpose: the policy comes from include/employers.yaml (``retention:``), the work and its
rules are in the plain-Python core. The only Airflow-specific part is finding the busy employers:
those whose payroll DAG has a queued or running run (a pending backfill, a re-run), asked through
the Task SDK (``get_dr_count``), so the purge leaves them alone today. Runs at 04:30 Amsterdam,
after the nightly loads (02:00 + the 4-hour window would end at 06:00; loads that still run are busy).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG
from airflow.timetables.trigger import CronTriggerTimetable

log = logging.getLogger(__name__)

DAG_ID = "payroll_retention"
SCHEDULE = "30 4 * * *"
ACTIVE_STATES = ["queued", "running"]

DOC = """\
### Payroll: retention purge

Deletes what is past its retention period, per data class (`retention:` in include/employers.yaml,
defaults and grounds in docs/privacy.md): raw landing, staging, Data Docs and `dq_result`,
quarantine references, superseded warehouse history of people who left, and their
`person_identity` rows. Employers with a queued or running payroll run are skipped today.
Idempotent; logs and returns counts only. Run it by hand any time: it removes nothing twice.
"""


def busy_employers(ti: Any, employers: Any) -> set[tuple[str, str]]:
    """(connector, employer) of every employer whose DAG has a queued or running run. An employer
    whose state cannot be read counts as busy (never purge what might be needed)."""
    busy = set()
    for cfg in employers:
        try:
            active = ti.get_dr_count(dag_id=cfg.dag_id, states=ACTIVE_STATES)
        except Exception:  # noqa: BLE001 - unknown state: be conservative
            active = 1
        if active:
            busy.add((cfg.connector, cfg.employer))
    return busy


def purge_step(**context: Any) -> dict[str, Any]:
    """The task: policy from the config, busy employers from Airflow, then the core purge."""
    from payroll_etl.config import read_config
    from payroll_etl.retention import RetentionPolicy, purge

    config = read_config()
    policy = RetentionPolicy.from_config(config.retention)
    busy = busy_employers(context["ti"], config.employers)
    return purge(policy, busy=busy)


def build_retention_dag() -> DAG:
    """The ``payroll_retention`` DAG (daily, Europe/Amsterdam, never catches up)."""
    from payroll_etl.airflow.dag_factory import START_DATE, on_task_failure, retry_policy

    with DAG(
        dag_id=DAG_ID,
        schedule=CronTriggerTimetable(SCHEDULE, timezone="Europe/Amsterdam"),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["payroll", "retention", "privacy"],
        doc_md=DOC,
        default_args={"owner": "data-platform", "retries": 2, "retry_delay": timedelta(minutes=10),
                      "retry_policy": retry_policy(), "on_failure_callback": on_task_failure},
        dagrun_timeout=timedelta(hours=2),
    ) as dag:
        PythonOperator(task_id="purge", python_callable=purge_step, execution_timeout=timedelta(hours=1))
    return dag
