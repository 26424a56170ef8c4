"""Contract: every simulator answer the connector uses validates against the official Nmbrs OpenAPI.

The excerpt (tests/nmbrs_rest/fixtures/nmbrs-openapi-excerpt.yaml) is derived verbatim from the
official document (``derive_excerpt.py`` names the source), so this test runs without ../shared.
Checked: the path exists, every query parameter the connector sent is declared for the operation
and satisfies its schema (pageSize ≤ 100), the response validates against the operation's response
schema (OpenAPI 3.0: ``nullable``), and the error bodies (400, 401, 403, 404, 429, 500, 503) validate
against the spec's error responses.
"""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import yaml
from nmbrs_calls import MemorySink
from openapi_schema_validator import OAS30Validator

from payroll_etl.connectors.loket_tokens import MemoryTokenStore
from payroll_etl.periods import period_for
from payroll_simulators.nmbrs_rest.app import DEMO_SUBSCRIPTION_KEY
from payroll_simulators.nmbrs_rest.render import company_id
from payroll_simulators.world import stable_id

SPEC_PATH = Path(__file__).resolve().parent / "fixtures" / "nmbrs-openapi-excerpt.yaml"


@pytest.fixture(scope="module")
def spec() -> dict:
    return yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))


def template(spec: dict, path: str) -> str:
    matches = [t for t in spec["paths"]
               if re.match("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$", path)]
    assert matches, f"{path} is not in the OpenAPI excerpt"
    return min(matches, key=lambda t: t.count("{"))


def resolve(spec: dict, node: dict) -> dict:
    while "$ref" in node:
        _, _, kind, name = node["$ref"].split("/", 3)
        node = spec["components"][kind][name]
    return node


def validate_body(spec: dict, path_template: str, status: str, body: object, media: str = "application/json") -> None:
    response = resolve(spec, spec["paths"][path_template]["get"]["responses"][status])
    schema = response["content"][media]["schema"]
    validator = OAS30Validator({**schema, "components": spec["components"]},
                               format_checker=OAS30Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{path_template} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5])


def validate_query(spec: dict, path_template: str, query: dict[str, list[str]]) -> None:
    item = spec["paths"][path_template]
    declared = {}
    for param in item.get("parameters", []) + item["get"].get("parameters", []):
        param = resolve(spec, param)
        declared[(param["in"], param["name"])] = param
    for name, values in query.items():
        assert ("query", name) in declared, f"{path_template}: query parameter {name} is not in the spec"
        schema = declared[("query", name)]["schema"]
        value: object = [int(v) for v in values] if schema.get("type") == "array" else values[0]
        if schema.get("type") == "integer":
            value = int(values[0])
        validator = OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)
        assert not list(validator.iter_errors(value)), f"{path_template}: {name}={values} violates its schema"


def test_every_answer_the_connector_uses_validates(kit, sim, spec):
    sink = MemorySink()
    employer = kit.employer(include=["bank_accounts"], wage_codes=[1000, 2400])
    first, _ = kit.extract(employer, sink=sink)
    employee = sim.world.werkgevers[stable_id("werkgever", "transport_oost")].employments[2]
    from payroll_simulators.nmbrs_rest import render

    sim.add_salary(render.employment_id(sim.world, sim.world.werkgevers[employee.werkgever_id], employee),
                   date(2026, 12, 1), Decimal("4321.00"))
    second, _ = kit.extract(employer, sink=sink, state=first.state, logical_date=date(2026, 11, 24))  # probe: new
    kit.extract(employer, sink=sink, state=second.state, logical_date=date(2026, 11, 25))  # probe: nothing new
    kit.extract(kit.employer(debtor_id=sim.environments["demo@example.nl"].debtor_id), sink=sink,
                logical_date=date(2026, 1, 5), period=period_for(date(2026, 1, 5), "month"))  # January: two years
    kit.extract(kit.employer("Schoonmaak West B.V."), sink=sink, backfill=True, logical_date=date(2025, 6, 10),
                period=period_for(date(2025, 6, 10), "four_weeks"))

    seen: set[str] = set()
    for page in sink.pages:
        parts = urlsplit(page["url"])
        path_template = template(spec, parts.path)
        validate_query(spec, path_template, parse_qs(parts.query))
        seen.add(path_template)
        if page["content_type"] == "application/octet-stream":
            assert page["payload"].startswith("<?xml") and "<reports" in page["payload"]
            continue
        validate_body(spec, path_template, "200", json.loads(page["payload"]))
    assert seen == set(spec["paths"]) - {"/api/debtors"}, sorted(set(spec["paths"]) - seen)
    probes = [p for p in sink.pages if p["entity"] == "change_probe"]
    assert probes and all(parse_qs(urlsplit(p["url"]).query)["createdFrom"] for p in probes)


