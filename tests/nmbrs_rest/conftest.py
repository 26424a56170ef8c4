"""Fixtures: one Nmbrs REST simulator (and the SOAP one, same world) per module on free ports, faults
cleared before every test, and a ``kit`` that consents once (authorization code + PKCE, through the
simulator's consent form) and builds connectors on a shared token store."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest, ExtractResult, SourceCredentials
from payroll_etl.connectors.loket_tokens import MemoryTokenStore, TokenStore
from payroll_etl.connectors.nmbrs_rest.auth import consent
from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
from payroll_etl.connectors.nmbrs_rest.settings import BANK_SCOPE, DEFAULT_SCOPES
from payroll_etl.periods import PayPeriod, period_for
from payroll_simulators.nmbrs_rest.app import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PASSWORD,
    DEMO_SUBSCRIPTION_KEY,
    DEMO_USERNAME,
    create_app,
)
from payroll_simulators.server import serve_in_thread
from payroll_simulators.world import World, build_world

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))  # bench/nmbrs_calls.py
from nmbrs_calls import MemorySink  # noqa: E402

NIGHTLY = date(2026, 11, 23)  # the world's "today": the company's current period is 2026-11


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


@pytest.fixture(scope="module")
def sim(world: World) -> Iterator[Any]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = create_app(world, document_polls=1)
    server = serve_in_thread("nmbrs-rest-test", app)
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


def browser(username: str = DEMO_USERNAME, password: str = DEMO_PASSWORD, decision: str = "allow"):
    """A person at the consent page: opens the URL, logs in, clicks Toestaan; follows the redirect."""
    def open_url(url: str) -> None:
        base = f"{urlsplit(url).scheme}://{urlsplit(url).netloc}"
        fields = dict(parse_qsl(urlsplit(url).query))
        page = requests.get(url, timeout=10)
        assert page.ok and "Toestaan" in page.text
        requests.post(f"{base}/connect/authorize", timeout=10,
                      data={**fields, "username": username, "password": password, "decision": decision})
    return open_url


@dataclass
class Kit:
    url: str
    store: TokenStore = field(default_factory=MemoryTokenStore)

    def consent(self, scopes: tuple[str, ...] = (*DEFAULT_SCOPES, BANK_SCOPE),
                store: TokenStore | None = None) -> dict[str, Any]:
        return consent(identity_url=self.url, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET,
                       store=store or self.store, scopes=scopes, employer="transport_oost_rest", on_url=browser(),
                       timeout=20)

    def employer(self, *source_ids: str, key: str = "transport_oost_rest", **options: Any) -> EmployerConfig:
        options.setdefault("retry_wait", 0.01)
        options.setdefault("document_wait", 0.01)
        options.setdefault("timeout", 5)
        return EmployerConfig(key, "Transport Oost", "nmbrs_rest", source_ids or ("Transport Oost B.V.",),
                              "payroll_nmbrs_rest_transport_oost", options=options)

    def credentials(self, key: str = DEMO_SUBSCRIPTION_KEY, **extra: Any) -> SourceCredentials:
        return SourceCredentials(self.url, None, key, {"connector": "nmbrs_rest", "client_id": DEMO_CLIENT_ID,
                                                       "client_secret": DEMO_CLIENT_SECRET, **extra})

    def connector(self, store: TokenStore | None = None, sleeps: list[float] | None = None,
                  **kwargs: Any) -> NmbrsRestConnector:
        """A connector on the kit's token store; ``sleeps`` records every wait it asks for instead of sleeping."""
        return NmbrsRestConnector.from_credentials(
            self.credentials(**kwargs), token_store=store or self.store, employer="transport_oost_rest",
            sleep=(sleeps.append if sleeps is not None else (lambda _s: None)))

    @staticmethod
    def period(frequency: str = "month", day: date = NIGHTLY) -> PayPeriod:
        return period_for(day, frequency)  # type: ignore[arg-type]

    def extract(self, employer: EmployerConfig | None = None, sink: Any | None = None,
                connector: NmbrsRestConnector | None = None, **request: Any) -> tuple[ExtractResult, Any]:
        sink = sink if sink is not None else MemorySink()
        connector = connector or self.connector()
        employer = employer or self.employer()
        day = request.pop("logical_date", NIGHTLY)
        req = ExtractRequest(employer, day, request.pop("period", self.period(employer.payroll_frequency, day)),
                             **request)
        try:
            return connector.extract(req, sink), sink
        finally:
            connector.close()


@pytest.fixture
def kit(sim: Any) -> Kit:
    kit = Kit(sim.url)
    kit.consent()
    return kit


@pytest.fixture
def kit_for() -> Any:
    """A :class:`Kit` on another simulator URL (a test's own world)."""
    return Kit


@pytest.fixture
def person() -> Any:
    """``person(decision=…)``: the consent page's visitor (see :func:`browser`)."""
    return browser
