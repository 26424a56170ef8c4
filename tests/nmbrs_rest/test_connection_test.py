"""The Connections page's "Test" button for an Nmbrs REST Connection (the hook Airflow finds by conn_type).

With a consented Connection the test makes one authenticated call (token and subscription key both
checked); without a usable access token it checks the API client only and never spends the single-use
refresh token. Messages carry no secret.
"""

from __future__ import annotations

import json

import pytest
from e2e_support import connection_env, environment, running_simulators

pytestmark = pytest.mark.airflow

CONN = "payroll_nmbrs_rest_transport_oost"


def _test(env: dict[str, str]) -> tuple[bool, str]:
    from airflow.providers_manager import ProvidersManager

    hook_info = ProvidersManager().hooks.get("nmbrs_rest")
    assert hook_info is not None, "the nmbrs_rest connection type must be registered (pip install -e .)"
    from payroll_etl.airflow.hooks import NmbrsRestHook

    with environment(**env):
        return NmbrsRestHook(CONN).test_connection()


def test_consented_connection_is_tested_with_one_authenticated_call():
    with running_simulators() as servers:
        env = {k: v for k, v in connection_env(servers).items() if k == f"AIRFLOW_CONN_{CONN.upper()}"}
        spec = json.loads(env[f"AIRFLOW_CONN_{CONN.upper()}"])
        ok, message = _test(env)
        assert ok, message
        assert "authenticated with the stored access token" in message
        assert "2 companies visible" in message  # the demo API user sees two companies
        for secret in (spec["password"], spec["extra"]["client_secret"], spec["extra"]["access_token"],
                       spec["extra"]["refresh_token"]):
            assert secret not in message

        wrong_key = {**spec, "password": "0" * 32}
        ok, message = _test({f"AIRFLOW_CONN_{CONN.upper()}": json.dumps(wrong_key)})
        assert not ok and "X-Subscription-Key" in message and "0" * 32 not in message

        expired = {**spec, "extra": {**spec["extra"], "expires_at": 1}}
        ok, message = _test({f"AIRFLOW_CONN_{CONN.upper()}": json.dumps(expired)})
        assert ok and "API client benefits-etl-demo accepted" in message and "not used by a test" in message
        # the refresh token was not spent: a run with the original Connection still refreshes
        from payroll_etl.connectors.loket_tokens import MemoryTokenStore
        from payroll_etl.connectors.nmbrs_rest.auth import Tokens

        extra = expired["extra"]
        tokens = Tokens(spec["host"], extra["client_id"], extra["client_secret"],
                        MemoryTokenStore({k: extra.get(k) for k in ("access_token", "refresh_token", "expires_at")}))
        assert tokens.access_token()
