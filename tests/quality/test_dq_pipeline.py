"""The bad-record corpus through pipeline.validate() + pipeline.load() on DuckDB and PostgreSQL.

Per backend: a clean previous run, the corpus run (exact quarantine and dq_result rows, partial
load), then a run whose employee count drops by 72 % (blocked, nothing loaded). Afterwards every
report, dq_result/quarantine/load_run row, the CLI output and the captured logs are scanned for
11-proef-valid numbers. Great Expectations is imported once per module (≈5 s).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from dq_corpus import (
    CORPUS,
    CORPUS_DATE,
    CORPUS_ISSUES,
    CORPUS_SCOPE,
    EMPLOYER,
    EXPECTED_FAILED,
    EXPECTED_QUARANTINE,
    PREVIOUS,
    PREVIOUS_DATE,
    PREVIOUS_SCOPE,
)

from payroll_etl import pipeline
from payroll_etl.errors import DataQualityError
from payroll_etl.quality import report
from payroll_etl.quality.scan import scan_paths, scan_rows, scan_text
from payroll_etl.warehouse.load import connect, lit

BLOCKED_DATE = date(2025, 7, 15)
DQ_SETTINGS = {"max_drop_pct": 50}

# Checks that pass in the corpus run: generic ones from the model, and the volume checks.
NOT_NULL = {
    "employer": ["source_id", "valid_from", "name"],
    "employee": ["source_id", "valid_from", "employer_source_id", "last_name"],
    "employment": ["source_id", "valid_from", "employee_source_id", "start_date"],
    "salary": ["source_id", "valid_from", "employment_source_id", "gross_amount", "frequency"],
    "payroll_period": ["source_id", "valid_from", "year", "period_number", "frequency", "start_date", "end_date"],
    "payroll_result": ["source_id", "valid_from", "employment_source_id", "period_id", "run_id", "component",
                       "amount"],
}
DATES = {
    "employer": ["valid_from", "valid_to"],
    "employee": ["valid_from", "valid_to", "date_of_death"],
    "employment": ["valid_from", "valid_to", "start_date", "end_date"],
    "salary": ["valid_from", "valid_to"],
    "payroll_period": ["valid_from", "valid_to", "start_date", "end_date"],
    "payroll_result": ["valid_from", "valid_to"],
}
ROWS = {name: len(rows) for name, rows in CORPUS.items()}


def expected_dq_rows() -> Counter:
    """(entity, check_name, column, severity, success, element_count, unexpected_count) of the corpus run."""
    rows = []
    for entity, n in ROWS.items():
        generic = [("expect_compound_columns_to_be_unique", "source_id,valid_from")]
        generic += [("expect_column_values_to_not_be_null", c) for c in NOT_NULL[entity]]
        generic += [("expect_column_values_to_be_between", c) for c in DATES[entity]]
        for check, column in generic:
            if (entity, check, column) not in EXPECTED_FAILED:
                rows.append((entity, check, column, "error", True, n, 0))
    # volume: full-scope entities with a previous count; fewer than 10 rows last run -> warn
    for entity in ("employer", "employee", "employment"):
        rows.append((entity, "expect_table_row_count_to_be_between", None, "warn", True, ROWS[entity], 0))
    for (entity, check, column), (severity, elements, unexpected) in EXPECTED_FAILED.items():
        rows.append((entity, check, column, severity, False, elements, unexpected))
    return Counter(rows)


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture
def duckdb_url(tmp_path: Path) -> str:
    return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"


# postgres_url: the shared fixture in tests/conftest.py (fresh database; fails under CI=true when missing)


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request: pytest.FixtureRequest) -> str:
    return request.getfixturevalue(f"{request.param}_url")


def _stage(ctx: pipeline.RunContext, rows: dict, scope: dict, issues: list) -> None:
    """Staging files as pipeline.normalize writes them.

    The Arrow schema is relaxed to nullable on disk: Parquet refuses a null in a non-nullable column,
    and the corpus needs records with a missing required value (the not-null checks must see them).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    ctx.staging.mkdir(parents=True, exist_ok=True)
    for name, entity_rows in rows.items():
        table = pipeline.to_arrow(name, entity_rows, ctx.employer)
        table = table.cast(pa.schema([f.with_nullable(True) for f in table.schema]))
        pq.write_table(table, ctx.staging / f"entity={name}.parquet")
    (ctx.staging / "issues.json").write_text(json.dumps([i.__dict__ for i in issues]))
    (ctx.staging / "extract.json").write_text(json.dumps({"scope": scope, "state": {}}))


def _run_ctx(tmp_path: Path, url: str, day: date) -> pipeline.RunContext:
    return pipeline.RunContext(EMPLOYER, day, airflow_run_id=f"test__{day}", data_dir=tmp_path / "data",
                               warehouse_url=url, backfill=False, today=day)


def _query(url: str, sql: str) -> list[tuple]:
    db = connect(url)
    try:
        return db.query(sql)
    finally:
        db.close()


# --------------------------------------------------------------------------------- test

