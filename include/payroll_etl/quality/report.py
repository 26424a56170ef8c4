"""Terminal summary of the latest runs per employer, from the warehouse (``make dq-report``).

    python -m payroll_etl.quality.report [--url URL] [--employer KEY] [--runs N] [--details] [--html]

Reads ``load_run``, ``dq_result`` and ``quarantine`` only: check names, counts and masked
samples, never personal data. A run that received no rows and ran no check (an incremental
night without changes) is shown as "nothing changed, nothing to validate". ``--html`` also
rebuilds every employer's history page under ``data/reports/`` from the warehouse.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from payroll_etl.warehouse.db import in_list
from payroll_etl.warehouse.engines import connect


def latest_runs(url: str, employer: str | None = None, runs: int = 1) -> list[dict[str, Any]]:
    """The ``runs`` latest load_run rows per (connector, employer), with failed checks and quarantine counts."""
    db = connect(url)
    try:
        where = "WHERE employer = :employer" if employer else ""
        rows = db.query(
            "SELECT load_run_id, connector, employer, logical_date, period_id, status, message, rows, finished_at "
            f"FROM load_run {where} ORDER BY connector, employer, logical_date DESC",
            {"employer": employer} if employer else None)
        picked: list[dict[str, Any]] = []
        seen: dict[tuple[str, str], int] = {}
        for r in rows:
            key = (r[1], r[2])
            if seen.get(key, 0) >= runs:
                continue
            seen[key] = seen.get(key, 0) + 1
            picked.append({"load_run_id": r[0], "connector": r[1], "employer": r[2], "logical_date": str(r[3]),
                           "period": r[4], "status": r[5], "message": r[6],
                           "rows": json.loads(r[7]) if r[7] else {}, "finished_at": r[8]})
        if not picked:
            return []
        ids, id_params = in_list("run", [p["load_run_id"] for p in picked])
        failed: dict[str, list[tuple]] = {}
        for r in db.query(
                "SELECT load_run_id, entity, check_name, column_name, severity, unexpected_count, unexpected_sample "
                f"FROM dq_result WHERE load_run_id IN {ids} AND NOT success "
                "ORDER BY load_run_id, severity, entity, check_name, column_name", id_params):
            failed.setdefault(r[0], []).append(r[1:])
        checks = {r[0]: r[1] for r in db.query(
            f"SELECT load_run_id, count(*) FROM dq_result WHERE load_run_id IN {ids} GROUP BY load_run_id",
            id_params)}
        quarantined: dict[str, dict[str, int]] = {}
        for r in db.query(f"SELECT load_run_id, entity, count(*) FROM quarantine WHERE load_run_id IN {ids} "
                          "GROUP BY load_run_id, entity ORDER BY entity", id_params):
            quarantined.setdefault(r[0], {})[r[1]] = int(r[2])
    finally:
        db.close()
    for p in picked:
        p["checks"] = int(checks.get(p["load_run_id"], 0))
        p["failed"] = failed.get(p["load_run_id"], [])
        p["quarantined"] = quarantined.get(p["load_run_id"], {})
    return picked


def _nothing_to_validate(run: dict[str, Any]) -> bool:
    return run["checks"] == 0 and not sum((run["rows"].get("received") or {}).values())


def render(runs: list[dict[str, Any]], details: bool = False) -> str:
    """The terminal table of ``latest_runs`` output; ``details`` adds one line per failed check."""
    if not runs:
        return "No runs in the warehouse yet."
    header = ("employer", "connector", "run date", "period", "status", "checks", "err", "warn", "quarantined")
    table = [header]
    for r in runs:
        n_err = sum(1 for f in r["failed"] if f[3] == "error")
        n_warn = sum(1 for f in r["failed"] if f[3] == "warn")
        quarantined = ", ".join(f"{e} {n}" for e, n in r["quarantined"].items()) or "-"
        table.append((r["employer"], r["connector"], r["logical_date"], str(r["period"] or ""), r["status"],
                      "-" if _nothing_to_validate(r) else str(r["checks"]), str(n_err), str(n_warn), quarantined))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in runs:
        if r["status"] in ("failed", "partial") and r["message"]:
            lines.append(f"{r['employer']} {r['logical_date']}: {r['message']}")
        elif r["status"] == "success" and _nothing_to_validate(r):
            lines.append(f"{r['employer']} {r['logical_date']}: nothing changed, nothing to validate")
        if details:
            for entity, check, column, severity, count, sample in r["failed"]:
                col = f":{column}" if column else ""
                lines.append(f"  {r['employer']} {r['logical_date']} {severity:5} {entity}.{check}{col} x{count}"
                             + (f"  [{sample}]" if sample else ""))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """CLI: print the latest runs' data-quality summary (``--html``: rebuild the history pages too). Returns the
    exit code: 0, or 1 when the warehouse cannot be read (the exception's type only is printed)."""
    from payroll_etl import settings

    parser = argparse.ArgumentParser(prog="python -m payroll_etl.quality.report", description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="warehouse URL (default: payroll_etl.settings.warehouse_url())")
    parser.add_argument("--employer", default=None, help="only this employer key")
    parser.add_argument("--runs", type=int, default=1, help="latest N runs per employer (default 1)")
    parser.add_argument("--details", action="store_true", help="list every failed check with its masked sample")
    parser.add_argument("--html", action="store_true",
                        help="also rebuild the HTML history page of every employer under data/reports/")
    args = parser.parse_args(argv)
    url = args.url or settings.warehouse_url()
    try:
        runs = latest_runs(url, args.employer, args.runs)
    except Exception as exc:  # noqa: BLE001 - a missing or unmigrated warehouse is a message, not a traceback
        print(f"cannot read the warehouse: {type(exc).__name__}", file=sys.stderr)
        return 1
    print(render(runs, args.details))
    report_dir = settings.data_dir() / "reports"
    if args.html:
        from payroll_etl.quality.history import write_all_histories

        write_all_histories(report_dir, url)
    if (report_dir / "index.html").exists():
        print(f"\nHTML reports (offline, no external resources): {(report_dir / 'index.html').resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
