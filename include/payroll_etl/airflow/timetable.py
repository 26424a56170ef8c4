"""The payroll timetable: nightly on a cron, but backfills create one run per pay period.

Airflow enumerates a backfill's runs from the DAG's timetable (``airflow/models/backfill.py``:
``_get_info_list`` -> ``SerializedDAG.iter_dagrun_infos_between`` -> ``next_dagrun_info_v2`` with
``TimeRestriction(from_date, to_date, catchup=True)``). The scheduler asks the same method with the
DAG's own restriction (``start_date``, ``end_date``, ``catchup``). Payroll DAGs have ``catchup=False``
and no ``end_date``, so a restriction with ``catchup=True`` *and* an upper bound only ever comes from a
backfill (UI, ``POST /api/v2/backfills``, ``airflow backfill create``): that one is answered with one
run per pay period overlapping the range, at the first cron time on the period's first day (02:00
Europe/Amsterdam for the default ``0 2 * * *``), so the logical date maps to that period
(``payroll_etl.periods.period_for_logical_date``). Every other question gets the cron's answer, so the
nightly schedule, manual runs and the UI's calendar are exactly those of ``CronTriggerTimetable``.

Airflow 3.3 serializes only core timetables without registration: this class is registered by the
plugin in ``plugins/payroll_plugin.py`` (``AirflowPlugin.timetables``), which the DAG processor,
scheduler, API server and CLI load from the plugins folder.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from airflow.timetables.base import DagRunInfo
from airflow.timetables.trigger import CronTriggerTimetable

from payroll_etl.periods import backfill_logical_dates

if TYPE_CHECKING:
    from airflow.timetables.base import TimeRestriction


_LABELS = {"month": "monthly", "four_weeks": "four-weekly", "week": "weekly"}


def frequency_label(frequency: str) -> str:
    """A pay frequency as people write it ("four_weeks" -> "four-weekly"), for the UI."""
    return _LABELS.get(frequency, frequency.replace("_", "-"))


class PayPeriodTimetable(CronTriggerTimetable):
    """``CronTriggerTimetable(cron, timezone)`` whose backfills run once per pay period.

    :param cron: the nightly schedule, e.g. ``"0 2 * * *"``.
    :param timezone: the zone the cron is read in (``"Europe/Amsterdam"``); also the zone in which a
        backfill's from/to dates are read as payroll calendar days.
    :param frequency: the employer's pay frequency as ``payroll_etl.periods`` names it (``"month"``,
        ``"four_weeks"``, …).
    :param tail: the four-weekly year-end rule (``"period13"``/``"period14"``), passed through.
    """

    def __init__(self, cron: str, *, timezone: Any, frequency: str = "month", tail: str = "period13") -> None:
        super().__init__(cron, timezone=timezone)
        self.frequency = frequency
        self.tail = tail
        if self.description:
            self.description = f"{self.description}; backfills: one run per {frequency_label(frequency)} pay period"

    # ------------------------------------------------------------------ serialization
    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> PayPeriodTimetable:
        """The timetable from :meth:`serialize`'s dict (``frequency``/``tail`` default to month/period13)."""
        from airflow._shared.timezones.timezone import parse_timezone

        return cls(data["expression"], timezone=parse_timezone(data["timezone"]),
                   frequency=data.get("frequency", "month"), tail=data.get("tail", "period13"))

    def serialize(self) -> dict[str, Any]:
        """The cron timetable's dict (``expression``, ``timezone``, ...) plus ``frequency`` and ``tail``."""
        return {**super().serialize(), "frequency": self.frequency, "tail": self.tail}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, PayPeriodTimetable):
            return NotImplemented
        return super().__eq__(other) and (self.frequency, self.tail) == (other.frequency, other.tail)

    def __hash__(self) -> int:
        return hash((self._expression, self._timezone, self.frequency, self.tail))

    # ------------------------------------------------------------------ scheduling
    def next_dagrun_info_v2(self, *, last_dagrun_info: DagRunInfo | None,
                            restriction: TimeRestriction) -> DagRunInfo | None:
        """The cron's next run, except for a backfill's bounded catch-up: the next pay period's start."""
        if not (restriction.catchup and restriction.earliest is not None and restriction.latest is not None):
            return super().next_dagrun_info_v2(last_dagrun_info=last_dagrun_info, restriction=restriction)
        starts = self.period_starts(self.local_day(restriction.earliest), self.local_day(restriction.latest))
        last = last_dagrun_info.logical_date if last_dagrun_info else None
        after = self.local_day(last) if last is not None else None
        start = next((day for day in starts if after is None or day > after), None)
        return None if start is None else DagRunInfo.exact(self.run_time(start))

    def local_day(self, moment: datetime) -> date:
        """The calendar day of ``moment`` in the timetable's zone (a UTC midnight bound is still that day
        in Amsterdam: 2025-03-31T00:00Z is 02:00 local on the 31st)."""
        from airflow._shared.timezones.timezone import coerce_datetime

        return coerce_datetime(moment).in_timezone(self._timezone).date()

    def period_starts(self, first: date, last: date) -> list[date]:
        """First days of the pay periods overlapping ``first``..``last`` (payroll calendar days)."""
        return backfill_logical_dates(first, last, self.frequency, self.tail)  # type: ignore[arg-type]

    def run_time(self, day: date) -> Any:
        """The first cron time on ``day`` (local), as an aware UTC datetime; local midnight if the cron
        has no time on that day (e.g. a weekly cron), so the logical date stays inside the period."""
        from airflow._shared.timezones.timezone import coerce_datetime, convert_to_utc, make_aware

        midnight = convert_to_utc(make_aware(datetime.combine(day, time()), self._timezone))
        aligned = self._align_to_next(coerce_datetime(midnight))
        if aligned - midnight >= timedelta(days=1):
            return coerce_datetime(midnight)
        return aligned
