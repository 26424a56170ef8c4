"""Nmbrs calls per employee for a 500-employee company: REST (nmbrs_rest) beside SOAP (nmbrs).

Both simulators serve one world whose Transport Oost has 500 employees; the simulators count the
calls (``/_sim/calls``). Like the SOAP figure, a nightly run is measured in steady state: a first
extract (not counted) leaves the watermarks and fetched runs a warehouse would store. REST is shown
for its two kinds of night: a full one (every bulk list, pageSize 100: the weekly refresh, or a
night on which the ``createdFrom`` probe saw a new record) and a quiet one (probe only). Goal:
at most 0.1 REST calls per employee.
"""

from __future__ import annotations

import json
import logging
import sys
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "include"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

EMPLOYEES = 500
NIGHT = date(2026, 11, 23)
GOAL = 0.1


def _calls(base_url: str, reset: bool = False) -> dict[str, int]:
    request = urllib.request.Request(f"{base_url}/_sim/calls", method="DELETE" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def rest_calls(url: str, factory, employer, period, state, day: date) -> tuple[int, dict]:
    """API calls (``/api/...``, not the identity server) of one extract; returns (calls, new state)."""
    from nmbrs_calls import MemorySink

    from payroll_etl.connectors.base import ExtractRequest

    _calls(url, reset=True)
    connector = factory()
    try:
        result = connector.extract(ExtractRequest(employer, day, period, state=state), MemorySink())
    finally:
        connector.close()
    counted = sum(n for key, n in _calls(url).items() if " /api/" in key)
    assert counted == result.calls, (counted, result.calls)
    return counted, result.state


def main() -> None:
    import requests
    from nmbrs_calls import calls_per_employee

    from payroll_etl.config import EmployerConfig
    from payroll_etl.connectors.base import SourceCredentials
    from payroll_etl.connectors.loket_tokens import MemoryTokenStore
    from payroll_etl.connectors.nmbrs_rest.auth import consent
    from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
    from payroll_etl.connectors.nmbrs_rest.settings import DEFAULT_SCOPES
    from payroll_etl.periods import period_for
    from payroll_simulators.nmbrs.app import create_app as create_soap
    from payroll_simulators.nmbrs_rest.app import (
        DEMO_CLIENT_ID,
        DEMO_CLIENT_SECRET,
        DEMO_PASSWORD,
        DEMO_SUBSCRIPTION_KEY,
        DEMO_USERNAME,
        create_app,
    )
    from payroll_simulators.server import serve_in_thread
    from payroll_simulators.world import WerkgeverSpec, build_world

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    world = build_world(specs=(WerkgeverSpec("transport_oost", "Transport Oost B.V.", EMPLOYEES, "month"),))
    soap_server = serve_in_thread("nmbrs-bench", create_soap(world))
    rest_app = create_app(world, document_polls=1)
    rest_server = serve_in_thread("nmbrs-rest-bench", rest_app)
    try:
        soap_ratio, soap_total, soap_employees = calls_per_employee(soap_server.url)

        def browser(url: str) -> None:
            parts = urlsplit(url)
            requests.post(f"{parts.scheme}://{parts.netloc}/connect/authorize", timeout=10, data={
                **dict(parse_qsl(parts.query)), "username": DEMO_USERNAME, "password": DEMO_PASSWORD,
                "decision": "allow"})

        store = MemoryTokenStore()
        consent(identity_url=rest_server.url, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET,
                store=store, scopes=DEFAULT_SCOPES, on_url=browser, timeout=30)
        credentials = SourceCredentials(rest_server.url, None, DEMO_SUBSCRIPTION_KEY,
                                        {"client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})
        def factory() -> NmbrsRestConnector:
            return NmbrsRestConnector.from_credentials(credentials, token_store=store, employer="transport_oost_rest",
                                                       sleep=lambda _s: None)

        employer = EmployerConfig("transport_oost_rest", "Transport Oost", "nmbrs_rest", ("Transport Oost B.V.",),
                                  "c", options={"document_wait": 0.01})
        period = period_for(NIGHT, "month")
        # the first night also fetches the run output of every run of the year so far
        first, state = rest_calls(rest_server.url, factory, employer, period, {}, NIGHT)
        week = NIGHT + timedelta(days=7)
        full, _ = rest_calls(rest_server.url, factory, employer, period_for(week, "month"), state, week)
        quiet, _ = rest_calls(rest_server.url, factory, employer, period, state, NIGHT + timedelta(days=1))
    finally:
        soap_server.stop()
        rest_server.stop()
    print(f"Nmbrs calls per employee, {EMPLOYEES}-employee company, steady-state nightly run (goal REST <= {GOAL}):")
    print(f"  SOAP  nmbrs       {soap_total:>5} calls / {soap_employees} employees = {soap_ratio:.3f} calls/employee")
    verdict = f"goal <= {GOAL}: [met]" if full / EMPLOYEES <= GOAL else f"goal <= {GOAL}: [MISSED]"
    print(f"  REST  nmbrs_rest  {full:>5} calls / {EMPLOYEES} employees = {full / EMPLOYEES:.3f} calls/employee "
          f"(full night: 7 bulk lists x {-(-EMPLOYEES // 100)} pages of 100)  {verdict}")
    print(f"  REST  nmbrs_rest  {quiet:>5} calls / {EMPLOYEES} employees = {quiet / EMPLOYEES:.3f} calls/employee "
          "(quiet night: createdFrom probe only)")
    print(f"  REST  first night {first:>5} calls (once: plus the run output of every run of the year, 3 calls per run)")


if __name__ == "__main__":
    main()
