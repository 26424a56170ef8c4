"""Warehouse tables of the benefits mart (on the shared warehouse ``metadata``) and their seeding.

All three tables are bitemporal like the history tables (``recorded_at`` / ``superseded_at``):

* ``benefit_parameter``: the rows of ``parameters.csv``. Reseeding with a corrected value (the
  preliminary 2026 franchise) supersedes the old row, so bases stay reproducible as of any date.
* ``benefit_scheme``: one row per scheme version from ``include/benefit_schemes.yaml``. A seeded
  version is immutable: changing its content is an error (add a version instead).
* ``benefit_basis``: the computed bases per (connector, employer, employment, scheme,
  reference date); written by ``mart.py``.

The migration creating them is ``warehouse/migrations/versions/0002_benefit_tables.py``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Index, Integer, Numeric, String, Table, Text

from payroll_etl.benefits.parameters import ParameterRow, ParameterTable, load_parameter_rows
from payroll_etl.benefits.schemes import Scheme, load_schemes, validate_schemes, with_valid_to
from payroll_etl.warehouse.schema import metadata

MONEY = Numeric(18, 2)


def _transaction_time() -> list[Column]:
    return [
        Column("recorded_at", DateTime(timezone=True), nullable=False, comment="transaction time: learned at"),
        Column("superseded_at", DateTime(timezone=True), nullable=True, comment="transaction time: replaced at"),
    ]


benefit_parameter = Table(
    "benefit_parameter", metadata,
    Column("parameter", Text, nullable=False, comment="e.g. aow_franchise_min, max_daily_wage"),
    Column("valid_from", Date, nullable=False, comment="effective date; the year's first row is its 1 January value"),
    Column("value", Numeric(18, 4), nullable=False),
    Column("unit", Text, nullable=True),
    Column("source", Text, nullable=True, comment="source tags of docs/benefits.md / domain.md"),
    Column("note", Text, nullable=True),
    *_transaction_time(),
    Index("ux_benefit_parameter_version", "parameter", "valid_from", "recorded_at", unique=True),
    comment="Statutory yearly parameters (fiscal max, AOW-franchise minimum, SV maxima), effective-dated.",
)

benefit_scheme = Table(
    "benefit_scheme", metadata,
    Column("employer", Text, nullable=False),
    Column("scheme", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("name", Text, nullable=True),
    Column("accrual_type", Text, nullable=False, comment="middelloon | beschikbare_premie | eindloon | none"),
    Column("franchise", MONEY, nullable=True, comment="NULL: the legal minimum of the year"),
    Column("peildatum_rule", Text, nullable=False, comment="fixed_1_january | follows_changes"),
    Column("pensionable_components", Text, nullable=False, comment="comma-separated salary components"),
    Column("holiday_allowance_included", Boolean, nullable=False),
    Column("holiday_allowance_pct", Numeric(9, 4), nullable=True),
    Column("four_weekly_periods", Integer, nullable=False),
    Column("pension_max_salary", MONEY, nullable=True),
    Column("wia_cover_pct", Numeric(9, 4), nullable=True, comment="70 | 75 | 80; NULL: no WIA-excedent part"),
    Column("wia_threshold_source", Text, nullable=False, comment="dagloon_x_261 | max_premieloon"),
    Column("policy_max_salary", MONEY, nullable=True),
    Column("definition", Text, nullable=False, comment="the version as JSON (what the mart reads back)"),
    Column("definition_hash", String(64), nullable=False),
    *_transaction_time(),
    Index("ux_benefit_scheme_version", "employer", "scheme", "version", "recorded_at", unique=True),
    comment="Benefit scheme versions per employer (include/benefit_schemes.yaml).",
)

BASIS_VALUE_COLUMNS = (
    "status", "scheme_version", "parameter_year", "peildatum", "part_time_factor", "ft_pensionable_salary",
    "max_pensionable_salary", "franchise", "pensioengrondslag", "wia_salary", "wia_threshold", "wia_excedent",
    "wia_cover_pct", "wia_insured",
)

benefit_basis = Table(
    "benefit_basis", metadata,
    Column("connector", Text, nullable=False),
    Column("employer", Text, nullable=False),
    Column("employment_source_id", Text, nullable=False),
    Column("scheme", Text, nullable=False),
    Column("reference_date", Date, nullable=False, comment="the basis applies from this date until the next row"),
    Column("status", String(24), nullable=False,
           comment="in_service | out_of_service | no_salary | no_part_time_factor"),
    Column("scheme_version", Integer, nullable=False),
    Column("parameter_year", Integer, nullable=False),
    Column("peildatum", Date, nullable=True, comment="the date whose salary was used"),
    Column("part_time_factor", Numeric(18, 4), nullable=True),
    Column("ft_pensionable_salary", MONEY, nullable=True, comment="full-time annual, incl. holiday allowance"),
    Column("max_pensionable_salary", MONEY, nullable=True, comment="fiscal max (or lower scheme max) applied"),
    Column("franchise", MONEY, nullable=True),
    Column("pensioengrondslag", MONEY, nullable=True),
    Column("wia_salary", MONEY, nullable=True, comment="actual annual salary (FT × part-time factor)"),
    Column("wia_threshold", MONEY, nullable=True),
    Column("wia_excedent", MONEY, nullable=True),
    Column("wia_cover_pct", Numeric(9, 4), nullable=True),
    Column("wia_insured", MONEY, nullable=True),
    Column("row_hash", String(64), nullable=False),
    *_transaction_time(),
    Column("load_run_id", String(64), nullable=True, comment="the load whose changes triggered this computation"),
    Column("superseded_by_run", String(64), nullable=True),
    Index("ux_benefit_basis_version", "connector", "employer", "employment_source_id", "scheme", "reference_date",
          "recorded_at", unique=True),
    Index("ix_benefit_basis_current", "employer", "connector", "superseded_at"),
    comment="Pension and WIA-excedent bases per employment, scheme and reference date (issue 10).",
)


# --- SQL helpers shared with store.py and reading.py (bound parameters through the loader's Db) -------

def utc(at: datetime) -> datetime:
    """``at`` as an aware datetime: a naive one is taken as UTC (transaction times are UTC)."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def known_at(alias: str) -> str:
    """Transaction-time predicate: the row of ``alias`` was believed at the bound parameter ``:at``
    (an aware datetime, see :func:`utc`)."""
    return f"{alias}.recorded_at <= :at AND ({alias}.superseded_at IS NULL OR {alias}.superseded_at > :at)"


