"""The go/no-go report of a shadow run: a new connector's canonical output beside what the publisher published.

Before an employer switches connector (Loket SOAP -> Loket REST, Nmbrs SOAP -> REST, or back), the
new connector runs in **shadow** (``shadow: true`` in its ``connectors:`` entry): extract, normalize
and validate into its own landing and staging, nothing into the warehouse. This module compares that
staging with the warehouse's open facts of the publishing connector, through the same identity rules
the cutover load uses (``payroll_etl.identity``):

* persons and employments matched (by person_key; by IKV number, else start date), unmatched on each
  side, ambiguous;
* field-by-field differences of matched employments: start and end date, IKV number, hours,
  full-time hours, part-time factor, current wage per component and frequency, wage and hours
  history in the range both sides state;
* differences that come from what each API can deliver (history one side states further back than
  the other) are listed apart as *API capability* and do not block;
* a value one side does not state at all (Loket REST gives no hours or wage for an ended
  employment) is API capability too: the cutover load emits no mutation for it either;
* a verdict: ``GO`` only without ambiguity, unmatched records or field differences.

Counts and masked examples only: ids are shortened (``mask_id``), amounts and hours appear as
differences, dates as a number of days; never a BSN, name, birth date or IBAN.

Called by a shadow run's load step (:func:`shadow_report`, the DAG writes the report every night),
and by ``make compare-connectors EMPLOYER=<key> [DATE=YYYY-MM-DD]`` (:func:`main`).
Reports: ``data/reports/connector_compare/employer=<key>/<run date>_<connector>.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from payroll_etl.compare_sides import EMPLOYMENT_FIELDS, Side, decimal_or_none, published_side, staged_side
from payroll_etl.identity import Match, mask_id, match_identities

EXAMPLES = 3


@dataclass
class Comparison:
    """The report's content (JSON-serialisable through :meth:`as_dict`)."""

    employer: str
    run_date: date
    new_connector: str
    old_connectors: list[str]
    match: Match
    differences: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    capability: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """``GO`` without reasons against the switch, else ``NO-GO``."""
        return "NO-GO" if self.reasons else "GO"

    @property
    def reasons(self) -> list[str]:
        """One line per blocking finding: nothing published, unmatched or ambiguous identities, differences."""
        c = self.match.counts()
        out = []
        if not self.old_connectors:
            out.append("nothing published to compare with")
        labels = {"ambiguous": "ambiguous", "new": "only in the new connector",
                  "unmatched_old": "only in the published data"}
        for what in ("persons", "employments"):
            for kind, label in labels.items():
                if c[what][kind]:
                    out.append(f"{what} {label}: {c[what][kind]}")
        out += [f"{k}: {len(v)} field difference(s)" for k, v in sorted(self.differences.items()) if v]
        return out

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-serialisable data: counts and masked examples only."""
        return {
            "employer": self.employer, "run_date": self.run_date.isoformat(), "new_connector": self.new_connector,
            "published_by": self.old_connectors, "verdict": self.verdict, "reasons": self.reasons,
            "identities": self.match.counts(),
            "ambiguous": {"persons": sorted(set(self.match.ambiguous_persons.values())),
                          "employments": sorted(set(self.match.ambiguous_employments.values()))},
            "differences": {k: {"count": len(v), "examples": v[:EXAMPLES]}
                            for k, v in sorted(self.differences.items())},
            "api_capability": {k: {"count": len(v), "examples": v[:EXAMPLES]}
                               for k, v in sorted(self.capability.items())},
            "rows": self.rows,
        }

    def markdown(self) -> str:
        """The report as Markdown (the ``.md`` next to the ``.json``)."""
        d = self.as_dict()
        ids = d["identities"]
        old = ", ".join(self.old_connectors) or "nothing"
        lines = [
            f"# Connector comparison: {self.employer}, {self.new_connector} (shadow) vs {old} (published)",
            "", f"Run date {self.run_date.isoformat()}. **Verdict: {self.verdict}**", "",
        ]
        lines += [f"* {r}" for r in self.reasons] or ["* no differences"]
        lines += ["", "| | matched | only in the new connector | only in the published one | ambiguous |",
                  "|---|---:|---:|---:|---:|"]
        for what in ("persons", "employments"):
            lines.append(f"| {what} | {ids[what]['matched']} | {ids[what]['new']} | {ids[what]['unmatched_old']} "
                         f"| {ids[what]['ambiguous']} |")
        lines.append(f"\nEmployments matched by IKV number: {ids['employments']['by_ikv']}, "
                     f"by start date: {ids['employments']['by_start_date']}.")
        for title, block in (("Field differences (block the switch)", d["differences"]),
                             ("API capability (expected, do not block)", d["api_capability"])):
            lines += ["", f"## {title}", ""]
            if not block:
                lines.append("none")
            for name, info in block.items():
                lines.append(f"* **{name}**: {info['count']}" + "".join(f"\n  * {e}" for e in info["examples"]))
        lines += ["", "## Rows per entity", "", "| entity | new connector | published |", "|---|---:|---:|"]
        for entity, counts in sorted(self.rows.items()):
            lines.append(f"| {entity} | {counts.get('new', 0)} | {counts.get('published', 0)} |")
        return "\n".join(lines) + "\n"


# --- comparing --------------------------------------------------------------------------------

def _on(versions: list[dict[str, Any]], day: date) -> dict[str, Any]:
    ordered = sorted(versions, key=lambda v: v["valid_from"] or date.min)
    in_effect = [v for v in ordered if (v["valid_from"] or date.min) <= day]
    return in_effect[-1] if in_effect else ordered[0]


def _describe(name: str, old: Any, new: Any) -> str:
    if old is None or new is None:
        return f"{name} only in the {'new connector' if old is None else 'published data'}"
    if isinstance(old, date) and isinstance(new, date):
        days = (new - old).days
        return f"{name} {abs(days)} days {'later' if days > 0 else 'earlier'} in the new connector"
    if isinstance(old, Decimal) and isinstance(new, Decimal):
        return f"{name} differs by {new - old:+f}"
    return f"{name} differs"


NOT_STATED_NEW, NOT_STATED_OLD = "not stated by the new connector", "not stated by the published connector"


EVENT_DATES = ("start_date", "end_date")  # a date on one side only is a difference (e.g. a leaver), not capability


def _field(out: Comparison, kind: str, tag: str, name: str, old: Any, new: Any) -> None:
    """One compared value: equal; missing on one side (API capability); or a difference."""
    if old == new:
        return
    if (new is None or old is None) and name not in EVENT_DATES:
        out.capability[NOT_STATED_NEW if new is None else NOT_STATED_OLD].append(f"{tag}: {name}")
    else:
        out.differences[kind].append(f"{tag}: {_describe(name, old, new)}")


def _history(label: str, old: dict[date, Any], new: dict[date, Any], cmp: Any, out: Comparison, tag: str,
             current: date | None) -> None:
    """Versions by valid_from: older than the other side's earliest is API capability (history depth),
    a version only one side states within the range both cover, or other values, is a difference.
    ``current`` (the version in effect on the run date) is compared on its own and skipped here."""
    if not old or not new:
        return
    overlap = max(min(old), min(new))
    for vf in sorted(set(old) | set(new)):
        if vf == current:
            continue
        if vf < overlap:
            side = "new connector" if vf in new else "published data"
            out.capability["history depth"].append(f"{tag}: {label} version of {vf.year} only in the {side}")
        elif vf not in old or vf not in new:
            out.differences[f"{label} history"].append(
                f"{tag}: a {label} version only in the {'new connector' if vf not in old else 'published data'}")
        elif cmp(old[vf]) != cmp(new[vf]):
            if any(v is None for v in cmp(new[vf])) or any(v is None for v in cmp(old[vf])):
                side = NOT_STATED_NEW if any(v is None for v in cmp(new[vf])) else NOT_STATED_OLD
                out.capability[side].append(f"{tag}: {label} of the version of {vf.year}")
            else:
                out.differences[f"{label} history"].append(f"{tag}: {label} version of {vf.year} differs")


def _in_effect(versions: dict[date, Any], day: date) -> date | None:
    return max((d for d in versions if d <= day), default=min(versions)) if versions else None


def compare_sides(employer: str, run_date: date, old: Side, new: Side, old_connectors: list[str]) -> Comparison:
    """Match and compare (pure): the :class:`Comparison` the reports render."""
    match = match_identities(old.persons, old.jobs(), new.persons, new.jobs())
    out = Comparison(employer, run_date, new.connector, old_connectors, match)
    for new_sid, old_key in sorted(match.employments.items()):
        new_versions = new.employment_versions[(new.connector, new_sid)]
        old_versions = old.employment_versions[old_key]
        tag = f"employment {mask_id(new_sid)}"
        a, b = _on(old_versions, run_date), _on(new_versions, run_date)
        for name in EMPLOYMENT_FIELDS:
            va, vb = a.get(name), b.get(name)
            if isinstance(va, (Decimal, float, int)) or isinstance(vb, (Decimal, float, int)):
                va, vb = decimal_or_none(va), decimal_or_none(vb)
            _field(out, name, tag, name, va, vb)
        hours_old = {v["valid_from"]: v for v in old_versions}
        hours_new = {v["valid_from"]: v for v in new_versions}
        _history("hours", hours_old, hours_new,
                 lambda v: (decimal_or_none(v["hours_per_week"]), decimal_or_none(v["part_time_factor"])), out,
                 tag, a["valid_from"] if a["valid_from"] == b["valid_from"] else None)
        old_wages, new_wages = old.wages.get(old_key, {}), new.wages.get((new.connector, new_sid), {})
        for component in sorted(set(old_wages) | set(new_wages)):
            ow, nw = old_wages.get(component, {}), new_wages.get(component, {})
            day_old, day_new = _in_effect(ow, run_date), _in_effect(nw, run_date)
            cur_old = (ow.get(day_old) if day_old is not None else None) or {}
            cur_new = (nw.get(day_new) if day_new is not None else None) or {}
            label = f"{tag} {component}"
            _field(out, "salary", label, "gross_amount", cur_old.get("gross_amount"), cur_new.get("gross_amount"))
            if cur_old and cur_new:
                _field(out, "salary frequency", label, "frequency", cur_old["frequency"], cur_new["frequency"])
            _history("wage", ow, nw, lambda v: (v["gross_amount"],), out, label,
                     day_old if day_old == day_new else None)
    out.rows = {e: {"new": new.rows.get(e, 0), "published": old.rows.get(e, 0)}
                for e in sorted(set(new.rows) | set(old.rows))}
    return out


# --- reports --------------------------------------------------------------------------------

def report_paths(report_dir: Path, employer: str, run_date: date, connector: str) -> tuple[Path, Path]:
    """(Markdown, JSON) report paths of one shadow run: ``connector_compare/employer=<key>/<date>_<connector>``."""
    base = report_dir / "connector_compare" / f"employer={employer}" / f"{run_date.isoformat()}_{connector}"
    return base.with_suffix(".md"), base.with_suffix(".json")


def _write(path: Path, text: str) -> None:
    from payroll_etl.landing import private_dir

    private_dir(path.parent)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def compare_run(url: str, employer_cfg: Any, run_date: date, staging: Path, report_dir: Path) -> Comparison:
    """Compare one shadow run's staging with the published facts; write the .md and .json reports."""
    from payroll_etl.warehouse.cutover import connectors_with_open_facts
    from payroll_etl.warehouse.engines import connect
    from payroll_etl.warehouse.migrate import upgrade

    upgrade(url)
    db = connect(url)
    try:
        others = employer_cfg.other_connectors or tuple(  # e.g. --connector for an employer without history
            r[0] for r in db.query("SELECT DISTINCT connector FROM employment WHERE employer = :employer "
                                   "AND connector <> :connector",
                                   {"employer": employer_cfg.employer, "connector": employer_cfg.connector}))
        published = connectors_with_open_facts(db, employer_cfg.employer, list(others))
    finally:
        db.close()
    result = compare_sides(employer_cfg.employer, run_date, published_side(url, employer_cfg.employer, published),
                           staged_side(employer_cfg.connector, staging), published)
    md, js = report_paths(report_dir, employer_cfg.employer, run_date, employer_cfg.connector)
    _write(md, result.markdown())
    _write(js, json.dumps(result.as_dict(), indent=2, sort_keys=True))
    return result


