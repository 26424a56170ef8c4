"""Helpers for the Loket REST contract tests: simulator, sinks, tokens through the real OAuth flow."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest, RawPage, SourceCredentials
from payroll_etl.connectors.loket_rest import LoketRestConnector
from payroll_etl.connectors.loket_tokens import FileTokenStore, TokenStore
from payroll_etl.periods import period_for
from payroll_simulators.loket_rest import LoketSimulator, create_app
from payroll_simulators.server import RunningServer, serve_in_thread
from payroll_simulators.world import build_world, stable_id

DEMO_CLIENT = ("benefits-etl-demo", "demo-secret")
NOBSN_CLIENT = ("benefits-etl-nobsn", "nobsn-secret")
LOGICAL_DATE = date(2026, 11, 20)
FAST = {"backoff": 0.01, "max_backoff": 0.05, "timeout": 2.0}


def wid(key: str) -> str:
    return stable_id("werkgever", key)


@dataclass
class Sim:
    app: LoketSimulator
    server: RunningServer

    @property
    def url(self) -> str:
        return self.server.url

    def fault(self, match: str, kind: str, times: int = 1, seconds: float = 5.0) -> None:
        requests.post(f"{self.url}/_sim/faults", json={"match": match, "kind": kind, "times": times,
                                                        "seconds": seconds}).raise_for_status()

    def calls(self) -> dict[str, int]:
        return requests.get(f"{self.url}/_sim/calls").json()


def start_sim() -> Sim:
    app = create_app(build_world())
    return Sim(app, serve_in_thread("loket-rest-test", app))


@dataclass
class MemorySink:
    pages: list[RawPage] = field(default_factory=list)
    meta: list[dict[str, Any]] = field(default_factory=list)

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        self.pages.append(RawPage(entity, payload, url, source_id, content_type))
        self.meta.append(meta or {})

    def entities(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for p in self.pages:
            counts[p.entity] = counts.get(p.entity, 0) + 1
        return counts


def employer(key: str = "bakkerij_de_vries", *werkgever_keys: str, frequency: str = "month") -> EmployerConfig:
    ids = tuple(wid(k) for k in (werkgever_keys or (key,)))
    return EmployerConfig(key, key, "loket_rest", ids, f"loket_{key}", payroll_frequency=frequency)


def request_for(emp: EmployerConfig, day: date = LOGICAL_DATE, **kwargs: Any) -> ExtractRequest:
    return ExtractRequest(emp, day, period_for(day, emp.payroll_frequency), **kwargs)


def code_flow(sim_url: str, client: tuple[str, str] = DEMO_CLIENT, user: str = "demo@example.nl",
              password: str = "demo", redirect_uri: str = "http://127.0.0.1:9/callback") -> dict[str, Any]:
    """Tokens through the real authorize form and code exchange (no browser)."""
    r = requests.post(f"{sim_url}/oauth/authorize", allow_redirects=False, data={
        "client_id": client[0], "redirect_uri": redirect_uri, "response_type": "code", "state": "s1",
        "scope": "all", "username": user, "password": password, "decision": "allow"})
    assert r.status_code == 302, r.text
    code = parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]
    t = requests.post(f"{sim_url}/oauth/token", data={"grant_type": "authorization_code", "code": code,
                                                       "redirect_uri": redirect_uri, "client_id": client[0],
                                                       "client_secret": client[1]})
    t.raise_for_status()
    body = t.json()
    return {"access_token": body["access_token"], "refresh_token": body["refresh_token"],
            "expires_at": time.time() + body["expires_in"]}


def connector(sim: Sim, store: TokenStore | None = None, *, client: tuple[str, str] = DEMO_CLIENT,
              password_grant: bool = True, **extra: Any) -> LoketRestConnector:
    creds = SourceCredentials(
        host=sim.url, login="demo@example.nl" if password_grant else None,
        password="demo" if password_grant else None,
        extra={"client_id": client[0], "client_secret": client[1], **FAST, **extra})
    return LoketRestConnector.from_credentials(creds, token_store=store)


def file_store(tmp_path, tokens: dict[str, Any] | None = None, name: str = "tokens.json") -> FileTokenStore:
    store = FileTokenStore(tmp_path / name)
    if tokens is not None:
        store.save(tokens)
    return store


def page_number(url: str) -> int | None:
    m = re.search(r"pageNumber=(\d+)", url)
    return int(m.group(1)) if m else None
