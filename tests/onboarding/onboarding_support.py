"""The onboarding scenario (tests/scenarios/onboarding.yaml) served by all three simulators, and helpers
to run the real connectors and the pipeline against it."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import SourceCredentials
from payroll_simulators.world import stable_id

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "tests" / "scenarios" / "onboarding.yaml"
NIGHT = date(2026, 11, 23)  # the scenario's today
NMBRS_USER = ("salaris@mycompany.example", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6")
ACME_WERKGEVER = "3f2b8c1e-5a4d-4e7f-9b6a-1c2d3e4f5a6b"
FILTER_WERKGEVER = stable_id("werkgever", "filter_bv")
FAST_NMBRS = {"retry_wait": 0.01, "timeout": 10, "max_workers": 2}


def nmbrs_credentials(url: str, domain: Any) -> SourceCredentials:
    return SourceCredentials(url, NMBRS_USER[0], NMBRS_USER[1], {"connector": "nmbrs", "domain": domain})


def nmbrs_employer(key: str, *companies: str) -> EmployerConfig:
    return EmployerConfig(key, key, "nmbrs", companies, f"payroll_nmbrs_{key}", options=dict(FAST_NMBRS))


def loket_soap_credentials(url: str, omgevingscode: Any = "ACME01") -> SourceCredentials:
    return SourceCredentials(url, "Webservice#09", "geheim", {"connector": "loket_soap", "omgevingscode": omgevingscode,
                                                             "backoff_seconds": 0.01, "max_backoff_seconds": 0.05})


def loket_rest_credentials(url: str) -> SourceCredentials:
    return SourceCredentials(url, "koppeling@filter.example", "geheim",
                             {"connector": "loket_rest", "client_id": "onboarding-etl",
                              "client_secret": "onboarding-secret", "backoff": 0.01, "max_backoff": 0.05})


class Sink:
    """A LandingSink keeping what the connector landed in memory."""

    def __init__(self) -> None:
        self.pages: list[dict[str, Any]] = []

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        self.pages.append({"entity": entity, "url": url, "source_id": source_id, "status": status,
                           **(meta or {})})
