"""Fault mapping: 404, 5xx/timeouts/resets, 429, truncated pages."""

from __future__ import annotations

import json

import pytest
from loket_rest_support import MemorySink, connector, employer, page_number, request_for

from payroll_etl.config import EmployerConfig
from payroll_etl.errors import ConfigurationError, MalformedPayloadError, TransientSourceError
from payroll_etl.landing import LandingWriter

EMPLOYEES = r"GET /v2/providers/employers/[0-9a-f-]+/employees\?"


def _conn(sim, **extra):
    conn = connector(sim, **extra)
    waits: list[float] = []
    conn._sleep = waits.append  # record backoff instead of sleeping
    return conn, waits


def test_unknown_werkgever_id_is_a_configuration_error(sim):
    emp = EmployerConfig("ghost", "ghost", "loket_rest", ("00000000-0000-4000-8000-000000000000",), "loket_ghost")
    with pytest.raises(ConfigurationError, match="Werkgever ID"):
        connector(sim).extract(request_for(emp), MemorySink())


@pytest.mark.parametrize("kind", ["500", "503", "reset"])
def test_transient_failures_are_retried_with_backoff(sim, kind):
    sim.fault(EMPLOYEES, kind, times=2)
    conn, waits = _conn(sim)
    sink = MemorySink()
    conn.extract(request_for(employer()), sink)
    assert sink.entities()["employee"] == 1
    assert len(waits) == 2 and waits[1] > waits[0]


def test_timeouts_are_retried(sim):
    sim.fault(EMPLOYEES, "timeout", times=1, seconds=1.0)
    conn, waits = _conn(sim, timeout=0.3)
    sink = MemorySink()
    conn.extract(request_for(employer()), sink)
    assert sink.entities()["employee"] == 1 and len(waits) == 1


def test_persistent_5xx_fails_after_bounded_retries(sim):
    sim.fault(EMPLOYEES, "500", times=-1)
    conn, waits = _conn(sim, max_attempts=3)
    with pytest.raises(TransientSourceError, match="after 3 attempts") as err:
        conn.extract(request_for(employer()), MemorySink())
    assert err.value.retryable
    assert len(waits) == 2
    assert sum(v for k, v in sim.calls().items() if k.endswith("/employees")) == 3


def test_429_honours_retry_after(sim):
    sim.fault(EMPLOYEES, "429", times=2)
    conn, waits = _conn(sim, max_backoff=5)
    sink = MemorySink()
    conn.extract(request_for(employer()), sink)
    assert waits == [1.0, 1.0] and sink.entities()["employee"] == 1


def test_429_without_retry_after_backs_off(sim):
    sim.fault(EMPLOYEES, "429_no_retry_after", times=3)
    conn, waits = _conn(sim)
    sink = MemorySink()
    conn.extract(request_for(employer()), sink)
    assert len(waits) == 3 and waits == sorted(waits) and sink.entities()["employee"] == 1


def test_truncated_page_names_the_url_and_earlier_pages_stay_landed(sim, tmp_path):
    sim.fault(EMPLOYEES + r".*pageNumber=2", "truncate")
    writer = LandingWriter(tmp_path, "loket_rest", "bakkerij_de_vries", request_for(employer()).logical_date)
    conn = connector(sim, page_size=20)
    with pytest.raises(MalformedPayloadError) as err:
        conn.extract(request_for(employer()), writer)
    assert "pageNumber=2" in str(err.value) and "/employees" in str(err.value)
    writer.abort()
    import pyarrow.parquet as pq

    failed = list(tmp_path.glob("connector=loket_rest/employer=bakkerij_de_vries/entity=employee/*/failed-*.parquet"))
    rows = pq.read_table(failed[0]).to_pylist()
    assert [page_number(r["url"]) for r in rows] == [1, 2]
    assert len(json.loads(rows[0]["payload"])["_embedded"]) == 20  # the good page is intact
    assert list(tmp_path.glob("**/entity=employer/*/failed-*.parquet"))  # and so is what came before


def test_malformed_body_is_landed_then_refused(sim):
    sim.fault(r"GET /v2/providers/employers/[0-9a-f-]+/payrolladministrations", "malformed")
    sink = MemorySink()
    with pytest.raises(MalformedPayloadError, match="payrolladministrations"):
        connector(sim).extract(request_for(employer()), sink)
    assert sink.pages[-1].entity == "payroll_administration" and sink.pages[-1].payload.startswith("<<")