def _lock(db: Any, name: str) -> None:
    """Serialise concurrent seeding on PostgreSQL (DuckDB has a single writer per file anyway)."""
    if getattr(db, "dialect", "") == "postgresql":
        key = int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)
        db.execute("SELECT pg_advisory_xact_lock(CAST(:key AS BIGINT))", {"key": key})


# --- seeding (idempotent) ----------------------------------------------------------------------

def seed_parameters(db: Any, rows: list[ParameterRow] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Make the current ``benefit_parameter`` rows equal the CSV: insert new, supersede changed/removed."""
    rows = load_parameter_rows() if rows is None else rows
    ParameterTable(rows)  # validates names and duplicates before touching the warehouse
    now = utc(now or datetime.now(UTC))
    _lock(db, "benefit_parameter")
    current = {(p, vf): (Decimal(v), u, s, n) for p, vf, v, u, s, n in db.query(
        "SELECT parameter, valid_from, value, unit, source, note FROM benefit_parameter WHERE superseded_at IS NULL")}
    wanted = {(r.parameter, r.valid_from): (r.value, r.unit or None, r.source or None, r.note or None) for r in rows}
    stale = [k for k, v in current.items() if k not in wanted or v[0] != wanted[k][0] or v[1:] != wanted[k][1:]]
    for parameter, valid_from in stale:
        db.execute("UPDATE benefit_parameter SET superseded_at = :now WHERE parameter = :parameter "
                   "AND valid_from = :valid_from AND superseded_at IS NULL",
                   {"now": now, "parameter": parameter, "valid_from": valid_from})
    new = [{"parameter": k[0], "valid_from": k[1], "value": v[0], "unit": v[1], "source": v[2], "note": v[3],
            "recorded_at": now} for k, v in wanted.items() if k not in current or k in stale]
    if new:
        db.insert(benefit_parameter, new)
    return {"inserted": len(new), "superseded": len(stale), "unchanged": len(wanted) - len(new)}


def _scheme_row(s: Scheme, now: datetime) -> dict[str, Any]:
    return {
        "employer": s.employer, "scheme": s.scheme, "version": s.version, "valid_from": s.valid_from,
        "name": s.name or None, "accrual_type": s.accrual_type, "franchise": s.franchise,
        "peildatum_rule": s.peildatum_rule, "pensionable_components": ",".join(s.pensionable_components),
        "holiday_allowance_included": s.holiday_allowance_included, "holiday_allowance_pct": s.holiday_allowance_pct,
        "four_weekly_periods": s.four_weekly_periods, "pension_max_salary": s.pension_max_salary,
        "wia_cover_pct": s.wia_cover_pct, "wia_threshold_source": s.wia_threshold_source,
        "policy_max_salary": s.policy_max_salary, "definition": json.dumps(s.definition(), sort_keys=True),
        "definition_hash": s.definition_hash, "recorded_at": now,
    }


def seed_schemes(db: Any, schemes: list[Scheme] | None = None, *, now: datetime | None = None,
                 parameters: ParameterTable | None = None) -> dict[str, int]:
    """Insert scheme versions not yet in the warehouse; supersede versions removed from the config.

    A version already seeded with different content raises ``ConfigurationError``: bases computed
    with it must keep meaning what they meant.
    """
    from payroll_etl.errors import ConfigurationError

    schemes = load_schemes() if schemes is None else schemes
    if parameters is not None:
        validate_schemes(schemes, parameters)
    now = utc(now or datetime.now(UTC))
    _lock(db, "benefit_scheme")
    current = {(e, s, int(v)): h for e, s, v, h in db.query(
        "SELECT employer, scheme, version, definition_hash FROM benefit_scheme WHERE superseded_at IS NULL")}
    wanted = {(s.employer, s.scheme, s.version): s for s in schemes}
    for key, s in wanted.items():
        if key in current and current[key] != s.definition_hash:
            raise ConfigurationError(
                f"benefit scheme {s.employer}/{s.scheme} version {s.version} was changed after it was seeded; "
                "add a new version instead")
    removed = [k for k in current if k not in wanted]
    for employer, scheme, version in removed:
        db.execute("UPDATE benefit_scheme SET superseded_at = :now WHERE employer = :employer "
                   "AND scheme = :scheme AND version = :version AND superseded_at IS NULL",
                   {"now": now, "employer": employer, "scheme": scheme, "version": version})
    new = [_scheme_row(s, now) for k, s in wanted.items() if k not in current]
    if new:
        db.insert(benefit_scheme, new)
    return {"inserted": len(new), "superseded": len(removed), "unchanged": len(wanted) - len(new)}


def seed(db: Any, *, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Seed parameters and schemes from the repo files (idempotent; safe to call on every load)."""
    rows = load_parameter_rows()
    return {"benefit_parameter": seed_parameters(db, rows, now=now),
            "benefit_scheme": seed_schemes(db, now=now, parameters=ParameterTable(rows))}


# --- reading back, as known at a time ----------------------------------------------------------

def read_parameters(db: Any, at: datetime) -> ParameterTable:
    """The ``benefit_parameter`` rows as known at ``at`` (transaction time), as a :class:`ParameterTable`;
    ConfigurationError from it on an unknown parameter name or a duplicate (parameter, valid_from)."""
    rows = db.query(f"SELECT parameter, valid_from, value, unit, source, note FROM benefit_parameter p "
                    f"WHERE {known_at('p')}", {"at": utc(at)})
    return ParameterTable(ParameterRow(p, vf, Decimal(v), u or "", s or "", n or "") for p, vf, v, u, s, n in rows)


def read_schemes(db: Any, at: datetime, employer: str | None = None) -> list[Scheme]:
    """The scheme versions as known at ``at`` (of ``employer`` only, if given), rebuilt from the stored
    definition JSON with ``valid_to`` derived per scheme; ConfigurationError when a definition is invalid."""
    from payroll_etl.benefits.schemes import scheme_from_definition

    where = known_at("s") + (" AND s.employer = :employer" if employer else "")
    schemes = [scheme_from_definition(json.loads(d)) for (d,) in db.query(
        f"SELECT definition FROM benefit_scheme s WHERE {where}", {"at": utc(at), "employer": employer})]
    by_code: dict[tuple[str, str], list[Scheme]] = {}
    for s in schemes:
        by_code.setdefault((s.employer, s.scheme), []).append(s)
    return [v for versions in by_code.values() for v in with_valid_to(versions)]


__all__ = ["benefit_parameter", "benefit_scheme", "benefit_basis", "BASIS_VALUE_COLUMNS", "seed", "seed_parameters",
           "seed_schemes", "read_parameters", "read_schemes", "known_at", "utc"]
