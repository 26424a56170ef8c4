"""Issue 15 §1-2 through connector + pipeline against the simulators: salary basis and pay calendars.

Every value is read back from the warehouse after a full run (extract, normalize, validate, load with the
benefit mart); the worlds are built in Python (calendar_support.small_world).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from calendar_support import (
    LOKET_KEY,
    NMBRS_KEY,
    SCHEME,
    SCHEME_EMPLOYER,
    add_correction_run,
    query,
    run,
    serving,
    small_world,
)

from payroll_etl.errors import RecordError

KEYS = {"loket_rest": LOKET_KEY, "nmbrs": NMBRS_KEY}
NAMES = {"loket_rest": "Bakkerij De Vries B.V.", "nmbrs": "Transport Oost B.V."}
NIGHT = date(2026, 11, 23)


def _warehouse(request: pytest.FixtureRequest, tmp_path, kind: str) -> str:
    return request.getfixturevalue("postgres_url") if kind == "postgres" else f"duckdb:///{tmp_path / 'w.duckdb'}"


def _bases(url: str, day: str) -> tuple:
    rows = query(url, "SELECT ft_pensionable_salary, part_time_factor, franchise, pensioengrondslag, status "
                      f"FROM benefit_basis WHERE employer = '{SCHEME_EMPLOYER}' AND scheme = '{SCHEME}' "
                      f"AND reference_date = DATE '{day}' AND superseded_at IS NULL")
    assert len(rows) == 1, rows
    return tuple(rows[0])


# ------------------------------------------------------------------------------------ §1 salary basis

@pytest.mark.parametrize(("connector", "warehouse"), [("loket_rest", "postgres"), ("nmbrs", "duckdb")])
def test_part_time_amount_gives_the_full_time_pension_basis(request, tmp_path, connector, warehouse):
    """grossWage 2400 part-time (Loket isGrossWageFullTime false / Nmbrs Type 2), 24 of 40 hours:
    FT monthly 4,000.00, FT pensionable 51,840.00, grondslag (51,840.00 - 19,172.00) x 0.6 = 19,600.80."""
    url = _warehouse(request, tmp_path, warehouse)
    world = small_world(KEYS[connector], NAMES[connector], basis="actual", amount="2400.00")
    with serving(connector, world) as source:
        out = run(source, source.employer(world), NIGHT, tmp_path, url)
    assert out["load"]["status"] == "success", out
    assert query(url, "SELECT gross_amount, basis, frequency FROM salary WHERE superseded_at IS NULL") == [
        (Decimal("2400.0000"), "actual", "month")]
    ft, ptf, franchise, grondslag, status = _bases(url, "2026-01-01")
    assert (status, ft, ptf, franchise) == ("in_service", Decimal("51840.00"), Decimal("0.6000"), Decimal("19172.00"))
    assert grondslag == Decimal("19600.80")  # the double part-time multiplication gave 7,159.20


def test_full_time_amount_of_the_same_employee_gives_the_same_basis(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    world = small_world(LOKET_KEY, NAMES["loket_rest"], basis="fulltime", amount="4000.00")
    with serving("loket_rest", world) as source:
        out = run(source, source.employer(world), NIGHT, tmp_path, url)
    assert out["load"]["status"] == "success", out
    assert query(url, "SELECT basis FROM salary") == [("fulltime",)]
    assert _bases(url, "2026-01-01")[3] == Decimal("19600.80")


@pytest.mark.parametrize("connector", ["loket_rest", "nmbrs"])
def test_unknown_salary_basis_is_quarantined_with_its_reason(tmp_path, connector):
    """A net salary (Loket: netWage only; Nmbrs: Type 4 Netto_Salaris_Partime_incl_looncomp) is never guessed."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    world = small_world(KEYS[connector], NAMES[connector], basis="net", amount="1800.00")
    with serving(connector, world) as source:
        out = run(source, source.employer(world), NIGHT, tmp_path, url)
    assert out["load"]["status"] == "partial"
    rows = query(url, "SELECT employer, entity, source_id, failing_checks FROM quarantine")
    assert len(rows) == 1
    employer, entity, record, checks = rows[0]
    assert (employer, entity) == (SCHEME_EMPLOYER, "salary") and "parse__unknown_basis:basis" in checks
    assert query(url, "SELECT count(*) FROM salary") == [(0,)]
    staging = next((tmp_path / "data" / "staging").rglob("issues.json"))
    issues = [i for i in json.loads(staging.read_text()) if i["check"] == "unknown_basis"]
    assert [(i["employer"], i["entity"], i["source_id"], i["field"]) for i in issues] == [
        (SCHEME_EMPLOYER, "salary", record, "basis")]
    assert "net" in issues[0]["message"].lower() or "Netto" in issues[0]["message"]
    assert _bases(url, "2026-01-01")[4] == "no_salary"


