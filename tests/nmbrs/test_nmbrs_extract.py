"""Contract tests: the Nmbrs connector (zeep) against the simulator, happy paths and what lands."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from payroll_etl.connectors.base import RawPage
from payroll_etl.connectors.nmbrs import EMPLOYEE_CALLS, SEED_CALLS, NmbrsConnector
from payroll_etl.parsing import Parser
from payroll_simulators.world import World, hours_on, stable_id

TRANSPORT_OOST = 100_071
SCHOONMAAK_WEST = 100_088
NOV_2026 = (date(2026, 11, 1), date(2026, 11, 30))


def pages(sink: Any) -> list[RawPage]:
    return [RawPage(p["entity"], p["payload"], p["url"], p["source_id"], p["content_type"]) for p in sink.pages]


def normalize(kit: Any, sink: Any, employer: Any = None, period: Any = None):
    parser = Parser("transport_oost")
    out = NmbrsConnector.normalize(pages(sink), employer or kit.employer(), period or kit.period(), parser)
    return out, parser


def in_service(world: World, key: str, start: date, end: date):
    wg = world.werkgevers[stable_id("werkgever", key)]
    return wg, [e for e in wg.employments if e.start <= end and (e.end is None or e.end >= start)]


def test_extract_by_name_lands_every_response_and_normalizes_to_the_world(kit, sim, world):
    result, sink = kit.extract()
    wg, employed = in_service(world, "transport_oost", *NOV_2026)

    # Every raw SOAP response was landed, as XML, with operation and employee in meta.
    calls = {k: v for k, v in sim.switch.calls.items() if not k.startswith("GET ")}
    assert len(sink.pages) == sum(calls.values()) == result.calls
    assert all(p["content_type"] == "text/xml" and p["meta"]["operation"] in SEED_CALLS for p in sink.pages)
    assert all(p["url"].startswith(f"{kit.url}/soap/v3/") and "op=" in p["url"] for p in sink.pages)
    assert {p["source_id"] for p in sink.pages} == {"all", str(TRANSPORT_OOST)}
    assert result.scope == {"employer": "full", "employee": "full", "employment": "full", "salary": "full",
                            "payroll_period": "full", "payroll_result": "incremental"}

    out, parser = normalize(kit, sink)
    assert parser.issues == [] and out.issues == []
    assert out.rows["employer"] == [{"source_id": str(TRANSPORT_OOST), "valid_from": date(2026, 11, 1),
                                     "valid_to": None, "name": "Transport Oost B.V.", "loonheffingennummer": None,
                                     "payroll_frequency": "month"}]
    # the current period (Company_GetCurrentPeriod) first, then every period the year's runs have results for
    periods = [(r["year"], r["period_number"], r["frequency"], r["start_date"], r["end_date"])
               for r in out.rows["payroll_period"]]
    assert periods[0] == (2026, 11, "month", date(2026, 11, 1), date(2026, 11, 30))
    result_periods = {r["period_id"] for r in out.rows["payroll_result"]}
    assert {f"{y}{n:02d}" for y, n, *_ in periods} == result_periods | {"202611"}
    assert (2026, 2, "month", date(2026, 2, 1), date(2026, 2, 28)) in periods

    employees = {r["source_id"]: r for r in out.rows["employee"]}
    assert len(employees) == len(employed)
    persons = {p.employee_number: p for p in wg.persons}
    for row in employees.values():
        person = persons[int(row["employee_number"])]
        assert (row["bsn"], row["last_name"], row["birth_date"], row["postcode"], row["gender"]) == (
            person.bsn, person.last_name, person.birth_date, person.postcode, person.gender)
        assert row["valid_from"] == date(2026, 11, 1) and row["employer_source_id"] == str(TRANSPORT_OOST)

    # Employment versions follow the hours changes; part-time factor = hours / full-time hours.
    by_person = {e.person_id: e for e in employed}
    for row in out.rows["employment"]:
        emp_id = int(row["employee_source_id"])
        emp = by_person[next(p.id for p in wg.persons if 500_000 + 71_000 + p.employee_number == emp_id)]
        assert row["hours_per_week"] == hours_on(emp, row["valid_from"])
        assert row["fulltime_hours_per_week"] == emp.fulltime_hours
        assert row["part_time_factor"] == (hours_on(emp, row["valid_from"]) / emp.fulltime_hours).quantize(
            Decimal("0.0001"))
    changed = [e for e in employed if len(e.hours) > 1]
    assert len(out.rows["employment"]) == len(employed) + sum(len(e.hours) - 1 for e in changed)

    # Salary versions: every wage version up to the current period of the employed people.
    assert len(out.rows["salary"]) == sum(len([w for w in e.wages if w.start <= NOV_2026[1]]) for e in employed)
    employment_ids = {r["source_id"] for r in out.rows["employment"]}
    assert {r["employment_source_id"] for r in out.rows["salary"]} <= employment_ids

    # Payroll results: the world's lines for 2026 (decimal-comma report values), "-" lines skipped.
    results = out.rows["payroll_result"]
    expected = [line for line in world.results if line.year == 2026
                and any(r.id == line.run_id and r.werkgever_id == wg.id for r in world.runs)]
    assert len(results) == len(expected)
    assert sum(r["amount"] for r in results) == sum(line.amount for line in expected)
    assert {r["component"] for r in results} == {"1000", "2400"}


def test_company_by_id_gives_the_same_rows_as_by_name(kit):
    _, by_name = kit.extract()
    _, by_id = kit.extract(kit.employer(str(TRANSPORT_OOST)))
    rows_name, _ = normalize(kit, by_name)
    rows_id, _ = normalize(kit, by_id)
    assert rows_name.rows == rows_id.rows


def test_one_employer_with_two_companies(kit, world):
    employer = kit.employer("Transport Oost B.V.", str(SCHOONMAAK_WEST))
    result, sink = kit.extract(employer)
    out, _ = normalize(kit, sink, employer)
    assert sorted(r["source_id"] for r in out.rows["employer"]) == [str(TRANSPORT_OOST), str(SCHOONMAAK_WEST)]
    periods: dict[str, tuple[str, int]] = {}
    for r in out.rows["payroll_period"]:  # each company's current period comes first
        periods.setdefault(r["source_id"].split(":")[0], (r["frequency"], r["period_number"]))
    assert periods == {str(TRANSPORT_OOST): ("month", 11), str(SCHOONMAAK_WEST): ("four_weeks", 12)}  # "2026-12-4W"
    by_company = {}
    for row in out.rows["employee"]:
        by_company.setdefault(row["employer_source_id"], 0)
        by_company[row["employer_source_id"]] += 1
    _, west = in_service(world, "schoonmaak_west", *NOV_2026)
    assert by_company[str(SCHOONMAAK_WEST)] == len(west)
    assert set(result.state["runs_seen"]) == {str(TRANSPORT_OOST), str(SCHOONMAAK_WEST)}


def test_nightly_calls_per_employee_is_the_seed_minimum(kit, sim):
    from nmbrs_calls import calls_per_employee

    ratio, calls, employees = calls_per_employee(kit.url, kit.employer())
    counted = {k: v for k, v in sim.switch.calls.items() if not k.startswith("GET ")}
    assert set(counted) <= set(SEED_CALLS)  # nothing the template user was not asked to enable
    assert all(counted[op] == employees for op in EMPLOYEE_CALLS)  # once per employee, never more
    # 3 per employee; the company-wide calls: List_GetAll, current period, employments, salaries, runs.
    assert calls == len(EMPLOYEE_CALLS) * employees + 5
    assert ratio < 3.2


def test_second_nightly_fetches_only_new_runs_and_a_backfill_fetches_its_period(kit, sim, world):
    first, _ = kit.extract()
    assert sim.switch.calls["Reports_GetWageCodesByRunCompany_v2"] == 10  # Jan-Oct 2026
    sim.switch.calls.clear()
    kit.extract(state=first.state)
    assert sim.switch.calls["Reports_GetWageCodesByRunCompany_v2"] == 0

    sim.switch.calls.clear()
    march = kit.period(day=date(2026, 3, 15))
    result, sink = kit.extract(logical_date=date(2026, 3, 15), period=march, backfill=True, state=first.state)
    assert sim.switch.calls["Reports_GetWageCodesByRunCompany_v2"] == 1
    assert result.scope["payroll_result"] == "full"
    out, _ = normalize(kit, sink, period=march)
    assert {r["period_id"] for r in out.rows["payroll_result"]} == {"202603"}
    assert {r["valid_from"] for r in out.rows["employee"]} == {date(2026, 3, 1)}


def test_optional_bank_accounts_fill_iban_and_partner_children_empty_lists_do_not_break(kit, sim, world):
    result, sink = kit.extract(kit.employer(include=["bank_accounts", "partner", "children"]))
    out, parser = normalize(kit, sink)
    wg = world.werkgevers[stable_id("werkgever", "transport_oost")]
    ibans = {p.iban for p in wg.persons}
    assert all(r["iban"] in ibans for r in out.rows["employee"])
    assert sim.switch.calls["Partner_Get"] == sim.switch.calls["Children_Get"] == len(out.rows["employee"])
    assert parser.issues == []


def test_utf16_report_string_with_decimal_commas_parses(kit):
    report = ('<?xml version="1.0" encoding="utf-16"?>\r\n<reports><report><employeeid>571001</employeeid>'
              "<period>2</period><year>2026</year><runnumber>2</runnumber><lines>"
              "<line><code>1000</code><description>Salaris</description><value>1.234,56</value></line>"
              "<line><code>3100</code><description>Pensioen</description><value>-</value></line>"
              "</lines></report></reports>")
    escaped = report.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    ns = "https://api.nmbrs.nl/soap/v3/CompanyService"
    env = ('<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
           f'<soap:Body><{{op}}Response xmlns="{ns}"><{{op}}Result>{{body}}</{{op}}Result></{{op}}Response></soap:Body>'
           "</soap:Envelope>")
    employments = env.replace("CompanyService", "EmployeeService").format(
        op="Employment_GetAll_AllEmployeesByCompany",
        body="<EmployeeEmploymentItem><EmployeeId>571001</EmployeeId><EmployeeEmployments><Employment>"
             "<EmploymentId>5710011</EmploymentId><CreationDate>2020-01-01T00:00:00</CreationDate>"
             "<StartDate>2020-01-01T00:00:00</StartDate><EndDate xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""
             " xsi:nil=\"true\" /><InitialStartDate>2020-01-01T00:00:00</InitialStartDate></Employment>"
             "</EmployeeEmployments></EmployeeEmploymentItem>")
    landed = [
        RawPage("employment", employments, f"{kit.url}/soap/v3/EmployeeService.asmx?op=Employment_GetAll", "100071"),
        RawPage("payroll_result", env.format(op="Reports_GetWageCodesByRunCompany_v2", body=escaped),
                f"{kit.url}/soap/v3/CompanyService.asmx?op=Reports_GetWageCodesByRunCompany_v2&RunId=9&intYear=2026",
                "100071"),
    ]
    parser = Parser("transport_oost")
    out = NmbrsConnector.normalize(landed, kit.employer(), kit.period(), parser)
    assert [(r["employment_source_id"], r["period_id"], r["run_id"], r["component"], r["amount"])
            for r in out.rows["payroll_result"]] == [("5710011", "202602", "9", "1000", Decimal("1234.56"))]
    assert parser.issues == []
