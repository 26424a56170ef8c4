"""The project's Airflow plugin: what the scheduler, DAG processor, API server and CLI must know
about payroll DAGs beyond the DAG files (Airflow 3.3 serializes only registered custom classes).

* ``timetables``: :class:`PayPeriodTimetable` (nightly cron; backfills one run per pay period).
* ``deadline_references``: :class:`ScheduledLogicalDate` (the nightly window, scheduled runs only).
* ``fastapi_root_middlewares``: :class:`RunConfGuard` (API server: unknown run options are refused).
* ``listeners``: :class:`SkippedRunNotes` (a run that skipped everything says why in its note).
* importing this module installs the backfill guard (one pay period at a time per employer).

The code lives in ``include/payroll_etl/airflow/`` (tested like the rest); this file only registers it.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from payroll_etl.airflow.run_policy import (
    RunConfGuard,
    ScheduledLogicalDate,
    SkippedRunNotes,
    install_backfill_guard,
)
from payroll_etl.airflow.timetable import PayPeriodTimetable

install_backfill_guard()


class PayrollPlugin(AirflowPlugin):
    name = "payroll"
    timetables = [PayPeriodTimetable]
    deadline_references = [ScheduledLogicalDate]
    fastapi_root_middlewares = [{"middleware": RunConfGuard, "args": [], "kwargs": {},
                                 "name": "payroll run options"}]
    listeners = [SkippedRunNotes()]
