"""Fixtures: one Nmbrs simulator per module on a free port (real zeep client against it),
faults and call counters cleared before every test, and a small ``kit`` of helpers."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest, ExtractResult, SourceCredentials
from payroll_etl.connectors.nmbrs import NmbrsConnector
from payroll_etl.periods import PayPeriod, period_for
from payroll_simulators.nmbrs.app import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME, SimUser, create_app, default_users
from payroll_simulators.server import serve_in_thread
from payroll_simulators.world import World, build_world

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # bench/nmbrs_calls.py
from nmbrs_calls import MemorySink  # noqa: E402

NIGHTLY = date(2026, 11, 23)  # the world's "today": the Nmbrs current period is 2026-11-M
TRANSPORT_OOST = 100_071  # Company IDs the simulator gives the world's werkgevers
SCHOONMAAK_WEST = 100_088
DENIED_EMPLOYEE = 571_003  # Transport Oost employee 3, hidden from the "restricted" user
RESTRICTED = ("restricted@example.nl", "abcdefabcdefabcdefabcdefabcdef12")


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def sim(world: World) -> Iterator[Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    demo = next(u for u in default_users() if u.username == DEMO_USERNAME)
    restricted = SimUser(*RESTRICTED, DEMO_DOMAIN, demo.companies, denied_employees=frozenset({DENIED_EMPLOYEE}))
    app = create_app(world, default_users() + [restricted])
    server = serve_in_thread("nmbrs-test", app)
    app.url = server.url
    yield app
    server.stop()


@pytest.fixture(autouse=True)
def _clean(request: pytest.FixtureRequest) -> None:
    if "sim" in request.fixturenames:
        app = request.getfixturevalue("sim")
        app.switch.clear()
        app.switch.latency = 0.0
        app.switch.calls.clear()


@dataclass
class Kit:
    url: str

    def employer(self, *source_ids: str, **options: Any) -> EmployerConfig:
        options.setdefault("retry_wait", 0.01)
        options.setdefault("timeout", 5)
        return EmployerConfig("transport_oost", "Transport Oost", "nmbrs", source_ids or ("Transport Oost B.V.",),
                              "nmbrs_transport_oost", options=options)

    def credentials(self, username: str = DEMO_USERNAME, token: str = DEMO_TOKEN,
                    domain: str = DEMO_DOMAIN) -> SourceCredentials:
        return SourceCredentials(self.url, username, token, {"domain": domain})

    def connector(self, **kwargs: Any) -> NmbrsConnector:
        return NmbrsConnector.from_credentials(self.credentials(**kwargs))

    @staticmethod
    def period(frequency: str = "month", day: date = NIGHTLY) -> PayPeriod:
        return period_for(day, frequency)  # type: ignore[arg-type]

    def extract(self, employer: EmployerConfig | None = None, sink: Any | None = None,
                connector: NmbrsConnector | None = None, **request: Any) -> tuple[ExtractResult, Any]:
        sink = sink if sink is not None else MemorySink()
        connector = connector or self.connector()
        req = ExtractRequest(employer or self.employer(), request.pop("logical_date", NIGHTLY),
                             request.pop("period", self.period()), **request)
        try:
            return connector.extract(req, sink), sink
        finally:
            connector.close()


@pytest.fixture
def kit(sim: Any) -> Kit:
    return Kit(sim.url)
