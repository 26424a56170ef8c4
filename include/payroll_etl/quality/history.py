"""Per-employer data-quality history across runs, from the warehouse (``load_run``, ``dq_result``).

One page per employer, ``data/reports/history/<connector>/<employer>.html``: a chart of rows
received, quarantined rows and failed checks per night (inline SVG) and a table of the nights.
It is rewritten after every load (and after a blocked validation), so it always includes the
night that just ran. ``make dq-report`` can rebuild every page from the warehouse
(``--html``). Only counts and check names are read: no personal data.
"""

from __future__ import annotations

import json
from pathlib import Path

from payroll_etl.quality.index import SUMMARY_FILE, history_page, run_dir, write_home, write_run_page
from payroll_etl.quality.pages import Night, ensure_static, history_chart, render, root_of, write_text

HISTORY_NIGHTS = 90  # the chart and table show at most this many latest nights


def night_status(run_status: str, rows: int, checks: int, failed_warn: int) -> str:
    """A night's status as the reports show it, from ``load_run.status`` and its ``dq_result`` counts.

    ``unchanged`` ("nothing changed, nothing to validate"): the run received no rows and ran no
    check, i.e. an incremental night on which the source reported no change.
    """
    if run_status == "failed":
        return "blocked"
    if run_status == "partial":
        return "partial"
    if rows == 0 and checks == 0:
        return "unchanged"
    return "warn" if failed_warn else "ok"


def employer_nights(url: str, connector: str, employer: str, limit: int = HISTORY_NIGHTS) -> list[Night]:
    """The ``limit`` latest nights of one employer, oldest first (``href`` left empty)."""
    from payroll_etl.warehouse.engines import connect

    scope = {"connector": connector, "employer": employer}
    db = connect(url)
    try:
        runs = db.query(
            "SELECT load_run_id, logical_date, period_id, status, rows FROM load_run "
            f"WHERE connector = :connector AND employer = :employer ORDER BY logical_date DESC LIMIT {int(limit)}",
            scope)
        checks: dict[str, tuple[int, int, int]] = {}
        for run_id, total, failed, failed_warn in db.query(
                "SELECT load_run_id, count(*), "
                "sum(CASE WHEN success THEN 0 ELSE 1 END), "
                "sum(CASE WHEN NOT success AND severity = 'warn' THEN 1 ELSE 0 END) "
                "FROM dq_result WHERE connector = :connector AND employer = :employer GROUP BY load_run_id",
                scope):
            checks[run_id] = (int(total), int(failed or 0), int(failed_warn or 0))
    finally:
        db.close()
    nights = []
    for run_id, logical_date, period, status, rows_json in reversed(runs):
        info = json.loads(rows_json) if rows_json else {}
        received = sum(int(v) for v in (info.get("received") or {}).values())
        quarantined = sum(int(v) for v in (info.get("quarantined") or {}).values())
        total, failed, failed_warn = checks.get(run_id, (0, 0, 0))
        nights.append(Night(str(logical_date), period, night_status(status, received, total, failed_warn),
                            received, quarantined, total, failed))
    return nights


def write_history(report_dir: Path, url: str, connector: str, employer: str, run_date: str | None = None) -> Path:
    """Rewrite the employer's history page from the warehouse, and ``index.html``. Returns the page.

    With ``run_date``, that run's page is re-rendered with the chart of the nights up to it.
    """
    ensure_static(report_dir)
    page = history_page(report_dir, connector, employer)
    root = root_of(page, report_dir)
    nights = []
    for night in employer_nights(url, connector, employer):
        report = run_dir(report_dir, connector, employer, night.run_date) / "index.html"
        href = root + str(report.relative_to(report_dir)) if report.exists() else None
        nights.append(Night(**{**night.__dict__, "href": href}))
    write_text(page, render("history", root, title=f"Data quality history {employer}", connector=connector,
                            employer=employer, nights=nights, chart=history_chart(nights)))
    if run_date is not None:
        summary_path = run_dir(report_dir, connector, employer, run_date) / SUMMARY_FILE
        if summary_path.exists():
            upto = [n for n in nights if n.run_date <= run_date]
            write_run_page(report_dir, json.loads(summary_path.read_text()), history_chart(upto))
    write_home(report_dir)
    return page


def write_all_histories(report_dir: Path, url: str) -> list[Path]:
    """A history page for every (connector, employer) in ``load_run``; used by ``make dq-report --html``."""
    from payroll_etl.warehouse.engines import connect

    db = connect(url)
    try:
        pairs = db.query("SELECT DISTINCT connector, employer FROM load_run ORDER BY connector, employer")
    finally:
        db.close()
    return [write_history(report_dir, url, c, e) for c, e in pairs]
