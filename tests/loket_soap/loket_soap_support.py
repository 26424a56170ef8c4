"""Helpers for the Loket SOAP contract tests: a fresh world + simulator per test, on a free port."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import pytest
import requests

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
from payroll_etl.connectors.loket_soap import LoketSoapConnector
from payroll_etl.periods import PayPeriod, period_for_logical_date
from payroll_simulators.loket_soap import DEFAULT_USERS, SimUser, create_app
from payroll_simulators.server import RunningServer, serve_in_thread
from payroll_simulators.world import World, build_world, stable_id

WG = stable_id("werkgever", "schoonmaak_west")
OTHER_WG = stable_id("werkgever", "techniek_noord")
LOGICAL = date(2026, 11, 20)  # four-weekly period 2026-12; 2026-11 is the last approved one
TEST_USERS = DEFAULT_USERS + (
    SimUser("Webservice#05", "demo5", "DEMO", ("schoonmaak_west",), frozenset({"Select:Persoon"})),
)


@dataclass
class Sim:
    world: World
    app: Any
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def calls(self) -> dict[str, int]:
        """SOAP operations called since the last reset (WSDL downloads left out)."""
        raw = requests.get(f"{self.url}/_sim/calls", timeout=5).json()
        return {k: v for k, v in raw.items() if not k.startswith("GET ")}

    def reset_calls(self) -> None:
        requests.delete(f"{self.url}/_sim/calls", timeout=5)

    def fault(self, match: str, kind: str, times: int = 1) -> None:
        requests.post(f"{self.url}/_sim/faults", json={"match": match, "kind": kind, "times": times},
                      timeout=5).raise_for_status()


@dataclass
class MemorySink:
    """A LandingSink that keeps pages in memory (the real LandingWriter is used in the happy path)."""

    pages: list[dict[str, Any]] = field(default_factory=list)

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        self.pages.append({"entity": entity, "payload": payload, "url": url, "source_id": source_id,
                           "status": status, "content_type": content_type, "meta": meta or {}})

    def raw_pages(self):
        from payroll_etl.connectors.base import RawPage

        return [RawPage(p["entity"], p["payload"], p["url"], p["source_id"], p["content_type"]) for p in self.pages]


@pytest.fixture
def sim() -> Iterator[Sim]:
    world = build_world()
    app = create_app(world, users=TEST_USERS)
    server = serve_in_thread("loket_soap", app, 0)
    try:
        yield Sim(world, app, server)
    finally:
        server.stop()


def employer_config(source_ids: tuple[str, ...] = (WG,)) -> EmployerConfig:
    return EmployerConfig(employer="schoonmaak_west", name="Schoonmaak West B.V.", connector="loket_soap",
                          source_ids=source_ids, conn_id="payroll_loket_soap", payroll_frequency="four_weeks")


def credentials(url: str, login: str = "Webservice#01", password: str = "demo",
                omgevingscode: str = "DEMO", **extra: Any) -> SourceCredentials:
    return SourceCredentials(host=url, login=login, password=password,
                             extra={"omgevingscode": omgevingscode, "backoff_seconds": 0.01,
                                    "max_backoff_seconds": 0.05, "max_attempts": 3, "timeout": 10, **extra})


def connector(sim: Sim, **kwargs: Any) -> LoketSoapConnector:
    return LoketSoapConnector.from_credentials(credentials(sim.url, **kwargs))


def extract_request(cfg: EmployerConfig | None = None, *, state: dict[str, Any] | None = None,
                    full_refresh: bool = False, backfill: bool = False,
                    period: PayPeriod | None = None) -> ExtractRequest:
    cfg = cfg or employer_config()
    period = period or period_for_logical_date(LOGICAL, "four_weeks")
    return ExtractRequest(cfg, LOGICAL, period, full_refresh, state or {}, backfill)
