"""The Nmbrs REST simulator's identity server and the vendored spec excerpt."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml

from payroll_etl.connectors.loket_tokens import MemoryTokenStore
from payroll_etl.connectors.nmbrs_rest.auth import consent
from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
from payroll_etl.errors import AuthenticationError, ConfigurationError
from payroll_etl.parsing import Parser
from payroll_simulators.nmbrs_rest.app import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REDIRECT = "http://127.0.0.1:9/callback"


def _authorize(sim, verifier: str = "v" * 50, **overrides: str) -> requests.Response:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    fields = {"client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code",
              "scope": "company.info.read offline_access", "state": "s1", "code_challenge": challenge,
              "code_challenge_method": "S256", **overrides}
    return requests.post(f"{sim.url}/connect/authorize", allow_redirects=False, timeout=10,
                         data={**fields, "username": "demo@example.nl", "password": "demo", "decision": "allow"})


def _redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def _exchange(sim, code: str, verifier: str) -> requests.Response:
    return requests.post(f"{sim.url}/connect/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": verifier,
        "client_id": DEMO_CLIENT_ID, "client_secret": DEMO_CLIENT_SECRET})


def test_pkce_verifier_must_match_the_challenge(sim):
    code = _redirect_params(_authorize(sim, verifier="a" * 50))["code"]
    wrong = _exchange(sim, code, "b" * 50)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    code = _redirect_params(_authorize(sim, verifier="a" * 50))["code"]
    right = _exchange(sim, code, "a" * 50)
    assert right.ok and right.json()["refresh_token"] and right.headers["Cache-Control"] == "no-store"
    again = _exchange(sim, code, "a" * 50)  # a code is single-use
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_authorize_requires_pkce_and_reports_a_denial(sim):
    assert _redirect_params(_authorize(sim, code_challenge=""))["error"] == "invalid_request"
    denied = requests.post(f"{sim.url}/connect/authorize", allow_redirects=False, timeout=10, data={
        "client_id": DEMO_CLIENT_ID, "redirect_uri": REDIRECT, "response_type": "code", "scope": "offline_access",
        "state": "s2", "code_challenge": "x" * 43, "code_challenge_method": "S256", "decision": "deny"})
    assert _redirect_params(denied) == {"error": "access_denied", "state": "s2"}
    unknown = _authorize(sim, redirect_uri="https://evil.example/cb")
    assert unknown.status_code == 400


def test_no_offline_access_means_no_refresh_token(sim):
    code = _redirect_params(_authorize(sim, scope="company.info.read"))["code"]
    assert "refresh_token" not in _exchange(sim, code, "v" * 50).json()
    with pytest.raises(ConfigurationError, match="offline_access"):
        consent(identity_url=sim.url, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET,
                store=MemoryTokenStore(), scopes=("company.info.read",), timeout=1)


def test_a_person_who_refuses_leaves_no_tokens(sim, person):
    store = MemoryTokenStore()
    with pytest.raises(AuthenticationError, match="access_denied"):
        consent(identity_url=sim.url, client_id=DEMO_CLIENT_ID, client_secret=DEMO_CLIENT_SECRET, store=store,
                scopes=("company.info.read", "offline_access"), on_url=person(decision="deny"), timeout=20)
    assert store.load() == {}


def test_discovery_names_the_endpoints(sim):
    doc = requests.get(f"{sim.url}/.well-known/openid-configuration", timeout=10).json()
    assert doc["token_endpoint"] == f"{sim.url}/connect/token"
    assert doc["code_challenge_methods_supported"] == ["S256"] and "offline_access" in doc["scopes_supported"]


def test_the_excerpt_is_verbatim_from_the_official_document():
    """When ../shared is present, re-deriving gives exactly the vendored excerpt (else nothing to compare)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("derive_excerpt", FIXTURES / "derive_excerpt.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    vendored = yaml.safe_load((FIXTURES / "nmbrs-openapi-excerpt.yaml").read_text(encoding="utf-8"))
    assert set(vendored["paths"]) == set(module.PATHS)
    if not module.SOURCE.exists():  # a clean clone: the vendored excerpt is the contract (checked above)
        return
    assert json.loads(json.dumps(module.derive(), default=str)) == json.loads(json.dumps(vendored, default=str))


def test_unsupported_period_type_and_unknown_marital_status_are_record_issues(kit):
    from payroll_etl.connectors.base import RawPage

    _, sink = kit.extract()
    pages = []
    for p in sink.pages:
        payload = p["payload"]
        if p["entity"] == "payroll_period":
            body = json.loads(payload)
            body["data"][0]["periodType"] = "1-week"
            payload = json.dumps(body)
        if p["entity"] == "personal_info":
            body = json.loads(payload)
            body["data"][0]["info"][0]["partnerInfo"]["maritalStatus"] = "itsComplicated"
            payload = json.dumps(body)
        pages.append(RawPage(p["entity"], payload, p["url"], p["source_id"], p["content_type"]))
    parser = Parser("transport_oost_rest")
    rows = NmbrsRestConnector.normalize(pages, kit.employer(), kit.period(), parser).rows
    issues = {(i.entity, i.field, i.check) for i in parser.issues}
    assert ("payroll_period", "periodType", "unsupported") in issues
    assert ("employee", "maritalStatus", "unknown_code") in issues
    assert "payroll_period" not in rows and "payroll_result" not in rows  # no guessed calendar
    assert len(rows["employee"]) == 45
