"""The four steps of an employer run, as plain functions: extract, normalize, validate, load.

Airflow tasks call these (``payroll_etl.airflow.dag_factory``); so do the tests and the
benchmarks, without Airflow. Steps hand over through files under ``data/``, never through
XCom: XCom only carries small summaries (counts, paths), never payroll data.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from payroll_etl import landing, refresh, settings
from payroll_etl.config import EmployerConfig
from payroll_etl.connectors import connector_class
from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
from payroll_etl.errors import DataQualityError, PeriodAlreadyLoaded, RecordError
from payroll_etl.model import ENTITIES, arrow_schema
from payroll_etl.parsing import Parser, RecordIssue
from payroll_etl.periods import PayPeriod, period_for, period_for_logical_date

log = logging.getLogger(__name__)


@dataclass
class RunContext:
    employer: EmployerConfig
    logical_date: date
    airflow_run_id: str | None = None
    full_refresh: bool = False
    backfill: bool | None = None  # None: decided from the period (a past period is a backfill)
    data_dir: Path = field(default_factory=settings.data_dir)
    warehouse_url: str = field(default_factory=settings.warehouse_url)
    today: date = field(default_factory=date.today)

    _stated: PayPeriod | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def period(self) -> PayPeriod:
        """The pay period this run processes: the one the source stated during extract (its calendar and
        dates win, docs/benefits.md "Pay calendars"), else the configured calendar's period of the
        logical date."""
        stated = self.stated_period()
        if stated is not None:
            return stated
        return period_for_logical_date(self.logical_date, self.employer.payroll_frequency,  # type: ignore[arg-type]
                                       self.employer.four_week_tail)  # type: ignore[arg-type]

    def stated_period(self) -> PayPeriod | None:
        """The source's period recorded by this run's extract step (``extract.json``), if any."""
        if self._stated is None:
            path = self.staging / "extract.json"
            info = _read_json(path).get("source_period") if path.exists() else None
            if info:
                self._stated = PayPeriod(info["frequency"], int(info["year"]), int(info["number"]),
                                         date.fromisoformat(info["start"]), date.fromisoformat(info["end"]),
                                         info.get("tail") or self.employer.four_week_tail)
        return self._stated

    @property
    def is_backfill(self) -> bool:
        if self.backfill is not None:
            return self.backfill
        current = period_for(self.today, self.employer.payroll_frequency,  # type: ignore[arg-type]
                             self.employer.four_week_tail)  # type: ignore[arg-type]
        return self.period.end < current.start

    @property
    def publishes(self) -> bool:
        """True when this connector publishes the employer's facts for this logical date (config history).

        A run that does not publish is a **shadow run**: it extracts, normalizes and validates as usual
        into its own landing and staging (the shadow area), writes nothing to the warehouse, and its
        load step writes the connector comparison report instead (``payroll_etl.compare``,
        docs/migration.md). A retired connector's DAG triggered after its cutover is a shadow run too.
        """
        return self.employer.publishes_on(self.logical_date)

    def cutover_pending(self) -> bool:
        """True when another connector of the employer still has open facts: this load takes over."""
        from payroll_etl.warehouse.cutover import connectors_with_open_facts
        from payroll_etl.warehouse.load import connect

        if not self.employer.other_connectors or not self.publishes:
            return False
        db = connect(self.warehouse_url)
        try:
            return bool(connectors_with_open_facts(db, self.employer.employer, self.employer.other_connectors))
        finally:
            db.close()

    def is_past_view(self) -> bool:
        """True when this run sees the source as of a past date: a backfill of a past pay period, or any
        run whose logical date is older than a current-view load already in the warehouse (a replay).

        A past view adds period-scoped facts and never supersedes newer knowledge (docs/warehouse.md).
        Queries the warehouse's ``load_run``.
        """
        from payroll_etl.warehouse.load import newer_current_view

        if not self.publishes:  # a shadow run loads nothing at all
            return False
        if self.is_backfill:
            return True
        return newer_current_view(self.warehouse_url, self.employer.connector, self.employer.employer,
                                  self.logical_date, self.load_run_id) is not None

    @property
    def load_run_id(self) -> str:
        """Deterministic per (connector, employer, logical date): a re-run replaces its own run."""
        key = f"{self.employer.connector}/{self.employer.employer}/{self.logical_date.isoformat()}"
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    @property
    def landing_root(self) -> Path:
        return self.data_dir / "landing"

    @property
    def staging(self) -> Path:
        return (self.data_dir / "staging" / f"connector={self.employer.connector}"
                / f"employer={self.employer.employer}" / f"run_date={self.logical_date.isoformat()}")

    @property
    def report_dir(self) -> Path:
        return self.data_dir / "reports"

    def landing_ref(self) -> str:
        return str(self.landing_root / f"connector={self.employer.connector}" / f"employer={self.employer.employer}"
                   / f"entity=*/run_date={self.logical_date.isoformat()}")


def _system_arrow_pool() -> None:
    """Arrow allocations from the system allocator: the default (mimalloc) pool keeps freed Arrow
    buffers as resident memory, which for a 20,000-employee run is hundreds of MB of peak RSS. The
    steps run one per (Airflow task) process, so setting it process-wide here is fine."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


