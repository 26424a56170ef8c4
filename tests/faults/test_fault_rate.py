"""The simulators' probabilistic fault mode (``POST /_sim/faults {"kind", "rate", "seed"}``) used by the soak."""

from __future__ import annotations

import json
from io import BytesIO

from payroll_simulators.faults import FaultMiddleware, FaultSwitch


def _app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"ok": true}']


def _call(app, path: str, method: str = "GET", body: dict | None = None) -> tuple[str, bytes]:
    data = json.dumps(body).encode() if body is not None else b""
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"] = status

    out = b"".join(app({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "",
                        "CONTENT_LENGTH": str(len(data)), "wsgi.input": BytesIO(data)}, start_response))
    return seen["status"], out


def _statuses(seed: int, n: int = 400) -> list[str]:
    app = FaultMiddleware(_app, FaultSwitch())
    status, _ = _call(app, "/_sim/faults", "POST", {"kind": "503", "rate": 0.25, "seed": seed})
    assert status.startswith("201")
    return [_call(app, f"/v2/employees/{i}")[0] for i in range(n)]


def test_rate_fails_about_that_share_of_requests_reproducibly_per_seed():
    first, again, other = _statuses(7), _statuses(7), _statuses(8)
    failed = sum(s.startswith("503") for s in first)
    assert 60 <= failed <= 140, failed  # 400 x 0.25 = 100 expected; bounds > 4 standard deviations
    assert first == again  # same seed, same sequence of requests: same faults
    assert first != other
    assert all(s.startswith(("200", "503")) for s in first)


def test_rate_faults_count_hits_and_stop_when_cleared():
    app = FaultMiddleware(_app, FaultSwitch())
    _call(app, "/_sim/faults", "POST", {"kind": "500", "rate": 1.0, "match": "employees"})
    assert _call(app, "/v2/employees")[0].startswith("500")
    assert _call(app, "/v2/wages")[0].startswith("200")  # match still applies
    [fault] = json.loads(_call(app, "/_sim/faults")[1])
    assert (fault["kind"], fault["hits"], fault["rate"]) == ("500", 1, 1.0)
    _call(app, "/_sim/faults", "DELETE")
    assert _call(app, "/v2/employees")[0].startswith("200")


def test_rate_outside_zero_to_one_is_refused():
    app = FaultMiddleware(_app, FaultSwitch())
    status, body = _call(app, "/_sim/faults", "POST", {"kind": "500", "rate": 2})
    assert status.startswith("400") and b"rate must be between 0 and 1" in body
