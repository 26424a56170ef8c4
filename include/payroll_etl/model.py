"""The canonical payroll model: one definition per entity, used everywhere.

Connectors normalize into these entities; the warehouse tables, the Arrow schemas of the
staging files and the data-quality suites are all derived from the column specs below, so a
column is added in exactly one place.

Kinds of columns:
* ``KEY``: business key within (connector, employer) together with ``valid_from``.
* ``pii``: personal data that must never be logged or shown in reports (BSN, IBAN, birth date,
  address). The clear BSN never reaches the history tables: it is replaced by ``person_key``
  (a keyed HMAC) and kept only in the restricted ``person_identity`` table.

Entities are *effective-dated* when the source states a valid-from date for every version
(employment hours, wages); otherwise they are *snapshots* and the loader assigns valid-from
dates from the pay period in which a change appeared (see docs/warehouse.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

ColumnType = Literal["string", "date", "decimal", "int", "bool", "timestamp"]


@dataclass(frozen=True)
class Col:
    """One column of the canonical model: name, type (``ColumnType``), nullability, whether it holds
    personal data (``pii``) and a short description."""

    name: str
    type: ColumnType
    nullable: bool = True
    pii: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Entity:
    """One entity of the canonical model (employer, employee, employment, …): its columns, whether rows are
    effective-dated and historized, the parent it references by source id, and the columns left out of
    the change hash. :meth:`row` builds a checked row of it."""

    name: str
    columns: tuple[Col, ...]
    effective_dated: bool
    history: bool = True
    doc: str = ""
    parent: tuple[str, str] | None = None  # (entity, column) this entity references by source id
    # Not part of the change hash: columns that describe the record, not its content.
    hash_exclude: tuple[str, ...] = field(default=())

    @property
    def column_names(self) -> list[str]:
        """The column names in model order."""
        return [c.name for c in self.columns]

    def col(self, name: str) -> Col:
        """The column called ``name``; ``StopIteration`` when the entity has none."""
        return next(c for c in self.columns if c.name == name)

    @cached_property
    def row_columns(self) -> frozenset[str]:
        """The columns a connector fills in a row of this entity: all but :data:`PIPELINE_FILLED`."""
        return frozenset(self.column_names) - frozenset(PIPELINE_FILLED)

    def row(self, **values: Any) -> dict[str, Any]:
        """A canonical row of this entity, as ``Connector.normalize`` returns it.

        Every column of :attr:`row_columns` must be given (``None`` for no value), and nothing else:
        a missing or misspelled column raises ``TypeError`` naming the entity and the columns (never
        a value), instead of becoming NULL in the staging file. Types are not converted here.
        """
        if values.keys() != self.row_columns:
            missing = sorted(self.row_columns - values.keys())
            unknown = sorted(values.keys() - self.row_columns)
            raise TypeError(f"{self.name} row: missing columns {missing}, unknown columns {unknown}")
        return values


# Columns every canonical row carries; the pipeline fills these, the connector the rest.
PIPELINE_FILLED = ("connector", "employer")
COMMON = (
    Col("connector", "string", False, doc="the source: a connector of connectors/registry.CONNECTORS"),
    Col("employer", "string", False, doc="our employer key from include/employers.yaml"),
    Col("source_id", "string", False, doc="the source system's own id of this record"),
    Col("valid_from", "date", False, doc="effective date: from the source, or assigned by the loader"),
    Col("valid_to", "date", True, doc="last effective day, when the source states one"),
)

EMPLOYER = Entity(
    "employer",
    COMMON + (
        Col("name", "string", False),
        Col("loonheffingennummer", "string", True, doc="RSIN + L + 2 digits"),
        Col("payroll_frequency", "string", True, doc="month | four_weeks"),
    ),
    effective_dated=False,
    doc="A payroll entity in the source (Loket werkgever, Nmbrs company).",
)

EMPLOYEE = Entity(
    "employee",
    COMMON + (
        Col("employer_source_id", "string", False, doc="werkgever / company id in the source"),
        Col("employee_number", "string", True),
        Col("bsn", "string", True, pii=True, doc="clear BSN: only in staging; the warehouse keeps person_key"),
        Col("initials", "string", True),
        Col("first_name", "string", True),
        Col("prefix", "string", True, doc="voorvoegsel"),
        Col("last_name", "string", False),
        Col("birth_date", "date", True, pii=True),
        Col("gender", "string", True, doc="M | V | X | U (unknown)"),
        Col("street", "string", True, pii=True),
        Col("house_number", "string", True, pii=True),
        Col("postcode", "string", True, pii=True, doc="normalised NNNN AA"),
        Col("city", "string", True),
        Col("country", "string", True),
        Col("civil_status", "string", True),
        Col("date_of_death", "date", True),
        Col("iban", "string", True, pii=True),
    ),
    effective_dated=False,
    doc="A person as the employer's payroll knows them.",
)

EMPLOYMENT = Entity(
    "employment",
    COMMON + (
        Col("employee_source_id", "string", False),
        Col("employment_number", "string", True, doc="IKV-nummer"),
        Col("start_date", "date", False),
        Col("end_date", "date", True),
        Col("end_reason", "string", True),
        Col("hours_per_week", "decimal", True, doc="contract hours per week in this version"),
        Col("fulltime_hours_per_week", "decimal", True, doc="CAO norm hours"),
        Col("part_time_factor", "decimal", True, doc="hours / fulltime hours, 4 decimals"),
        Col("payroll_frequency", "string", True, doc="month | four_weeks"),
        Col("payroll_administration_id", "string", True),
    ),
    effective_dated=True,
    parent=("employee", "employee_source_id"),
    doc="An inkomstenverhouding; one version per working-hours change (valid_from).",
)

SALARY = Entity(
    "salary",
    COMMON + (
        Col("employment_source_id", "string", False),
        Col("gross_amount", "decimal", False, doc="full-time-agnostic contract wage per period"),  # see ``basis``
        Col("frequency", "string", False, doc="month | four_weeks | hour | year"),
        Col("basis", "string", True,
            doc="fulltime | actual (part-time amount actually paid) | hourly: which amount the source sent"),
        Col("holiday_allowance_pct", "decimal", True),
        Col("component", "string", True, doc="salary component code; base salary = BASIS"),
        Col("is_correction", "bool", True),
    ),
    effective_dated=True,
    parent=("employment", "employment_source_id"),
    doc="Contract wage versions per employment.",
)

PAYROLL_PERIOD = Entity(
    "payroll_period",
    COMMON + (
        Col("year", "int", False),
        Col("period_number", "int", False),
        Col("frequency", "string", False),
        Col("start_date", "date", False),
        Col("end_date", "date", False),
    ),
    effective_dated=True,
    history=False,
    doc="Pay periods of a payroll administration.",
)

PAYROLL_RESULT = Entity(
    "payroll_result",
    COMMON + (
        Col("employment_source_id", "string", False),
        Col("period_id", "string", False, doc="YYYYPP of the period the amount belongs to"),
        Col("run_id", "string", False),
        Col("run_sequence", "int", True),
        Col("run_period_id", "string", True, doc="YYYYPP of the run that produced the line"),
        Col("component", "string", False),
        Col("amount", "decimal", False),
    ),
    effective_dated=True,
    history=False,
    parent=("employment", "employment_source_id"),
    doc="Payroll result lines keyed on (employment, period, run, component): later runs add, never overwrite.",
)

ENTITIES: dict[str, Entity] = {
    e.name: e for e in (EMPLOYER, EMPLOYEE, EMPLOYMENT, SALARY, PAYROLL_PERIOD, PAYROLL_RESULT)
}



def row(entity: str, **values: Any) -> dict[str, Any]:
    """``ENTITIES[entity].row(**values)``: a canonical row, every column checked (see :meth:`Entity.row`).
    KeyError for an unknown entity name."""
    return ENTITIES[entity].row(**values)


# Columns that identify a version of a record within one employer.
KEY_COLUMNS = ("connector", "employer", "source_id", "valid_from")
DECIMAL_PRECISION = (18, 4)


def arrow_type(col: Col):
    """The ``pyarrow.DataType`` of ``col.type``: decimal -> ``decimal128(18, 4)``, timestamp -> ``timestamp("us",
    "UTC")``, date -> ``date32``, int -> ``int64``; KeyError for a type outside ``ColumnType``."""
    import pyarrow as pa

    return {
        "string": pa.string(),
        "date": pa.date32(),
        "decimal": pa.decimal128(*DECIMAL_PRECISION),
        "int": pa.int64(),
        "bool": pa.bool_(),
        "timestamp": pa.timestamp("us", tz="UTC"),
    }[col.type]


def arrow_schema(entity: Entity):
    """The ``pyarrow.Schema`` of ``entity``: one field per column in model order (:func:`arrow_type`, nullability)."""
    import pyarrow as pa

    return pa.schema([pa.field(c.name, arrow_type(c), nullable=c.nullable) for c in entity.columns])


def pii_columns(entity: Entity) -> list[str]:
    """Names of ``entity``'s personal-data columns (``Col.pii``: BSN, IBAN, birth date, ...), in model order."""
    return [c.name for c in entity.columns if c.pii]
