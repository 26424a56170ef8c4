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
from payroll_etl.benefits.tables import BASIS_VALUE_COLUMNS, benefit_basis, known_at, utc
from payroll_etl.errors import WarehouseError
from payroll_etl.warehouse.db import in_list

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
    return utc(at)


def _in(column: str, values: Iterable[Any], params: dict[str, object]) -> str:
    """``column IN (:…)`` over ``values``, bound into ``params`` (named after ``column``); ``1 = 0`` when empty."""
    vals = list(values)
    if not vals:
        return "1 = 0"
    among, bound = in_list(column.replace(".", "_"), vals)
    params.update(bound)
    return f"{column} IN {among}"


# --- reading history as known at T ------------------------------------------------------------

def _dec(v: Any) -> Decimal | None:
    return None if v is None else Decimal(v)


def read_history(db: Any, employer: str, at: datetime, employment_ids: Sequence[str] | None = None,
                 connector: str | None = None) -> dict[tuple[str, str], tuple[list[EmploymentVersion],
                                                                              list[SalaryVersion]]]:
    """Employment and salary versions per (connector, employment source id), as known at ``at``."""
    params: dict[str, object] = {"employer": employer, "connector": connector, "at": utc(at)}
    scope = "employer = :employer" + (" AND connector = :connector" if connector else "")
    emp_filter = "" if employment_ids is None else " AND " + _in("source_id", employment_ids, params)
    sal_filter = "" if employment_ids is None else " AND " + _in("employment_source_id", employment_ids, params)
    out: dict[tuple[str, str], tuple[list[EmploymentVersion], list[SalaryVersion]]] = {}
    for row in db.query(
            "SELECT connector, source_id, valid_from, valid_to, start_date, end_date, part_time_factor, "
            f"hours_per_week, fulltime_hours_per_week FROM employment e WHERE {scope}{emp_filter} "
            f"AND {known_at('e')}", params):
        conn, sid, vf, vt, start, end, ptf, hours, ft_hours = row
        out.setdefault((conn, sid), ([], []))[0].append(EmploymentVersion(
            valid_from=vf, valid_to=vt, start_date=start, end_date=end, part_time_factor=_dec(ptf),
            hours_per_week=_dec(hours), fulltime_hours_per_week=_dec(ft_hours)))
    for row in db.query(
            "SELECT connector, employment_source_id, source_id, valid_from, valid_to, gross_amount, frequency, "
            f"holiday_allowance_pct, component, is_correction, basis FROM salary s WHERE {scope}{sal_filter} "
            f"AND {known_at('s')}", params):
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
    at = utc(at)
    params: dict[str, object] = {"employer": employer, "connector": connector, "at": at}
    where = ["b.employer = :employer", "b.superseded_at IS NULL"]
    if connector:
        where.append("b.connector = :connector")
    if employment_ids is not None:
        where.append(_in("b.employment_source_id", employment_ids, params))
    if only_dates is not None:
        where.append(_in("b.reference_date", only_dates, params))
    cols = ", ".join(f"b.{c}" for c in (*BASIS_KEY, "row_hash", "recorded_at"))
    current: dict[tuple, tuple[str, Any]] = {}
    later = False
    for row in db.query(f"SELECT {cols}, CASE WHEN b.recorded_at > :at THEN 1 ELSE 0 END, "
                        "CASE WHEN b.recorded_at = :at THEN 1 ELSE 0 END "
                        f"FROM benefit_basis b WHERE {' AND '.join(where)}", params):
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
                _delete_same_time(db, key, at)
            else:
                _supersede(db, key, at, load_run_id)
                result.superseded += 1
        inserts.append({**dict(zip(BASIS_KEY, key, strict=True)), **r.values, "row_hash": r.row_hash,
                        "recorded_at": at, "load_run_id": load_run_id})
    for key, (_, same_time) in current.items():
        if key not in wanted:
            if same_time:
                _delete_same_time(db, key, at)
            else:
                _supersede(db, key, at, load_run_id)
                result.superseded += 1
    db.insert(benefit_basis, inserts)
    result.inserted = len(inserts)
    return result


_KEY_WHERE = " AND ".join(f"{c} = :{c}" for c in BASIS_KEY)


def _delete_same_time(db: Any, key: tuple, at: datetime) -> None:
    """Delete the basis of ``key`` recorded at ``at`` itself (a re-run of one load replaces it in place)."""
    db.execute(f"DELETE FROM benefit_basis WHERE {_KEY_WHERE} AND recorded_at = :at",
               {**dict(zip(BASIS_KEY, key, strict=True)), "at": at})


def _supersede(db: Any, key: tuple, at: datetime, load_run_id: str | None) -> None:
    db.execute(f"UPDATE benefit_basis SET superseded_at = :at, superseded_by_run = :run "
               f"WHERE {_KEY_WHERE} AND superseded_at IS NULL",
               {**dict(zip(BASIS_KEY, key, strict=True)), "at": at, "run": load_run_id})
