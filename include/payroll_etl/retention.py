"""Retention: delete what is past its retention period, per data class. Plain Python, no Airflow.

Configured under ``retention:`` in include/employers.yaml; defaults and their grounds are in
docs/privacy.md ("Retention"). ``null`` keeps a class forever. The section is typed by
:class:`RetentionPolicy` (payroll_etl/config/retention.py, re-exported here), checked with the rest of
the file by ``python -m payroll_etl.config`` and published in docs/employers.schema.json.

Classes (age measured from; the table with the defaults is in docs/privacy.md):

* ``landing_days``: ``data/landing/connector=/employer=/entity=/run_date=/`` partitions, from the
  newest file's mtime (when it was received, not the run date);
* ``staging_days``: ``data/staging/connector=/employer=/run_date=/``, newest file's mtime;
* ``reports_days``: Data Docs ``data/reports/datadocs/<connector>/<employer>/<day>/`` (mtime) and
  their day pages, and ``dq_result`` rows (``checked_at``);
* ``quarantine_days``: ``quarantine`` rows, the landing references (``quarantined_at``);
* ``leaver_history_years``: superseded versions (``superseded_at`` set) of ``employee``,
  ``employment``, ``salary``, ``payroll_result`` of people who left, from their last end date;
* ``leaver_identity_years``: ``person_identity`` rows of people who left, at every employer.

A person "left" an employer when every current employment version of theirs there has an end date
(the latest before the cut-off), or, for records ended at the source by a full refresh (no
current version left), when the last of them was superseded before the cut-off. A
``person_identity`` row goes only when every employer's record of that ``person_key`` is such a
leaver: ``person_key`` stays the join key of the pseudonymized history, now unlinkable.

Safety: files are aged by when they were written, not by their run date, so a backfill of an old
pay period (landed today) or a replay within the window finds its landing and staging. Employers in
``busy`` (a queued or running DAG run: a pending backfill or re-run) are skipped entirely, and
so are the identities of their people; the next day's purge catches up. Warehouse purges run per
employer under the loader's advisory lock (PostgreSQL), one transaction each. Idempotent: a second
purge at the same clock removes nothing. Logs counts only, never ids or values.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from payroll_etl.config.retention import RetentionPolicy

if TYPE_CHECKING:
    from payroll_etl.warehouse.db import Db, Params

log = logging.getLogger(__name__)

HISTORY_TABLES = ("employee", "employment", "salary", "payroll_result")
__all__ = ["HISTORY_TABLES", "RetentionPolicy", "purge", "purge_files", "purge_warehouse"]


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _key_of(path: Path, name: str) -> str | None:
    """The value of a ``name=value`` path component of ``path``."""
    for part in path.parts:
        if part.startswith(f"{name}="):
            return part.split("=", 1)[1]
    return None


def _newest_mtime(directory: Path) -> float:
    times = [p.stat().st_mtime for p in directory.rglob("*") if p.is_file()]
    return max(times, default=directory.stat().st_mtime)


def _purge_dirs(dirs: Iterable[Path], cutoff: datetime, busy: AbstractSet[tuple[str, str]],
                owner: Any) -> tuple[int, int]:
    """Remove every directory in ``dirs`` whose newest file is older than ``cutoff`` and whose
    (connector, employer) (``owner(path)``) is not busy. Returns (directories, files) removed."""
    removed = files = 0
    limit = cutoff.timestamp()
    for directory in sorted(dirs):
        if owner(directory) in busy or _newest_mtime(directory) >= limit:
            continue
        files += sum(1 for p in directory.rglob("*") if p.is_file())
        shutil.rmtree(directory)
        removed += 1
        _remove_empty_parents(directory)
    return removed, files


def _remove_empty_parents(directory: Path, levels: int = 3) -> None:
    parent = directory.parent
    for _ in range(levels):
        try:
            parent.rmdir()  # only when empty
        except OSError:
            return
        parent = parent.parent


def purge_files(policy: RetentionPolicy, data_dir: Path, now: datetime,
                busy: AbstractSet[tuple[str, str]] = frozenset()) -> dict[str, int]:
    """Landing, staging and Data Docs past retention. Returns counts per class."""
    counts: dict[str, int] = {}

    def by_keys(path: Path) -> tuple[str | None, str | None]:
        return _key_of(path, "connector"), _key_of(path, "employer")

    if policy.landing_days:
        counts["landing_partitions"], counts["landing_files"] = _purge_dirs(
            (data_dir / "landing").glob("connector=*/employer=*/entity=*/run_date=*"),
            now - timedelta(days=policy.landing_days), busy, by_keys)
    if policy.staging_days:
        counts["staging_runs"], counts["staging_files"] = _purge_dirs(
            (data_dir / "staging").glob("connector=*/employer=*/run_date=*"),
            now - timedelta(days=policy.staging_days), busy, by_keys)
    if policy.reports_days:
        reports = data_dir / "reports"
        docs = reports / "datadocs"
        runs = list(docs.glob("*/*/*"))
        counts["report_runs"], counts["report_files"] = _purge_dirs(
            (p for p in runs if p.is_dir()), now - timedelta(days=policy.reports_days), busy,
            lambda p: (p.parent.parent.name, p.parent.name))
        counts["report_day_pages"] = _refresh_day_pages(reports, {p.name for p in runs if not p.exists()})
    return counts


def _refresh_day_pages(reports: Path, days: set[str]) -> int:
    """Rebuild the day pages of ``days`` whose runs were purged; delete the ones left empty."""
    from payroll_etl.quality.index import load_summaries, write_daily_index

    removed = 0
    for day in sorted(days):
        if load_summaries(reports, day):
            write_daily_index(reports, day)
            continue
        page = reports / f"index-{day}.html"
        if page.exists():
            page.unlink()
            removed += 1
    remaining = sorted(p.name[len("index-"):-len(".html")] for p in reports.glob("index-*.html"))
    if removed and remaining:
        write_daily_index(reports, remaining[-1])  # also rewrites index.html (the list of days)
    elif removed and (reports / "index.html").exists():
        (reports / "index.html").unlink()
    return removed


# ---------------------------------------------------------------------------- warehouse

def _count_delete(db: Db, table: str, where: str, params: Params | None = None) -> int:
    n = int(db.query(f"SELECT count(*) FROM {table} t WHERE {where}", params)[0][0])
    if n:
        db.execute(f"DELETE FROM {table} t WHERE {where}", params)
    return n


def _fill_leavers(db: Db, temp: str, scope: str, params: Params, cutoff: date) -> None:
    """(Re)create the temporary table ``temp`` with (connector, employer, source_id) of the employees
    in ``scope`` (a condition on ``employment m``, ``:name`` placeholders from ``params``) who left
    before ``cutoff`` (see module doc). Filled by a bound INSERT: PostgreSQL takes no parameters in
    CREATE TABLE AS."""
    current = "m.superseded_at IS NULL"
    db.execute(f"DROP TABLE IF EXISTS {temp}")
    db.execute(f"CREATE TEMP TABLE {temp} (connector TEXT, employer TEXT, source_id TEXT)")
    db.execute(
        f"INSERT INTO {temp} (connector, employer, source_id) "
        f"SELECT m.connector, m.employer, m.employee_source_id FROM employment m WHERE {scope} "
        f"GROUP BY m.connector, m.employer, m.employee_source_id HAVING "
        f"(sum(CASE WHEN {current} THEN 1 ELSE 0 END) > 0 "
        f" AND min(CASE WHEN {current} AND m.end_date IS NULL THEN 0 ELSE 1 END) = 1 "
        f" AND max(CASE WHEN {current} THEN m.end_date END) < :cutoff) "
        f"OR (sum(CASE WHEN {current} THEN 1 ELSE 0 END) = 0 AND max(m.superseded_at) < :cutoff_ts)",
        {**params, "cutoff": cutoff, "cutoff_ts": _at_midnight(cutoff)})


def _purge_employer_history(db: Db, connector: str, employer: str, cutoff: date, now: datetime) -> dict[str, int]:
    scope = {"connector": connector, "employer": employer}
    _fill_leavers(db, "r_leaver", "m.connector = :connector AND m.employer = :employer", scope, cutoff)
    db.execute("DROP TABLE IF EXISTS r_leaver_employment")
    db.execute(
        "CREATE TEMP TABLE r_leaver_employment AS SELECT DISTINCT m.connector, m.employer, m.source_id "
        "FROM employment m JOIN r_leaver l ON l.connector = m.connector AND l.employer = m.employer "
        "AND l.source_id = m.employee_source_id")
    mine = "t.connector = :connector AND t.employer = :employer AND t.superseded_at IS NOT NULL"
    person = {"employee": "t.source_id", "employment": "t.employee_source_id"}
    counts = {}
    for table in HISTORY_TABLES:
        if table in person:
            match = f"EXISTS (SELECT 1 FROM r_leaver l WHERE l.source_id = {person[table]})"
        else:
            match = "EXISTS (SELECT 1 FROM r_leaver_employment l WHERE l.source_id = t.employment_source_id)"
        counts[table] = _count_delete(db, table, f"{mine} AND {match}", scope)
    for temp in ("r_leaver_employment", "r_leaver"):
        db.execute(f"DROP TABLE IF EXISTS {temp}")
    return counts


def _at_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _employers(db: Db) -> list[tuple[str, str]]:
    return sorted({(c, e) for c, e in db.query("SELECT DISTINCT connector, employer FROM employment")}
                  | {(c, e) for c, e in db.query("SELECT DISTINCT connector, employer FROM quarantine")}
                  | {(c, e) for c, e in db.query("SELECT DISTINCT connector, employer FROM dq_result")})


def _in_transaction(db: Db, connector: str | None, employer: str | None, work: Any) -> Any:
    db.begin()
    try:
        if connector is not None and employer is not None:
            db.lock_scope(connector, employer)
        out = work()
        db.commit()
        return out
    except BaseException:
        db.rollback()
        raise


def purge_warehouse(policy: RetentionPolicy, url: str, now: datetime,
                    busy: AbstractSet[tuple[str, str]] = frozenset()) -> dict[str, Any]:
    """Quarantine references, dq_result rows, leavers' superseded history and identities past
    retention. One transaction per employer (under its load lock), then one for the identities."""
    from payroll_etl.warehouse.engines import connect
    from payroll_etl.warehouse.migrate import upgrade

    upgrade(url)
    db = connect(url)
    counts: dict[str, Any] = {"quarantine_rows": 0, "dq_result_rows": 0, "history_rows": {}}
    scope = "t.connector = :connector AND t.employer = :employer"
    try:
        for connector, employer in _employers(db):
            if (connector, employer) in busy:
                continue
            def work(connector: str = connector, employer: str = employer) -> None:
                params = {"connector": connector, "employer": employer}
                if policy.quarantine_days:
                    counts["quarantine_rows"] += _count_delete(
                        db, "quarantine", f"{scope} AND t.quarantined_at < :before",
                        {**params, "before": now - timedelta(days=policy.quarantine_days)})
                if policy.reports_days:
                    counts["dq_result_rows"] += _count_delete(
                        db, "dq_result", f"{scope} AND t.checked_at < :before",
                        {**params, "before": now - timedelta(days=policy.reports_days)})
                if policy.leaver_history_years:
                    cutoff = _years_before(now.date(), policy.leaver_history_years)
                    for table, n in _purge_employer_history(db, connector, employer, cutoff, now).items():
                        counts["history_rows"][table] = counts["history_rows"].get(table, 0) + n

            _in_transaction(db, connector, employer, work)
        if policy.leaver_identity_years:
            cutoff = _years_before(now.date(), policy.leaver_identity_years)
            counts["person_identity_rows"] = _in_transaction(
                db, None, None, lambda: _purge_identities(db, cutoff, busy))
    finally:
        db.close()
    return counts


def _purge_identities(db: Db, cutoff: date, busy: AbstractSet[tuple[str, str]]) -> int:
    """person_identity rows whose person_key belongs only to leavers (before ``cutoff``) of employers
    that are not busy."""
    _fill_leavers(db, "r_leaver_all", "TRUE", {}, cutoff)
    params: dict[str, object] = {}
    for i, (c, m) in enumerate(sorted(busy)):
        params |= {f"busy_c{i}": c, f"busy_e{i}": m}
    busy_sql = " OR ".join(f"(e.connector = :busy_c{i} AND e.employer = :busy_e{i})" for i in range(len(busy)))
    keep = (f"SELECT e.person_key FROM employee e WHERE e.person_key IS NOT NULL AND (NOT EXISTS "
            f"(SELECT 1 FROM r_leaver_all l WHERE l.connector = e.connector AND l.employer = e.employer "
            f"AND l.source_id = e.source_id){' OR ' + busy_sql if busy_sql else ''})")
    n = _count_delete(db, "person_identity",
                      "t.person_key IN (SELECT person_key FROM employee WHERE person_key IS NOT NULL) "
                      f"AND t.person_key NOT IN ({keep})", params)
    db.execute("DROP TABLE IF EXISTS r_leaver_all")
    return n


def purge(policy: RetentionPolicy, *, now: datetime | None = None, data_dir: Path | None = None,
          warehouse_url: str | None = None, busy: Iterable[tuple[str, str]] = ()) -> dict[str, Any]:
    """Delete everything past retention (files, then warehouse). ``now``: the clock (UTC, tests fix it);
    ``busy``: (connector, employer) pairs with a queued or running DAG run, left alone today.
    Returns the counts per class (also logged, counts only)."""
    from payroll_etl import settings

    now = now or datetime.now(UTC)
    data_dir = Path(data_dir or settings.data_dir())
    busy_set = set(busy)
    counts = {**purge_files(policy, data_dir, now, busy_set),
              **purge_warehouse(policy, warehouse_url or settings.warehouse_url(), now, busy_set)}
    log.info("retention purge at %s (%d busy employers skipped): %s", now.isoformat(), len(busy_set),
             ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    return counts
