"""Token lifecycle and onboarding against the simulator's real OAuth2 endpoints."""

from __future__ import annotations

import threading
import time
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from loket_rest_support import (
    NOBSN_CLIENT,
    MemorySink,
    code_flow,
    connector,
    employer,
    file_store,
    request_for,
)

from payroll_etl.connectors.loket_onboarding import main as onboarding_main
from payroll_etl.connectors.loket_onboarding import onboard
from payroll_etl.connectors.loket_tokens import FileTokenStore
from payroll_etl.errors import AuthenticationError, AuthorizationError


def test_refresh_ahead_of_expiry_rotates_and_persists_before_use(sim, tmp_path):
    tokens = code_flow(sim.url)
    tokens["expires_at"] = time.time() + 60  # inside the refresh window
    used_at_save: list[bool] = []

    class Recording(FileTokenStore):
        def save(self, new):  # noqa: ANN001
            used_at_save.append(new["access_token"] in sim.app.oauth.used)
            super().save(new)

    store = Recording(tmp_path / "tokens.json")
    store.save(tokens)
    used_at_save.clear()
    connector(sim, store, password_grant=False).extract(request_for(employer()), MemorySink())

    saved = store.load()
    assert saved["refresh_token"] != tokens["refresh_token"] and used_at_save == [False]
    assert saved["access_token"] in sim.app.oauth.used
    assert saved["expires_at"] > time.time() + 3000
    # rotation: the spent refresh token is dead
    r = requests.post(f"{sim.url}/oauth/token", data={"grant_type": "refresh_token", "client_id": "benefits-etl-demo",
                                                       "client_secret": "demo-secret",
                                                       "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 400 and r.json() == {"error": "invalid_grant"}


def test_401_refreshes_once_and_continues(sim, tmp_path):
    store = file_store(tmp_path, code_flow(sim.url))
    sim.app.expire_tokens()  # the server no longer accepts the stored access token; we do not know it yet
    sink = MemorySink()
    connector(sim, store, password_grant=False).extract(request_for(employer()), sink)
    assert sim.app.oauth.refreshes == 1
    assert sink.entities()["employee"] == 1


def test_concurrent_tasks_of_one_employer_spend_the_refresh_token_once(sim, tmp_path):
    tokens = code_flow(sim.url)
    tokens["expires_at"] = time.time() - 10
    file_store(tmp_path, tokens)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def task() -> None:
        conn = connector(sim, FileTokenStore(tmp_path / "tokens.json"), password_grant=False)
        barrier.wait()
        try:
            conn.access_token()
            conn._get("/v2/providers/employers", {}, entity="employers", source_id="-",
                      activity="GetEmployersByUserId", sink=MemorySink())
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=task) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sim.app.oauth.refreshes == 1


def test_invalid_grant_fails_at_once_telling_the_user_to_redo_the_first_login(sim, tmp_path):
    store = file_store(tmp_path, {"access_token": "stale", "refresh_token": "revoked-token",
                                  "expires_at": time.time() - 1})
    with pytest.raises(AuthenticationError) as err:
        connector(sim, store, password_grant=False).extract(request_for(employer()), MemorySink())
    message = str(err.value)
    assert "Eerste aanmelding" in message and "make connect-loket EMPLOYER=bakkerij_de_vries" in message
    assert "revoked-token" not in message
    assert sim.calls().get("POST /oauth/token") == 1  # never retried
    assert "GET /v2/providers/employers" not in " ".join(sim.calls())


def test_revoked_grant_mid_run_is_an_authentication_error(sim, tmp_path):
    store = file_store(tmp_path, code_flow(sim.url))
    sim.fault(r"/employees$|/employees\?", "revoke_token")
    sink = MemorySink()
    with pytest.raises(AuthenticationError, match="Eerste aanmelding"):
        connector(sim, store, password_grant=False).extract(request_for(employer()), sink)
    assert sim.calls().get("POST /oauth/token") == 2  # the code exchange, then one refresh: no retries
    assert "employer" in sink.entities()  # what came before stays landed


def test_missing_activity_names_the_activity_and_the_loket_right(sim, tmp_path):
    store = file_store(tmp_path, code_flow(sim.url, client=NOBSN_CLIENT))
    with pytest.raises(AuthorizationError) as err:
        connector(sim, store, client=NOBSN_CLIENT, password_grant=False).extract(request_for(employer()),
                                                                                  MemorySink())
    assert "GetCitizenServiceNumberByEmployeeId" in str(err.value)
    assert "Beheren en raadplegen BSN" in str(err.value)


def test_user_without_a_right_gets_the_right_named(sim, tmp_path):
    store = file_store(tmp_path, code_flow(sim.url, user="beperkt@example.nl", password="beperkt"))
    with pytest.raises(AuthorizationError, match="Raadplegen beloningen"):
        connector(sim, store, password_grant=False).extract(request_for(employer()), MemorySink())


def test_onboarding_end_to_end_through_the_login_form(sim, tmp_path):
    store = FileTokenStore(tmp_path / "onboarded.json")

    def browser(url: str) -> None:  # a user: open the URL, log in, click "Toestaan"
        form = requests.get(url)
        assert "Gebruikersnaam" in form.text
        fields = dict(parse_qsl(urlsplit(url).query))
        done = requests.post(f"{sim.url}/oauth/authorize",
                             data={**fields, "username": "demo@example.nl", "password": "demo", "decision": "allow"})
        assert "geslaagd" in done.text  # followed the redirect to our local callback

    tokens = onboard(api_url=sim.url, client_id="benefits-etl-demo", client_secret="demo-secret", store=store,
                     employer="bakkerij_de_vries", on_url=browser, timeout=10)
    assert store.load()["refresh_token"] == tokens["refresh_token"]
    assert (tmp_path / "onboarded.json").stat().st_mode & 0o077 == 0
    sink = MemorySink()
    connector(sim, store, password_grant=False).extract(request_for(employer()), sink)
    assert sink.entities()["employee"] == 1


def test_onboarding_refused_consent(sim, tmp_path):
    def refuse(url: str) -> None:
        fields = dict(parse_qsl(urlsplit(url).query))
        requests.post(f"{sim.url}/oauth/authorize",
                      data={**fields, "username": "demo@example.nl", "password": "demo", "decision": "deny"})

    with pytest.raises(AuthenticationError, match="Toestaan"):
        onboard(api_url=sim.url, client_id="benefits-etl-demo", client_secret="demo-secret",
                store=FileTokenStore(tmp_path / "t.json"), on_url=refuse, timeout=10)
    assert not (tmp_path / "t.json").exists()


def test_onboarding_cli_rejects_an_unknown_store(capsys):
    with pytest.raises(SystemExit, match="file:PATH"):
        onboarding_main(["--employer", "x", "--store", "vault:abc"])
