"""Warehouse schema, defined once from the canonical model; alembic migrations create it.

History tables are bitemporal:

* valid time: ``valid_from`` / ``valid_to`` (what the source says is effective when);
* transaction time: ``recorded_at`` (the load that told us) / ``superseded_at`` (the load that
  replaced it; NULL while it is still what we believe).

"As known at T, effective on D" is therefore one WHERE clause (see :func:`as_of_clause`), and a
retroactive correction supersedes a fact without deleting it.

Privacy: ``employee`` carries ``person_key`` (keyed HMAC of the BSN) instead of the BSN; the
clear BSN and IBAN live only in ``person_identity``, which the reporting role cannot read.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from payroll_etl.model import DECIMAL_PRECISION, ENTITIES, Col, Entity

metadata = MetaData()

# Columns that stay out of the warehouse history tables (they go to person_identity instead).
RESTRICTED_COLUMNS = {"employee": ("bsn", "iban")}
HISTORY_COLUMNS = ("row_hash", "recorded_at", "superseded_at", "load_run_id", "superseded_by_run")


def sa_type(col: Col) -> Any:
    """The SQLAlchemy column type of a model column (``model.Col.type``: string, date, decimal, ...)."""
    return {
        "string": Text(),
        "date": Date(),
        "decimal": Numeric(*DECIMAL_PRECISION),
        "int": BigInteger(),
        "bool": Boolean(),
        "timestamp": DateTime(timezone=True),
    }[col.type]


def warehouse_columns(entity: Entity) -> list[str]:
    """Model columns as stored in the warehouse (restricted ones replaced by person_key)."""
    restricted = RESTRICTED_COLUMNS.get(entity.name, ())
    names = [c.name for c in entity.columns if c.name not in restricted]
    if entity.name == "employee":
        names.insert(names.index("employee_number") + 1, "person_key")
    return names


def _entity_table(entity: Entity) -> Table:
    restricted = RESTRICTED_COLUMNS.get(entity.name, ())
    cols = []
    for c in entity.columns:
        if c.name in restricted:
            continue
        cols.append(Column(c.name, sa_type(c), nullable=c.nullable, comment=c.doc or None))
        if entity.name == "employee" and c.name == "employee_number":
            cols.append(Column("person_key", String(64), nullable=True,
                               comment="keyed HMAC-SHA256 of the BSN: the join key, never the BSN itself"))
    cols += [
        Column("row_hash", String(64), nullable=False, comment="hash of the attributes: detects changes"),
        Column("recorded_at", DateTime(timezone=True), nullable=False, comment="transaction time: learned at"),
        Column("superseded_at", DateTime(timezone=True), nullable=True, comment="transaction time: replaced at"),
        Column("load_run_id", String(64), nullable=False),
        Column("superseded_by_run", String(64), nullable=True),
    ]
    # payroll result lines of different runs share (source_id, valid_from) keys in some sources
    version_key = ["connector", "employer", "source_id", "valid_from"]
    if entity.name == "payroll_result":
        version_key += ["period_id", "run_id", "component"]
    indexes = [Index(f"ux_{entity.name}_version", *version_key, "recorded_at", unique=True)]
    if entity.name == "salary":
        indexes.append(Index("ix_salary_employment", "connector", "employer", "employment_source_id"))
    return Table(entity.name, metadata, *cols, *indexes, comment=entity.doc)


ENTITY_TABLES: dict[str, Table] = {name: _entity_table(e) for name, e in ENTITIES.items()}

person_identity = Table(
    "person_identity", metadata,
    Column("person_key", String(64), primary_key=True),
    Column("bsn_enc", Text, nullable=False, comment="AES-SIV of the BSN (warehouse/identity.py); key outside the DB"),
    Column("iban_enc", Text, nullable=True, comment="AES-SIV of the IBAN"),
    Column("key_id", String(32), nullable=False, comment="id of the key in PAYROLL_IDENTITY_KEYS that sealed the row"),
    Column("first_load_run_id", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    comment="RESTRICTED: the only place the BSN and IBAN are stored, encrypted (read via identity.read_identities).",
)

person_identity_read = Table(
    "person_identity_read", metadata,
    Column("person_key", String(64), nullable=False),
    Column("reader", Text, nullable=False, comment="who read: a person or a process"),
    Column("db_user", Text, nullable=True, comment="the database role of the session (PostgreSQL)"),
    Column("purpose", Text, nullable=False, comment="why: the legal ground of the read"),
    Column("read_at", DateTime(timezone=True), nullable=False),
    Index("ix_person_identity_read_key", "person_key", "read_at"),
    comment="Audit of every read of clear BSN/IBAN through warehouse.identity.read_identities.",
)

load_run = Table(
    "load_run", metadata,
    Column("load_run_id", String(64), primary_key=True, comment="one per (connector, employer, logical date)"),
    Column("dag_id", Text, nullable=False),
    Column("airflow_run_id", Text, nullable=True),
    Column("connector", Text, nullable=False),
    Column("employer", Text, nullable=False),
    Column("logical_date", Date, nullable=False),
    Column("period_id", String(6), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("status", String(16), nullable=False, comment="running | success | partial | failed"),
    Column("rows", Text, nullable=True, comment="JSON: rows received / loaded / quarantined per entity"),
    Column("message", Text, nullable=True, comment="one-line reason, free of personal data"),
    Column("attempts", Integer, nullable=False, server_default="1"),
    Column("view", String(8), nullable=False, server_default="current",
           comment="current | past: a past view never supersedes newer knowledge"),
)

dq_result = Table(
    "dq_result", metadata,
    Column("load_run_id", String(64), nullable=False),
    Column("connector", Text, nullable=False),
    Column("employer", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("check_name", Text, nullable=False, comment="the expectation (GE type or our custom check)"),
    Column("column_name", Text, nullable=True),
    Column("severity", String(8), nullable=False, comment="error | warn"),
    Column("success", Boolean, nullable=False),
    Column("element_count", BigInteger, nullable=True),
    Column("unexpected_count", BigInteger, nullable=True),
    Column("unexpected_sample", Text, nullable=True, comment="masked: never a BSN, IBAN or birth date in clear"),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Index("ix_dq_result_run", "load_run_id"),
)

quarantine = Table(
    "quarantine", metadata,
    Column("load_run_id", String(64), nullable=False),
    Column("connector", Text, nullable=False),
    Column("employer", Text, nullable=False),
    Column("entity", Text, nullable=False),
    Column("source_id", Text, nullable=False),
    Column("valid_from", Date, nullable=True),
    Column("failing_checks", Text, nullable=False, comment="comma-separated check names"),
    Column("landing_ref", Text, nullable=False, comment="the raw landing partition holding the payload"),
    Column("quarantined_at", DateTime(timezone=True), nullable=False),
    Index("ix_quarantine_run", "load_run_id"),
)

source_state = Table(
    "source_state", metadata,
    Column("connector", Text, primary_key=True),
    Column("employer", Text, primary_key=True),
    Column("state", Text, nullable=False, comment="JSON watermarks (Loket version numbers, SOAP versions)"),
    Column("load_run_id", String(64), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("state_before", Text, nullable=True,
           comment="JSON watermarks in effect before load_run_id's run: a re-run of that run starts from them"),
)


identity_crosswalk = Table(
    "identity_crosswalk", metadata,
    Column("employer", Text, primary_key=True),
    Column("entity", String(16), primary_key=True, comment="employee | employment"),
    Column("connector", Text, primary_key=True),
    Column("source_id", Text, primary_key=True, comment="the connector's own id: lineage back to its landing"),
    Column("identity_id", Text, nullable=False,
           comment="one identity per employer across connectors: person_key for a person; for an employment "
                   "the connector:source_id it was first seen as"),
    Column("match_rule", String(16), nullable=False,
           comment="person_key | ikv | start_date (matched to another connector) | own (not matched)"),
    Column("load_run_id", String(64), nullable=False, comment="the cutover load that recorded it"),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_identity_crosswalk_identity", "employer", "entity", "identity_id"),
    comment="Connector switches: which source record of which connector is which employer-wide identity (issue 17).",
)

mutation = Table(
    "mutation", metadata,
    Column("mutation_id", String(32), primary_key=True,
           comment="md5(connector, employer, key, base type, ingangsdatum, new values): re-runs never duplicate"),
    Column("connector", Text, nullable=False),
    Column("employer", Text, nullable=False),
    Column("mutation_type", String(24), nullable=False,
           comment="IN_DIENST | UIT_DIENST | SALARIS | PARTTIME | ADRES | BURGERLIJKE_STAAT | OVERLIJDEN | CORRECTIE"),
    Column("corrected_type", String(24), nullable=True, comment="for CORRECTIE: the type it corrects"),
    Column("mutation_key", Text, nullable=False,
           comment="business key: employee or employment source id; employment|component for SALARIS"),
    Column("person_key", String(64), nullable=True, comment="keyed HMAC of the BSN; never the BSN"),
    Column("employee_source_id", Text, nullable=True),
    Column("employment_source_id", Text, nullable=True),
    Column("employment_number", Text, nullable=True, comment="IKV-nummer"),
    Column("ingangsdatum", Date, nullable=False, comment="effective date of the change"),
    Column("period_id", String(6), nullable=False, comment="YYYYPP of the pay period of the load that found it"),
    Column("old_values", Text, nullable=True, comment="JSON object of the values before (strings or null)"),
    Column("new_values", Text, nullable=False, comment="JSON object of the values after (strings or null)"),
    Column("load_run_id", String(64), nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False, comment="transaction time of the load"),
    Index("ix_mutation_employer", "employer", "connector", "detected_at"),
    Index("ix_mutation_key", "connector", "employer", "mutation_key", "ingangsdatum"),
    comment="Mutation feed for insurers, derived from consecutive snapshots (issue 7).",
)


def as_of_clause(alias: str, effective_on: str, known_at: str) -> str:
    """SQL predicate: the fact in effect on ``effective_on`` as it was known at ``known_at``."""
    return (f"{alias}.valid_from <= {effective_on} AND ({alias}.valid_to IS NULL OR {alias}.valid_to >= {effective_on})"
            f" AND {alias}.recorded_at <= {known_at}"
            f" AND ({alias}.superseded_at IS NULL OR {alias}.superseded_at > {known_at})")
