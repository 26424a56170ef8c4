"""Faults of the Nmbrs REST API, each ending in a documented failure or recovery (docs/connectors/nmbrs_rest.md)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import requests

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.loket_tokens import FileTokenStore, MemoryTokenStore
from payroll_etl.connectors.nmbrs_rest.auth import ReconsentNeeded
from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
from payroll_etl.connectors.nmbrs_rest.settings import DEFAULT_SCOPES
from payroll_etl.errors import (
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    QuotaExhaustedError,
    TransientSourceError,
)
from payroll_simulators.nmbrs_rest.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

SALARIES = r"GET /api/companies/[^/]+/employees/salaries"


def hits(sim, kind: str) -> int:
    return sum(f.hits for f in sim.switch.faults if f.kind == kind)


# ---------------------------------------------------------------------------- credentials and scopes
def test_expired_access_token_is_refreshed_once_and_the_run_continues(kit, sim):
    sim.switch.add(SALARIES, "revoke_token")  # the API no longer accepts the access token (401 40102)
    before = kit.store.load()
    result, sink = kit.extract()
    after = kit.store.load()
    assert any(p["entity"] == "salary" for p in sink.pages) and result.scope["salary"] == "full"
    assert after["refresh_token"] != before["refresh_token"]  # rotated and stored
    assert sim.identity.refreshes >= 1


def test_wrong_subscription_key_is_a_configuration_error_naming_the_header(kit, sim):
    with pytest.raises(ConfigurationError, match="X-Subscription-Key") as err:
        kit.extract(connector=kit.connector(key="0" * 32))
    assert "0" * 32 not in str(err.value)


@pytest.mark.parametrize("key", ["", "not-a-key"])
def test_missing_or_malformed_subscription_key_is_refused_before_any_call(sim, key):
    credentials = SourceCredentials(sim.url, None, key, {"client_id": DEMO_CLIENT_ID})
    with pytest.raises(ConfigurationError, match="X-Subscription-Key"):
        NmbrsRestConnector.from_credentials(credentials)
    assert sum(sim.switch.calls.values()) == 0


def test_403_names_the_missing_scope_from_the_spec(kit, sim):
    store = MemoryTokenStore()
    kit.consent(scopes=tuple(s for s in DEFAULT_SCOPES if s != "company.document.read"), store=store)
    with pytest.raises(AuthorizationError) as err:
        kit.extract(connector=kit.connector(store=store))
    text = str(err.value)
    assert "getPayrollRunWageCodes" in text and "company.document.read" in text
    assert "make connect-nmbrs EMPLOYER=transport_oost_rest" in text


# ---------------------------------------------------------------------------- throttling and quota
def test_429_with_retry_after_waits_as_told_and_recovers(kit, sim):
    sim.switch.add(SALARIES, "429", times=2)
    sleeps: list[float] = []
    _, sink = kit.extract(connector=kit.connector(sleeps=sleeps))
    assert hits(sim, "429") == 2 and sleeps[:2] == [1.0, 1.0]  # Retry-After: 1
    assert any(p["entity"] == "salary" for p in sink.pages)


def test_429_without_retry_after_backs_off_exponentially_and_recovers(kit, sim):
    sim.switch.add(SALARIES, "429_no_retry_after", times=3)
    sleeps: list[float] = []
    _, sink = kit.extract(connector=kit.connector(sleeps=sleeps))
    assert sleeps[:3] == [0.01, 0.02, 0.04]  # retry_wait 0.01 * 2^n
    assert any(p["entity"] == "salary" for p in sink.pages)


def test_quota_exhausted_42909_fails_at_once_without_retries(kit, sim):
    sim.switch.add(SALARIES, "quota", times=-1)
    sleeps: list[float] = []
    with pytest.raises(QuotaExhaustedError, match="42909") as err:
        kit.extract(connector=kit.connector(sleeps=sleeps))
    assert hits(sim, "quota") == 1 and sleeps == []
    assert not err.value.retryable


# ---------------------------------------------------------------------------- server side
def test_503_is_retried_and_recovers(kit, sim):
    sim.switch.add(SALARIES, "503", times=2)
    _, sink = kit.extract()
    assert hits(sim, "503") == 2 and any(p["entity"] == "salary" for p in sink.pages)


def test_persistent_503_becomes_a_transient_error_after_the_attempts(kit, sim):
    sim.switch.add(SALARIES, "503", times=-1)
    with pytest.raises(TransientSourceError, match="salaries .* failed after 5 attempts: HTTP 503"):
        kit.extract()
    assert hits(sim, "503") == 5


def test_timeout_is_retried_and_recovers(kit, sim):
    sim.switch.add(SALARIES, "timeout", times=1, seconds=2.0)
    result, sink = kit.extract(kit.employer(timeout=0.5))
    assert hits(sim, "timeout") == 1 and result.scope["salary"] == "full"


def test_truncated_json_fails_naming_the_page_and_keeps_the_raw_body(kit, sim):
    sim.switch.add(SALARIES, "truncate")
    from nmbrs_calls import MemorySink

    sink = MemorySink()
    with pytest.raises(MalformedPayloadError, match=r"salaries page .*/employees/salaries.* not valid JSON"):
        kit.extract(sink=sink)
    landed = [p for p in sink.pages if p["entity"] == "salary"]
    assert len(landed) == 1 and not landed[0]["payload"].rstrip().endswith("}")


# ---------------------------------------------------------------------------- token lifecycle
def test_refresh_rotates_and_the_spent_token_is_dead(kit, sim):
    before = kit.store.load()
    requests.post(f"{sim.url}/_sim/nmbrs/expire-tokens", timeout=10)
    kit.store.save({**before, "expires_at": 0})
    kit.extract()
    after = kit.store.load()
    assert after["refresh_token"] != before["refresh_token"]
    spent = requests.post(f"{sim.url}/connect/token", timeout=10, data={
        "grant_type": "refresh_token", "refresh_token": before["refresh_token"], "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET})
    assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"


def test_refresh_token_lapsed_after_30_days_asks_for_re_consent(kit, sim):
    kit.store.save({**kit.store.load(), "expires_at": 0})
    sim.clock.advance(31 * 24 * 3600)
    try:
        with pytest.raises(ReconsentNeeded) as err:
            kit.extract()
    finally:
        sim.clock.advance(-31 * 24 * 3600)
    text = str(err.value)
    assert "re-consent needed" in text and "make connect-nmbrs EMPLOYER=transport_oost_rest" in text
    assert kit.store.load()["refresh_token"] not in text


def test_revoked_consent_asks_for_re_consent(kit, sim):
    tokens = kit.store.load()
    requests.post(f"{sim.url}/connect/revocation", timeout=10, data={
        "token": tokens["refresh_token"], "token_type_hint": "refresh_token", "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET})
    with pytest.raises(ReconsentNeeded, match="invalid_grant"):
        kit.extract()  # the access token of a revoked grant is refused (401), the refresh too


def test_concurrent_runs_of_one_employer_refresh_once(kit, sim, tmp_path):
    store = FileTokenStore(tmp_path / "tokens.json")
    kit.consent(store=store)
    store.save({**store.load(), "expires_at": 0})  # every run starts with an expired access token
    before = sim.identity.refreshes
    errors: list[BaseException] = []

    def run() -> None:
        try:
            kit.extract(connector=kit.connector(store=FileTokenStore(tmp_path / "tokens.json")),
                        logical_date=date(2026, 11, 23))
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and sim.identity.refreshes - before == 1
