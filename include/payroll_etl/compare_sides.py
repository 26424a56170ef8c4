"""Both sides of a connector comparison (``payroll_etl.compare``): the publisher's open facts in the
warehouse, and a shadow run's canonical staging. BSNs become person_keys as they are read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from payroll_etl.identity import Job, Person

EMPLOYMENT_FIELDS = ("start_date", "end_date", "employment_number", "hours_per_week", "fulltime_hours_per_week",
                     "part_time_factor")
Wages = dict[tuple[str, str], dict[str, dict[date, dict[str, Any]]]]  # (connector, employment) -> comp -> vf


@dataclass
class Side:
    """One connector's facts of one employer: persons, employment versions and wage versions."""

    connector: str
    persons: list[Person]
    employment_versions: dict[tuple[str, str], list[dict[str, Any]]]  # (connector, employment) -> versions
    wages: dict[tuple[str, str], dict[str, dict[date, dict[str, Any]]]]  # (connector, employment) -> comp -> vf
    rows: dict[str, int]

    def jobs(self) -> list[Job]:
        """Per employment its latest version as a :class:`~payroll_etl.identity.Job` (for matching)."""
        out = []
        for (connector, sid), versions in sorted(self.employment_versions.items()):
            v = max(versions, key=lambda x: x["valid_from"] or date.min)
            out.append(Job(connector, sid, v["employee_source_id"], v["employment_number"], v["start_date"]))
        return out


def decimal_or_none(value: Any) -> Decimal | None:
    """A number as a normalised Decimal (12.50 and 12.5 compare equal); None stays None."""
    return None if value is None else Decimal(str(value)).normalize()


def _add_wage(wages: Wages, key: tuple[str, str], row: dict[str, Any]) -> None:
    if row.get("is_correction"):  # one-off correction lines are not a structural wage
        return
    component = (row.get("component") or "BASIS").upper()
    wages.setdefault(key, {}).setdefault(component, {})[row["valid_from"]] = {
        "gross_amount": decimal_or_none(row["gross_amount"]), "frequency": row.get("frequency")}


def published_side(url: str, employer: str, connectors: list[str]) -> Side:
    """The warehouse's open (current) facts of ``connectors`` for ``employer``."""
    from payroll_etl.warehouse.cutover import read_open_identities
    from payroll_etl.warehouse.db import in_list
    from payroll_etl.warehouse.engines import connect

    db = connect(url)
    try:
        persons, _ = read_open_identities(db, employer, connectors) if connectors else ([], [])
        among, params = in_list("connector", connectors)
        scope = f"employer = :employer AND connector IN {among} AND superseded_at IS NULL"
        params["employer"] = employer
        cols = ("connector", "source_id", "valid_from", "employee_source_id", *EMPLOYMENT_FIELDS)
        versions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in db.query(f"SELECT {', '.join(cols)} FROM employment WHERE {scope}", params):
            r = dict(zip(cols, row))
            versions[(r["connector"], r["source_id"])].append(r)
        wages: Wages = {}
        wcols = ("connector", "employment_source_id", "valid_from", "gross_amount", "frequency", "component",
                 "is_correction")
        for row in db.query(f"SELECT {', '.join(wcols)} FROM salary WHERE {scope}", params):
            r = dict(zip(wcols, row))
            _add_wage(wages, (r["connector"], r["employment_source_id"]), r)
        rows = {e: int(db.query(f"SELECT count(*) FROM {e} WHERE {scope}", params)[0][0])
                for e in ("employee", "employment", "salary", "payroll_period", "payroll_result")}
    finally:
        db.close()
    return Side(",".join(connectors), persons, dict(versions), wages, rows)


def staged_side(connector: str, staging: Path) -> Side:
    """A run's canonical staging (``entity=*.parquet``); BSNs become person_keys at once."""
    import pyarrow.parquet as pq

    from payroll_etl.privacy import person_key

    def read(entity: str) -> list[dict[str, Any]]:
        path = staging / f"entity={entity}.parquet"
        return pq.read_table(path).to_pylist() if path.exists() else []

    persons: dict[str, Person] = {}
    for r in read("employee"):
        persons.setdefault(r["source_id"], Person(connector, r["source_id"], person_key(r.get("bsn"))))
    versions: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in read("employment"):
        versions[(connector, r["source_id"])].append(r)
    wages: Wages = {}
    salaries = read("salary")
    for r in salaries:
        _add_wage(wages, (connector, r["employment_source_id"]), r)
    rows = {"employee": len(persons), "employment": sum(len(v) for v in versions.values()), "salary": len(salaries)}
    for entity in ("payroll_period", "payroll_result"):
        path = staging / f"entity={entity}.parquet"
        rows[entity] = pq.ParquetFile(path).metadata.num_rows if path.exists() else 0
    return Side(connector, list(persons.values()), dict(versions), wages, rows)