def _write_private(path: Path, text: str) -> None:
    landing.private_dir(path.parent)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------- extract

def _skip_if_period_loaded(ctx: RunContext) -> None:
    from payroll_etl.warehouse.load import connect, lit

    db = connect(ctx.warehouse_url)
    try:
        rows = db.query(
            f"SELECT logical_date FROM load_run WHERE connector = {lit(ctx.employer.connector)} "
            f"AND employer = {lit(ctx.employer.employer)} AND period_id = {lit(ctx.period.id)} "
            f"AND status IN ('success', 'partial') AND logical_date <> {lit(ctx.logical_date)} "
            f"ORDER BY logical_date LIMIT 1")
    finally:
        db.close()
    if rows:
        raise PeriodAlreadyLoaded(
            f"{ctx.employer.employer}: pay period {ctx.period.id} was already loaded by the run of {rows[0][0]}; "
            f"skipping (set full_refresh to fetch it again)")


def extract(ctx: RunContext, credentials: SourceCredentials) -> dict[str, Any]:
    """Fetch from the source into the raw landing. Returns a small summary for XCom."""
    from payroll_etl.warehouse.load import previous_state
    from payroll_etl.warehouse.migrate import upgrade

    _system_arrow_pool()
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
    _write_private(ctx.staging / "extract.json", json.dumps({**summary, "state": state_out,
                                                             "source_period": source_period}, sort_keys=True))
    ctx._stated = stated
    return summary


# --------------------------------------------------------------------------- normalize

