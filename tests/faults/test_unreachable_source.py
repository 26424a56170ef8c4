"""A source nobody listens on: the error names host and port, says to start the simulators, and is not retried."""

from __future__ import annotations

import socket
from datetime import date

import pytest
from pg_support import IN_CI

from payroll_etl.config import load_config
from payroll_etl.connectors import connector_class
from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
from payroll_etl.connectors.registry import CONNECTORS
from payroll_etl.errors import ConfigurationError, SourceUnreachableError, TransientSourceError
from payroll_etl.periods import period_for

EXCLUDED: dict[str, str] = {}  # every registered connector is tested here (tests/test_source_tables.py)
# connector -> demo employer; its port and label come from the registry (the simulator's default port)
EMPLOYER = {"loket_rest": "bakkerij_de_vries", "loket_soap": "schoonmaak_west", "nmbrs": "transport_oost",
            "nmbrs_rest": "transport_oost_rest"}
DEMO = {name: (employer, CONNECTORS[name].simulator_port, CONNECTORS[name].label)
        for name, employer in EMPLOYER.items()}
EXTRA = {"loket_rest": {"client_id": "benefits-etl-demo", "client_secret": "demo-secret",
                        "access_token": "x", "refresh_token": "y"},
         "loket_soap": {"omgevingscode": "DEMO"}, "nmbrs": {"domain": "demo"},
         "nmbrs_rest": {"client_id": "benefits-etl-demo", "client_secret": "demo-secret",
                        "access_token": "x", "refresh_token": "y"}}
# The connection password: Nmbrs SOAP's API token and Nmbrs REST's X-Subscription-Key are 32 hex characters.
PASSWORD = {"nmbrs": "0123456789abcdef0123456789abcdef", "nmbrs_rest": "5e1f0c3a9b7d4e2f8a6c1b0d3e5f7a9c"}


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _extract(connector: str, host: str):
    from payroll_etl.landing import LandingWriter

    employer, _, _ = DEMO[connector]
    cfg = next(e for e in load_config().employers if e.employer == employer and e.connector == connector)
    creds = SourceCredentials(host=host, login="demo@example.nl", password=PASSWORD.get(connector, "demo"),
                              extra=EXTRA[connector])
    client = connector_class(connector).from_credentials(creds)
    day = date(2026, 11, 27)
    request = ExtractRequest(cfg, day, period_for(day, cfg.payroll_frequency), False, {}, False)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        writer = LandingWriter(Path(tmp), connector, employer, day)
        try:
            return client.extract(request, writer)
        finally:
            writer.abort()
            client.close()


@pytest.mark.parametrize("connector", sorted(DEMO))
def test_a_stopped_simulator_fails_at_once_naming_host_port_and_the_fix(connector):
    _, port, source = DEMO[connector]
    if _port_in_use(port):  # a developer's running `make simulators`; on CI the port must be free
        message = f"something listens on 127.0.0.1:{port} (a running `make simulators`)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with pytest.raises(SourceUnreachableError) as caught:
        _extract(connector, f"http://127.0.0.1:{port}")
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message and source in message and "make simulators" in message
    assert isinstance(caught.value, ConfigurationError) and not caught.value.retryable  # not retried by Airflow


def test_a_remote_host_that_refuses_stays_transient_and_names_where():
    import requests

    from payroll_etl.connectors.network import check_refused, where

    exc = requests.ConnectionError("[Errno 111] Connection refused")
    check_refused(exc, "https://api.loket.nl/v2/providers", "Loket.nl REST")  # remote: left to the retry policy
    assert where("https://api.loket.nl/v2/providers?x=1") == "api.loket.nl:443"
    with pytest.raises(SourceUnreachableError, match="127.0.0.1:9"):
        check_refused(exc, "http://127.0.0.1:9/soap", "Nmbrs SOAP")
    assert TransientSourceError.retryable
