"""The four steps of an employer run, as plain functions: extract, normalize, validate, load.

Airflow tasks call these (``payroll_etl.airflow.dag_factory``); so do the tests and the
benchmarks, without Airflow. Steps hand over through files under ``data/``, never through
XCom: XCom only carries small summaries (counts, paths), never payroll data.

The steps live in ``payroll_etl.steps`` (one module each) and are re-exported here, so
``from payroll_etl.pipeline import RunContext, to_arrow, validate`` keeps working; the load step and
its loader call stay in this module.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.steps.context import RunContext
from payroll_etl.steps.context import read_json as _read_json
from payroll_etl.steps.context import system_arrow_pool as _system_arrow_pool
from payroll_etl.steps.extract import extract
from payroll_etl.steps.normalize import normalize, read_staged, to_arrow
from payroll_etl.steps.validate import dq_rows as _dq_rows
from payroll_etl.steps.validate import validate
from payroll_etl.steps.validate import write_history as _write_history

if TYPE_CHECKING:
    import pyarrow as pa

    from payroll_etl.warehouse.batch import PostLoadStep


# -------------------------------------------------------------------------------- load

def _split_identities(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """employee table -> (warehouse table with person_key, identity table with the clear BSN)."""
    import pyarrow as pa

    from payroll_etl.privacy import person_key

    bsns = table.column("bsn").to_pylist()
    keys = [person_key(b) for b in bsns]
    identities = pa.table({"person_key": keys, "bsn": bsns, "iban": table.column("iban").to_pylist()})
    identities = identities.filter(pa.compute.is_valid(identities.column("person_key")))
    stored = table.drop_columns(["bsn", "iban"])
    stored = stored.add_column(stored.schema.get_field_index("employee_number") + 1, "person_key",
                               pa.array(keys, type=pa.string()))
    return stored, identities


def post_load_steps() -> tuple[PostLoadStep, ...]:
    """The steps a pipeline load runs inside its transaction after the mutation feed, in order:
    a full refresh ends what the source deleted (``warehouse.deletions``), then the benefit bases
    are recomputed (``benefits.mart.post_load_step``). The loader itself stores the sealed BSN/IBAN."""
    from payroll_etl.benefits import mart
    from payroll_etl.warehouse import deletions

    return (deletions.end_deleted_records, mart.post_load_step)


def _apply_quarantine(ctx: RunContext, tables: dict[str, Any], quarantined: dict[str, list[list[Any]]],
                      now: datetime) -> list[dict[str, Any]]:
    """Drop the quarantined versions from ``tables`` (in place); returns their ``quarantine`` rows.

    ``quarantined``: entity -> [[source_id, valid_from ISO or "None", [failing checks]]] (dq.json).
    """
    import pyarrow as pa

    quarantine_rows = []
    for entity, rows in quarantined.items():
        bad = {(sid, vf) for sid, vf, _ in rows}
        if entity in tables:
            t = tables[entity]
            keys = zip(t.column("source_id").to_pylist(), (str(v) for v in t.column("valid_from").to_pylist()))
            mask = pa.array([k not in bad for k in keys])
            tables[entity] = t.filter(mask)
        for sid, vf, checks in rows:
            quarantine_rows.append({
                "load_run_id": ctx.load_run_id, "connector": ctx.employer.connector,
                "employer": ctx.employer.employer, "entity": entity, "source_id": sid,
                "valid_from": date.fromisoformat(vf) if vf and vf not in ("None", "NaT") else None,
                "failing_checks": ",".join(sorted(set(checks))), "landing_ref": ctx.landing_ref(),
                "quarantined_at": now})
    return quarantine_rows


def load(ctx: RunContext) -> dict[str, Any]:
    """Load the validated staging into the warehouse in one transaction (a shadow run: the comparison
    report instead). Quarantined versions are left out and recorded; BSN/IBAN are sealed first.

    Returns a small summary for XCom: status, changes per table, quarantined count, view.
    """
    from payroll_etl.benefits import mart
    from payroll_etl.warehouse import identity
    from payroll_etl.warehouse.load import load as load_batch

    _system_arrow_pool()
    if not ctx.publishes:  # shadow run: publish nothing, compare with what the publisher published
        from payroll_etl.compare import shadow_report

        return shadow_report(ctx)
    config_error = mart.seed_config(ctx.warehouse_url)  # parameters/schemes: own short transaction

    tables = read_staged(ctx)
    dq = _read_json(ctx.staging / "dq.json")
    extract_info = _read_json(ctx.staging / "extract.json") if (ctx.staging / "extract.json").exists() else {}
    now = datetime.now(UTC)
    received = {name: t.num_rows for name, t in tables.items()}
    quarantine_rows = _apply_quarantine(ctx, tables, dq["quarantined"], now)
    sealed = None
    if "employee" in tables:
        tables["employee"], identities = _split_identities(tables["employee"])
        sealed = identity.seal_table(identities)  # the clear BSN never reaches the database
        del identities
    status = "partial" if quarantine_rows else "success"
    past_view = ctx.is_past_view()
    batch = identity.SealedLoadBatch(
        load_run_id=ctx.load_run_id, dag_id=ctx.employer.dag_id, airflow_run_id=ctx.airflow_run_id,
        connector=ctx.employer.connector, employer=ctx.employer.employer, logical_date=ctx.logical_date,
        period=ctx.period, tables=tables, identities=None, sealed_identities=sealed,
        dq_results=_dq_rows(ctx, dq["results"], now),
        quarantine=quarantine_rows, state=extract_info.get("state"), status=status,
        message=(f"{len(quarantine_rows)} records quarantined" if quarantine_rows else None),
        rows={"received": received, "quarantined": {e: len(r) for e, r in dq["quarantined"].items()},
              "full_refresh": bool(extract_info.get("full_refresh")), "backfill": bool(extract_info.get("backfill"))},
        started_at=now, recorded_at=now)
    batch.benefit_config_error = config_error
    batch.past_view = past_view
    batch.other_connectors = ctx.employer.other_connectors
    batch.landing_ref = ctx.landing_ref()
    if past_view:
        batch.message = "; ".join(m for m in (
            f"past view of pay period {ctx.period.id}: period facts loaded, newer knowledge kept", batch.message) if m)
    changes = load_batch(ctx.warehouse_url, batch, post_load_steps())
    _write_history(ctx)
    out = {"status": batch.status, "loaded": changes, "quarantined": len(batch.quarantine),
           "view": "past" if past_view else "current"}
    if "cutover" in batch.rows:
        out["cutover"] = batch.rows["cutover"]
    return out


def run_all(ctx: RunContext, credentials: SourceCredentials, settings_dq: dict[str, Any] | None = None) -> dict:
    """All four steps in one process (tests, benchmarks, replays); their summaries by step name."""
    return {"extract": extract(ctx, credentials), "normalize": normalize(ctx),
            "validate": validate(ctx, settings_dq), "load": load(ctx)}


__all__ = ["RunContext", "extract", "load", "normalize", "read_staged", "run_all", "to_arrow", "validate"]
