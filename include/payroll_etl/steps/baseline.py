"""What the warehouse knows of this employer's earlier runs: the baselines of the validate step's checks."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from payroll_etl.steps.context import RunContext


def previous_run_info(ctx: RunContext) -> tuple[dict[str, int], dict[str, set[str]], dict[str, set[str]], bool]:
    """Row counts and source ids of the last successful run of this employer before this one, and
    whether this is the connector's first load of the employer (no successful run at all)."""
    from payroll_etl.warehouse.engines import connect

    scope = {"connector": ctx.employer.connector, "employer": ctx.employer.employer}
    db = connect(ctx.warehouse_url)
    try:
        rows = db.query(
            "SELECT rows FROM load_run WHERE connector = :connector AND employer = :employer "
            "AND status IN ('success', 'partial') AND load_run_id <> :run AND logical_date <= :logical_date "
            "ORDER BY logical_date DESC LIMIT 1", {**scope, "run": ctx.load_run_id, "logical_date": ctx.logical_date})
        counts = json.loads(rows[0][0]).get("received", {}) if rows and rows[0][0] else {}
        first_run = not rows and not db.query(
            "SELECT 1 FROM load_run WHERE connector = :connector AND employer = :employer "
            "AND status IN ('success', 'partial') AND load_run_id <> :run LIMIT 1", {**scope, "run": ctx.load_run_id})
        keys: dict[str, set[str]] = {}
        for entity in ("employee", "employment"):
            found = db.query(f"SELECT DISTINCT source_id FROM {entity}_current "
                             "WHERE connector = :connector AND employer = :employer", scope)
            keys[entity] = {r[0] for r in found}
        # still open: employment without end date; employee (alive) with an open employment or none at all.
        # The completeness check warns when one of these disappears from a full extract.
        open_keys = {
            "employment": {r[0] for r in db.query(
                "SELECT DISTINCT source_id FROM employment_current WHERE connector = :connector "
                "AND employer = :employer AND end_date IS NULL", scope)},
            "employee": {r[0] for r in db.query(
                "SELECT DISTINCT e.source_id FROM employee_current e WHERE e.connector = :connector "
                "AND e.employer = :employer "
                "AND e.date_of_death IS NULL AND (EXISTS (SELECT 1 FROM employment_current m WHERE "
                "m.connector = e.connector AND m.employer = e.employer AND m.employee_source_id = e.source_id "
                "AND m.end_date IS NULL) OR NOT EXISTS (SELECT 1 FROM employment_current m WHERE "
                "m.connector = e.connector AND m.employer = e.employer AND m.employee_source_id = e.source_id))",
                scope)},
        }
    finally:
        db.close()
    return counts, keys, open_keys, first_run


def headcount_baseline(ctx: RunContext) -> dict[str, Any] | None:
    """The employer's last known headcount under another connector (the run before a migration).

    Headcount = distinct employees whose current employment version was in service on the logical
    date of that connector's last successful run. None when no other connector loaded this employer.
    """
    from payroll_etl.warehouse.engines import connect

    db = connect(ctx.warehouse_url)
    try:
        runs = db.query(
            "SELECT connector, logical_date FROM load_run WHERE employer = :employer AND connector <> :connector "
            "AND status IN ('success', 'partial') ORDER BY logical_date DESC, finished_at DESC LIMIT 1",
            {"employer": ctx.employer.employer, "connector": ctx.employer.connector})
        if not runs:
            return None
        connector, as_of = runs[0][0], runs[0][1]
        as_of_day = as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)[:10])
        found = db.query(
            "SELECT COUNT(DISTINCT employee_source_id) FROM employment_current WHERE connector = :connector "
            "AND employer = :employer AND (start_date IS NULL OR start_date <= :as_of) "
            "AND (end_date IS NULL OR end_date >= :as_of)",
            {"connector": connector, "employer": ctx.employer.employer, "as_of": as_of_day})
    finally:
        db.close()
    return {"connector": connector, "headcount": int(found[0][0] or 0), "as_of": str(as_of)[:10]}