def test_corpus_quarantine_dq_result_blocking_and_no_bsn_in_clear(
        tmp_path: Path, warehouse_url: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    url = warehouse_url

    # 1. the previous, clean run
    previous = _run_ctx(tmp_path, url, PREVIOUS_DATE)
    _stage(previous, PREVIOUS, PREVIOUS_SCOPE, [])
    summary = pipeline.validate(previous, DQ_SETTINGS)
    assert summary["failed_error"] == 0 and summary["failed_warn"] == 0 and not summary["quarantined"]
    assert pipeline.load(previous)["status"] == "success"

    # 2. the corpus: exactly the expected quarantine and dq_result rows, the rest loads
    run = _run_ctx(tmp_path, url, CORPUS_DATE)
    _stage(run, CORPUS, CORPUS_SCOPE, CORPUS_ISSUES)
    summary = pipeline.validate(run, DQ_SETTINGS)
    assert not summary["blocking"]
    loaded = pipeline.load(run)
    assert loaded == {**loaded, "status": "partial", "quarantined": len(EXPECTED_QUARANTINE)}

    run_id = lit(run.load_run_id)
    quarantine = {(e, s, str(v), checks) for e, s, v, checks in _query(
        url, f"SELECT entity, source_id, valid_from, failing_checks FROM quarantine WHERE load_run_id = {run_id}")}
    assert quarantine == EXPECTED_QUARANTINE
    assert {r[0] for r in _query(url, f"SELECT DISTINCT landing_ref FROM quarantine WHERE load_run_id = {run_id}")} \
        == {run.landing_ref()}
    dq_rows = Counter((e, c, col, sev, bool(ok), int(n), int(u)) for e, c, col, sev, ok, n, u in _query(
        url, "SELECT entity, check_name, column_name, severity, success, element_count, unexpected_count "
             f"FROM dq_result WHERE load_run_id = {run_id}"))
    assert dq_rows == expected_dq_rows()
    samples = dict(((e, c, col), s) for e, c, col, s in _query(
        url, f"SELECT entity, check_name, column_name, unexpected_sample FROM dq_result WHERE load_run_id = {run_id}"))
    assert samples[("employee", "expect_bsn_to_pass_elfproef", "bsn")] == \
        "source_id: p-bsn-checksum, p-bsn-typo, p-bsn-zeros"
    assert samples[("employee", "expect_previous_records_to_be_present", "source_id")] == "source_id: p-gone, p-prev"
    assert samples[("employee", "expect_column_values_to_not_be_null", "source_id")] is None

    # quarantined records did not load; their siblings did
    for entity in ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result"):
        stored = {r[0] for r in _query(url, f"SELECT DISTINCT source_id FROM {entity}")}
        assert not stored & {s for e, s, _, _ in EXPECTED_QUARANTINE if e == entity}, entity
    assert {"p-ok1", "p-ok2", "p-teen", "p-old", "p-pc-ss", "p-bsn-missing"} <= {
        r[0] for r in _query(url, "SELECT source_id FROM employee")}
    assert {"m-ok1", "m-prev", "m-teen", "m-hours-50", "m-ptf-high"} <= {
        r[0] for r in _query(url, "SELECT source_id FROM employment")}
    (status, message), = _query(url, f"SELECT status, message FROM load_run WHERE load_run_id = {run_id}")
    assert (status, message) == ("partial", f"{len(EXPECTED_QUARANTINE)} records quarantined")

    # 3. the source answers partially: 72 % fewer employees -> blocked, nothing loads
    blocked = _run_ctx(tmp_path, url, BLOCKED_DATE)
    partial = {**CORPUS, "employee": CORPUS["employee"][:5]}
    _stage(blocked, partial, CORPUS_SCOPE, [])
    before = _query(url, "SELECT count(*) FROM employment")
    with pytest.raises(DataQualityError) as err:
        pipeline.validate(blocked, DQ_SETTINGS)
    reason = ("employee: expect_table_row_count_to_be_between failed: employee row count dropped from 18 to 5 "
              "(72 %, more than max_drop_pct=50): the source probably answered partially")
    assert str(err.value) == f"dq_corpus: data quality blocked the load: {reason}"
    (status, message), = _query(url, "SELECT status, message FROM load_run WHERE load_run_id = "
                                     f"{lit(blocked.load_run_id)}")
    assert (status, message) == ("failed", reason)
    volume = _query(url, "SELECT severity, success, element_count, unexpected_count FROM dq_result WHERE "
                         f"load_run_id = {lit(blocked.load_run_id)} AND entity = 'employee' "
                         "AND check_name = 'expect_table_row_count_to_be_between'")
    assert [(s, bool(ok), int(n), int(u)) for s, ok, n, u in volume] == [("error", False, 5, 13)]
    assert _query(url, "SELECT count(*) FROM employment") == before

    # reports: a page per run, one index per day across employers, the CLI
    reports = run.report_dir
    for day in (PREVIOUS_DATE, CORPUS_DATE, BLOCKED_DATE):
        assert (reports / "runs" / "loket_rest" / "dq_corpus" / day.isoformat() / "index.html").exists()
    day_page = (reports / f"index-{CORPUS_DATE}.html").read_text()
    assert "dq_corpus" in day_page and '<span class="badge partial">partial</span>' in day_page
    assert "p-bsn-checksum" in day_page
    assert '<span class="badge blocked">blocked</span>' in (reports / f"index-{BLOCKED_DATE}.html").read_text()
    assert report.main(["--url", url, "--runs", "2", "--details"]) == 0
    cli = capsys.readouterr().out
    assert "dq_corpus" in cli and "failed" in cli and "partial" in cli
    assert "employee.expect_bsn_to_pass_elfproef:bsn x3" in cli

    # 4. no BSN in clear anywhere a person could read it
    findings = scan_paths([reports, run.staging / "dq.json", blocked.staging / "dq.json"])
    for table in ("dq_result", "quarantine", "load_run"):
        findings += scan_rows(_query(url, f"SELECT * FROM {table}"), table)
    findings += scan_text(cli, "dq-report") + scan_text(caplog.text, "logs") + scan_text(str(err.value), "error")
    assert not findings, [str(f) for f in findings]
    assert "BLOCKED" in caplog.text and "quarantined" in caplog.text
