"""The ``benefit_basis`` mart: bases per employment × scheme × reference date, bitemporal.

Inputs are the warehouse history *as known at* a time T (employment and salary rows with
``recorded_at <= T`` and not superseded at T), the parameters and scheme versions known at T.
:func:`recompute_for` computes every basis of the given employments (or only the given reference
dates), compares them with the rows currently believed, and

* inserts a row for a new (employment, scheme, reference date);
* for a changed one, sets ``superseded_at = T`` on the old row and inserts the new one with
  ``recorded_at = T``: what was reported before stays readable "as known at" any earlier time;
* for a reference date that no longer exists (e.g. a retracted part-time change), supersedes
  the old row without a successor.

Rows are written with ``recorded_at = T``, the knowledge time of their inputs, so "the bases as
known at T" equals "the bases computed from the history as known at T" (tested). The functions
take the loader's ``Db`` (plain SQL on DuckDB or PostgreSQL) or a warehouse URL.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from payroll_etl.benefits.calc import (
    Basis,
    EmploymentVersion,
    SalaryVersion,
    compute_basis,
)
from payroll_etl.benefits.calc import reference_dates as change_dates
from payroll_etl.benefits.parameters import ParameterTable
from payroll_etl.benefits.schemes import Scheme, scheme_on, schemes_for
from payroll_etl.benefits.tables import (
    BASIS_VALUE_COLUMNS,
    insert_sql,
    known_at,
    read_parameters,
    read_schemes,
    seed,
    sql_lit,
)
from payroll_etl.errors import ConfigurationError, WarehouseError

log = logging.getLogger(__name__)

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
        return (self.connector, self.employer, self.employment_source_id, self.scheme, self.basis.reference_date)

    @property
    def values(self) -> dict[str, Any]:
        b = asdict(self.basis)
        return {c: b[c] for c in BASIS_VALUE_COLUMNS}

    @property
    def row_hash(self) -> str:
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


# --- computing ----------------------------------------------------------------------------------

def compute_rows(
    employer: str,
    history: dict[tuple[str, str], tuple[list[EmploymentVersion], list[SalaryVersion]]],
    schemes: list[Scheme],
    parameters: ParameterTable,
    *,
    horizon_year: int,
    only_dates: Sequence[date] | None = None,
    tail: str = "period13",
) -> tuple[list[BasisRow], int]:
    """All basis rows of the given employments (pure). Returns (rows, skipped reference dates).

    ``tail`` is the employer's four-weekly calendar (payroll_etl.periods): it decides how many periods
    a four-weekly year has (13, or 14 in a 53-week year of a week-based calendar)."""
    years = [y for y in parameters.years() if y <= horizon_year]
    rows: list[BasisRow] = []
    skipped = 0
    year_params = {y: parameters.for_year(y) for y in years}
    for (connector, emp_id), (employment, salaries) in sorted(history.items()):
        if not employment:
            continue
        for code, versions in sorted(schemes_for(schemes, employer).items()):
            rule_dates: set[date] = set()
            for v in versions:  # the rule can differ between versions: take the union of their dates
                rule_dates.update(change_dates(employment, salaries, versions, years, v.peildatum_rule))
            dates = sorted(rule_dates) if only_dates is None else sorted(set(only_dates))
            for d in dates:
                scheme = scheme_on(versions, employer, code, d)
                if scheme is None or d.year not in year_params:
                    skipped += 1
                    continue
                basis = compute_basis(scheme, year_params[d.year], d, employment, salaries, tail)
                rows.append(BasisRow(connector, employer, emp_id, code, basis))
    return rows, skipped


def recompute_for(
    db: Any,
    employer: str,
    employment_ids: Sequence[str] | None = None,
    reference_dates: Sequence[date] | None = None,
    *,
    connector: str | None = None,
    as_of: datetime | None = None,
    load_run_id: str | None = None,
    tail: str | None = None,
) -> RecomputeResult:
    """Recompute the bases of ``employment_ids`` (None: all of the employer) as known at ``as_of``.

    ``reference_dates`` limits the work to those dates (None: every date the basis can change on,
    up to ``as_of``'s year). ``db`` is the loader's ``Db`` inside its transaction, or a URL.
    Idempotent: unchanged bases are left alone. ``as_of`` (default now) must not be earlier than
    the bases already recorded for these employments.
    """
    at = _utc(as_of)
    with session(db) as conn:
        parameters = read_parameters(conn, at)
        schemes = read_schemes(conn, at, employer)
        if not parameters.rows or not schemes:
            log.warning("benefits: no parameters or no schemes for %s in the warehouse; run tables.seed", employer)
        history = read_history(conn, employer, at, employment_ids, connector)
        computed, skipped = compute_rows(employer, history, schemes, parameters, horizon_year=at.year,
                                         tail=tail or configured_tail(employer, connector),
                                         only_dates=reference_dates)
        result = _apply(conn, employer, computed, at, load_run_id,
                        employment_ids=employment_ids, connector=connector, only_dates=reference_dates)
        result.skipped_dates = skipped
    return result


def _apply(db: Any, employer: str, computed: list[BasisRow], at: datetime, load_run_id: str | None, *,
           employment_ids: Sequence[str] | None, connector: str | None,
           only_dates: Sequence[date] | None) -> RecomputeResult:
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


def recompute_employer(db: Any, employer: str, *, connector: str | None = None, as_of: datetime | None = None,
                       load_run_id: str | None = None, seed_first: bool = True) -> RecomputeResult:
    """Seed parameters/schemes (idempotent) and recompute every basis of one employer."""
    with session(db) as conn:
        if seed_first:
            seed(conn, now=_utc(as_of))
        return recompute_for(conn, employer, None, None, connector=connector, as_of=as_of, load_run_id=load_run_id)


def configured_tail(employer: str, connector: str | None = None) -> str:
    """The employer's four-weekly calendar from include/employers.yaml (``period13`` when not listed)."""
    from payroll_etl.config import load_config

    try:
        return load_config().employer(employer, connector).four_week_tail
    except (ConfigurationError, OSError, ValueError):
        return "period13"


def post_load_step(db: Any, batch: Any, changes: dict[str, dict[str, int]]) -> None:
    """Post-load step (the pipeline passes it to ``load.load``): recompute the batch's employer.

    Runs inside the load transaction with ``as_of = batch.recorded_at``, so the bases carry the
    same transaction time as the facts that caused them. The whole employer is recomputed (cheap,
    and it also adds a new year's 1 January rows); only changed bases are written. A mistake in
    the scheme/parameter files does not block the payroll load: it is logged and recorded in
    ``load_run.rows`` (``benefit_basis.config_error``) and the bases use the last seeded config.
    After a connector switch (``batch.closed_connectors``) the old connector's bases are superseded
    at the same transaction time, so the bases follow the new connector. SQL errors propagate
    (the load rolls back).
    """
    report: dict[str, Any] = {}
    if getattr(batch, "benefit_config_error", None):
        report["config_error"] = batch.benefit_config_error
    period = getattr(batch, "period", None)
    res = recompute_for(db, batch.employer, connector=batch.connector, as_of=batch.recorded_at,
                        load_run_id=batch.load_run_id, tail=getattr(period, "tail", None))
    report.update(asdict(res))
    for old in getattr(batch, "closed_connectors", None) or ():
        # a connector switch closed the old connector's facts: its bases end at the same moment
        gone = recompute_for(db, batch.employer, connector=old, as_of=batch.recorded_at,
                             load_run_id=batch.load_run_id)
        report.setdefault("superseded_by_cutover", {})[old] = gone.superseded
    touched = any((changes.get(e) or {}).get(k) for e in ("employment", "salary") for k in ("inserted", "superseded"))
    log.info("benefit bases %s/%s (history changed: %s): %s", batch.connector, batch.employer, touched, res)
    if isinstance(getattr(batch, "rows", None), dict):
        batch.rows["benefit_basis"] = report


def seed_config(url: str, now: datetime | None = None) -> str | None:
    """Seed parameters and schemes in their own short transaction, before an employer's load.

    Kept out of the load transaction on purpose: two employers' first loads would otherwise
    insert the same seed rows and the second would wait for the first to commit. Returns the
    configuration error (logged, never raised), or None.
    """
    from payroll_etl.warehouse.engines import connect

    db = connect(url)
    try:
        db.begin()
        seed(db, now=now)
        db.commit()
        return None
    except ConfigurationError as exc:  # raised before any SQL failed
        db.rollback()
        log.error("benefit config not seeded: %s", exc)
        return str(exc)
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()


# --- reading the mart ---------------------------------------------------------------------------

def bases_as_of(db: Any, employer: str, at: datetime | None = None, *, employment_ids: Sequence[str] | None = None,
                scheme: str | None = None) -> list[dict[str, Any]]:
    """The ``benefit_basis`` rows believed at ``at`` (default now), ordered by key."""
    where = [f"b.employer = {sql_lit(employer)}", known_at("b", _utc(at))]
    if employment_ids is not None:
        where.append(_in("b.employment_source_id", employment_ids))
    if scheme:
        where.append(f"b.scheme = {sql_lit(scheme)}")
    cols = [*BASIS_KEY, *BASIS_VALUE_COLUMNS, "recorded_at", "superseded_at"]
    with session(db) as conn:
        select = ", ".join("b." + c for c in cols)
        rows = conn.query(f"SELECT {select} FROM benefit_basis b WHERE {' AND '.join(where)} "
                          f"ORDER BY b.connector, b.employment_source_id, b.scheme, b.reference_date")
    return [dict(zip(cols, r, strict=True)) for r in rows]


def basis_on(db: Any, employer: str, day: date, at: datetime | None = None) -> list[dict[str, Any]]:
    """Per employment and scheme, the basis in force on ``day`` as known at ``at`` (latest reference date <= day)."""
    latest: dict[tuple, dict[str, Any]] = {}
    for r in bases_as_of(db, employer, at):
        if r["reference_date"] <= day:
            latest[(r["connector"], r["employment_source_id"], r["scheme"])] = r
    return [r for r in latest.values() if r["status"] == "in_service"]


def format_bases(rows: Sequence[dict[str, Any]], limit: int = 5) -> list[str]:
    """A few human-readable lines for the demo (no personal data: employment ids and amounts only)."""
    def money(v: Any) -> str:
        return "-" if v is None else f"€{Decimal(v):,.2f}"

    lines = []
    for r in list(rows)[:limit]:
        lines.append(
            f"{r['employer']}/{r['employment_source_id'][:12]} {r['scheme']} v{r['scheme_version']} "
            f"ref {r['reference_date']} (params {r['parameter_year']}, peildatum {r['peildatum']}): "
            f"FT pensionable {money(r['ft_pensionable_salary'])}, ptf {r['part_time_factor']}, "
            f"franchise {money(r['franchise'])}, grondslag {money(r['pensioengrondslag'])}, "
            f"WIA-excedent {money(r['wia_excedent'])} insured {money(r['wia_insured'])}")
    return lines


def show_bases(url: str, employers: Sequence[str], day: date | None = None, limit: int = 3, *,
               at: datetime | None = None) -> list[str]:
    """Demo helper: a few bases in force on ``day`` (default today) per employer, as known at ``at``."""
    day = day or date.today()
    out = []
    for employer in employers:
        rows = basis_on(url, employer, day, at)
        out.append(f"{employer}: {len(rows)} bases in force on {day}")
        out.extend("  " + line for line in format_bases(rows, limit))
    return out


def demo_summary(url: str, day: date | None = None, per_employer: int = 3, *, as_of: datetime | None = None) -> None:
    """``make demo``: seed, recompute every employer with a scheme, print a few bases per employer.

    Recomputing here keeps the demo right even when the loader's post-load hook is not registered;
    with the hook it finds nothing to change (idempotent).
    """
    at = _utc(as_of)
    with session(url) as db:
        seed(db, now=at)
        schemes = {s.employer for s in read_schemes(db, at)}
        employers = sorted({e for (e,) in db.query("SELECT DISTINCT employer FROM employment")} & schemes)
    totals = RecomputeResult()
    for employer in employers:
        res = recompute_for(url, employer, as_of=at)
        totals.inserted += res.inserted
        totals.superseded += res.superseded
        totals.unchanged += res.unchanged
    print(f"\nBenefit bases (issue 10, docs/benefits.md): {totals.inserted} new, {totals.superseded} superseded, "
          f"{totals.unchanged} unchanged")
    for line in show_bases(url, employers, day or at.date(), per_employer, at=at):
        print("  " + line)
