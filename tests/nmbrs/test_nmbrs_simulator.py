"""The simulator speaks the real service shapes: checked with a strict zeep client and raw HTTP."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import zeep
from lxml import etree

from payroll_simulators.nmbrs.app import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME, SEED_CALLS

NS = "https://api.nmbrs.nl/soap/v3/{}"
EMPLOYEE = 571_001
COMPANY = 100_071


def post(url: str, service: str, operation: str, body: str, header: str | None = None) -> tuple[int, bytes]:
    ns = NS.format(service)
    header = header if header is not None else (
        f'<AuthHeaderWithDomain xmlns="{ns}"><Username>{DEMO_USERNAME}</Username><Token>{DEMO_TOKEN}</Token>'
        f"<Domain>{DEMO_DOMAIN}</Domain></AuthHeaderWithDomain>")
    envelope = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
                f'<soap:Header>{header}</soap:Header><soap:Body><{operation} xmlns="{ns}">{body}</{operation}>'
                "</soap:Body></soap:Envelope>").encode()
    request = urllib.request.Request(f"{url}/soap/v3/{service}.asmx", data=envelope, method="POST", headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{ns}/{operation}"'})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.parametrize("service", ["EmployeeService", "CompanyService"])
@pytest.mark.parametrize("query", ["WSDL", "wsdl"])
def test_wsdl_is_served_with_the_simulators_own_address(sim, service, query):
    with urllib.request.urlopen(f"{sim.url}/soap/v3/{service}.asmx?{query}", timeout=10) as resp:
        root = etree.fromstring(resp.read())
    addresses = root.xpath("//*[local-name()='address']/@location")
    assert addresses and set(addresses) == {f"{sim.url}/soap/v3/{service}.asmx"}
    assert root.get("targetNamespace") == NS.format(service)


def test_every_seed_call_answers_in_schema_order_for_a_strict_zeep_client(sim):
    """zeep in strict mode raises on any out-of-order or unknown element."""
    settings = zeep.Settings(strict=True)
    clients = {s: zeep.Client(f"{sim.url}/soap/v3/{s}.asmx?WSDL", settings=settings)
               for s in ("CompanyService", "EmployeeService")}
    header = {s: c.get_element(f"{{{NS.format(s)}}}AuthHeaderWithDomain")(
        Username=DEMO_USERNAME, Token=DEMO_TOKEN, Domain=DEMO_DOMAIN) for s, c in clients.items()}
    runs = clients["CompanyService"].service.Run_GetList(CompanyId=COMPANY, Year=2026,
                                                         _soapheaders=[header["CompanyService"]])
    args = {"CompanyId": COMPANY, "CompanyID": COMPANY, "EmployeeId": EMPLOYEE, "Year": 2026, "Period": 11,
            "RunId": runs[0].ID, "intYear": 2026, "WageCode": 1000, "EmployeeType": 0}
    answered = set()
    for service, client in clients.items():
        for name, operation in client.service._binding._operations.items():
            params = {p: args[p] for p, _ in operation.input.body.type.elements}
            getattr(client.service, name)(**params, _soapheaders=[header[service]])
            answered.add(name)
    assert answered == set(SEED_CALLS)


def test_fault_has_the_asmx_form(sim):
    status, body = post(sim.url, "EmployeeService", "PersonalInfo_GetCurrent", f"<EmployeeId>{EMPLOYEE}</EmployeeId>",
                        header="")
    assert status == 500
    fault = etree.fromstring(body).find(".//{http://schemas.xmlsoap.org/soap/envelope/}Fault")
    assert fault.findtext("faultcode") == "soap:Server"
    assert fault.findtext("faultstring") == "Server was unable to process request. ---> 1001: Invalid Authentication"


def test_header_in_another_services_namespace_is_not_authentication(sim):
    wrong = (f'<AuthHeaderWithDomain xmlns="{NS.format("CompanyService")}"><Username>{DEMO_USERNAME}</Username>'
             f"<Token>{DEMO_TOKEN}</Token><Domain>{DEMO_DOMAIN}</Domain></AuthHeaderWithDomain>")
    status, body = post(sim.url, "EmployeeService", "PersonalInfo_GetCurrent", f"<EmployeeId>{EMPLOYEE}</EmployeeId>",
                        header=wrong)
    assert status == 500 and b"1001: Invalid Authentication" in body


def test_missing_soap_action_is_a_client_fault(sim):
    request = urllib.request.Request(f"{sim.url}/soap/v3/CompanyService.asmx", method="POST", data=b"<x/>",
                                     headers={"Content-Type": "text/xml; charset=utf-8"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code in (400, 500) and b"soap:Client" in err.value.read()


def test_empty_lists_are_empty_result_elements(sim):
    status, body = post(sim.url, "EmployeeService", "WageComponentVar_GetCurrent",
                        f"<EmployeeId>{EMPLOYEE}</EmployeeId>")
    result = etree.fromstring(body).find(f".//{{{NS.format('EmployeeService')}}}WageComponentVar_GetCurrentResult")
    assert status == 200 and result is not None and len(result) == 0
    status, body = post(sim.url, "EmployeeService", "Partner_Get", f"<EmployeeId>{EMPLOYEE}</EmployeeId>")
    response = etree.fromstring(body).find(f".//{{{NS.format('EmployeeService')}}}Partner_GetResponse")
    assert status == 200 and len(response) == 0


def test_nil_value_types_and_omitted_null_strings(sim):
    status, body = post(sim.url, "EmployeeService", "Employment_GetAll_AllEmployeesByCompany",
                        f"<CompanyID>{COMPANY}</CompanyID>")
    assert b'<EndDate xsi:nil="true"/>' in body
    status, body = post(sim.url, "CompanyService", "List_GetAll", "")
    assert b"<PhoneNumber" not in body and b"<LoonaangifteTijdvak>Month</LoonaangifteTijdvak>" in body


def test_half_fault_answers_company_wide_lists_with_half_the_employees(sim):
    def count() -> int:
        _, body = post(sim.url, "EmployeeService", "Employment_GetAll_AllEmployeesByCompany",
                       f"<CompanyID>{COMPANY}</CompanyID>")
        return len(etree.fromstring(body).findall(f".//{{{NS.format('EmployeeService')}}}EmployeeEmploymentItem"))

    full = count()
    sim.switch.add("Employment_GetAll", "half")
    assert count() == full // 2
    assert count() == full


def test_calls_are_counted_per_operation(sim):
    post(sim.url, "CompanyService", "List_GetAll", "")
    with urllib.request.urlopen(f"{sim.url}/_sim/calls", timeout=10) as resp:
        assert b'"List_GetAll": 1' in resp.read()
