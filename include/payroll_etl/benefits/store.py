"""The ``benefit_basis`` mart's rows in the warehouse: keys, row hashes, sessions, history as known at T,
and writing a recomputation (insert new bases, supersede changed or vanished ones; ``mart`` docstring).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from payroll_etl.benefits.calc import Basis, EmploymentVersion, SalaryVersion
from payroll_etl.benefits.tables import BASIS_VALUE_COLUMNS, insert_sql, known_at, sql_lit
from payroll_etl.errors import WarehouseError

BASIS_KEY = ("connector", "employer", "employment_source_id", "scheme", "reference_date")


@dataclass(frozen=True)
class BasisRow:
    """A ``benefit_basis`` row: the key plus the computed :class:`Basis`."""

    connector: str
    employer: str
    employment_source_id: str
    scheme: str
    basis: Basis

    @property
    def key(self) -> tuple[str, str, str, str, date]:
        """(connector, employer, employment, scheme, reference date): ``BASIS_KEY``."""
        return (self.connector, self.employer, self.employment_source_id, self.scheme, self.basis.reference_date)

    @property
    def values(self) -> dict[str, Any]:
        """The computed columns (``BASIS_VALUE_COLUMNS``)."""
        b = asdict(self.basis)
        return {c: b[c] for c in BASIS_VALUE_COLUMNS}

    @property
    def row_hash(self) -> str:
        """SHA-256 of the computed columns (Decimal scale-insensitive): unchanged bases are not rewritten."""
        return _hash(self.values)


def _norm(v: Any) -> str:
    if v is None:
        return "~"
    if isinstance(v, Decimal):
        return format(v.normalize(), "f")  # 0.80 and 0.8000 hash alike (DB scale vs. computed)
    return str(v)


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256("|".join(_norm(values[c]) for c in BASIS_VALUE_COLUMNS).encode()).hexdigest()


@dataclass
class RecomputeResult:
    """Counts of one recomputation: bases inserted, superseded, unchanged; dates without config."""

    inserted: int = 0
    superseded: int = 0
    unchanged: int = 0
    skipped_dates: int = 0  # reference dates without parameters or scheme version


# --- connections --------------------------------------------------------------------------------

def session(db_or_url: Any) -> Any:
    """Use a loader ``Db`` as is (the caller owns the transaction), or open one for a URL and commit
    (``payroll_etl.warehouse.engines.session``)."""
    from payroll_etl.warehouse.engines import session as warehouse_session

    return warehouse_session(db_or_url)


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _in(column: str, values: Iterable[Any]) -> str:
    vals = list(values)
    return f"{column} IN ({', '.join(sql_lit(v) for v in vals)})" if vals else "1 = 0"


# --- reading history as known at T ------------------------------------------------------------

def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


def read_history(db: Any, employer: str, at: datetime, employment_ids: Sequence[str] | None = None,
                 connector: str | None = None) -> dict[tuple[str, str], tuple[list[EmploymentVersion],
                                                                              list[SalaryVersion]]]:
    """Employment and salary versions per (connector, employment source id), as known at ``at``."""
    scope = f"employer = {sql_lit(employer)}" + (f" AND connector = {sql_lit(connector)}" if connector else "")
    emp_filter = "" if employment_ids is None else " AND " + _in("source_id", employment_ids)
    sal_filter = "" if employment_ids is None else " AND " + _in("employment_source_id", employment_ids)
    out: dict[tuple[str, str], tuple[list[EmploymentVersion], list[SalaryVersion]]] = {}
    for row in db.query(
            "SELECT connector, source_id, valid_from, valid_to, start_date, end_date, part_time_factor, "
            f"hours_per_week, fulltime_hours_per_week FROM employment e WHERE {scope}{emp_filter} "
            f"AND {known_at('e', at)}"):
        conn, sid, vf, vt, start, end, ptf, hours, ft_hours = row
        out.setdefault((conn, sid), ([], []))[0].append(EmploymentVersion(
            valid_from=vf, valid_to=vt, start_date=start, end_date=end, part_time_factor=_dec(ptf),
            hours_per_week=_dec(hours), fulltime_hours_per_week=_dec(ft_hours)))
    for row in db.query(
            "SELECT connector, employment_source_id, source_id, valid_from, valid_to, gross_amount, frequency, "
            f"holiday_allowance_pct, component, is_correction, basis FROM salary s WHERE {scope}{sal_filter} "
            f"AND {known_at('s', at)}"):
        conn, emp_id, sid, vf, vt, amount, freq, pct, component, is_correction, basis = row
        if is_correction:  # one-off correction lines are not a structural wage
            continue
        if (conn, emp_id) in out:
            out[(conn, emp_id)][1].append(SalaryVersion(
                valid_from=vf, valid_to=vt, gross_amount=Decimal(amount), frequency=freq,
                component=(component or "BASIS").upper(), holiday_allowance_pct=_dec(pct), source_id=sid,
                basis=basis))
    return out


def apply_bases(db: Any, employer: str, computed: list[BasisRow], at: datetime, load_run_id: str | None, *,
           employment_ids: Sequence[str] | None, connector: str | None,
           only_dates: Sequence[date] | None) -> RecomputeResult:
    """Write ``computed`` against the bases currently believed (in the scope given) at ``at``: insert the
    new, supersede the changed or vanished (replace in place when recorded at ``at`` itself, a re-run).
    Raises ``WarehouseError`` when bases in scope were recorded after ``at``."""
    where = [f"b.employer = {sql_lit(employer)}", "b.superseded_at IS NULL"]
    if connector:
        where.append(f"b.connector = {sql_lit(connector)}")
    if employment_ids is not None:
        where.append(_in("b.employment_source_id", employment_ids))
    if only_dates is not None:
        where.append(_in("b.reference_date", only_dates))
    cols = ", ".join(f"b.{c}" for c in (*BASIS_KEY, "row_hash", "recorded_at"))
    current: dict[tuple, tuple[str, Any]] = {}
    later = False
    for row in db.query(f"SELECT {cols}, CASE WHEN b.recorded_at > {sql_lit(at)} THEN 1 ELSE 0 END, "
                        f"CASE WHEN b.recorded_at = {sql_lit(at)} THEN 1 ELSE 0 END "
                        f"FROM benefit_basis b WHERE {' AND '.join(where)}"):
        key = tuple(row[:5])
        current[key] = (row[5], bool(row[8]))
        later = later or bool(row[7])
    if later:
        raise WarehouseError(f"benefit bases of {employer} were recorded after {at.isoformat()}; "
                             "recompute as of a later time")
    wanted = {r.key: r for r in computed}
    result = RecomputeResult()
    inserts: list[dict[str, Any]] = []
    for key, r in wanted.items():
        cur = current.get(key)
        if cur is not None and cur[0] == r.row_hash:
            result.unchanged += 1
            continue
        if cur is not None:
            if cur[1]:  # recorded in this same transaction time (a re-run of one load): replace in place
                db.execute(f"DELETE FROM benefit_basis WHERE {_key_where(key)} AND recorded_at = {sql_lit(at)}")
            else:
                _supersede(db, key, at, load_run_id)
                result.superseded += 1
        inserts.append({**dict(zip(BASIS_KEY, key, strict=True)), **r.values, "row_hash": r.row_hash,
                        "recorded_at": at, "load_run_id": load_run_id})
    for key, (_, same_time) in current.items():
        if key not in wanted:
            if same_time:
                db.execute(f"DELETE FROM benefit_basis WHERE {_key_where(key)} AND recorded_at = {sql_lit(at)}")
            else:
                _supersede(db, key, at, load_run_id)
                result.superseded += 1
    for start in range(0, len(inserts), 500):
        db.execute(insert_sql("benefit_basis", inserts[start:start + 500]))
    result.inserted = len(inserts)
    return result


def _key_where(key: tuple) -> str:
    return " AND ".join(f"{c} = {sql_lit(v)}" for c, v in zip(BASIS_KEY, key, strict=True))


def _supersede(db: Any, key: tuple, at: datetime, load_run_id: str | None) -> None:
    db.execute(f"UPDATE benefit_basis SET superseded_at = {sql_lit(at)}, superseded_by_run = {sql_lit(load_run_id)} "
               f"WHERE {_key_where(key)} AND superseded_at IS NULL")
