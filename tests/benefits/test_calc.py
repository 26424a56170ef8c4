"""Pure calculations: every worked example of domain.md §1.5 / §6 to the cent, peildatum and part-time rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from payroll_etl.benefits.calc import (
    EmploymentVersion,
    SalaryVersion,
    annualise,
    compute_basis,
    fulltime_pensionable_salary,
    insured_amount,
    payout,
    peildatum,
    pensioengrondslag,
    reference_dates,
    salary_on,
    wia_excedent,
)
from payroll_etl.benefits.parameters import load_parameters
from payroll_etl.benefits.schemes import Scheme

PARAMS = load_parameters()
P2025, P2026 = PARAMS.for_year(2025), PARAMS.for_year(2026)


def monthly(amount: str, since: date = date(2020, 1, 1), pct: str | None = "8") -> SalaryVersion:
    return SalaryVersion(since, D(amount), "month", holiday_allowance_pct=None if pct is None else D(pct))


def emp(ptf: str, since: date = date(2020, 1, 1), start: date = date(2020, 1, 1), end: date | None = None):
    return EmploymentVersion(valid_from=since, start_date=start, end_date=end, part_time_factor=D(ptf))


PENSION = Scheme("acme", "pension", 1, date(2024, 1, 1), accrual_type="middelloon")


def test_parameters_match_domain_table() -> None:
    assert P2025.fiscal_max_pensionable_salary == D("137800") == P2026.fiscal_max_pensionable_salary
    assert (PARAMS.for_year(2024).aow_franchise_min, P2025.aow_franchise_min, P2026.aow_franchise_min) == (
        D("17545"), D("18475"), D("19172"))
    assert (PARAMS.for_year(2024).max_premium_wage, P2025.max_premium_wage, P2026.max_premium_wage) == (
        D("71628"), D("75864"), D("79409"))
    # WIA-loongrens = dagloon(1 Jan) × 261
    assert PARAMS.for_year(2024).wia_threshold_daily_wage == D("71628.84")
    assert P2025.wia_threshold_daily_wage == D("75864.87")
    assert P2026.wia_threshold_daily_wage == D("79409.25")
    assert PARAMS.for_year(2024).max_daily_wage_1_july == D("282.95")
    assert PARAMS.value_on("max_daily_wage", date(2024, 8, 1)) == D("282.95")
    assert PARAMS.value_on("max_daily_wage", date(2024, 6, 30)) == D("274.44")
    assert P2025.holiday_allowance_min_pct == D("8.00")


def test_missing_year_fails_loudly() -> None:
    from payroll_etl.benefits.parameters import MissingParameterError

    with pytest.raises(MissingParameterError):
        PARAMS.for_year(2031)


def test_ft_pensionable_monthly_is_12_96() -> None:
    assert fulltime_pensionable_salary([monthly("5000")]) == D("64800.00")
    # the statutory 8 % applies when the salary row has no % of its own
    assert fulltime_pensionable_salary([monthly("5000", pct=None)]) == D("64800.00")


def test_ft_pensionable_four_weekly_is_14_04() -> None:
    four = SalaryVersion(date(2025, 1, 1), D("4615.38"), "four_weeks", holiday_allowance_pct=D("8"))
    assert fulltime_pensionable_salary([four]) == D("64799.94")  # 4615.38 × 13 × 1.08 = 64799.9352
    assert annualise(D("100"), "hour", fulltime_hours_per_week=D("40")) == D("208000")


def test_structural_components_only_when_pensionable() -> None:
    ort = SalaryVersion(date(2025, 1, 1), D("200"), "month", component="ORT")
    assert fulltime_pensionable_salary([monthly("5000"), ort]) == D("64800.00")
    assert fulltime_pensionable_salary([monthly("5000"), ort], pensionable_components=["BASIS", "ORT"]) == D(
        "67200.00")


@pytest.mark.parametrize(("ft", "year", "ptf", "expected"), [
    ("64800", 2025, "0.8", "37060.00"),      # domain.md: €5,000/month, ptf 0.8, 2025
    ("64800", 2026, "0.8", "36502.40"),      # same with the 2026 franchise
    ("155520", 2025, "1", "119325.00"),      # €12,000/month capped at €137,800
    ("15000", 2025, "1", "0.00"),            # below the franchise: never negative
])
def test_pensioengrondslag_worked_examples(ft: str, year: int, ptf: str, expected: str) -> None:
    p = PARAMS.for_year(year)
    assert pensioengrondslag(D(ft), p.fiscal_max_pensionable_salary, p.aow_franchise_min, D(ptf)) == D(expected)


def test_pensioengrondslag_end_to_end_from_monthly_salary() -> None:
    b25 = compute_basis(PENSION, P2025, date(2025, 1, 1), [emp("0.8")], [monthly("5000")])
    b26 = compute_basis(PENSION, P2026, date(2026, 1, 1), [emp("0.8")], [monthly("5000")])
    big = compute_basis(PENSION, P2025, date(2025, 1, 1), [emp("1")], [monthly("12000")])
    assert (b25.ft_pensionable_salary, b25.franchise, b25.pensioengrondslag) == (
        D("64800.00"), D("18475.00"), D("37060.00"))
    assert b26.pensioengrondslag == D("36502.40")
    assert (big.ft_pensionable_salary, big.max_pensionable_salary, big.pensioengrondslag) == (
        D("155520.00"), D("137800.00"), D("119325.00"))
    assert b25.wia_excedent is None  # scheme without WIA-excedent part


def test_wia_excedent_worked_example() -> None:
    # domain.md: 2025, SV salary €100,000, threshold €75,864 (premieloon), 70 % → 24,136 / 16,895.20 / 8,447.60
    excedent = wia_excedent(D("100000"), P2025.wia_threshold("max_premieloon"))
    insured = insured_amount(excedent, D("70"))
    assert (excedent, insured, payout(insured, D("0.5"))) == (D("24136.00"), D("16895.20"), D("8447.60"))
    # the 2016 example of [S16]: €80,000 over €52,766 at 70 %, 50 % AO → €9,532 (rounded to euros there)
    assert payout(insured_amount(wia_excedent(D("80000"), D("52766")), D("70")), D("0.5")) == D("9531.90")
    # the dagloon × 261 threshold gives a slightly different excedent
    assert wia_excedent(D("100000"), P2025.wia_threshold("dagloon_x_261")) == D("24135.13")
    assert insured_amount(D("24135.13"), D("70")) == D("16894.59")
    # below the threshold, and capped at the policy maximum
    assert wia_excedent(D("50000"), D("75864")) == D("0.00")
    assert wia_excedent(D("300000"), D("75864"), policy_max=D("150000")) == D("74136.00")


def test_wia_excedent_via_scheme_uses_actual_salary() -> None:
    scheme = Scheme("acme", "wia", 1, date(2024, 1, 1), accrual_type="none", wia_cover_pct=D("70"),
                    wia_threshold_source="max_premieloon", peildatum_rule="follows_changes")
    # 100,000 / 12.96 per month, full-time: salary €100,000.00 after rounding to cents
    sal = SalaryVersion(date(2025, 1, 1), D("100000") / D("12.96"), "month", holiday_allowance_pct=D("8"))
    b = compute_basis(scheme, P2025, date(2025, 3, 1), [emp("1")], [sal])
    assert (b.wia_salary, b.wia_threshold, b.wia_excedent, b.wia_insured) == (
        D("100000.00"), D("75864.00"), D("24136.00"), D("16895.20"))
    assert b.pensioengrondslag is None
    half = compute_basis(scheme, P2025, date(2025, 3, 1), [emp("0.5")], [sal])
    assert (half.wia_salary, half.wia_excedent) == (D("50000.00"), D("0.00"))


def test_peildatum_rule() -> None:
    assert peildatum(date(2025, 9, 1), "fixed_1_january", date(2010, 3, 1)) == date(2025, 1, 1)
    assert peildatum(date(2025, 9, 1), "fixed_1_january", date(2025, 4, 1)) == date(2025, 4, 1)
    assert peildatum(date(2025, 9, 1), "follows_changes", date(2010, 3, 1)) == date(2025, 9, 1)


def test_june_raise_counts_from_next_1_january() -> None:
    salaries = [monthly("5000"), monthly("6000", since=date(2025, 6, 1))]
    employment = [emp("0.8")]
    before = compute_basis(PENSION, P2025, date(2025, 1, 1), employment, salaries)
    july = compute_basis(PENSION, P2025, date(2025, 7, 1), employment, salaries)
    december = compute_basis(PENSION, P2025, date(2025, 12, 31), employment, salaries)
    next_year = compute_basis(PENSION, P2026, date(2026, 1, 1), employment, salaries)
    assert before.pensioengrondslag == july.pensioengrondslag == december.pensioengrondslag == D("37060.00")
    assert july.peildatum == date(2025, 1, 1)
    # (6000 × 12.96 − 19,172) × 0.8 = (77,760 − 19,172) × 0.8
    assert next_year.pensioengrondslag == D("46870.40")
    # a scheme that follows changes picks the raise up at once
    follows = Scheme("acme", "pension", 1, date(2024, 1, 1), peildatum_rule="follows_changes")
    got = compute_basis(follows, P2025, date(2025, 7, 1), employment, salaries).pensioengrondslag
    assert got == D("47428.00")  # (77,760 − 18,475) × 0.8
    # no June reference date under the fixed rule, but one under follows_changes
    years = [2025, 2026]
    assert date(2025, 6, 1) not in reference_dates(employment, salaries, [PENSION], years, "fixed_1_january")
    assert date(2025, 6, 1) in reference_dates(employment, salaries, [PENSION], years, "follows_changes")


def test_part_time_change_applies_immediately() -> None:
    employment = [
        EmploymentVersion(date(2020, 1, 1), date(2020, 1, 1), part_time_factor=D("1"), valid_to=date(2025, 3, 31)),
        EmploymentVersion(date(2025, 4, 1), date(2020, 1, 1), hours_per_week=D("32"), fulltime_hours_per_week=D("40")),
    ]
    salaries = [monthly("5000")]
    jan = compute_basis(PENSION, P2025, date(2025, 1, 1), employment, salaries)
    april = compute_basis(PENSION, P2025, date(2025, 4, 1), employment, salaries)
    assert (jan.part_time_factor, jan.pensioengrondslag) == (D("1.0000"), D("46325.00"))
    assert (april.part_time_factor, april.pensioengrondslag) == (D("0.8000"), D("37060.00"))
    assert date(2025, 4, 1) in reference_dates(employment, salaries, [PENSION], [2025], "fixed_1_january")


def test_entry_during_year_fixes_salary_at_entry_and_exit_gives_out_of_service_row() -> None:
    employment = [EmploymentVersion(date(2025, 4, 1), date(2025, 4, 1), date(2025, 10, 31), D("1"))]
    salaries = [monthly("3000", since=date(2025, 4, 1)), monthly("3500", since=date(2025, 7, 1))]
    b = compute_basis(PENSION, P2025, date(2025, 8, 1), employment, salaries)
    assert (b.peildatum, b.ft_pensionable_salary) == (date(2025, 4, 1), D("38880.00"))
    dates = reference_dates(employment, salaries, [PENSION], [2025, 2026], "fixed_1_january")
    assert dates == [date(2025, 4, 1), date(2025, 11, 1)]
    assert compute_basis(PENSION, P2025, date(2025, 11, 1), employment, salaries).status == "out_of_service"
    assert compute_basis(PENSION, P2025, date(2025, 3, 1), employment, salaries).status == "out_of_service"


def test_franchise_below_legal_minimum_is_rejected() -> None:
    from payroll_etl.errors import ConfigurationError

    low = Scheme("acme", "pension", 1, date(2024, 1, 1), franchise=D("18000"))
    with pytest.raises(ConfigurationError):
        compute_basis(low, P2025, date(2025, 1, 1), [emp("1")], [monthly("5000")])
    own = Scheme("acme", "pension", 1, date(2024, 1, 1), franchise=D("19000"))
    assert compute_basis(own, P2025, date(2025, 1, 1), [emp("1")], [monthly("5000")]).pensioengrondslag == D(
        "45800.00")


def test_salary_on_picks_latest_version_per_component() -> None:
    versions = [monthly("1"), monthly("2", since=date(2025, 1, 1)),
                SalaryVersion(date(2024, 1, 1), D("5"), "month", component="ORT", valid_to=date(2024, 12, 31))]
    got = salary_on(versions, date(2025, 2, 1))
    assert [(v.component, v.gross_amount) for v in got] == [("BASIS", D("2"))]


# ---- issue 15: salary basis and annualisation by the payroll's calendar

def test_part_time_amount_is_converted_to_full_time_once() -> None:
    """2,400 part-time at 0.6 → FT 4,000 → 51,840.00 → (51,840 − 19,172) × 0.6 = 19,600.80 (not 7,159.20)."""
    actual = SalaryVersion(date(2020, 1, 1), D("2400.00"), "month", basis="actual")
    b = compute_basis(PENSION, P2026, date(2026, 1, 1), [emp("0.6")], [actual])
    assert (b.ft_pensionable_salary, b.pensioengrondslag) == (D("51840.00"), D("19600.80"))
    fulltime = SalaryVersion(date(2020, 1, 1), D("4000.00"), "month", basis="fulltime")
    assert compute_basis(PENSION, P2026, date(2026, 1, 1), [emp("0.6")], [fulltime]).pensioengrondslag == D("19600.80")
    legacy = SalaryVersion(date(2020, 1, 1), D("4000.00"), "month")  # basis NULL: read as full-time
    assert compute_basis(PENSION, P2026, date(2026, 1, 1), [emp("0.6")], [legacy]).pensioengrondslag == D("19600.80")


def test_hourly_wage_is_annualised_with_the_full_time_hours() -> None:
    hourly = SalaryVersion(date(2020, 1, 1), D("25.00"), "hour", basis="hourly")
    version = EmploymentVersion(valid_from=date(2020, 1, 1), start_date=date(2020, 1, 1), hours_per_week=D("24"),
                                fulltime_hours_per_week=D("40"))
    b = compute_basis(PENSION, P2026, date(2026, 1, 1), [version], [hourly])
    assert b.ft_pensionable_salary == D("56160.00")  # 25 × 40 × 52 × 1.08
    assert b.pensioengrondslag == D("22192.80")  # (56,160 − 19,172) × 0.6


def test_part_time_amount_without_a_part_time_factor_is_not_guessed() -> None:
    actual = SalaryVersion(date(2020, 1, 1), D("2400.00"), "month", basis="actual")
    version = EmploymentVersion(valid_from=date(2020, 1, 1), start_date=date(2020, 1, 1))
    assert compute_basis(PENSION, P2026, date(2026, 1, 1), [version], [actual]).status == "no_part_time_factor"


def test_annualisation_uses_the_periods_the_payroll_has() -> None:
    four = SalaryVersion(date(2020, 1, 1), D("4000.00"), "four_weeks", basis="fulltime")
    week = SalaryVersion(date(2020, 1, 1), D("1000.00"), "week", basis="fulltime")
    ft = [emp("1")]
    assert compute_basis(PENSION, P2026, date(2026, 1, 1), ft, [four], "iso_weeks").ft_pensionable_salary == D(
        "60480.00")  # 4,000 × 14 × 1.08: 2026 has a period 14
    assert compute_basis(PENSION, P2025, date(2025, 1, 1), ft, [four], "iso_weeks").ft_pensionable_salary == D(
        "56160.00")  # × 13
    assert compute_basis(PENSION, P2026, date(2026, 1, 1), ft, [four]).ft_pensionable_salary == D(
        "56160.00")  # 1-January calendar: the scheme's 13
    assert compute_basis(PENSION, P2026, date(2026, 1, 1), ft, [week]).ft_pensionable_salary == D("57240.00")  # × 53
    assert annualise(D("1000"), "week", weekly_periods=52) == D("52000")
    with pytest.raises(ValueError):
        annualise(D("1000"), "fortnight")
