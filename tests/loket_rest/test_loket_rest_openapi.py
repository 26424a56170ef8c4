"""Every simulator response the connector receives validates against the official OpenAPI excerpt."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from loket_rest_support import MemorySink, connector, employer, request_for, wid
from openapi_schema_validator import OAS31Validator

# The official Loket OpenAPI excerpt (alfa1-group/Loket resources/loket-openapi.json), vendored so
# the contract test runs wherever the repository is cloned.
SPEC_PATH = Path(__file__).resolve().parent / "fixtures" / "loket-openapi-excerpt.json"


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(SPEC_PATH.read_text())


def _template(spec: dict, path: str) -> str:
    matches = [t for t in spec["paths"]
               if re.match("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)) + "$", path)]
    assert matches, f"{path} is not in the OpenAPI excerpt"
    return min(matches, key=lambda t: t.count("{"))  # a literal segment beats a path parameter


def _validate(spec: dict, template: str, status: str, body: object, media: str | None = None) -> None:
    response = spec["paths"][template]["get"]["responses"][status]
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content") or {}
    if not content:
        return  # 404/500 declare no body
    schema = content[media or next(iter(content))]["schema"]
    validator = OAS31Validator({**schema, "components": spec["components"]},
                               format_checker=OAS31Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{template} {status}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in errors[:5])


def test_every_connector_response_validates(sim, spec):
    conn = connector(sim)
    sink = MemorySink()
    bakkerij = employer("bakkerij_de_vries")
    first = conn.extract(request_for(bakkerij), sink)
    target = sim.app.world.werkgevers[wid("bakkerij_de_vries")].employments[3]
    sim.app.change_hours(target.id, Decimal("24"), date(2026, 11, 1))
    conn.extract(request_for(bakkerij, state=first.state), sink)
    conn.extract(request_for(bakkerij, date(2025, 6, 10), backfill=True), sink)
    conn.extract(request_for(employer("techniek_noord", frequency="four_weeks")), sink)

    seen: set[str] = set()
    for page in sink.pages:
        body = json.loads(page.payload)
        template = _template(spec, urlsplit(page.url).path)
        version = body["version"]["resourceVersion"]
        _validate(spec, template, "200", body, f"application/json;version={version}")
        seen.add(template)
    assert len(seen) == 12, sorted(seen)  # every endpoint the connector uses was exercised


def test_other_simulated_endpoints_and_error_bodies_validate(sim, spec):
    token = requests.post(f"{sim.url}/oauth/token", data={
        "grant_type": "password", "username": "demo@example.nl", "password": "demo",
        "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}).json()["access_token"]
    wg = sim.app.world.werkgevers[wid("bakkerij_de_vries")]
    emp, person = wg.employments[0], wg.persons[0]
    from payroll_simulators.loket_rest.render import admin_id

    base = f"{sim.url}/v2/providers/employers"
    for path, version in [
        (f"/employees/{person.id}", "2018-12-31"), (f"/employees/{person.id}", "2021-03-29"),
        (f"/employees/{person.id}/employments", "2019-12-16"),
        (f"/employees/employments/{emp.id}/wages", "2018-01-01"),
        (f"/employees/employments/{emp.id}/workinghours", "2018-01-01"),
        (f"/{wg.id}/employees", "2018-12-31"),
        (f"/payrolladministrations/{admin_id(wg)}/payrollresults?payrollPeriodIdStart=202601&payrollPeriodIdEnd=202602",
         "2018-01-01"),
        ("", "2018-01-01"),
    ]:
        r = requests.get(base + path, headers={"Authorization": f"Bearer {token}",
                                               "Accept": f"application/json;version={version}"})
        assert r.status_code == 200, (path, r.text)
        body = r.json()
        assert body["version"]["resourceVersion"] == version
        _validate(spec, _template(spec, urlsplit(r.url).path), "200", body, f"application/json;version={version}")
        if "content" in body:
            assert r.headers["ETag"].startswith('W/"')

    unauthorized = requests.get(base, headers={"Authorization": "Bearer nope", "Accept": "application/json"})
    assert unauthorized.status_code == 401
    _validate(spec, "/v2/providers/employers", "401", unauthorized.json())
    forbidden = requests.get(f"{base}/{wid('transport_oost')}", headers={"Authorization": f"Bearer {token}"})
    assert forbidden.status_code == 403 and forbidden.json()["messages"]
    _validate(spec, "/v2/providers/employers/{employerId}", "403", forbidden.json())
    bad = requests.get(f"{base}/{wg.id}/employees", params={"filter": "(("},
                       headers={"Authorization": f"Bearer {token}"})
    assert bad.status_code == 400
    _validate(spec, "/v2/providers/employers/{employerId}/employees", "400", bad.json())