def test_paging_headers_and_document_tasks(kit, sim, spec):
    tokens = kit.store.load()
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
    cid = company_id(sim.world.werkgevers[stable_id("werkgever", "transport_oost")])
    base = f"{sim.url}/api/companies/{cid}/employees/personalinfo"
    first = requests.get(base, params={"pageSize": 10}, headers=headers, timeout=10).json()
    validate_body(spec, "/api/companies/{companyId}/employees/personalinfo", "200", first)
    pagination = first["pagination"]
    assert pagination["totalRecords"] == 45 and pagination["totalPages"] == 5 and len(first["data"]) == 10
    assert pagination["previousPage"] is None and "pageNumber=2" in pagination["nextPage"]
    last = requests.get(pagination["lastPage"], headers=headers, timeout=10).json()
    assert len(last["data"]) == 5 and last["pagination"]["nextPage"] is None
    default = requests.get(base, headers=headers, timeout=10).json()
    assert default["pagination"]["pageSize"] == 20  # the spec's default

    debtors = requests.get(f"{sim.url}/api/debtors", headers=headers, timeout=10).json()
    validate_body(spec, "/api/debtors", "200", debtors)
    runs = requests.get(f"{sim.url}/api/companies/{cid}/runs", params={"year": 2026}, headers=headers,
                        timeout=10).json()
    task = requests.get(f"{sim.url}/api/companies/{cid}/runs/{runs['data'][0]['payrollRunId']}/wagecodes/xml",
                        params={"year": 2026}, headers=headers, timeout=10).json()
    pending = requests.get(f"{sim.url}/api/documents/{task['taskId']}", headers=headers, timeout=10)
    assert pending.status_code == 202
    validate_body(spec, "/api/documents/{taskId}", "202", pending.json())
    ready = requests.get(f"{sim.url}/api/documents/{task['taskId']}", headers=headers, timeout=10)
    assert ready.status_code == 200 and ready.headers["Content-Type"] == "application/octet-stream"


@pytest.mark.parametrize(("case", "status"), [
    ("no subscription key", "401"), ("no token", "401"), ("bad token", "401"), ("missing scope", "403"),
    ("other company", "403"), ("unknown company", "404"), ("pageSize 101", "400"), ("quota", "429"),
    ("throttled", "429"), ("server error", "500"), ("unavailable", "503"),
])
def test_error_bodies_validate(kit, sim, spec, case, status):
    tokens = kit.store.load()
    headers = {"Authorization": f"Bearer {tokens['access_token']}", "X-Subscription-Key": DEMO_SUBSCRIPTION_KEY}
    own = company_id(sim.world.werkgevers[stable_id("werkgever", "transport_oost")])
    other = company_id(sim.world.werkgevers[stable_id("werkgever", "bakkerij_de_vries")])
    path, params = f"/api/companies/{own}/employees/salaries", {}
    if case == "no subscription key":
        headers.pop("X-Subscription-Key")
    elif case == "no token":
        headers.pop("Authorization")
    elif case == "bad token":
        headers["Authorization"] = "Bearer nope"
    elif case == "missing scope":
        path = f"/api/companies/{own}/employees/salaries"
        limited = kit.consent(scopes=("company.info.read", "offline_access"), store=MemoryTokenStore())
        headers["Authorization"] = f"Bearer {limited['access_token']}"
    elif case == "other company":
        path = f"/api/companies/{other}/period"
    elif case == "unknown company":
        path = f"/api/companies/{stable_id('no-such-company')}/period"
    elif case == "pageSize 101":
        params = {"pageSize": 101}
    else:
        kind = {"quota": "quota", "throttled": "429", "server error": "500", "unavailable": "503"}[case]
        sim.switch.add("salaries", kind)
    response = requests.get(f"{sim.url}{path}", params=params, headers=headers, timeout=10)
    assert str(response.status_code) == status, response.text
    body = response.json()
    validate_body(spec, template(spec, path), status, body)
    assert body["httpStatus"] == response.status_code
    if case == "quota":
        assert body["code"] == 42909 and "Retry-After" not in response.headers
    if case == "throttled":
        assert response.headers["Retry-After"] == "1"
    if case == "missing scope":
        assert "employee.employment.read" in body["detail"]

