"""One HTML index page per run date across all employers, rebuilt after every validation.

Layout under ``data/reports/``::

    index.html                                  list of days
    index-YYYY-MM-DD.html                       every employer validated for that run date
    datadocs/<connector>/<employer>/<run date>/index.html        GE Data Docs of that run
    datadocs/<connector>/<employer>/<run date>/dq_summary.json   what the day index shows

The summaries hold check names, counts and (masked) source ids only: no personal data.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import Any

SUMMARY_FILE = "dq_summary.json"

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%}th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;
vertical-align:top}th{background:#f3f3f3}.blocked{background:#f8d7da}.partial{background:#fff3cd}
.warn{background:#fdfdea}.ok{background:#e8f5e9}code{font-size:90%}small{color:#666}
"""


def status_of(summary: dict[str, Any]) -> str:
    if summary.get("blocking"):
        return "blocked"
    if summary.get("quarantined"):
        return "partial"
    if summary.get("failed_warn"):
        return "warn"
    return "ok"


def load_summaries(report_dir: Path, day: str) -> list[dict[str, Any]]:
    summaries = []
    for path in sorted((report_dir / "datadocs").glob(f"*/*/{day}/{SUMMARY_FILE}")):
        try:
            summary = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        summary["_docs"] = os.path.relpath(path.parent / "index.html", report_dir)
        summaries.append(summary)
    return summaries


def _failed_list(summary: dict[str, Any]) -> str:
    items = []
    for row in summary.get("failed", []):
        col = f":{row['column_name']}" if row.get("column_name") else ""
        sample = f" <small>{html.escape(row['unexpected_sample'])}</small>" if row.get("unexpected_sample") else ""
        items.append(f"<li><b>{html.escape(row['severity'])}</b> {html.escape(row['entity'])}."
                     f"<code>{html.escape(row['check_name'] + col)}</code> × {row['unexpected_count']}{sample}</li>")
    return f"<ul>{''.join(items)}</ul>" if items else "—"


def render_day(day: str, summaries: list[dict[str, Any]]) -> str:
    rows = []
    for s in sorted(summaries, key=lambda s: (status_of(s) != "blocked", status_of(s) != "partial", s["employer"])):
        status = status_of(s)
        quarantined = ", ".join(f"{e}: {n}" for e, n in sorted((s.get("quarantined") or {}).items())) or "—"
        blocking = "<br>".join(html.escape(b) for b in s.get("blocking") or [])
        rows.append(
            f"<tr class='{status}'><td>{html.escape(s['employer'])}<br><small>{html.escape(s['connector'])}</small>"
            f"</td><td>{html.escape(str(s.get('period')))}</td><td><b>{status}</b>"
            f"{'<br>' + blocking if blocking else ''}</td><td>{s.get('checks')}</td>"
            f"<td>{s.get('failed_error')}</td><td>{s.get('failed_warn')}</td><td>{html.escape(quarantined)}</td>"
            f"<td>{_failed_list(s)}</td><td><a href='{html.escape(s['_docs'])}'>Data Docs</a><br>"
            f"<small>{html.escape(str(s.get('checked_at')))}</small></td></tr>")
    body = "".join(rows) or "<tr><td colspan='9'>No validations for this day.</td></tr>"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Payroll data quality {day}</title>"
            f"<style>{_STYLE}</style></head><body><h1>Payroll data quality — run date {day}</h1>"
            f"<p><a href='index.html'>all days</a> · blocked = nothing loaded; partial = rows quarantined, the "
            f"rest loaded; warn = loaded with warnings. See docs/data-quality.md.</p>"
            f"<table><tr><th>Employer</th><th>Period</th><th>Status</th><th>Checks</th><th>Failed error</th>"
            f"<th>Failed warn</th><th>Quarantined rows</th><th>Failed checks</th><th>Report</th></tr>{body}"
            f"</table></body></html>")


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)  # concurrent validations of other employers: readers never see half a page


def write_daily_index(report_dir: Path, day: str) -> Path:
    """Rebuild ``index-<day>.html`` from every employer's summary of that run date, and ``index.html``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    page = report_dir / f"index-{day}.html"
    _write(page, render_day(day, load_summaries(report_dir, day)))
    days = sorted((p.name[len("index-"):-len(".html")] for p in report_dir.glob("index-*.html")), reverse=True)
    links = "".join(f"<li><a href='index-{d}.html'>{d}</a></li>" for d in days)
    _write(report_dir / "index.html",
           f"<!doctype html><html><head><meta charset='utf-8'><title>Payroll data quality</title>"
           f"<style>{_STYLE}</style></head><body><h1>Payroll data quality</h1><ul>{links}</ul></body></html>")
    return page