def to_arrow(entity_name: str, rows: list[dict[str, Any]], employer: EmployerConfig):
    """Canonical Arrow table; a value of the wrong type names employer, entity, record and field."""
    import pyarrow as pa

    entity = ENTITIES[entity_name]
    # Staging columns are all nullable: a missing required value is a data-quality finding
    # (the record is quarantined), not a crash that names no record.
    schema = pa.schema([f.with_nullable(True) for f in arrow_schema(entity)])
    arrays = []
    for fld in schema:
        if fld.name == "connector":
            values = [employer.connector] * len(rows)
        elif fld.name == "employer":
            values = [employer.employer] * len(rows)
        else:
            values = [row.get(fld.name) for row in rows]
        try:
            arrays.append(pa.array(values, type=fld.type))
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            for row, value in zip(rows, values):
                try:
                    pa.array([value], type=fld.type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                    raise RecordError(employer.employer, entity_name, str(row.get("source_id")), fld.name,
                                      f"value is not a valid {fld.type}") from None
            raise RecordError(employer.employer, entity_name, "?", fld.name, "could not convert") from exc
    return pa.Table.from_arrays(arrays, schema=schema)


def normalize(ctx: RunContext) -> dict[str, Any]:
    import pyarrow.parquet as pq

    _system_arrow_pool()
    parser = Parser(ctx.employer.employer)
    pages = landing.LandedPages(ctx.landing_root, ctx.employer.connector, ctx.employer.employer, ctx.logical_date)
    cls = connector_class(ctx.employer.connector)
    # Connectors that can stream their bulk entity (``stream=True``) hand it over in chunks: it is
    # written chunk by chunk, so its rows are never all in memory as Python objects.
    streams = "stream" in inspect.signature(cls.normalize).parameters
    normalized = cls.normalize(pages if streams else iter(pages), ctx.employer, ctx.period, parser,
                               **({"stream": True} if streams else {}))
    counts = {}
    landing.private_dir(ctx.staging)
    for old in ctx.staging.glob("entity=*.parquet"):
        old.unlink()
    for name, chunks in normalized.chunks():
        path = ctx.staging / f"entity={name}.parquet"
        writer = None
        try:
            for rows in chunks:
                table = to_arrow(name, rows, ctx.employer)
                del rows
                if writer is None:  # an entity without rows gets no file, as when rows were lists
                    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
                    os.close(fd)
                    writer = pq.ParquetWriter(path, table.schema)
                    counts[name] = 0
                writer.write_table(table)
                counts[name] += table.num_rows
                del table
        finally:
            if writer is not None:
                writer.close()
        normalized.rows.pop(name, None)  # written: free the rows
    # after the streams: they add the issues they find; a connector may also copy the parser's issues
    # into ``normalized.issues`` (Loket REST does): each issue once
    issues = list(dict.fromkeys(parser.issues + normalized.issues))
    _write_private(ctx.staging / "issues.json",
                   json.dumps([issue.__dict__ for issue in issues], sort_keys=True))
    return {"rows": counts, "issues": len(issues)}


def read_staged(ctx: RunContext) -> dict[str, Any]:
    import pyarrow.parquet as pq

    return {p.stem.split("=", 1)[1]: pq.read_table(p) for p in sorted(ctx.staging.glob("entity=*.parquet"))}


# ---------------------------------------------------------------------------- validate

def _previous_run_info(ctx: RunContext) -> tuple[dict[str, int], dict[str, set[str]], dict[str, set[str]], bool]:
    """Row counts and source ids of the last successful run of this employer before this one, and
    whether this is the connector's first load of the employer (no successful run at all)."""
    from payroll_etl.warehouse.load import connect, lit

    db = connect(ctx.warehouse_url)
    try:
        rows = db.query(
            f"SELECT rows FROM load_run WHERE connector = {lit(ctx.employer.connector)} "
            f"AND employer = {lit(ctx.employer.employer)} AND status IN ('success', 'partial') "
            f"AND load_run_id <> {lit(ctx.load_run_id)} AND logical_date <= {lit(ctx.logical_date)} "
            f"ORDER BY logical_date DESC LIMIT 1")
        counts = json.loads(rows[0][0]).get("received", {}) if rows and rows[0][0] else {}
        first_run = not rows and not db.query(
            f"SELECT 1 FROM load_run WHERE connector = {lit(ctx.employer.connector)} "
            f"AND employer = {lit(ctx.employer.employer)} AND status IN ('success', 'partial') "
            f"AND load_run_id <> {lit(ctx.load_run_id)} LIMIT 1")
        keys: dict[str, set[str]] = {}
        for entity in ("employee", "employment"):
            found = db.query(
                f"SELECT DISTINCT source_id FROM {entity}_current WHERE connector = {lit(ctx.employer.connector)} "
                f"AND employer = {lit(ctx.employer.employer)}")
            keys[entity] = {r[0] for r in found}
        # still open: employment without end date; employee (alive) with an open employment or none at all.
        # The completeness check warns when one of these disappears from a full extract.
        c, e = lit(ctx.employer.connector), lit(ctx.employer.employer)
        open_keys = {
            "employment": {r[0] for r in db.query(
                f"SELECT DISTINCT source_id FROM employment_current WHERE connector = {c} AND employer = {e} "
                f"AND end_date IS NULL")},
            "employee": {r[0] for r in db.query(
                f"SELECT DISTINCT e.source_id FROM employee_current e WHERE e.connector = {c} AND e.employer = {e} "
                f"AND e.date_of_death IS NULL AND (EXISTS (SELECT 1 FROM employment_current m WHERE "
                f"m.connector = e.connector AND m.employer = e.employer AND m.employee_source_id = e.source_id "
                f"AND m.end_date IS NULL) OR NOT EXISTS (SELECT 1 FROM employment_current m WHERE "
                f"m.connector = e.connector AND m.employer = e.employer AND m.employee_source_id = e.source_id))")},
        }
    finally:
        db.close()
    return counts, keys, open_keys, first_run


def _headcount_baseline(ctx: RunContext) -> dict[str, Any] | None:
    """The employer's last known headcount under another connector (the run before a migration).

    Headcount = distinct employees whose current employment version was in service on the logical
    date of that connector's last successful run. None when no other connector loaded this employer.
    """
    from payroll_etl.warehouse.load import connect, lit

    db = connect(ctx.warehouse_url)
    try:
        runs = db.query(
            f"SELECT connector, logical_date FROM load_run WHERE employer = {lit(ctx.employer.employer)} "
            f"AND connector <> {lit(ctx.employer.connector)} AND status IN ('success', 'partial') "
            f"ORDER BY logical_date DESC, finished_at DESC LIMIT 1")
        if not runs:
            return None
        connector, as_of = runs[0][0], runs[0][1]
        as_of_sql = lit(as_of if isinstance(as_of, date) else date.fromisoformat(str(as_of)[:10]))
        found = db.query(
            f"SELECT COUNT(DISTINCT employee_source_id) FROM employment_current WHERE connector = {lit(connector)} "
            f"AND employer = {lit(ctx.employer.employer)} AND (start_date IS NULL OR start_date <= {as_of_sql}) "
            f"AND (end_date IS NULL OR end_date >= {as_of_sql})")
    finally:
        db.close()
    return {"connector": connector, "headcount": int(found[0][0] or 0), "as_of": str(as_of)[:10]}


def validate(ctx: RunContext, settings_dq: dict[str, Any] | None = None) -> dict[str, Any]:
    from payroll_etl.quality import DQContext, run_quality
    from payroll_etl.warehouse.load import LoadBatch, record_failed_run
    from payroll_etl.warehouse.migrate import upgrade

    os.environ.setdefault("TQDM_DISABLE", "1")  # no GE progress bars in task logs
    _system_arrow_pool()
    upgrade(ctx.warehouse_url)
    tables = read_staged(ctx)
    issues = [RecordIssue(**i) for i in _read_json(ctx.staging / "issues.json")] \
        if (ctx.staging / "issues.json").exists() else []
    extract_info = _read_json(ctx.staging / "extract.json") if (ctx.staging / "extract.json").exists() else {}
    previous_counts, previous_keys, previous_open, first_run = _previous_run_info(ctx) if ctx.publishes \
        else ({}, {}, {}, False)
    if ctx.is_past_view():  # a past period need not state who joined since: no "missing from source" warnings
        previous_open = {}
    stated = ctx.stated_period()
    dq_ctx = DQContext(ctx.employer, ctx.period, ctx.logical_date.isoformat(), ctx.report_dir, previous_counts,
                       previous_keys, extract_info.get("scope", {}), settings_dq or {}, previous_open,
                       (stated.frequency, stated.tail) if stated is not None else None,
                       first_run=first_run, baseline=_headcount_baseline(ctx) if first_run else None)
    outcome = run_quality(tables, issues, dq_ctx)
    quarantined = {e: [[k[0], k[1], checks] for k, checks in rows.items()] for e, rows in outcome.quarantined.items()}
    _write_private(ctx.staging / "dq.json", json.dumps({
        "results": [r.as_row() for r in outcome.results], "quarantined": quarantined,
        "blocking": outcome.blocking, "report": str(outcome.report_path) if outcome.report_path else None},
        sort_keys=True, default=str))
    summary = outcome.summary()
    _log_report_paths(ctx, outcome.report_path)
    if outcome.blocking and not ctx.publishes:  # a shadow run writes nothing to the warehouse
        raise DataQualityError(f"{ctx.employer.employer}: data quality blocked the shadow run of "
                               f"{ctx.employer.connector}: {outcome.blocking[0]}")
    if outcome.blocking:
        now = datetime.now(UTC)
        batch = LoadBatch(ctx.load_run_id, ctx.employer.dag_id, ctx.airflow_run_id, ctx.employer.connector,
                          ctx.employer.employer, ctx.logical_date, ctx.period, {}, status="failed",
                          message=outcome.blocking[0][:300], started_at=now, recorded_at=now,
                          dq_results=_dq_rows(ctx, [r.as_row() for r in outcome.results], now),
                          rows={"received": {n: t.num_rows for n, t in tables.items()}})
        record_failed_run(ctx.warehouse_url, batch)
        _write_history(ctx)
        raise DataQualityError(f"{ctx.employer.employer}: data quality blocked the load: {outcome.blocking[0]}")
    return summary


def _log_report_paths(ctx: RunContext, run_page: Path | None) -> None:
    """The task log's way to the reports: this run's page, the run date's index, the employer's history."""
    from payroll_etl.quality.index import day_page, history_page

    if run_page is not None:
        log.info("data-quality report of this run: %s", run_page.resolve().as_uri())
    log.info("data-quality index of run date %s (all employers): %s", ctx.logical_date.isoformat(),
             day_page(ctx.report_dir, ctx.logical_date.isoformat()).resolve().as_uri())
    log.info("data-quality history of %s: %s", ctx.employer.employer,
             history_page(ctx.report_dir, ctx.employer.connector, ctx.employer.employer).resolve().as_uri())


def _write_history(ctx: RunContext) -> None:
    """Rewrite the employer's history page from the warehouse, now that this run is recorded there.

    A report that cannot be written is a warning: the load is committed and the pages are rebuilt
    by the next run or by ``make dq-report --html``.
    """
    from payroll_etl.quality.history import write_history

    try:
        write_history(ctx.report_dir, ctx.warehouse_url, ctx.employer.connector, ctx.employer.employer,
                      ctx.logical_date.isoformat())
    except Exception as exc:  # noqa: BLE001 - reporting must not undo or fail a committed load
        log.warning("data-quality history of %s not written: %s", ctx.employer.employer, type(exc).__name__)


def _dq_rows(ctx: RunContext, rows: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    return [{"load_run_id": ctx.load_run_id, "connector": ctx.employer.connector, "employer": ctx.employer.employer,
             **r, "checked_at": now} for r in rows]


# -------------------------------------------------------------------------------- load

def _split_identities(table):
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


def post_load_steps() -> tuple[Any, ...]:
    """The steps a pipeline load runs inside its transaction after the mutation feed, in order:
    a full refresh ends what the source deleted (``warehouse.deletions``), then the benefit bases
    are recomputed (``benefits.mart.post_load_step``). The loader itself stores the sealed BSN/IBAN."""
    from payroll_etl.benefits import mart
    from payroll_etl.warehouse import deletions

    return (deletions.end_deleted_records, mart.post_load_step)


def load(ctx: RunContext) -> dict[str, Any]:
    import pyarrow as pa

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
    quarantine_rows = []
    received = {name: t.num_rows for name, t in tables.items()}
    for entity, rows in dq["quarantined"].items():
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
    """All four steps in one process (tests, benchmarks, replays)."""
    return {"extract": extract(ctx, credentials), "normalize": normalize(ctx),
            "validate": validate(ctx, settings_dq), "load": load(ctx)}
