"""Onboarding input as customers type it (issue 15 §3), through the real connectors and the pipeline
against the simulators serving tests/scenarios/onboarding.yaml."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from onboarding_support import (
    ACME_WERKGEVER,
    FILTER_WERKGEVER,
    NIGHT,
    NMBRS_USER,
    Sink,
    loket_rest_credentials,
    loket_soap_credentials,
    nmbrs_credentials,
    nmbrs_employer,
)

from payroll_etl.config import EmployerConfig, load_config
from payroll_etl.connectors import connector_class
from payroll_etl.connectors.base import ExtractRequest
from payroll_etl.errors import ConfigurationError
from payroll_etl.periods import period_for
from payroll_etl.pipeline import RunContext, run_all

# What customers paste for the domain of https://mycompany.nmbrs.nl (seed 001 §1.1 item 3).
PASTED_DOMAINS = ["mycompany", "MyCompany", "mycompany.nmbrs.nl", "https://mycompany.nmbrs.nl/",
                  "  https://MyCompany.nmbrs.nl/applications/employee  ", "'mycompany'"]
DOMAIN_HINT = "the part between 'https://' and '.nmbrs' in the browser's address bar"


def _extract(connector_name: str, credentials, employer) -> tuple[object, Sink]:
    connector = connector_class(connector_name).from_credentials(credentials)
    sink = Sink()
    request = ExtractRequest(employer, NIGHT, period_for(NIGHT, "month"))
    try:
        return connector.extract(request, sink), sink
    finally:
        connector.close()


@pytest.mark.parametrize("pasted", PASTED_DOMAINS)
def test_every_pasted_form_of_the_nmbrs_domain_extracts_the_company(sims, pasted):
    connector = connector_class("nmbrs").from_credentials(nmbrs_credentials(sims["nmbrs"].url, pasted))
    assert connector.domain == "mycompany"
    result, sink = _extract("nmbrs", nmbrs_credentials(sims["nmbrs"].url, pasted),
                            nmbrs_employer("mycompany", "MyCompany B.V."))
    personal = [p for p in sink.pages if p.get("operation") == "PersonalInfo_GetCurrent"]
    assert sorted(m["employee_id"] for m in personal) == [601001, 601002, 601003, 601004]
    assert all(p["status"] == 200 for p in sink.pages)
    # 5 company-wide calls, a wage-code report per run of the scenario (2), then 3 calls per employee
    assert result.calls == 5 + 2 + 3 * 4 and len(result.state["runs_seen"]["100101"]) == 2


@pytest.mark.postgres
def test_a_pasted_nmbrs_url_loads_the_employer_through_the_pipeline(sims, postgres_url, tmp_path):
    employer = nmbrs_employer("mycompany_url", "MyCompany B.V.")
    out = run_all(RunContext(employer, NIGHT, data_dir=tmp_path, warehouse_url=postgres_url, today=NIGHT),
                  nmbrs_credentials(sims["nmbrs"].url, "https://mycompany.nmbrs.nl/"))
    assert out["load"]["status"] == "success", out
    assert out["normalize"]["rows"]["employee"] == 4 and out["normalize"]["rows"]["employment"] == 4


@pytest.mark.parametrize("pasted, says", [
    ("", "the Nmbrs domain is empty"),
    ("https://api.nmbrs.nl", "'api.nmbrs.nl' is an address of Nmbrs itself"),
    ("www.nmbrs.nl", "'www.nmbrs.nl' is an address of Nmbrs itself"),
    ("salaris@mycompany.example", "is an e-mail address (that is the user name)"),
    ("a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6", "looks like the API token (it belongs in the password field)"),
    ("my company", "'my company' is not a single name of letters, digits and hyphens"),
    ("https://mycompany.example.com/", "is not an Nmbrs address"),
])
def test_a_domain_that_cannot_be_normalised_is_refused_before_any_call(sims, pasted, says):
    with pytest.raises(ConfigurationError) as err:
        connector_class("nmbrs").from_credentials(nmbrs_credentials(sims["nmbrs"].url, pasted))
    message = str(err.value)
    assert message.startswith("Nmbrs connection: extra.domain: ") and says in message and DOMAIN_HINT in message
    assert "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6" not in message  # a token pasted in the wrong field is not repeated


def test_the_unnormalised_domain_is_what_nmbrs_refuses(sims):
    """Before the fix the pasted URL went out as is; the simulator (like Nmbrs) answers 1001 to that."""
    from payroll_etl.connectors.nmbrs import NmbrsConnector
    from payroll_etl.errors import AuthenticationError

    raw = NmbrsConnector(sims["nmbrs"].url, NMBRS_USER[0], NMBRS_USER[1], "mycompany.nmbrs.nl")
    with pytest.raises(AuthenticationError, match="1001 Invalid Authentication"):
        sink = Sink()
        try:
            raw.extract(ExtractRequest(nmbrs_employer("raw", "MyCompany B.V."), NIGHT, period_for(NIGHT, "month")),
                        sink)
        finally:
            raw.close()


def test_closest_company_names_are_reported_when_no_name_matches_exactly(sims):
    with pytest.raises(ConfigurationError) as err:
        _extract("nmbrs", nmbrs_credentials(sims["nmbrs"].url, "mycompany"),
                 nmbrs_employer("mycompany", "Mycompany BV"))
    message = str(err.value)
    assert "Nmbrs company 'Mycompany BV' not found among the 4 companies this API user sees" in message
    assert ("closest names: 'MyCompany B.V.' (Company ID 100101), 'MyCompany Holding B.V.' (Company ID 100102)"
            in message)
    assert "enter the literal name as Nmbrs shows it, or the Company ID" in message


def test_a_name_that_differs_only_in_case_and_spaces_is_named_first(sims):
    with pytest.raises(ConfigurationError, match=r"closest names: 'MyCompany B\.V\.' \(Company ID 100101\)"):
        _extract("nmbrs", nmbrs_credentials(sims["nmbrs"].url, "mycompany"),
                 nmbrs_employer("mycompany", "mycompany  b.v."))


def test_a_company_id_with_spaces_selects_the_company(sims):
    _, sink = _extract("nmbrs", nmbrs_credentials(sims["nmbrs"].url, "mycompany"),
                       nmbrs_employer("mycompany", " 100101 "))
    assert {p["source_id"] for p in sink.pages if p["entity"] == "employee"} == {"100101"}


def _employers_yaml(tmp_path, connector: str, source_ids: list[str]):
    path = tmp_path / "employers.yaml"
    path.write_text(json.dumps({"employers": [{"employer": "acme", "connector": connector,
                                                "source_ids": source_ids, "conn_id": "payroll_acme"}]}))
    return load_config(path)


@pytest.mark.parametrize("pasted", [
    ACME_WERKGEVER, ACME_WERKGEVER.upper(), f"{{{ACME_WERKGEVER.upper()}}}", f"  {ACME_WERKGEVER}\u00a0",
    ACME_WERKGEVER.replace("-", ""), f"urn:uuid:{ACME_WERKGEVER}",
])
def test_loket_werkgever_id_variants_extract_the_werkgever(sims, tmp_path, pasted):
    employer = _employers_yaml(tmp_path, "loket_soap", [pasted, ACME_WERKGEVER.upper()]).employers[0]
    assert employer.source_ids == (ACME_WERKGEVER,)  # one werkgever, in Loket's form
    _, sink = _extract("loket_soap", loket_soap_credentials(sims["loket_soap"].url, " ACME01\u200b"), employer)
    persons = [p for p in sink.pages if p["entity"] == "persoon"]
    assert len(persons) == 12 and {p["source_id"] for p in persons} == {ACME_WERKGEVER}


@pytest.mark.parametrize("pasted, says", [
    ("123456", "is a number (the werkgevernummer or klantnummer), not the werkgever id"),
    ("Acme B.V.", "is not a GUID"),
    ("{}", "the Loket werkgever id is empty"),
])
def test_a_werkgever_id_that_is_not_one_is_refused_with_what_to_enter(tmp_path, pasted, says):
    with pytest.raises(ConfigurationError) as err:
        _employers_yaml(tmp_path, "loket_rest", [pasted])
    message = str(err.value)
    assert "employers[0]: source_ids[0]: " in message and says in message
    assert "the GUID shown in Loket.nl under Werkgever > Bedrijfsgegevens" in message


@pytest.mark.parametrize("pasted, says", [
    ("  \u00a0", "the Loket omgevingscode is empty"),
    ("https://www.loket.nl/", "is a web address, not a code"),
    ("ACME 01", "contains spaces"),
])
def test_an_omgevingscode_that_is_not_one_is_refused_without_repeating_it(sims, pasted, says):
    with pytest.raises(ConfigurationError) as err:
        connector_class("loket_soap").from_credentials(loket_soap_credentials(sims["loket_soap"].url, pasted))
    message = str(err.value)
    assert message.startswith("Loket SOAP connection: extra.omgevingscode: ") and says in message
    assert "Loket.nl support" in message and (not pasted or pasted not in message)


def test_the_connection_extras_are_normalised_when_airflow_builds_the_connector():
    """A real Airflow Connection (env var) with the connector and domain typed loosely."""
    from e2e_support import environment

    from payroll_etl.airflow.hooks import PayrollSourceHook

    conn = {"conn_type": "http", "host": "http://127.0.0.1:9", "login": NMBRS_USER[0], "password": NMBRS_USER[1],
            "extra": {"connector": " Nmbrs ", "domain": "https://MyCompany.nmbrs.nl/"}}
    with environment(AIRFLOW_CONN_PAYROLL_ONBOARDING_ACME=json.dumps(conn)):
        connector = PayrollSourceHook("payroll_onboarding_acme").get_conn()
    assert type(connector).__name__ == "NmbrsConnector" and connector.domain == "mycompany"


def test_loket_rest_client_credentials_pasted_with_spaces_still_log_in(sims):
    credentials = loket_rest_credentials(sims["loket_rest"].url)
    credentials = replace(credentials, extra={**credentials.extra, "client_id": " onboarding-etl\n",
                                              "client_secret": "onboarding-secret \n"})
    employer = EmployerConfig("filter_bv", "Filter B.V.", "loket_rest", (f" {{{FILTER_WERKGEVER.upper()}}}",),
                              "payroll_filter_bv")
    _, sink = _extract("loket_rest", credentials, employer)
    employer_pages = [p for p in sink.pages if p["entity"] == "employer"]
    assert [(p["source_id"], p["status"]) for p in employer_pages] == [(FILTER_WERKGEVER, 200)]
