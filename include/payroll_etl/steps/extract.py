"""The extract step: fetch from the source into the raw landing (``payroll_etl.landing``)."""

from __future__ import annotations

import json
import logging
from typing import Any

from payroll_etl import landing, refresh
from payroll_etl.connectors import connector_class
from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
from payroll_etl.errors import PeriodAlreadyLoaded
from payroll_etl.steps.context import RunContext, system_arrow_pool, write_private

log = logging.getLogger(__name__)


def _skip_if_period_loaded(ctx: RunContext) -> None:
    from payroll_etl.warehouse.engines import connect

    db = connect(ctx.warehouse_url)
    try:
        rows = db.query(
            "SELECT logical_date FROM load_run WHERE connector = :connector AND employer = :employer "
            "AND period_id = :period_id AND status IN ('success', 'partial') AND logical_date <> :logical_date "
            "ORDER BY logical_date LIMIT 1",
            {"connector": ctx.employer.connector, "employer": ctx.employer.employer,
             "period_id": ctx.period.id, "logical_date": ctx.logical_date})
    finally:
        db.close()
    if rows:
        raise PeriodAlreadyLoaded(
            f"{ctx.employer.employer}: pay period {ctx.period.id} was already loaded by the run of {rows[0][0]}; "
            f"skipping (set full_refresh to fetch it again)")


def extract(ctx: RunContext, credentials: SourceCredentials) -> dict[str, Any]:
    """Fetch from the source into the raw landing. Returns a small summary for XCom."""
    # records, not warehouse.load (which re-exports it): an extract task needs neither the loader nor
    # the merge/diff/cutover modules it imports
    from payroll_etl.warehouse.migrate import upgrade
    from payroll_etl.warehouse.records import previous_state

    system_arrow_pool()
    upgrade(ctx.warehouse_url)
    if ctx.is_backfill and not ctx.full_refresh:
        _skip_if_period_loaded(ctx)
    previous = previous_state(ctx.warehouse_url, ctx.employer.connector, ctx.employer.employer, ctx.load_run_id)
    # a shadow run and a cutover load need the whole stand: no watermark (a connector's watermarks from an
    # earlier spell would make the switch night incremental); a scheduled full refresh (full_refresh_every)
    # sees deletions the incremental mode cannot
    full, reason = refresh.decide(ctx.employer.full_refresh_every, previous, ctx.logical_date,
                                  forced=ctx.full_refresh or not ctx.publishes or ctx.cutover_pending(),
                                  backfill=ctx.is_backfill)
    if reason == "scheduled":
        log.info("%s: scheduled full refresh (full_refresh_every=%s, last %s)", ctx.employer.employer,
                 ctx.employer.full_refresh_every, previous.get(refresh.STATE_KEY) or "never")
    state = {} if full else previous
    request = ExtractRequest(ctx.employer, ctx.logical_date, ctx.period, full, state, ctx.is_backfill)
    connector = connector_class(ctx.employer.connector).from_credentials(credentials)
    writer = landing.LandingWriter(ctx.landing_root, ctx.employer.connector, ctx.employer.employer, ctx.logical_date)
    try:
        result = connector.extract(request, writer)
        pages = writer.commit()
    except BaseException:
        writer.abort()  # what was received stays on disk as failed-<attempt>.parquet
        raise
    finally:
        connector.close()
    stated = result.period
    summary = {"pages": pages, "calls": result.calls, "scope": result.scope, "bytes": writer.bytes,
               "period": (stated or request.period).id, "backfill": request.backfill, "full_refresh": full}
    source_period = None if stated is None else {
        "frequency": stated.frequency, "year": stated.year, "number": stated.number, "tail": stated.tail,
        "start": stated.start.isoformat(), "end": stated.end.isoformat()}
    state_out = dict(result.state or {})
    anchor = ctx.logical_date.isoformat() if full or reason == "first" else previous.get(refresh.STATE_KEY)
    if anchor:
        state_out[refresh.STATE_KEY] = anchor
    write_private(ctx.staging / "extract.json", json.dumps({**summary, "state": state_out,
                                                             "source_period": source_period}, sort_keys=True))
    ctx._stated = stated
    return summary
