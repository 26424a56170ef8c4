"""Scenario files (issue 15 §5): the demo world is one, small ones reproduce customer situations, and
`make simulators WORLD=<file>` serves them. Also the Nmbrs SVW_GetCurrent shape."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from decimal import Decimal

import pytest
import requests
from onboarding_support import NMBRS_USER, ROOT, SCENARIO

from payroll_etl.quality.identifiers import bsn_valid
from payroll_simulators.__main__ import SIMULATORS
from payroll_simulators.scenario import DEMO_SCENARIO, ScenarioError, dump_world, load_world, world_from_dict
from payroll_simulators.world import build_world, stable_id

EMPLOYEE_NS = "https://api.nmbrs.nl/soap/v3/EmployeeService"
COMPANY_NS = "https://api.nmbrs.nl/soap/v3/CompanyService"


def test_the_demo_world_file_is_the_generated_demo_world():
    assert load_world(DEMO_SCENARIO) == build_world(), (
        "include/payroll_simulators/scenarios/demo.yaml differs from build_world(): regenerate it with "
        "`python -m payroll_simulators.scenario dump include/payroll_simulators/scenarios/demo.yaml`")


def test_a_scenario_reads_back_the_same_from_yaml_and_json(tmp_path):
    world = load_world(SCENARIO)
    for name in ("again.yaml", "again.json"):
        dump_world(world, tmp_path / name)
        assert load_world(tmp_path / name) == world


def test_what_a_hand_written_scenario_leaves_out_is_filled_in():
    world = load_world(SCENARIO)
    wg = world.werkgevers[stable_id("werkgever", "mycompany_bv")]
    assert (wg.number, wg.name, wg.frequency) == (100101, "MyCompany B.V.", "month")
    anna = next(p for p in wg.persons if p.employee_number == 4)
    assert (anna.first_name, anna.last_name, anna.id) == ("Anna", "Jansen", stable_id("person", wg.id, 4))
    assert all(bsn_valid(p.bsn) for p in wg.persons)
    third = next(e for e in wg.employments if e.person_id == stable_id("person", wg.id, 3))
    assert [(w.start.isoformat(), w.gross_amount) for w in third.wages] == [
        ("2024-02-01", Decimal("3100.00")), ("2026-07-01", Decimal("3250.00"))]
    assert third.hours[0].start == third.start and third.fulltime_hours == 38
    by_period = {}
    for line in world.results:
        by_period.setdefault(next(r.period for r in world.runs if r.id == line.run_id), []).append(line)
    # run 9 lists its one line; run 10 gets the generator's lines: part-time wage and 8 % reservation
    assert [(ln.component, ln.amount) for ln in by_period[9]] == [("BRUTO_LOON", Decimal("4000.00"))]
    person2 = stable_id("employment", stable_id("person", wg.id, 2), 1)
    assert sorted((ln.component, ln.amount) for ln in by_period[10] if ln.employment_id == person2) == [
        ("BRUTO_LOON", Decimal("2160.00")), ("RESERVERING_VAKANTIEGELD", Decimal("172.80"))]


@pytest.mark.parametrize("change, says", [
    (lambda d: d["werkgevers"][0]["employments"][0]["wages"][0].update(amount=1),
     "x.yaml: werkgevers[0].employments[0].wages[0]: unknown field(s) ['amount']; WageVersion has"),
    (lambda d: d["werkgevers"][0]["employments"][0].update(start="2019-13-01"),
     "x.yaml: werkgevers[0].employments[0].start: '2019-13-01' is not a valid date"),
    (lambda d: d["werkgevers"][0]["employments"][0].update(person=99),
     "x.yaml: werkgevers[0].employments[0].person: no person with employee_number or id 99 in this werkgever"),
    (lambda d: d["runs"][0].update(werkgever="nobody"),
     "x.yaml: runs[0]: 'werkgever' must name a werkgever of this scenario (key or id)"),
    (lambda d: d.update(schema_version=2), "x.yaml: schema_version 2 is not supported (expected 1)"),
])
def test_a_mistake_in_a_scenario_names_the_file_and_the_place(change, says):
    import yaml

    data = yaml.safe_load(SCENARIO.read_text())
    change(data)
    with pytest.raises(ScenarioError) as err:
        world_from_dict(data, "x.yaml")
    assert str(err.value).startswith(says)


def test_the_loket_rest_simulator_serves_the_scenario_users(sims):
    token = requests.post(f"{sims['loket_rest'].url}/oauth/token", data={
        "grant_type": "password", "client_id": "onboarding-etl", "client_secret": "onboarding-secret",
        "username": "koppeling@filter.example", "password": "geheim"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    employers = requests.get(f"{sims['loket_rest'].url}/v2/providers/employers", headers=headers).json()
    assert [e["companyName"] for e in employers["_embedded"]] == ["Filter B.V."]
    wid = employers["_embedded"][0]["id"]
    listed = requests.get(f"{sims['loket_rest'].url}/v2/providers/employers/{wid}/employees/employments",
                          headers=headers).json()
    assert listed["_embedded"] == []  # the user's filter settings hide every employment


def _svw_client(url: str):
    import zeep

    client = zeep.Client(f"{url}/soap/v3/EmployeeService.asmx?WSDL")
    service = client.create_service(f"{{{EMPLOYEE_NS}}}EmployeeServiceSoap", f"{url}/soap/v3/EmployeeService.asmx")
    header = client.get_element(f"{{{EMPLOYEE_NS}}}AuthHeaderWithDomain")(
        Username=NMBRS_USER[0], Token=NMBRS_USER[1], Domain="mycompany")
    return service, header


def test_svw_get_current_always_has_every_group_with_nil_children(sims):
    service, header = _svw_client(sims["nmbrs"].url)
    with_cao = service.SVW_GetCurrent(EmployeeId=601001, _soapheaders=[header])
    assert (with_cao.CAO.CAOId, with_cao.CAO.CAOCode, with_cao.CAO.CAODescription) == (12, 1234, "Cao Voorbeeld")
    assert (with_cao.RiskGroup.RiskGroupId, with_cao.Sector.SectorCode, with_cao.WageCostBenefit.EndYear) == (
        None, None, None)
    assert (with_cao.StartYear, with_cao.StartPeriod) == (2019, 1)  # employment of person 1 started 2019-01-01

    raw = requests.post(f"{sims['nmbrs'].url}/soap/v3/EmployeeService.asmx", headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{EMPLOYEE_NS}/SVW_GetCurrent"'}, data=(
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
        f'<AuthHeaderWithDomain xmlns="{EMPLOYEE_NS}"><Username>{NMBRS_USER[0]}</Username>'
        f'<Token>{NMBRS_USER[1]}</Token><Domain>mycompany</Domain></AuthHeaderWithDomain></soap:Header><soap:Body>'
        f'<SVW_GetCurrent xmlns="{EMPLOYEE_NS}"><EmployeeId>606001</EmployeeId></SVW_GetCurrent>'
        '</soap:Body></soap:Envelope>'))
    assert raw.status_code == 200
    from lxml import etree

    result = etree.fromstring(raw.content).find(f".//{{{EMPLOYEE_NS}}}SVW_GetCurrentResult")
    nil = "{http://www.w3.org/2001/XMLSchema-instance}nil"
    groups = {etree.QName(c).localname: [(etree.QName(g).localname, g.get(nil)) for g in c]
              for c in result if len(c)}
    assert groups == {
        "CAO": [("CAOId", "true"), ("CAOCode", "true"), ("CAODescription", "true")],
        "RiskGroup": [("RiskGroupId", "true"), ("RiskGroupCode", "true"), ("RiskGroupDescription", "true")],
        "Sector": [("SectorId", "true"), ("SectorCode", "true"), ("SectorDescription", "true")],
        "WageCostBenefit": [("WageCostBenefitCode", "true"), ("EndPeriod", "true"), ("EndYear", "true")],
    }


def _list_companies(url: str) -> list[str]:
    body = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Header>'
            f'<AuthHeaderWithDomain xmlns="{COMPANY_NS}"><Username>{NMBRS_USER[0]}</Username>'
            f'<Token>{NMBRS_USER[1]}</Token><Domain>mycompany</Domain></AuthHeaderWithDomain></soap:Header>'
            f'<soap:Body><List_GetAll xmlns="{COMPANY_NS}" /></soap:Body></soap:Envelope>')
    response = requests.post(f"{url}/soap/v3/CompanyService.asmx", data=body, timeout=10, headers={
        "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{COMPANY_NS}/List_GetAll"'})
    response.raise_for_status()
    return re.findall(r"<Name>([^<]*)</Name>", response.text)


def test_make_simulators_with_world_serves_that_world():
    """As a support engineer runs it; `-o install` only keeps the suite from reinstalling the shared venv."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("MAKEFLAGS", None)
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "-o", "install", "simulators", f"WORLD={SCENARIO.relative_to(ROOT)}",
         "PORTS=" + " ".join(f"{name}=0" for name in SIMULATORS)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    # longest name first, so "nmbrs_rest" is not read as "nmbrs"
    names = "|".join(re.escape(name) for name in sorted(SIMULATORS, key=len, reverse=True))
    try:
        urls, seen = {}, []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line.rstrip())
            found = re.match(rf"^({names})\s+(http://127\.0\.0\.1:\d+)$", line.strip())
            if found:
                urls[found.group(1)] = found.group(2)
            if line.strip() == "ready":
                break
        assert f"world      {SCENARIO.relative_to(ROOT)}" in seen, seen
        assert set(urls) == set(SIMULATORS), seen
        assert _list_companies(urls["nmbrs"]) == ["MyCompany B.V.", "MyCompany Holding B.V.", "Lege B.V.",
                                                  "Acme B.V. (Nmbrs)"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_make_simulators_refuses_a_broken_scenario_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("werkgevers:\n  - {name: Zonder sleutel}\n")
    done = subprocess.run(["make", "--no-print-directory", "-o", "install", "simulators", f"WORLD={bad}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert f"error: {bad}: werkgevers[0]: give the werkgever an 'id' or a 'key'" in done.stderr


def test_the_simulators_import_nothing_from_payroll_etl():
    """Scenario files and simulators stand alone (a support engineer needs no pipeline to serve a world)."""
    import ast

    root = ROOT / "include" / "payroll_simulators"
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(root)}: {n}" for n in names if n.split(".")[0] == "payroll_etl"]
    assert offenders == []
