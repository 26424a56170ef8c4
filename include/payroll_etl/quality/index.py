"""The data-quality report files under ``data/reports/``, rebuilt after every validation.

Layout::

    index.html                                        run dates and employers (links)
    index-YYYY-MM-DD.html                             the run-level index: every employer of that run date
    runs/<connector>/<employer>/<run date>/index.html         one run: every suite, expectation, result
    runs/<connector>/<employer>/<run date>/dq_summary.json    what the pages are rendered from
    history/<connector>/<employer>.html               that employer's nights across runs, with a chart
    static/dq.css                                     the only shared asset, written once

Pages are self-contained (``quality.pages``): no external URL, no script. A night adds one HTML
page and one JSON file (a few KB), nothing else. The summaries hold check names, counts and
masked source ids only: no personal data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from payroll_etl.quality.pages import ensure_static, render, root_of, write_text

SUMMARY_FILE = "dq_summary.json"
RUNS_DIR = "runs"
HISTORY_DIR = "history"


def run_dir(report_dir: Path, connector: str, employer: str, run_date: str) -> Path:
    """The folder of one run's report: ``runs/<connector>/<employer>/<run date>``."""
    return report_dir / RUNS_DIR / connector / employer / run_date


def history_page(report_dir: Path, connector: str, employer: str) -> Path:
    """The employer's history page: ``history/<connector>/<employer>.html``."""
    return report_dir / HISTORY_DIR / connector / f"{employer}.html"


def day_page(report_dir: Path, day: str) -> Path:
    """The run-level index of a run date: ``index-<day>.html``."""
    return report_dir / f"index-{day}.html"


def status_of(summary: dict[str, Any]) -> str:
    """blocked | partial | warn | ok | unchanged (an incremental night with no rows: nothing validated)."""
    if summary.get("blocking"):
        return "blocked"
    if summary.get("quarantined"):
        return "partial"
    if summary.get("failed_warn") or summary.get("failed_error"):
        return "warn"
    if summary.get("nothing_to_validate"):
        return "unchanged"
    return "ok"


def load_summaries(report_dir: Path, day: str) -> list[dict[str, Any]]:
    """Every employer's ``dq_summary.json`` of run date ``day``, with ``status`` and page links added."""
    summaries = []
    for path in sorted((report_dir / RUNS_DIR).glob(f"*/*/{day}/{SUMMARY_FILE}")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        summaries.append(_decorate(summary, report_dir, path.parent / "index.html", day_page(report_dir, day)))
    order = {"blocked": 0, "partial": 1, "warn": 2, "ok": 3, "unchanged": 4}
    return sorted(summaries, key=lambda s: (order[s["status"]], s["employer"]))


def _rel(target: Path, page: Path, report_dir: Path) -> str:
    return root_of(page, report_dir) + str(target.relative_to(report_dir))


def _decorate(summary: dict[str, Any], report_dir: Path, run_page: Path, page: Path) -> dict[str, Any]:
    rows = summary.get("rows") or {}
    return {**summary, "status": status_of(summary), "rows_total": sum(rows.values()),
            "quarantined_items": sorted((summary.get("quarantined") or {}).items()),
            "blocking": summary.get("blocking") or [], "failed": summary.get("failed") or [],
            "href": _rel(run_page, page, report_dir),
            "history_href": _rel(history_page(report_dir, summary["connector"], summary["employer"]),
                                 page, report_dir)}


def write_run_page(report_dir: Path, summary: dict[str, Any], chart: str = "") -> Path:
    """``runs/.../<run date>/index.html`` and ``dq_summary.json`` of one validation. Returns the page.

    ``chart``: the employer's history chart up to this night (``pages.history_chart``), added once the
    run is in the warehouse (``history.write_history``); the validate step writes the page without it.
    """
    ensure_static(report_dir)
    folder = run_dir(report_dir, summary["connector"], summary["employer"], summary["run_date"])
    write_text(folder / SUMMARY_FILE, json.dumps(summary, indent=1, sort_keys=True, default=str))
    page = folder / "index.html"
    s = _decorate(summary, report_dir, page, page)
    scope = summary.get("scope") or {}
    quarantined = summary.get("quarantined") or {}
    names = sorted(set(summary.get("rows") or {}) | set(scope) | set(quarantined))
    s["entities"] = [{"entity": n, "rows": (summary.get("rows") or {}).get(n, 0), "scope": scope.get(n, "—"),
                      "quarantined": quarantined.get(n, 0)} for n in names]
    s["suites"] = summary.get("suites") or []
    title = f"Data quality {summary['employer']} · run date {summary['run_date']}"
    write_text(page, render("run", root_of(page, report_dir), title=title, s=s,
                            history_href=s["history_href"], chart=chart))
    return page


def write_daily_index(report_dir: Path, day: str) -> Path:
    """Rebuild ``index-<day>.html`` from every employer's summary of that run date, and ``index.html``."""
    ensure_static(report_dir)
    page = day_page(report_dir, day)
    write_text(page, render("day", "", title=f"Payroll data quality — run date {day}", day=day,
                            summaries=load_summaries(report_dir, day)))
    write_home(report_dir)
    return page


def write_home(report_dir: Path) -> Path:
    """``index.html``: every run date (newest first) and every employer's history page."""
    ensure_static(report_dir)
    days = sorted((p.name[len("index-"):-len(".html")] for p in report_dir.glob("index-*.html")), reverse=True)
    employers = [{"connector": p.parent.name, "employer": p.stem, "href": str(p.relative_to(report_dir))}
                 for p in sorted((report_dir / HISTORY_DIR).glob("*/*.html"), key=lambda p: (p.stem, p.parent.name))]
    page = report_dir / "index.html"
    write_text(page, render("home", "", title="Payroll data quality", days=days, employers=employers))
    return page
