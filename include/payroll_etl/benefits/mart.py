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

import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from typing import Any

from payroll_etl.benefits.calc import EmploymentVersion, SalaryVersion, compute_basis
from payroll_etl.benefits.calc import reference_dates as change_dates
from payroll_etl.benefits.parameters import ParameterTable
from payroll_etl.benefits.reading import bases_as_of, basis_on, format_bases, show_bases
from payroll_etl.benefits.schemes import Scheme, scheme_on, schemes_for
from payroll_etl.benefits.store import (
    BASIS_KEY,
    BasisRow,
    RecomputeResult,
    _utc,
    apply_bases,
    read_history,
    session,
)
from payroll_etl.benefits.tables import read_parameters, read_schemes, seed
from payroll_etl.errors import ConfigurationError

log = logging.getLogger(__name__)

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
        result = apply_bases(conn, employer, computed, at, load_run_id,
                        employment_ids=employment_ids, connector=connector, only_dates=reference_dates)
        result.skipped_dates = skipped
    return result


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


__all__ = ["BASIS_KEY", "BasisRow", "RecomputeResult", "bases_as_of", "basis_on", "compute_rows", "configured_tail",
           "demo_summary", "format_bases", "post_load_step", "read_history", "recompute_employer", "recompute_for",
           "seed_config", "session", "show_bases"]
