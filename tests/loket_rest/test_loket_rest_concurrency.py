"""Per-employee calls on ``options.max_concurrent_requests`` threads: the same landing and output as
one after another, one token refresh for many calls refused at once, 429s honoured per call."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from loket_rest_support import LOGICAL_DATE, MemorySink, code_flow, connector, file_store, request_for, wid

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.loket_rest import LoketRestConnector
from payroll_etl.connectors.loket_rest.settings import Options
from payroll_etl.errors import TransientSourceError
from payroll_etl.parsing import Parser

BSN = r"GET /v2/providers/employers/employees/[0-9a-f-]+/citizenservicenumber"


def _employer(workers: int | None, key: str = "bakkerij_de_vries") -> EmployerConfig:
    options = {} if workers is None else {"max_concurrent_requests": workers}
    return EmployerConfig(key, key, "loket_rest", (wid(key),), f"loket_{key}", payroll_frequency="month",
                          options=options)


def _landed(sink: MemorySink) -> list[tuple[str, str, str]]:
    return [(p.entity, p.url, p.payload) for p in sink.pages]


def _extract(sim: Any, workers: int | None, sink: MemorySink | None = None, **kwargs: Any) -> tuple[MemorySink, Any]:
    sink = sink if sink is not None else MemorySink()
    emp = _employer(workers)
    conn = kwargs.pop("conn", None) or connector(sim)
    result = conn.extract(request_for(emp), sink)
    return sink, result


def _normalized(sink: MemorySink, workers: int) -> dict[str, list[dict[str, Any]]]:
    emp = _employer(workers)
    out = LoketRestConnector.normalize(sink.pages, emp, request_for(emp, LOGICAL_DATE).period, Parser(emp.employer))
    assert out.issues == []
    return out.rows


def test_the_option_defaults_to_four_and_one_is_serial():
    assert Options().max_concurrent_requests == 4
    assert _employer(None).options == Options()
    assert _employer(1).options.max_concurrent_requests == 1
    with pytest.raises(Exception, match="max_concurrent_requests"):
        _employer(0)


def test_four_threads_land_and_normalize_exactly_as_one(sim):
    serial, serial_result = _extract(sim, 1)
    parallel, parallel_result = _extract(sim, 4)
    assert _landed(parallel) == _landed(serial)
    assert parallel.meta == serial.meta
    assert parallel.entities()["citizen_service_number"] == 60
    assert parallel_result.calls == serial_result.calls == len(serial.pages)
    assert parallel_result.state == serial_result.state
    assert _normalized(parallel, 4) == _normalized(serial, 1)


class _ExpireOnFirstBsn(MemorySink):
    """Expires every access token at the simulator once the first BSN lands: the calls in flight then
    all get 401 at about the same time."""

    def __init__(self, sim: Any):
        super().__init__()
        self.sim, self.done = sim, False

    def write(self, entity: str, payload: str, **kwargs: Any) -> None:
        super().write(entity, payload, **kwargs)
        if entity == "citizen_service_number" and not self.done:
            self.done = True
            self.sim.app.expire_tokens()


def test_tokens_refused_mid_run_are_refreshed_once_for_all_threads(sim, tmp_path):
    store = file_store(tmp_path, code_flow(sim.url))
    sink, _ = _extract(sim, 8, _ExpireOnFirstBsn(sim), conn=connector(sim, store, password_grant=False))
    assert sim.app.oauth.refreshes == 1
    assert sink.entities()["citizen_service_number"] == 60
    serial, _ = _extract(sim, 1)
    assert [p for p in _landed(sink) if p[0] != "errors"] == _landed(serial)


def test_429_honours_retry_after_per_call_and_keeps_the_order(sim):
    sim.fault(BSN, "429", times=3)
    conn = connector(sim, max_backoff=5)
    waits: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            waits.append(seconds)

    conn._sleep = record
    sink, _ = _extract(sim, 4, conn=conn)
    assert waits == [1.0, 1.0, 1.0]
    assert sink.entities()["errors"] == 3
    serial, _ = _extract(sim, 1)
    assert [p for p in _landed(sink) if p[0] != "errors"] == _landed(serial)


def test_a_failing_call_raises_its_error_and_nothing_after_it_is_fetched(sim):
    sim.fault(BSN, "500", times=-1)
    conn = connector(sim, max_attempts=2)
    conn._sleep = lambda seconds: None
    sink = MemorySink()
    with pytest.raises(TransientSourceError, match="after 2 attempts"):
        _extract(sim, 4, sink, conn=conn)
    assert "wage" not in sink.entities() and "citizen_service_number" not in sink.entities()
    assert 2 <= sum(v for k, v in sim.calls().items() if k.endswith("/citizenservicenumber")) <= 2 * 8


def test_the_proxy_environment_is_read_once_per_extract(monkeypatch, tmp_path):
    from payroll_etl.connectors.loket_rest.auth import LoketTokens
    from payroll_etl.connectors.loket_rest.client import LoketRestClient
    from payroll_etl.connectors.transport.tokens import MemoryTokenStore

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "internal.example")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    tokens = LoketTokens("https://oauth.loket.nl", "client", "secret", MemoryTokenStore())
    client = LoketRestClient("https://api.loket.nl", tokens)
    assert client.session.proxies.get("https") == "http://proxy.example:3128"
    assert client.session.verify == str(tmp_path / "ca.pem") and client.session.trust_env is False
    assert "https" not in LoketRestClient("https://internal.example", tokens).session.proxies