# ----------------------------------------------------------------------------------- §2 pay calendars

@pytest.mark.parametrize("connector", ["loket_rest", "nmbrs"])
def test_weekly_employer_backfills_three_past_weeks(tmp_path, connector):
    """Each logical date maps to its ISO week; each week is loaded once with its own payroll results."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    world = small_world(KEYS[connector], NAMES[connector], frequency="week", basis="fulltime", amount="1000.00",
                        hours="40")
    with serving(connector, world) as source:
        cfg = source.employer(world, payroll_frequency="week")
        # the nightly (a current view) introduces the employment; backfills add the past weeks' facts
        assert run(source, cfg, NIGHT, tmp_path, url, today=NIGHT)["load"]["status"] == "success"
        for day in (date(2026, 11, 4), date(2026, 11, 11), date(2026, 11, 18)):
            out = run(source, cfg, day, tmp_path, url, today=NIGHT)
            assert out["load"]["status"] == "success", out
            assert out["extract"]["backfill"] is True
    runs = query(url, "SELECT logical_date, period_id FROM load_run WHERE view = 'past' ORDER BY logical_date")
    assert [(str(d), p) for d, p in runs] == [("2026-11-04", "202645"), ("2026-11-11", "202646"),
                                              ("2026-11-18", "202647")]
    results = query(url, "SELECT DISTINCT period_id FROM payroll_result WHERE period_id BETWEEN '202645' AND "
                         "'202647' ORDER BY 1")
    assert [p for (p,) in results] == ["202645", "202646", "202647"]
    weekly_wage = query(url, "SELECT DISTINCT amount FROM payroll_result WHERE amount > 100")
    assert weekly_wage == [(Decimal("1000.0000"),)]
    if connector == "loket_rest":  # Loket states the period dates: the source's rows
        periods = query(url, "SELECT period_number, start_date, end_date, frequency FROM payroll_period "
                             "WHERE year = 2026 AND period_number BETWEEN 45 AND 47 ORDER BY 1")
        assert [(n, str(s), str(e), f) for n, s, e, f in periods] == [
            (45, "2026-11-02", "2026-11-08", "week"), (46, "2026-11-09", "2026-11-15", "week"),
            (47, "2026-11-16", "2026-11-22", "week")]
    # annualised with the 53 weeks 2026 has: 1,000 x 53 x 1.08 = 57,240.00 (2025: x 52 = 56,160.00)
    assert _bases(url, "2026-01-01")[0] == Decimal("57240.00")
    assert _bases(url, "2025-01-01")[0] == Decimal("56160.00")


@pytest.mark.parametrize("connector", ["loket_rest", "nmbrs"])
def test_week_based_four_weekly_period_14_of_2026(tmp_path, connector):
    """Period 1 starts with ISO week 1; 2026 has 53 ISO weeks, so period 14 = 28-12-2026..03-01-2027.

    The employer is configured with the 1-January calendar (period13): the source's calendar wins."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    day = date(2026, 12, 30)
    world = small_world(KEYS[connector], NAMES[connector], frequency="four_weeks", calendar="iso_weeks",
                        basis="actual", amount="2400.00", today=day)
    with serving(connector, world, today=day) as source:
        cfg = source.employer(world, payroll_frequency="four_weeks", four_week_tail="period13")
        out = run(source, cfg, day, tmp_path, url)
    assert out["load"]["status"] == "success", out
    assert query(url, "SELECT period_id FROM load_run") == [("202614",)]
    periods = query(url, "SELECT start_date, end_date, frequency FROM payroll_period "
                         "WHERE year = 2026 AND period_number = 14")
    assert [(str(s), str(e), f) for s, e, f in periods] == [("2026-12-28", "2027-01-03", "four_weeks")]
    if connector == "loket_rest":
        first = query(url, "SELECT start_date FROM payroll_period WHERE year = 2026 AND period_number = 1")
        assert [str(s) for (s,) in first] == ["2025-12-29"]  # ISO week 1 of 2026
    # annualised with the periods the payroll has: 14 in 2026, 13 in 2025 (FT 4,000 per four weeks)
    ft26, _, _, grondslag26, _ = _bases(url, "2026-01-01")
    assert (ft26, grondslag26) == (Decimal("60480.00"), Decimal("24784.80"))  # 4000x14x1.08; (60480-19172)x0.6
    assert _bases(url, "2025-01-01")[0] == Decimal("56160.00")  # 4000x13x1.08


