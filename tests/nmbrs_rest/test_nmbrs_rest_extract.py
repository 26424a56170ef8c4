"""The nmbrs_rest connector against the simulator: calls, incremental nights, company choice, entities landed."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from payroll_etl.connectors.base import RawPage
from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
from payroll_etl.errors import AuthorizationError, ConfigurationError
from payroll_etl.parsing import Parser
from payroll_etl.periods import period_for
from payroll_simulators.nmbrs_rest import render
from payroll_simulators.world import stable_id

HR = {"personal_info", "address", "private_info", "employment", "contract", "salary", "schedule"}


def entities(sink) -> Counter:
    return Counter(p["entity"] for p in sink.pages)


def normalized(kit, sink, employer=None, period=None):
    pages = [RawPage(p["entity"], p["payload"], p["url"], p["source_id"], p["content_type"]) for p in sink.pages]
    parser = Parser("transport_oost_rest")
    return NmbrsRestConnector.normalize(pages, employer or kit.employer(), period or kit.period(), parser), parser


def test_first_night_is_full_and_uses_company_level_bulk_lists(kit, sim):
    result, sink = kit.extract()
    counts = entities(sink)
    assert {e for e in HR} <= set(counts) and all(counts[e] == 1 for e in HR)  # 45 employees: one page of 100
    assert counts["payroll_result"] == 10 and counts["pension_export"] == 1  # 10 runs in 2026 so far
    assert result.scope == {"employer": "full", "payroll_period": "full", "employee": "full", "employment": "full",
                            "salary": "full", "payroll_result": "incremental"}
    # 1 companies + 1 period + 7 lists + 1 runs + 1 pension + 10 x (task + 202 + document)
    assert result.calls == 41
    paged = [p for p in sink.pages if p["entity"] in HR]
    assert all(parse_qs(urlsplit(p["url"]).query)["pageSize"] == ["100"] for p in paged)
    rows = normalized(kit, sink)[0].rows
    assert len(rows["employee"]) == 45 and all(r["bsn"] and len(r["bsn"]) == 9 for r in rows["employee"])
    assert all(r["iban"] is None for r in rows["employee"])  # no bank accounts unless options.include asks


def test_quiet_night_probes_with_created_from_and_fetches_no_hr_list(kit, sim):
    first, _ = kit.extract()
    state = first.state["companies"]
    company = next(iter(state))
    assert state[company]["created_watermark"] == "2026-06-21T00:00:00Z"  # newest createdAt in the world
    second, sink = kit.extract(state=first.state, logical_date=date(2026, 11, 24))
    counts = entities(sink)
    assert counts["change_probe"] == 7 and not set(counts) & HR and "payroll_result" not in counts
    probe = parse_qs(urlsplit(next(p for p in sink.pages if p["entity"] == "change_probe")["url"]).query)
    assert probe["createdFrom"] == ["2026-06-21T00:00:01Z"] and probe["pageSize"] == ["1"]
    assert second.calls == 11 and second.scope["employee"] == "incremental"
    assert second.state["companies"][company]["last_full"] == "2026-11-23"  # unchanged by a probe night
    assert normalized(kit, sink)[0].rows.get("employee") is None


def test_a_record_created_since_the_watermark_makes_the_night_full(kit, sim):
    first, _ = kit.extract()
    wg = sim.world.werkgevers[stable_id("werkgever", "transport_oost")]
    emp = next(e for e in wg.employments if e.end is None)
    sim.clock.advance(0)  # the new salary is created "now" (after the watermark)
    salary_id = sim.add_salary(render.employment_id(sim.world, wg, emp), date(2026, 12, 1), Decimal("4321.00"))
    try:
        second, sink = kit.extract(state=first.state, logical_date=date(2026, 11, 24))
        assert HR <= set(entities(sink)) and second.scope["salary"] == "full"
        rows = normalized(kit, sink)[0].rows["salary"]
        new = next(r for r in rows if r["source_id"] == salary_id)
        assert new["gross_amount"] == Decimal("4321.00") and new["valid_from"] == date(2026, 12, 1)
        company = next(iter(second.state["companies"]))
        assert second.state["companies"][company]["created_watermark"] > "2026-06-21T00:00:00Z"
    finally:
        emp.wages.pop()


def test_periodic_full_refresh_without_probing(kit, sim):
    first, _ = kit.extract()
    week_later = date(2026, 11, 30)
    result, sink = kit.extract(state=first.state, logical_date=week_later, period=period_for(week_later, "month"))
    assert "change_probe" not in entities(sink) and HR <= set(entities(sink)) and result.scope["employee"] == "full"
    shorter = kit.employer(full_refresh_days=30)
    _, sink = kit.extract(shorter, state=first.state, logical_date=week_later, period=period_for(week_later, "month"))
    assert entities(sink)["change_probe"] == 7


def test_backfill_fetches_the_runs_of_its_period_only(kit, sim):
    day = date(2025, 6, 10)
    result, sink = kit.extract(backfill=True, logical_date=day, period=period_for(day, "month"))
    assert entities(sink)["payroll_result"] == 1 and result.scope["payroll_result"] == "full"
    rows = normalized(kit, sink, period=period_for(day, "month"))[0].rows["payroll_result"]
    assert {r["period_id"] for r in rows} == {"202506"}


def test_january_lists_the_runs_of_the_previous_year_too(kit, sim):
    day = date(2026, 1, 5)
    january, sink = kit.extract(logical_date=day, period=period_for(day, "month"))
    years = {parse_qs(urlsplit(p["url"]).query)["year"][0] for p in sink.pages if p["entity"] == "payroll_run"}
    assert years == {"2025", "2026"} and entities(sink)["payroll_result"] == 22  # 12 of 2025 + 10 of 2026
    company = next(iter(january.state["companies"]))
    assert len(january.state["companies"][company]["runs_seen"]) == 22
    february, sink = kit.extract(logical_date=date(2026, 2, 5), period=period_for(date(2026, 2, 5), "month"),
                                 state=january.state)
    assert "payroll_result" not in entities(sink)  # every listed run was fetched in January
    assert len(february.state["companies"][company]["runs_seen"]) == 10  # 2025's ids are never listed again


@pytest.mark.parametrize("ref", ["Transport Oost B.V.", "71", "COMPANY_ID"])
def test_company_by_exact_name_number_or_id(kit, sim, ref):
    wg = sim.world.werkgevers[stable_id("werkgever", "transport_oost")]
    ref = render.company_id(wg).upper() if ref == "COMPANY_ID" else ref
    result, _ = kit.extract(kit.employer(ref))
    assert list(result.state["companies"]) == [render.company_id(wg)]


def test_company_name_is_exact_and_the_error_names_the_closest(kit, sim):
    with pytest.raises(ConfigurationError) as err:
        kit.extract(kit.employer("Transport Oost BV"))
    assert "'Transport Oost B.V.'" in str(err.value) and "case, space, dot and comma sensitive" in str(err.value)


def test_unknown_company_id_is_404_and_another_tenants_company_403(kit, sim):
    with pytest.raises(ConfigurationError, match=r"does not know company .* \(404 40404 Invalid_Company\)"):
        kit.extract(kit.employer(stable_id("no-such-company")))
    other = render.company_id(sim.world.werkgevers[stable_id("werkgever", "bakkerij_de_vries")])
    with pytest.raises(AuthorizationError, match=r"no access to company .* \(403 40303"):
        kit.extract(kit.employer(other))


def test_pension_exports_are_landed_with_their_corrections(kit, sim):
    _, sink = kit.extract()
    import json

    exports = json.loads(next(p for p in sink.pages if p["entity"] == "pension_export")["payload"])["data"]
    corrections = [e for e in exports if e["correctionStartDate"]]
    assert len(exports) > 20 and corrections
    assert all(e["status"] == "Verzonden" and e["sentAt"] for e in exports)
    assert "pension_export" not in normalized(kit, sink)[0].rows  # landed as its own entity, not canonical


def test_wage_code_filter_is_sent_and_keeps_the_output_small(kit, sim):
    _, sink = kit.extract(kit.employer(wage_codes=[1000]))
    tasks = [p for p in sink.pages if p["entity"] == "document_task"]
    assert tasks and all(parse_qs(urlsplit(p["url"]).query)["wageCodes"] == ["1000"] for p in tasks)
    rows = normalized(kit, sink)[0].rows["payroll_result"]
    assert rows and {r["component"] for r in rows} == {"1000"}


def test_scopes_default_and_bank_accounts(kit):
    assert "offline_access" in NmbrsRestConnector.scopes({})
    assert "employee.bankaccount.read" in NmbrsRestConnector.scopes({}, kit.employer(include=["bank_accounts"]))
    assert NmbrsRestConnector.scopes({"scopes": "a b offline_access"}) == ("a", "b", "offline_access")


def test_a_500_employee_company_needs_at_most_a_tenth_of_a_call_per_employee(kit_for):
    """The bench's goal as a check: a full night is 2 + 7 lists x 5 pages + runs + pension exports."""
    from payroll_simulators.nmbrs_rest.app import create_app
    from payroll_simulators.server import serve_in_thread
    from payroll_simulators.world import WerkgeverSpec, build_world

    world = build_world(specs=(WerkgeverSpec("transport_oost", "Transport Oost B.V.", 500, "month"),))
    server = serve_in_thread("nmbrs-rest-500", create_app(world))
    try:
        kit = kit_for(server.url)
        kit.consent()
        first, _ = kit.extract()
        week = date(2026, 11, 30)
        full, _ = kit.extract(state=first.state, logical_date=week, period=period_for(week, "month"))
    finally:
        server.stop()
    assert full.scope["employee"] == "full" and full.calls == 39 and full.calls / 500 <= 0.1
