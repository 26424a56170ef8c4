"""Extraction contract against the simulator: paging, versions, filter, incremental, payroll, tenants."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import requests
from loket_rest_support import (
    LOGICAL_DATE,
    MemorySink,
    connector,
    employer,
    page_number,
    request_for,
    wid,
)

from payroll_etl.connectors.loket_rest import LoketRestConnector
from payroll_etl.parsing import Parser
from payroll_simulators.world import PayrollResultLine, PayrollRun, bsn_checksum_ok, stable_id


def _normalize(sink: MemorySink, emp, day: date = LOGICAL_DATE):
    req = request_for(emp, day)
    return LoketRestConnector.normalize(sink.pages, emp, req.period, Parser(emp.employer))


def test_full_extract_lands_every_page_and_normalizes_the_employer(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    result = connector(sim).extract(request_for(emp), sink)
    world_wg = sim.app.world.werkgevers[wid("bakkerij_de_vries")]

    out = _normalize(sink, emp)
    assert out.issues == []
    assert len(out.rows["employee"]) == len(world_wg.persons) == 60
    assert all(bsn_checksum_ok(r["bsn"]) for r in out.rows["employee"])
    assert {r["source_id"] for r in out.rows["employment"]} == {e.id for e in world_wg.employments}
    (er,) = out.rows["employer"]
    assert er["name"] == "Bakkerij De Vries B.V." and er["payroll_frequency"] == "month"
    assert er["loonheffingennummer"] == world_wg.loonheffingennummer
    assert er["valid_from"] == date(2026, 11, 1)  # snapshot entity: the period start
    assert result.scope["employee"] == result.scope["employment"] == result.scope["salary"] == "full"
    highest = max(sim.app.world.record_versions[e.id] for e in world_wg.employments)
    assert result.state["werkgevers"][wid("bakkerij_de_vries")]["employment_version"] == highest
    assert result.calls == len(sink.pages)  # no failed calls, every response landed


def test_part_time_factor_is_hours_over_fulltime_hours(sim):
    emp = employer("bakkerij_de_vries")
    world_wg = sim.app.world.werkgevers[wid("bakkerij_de_vries")]
    parttimer = next(e for e in world_wg.employments if e.end is None and e.hours[-1].hours_per_week < e.fulltime_hours)
    sink = MemorySink()
    connector(sim).extract(request_for(emp), sink)
    row = next(r for r in _normalize(sink, emp).rows["employment"] if r["source_id"] == parttimer.id)
    assert row["hours_per_week"] == parttimer.hours[-1].hours_per_week
    assert row["fulltime_hours_per_week"] == parttimer.fulltime_hours
    assert row["part_time_factor"] == (parttimer.hours[-1].hours_per_week / parttimer.fulltime_hours).quantize(
        Decimal("0.0001"))


def test_pages_until_current_page_equals_total_pages(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    connector(sim, page_size=7).extract(request_for(emp), sink)
    employee_pages = [p for p in sink.pages if p.entity == "employee"]
    assert [page_number(p.url) for p in employee_pages] == list(range(1, 10))  # 60 employees / 7 per page
    last = json.loads(employee_pages[-1].payload)
    assert last["currentPage"] == last["totalPages"] == 9
    assert len(_normalize(sink, emp).rows["employee"]) == 60


def test_accept_version_header_selects_the_resource_version(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    connector(sim).extract(request_for(emp), sink)
    for page, meta in zip(sink.pages, sink.meta, strict=True):
        assert json.loads(page.payload)["version"]["resourceVersion"] == meta["accept_version"], page.entity
    assert {m["accept_version"] for p, m in zip(sink.pages, sink.meta, strict=True) if p.entity == "employee"} == {
        "2021-03-29"}
    # the simulator picks the newest version on or before the requested date and reports obsoleteDate
    token = requests.post(f"{sim.url}/oauth/token", data={
        "grant_type": "password", "username": "demo@example.nl", "password": "demo",
        "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}).json()["access_token"]
    r = requests.get(f"{sim.url}/v2/providers/employers/{wid('bakkerij_de_vries')}/employees",
                     headers={"Authorization": f"Bearer {token}", "Accept": "application/json;version=2020-06-01"})
    assert r.json()["version"] == {"resourceVersion": "2018-12-31", "obsoleteDate": "2021-09-28"}
    assert "businessEmailAddress" not in r.json()["_embedded"][0]["contactInformation"]


def test_filter_and_etag_on_the_simulator(sim):
    token = requests.post(f"{sim.url}/oauth/token", data={
        "grant_type": "password", "username": "demo@example.nl", "password": "demo",
        "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json;version=2019-12-16"}
    base = f"{sim.url}/v2/providers/employers/{wid('bakkerij_de_vries')}"
    leavers = requests.get(f"{base}/employees/employments", headers=headers, params={"filter": "endDate ne null"})
    world_leavers = [e for e in sim.app.world.werkgevers[wid("bakkerij_de_vries")].employments if e.end]
    assert leavers.json()["totalSize"] == len(world_leavers) > 0
    bad = requests.get(f"{base}/employees/employments", headers=headers, params={"filter": "endDate zz 1"})
    assert bad.status_code == 400 and bad.json()["messages"][0]["type"] == "BrokenBusinessRule"
    detail = requests.get(base, headers=headers)
    assert detail.headers["ETag"].startswith('W/"')
    assert requests.get(base, headers={**headers, "If-None-Match": detail.headers["ETag"]}).status_code == 304


def test_incremental_run_fetches_only_changed_employments(sim):
    emp = employer("bakkerij_de_vries")
    conn = connector(sim)
    first = conn.extract(request_for(emp), MemorySink())
    world_wg = sim.app.world.werkgevers[wid("bakkerij_de_vries")]
    target = next(e for e in world_wg.employments if e.end is None)
    sim.app.change_hours(target.id, Decimal("20"), date(2026, 11, 1))

    sink = MemorySink()
    second = conn.extract(request_for(emp, state=first.state), sink)
    out = _normalize(sink, emp)
    assert [r["source_id"] for r in out.rows["employment"]] == [target.id]
    assert out.rows["employment"][0]["hours_per_week"] == Decimal("20")
    assert [r["source_id"] for r in out.rows["employee"]] == [target.person_id]
    assert second.scope["employment"] == "incremental"
    assert "filter=" in next(p.url for p in sink.pages if p.entity == "employment")
    watermark = second.state["werkgevers"][wid("bakkerij_de_vries")]["employment_version"]
    assert watermark == sim.app.world.version > first.state["werkgevers"][wid("bakkerij_de_vries")][
        "employment_version"]

    quiet = MemorySink()
    conn.extract(request_for(emp, state=second.state), quiet)
    assert not {"employee", "employment", "wage", "citizen_service_number"} & set(quiet.entities())

    forced = MemorySink()
    result = conn.extract(request_for(emp, state=second.state, full_refresh=True), forced)
    assert result.scope["employee"] == "full" and forced.entities()["citizen_service_number"] == 60


def test_payroll_results_keyed_on_employment_period_run_component(sim):
    emp = employer("bakkerij_de_vries")
    conn = connector(sim)
    sink = MemorySink()
    first = conn.extract(request_for(emp), sink)
    out = _normalize(sink, emp)
    world = sim.app.world
    wg_id = wid("bakkerij_de_vries")
    runs = {r.id: r for r in world.runs if r.werkgever_id == wg_id}
    expected = [line for line in world.results if line.run_id in runs]
    assert len(out.rows["payroll_result"]) == len(expected)
    keys = {r["source_id"] for r in out.rows["payroll_result"]}
    assert len(keys) == len(expected)  # unique on (employment, period, run, component)
    row = out.rows["payroll_result"][0]
    assert row["source_id"] == f"{row['employment_source_id']}/{row['period_id']}/{row['run_id']}/{row['component']}"
    assert len(out.rows["payroll_period"]) == 24 and first.scope["payroll_result"] == "incremental"

    nothing_new = MemorySink()
    second = conn.extract(request_for(emp, state=first.state), nothing_new)
    assert "payroll_result" not in nothing_new.entities()

    # a correction run for October with a retroactive line for March: only October is re-fetched
    emp_id = world.werkgevers[wg_id].employments[0].id
    correction = PayrollRun(stable_id("run", wg_id, 2026, 10, 2), wg_id, 2026, 10, 2, date(2026, 10, 30))
    world.runs.append(correction)
    world.results += [PayrollResultLine(correction.id, emp_id, 2026, 10, "BRUTO_LOON", Decimal("100.00")),
                      PayrollResultLine(correction.id, emp_id, 2026, 3, "BRUTO_LOON", Decimal("12.50"))]
    sink3 = MemorySink()
    conn.extract(request_for(emp, state=second.state), sink3)
    assert [p.url.rsplit("/", 2)[-2] for p in sink3.pages if p.entity == "payroll_result"] == ["202610"]
    rows = _normalize(sink3, emp).rows["payroll_result"]
    retro = next(r for r in rows if r["period_id"] == "202603")
    assert (retro["run_id"], retro["run_sequence"], retro["run_period_id"], retro["amount"]) == (
        correction.id, 2, "202610", Decimal("12.5"))


def test_backfill_fetches_exactly_the_requested_period(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    result = connector(sim).extract(request_for(emp, date(2026, 3, 15), backfill=True), sink)
    result_pages = [p for p in sink.pages if p.entity == "payroll_result"]
    assert [p.url.rsplit("/", 2)[-2] for p in result_pages] == ["202603"]
    rows = _normalize(sink, emp, date(2026, 3, 15)).rows
    assert {r["period_id"] for r in rows["payroll_result"]} == {"202603"}
    assert result.scope["employee"] == "full"
    # the working hours and wages are those in force at the end of the backfilled period
    assert all(r["valid_from"] is None or r["valid_from"] <= date(2026, 3, 31) for r in rows["salary"])


def test_one_employer_with_several_werkgever_ids(sim):
    emp = employer("zorggroep_zuid", "zorggroep_zuid_1", "zorggroep_zuid_2")
    sink = MemorySink()
    result = connector(sim).extract(request_for(emp), sink)
    out = _normalize(sink, emp)
    assert {r["source_id"] for r in out.rows["employer"]} == {wid("zorggroep_zuid_1"), wid("zorggroep_zuid_2")}
    by_wg: dict[str, int] = {}
    for r in out.rows["employee"]:
        by_wg[r["employer_source_id"]] = by_wg.get(r["employer_source_id"], 0) + 1
    assert by_wg == {wid("zorggroep_zuid_1"): 40, wid("zorggroep_zuid_2"): 30}
    assert set(result.state["werkgevers"]) == {wid("zorggroep_zuid_1"), wid("zorggroep_zuid_2")}
    assert {p.source_id for p in sink.pages if p.entity != "employer_version"} == set(emp.source_ids)


def test_four_weekly_employer(sim):
    emp = employer("techniek_noord", frequency="four_weeks")
    sink = MemorySink()
    connector(sim).extract(request_for(emp), sink)
    out = _normalize(sink, emp)
    assert out.rows["employer"][0]["payroll_frequency"] == "four_weeks"
    assert {r["frequency"] for r in out.rows["payroll_period"]} == {"four_weeks"}
    assert {r["period_number"] for r in out.rows["payroll_period"]} == set(range(1, 14))


def test_user_seeing_two_tenants_extracts_only_the_configured_werkgever(sim):
    emp = employer("bakkerij_de_vries")
    sink = MemorySink()
    conn = connector(sim)
    conn.username, conn.password = "multi@example.nl", "multi"
    first = conn.extract(request_for(emp), sink)
    conn.extract(request_for(emp, state=first.state), sink)  # incremental: employer-level change list too
    others = [wid(k) for k in ("techniek_noord", "zorggroep_zuid_1", "transport_oost", "schoonmaak_west")]
    touched = " ".join(sim.calls())
    assert not any(o in touched for o in others)
    assert all(o not in p.payload for p in sink.pages for o in others)
    assert {r["source_id"] for r in _normalize(sink, emp).rows["employer"]} == {wid("bakkerij_de_vries")}