def test_multi_period_run_is_attributed_to_each_period_it_covers(tmp_path):
    """An Nmbrs correction run with PeriodStart 1 and PeriodEnd 3: its lines land on 2026-01, -02 and -03,
    and a backfill of February fetches it."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    world = small_world(NMBRS_KEY, NAMES["nmbrs"], basis="fulltime", amount="4000.00", hours="40")
    add_correction_run(world, 2026, 1, 3, "125.00")
    with serving("nmbrs", world) as source:
        out = run(source, source.employer(world), date(2026, 2, 15), tmp_path, url, today=NIGHT)
    assert out["load"]["status"] == "success", out
    assert query(url, "SELECT period_id FROM load_run") == [("202602",)]
    rows = query(url, "SELECT period_id, run_period_id, amount FROM payroll_result "
                      "WHERE run_sequence = 2 AND component = '1000' ORDER BY period_id")
    assert [(p, r, a) for p, r, a in rows] == [("202601", "202603", Decimal("125.0000")),
                                               ("202602", "202603", Decimal("125.0000")),
                                               ("202603", "202603", Decimal("125.0000"))]
    regular = query(url, "SELECT DISTINCT period_id FROM payroll_result WHERE run_sequence = 1")
    assert regular == [("202602",)]  # the backfilled period's own run


@pytest.mark.parametrize("connector", ["loket_rest", "nmbrs"])
def test_unknown_period_type_is_refused_naming_employer_and_record(tmp_path, monkeypatch, connector):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    world = small_world(KEYS[connector], NAMES[connector], basis="fulltime", amount="4000.00")
    if connector == "loket_rest":  # a payrollPeriodType key Loket may send that the pipeline does not know
        from payroll_simulators.loket_rest import render

        monkeypatch.setitem(render.PERIOD_TYPES, "month", {"key": 2, "value": "Halve maand"})
    else:  # a Company_GetCurrentPeriod type other than M, 4W, W
        from payroll_simulators.nmbrs import app

        monkeypatch.setitem(app.PERIOD_TYPE_CODES, "month", "2W")
    with serving(connector, world) as source, pytest.raises(RecordError) as err:
        run(source, source.employer(world), NIGHT, tmp_path, url)
    assert err.value.employer == SCHEME_EMPLOYER and err.value.entity == "payroll_period"
    assert err.value.record and err.value.field in ("payrollPeriodType", "Company_GetCurrentPeriod")
    assert "unknown" in str(err.value)
    assert query(url, "SELECT count(*) FROM load_run WHERE status IN ('success', 'partial')") == [(0,)]
