"""Loket REST lands its 4xx/5xx error bodies under ``errors``, as the SOAP connectors do.

Against the simulator's fault injection (``include/payroll_simulators/faults.py``): every failed
attempt's body is kept in the landing (committed with the run when a retry succeeds, in
``failed-<attempt>.parquet`` when the run fails), without the bearer token or client secret, and
normalize ignores it.
"""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from loket_rest_support import DEMO_CLIENT, connector, employer, request_for

from payroll_etl.errors import ConfigurationError
from payroll_etl.landing import ERRORS_ENTITY, LandedPages, LandingWriter, partition_dir
from payroll_etl.parsing import Parser

EMPLOYEES = r"GET /v2/providers/employers/[0-9a-f-]+/employees\?"


def _landed_rows(tmp_path, pattern: str) -> list[dict]:
    rows = []
    for path in sorted(tmp_path.rglob(pattern)):
        rows += pq.read_table(path).to_pylist()
    return rows


def _errors_dir(tmp_path, emp, request):
    return partition_dir(tmp_path, "loket_rest", emp.employer, ERRORS_ENTITY, request.logical_date)


def _run_with_fault(sim, tmp_path, kind: str, times: int):
    """A committed extract of the demo employer with ``kind`` injected on the employees call;
    returns (employer, request, connector, landed error rows)."""
    emp, request = employer(), request_for(employer())
    sim.fault(EMPLOYEES, kind, times=times)
    writer = LandingWriter(tmp_path, "loket_rest", emp.employer, request.logical_date)
    conn = connector(sim)
    conn.extract(request, writer)
    writer.commit()
    return emp, request, conn, pq.read_table(_errors_dir(tmp_path, emp, request) / "part-0.parquet").to_pylist()


def test_retried_5xx_bodies_are_committed_with_the_run(sim, tmp_path):
    emp, request, conn, errors = _run_with_fault(sim, tmp_path, "503", times=2)
    assert [e["status"] for e in errors] == [503, 503]
    assert all("/employees" in e["url"] for e in errors)
    assert json.loads(errors[0]["payload"]) == {"messages": [{"description": "Simulated server error"}]}
    meta = json.loads(errors[0]["meta"])
    assert meta["activity"] == "GetEmployeesByEmployerId" and meta["entity"] == "employee" and meta["status"] == 503
    # the run itself is complete, and normalize reads past the error pages
    pages = LandedPages(tmp_path, "loket_rest", emp.employer, request.logical_date)
    assert ERRORS_ENTITY in pages.entities
    out = type(conn).normalize(pages, emp, request.period, Parser(emp.employer), stream=True)
    assert len(out.rows["employee"]) > 10


def test_a_4xx_that_fails_the_run_keeps_its_body_in_the_failed_attempt(sim, tmp_path):
    emp = employer()
    emp = type(emp)("ghost", "ghost", "loket_rest", ("00000000-0000-4000-8000-000000000000",), "loket_ghost")
    request = request_for(emp)
    writer = LandingWriter(tmp_path, "loket_rest", emp.employer, request.logical_date)
    with pytest.raises(ConfigurationError, match="Werkgever ID"):
        try:
            connector(sim).extract(request, writer)
        except BaseException:
            writer.abort()
            raise
    failed = list(_errors_dir(tmp_path, emp, request).glob("failed-*.parquet"))
    assert len(failed) == 1
    (row,) = pq.read_table(failed[0]).to_pylist()
    assert row["status"] == 404 and row["source_id"] == "00000000-0000-4000-8000-000000000000"
    assert json.loads(row["payload"])["messages"][0]["description"] == "Employer not found"
    assert not list(_errors_dir(tmp_path, emp, request).glob("part-*.parquet"))  # readers never see it


def test_an_error_body_echoing_the_bearer_token_is_landed_redacted(sim, tmp_path):
    _, _, conn, errors = _run_with_fault(sim, tmp_path, "502_echo_auth", times=1)
    token = conn._access
    assert token and len(token) > 10
    (echo,) = [e for e in errors if e["status"] == 502]
    assert json.loads(echo["payload"])["request"]["headers"]["Authorization"] == "Bearer [redacted]"
    for row in _landed_rows(tmp_path, "*.parquet"):  # no file of the run holds a credential
        text = json.dumps(row, default=str)
        assert token not in text and DEMO_CLIENT[1] not in text
