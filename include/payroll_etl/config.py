"""Employer configuration: one YAML file, one entry per employer (and its connector history).

Parsed at DAG-parse time, so this module imports only yaml and the standard library.

An employer uses one connector, or a history of connectors (``connectors:``, oldest first, each
from its cutover date): exactly one connector *publishes* an employer's facts on a given logical
date. Every connector of the history becomes one :class:`EmployerConfig` (one DAG); a connector
that does not publish today is not scheduled (``schedule`` None), except a ``shadow`` entry, which
runs nightly beside the publisher before its cutover and publishes nothing (docs/migration.md).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from payroll_etl.errors import ConfigurationError
from payroll_etl.periods import FREQUENCIES, TAILS
from payroll_etl.refresh import parse_every

CONNECTORS = ("loket_rest", "loket_soap", "nmbrs", "nmbrs_rest")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG = PROJECT_ROOT / "include" / "employers.yaml"


@dataclass(frozen=True)
class EmployerConfig:
    employer: str  # our key, lower_snake
    name: str
    connector: str
    source_ids: tuple[str, ...]  # Loket werkgever ids / Nmbrs company names or ids
    conn_id: str  # Airflow Connection id holding the credentials
    schedule: str | None = "0 2 * * *"
    timezone: str = "Europe/Amsterdam"
    enabled: bool = True
    # month | four_weeks | week; the source's own statement wins where it makes one (docs/benefits.md)
    payroll_frequency: str = "month"
    # four-weekly calendar: period13 (1 January, period 13 absorbs December) | iso_weeks (week-based,
    # period 14 in 53-week years) | period14 (1 January, short period 14 tail); see payroll_etl.periods
    four_week_tail: str = "period13"
    options: dict[str, Any] = field(default_factory=dict)
    # days between scheduled full refreshes, or a weekday; None: never (payroll_etl/refresh.py)
    full_refresh_every: int | str | None = None
    # The employer's connector history: (connector, first logical date, last logical date) per publishing
    # spell, oldest first; dates inclusive, None = open. Empty: this connector always publishes.
    history: tuple[tuple[str, date | None, date | None], ...] = ()
    shadow: bool = False  # runs beside the publisher before its cutover, publishing nothing

    def publisher_on(self, day: date) -> str | None:
        """The connector that publishes this employer's facts for logical date ``day`` (None: none yet)."""
        if not self.history:
            return self.connector
        for connector, first, last in self.history:
            if (first is None or first <= day) and (last is None or day <= last):
                return connector
        return None

    def publishes_on(self, day: date) -> bool:
        """True when this connector is the employer's publisher for logical date ``day``."""
        return self.publisher_on(day) == self.connector

    @property
    def other_connectors(self) -> tuple[str, ...]:
        """The employer's other connectors (earlier or later in its history), in history order."""
        return tuple(dict.fromkeys(c for c, _, _ in self.history if c != self.connector))

    def __post_init__(self) -> None:
        # Configs built in code (tests, scripts) get the same normalised source ids as the YAML.
        if self.connector in CONNECTORS:
            # Lenient here (what cannot be normalised stays as given); load_config refuses it.
            object.__setattr__(self, "source_ids", normalize_source_ids(
                self.connector, list(self.source_ids), f"employer {self.employer}", strict=False))

    @property
    def dag_id(self) -> str:
        return f"payroll_{self.connector}_{self.employer}"

    @property
    def pool(self) -> str:
        return f"payroll_{self.connector}"


@dataclass(frozen=True)
class PipelineConfig:
    employers: tuple[EmployerConfig, ...]
    pools: dict[str, int]
    dq: dict[str, Any]
    retention: dict[str, Any] = field(default_factory=dict)  # validated by retention.RetentionPolicy

    today: date | None = None  # the day the config was read for (schedules of connector histories)

    def employer(self, key: str, connector: str | None = None) -> EmployerConfig:
        """The entry of employer ``key`` for ``connector``; without one, the connector publishing today."""
        found = [e for e in self.employers if e.employer == key and (connector is None or e.connector == connector)]
        if not found:
            raise ConfigurationError(f"employer {key!r} is not in the employer config")
        today = self.today or date.today()
        return next((e for e in found if e.publishes_on(today)), found[0])

    def by_dag_id(self, dag_id: str) -> EmployerConfig:
        for e in self.employers:
            if e.dag_id == dag_id:
                return e
        raise ConfigurationError(f"no employer config for DAG {dag_id!r}")