def shadow_report(ctx: Any) -> dict[str, Any]:
    """The load step of a shadow run (``pipeline.load``): publish nothing, write the comparison report.

    Returns a small XCom summary: verdict, reasons (counts only) and the report path.
    """
    result = compare_run(ctx.warehouse_url, ctx.employer, ctx.logical_date, ctx.staging, ctx.report_dir)
    md, _ = report_paths(ctx.report_dir, ctx.employer.employer, ctx.logical_date, ctx.employer.connector)
    return {"status": "shadow", "view": "shadow", "verdict": result.verdict, "reasons": result.reasons,
            "report": str(md)}


def main(argv: list[str] | None = None) -> int:
    """``make compare-connectors EMPLOYER=<key> [DATE=YYYY-MM-DD] [CONNECTOR=<shadow connector>]``."""
    from payroll_etl import settings
    from payroll_etl.config import load_config

    parser = argparse.ArgumentParser(description="Compare a shadow connector's run with the published facts.")
    parser.add_argument("employer")
    parser.add_argument("--date", help="run date of the shadow run (default: the latest one staged)")
    parser.add_argument("--connector", help="the shadow connector (default: the employer's non-publishing one)")
    args = parser.parse_args(argv)
    config = load_config()
    entries = [e for e in config.employers if e.employer == args.employer]
    if not entries:
        print(f"employer {args.employer!r} is not in the employer config", file=sys.stderr)
        return 2
    today = date.today()
    candidates = [e for e in entries if (args.connector and e.connector == args.connector)
                  or (not args.connector and not e.publishes_on(today))]
    if not candidates:
        print(f"{args.employer}: no shadow connector configured (add one to its connectors: with shadow: true)",
              file=sys.stderr)
        return 2
    cfg = candidates[-1]
    root = settings.staging_dir() / f"connector={cfg.connector}" / f"employer={cfg.employer}"
    runs = sorted(p.name.removeprefix("run_date=") for p in root.glob("run_date=*") if (p / "dq.json").exists())
    run = args.date or (runs[-1] if runs else None)
    if run is None or run not in runs:
        print(f"{args.employer}: no validated shadow run of {cfg.connector}"
              f"{' for ' + run if run else ''} under {root}; run its DAG first", file=sys.stderr)
        return 2
    result = compare_run(settings.warehouse_url(), cfg, date.fromisoformat(run), root / f"run_date={run}",
                         settings.reports_dir())
    print(result.markdown())
    print(f"report: {report_paths(settings.reports_dir(), cfg.employer, date.fromisoformat(run), cfg.connector)[0]}")
    return 0 if result.verdict == "GO" else 1


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["EMPLOYMENT_FIELDS", "Comparison", "Side", "compare_run", "compare_sides", "main", "published_side",
           "report_paths", "shadow_report", "staged_side"]
