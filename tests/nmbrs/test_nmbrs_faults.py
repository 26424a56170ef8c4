"""Contract tests: credentials, rights, tenant isolation, transport failures and malformed payloads."""

from __future__ import annotations

import time
from datetime import date

import pyarrow.parquet as pq
import pytest

from payroll_etl.connectors.base import RawPage, SourceCredentials
from payroll_etl.connectors.nmbrs import NmbrsConnector, Options, _RateLimiter
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    PayrollError,
    TransientSourceError,
)
from payroll_etl.landing import LandingWriter
from payroll_etl.parsing import Parser
from payroll_simulators.nmbrs.app import DEMO_TOKEN

WRONG_TOKEN = "ffffffffffffffffffffffffffffffff"


@pytest.mark.parametrize("token", ["0123456789abcdef", DEMO_TOKEN + "0", ""])
def test_token_must_be_32_characters(kit, token):
    with pytest.raises(ConfigurationError, match="exactly 32 characters") as err:
        NmbrsConnector.from_credentials(kit.credentials(token=token))
    assert not token or token not in str(err.value)


def test_domain_is_required(kit):
    with pytest.raises(ConfigurationError, match="extra.domain"):
        NmbrsConnector.from_credentials(SourceCredentials(kit.url, "demo@example.nl", DEMO_TOKEN, {}))


@pytest.mark.parametrize("change", [{"token": WRONG_TOKEN}, {"domain": "other"}, {"username": "nobody@example.nl"}])
def test_wrong_credentials_or_domain_is_1001_and_not_retried(kit, sim, change):
    with pytest.raises(AuthenticationError, match="1001") as err:
        kit.extract(connector=kit.connector(**change))
    message = str(err.value)
    assert "domain" in message and WRONG_TOKEN not in message and DEMO_TOKEN not in message
    assert sim.switch.calls["List_GetAll"] == 1


def test_revoked_token_mid_run_is_1001(kit, sim):
    sim.switch.add("Salary_GetAll", "revoke_token")
    with pytest.raises(AuthenticationError):
        kit.extract()
    assert sim.switch.calls["Salary_GetAll_AllEmployeesByCompany"] == 1


def test_call_not_enabled_names_the_call_to_enable_and_is_not_retried(kit, sim):
    conn = kit.connector(username="limited@example.nl", token="00112233445566778899aabbccddeeff")
    with pytest.raises(AuthorizationError) as err:
        kit.extract(kit.employer(max_workers=1), connector=conn)
    message = str(err.value)
    assert "1002" in message and "'Schedule_GetList'" in message and "Employee service" in message
    assert "template user" in message
    assert sim.switch.calls["Schedule_GetList"] == 1


def test_company_of_another_tenant_by_id_is_2004(kit, sim):
    conn = kit.connector(username="partner@example.nl", token="fedcba9876543210fedcba9876543210", domain="partner")
    with pytest.raises(AuthorizationError, match="no access to company 100071.*2004"):
        kit.extract(kit.employer("100071"), connector=conn)
    assert sim.switch.calls["Employment_GetAll_AllEmployeesByCompany"] == 0


def test_company_of_another_tenant_by_name_is_not_found_and_not_leaked(kit):
    conn = kit.connector(username="partner@example.nl", token="fedcba9876543210fedcba9876543210", domain="partner")
    with pytest.raises(ConfigurationError) as err:
        kit.extract(kit.employer("Transport Oost B.V."), connector=conn)
    assert "'Bakkerij De Vries B.V.'" in str(err.value) and "Schoonmaak" not in str(err.value)


def test_employee_without_access_is_2003(kit, sim):
    conn = kit.connector(username="restricted@example.nl", token="abcdefabcdefabcdefabcdefabcdef12")
    with pytest.raises(AuthorizationError, match="no access to employee 571003 of company 100071.*2003"):
        kit.extract(connector=conn)


@pytest.mark.parametrize("name", ["Transport Oost BV", "transport oost b.v.", "Transport  Oost B.V."])
def test_name_that_matches_nothing_lists_the_closest_names(kit, sim, name):
    with pytest.raises(ConfigurationError) as err:
        kit.extract(kit.employer(name))
    message = str(err.value)
    assert f"{name!r} not found" in message
    assert message.index("'Transport Oost B.V.'") < message.index("'Schoonmaak West B.V.'")
    assert "Company ID" in message
    assert sim.switch.calls["Company_GetCurrentPeriod"] == 0


