"""When a nightly run becomes a full refresh: ``full_refresh_every`` in include/employers.yaml.

Incremental modes cannot see deletions: Loket SOAP compares ListVersion/SelectVersion (a deleted
record has no version left to compare), Loket REST compares lastModifiedVersionNumbers, and the
Nmbrs nightly population is "employed in this pay period". A full refresh fetches every record the
source still has, so the load can end the ones it no longer has (``warehouse/deletions.py``).

``full_refresh_every`` (per employer or under ``defaults``):

* an int N >= 1: a full refresh when the last one is N or more days before the run's logical date;
* a weekday (``monday`` .. ``sunday``, or ``maandag`` .. ``zondag``): on that weekday, and on the
  first run after a missed one (last full refresh 7 or more days ago);
* absent, ``null`` or ``0``: never scheduled (a run option ``full_refresh`` still forces one).

The date of the last full refresh is kept in the employer's ``source_state`` (key
``last_full_refresh``), written in the load transaction: a full refresh that fails before its load
is tried again by the next run. A first run (no state) is a full extract by nature and counts as one.
Backfills never become full refreshes: they fetch a past pay period.
"""

from __future__ import annotations

from datetime import date

from payroll_etl.errors import ConfigurationError

STATE_KEY = "last_full_refresh"
WEEKDAYS = {name: i for i, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                               "sunday"))}
WEEKDAYS.update({name: i for i, name in enumerate(("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag",
                                                    "zaterdag", "zondag"))})


def parse_every(value: object, where: str = "full_refresh_every") -> int | str | None:
    """Validate a ``full_refresh_every`` value: a number of days (int >= 1), a weekday name, or
    None (never; ``0`` and ``false`` mean never too). Raises ConfigurationError naming ``where``."""
    if value is None or value is False or value == 0:
        return None
    if isinstance(value, bool):
        raise ConfigurationError(f"{where}: full_refresh_every must be a number of days or a weekday")
    if isinstance(value, int):
        if value < 1:
            raise ConfigurationError(f"{where}: full_refresh_every must be at least 1 day")
        return value
    if isinstance(value, str) and value.strip().lower() in WEEKDAYS:
        return value.strip().lower()
    raise ConfigurationError(f"{where}: full_refresh_every must be a number of days or a weekday "
                             f"(monday..sunday), not {str(value)[:30]!r}")


def full_refresh_due(every: int | str | None, last: date | None, on: date) -> bool:
    """True when the run of logical date ``on`` must be a full refresh.

    ``last``: date of the last full refresh (None: never recorded, e.g. a warehouse from before
    this setting: due at once). A run dated before ``last`` (a re-run of an older date) is never due.
    """
    if every is None:
        return False
    if last is None:
        return True
    if on <= last:
        return False
    if isinstance(every, int):
        return (on - last).days >= every
    return on.weekday() == WEEKDAYS[every] or (on - last).days >= 7


def last_full_refresh(state: dict) -> date | None:
    """The recorded date of the last full refresh in a ``source_state`` document, if any."""
    value = (state or {}).get(STATE_KEY)
    try:
        return date.fromisoformat(value) if value else None
    except (TypeError, ValueError):
        return None


def decide(every: int | str | None, previous_state: dict, on: date, *, forced: bool, backfill: bool
           ) -> tuple[bool, str | None]:
    """(full refresh?, reason) for one run: ``forced`` (run option), ``first`` (no state yet),
    ``scheduled`` (due by ``every``), or (False, None) for an incremental run. Backfills are never
    scheduled full refreshes."""
    if forced:
        return True, "forced"
    if backfill:
        return False, None
    if not previous_state:
        return False, "first"  # the connector extracts everything anyway; recorded as a full refresh
    if full_refresh_due(every, last_full_refresh(previous_state), on):
        return True, "scheduled"
    return False, None
