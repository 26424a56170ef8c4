"""API calls per employee in a nightly Nmbrs run, counted by the simulator (``/_sim/calls``).

Drives the production connector against the simulator, so it lives beside the benchmarks, not in
the simulator package (the simulators import nothing from ``payroll_etl``). ``calls_per_employee()``
is shared by the contract test (tests/nmbrs) and ``make bench`` (``bench_nmbrs.py``,
``bench_nmbrs_rest.py``); :class:`MemorySink` is the in-memory landing sink of the Nmbrs tests. A nightly run is
measured in steady state: a first extract (not counted) records which payroll runs were already
fetched, as the warehouse's stored watermarks would; the counted run then makes the calls every
night makes. Only SOAP calls count (WSDL downloads are not API calls).
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
from payroll_etl.connectors.nmbrs import NmbrsConnector
from payroll_etl.periods import period_for
from payroll_simulators.nmbrs.app import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME

DEMO_EMPLOYER = EmployerConfig("transport_oost", "Transport Oost", "nmbrs", ("Transport Oost B.V.",),
                               "nmbrs_transport_oost")
NIGHTLY_DATE = date(2026, 11, 23)


@dataclass
class MemorySink:
    """A LandingSink that keeps pages in memory."""

    pages: list[dict[str, Any]] = field(default_factory=list)

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        self.pages.append({"entity": entity, "payload": payload, "url": url, "source_id": source_id,
                           "status": status, "content_type": content_type, "meta": meta or {}})


def _sim(base_url: str, path: str, method: str = "GET") -> dict[str, int]:
    """The simulator's call counters (``GET``) or their reset (``DELETE``)."""
    with urllib.request.urlopen(urllib.request.Request(f"{base_url}{path}", method=method), timeout=10) as resp:
        return json.loads(resp.read())


def soap_calls(base_url: str) -> int:
    """SOAP calls the simulator counted (WSDL downloads, ``GET``/``POST`` keys, are no API calls)."""
    return sum(n for key, n in _sim(base_url, "/_sim/calls").items() if not key.startswith(("GET ", "POST ")))


def calls_per_employee(base_url: str, employer: EmployerConfig = DEMO_EMPLOYER, logical_date: date = NIGHTLY_DATE,
                       credentials: SourceCredentials | None = None) -> tuple[float, int, int]:
    """(calls ÷ employees, calls, employees) for one steady-state nightly run of ``employer``."""
    credentials = credentials or SourceCredentials(base_url, DEMO_USERNAME, DEMO_TOKEN, {"domain": DEMO_DOMAIN})
    period = period_for(logical_date, employer.payroll_frequency)  # type: ignore[arg-type]
    connector = NmbrsConnector.from_credentials(credentials)
    try:
        warm = connector.extract(ExtractRequest(employer, logical_date, period), MemorySink())
        _sim(base_url, "/_sim/calls", "DELETE")
        sink = MemorySink()
        connector.extract(ExtractRequest(employer, logical_date, period, state=warm.state), sink)
    finally:
        connector.close()
    calls = soap_calls(base_url)
    employees = len({p["meta"].get("employee_id") for p in sink.pages if p["meta"].get("employee_id") is not None})
    return calls / max(employees, 1), calls, employees


def main() -> None:
    """Start a simulator, measure, print (for ``make bench``)."""
    import logging

    from payroll_simulators.nmbrs.app import create_app
    from payroll_simulators.server import serve_in_thread
    from payroll_simulators.world import build_world

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = serve_in_thread("nmbrs-bench", create_app(build_world()))
    try:
        ratio, calls, employees = calls_per_employee(server.url)
    finally:
        server.stop()
    print(f"nmbrs nightly: {calls} SOAP calls for {employees} employees = {ratio:.2f} calls/employee "
          "(3 per employee: PersonalInfo_GetCurrent, Address_GetListCurrent, Schedule_GetList; "
          "the rest are company-wide)")


if __name__ == "__main__":
    main()
