"""Connector histories (``connectors:``, docs/migration.md): one EmployerConfig per connector, scheduled by date."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from payroll_etl.config.employer import EmployerConfig, build_employer, typed_options
from payroll_etl.errors import ConfigurationError

if TYPE_CHECKING:
    from payroll_etl.config.models import HistoryEntry


def dag_ids(raw: dict[str, Any]) -> list[str]:
    """The DAG ids of a valid history entry (one per connector), whatever the day."""
    return [f"payroll_{spell['connector']}_{raw['employer']}" for spell in raw["connectors"]]


def expand_raw(where: str, raw: dict[str, Any], today: date | None) -> list[EmployerConfig]:
    """A history entry (a valid raw mapping: its models are built per process, never pickled) for ``today``."""
    from payroll_etl.config.models import HistoryEntry

    return expand_connectors(HistoryEntry.model_validate(raw), where, today)


def _local_today(tz: str) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(tz)).date()


def expand_connectors(entry: HistoryEntry, where: str, today: date | None = None) -> list[EmployerConfig]:
    """An employer with a ``connectors:`` history -> one :class:`EmployerConfig` per connector.

    ``connectors:`` (oldest first) lists each connector with its ``conn_id`` (``source_ids`` and
    ``options`` default to the employer's) and ``from``: the first logical date it publishes (the
    cutover). The first entry may omit ``from`` (since always); the last may be ``shadow: true``
    (runs nightly beside the publisher before its ``from``, or indefinitely without one). A
    connector publishes from its ``from`` up to the day before the next entry's; switching back is
    one more entry. Rules: consecutive entries differ, ``from`` dates strictly increase.
    ``today`` (default: today in the employer's time zone) decides which DAGs are scheduled: the
    publisher of today and an active shadow; the others keep their DAG, unscheduled.
    Raises ConfigurationError naming the entry for a source id or option the connector refuses.
    """
    spells = entry.connectors  # valid: models.HistoryEntry checked the order rules
    history = []
    for i, spell in enumerate(spells):
        if spell.first is None and i:  # a shadow without a cutover date never publishes
            continue
        nxt = next((s.first for s in spells[i + 1:] if s.first is not None), None)
        history.append((spell.connector, spell.first, nxt - timedelta(days=1) if nxt else None))
    today = today or _local_today(entry.timezone)
    publisher = next((c for c, f, u in history if (f is None or f <= today) and (u is None or today <= u)), None)
    out: dict[str, EmployerConfig] = {}
    base = entry.model_dump(exclude={"connectors", "options", "source_ids"})
    for spell in spells:
        live = spell.connector == publisher or (spell.shadow and (spell.first is None or today < spell.first))
        source_ids = spell.source_ids or entry.source_ids
        if not source_ids:
            raise ConfigurationError(f"{where}: missing 'source_ids'")
        options = {**entry.options, **(spell.options.model_dump(exclude_unset=True) if spell.options else {})}
        fields = {**base, "connector": spell.connector, "conn_id": spell.conn_id, "source_ids": source_ids,
                  "schedule": entry.schedule if live else None, "shadow": spell.shadow, "history": tuple(history)}
        out[spell.connector] = build_employer(fields, _typed(spell.connector, options, where), where)
    return list(out.values())


def _typed(connector: str, options: dict[str, Any], where: str) -> Any:
    try:
        return typed_options(connector, options, "")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {connector}: {str(exc).removeprefix('employer : ')}") from None