def config_path() -> Path:
    return Path(os.environ.get("PAYROLL_EMPLOYERS_FILE", DEFAULT_CONFIG))


ENTRY_KEYS = {"connector", "conn_id", "source_ids", "from", "shadow", "options"}


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ConfigurationError(f"{where}: 'from' must be a date (YYYY-MM-DD)") from None


def _local_today(tz: str) -> date:
    from zoneinfo import ZoneInfo

    return datetime.now(ZoneInfo(tz)).date()


def expand_connectors(merged: dict[str, Any], where: str, today: date | None = None) -> list[dict[str, Any]]:
    """One employer entry -> the keyword arguments of one :class:`EmployerConfig` per connector.

    ``connectors:`` (oldest first) lists each connector with its ``conn_id`` (``source_ids`` and
    ``options`` default to the employer's) and ``from``: the first logical date it publishes (the
    cutover). The first entry may omit ``from`` (since always); the last may be ``shadow: true``
    (runs nightly beside the publisher before its ``from``, or indefinitely without one). A
    connector publishes from its ``from`` up to the day before the next entry's; switching back is
    one more entry. Rules: consecutive entries differ, ``from`` dates strictly increase.
    ``today`` (default: today in the employer's time zone) decides which DAGs are scheduled: the
    publisher of today and an active shadow; the others keep their DAG, unscheduled.
    """
    entries = merged.pop("connectors")
    if "connector" in merged or "conn_id" in merged:
        raise ConfigurationError(f"{where}: give either connector/conn_id or connectors:, not both")
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError(f"{where}: connectors must be a non-empty list")
    spells: list[tuple[str, date | None]] = []
    for i, entry in enumerate(entries):
        at = f"{where}.connectors[{i}]"
        if not isinstance(entry, dict) or not entry.get("connector") or not entry.get("conn_id"):
            raise ConfigurationError(f"{at}: needs connector and conn_id")
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            raise ConfigurationError(f"{at}: unknown keys {sorted(unknown)}")
        if entry["connector"] not in CONNECTORS:
            raise ConfigurationError(f"{at}: connector must be one of {CONNECTORS}")
        first = _as_date(entry["from"], at) if entry.get("from") is not None else None
        if entry.get("shadow") and i != len(entries) - 1:
            raise ConfigurationError(f"{at}: only the last connector can be a shadow")
        if i and first is None and not entry.get("shadow"):
            raise ConfigurationError(f"{at}: 'from' (the cutover date) is required after the first connector")
        if i and entry["connector"] == entries[i - 1]["connector"]:
            raise ConfigurationError(f"{at}: the same connector twice in a row")
        if first is not None and any(f is not None and f >= first for _, f in spells):
            raise ConfigurationError(f"{at}: 'from' dates must increase")
        spells.append((entry["connector"], first))
    history = []
    for i, (connector, first) in enumerate(spells):
        if first is None and i:  # a shadow without a cutover date never publishes
            continue
        nxt = next((f for _, f in spells[i + 1:] if f is not None), None)
        history.append((connector, first, nxt - timedelta(days=1) if nxt else None))
    today = today or _local_today(merged.get("timezone", "Europe/Amsterdam"))
    publisher = next((c for c, f, u in history if (f is None or f <= today) and (u is None or today <= u)), None)
    out: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        shadow = bool(entry.get("shadow")) and (spells[i][1] is None or today < spells[i][1])
        live = entry["connector"] == publisher or shadow
        out[entry["connector"]] = {
            **merged, "connector": entry["connector"], "conn_id": entry["conn_id"],
            "source_ids": entry.get("source_ids", merged.get("source_ids")),
            "options": {**(merged.get("options") or {}), **(entry.get("options") or {})},
            "schedule": merged.get("schedule") if live else None,
            "shadow": bool(entry.get("shadow")), "history": tuple(history)}
    return list(out.values())