@pytest.mark.parametrize("kind", ["500", "503", "reset"])
def test_transport_errors_are_retried(kit, sim, kind):
    sim.switch.add("PersonalInfo_GetCurrent", kind, times=2)
    sim.switch.add("Salary_GetAll", kind, times=1)
    result, sink = kit.extract()
    assert sim.switch.calls["Salary_GetAll_AllEmployeesByCompany"] == 2
    assert result.calls == sum(v for k, v in sim.switch.calls.items() if not k.startswith("GET "))
    out = NmbrsConnector.normalize([RawPage(p["entity"], p["payload"], p["url"], p["source_id"]) for p in sink.pages],
                                   kit.employer(), kit.period(), Parser("t"))
    assert len(out.rows["salary"]) > 0  # the retried call's data is there; the failed attempt's page is skipped


def test_timeout_is_retried(kit, sim):
    sim.switch.add("Company_GetCurrentPeriod", "timeout", times=1, seconds=1.5)
    result, _ = kit.extract(kit.employer(timeout=0.5))
    assert sim.switch.calls["Company_GetCurrentPeriod"] == 2


def test_persistent_server_errors_end_in_transient_source_error(kit, sim):
    sim.switch.add("Employment_GetAll", "503", times=-1)
    with pytest.raises(TransientSourceError, match="Employment_GetAll_AllEmployeesByCompany failed after 3 attempts"):
        kit.extract(kit.employer(retry_attempts=3))
    assert sim.switch.calls["Employment_GetAll_AllEmployeesByCompany"] == 3


def test_other_faults_carry_the_fault_text_and_call_name_and_are_not_retried(kit, sim):
    # Nmbrs answers 2006 Invalid Period (a config/calendar mismatch can no longer cause it: the company's own
    # period type and current period decide the period the connector asks for, issue 15).
    sim.switch.add("Schedule_GetList", "invalid_period")
    with pytest.raises(PayrollError, match="EmployeeService.Schedule_GetList fault 2006: Invalid Period"):
        kit.extract(kit.employer(max_workers=1), logical_date=date(2026, 12, 20))
    assert sim.switch.calls["Schedule_GetList"] == 1


def test_malformed_response_fails_naming_the_operation_and_keeps_the_raw_payload(kit, sim, tmp_path):
    sim.switch.add("Salary_GetAll", "malformed")
    writer = LandingWriter(tmp_path, "nmbrs", "transport_oost", date(2026, 11, 23))
    with pytest.raises(MalformedPayloadError) as err:
        try:
            kit.extract(sink=writer)
        except BaseException:
            writer.abort()
            raise
    assert "Salary_GetAll_AllEmployeesByCompany" in str(err.value)
    assert f"{kit.url}/soap/v3/EmployeeService.asmx?op=Salary_GetAll_AllEmployeesByCompany" in str(err.value)
    assert sim.switch.calls["Salary_GetAll_AllEmployeesByCompany"] == 1  # not retried
    failed = list(tmp_path.glob("connector=nmbrs/employer=transport_oost/entity=salary/run_date=*/failed-*.parquet"))
    table = pq.read_table(failed[0]).to_pylist()
    assert table[0]["payload"].startswith("<<not what you expected>>")
    assert "op=Salary_GetAll_AllEmployeesByCompany" in table[0]["url"]


def test_truncated_response_is_malformed(kit, sim):
    sim.switch.add("List_GetAll", "truncate")
    with pytest.raises(MalformedPayloadError, match="List_GetAll"):
        kit.extract()


def test_normalize_names_the_url_of_a_page_that_does_not_parse(kit):
    url = f"{kit.url}/soap/v3/EmployeeService.asmx?op=PersonalInfo_GetCurrent&EmployeeId=571001"
    with pytest.raises(MalformedPayloadError, match=r"PersonalInfo_GetCurrent&EmployeeId=571001"):
        NmbrsConnector.normalize([RawPage("employee", "<soap:Envelope", url, "100071", "text/xml")],
                                 kit.employer(), kit.period(), Parser("t"))


def test_rate_limiter_keeps_under_the_fair_use_limit():
    limiter = _RateLimiter(150)
    started = time.monotonic()
    for _ in range(76):
        limiter.wait()
    assert time.monotonic() - started >= 75 / 150 * 0.95


def test_rate_limit_option_cannot_exceed_150_per_second(kit):
    assert Options.of(kit.employer(rate_limit=1000)).rate == 150
