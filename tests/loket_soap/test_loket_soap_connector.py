"""Contract tests: LoketSoapConnector (zeep) against the Loket SOAP simulator over real HTTP."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from decimal import Decimal

import pytest
import requests
from loket_soap_support import (
    LOGICAL,
    OTHER_WG,
    WG,
    MemorySink,
    Sim,
    connector,
    credentials,
    employer_config,
    extract_request,
)

from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.connectors.loket_soap import LoketSoapConnector
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    TransientSourceError,
)
from payroll_etl.landing import LandingWriter, read_pages
from payroll_etl.parsing import Parser
from payroll_etl.periods import period_from_id
from payroll_etl.pipeline import to_arrow

VERSION_CALLS = {"GetUserToken", "ListVersion", "SelectVersion"}


def _run(sim: Sim, **kwargs):
    sink = MemorySink()
    request = extract_request(**kwargs)
    result = connector(sim).extract(request, sink)
    return result, sink, request


def _normalize(sink: MemorySink, request):
    parser = Parser("schoonmaak_west")
    out = LoketSoapConnector.normalize(sink.raw_pages(), request.employer, request.period, parser)
    return out, parser


# --------------------------------------------------------------------------- happy path

def test_happy_path_lands_raw_xml_and_normalizes_the_demo_employer(sim: Sim, tmp_path):
    request = extract_request()
    writer = LandingWriter(tmp_path, "loket_soap", "schoonmaak_west", LOGICAL)
    result = connector(sim).extract(request, writer)
    writer.commit()
    pages = list(read_pages(tmp_path, "loket_soap", "schoonmaak_west", LOGICAL))

    assert sim.calls()["GetUserToken"] == 1  # one token per run
    assert result.calls == sum(sim.calls().values())
    assert all(p.content_type == "text/xml" and p.url.startswith(f"{sim.url}/Loket.asmx#") for p in pages)
    assert all(p.source_id == WG for p in pages)
    assert {p.entity for p in pages} >= {"werkgever", "persoon", "dienstverband", "metadata", "verloningsrun",
                                         "loonresultaat", "version"}
    assert not any("GetUserTokenResponse" in p.payload for p in pages)  # the token is never landed
    assert result.scope == {"employer": "full", "employee": "full", "employment": "full", "salary": "full",
                            "payroll_period": "incremental", "payroll_result": "incremental"}

    parser = Parser("schoonmaak_west")
    out = LoketSoapConnector.normalize(pages, request.employer, request.period, parser)
    assert parser.issues == [] and out.issues == []
    wg = sim.world.werkgevers[WG]
    [employer] = out.rows["employer"]
    assert employer["name"] == "Schoonmaak West B.V." and employer["payroll_frequency"] == "four_weeks"
    assert employer["valid_from"] == request.period.start
    employees = {r["source_id"]: r for r in out.rows["employee"]}
    assert set(employees) == {p.id for p in wg.persons}
    person = wg.persons[0]
    row = employees[person.id]
    assert (row["bsn"], row["last_name"], row["birth_date"], row["gender"], row["civil_status"]) == (
        person.bsn, person.last_name, person.birth_date, person.gender, person.civil_status)
    assert row["valid_from"] == request.period.start and row["employer_source_id"] == WG

    # part-time factor per hours version, 4 decimals
    employments = out.rows["employment"]
    assert len(employments) == sum(len(e.hours) for e in wg.employments)
    for emp in wg.employments:
        for hours in emp.hours:
            [r] = [r for r in employments if r["source_id"] == emp.id and r["valid_from"] == hours.start]
            assert r["part_time_factor"] == (hours.hours_per_week / emp.fulltime_hours).quantize(Decimal("0.0001"))
            assert r["employee_source_id"] == emp.person_id and r["payroll_frequency"] == "four_weeks"
    assert len(out.rows["salary"]) == sum(len(e.wages) for e in wg.employments)

    # results of the last approved period (2026-11), keyed on employment + period + run + component
    results = out.rows["payroll_result"]
    expected = [r for r in sim.world.results
                if any(run.id == r.run_id and run.werkgever_id == WG and (run.year, run.period) == (2026, 11)
                       for run in sim.world.runs)]
    assert len(results) == len(expected) > 0
    assert len({r["source_id"] for r in results}) == len(results)
    assert sum(r["amount"] for r in results) == sum(r.amount for r in expected)
    assert [p["source_id"] for p in out.rows["payroll_period"]] == ["202611"]

    for entity, rows in out.rows.items():  # every row fits the canonical Arrow schema
        assert to_arrow(entity, rows, request.employer).num_rows == len(rows)


def test_wsdl_is_served_with_the_simulators_own_address(sim: Sim):
    wsdl = requests.get(f"{sim.url}/Loket.asmx?WSDL", timeout=5).text
    assert f'location="{sim.url}/Loket.asmx"' in wsdl
    for op in ("GetUserToken", "GetNodeFunction", "GetChildNodes", "List", "Select", "GetMetaData", "ListVersion",
               "SelectVersion", "ListGoedgekeurdeLoonrunsPeriode", "ExportLoonresultatenPerRun", "ExportWerknemer"):
        assert f'<wsdl:operation name="{op}">' in wsdl


# ------------------------------------------------------------------------------ faults

@pytest.mark.parametrize("wrong", ["login", "password", "omgevingscode"])
def test_wrong_username_password_or_omgevingscode_is_an_authentication_error(sim: Sim, wrong: str):
    kwargs = {"login": "Webservice#01", "password": "demo", "omgevingscode": "DEMO"}
    kwargs[wrong] = "Secret-Wrong-1"
    with pytest.raises(AuthenticationError) as err:
        LoketSoapConnector.from_credentials(credentials(sim.url, **kwargs)).extract(extract_request(), MemorySink())
    assert "omgevingscode" in str(err.value)
    if wrong != "login":  # the username is named (it is not a secret); password and omgevingscode never
        assert "Secret-Wrong-1" not in str(err.value)
    assert "demo" not in str(err.value).replace("Webservice#01", "")
    assert sim.calls() == {"GetUserToken": 1}  # never retried


def test_user_linked_to_no_werkgever_is_a_configuration_error_not_zero_employees(sim: Sim):
    with pytest.raises(ConfigurationError, match="linked to no werkgever"):
        connector(sim, login="Webservice#04", password="demo4").extract(extract_request(), MemorySink())


def test_werkgever_not_linked_to_the_user_is_a_configuration_error(sim: Sim):
    with pytest.raises(ConfigurationError, match=f"werkgever {OTHER_WG} is not linked"):
        connector(sim).extract(extract_request(employer_config((OTHER_WG,))), MemorySink())


def test_werkgever_unlinked_since_the_last_run_is_a_configuration_error(sim: Sim):
    first, _, _ = _run(sim)
    sim.app.users["Webservice#01"] = sim.app.users["Webservice#04"].__class__("Webservice#01", "demo", "DEMO", ())
    with pytest.raises(ConfigurationError, match="not linked"):
        _run(sim, state=first.state)


def test_function_not_authorized_names_the_function(sim: Sim):
    with pytest.raises(AuthorizationError, match="function ExportLoonresultatenPerRun") as err:
        connector(sim, login="Webservice#03", password="demo3").extract(extract_request(), MemorySink())
    assert "Webservice#03" in str(err.value)


def test_entity_not_authorized_names_function_and_entity(sim: Sim):
    with pytest.raises(AuthorizationError, match="function Select on entity Persoon"):
        connector(sim, login="Webservice#05", password="demo5").extract(extract_request(), MemorySink())


def test_rejected_token_is_replaced_by_a_new_one(sim: Sim):
    sim.fault("^Select$", "revoke_token", times=1)
    result, sink, request = _run(sim)
    assert sim.calls()["GetUserToken"] == 2
    out, _ = _normalize(sink, request)
    assert len(out.rows["employee"]) == 35  # the rejected Select was repeated, nothing lost
    assert not any("TokenOngeldig" in p["payload"] for p in sink.pages if p["entity"] != "errors")


def test_transport_errors_are_retried_with_backoff(sim: Sim):
    sim.fault("^Select$", "503", times=2)
    sim.fault("^ListVersion$", "reset", times=1)
    sim.fault("^List$", "500", times=1)
    result, sink, request = _run(sim)
    out, _ = _normalize(sink, request)
    assert len(out.rows["employee"]) == 35 and len(out.rows["employer"]) == 1
    assert [p["status"] for p in sink.pages if p["entity"] == "errors"].count(503) == 2


def test_persistent_transport_errors_become_transient_source_error_after_bounded_retries(sim: Sim):
    sim.fault("^SelectVersion$", "503", times=-1)
    with pytest.raises(TransientSourceError, match="SelectVersion failed after 3 attempts") as err:
        _run(sim)
    assert err.value.retryable
    assert sim.calls()["SelectVersion"] == 3


def test_malformed_response_is_landed_and_reported_with_its_url(sim: Sim):
    sim.fault("^GetChildNodes$", "malformed", times=1)
    sink = MemorySink()
    with pytest.raises(MalformedPayloadError, match="#GetChildNodes"):
        connector(sim).extract(extract_request(), sink)
    assert sink.pages[-1]["payload"].startswith("<<not what you expected>>")


# ---------------------------------------------------------------------- version skipping

def test_nightly_run_without_source_changes_makes_only_version_calls(sim: Sim):
    first, _, _ = _run(sim)
    sim.reset_calls()
    second, sink, _ = _run(sim, state=first.state)
    calls = sim.calls()
    assert set(calls) <= VERSION_CALLS, calls
    assert calls == {"GetUserToken": 1, "SelectVersion": 1, "ListVersion": 3}
    assert second.scope == {}  # nothing fetched: completeness checks must not judge any entity
    assert second.state == first.state
    assert {p["entity"] for p in sink.pages} == {"version"}


def test_changed_record_is_refetched_and_only_that_record(sim: Sim):
    first, _, _ = _run(sim)
    person = sim.world.werkgevers[WG].persons[3]
    answer = requests.post(f"{sim.url}/_sim/loket/mutate",
                           json={"id": person.id, "changes": {"last_name": "Zonderland"}}, timeout=5)
    assert answer.status_code == 200
    sim.reset_calls()
    second, sink, request = _run(sim, state=first.state)
    calls = sim.calls()
    assert calls["Select"] == 1 and calls["SelectVersion"] == 1 + 35  # werkgever + every Persoon
    assert "ExportLoonresultatenPerRun" not in calls
    out, parser = _normalize(sink, request)
    assert [(r["source_id"], r["last_name"]) for r in out.rows["employee"]] == [(person.id, "Zonderland")]
    assert "employment" not in out.rows and parser.issues == []
    assert second.scope == {"employee": "incremental"}
    assert second.state["werkgevers"][WG]["versions"]["Persoon"] > first.state["werkgevers"][WG]["versions"]["Persoon"]

    sim.reset_calls()  # the new state makes the next night quiet again
    _run(sim, state=second.state)
    assert set(sim.calls()) <= VERSION_CALLS


def test_full_refresh_ignores_stored_versions(sim: Sim):
    first, _, _ = _run(sim)
    sim.reset_calls()
    again, _, _ = _run(sim, state=first.state, full_refresh=True)
    assert sim.calls()["Select"] == 1 + 35 + 35
    assert again.scope["employee"] == "full" and again.scope["employment"] == "full"


def test_newly_approved_correction_run_is_exported_on_the_next_night(sim: Sim):
    first, _, _ = _run(sim)
    run_id = sim.app.add_run(WG, 2026, 11)
    sim.reset_calls()
    second, sink, request = _run(sim, state=first.state)
    assert sim.calls()["ExportLoonresultatenPerRun"] == 1  # the already exported run 1 is skipped
    out, _ = _normalize(sink, request)
    assert {(r["run_id"], r["run_sequence"]) for r in out.rows["payroll_result"]} == {(run_id, 2)}
    assert second.scope == {"payroll_period": "incremental", "payroll_result": "incremental"}


# ---------------------------------------------------------------------------- backfill

def test_backfill_fetches_the_requested_periods_approved_runs(sim: Sim):
    period = period_from_id("202505", "four_weeks")
    first, _, _ = _run(sim)
    sim.reset_calls()
    result, sink, request = _run(sim, state=first.state, backfill=True, period=period)
    out, _ = _normalize(sink, request)
    results = out.rows["payroll_result"]
    assert {r["period_id"] for r in results} == {"202505"} and {r["run_period_id"] for r in results} == {"202505"}
    [row] = out.rows["payroll_period"]
    assert (row["start_date"], row["end_date"]) == (date(2025, 4, 23), date(2025, 5, 20))
    runs = {run.id for run in sim.world.runs if run.werkgever_id == WG and (run.year, run.period) == (2025, 5)}
    assert sum(r["amount"] for r in results) == sum(line.amount for line in sim.world.results if line.run_id in runs)
    assert result.scope == {"payroll_period": "full", "payroll_result": "full"}
    # the nightly watermark for runs is untouched by a backfill
    assert result.state["werkgevers"][WG]["exported_runs"] == first.state["werkgevers"][WG]["exported_runs"]


# ------------------------------------------------------------------- tenant isolation

def test_user_seeing_two_werkgevers_extracts_only_the_configured_one(sim: Sim):
    result, sink, request = _run_as(sim, "Webservice#02", "demo2")
    other = sim.world.werkgevers[OTHER_WG]
    other_ids = {p.id for p in other.persons} | {e.id for e in other.employments}
    assert {p["source_id"] for p in sink.pages} == {WG}
    assert not any(any(i in p["payload"] for i in other_ids) for p in sink.pages)
    out, _ = _normalize(sink, request)
    assert {r["employer_source_id"] for r in out.rows["employee"]} == {WG}
    assert len(out.rows["employee"]) == 35


def _run_as(sim: Sim, login: str, password: str):
    sink = MemorySink()
    request = extract_request()
    result = connector(sim, login=login, password=password).extract(request, sink)
    return result, sink, request


# ---------------------------------------------------------------------- credentials etc.

def test_from_credentials_requires_the_omgevingscode_and_hides_secrets(sim: Sim):
    with pytest.raises(ConfigurationError, match="extra.omgevingscode"):
        LoketSoapConnector.from_credentials(SourceCredentials(host=sim.url, login="Webservice#01", password="demo"))
    conn = connector(sim)
    assert "demo" not in repr(conn).replace("Webservice#01", "")


def test_module_import_does_not_import_zeep():
    code = "import sys, payroll_etl.connectors.loket_soap; print('zeep' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "False"


def test_read_timeout_is_retried(sim: Sim):
    requests.post(f"{sim.url}/_sim/faults", json={"match": "^GetMetaData$", "kind": "timeout", "times": 1,
                                                   "seconds": 1.5}, timeout=5).raise_for_status()
    sink = MemorySink()
    LoketSoapConnector.from_credentials(credentials(sim.url, timeout=0.5)).extract(extract_request(), sink)
    assert sim.calls()["GetMetaData"] == 3 + 1  # Werkgever, Persoon, Dienstverband + the timed-out attempt
