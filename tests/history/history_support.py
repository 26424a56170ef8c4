"""Builders for warehouse batches and table snapshots used by the history tests."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from payroll_etl.model import ENTITIES, arrow_schema
from payroll_etl.periods import period_for_logical_date
from payroll_etl.privacy import person_key
from payroll_etl.warehouse import identity
from payroll_etl.warehouse.load import LoadBatch, connect
from payroll_etl.warehouse.schema import warehouse_columns

# also imported by a bare subprocess (test_atomicity) that has only tests/history on its path
sys.path.append(str(Path(__file__).resolve().parents[1]))
from warehouse_support import query  # noqa: E402,F401 - re-exported for the history tests

CONNECTOR = "loket_rest"
KEY = b"test-pseudonym-key"
identity.register()  # loads of these batches write their sealed identities, as pipeline.load does
HISTORY_TABLES = ("employee", "employment", "salary", "payroll_result", "person_identity", "mutation")


def ts(day: str) -> datetime:
    """A recorded_at on the given ISO day, 12:00 UTC."""
    return datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)


def pkey(bsn: str) -> str:
    value = person_key(bsn, KEY)
    assert value is not None
    return value


def table(entity: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Arrow table in warehouse columns (employee: person_key instead of BSN/IBAN)."""
    schema = arrow_schema(ENTITIES[entity])
    fields = [pa.field(c, pa.string()) if c == "person_key" else schema.field(c)
              for c in warehouse_columns(ENTITIES[entity])]
    return pa.Table.from_pylist([{f.name: r.get(f.name) for f in fields} for r in rows], schema=pa.schema(fields))


def employee(employer: str, sid: str, period_start: date, bsn: str, **kw: Any) -> dict[str, Any]:
    return {"connector": CONNECTOR, "employer": employer, "source_id": sid, "valid_from": period_start,
            "employer_source_id": "W1", "employee_number": sid, "person_key": pkey(bsn), "last_name": "Jansen",
            "street": "Dorpsstraat", "house_number": "1", "postcode": "1011 AB", "city": "Amsterdam",
            "country": "NL", "civil_status": "ongehuwd", "birth_date": date(1980, 5, 17), **kw}


def employment(employer: str, sid: str, employee_sid: str, valid_from: date, hours: str, ptf: str,
               start: date = date(2020, 1, 1), **kw: Any) -> dict[str, Any]:
    return {"connector": CONNECTOR, "employer": employer, "source_id": sid, "valid_from": valid_from,
            "employee_source_id": employee_sid, "employment_number": sid[-1], "start_date": start,
            "hours_per_week": Decimal(hours), "fulltime_hours_per_week": Decimal("40"),
            "part_time_factor": Decimal(ptf), "payroll_frequency": "month", **kw}


def salary(employer: str, sid: str, employment_sid: str, valid_from: date, amount: str,
           component: str = "BASIS") -> dict[str, Any]:
    return {"connector": CONNECTOR, "employer": employer, "source_id": sid, "valid_from": valid_from,
            "employment_source_id": employment_sid, "gross_amount": Decimal(amount), "frequency": "month",
            "holiday_allowance_pct": Decimal("8"), "component": component}


def result(employer: str, sid: str, employment_sid: str, period_id: str, run_id: str, component: str,
           amount: str, valid_from: date) -> dict[str, Any]:
    return {"connector": CONNECTOR, "employer": employer, "source_id": sid, "valid_from": valid_from,
            "employment_source_id": employment_sid, "period_id": period_id, "run_id": run_id,
            "run_sequence": 1, "run_period_id": period_id, "component": component, "amount": Decimal(amount)}


def batch(employer: str, logical_date: date, recorded_at: datetime, rows: dict[str, list[dict[str, Any]]],
          bsns: dict[str, str] | None = None, frequency: str = "month") -> LoadBatch:
    """A LoadBatch like the pipeline builds it; load_run_id deterministic per (employer, logical date)."""
    run_id = hashlib.sha256(f"{CONNECTOR}/{employer}/{logical_date}".encode()).hexdigest()[:32]
    sealed = None
    if bsns:  # encrypted as the pipeline does (warehouse/identity.py): no clear BSN in the warehouse
        sealed = identity.seal_table(pa.table(
            {"person_key": [pkey(b) for b in bsns.values()], "bsn": list(bsns.values()), "iban": [None] * len(bsns)},
            schema=pa.schema([("person_key", pa.string()), ("bsn", pa.string()), ("iban", pa.string())])))
    return identity.SealedLoadBatch(run_id, f"payroll_{CONNECTOR}_{employer}", None, CONNECTOR, employer,
                                    logical_date, period_for_logical_date(logical_date, frequency),  # type: ignore[arg-type]
                                    {name: table(name, r) for name, r in rows.items()}, sealed_identities=sealed,
                                    started_at=recorded_at, recorded_at=recorded_at)


def snapshot(url: str, tables: tuple[str, ...] = HISTORY_TABLES) -> dict[str, list[tuple]]:
    """Every row of the given tables, sorted: equality means identical contents, not just counts.

    load_run is compared without its timestamps and per-attempt row counts, which describe the attempt.
    """
    db = connect(url)
    try:
        out = {}
        for name in tables:
            rows = db.query(f"SELECT * FROM {name}")
            out[name] = sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))
        out["load_run"] = sorted(db.query(
            "SELECT load_run_id, connector, employer, logical_date, period_id, status FROM load_run"))
        return out
    finally:
        db.close()