def load_config(path: Path | None = None, today: date | None = None) -> PipelineConfig:
    """Read and validate the employer config; ``today`` fixes the day schedules are decided for (tests)."""
    path = path or config_path()
    try:
        # libyaml's C loader: ~10x faster, it matters when 1,000 employers are parsed every 30 s
        raw = yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except FileNotFoundError as exc:
        raise ConfigurationError(f"employer config {path} not found") from exc
    defaults = raw.get("defaults", {}) or {}
    employers = []
    seen: set[str] = set()
    keys: set[str] = set()
    for i, item in enumerate(raw.get("employers", []) or []):
        where = f"{path}: employers[{i}]"
        for merged in (expand_connectors({**defaults, **item}, where, today) if "connectors" in item
                       else [_plain({**defaults, **item}, where)]):
            cfg = _employer_config(merged, where)
            if cfg.dag_id in seen:
                raise ConfigurationError(f"{where}: duplicate employer/connector {cfg.dag_id}")
            seen.add(cfg.dag_id)
            employers.append(cfg)
        if item.get("employer") in keys:
            raise ConfigurationError(f"{where}: employer {item.get('employer')!r} appears twice; one entry per "
                                     "employer, a change of connector goes into its connectors: history")
        keys.add(item.get("employer"))
    return PipelineConfig(tuple(employers), dict(raw.get("pools", {}) or {}), dict(raw.get("data_quality", {}) or {}),
                          retention=dict(raw.get("retention", {}) or {}), today=today)


def _plain(merged: dict[str, Any], where: str) -> dict[str, Any]:
    """A single-connector entry: ``history`` and ``shadow`` belong to a ``connectors:`` list."""
    for key in ("history", "shadow"):
        if key in merged:
            raise ConfigurationError(f"{where}: {key!r} is only valid inside connectors:")
    return merged


def _employer_config(merged: dict[str, Any], where: str) -> EmployerConfig:
    for required in ("employer", "connector", "source_ids", "conn_id"):
        if not merged.get(required):
            raise ConfigurationError(f"{where}: missing {required!r}")
    if not KEY_RE.match(merged["employer"]):
        raise ConfigurationError(f"{where}: employer key must be lower_snake_case")
    if merged["connector"] not in CONNECTORS:
        raise ConfigurationError(f"{where}: connector must be one of {CONNECTORS}")
    if merged.get("payroll_frequency", "month") not in FREQUENCIES:
        raise ConfigurationError(f"{where}: payroll_frequency must be one of {', '.join(FREQUENCIES)}")
    if merged.get("four_week_tail", "period13") not in TAILS:
        raise ConfigurationError(f"{where}: four_week_tail must be one of {', '.join(TAILS)}")
    unknown = set(merged) - set(EmployerConfig.__dataclass_fields__)
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}")
    merged["full_refresh_every"] = parse_every(merged.get("full_refresh_every"), where)
    source_ids = merged["source_ids"]
    merged["source_ids"] = normalize_source_ids(
        merged["connector"], source_ids if isinstance(source_ids, list) else [source_ids], where)
    merged.setdefault("name", merged["employer"])
    return EmployerConfig(**merged)


def normalize_source_ids(connector: str, values: list[Any], where: str = "employer config", *,
                         strict: bool = True) -> tuple[str, ...]:
    """``source_ids`` as the source expects them, from what an administrator copied out of its UI.

    Loket (REST and SOAP): werkgever ids (GUIDs) in canonical lower-case form, whatever their case,
    braces or surrounding spaces. Nmbrs (SOAP and REST): Company IDs trimmed, company names kept literally (exact
    match is the rule; the connector reports the closest names). Duplicates after normalisation are
    dropped. Raises :class:`ConfigurationError` naming the entry and saying what to enter; with
    ``strict=False`` an entry that cannot be normalised is kept as given instead.
    Rules: ``payroll_etl.quality.identifiers`` (imported here: that package imports this module).
    """
    from payroll_etl.quality.identifiers import IdentifierError, nmbrs_company_ref, normalize_loket_werkgever_id

    normalise = nmbrs_company_ref if connector in ("nmbrs", "nmbrs_rest") else normalize_loket_werkgever_id
    out: list[str] = []
    for j, value in enumerate(values):
        try:
            text = normalise(value)
        except IdentifierError as exc:
            if strict:
                raise ConfigurationError(f"{where}: source_ids[{j}]: {exc}") from None
            text = str(value)
        if text not in out:
            out.append(text)
    return tuple(out)
