"""The data-quality HTML pages: Jinja2 templates, one shared stylesheet, an inline SVG chart.

Great Expectations validates; these pages show its validation results. They are rendered by us
instead of GE's Data Docs because GE 1.x's Data Docs templates load Bootstrap, jQuery,
bootstrap-table and Font Awesome from public CDNs (they are not in the wheel, so an offline
payroll environment shows unstyled pages with empty index tables) and copy about 4 MB of GE's
own static files into every site, i.e. every run. Here:

* no page refers to anything outside ``data/reports/``: no ``http(s)://`` URL, no script;
* the one shared asset, ``static/dq.css`` (2 KB), is written once (rewritten only when its text
  changes with a new release); every page links it relatively and also works without it;
* the per-employer history chart is inline SVG computed here (no charting library).

Templates live in this module (``jinja2.DictLoader``), so they ship with the package without
package-data configuration. Jinja2 is already a dependency (Airflow's). See docs/data-quality.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATIC_CSS_NAME = "static/dq.css"

STATIC_CSS = """\
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem}h2{font-size:1.2rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f4f6}td:first-child{white-space:nowrap}
tr.blocked,td.blocked,.badge.blocked{background:#f8d7da}
tr.partial,td.partial,.badge.partial{background:#fff3cd}
tr.warn,td.warn,.badge.warn{background:#fdfdea}
tr.ok,td.ok,.badge.ok{background:#d9f2dd}
tr.unchanged,td.unchanged,.badge.unchanged{background:#e8eaed}
tr.failed-error{background:#f8d7da}tr.failed-warn{background:#fff3cd}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;font-weight:600}
code{font-size:90%}small,.muted{color:#57606a}
nav{margin-bottom:1rem}nav a{margin-right:1rem}
svg.chart{max-width:100%;height:auto;border:1px solid #d0d7de;background:#fbfbfc}
.bar-rows{fill:#3b82f6}.bar-quarantined{fill:#f59e0b}.bar-failed{fill:#dc2626}
.bar-unchanged{fill:#9ca3af}.bar-blocked{fill:#7f1d1d}
.axis{stroke:#8c959f;stroke-width:1}.label{font-size:11px;fill:#57606a}.title{font-size:12px;fill:#1f2328}
"""

_BASE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<link rel="stylesheet" href="{{ root }}static/dq.css"></head>
<body><nav><a href="{{ root }}index.html">all days</a>{% block nav %}{% endblock %}</nav>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
<p class="muted"><small>Payroll data quality · checks by Great Expectations · rendered offline, no external
resources · see docs/data-quality.md</small></p>
</body></html>
"""

_STATUS = """{% macro status_badge(status) -%}
<span class="badge {{ status }}">{{ STATUS_TEXT[status] }}</span>
{%- endmacro %}"""

_HOME = """{% extends "base" %}{% block body %}
<h2>Run dates</h2>
{% if days %}<ul id="days">{% for d in days %}<li><a href="index-{{ d }}.html">{{ d }}</a></li>{% endfor %}</ul>
{% else %}<p>No validations yet.</p>{% endif %}
<h2>Employers (history across runs)</h2>
{% if employers %}<ul id="employers">{% for e in employers %}
<li><a href="{{ e.href }}">{{ e.employer }}</a> <small>{{ e.connector }}</small></li>{% endfor %}</ul>
{% else %}<p>No employer history yet.</p>{% endif %}
{% endblock %}"""

_DAY = """{% extends "base" %}{% from "status" import status_badge %}{% block body %}
<p>One row per employer validated for run date {{ day }}. blocked = nothing loaded; partial = rows
quarantined, the rest loaded; warn = loaded with warnings; nothing changed = an incremental night
that received no rows, so there was nothing to validate.</p>
<table id="runs"><thead><tr><th>Employer</th><th>Period</th><th>Status</th><th>Rows</th><th>Checks</th>
<th>Failed error</th><th>Failed warn</th><th>Quarantined rows</th><th>Failed checks</th><th>Report</th>
</tr></thead><tbody>
{% for s in summaries %}<tr class="{{ s.status }}" data-employer="{{ s.employer }}">
<td>{{ s.employer }}<br><small>{{ s.connector }}</small></td><td>{{ s.period }}</td>
<td>{{ status_badge(s.status) }}{% for b in s.blocking %}<br><small>{{ b }}</small>{% endfor %}</td>
<td>{{ s.rows_total }}</td>
<td>{% if s.status == "unchanged" %}<span class="muted">nothing changed, nothing to validate</span>
{%- else %}{{ s.checks }}{% endif %}</td>
<td>{{ s.failed_error }}</td><td>{{ s.failed_warn }}</td>
<td>{% for e, n in s.quarantined_items %}{{ e }}: {{ n }}{% if not loop.last %}, {% endif %}{% else %}—{% endfor %}</td>
<td>{% if s.failed %}<ul>{% for f in s.failed %}<li><b>{{ f.severity }}</b> {{ f.entity }}.<code>{{ f.check_name }}
{%- if f.column_name %}:{{ f.column_name }}{% endif %}</code> × {{ f.unexpected_count }}
{%- if f.unexpected_sample %} <small>{{ f.unexpected_sample }}</small>{% endif %}</li>{% endfor %}</ul>
{%- else %}—{% endif %}</td>
<td><a href="{{ s.href }}">report</a> · <a href="{{ s.history_href }}">history</a><br>
<small>{{ s.checked_at }}</small></td></tr>
{% else %}<tr><td colspan="10">No validations for this day.</td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""

_RUN = """{% extends "base" %}{% from "status" import status_badge %}
{% block nav %}<a href="{{ root }}index-{{ s.run_date }}.html">run date {{ s.run_date }}</a>
<a href="{{ history_href }}">history of {{ s.employer }}</a>{% endblock %}
{% block body %}
<p id="summary">{{ status_badge(s.status) }} · {{ s.connector }}/{{ s.employer }} · pay period {{ s.period }} ·
{% if s.status == "unchanged" %}<b>nothing changed, nothing to validate</b>: the incremental extract received
no rows.{% else %}{{ s.checks }} checks, {{ s.failed_error }} error and {{ s.failed_warn }} warn checks failed
{%- endif %}
· checked {{ s.checked_at }}</p>
{% for b in s.blocking %}<p class="badge blocked">BLOCKED: {{ b }}</p>{% endfor %}
{% if chart %}<h2>History of {{ s.employer }} up to this night</h2>{{ chart }}{% endif %}
<table id="rows"><thead><tr><th>Entity</th><th>Rows received</th><th>Scope</th><th>Quarantined</th></tr></thead>
<tbody>{% for e in s.entities %}<tr><td>{{ e.entity }}</td><td>{{ e.rows }}</td><td>{{ e.scope }}</td>
<td>{{ e.quarantined }}</td></tr>{% else %}<tr><td colspan="4">No rows received.</td></tr>{% endfor %}</tbody></table>
{% for suite in s.suites %}
<h2 class="suite" id="suite-{{ suite.name }}">Suite <code>{{ suite.name }}</code>
{{ status_badge("ok" if suite.success else ("blocked" if suite.blocking else "partial")) }}</h2>
<p class="muted">{{ suite.statistics.evaluated_expectations }} expectations,
{{ suite.statistics.successful_expectations }} passed, {{ suite.statistics.unsuccessful_expectations }} failed
({{ "%.0f"|format(suite.statistics.success_percent or 0) }} %).</p>
<table class="results"><thead><tr><th>Result</th><th>Severity</th><th>Check</th><th>Column</th><th>Rows</th>
<th>Failing</th><th>Sample (masked)</th><th>Rule</th></tr></thead><tbody>
{% for r in suite.results %}<tr class="{{ 'passed' if r.success else 'failed-' ~ r.severity }}">
<td>{{ "passed" if r.success else "FAILED" }}</td><td>{{ r.severity }}</td>
<td><code>{{ r.check_name }}</code><br><small>{{ r.expectation_type }}</small></td>
<td>{{ r.column_name or "—" }}</td><td>{{ r.element_count }}</td><td>{{ r.unexpected_count }}</td>
<td>{{ r.unexpected_sample or "—" }}</td><td><small>{{ r.description }}</small></td></tr>{% endfor %}
</tbody></table>
{% endfor %}
{% endblock %}"""

_HISTORY = """{% extends "base" %}{% from "status" import status_badge %}{% block body %}
<p>Every validated night of {{ connector }}/{{ employer }} in the warehouse (<code>load_run</code>,
<code>dq_result</code>), oldest first in the chart, newest first in the table.</p>
{{ chart }}
<table id="history"><thead><tr><th>Run date</th><th>Period</th><th>Status</th><th>Rows received</th>
<th>Quarantined rows</th><th>Checks</th><th>Failed checks</th><th>Report</th></tr></thead><tbody>
{% for n in nights|reverse %}<tr class="{{ n.status }}"><td>{{ n.run_date }}</td><td>{{ n.period or "" }}</td>
<td>{{ status_badge(n.status) }}</td><td>{{ n.rows }}</td><td>{{ n.quarantined }}</td>
<td>{% if n.status == "unchanged" %}<span class="muted">nothing changed, nothing to validate</span>
{%- else %}{{ n.checks }}{% endif %}</td><td>{{ n.failed }}</td>
<td>{% if n.href %}<a href="{{ n.href }}">report</a>{% else %}—{% endif %}</td></tr>
{% else %}<tr><td colspan="8">No runs in the warehouse yet.</td></tr>{% endfor %}
</tbody></table>
{% endblock %}"""

STATUS_TEXT = {"blocked": "blocked", "partial": "partial", "warn": "warn", "ok": "ok",
               "unchanged": "nothing changed"}

_ENV: Any = None


def _env() -> Any:
    global _ENV
    if _ENV is None:
        import jinja2

        _ENV = jinja2.Environment(
            loader=jinja2.DictLoader({"base": _BASE, "status": _STATUS, "home": _HOME, "day": _DAY, "run": _RUN,
                                      "history": _HISTORY}),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=False)
        _ENV.globals["STATUS_TEXT"] = STATUS_TEXT
    return _ENV


def render(template: str, root: str, **values: Any) -> str:
    """Render one page. ``root`` is the relative path from the page to ``data/reports/`` ("" or "../../")."""
    return _env().get_template(template).render(root=root, **values)


def write_text(path: Path, text: str) -> None:
    """Write ``path`` atomically (validations of other employers run concurrently: no half pages)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def ensure_static(report_dir: Path) -> Path:
    """``static/dq.css`` under ``report_dir``: written once, rewritten only if its text changed.

    Returns the path. Runs never copy assets: a night adds one HTML page and one JSON file.
    """
    path = report_dir / STATIC_CSS_NAME
    try:
        if path.read_text(encoding="utf-8") == STATIC_CSS:
            return path
    except OSError:
        pass
    write_text(path, STATIC_CSS)
    return path


def root_of(page: Path, report_dir: Path) -> str:
    """The relative prefix from ``page`` back to ``report_dir`` ("" for a top-level page)."""
    depth = len(page.relative_to(report_dir).parts) - 1
    return "../" * depth


# ------------------------------------------------------------------------------ the chart

@dataclass(frozen=True)
class Night:
    """One validated night of one employer, as the history page and chart show it."""

    run_date: str
    period: str | None
    status: str  # blocked | partial | warn | ok | unchanged
    rows: int  # rows received, all entities
    quarantined: int  # rows held back
    checks: int  # dq_result rows
    failed: int  # failed checks (error and warn)
    href: str | None = None  # the run's report page, relative to the history page


_SERIES = (("rows", "rows received", "bar-rows"), ("quarantined", "quarantined rows", "bar-quarantined"),
           ("failed", "failed checks", "bar-failed"))


def history_chart(nights: Sequence[Night], width: int = 760) -> str:
    """Inline SVG: per night (oldest left) three small bar panels: rows, quarantined rows, failed checks.

    Each panel has its own scale (rows are hundreds, failed checks a handful) and states its maximum.
    A night with nothing to validate is a grey stub in every panel; a blocked night's row bar is dark red.
    Every bar carries ``data-night``/``data-value`` and a ``<title>`` tooltip. Returns markup (escaped).
    """
    from markupsafe import Markup, escape

    panel_h, gap, left, top = 70, 26, 110, 8
    height = top + len(_SERIES) * (panel_h + gap) + 14
    n = max(len(nights), 1)
    slot = (width - left - 10) / n
    bar_w = max(min(slot * 0.7, 40), 2)
    parts = [f'<svg id="history-chart" class="chart" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="rows, quarantined rows and failed checks '
             f'per night">']
    for i, (attr, label, css) in enumerate(_SERIES):
        y0 = top + i * (panel_h + gap)
        base = y0 + panel_h
        peak = max((getattr(night, attr) for night in nights), default=0)
        parts.append(f'<text class="title" x="4" y="{y0 + 12}">{escape(label)}</text>'
                     f'<text class="label" x="4" y="{y0 + 28}">max {peak}</text>'
                     f'<line class="axis" x1="{left}" y1="{base}" x2="{width - 6}" y2="{base}"/>')
        for j, night in enumerate(nights):
            value = getattr(night, attr)
            x = left + j * slot + (slot - bar_w) / 2
            h = 0.0 if peak == 0 else panel_h * value / peak
            cls = css
            if night.status == "unchanged":
                cls, h = "bar-unchanged", 3.0  # a visible stub: the night ran, nothing to validate
            else:
                h = max(h, 1.5) if value else 0.0  # a small non-zero value stays visible
                if attr == "rows" and night.status == "blocked":
                    cls = "bar-blocked"
            tip = f"{night.run_date}: {value} {label}" + (" (nothing changed)" if night.status == "unchanged" else "")
            parts.append(f'<rect class="bar {cls}" data-series="{attr}" data-night="{escape(night.run_date)}" '
                         f'data-value="{value}" x="{x:.1f}" y="{base - h:.1f}" width="{bar_w:.1f}" '
                         f'height="{h:.1f}"><title>{escape(tip)}</title></rect>')
    label_y = height - 4
    step = max(1, len(nights) // 8)  # at most ~8 date labels
    for j, night in enumerate(nights):
        if j % step == 0 or j == len(nights) - 1:
            x = left + j * slot + slot / 2
            parts.append(f'<text class="label" x="{x:.1f}" y="{label_y}" text-anchor="middle">'
                         f'{escape(night.run_date[5:])}</text>')
    parts.append("</svg>")
    parts.append('<p class="muted legend"><small>Per night, each panel on its own scale. Grey stub: nothing '
                 'changed, nothing to validate. Dark red rows: blocked, nothing loaded.</small></p>')
    return Markup("".join(parts))
