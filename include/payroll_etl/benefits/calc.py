"""Pure benefit-basis arithmetic (Decimal, no I/O): domain.md §1.4, §1.5 and §6 "Calculations".

    ft_pensionable    = annual BASIS × (1 + holiday %) + other pensionable components (annualised)
    pensioengrondslag = max(0, min(ft_pensionable, fiscal max [, scheme max]) − franchise) × ptf
    wia_salary        = ft_pensionable × ptf                      (actual, not full-time, salary)
    wia_excedent      = max(0, min(wia_salary, policy max) − WIA threshold)
    wia_insured       = wia_excedent × cover %

Money is rounded half-up to cents where an amount is produced (annual salary, grondslag,
excedent, insured amount); the part-time factor has 4 decimals (domain.md §6 Plausibility).

Salary basis (issue 15, docs/benefits.md "Salary basis"): a salary row says which amount the source
sent. ``fulltime`` is used as is; ``actual`` (the part-time amount actually paid) is turned into its
full-time equivalent explicitly, amount ÷ part-time factor on the peildatum, before annualising, so the
part-time factor is applied exactly once (in the grondslag); ``hourly`` is annualised with the
full-time hours. Rows without a basis (loaded before the basis was recorded) count as full-time.

Annualisation (docs/benefits.md "Pay calendars"): month × 12; a weekly wage × the weeks the payroll
has that year (52 or 53); a four-weekly wage × the periods of a week-based calendar that year (13, or
14 in a 53-week year), or × the scheme's ``four_weekly_periods`` (13 unless the scheme counts the
short tail) for calendars that start on 1 January.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from payroll_etl.benefits.parameters import YearParameters, cents
from payroll_etl.benefits.schemes import Scheme
from payroll_etl.benefits.versions import (
    BASE_COMPONENT,
    FULLTIME_BASES,
    EmploymentVersion,
    SalaryVersion,
    employment_on,
    peildatum,
    salary_on,
)
from payroll_etl.periods import Tail, periods_per_year

ZERO = Decimal("0")
HUNDRED = Decimal("100")
FOUR_DECIMALS = Decimal("0.0001")
WEEKS_PER_YEAR = Decimal("52")


# --- the formulas ---------------------------------------------------------------------------

def annualise(amount: Decimal, frequency: str, *, four_weekly_periods: int = 13,
              fulltime_hours_per_week: Decimal | None = None, weekly_periods: int = 52) -> Decimal:
    """Annual amount of a per-period wage: month × 12, four_weeks × ``four_weekly_periods`` (13 or 14),
    week × ``weekly_periods`` (52 or 53), hour × FT hours × 52. ValueError for another frequency."""
    if frequency == "month":
        return amount * 12
    if frequency == "four_weeks":
        return amount * four_weekly_periods
    if frequency == "week":
        return amount * weekly_periods
    if frequency == "year":
        return amount
    if frequency == "hour":
        if not fulltime_hours_per_week:
            raise ValueError("an hourly wage needs the full-time hours per week to annualise")
        return amount * fulltime_hours_per_week * WEEKS_PER_YEAR
    raise ValueError(f"unknown salary frequency {frequency!r}")


def fulltime_pensionable_salary(
    components: Iterable[SalaryVersion],
    *,
    pensionable_components: Sequence[str] = (BASE_COMPONENT,),
    holiday_allowance_included: bool = True,
    holiday_allowance_pct: Decimal | None = None,
    default_holiday_allowance_pct: Decimal = Decimal("8"),
    four_weekly_periods: int = 13,
    fulltime_hours_per_week: Decimal | None = None,
    weekly_periods: int = 52,
) -> Decimal:
    """Full-time annual pensionable salary in cents: BASIS × periods × (1 + holiday %) + other components.

    The holiday-allowance % is the scheme's override, else the salary row's own %, else the
    statutory minimum; it applies to the base salary only (structural allowances are added as is).
    """
    total = ZERO
    wanted = {c.upper() for c in pensionable_components}
    for c in components:
        code = (c.component or BASE_COMPONENT).upper()
        if code not in wanted:
            continue
        if c.basis not in FULLTIME_BASES:
            raise ValueError(f"salary {c.source_id or c.component} is on basis {c.basis!r}: "
                             "convert it with fulltime_equivalent() first")
        annual = annualise(c.gross_amount, c.frequency, four_weekly_periods=four_weekly_periods,
                           fulltime_hours_per_week=fulltime_hours_per_week, weekly_periods=weekly_periods)
        if code == BASE_COMPONENT and holiday_allowance_included:
            pct = holiday_allowance_pct
            if pct is None:
                pct = c.holiday_allowance_pct if c.holiday_allowance_pct is not None else default_holiday_allowance_pct
            annual = annual * (1 + pct / HUNDRED)
        total += annual
    return cents(total)


def fulltime_equivalent(version: SalaryVersion, part_time_factor: Decimal | None) -> SalaryVersion | None:
    """The full-time amount of a salary version: as is for ``fulltime``/``hourly``/unknown-legacy rows;
    an ``actual`` (part-time, as paid) amount ÷ the part-time factor (2,400.00 at 0.6 → 4,000.00).
    None when an ``actual`` amount has no usable factor (0 or missing); ValueError for another basis."""
    if version.basis in FULLTIME_BASES:
        return version
    if version.basis != "actual":
        raise ValueError(f"unknown salary basis {version.basis!r}")
    if not part_time_factor:
        return None
    return replace(version, gross_amount=version.gross_amount / part_time_factor, basis="fulltime")


def annual_periods(frequency: str, year: int, tail: Tail | str, scheme_four_weekly_periods: int) -> tuple[int, int]:
    """(four-weekly, weekly) annualisation factors for ``year`` in the payroll's calendar ``tail``.

    Week-based calendars count the periods the payroll really has (14 four-weekly periods or 53 weeks
    in a 53-ISO-week year); 1-January four-weekly calendars use the scheme's ``four_weekly_periods``."""
    weekly = periods_per_year("week", year)
    if frequency == "four_weeks" and tail == "iso_weeks":
        return periods_per_year("four_weeks", year, "iso_weeks"), weekly
    return scheme_four_weekly_periods, weekly


def pensioengrondslag(ft_pensionable: Decimal, max_pensionable: Decimal, franchise: Decimal,
                      part_time_factor: Decimal) -> Decimal:
    """max(0, min(FT pensionable, max) − franchise) × part-time factor, in cents (PFZW formula [S22])."""
    capped = min(ft_pensionable, max_pensionable)
    return cents(max(ZERO, capped - franchise) * part_time_factor)


def wia_excedent(annual_salary: Decimal, threshold: Decimal, policy_max: Decimal | None = None) -> Decimal:
    """max(0, min(salary, policy max) − WIA threshold), in cents."""
    capped = annual_salary if policy_max is None else min(annual_salary, policy_max)
    return cents(max(ZERO, capped - threshold))


def insured_amount(excedent: Decimal, cover_pct: Decimal) -> Decimal:
    """Insured yearly benefit = excedent × cover % (70/75/80), in cents."""
    return cents(excedent * cover_pct / HUNDRED)


def payout(insured: Decimal, payout_factor: Decimal) -> Decimal:
    """Yearly payout at a disability class: insured × payout factor (e.g. 0.5 at 50 % AO), in cents."""
    return cents(insured * payout_factor)


def part_time_factor(version: EmploymentVersion) -> Decimal | None:
    """The stated factor, else contract hours / full-time hours, 4 decimals (half-up)."""
    if version.part_time_factor is not None:
        return Decimal(version.part_time_factor).quantize(FOUR_DECIMALS, rounding=ROUND_HALF_UP)
    if version.hours_per_week is not None and version.fulltime_hours_per_week:
        return (Decimal(version.hours_per_week) / Decimal(version.fulltime_hours_per_week)).quantize(
            FOUR_DECIMALS, rounding=ROUND_HALF_UP)
    return None


# --- one basis -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Basis:
    """The computed bases for one employment, scheme and reference date."""

    reference_date: date
    status: str  # in_service | out_of_service | no_salary | no_part_time_factor
    parameter_year: int
    scheme_version: int
    peildatum: date | None = None
    part_time_factor: Decimal | None = None
    ft_pensionable_salary: Decimal | None = None
    max_pensionable_salary: Decimal | None = None
    franchise: Decimal | None = None
    pensioengrondslag: Decimal | None = None
    wia_salary: Decimal | None = None
    wia_threshold: Decimal | None = None
    wia_excedent: Decimal | None = None
    wia_cover_pct: Decimal | None = None
    wia_insured: Decimal | None = None


def _is_base(version: SalaryVersion) -> bool:
    return (version.component or BASE_COMPONENT).upper() == BASE_COMPONENT


def _peildatum_components(reference_date: date, peil: date,
                          salaries: Sequence[SalaryVersion]) -> tuple[date, list[SalaryVersion]]:
    """The peildatum's wage components; without a base wage on it (the wage starts a few days after
    entry), the first wage date up to the reference date is the peildatum instead."""
    components = salary_on(salaries, peil)
    if not any(_is_base(c) for c in components):
        later = sorted({s.valid_from for s in salaries if peil < s.valid_from <= reference_date})
        if later:
            peil = later[0]
            components = salary_on(salaries, peil)
    return peil, components


def _scheme_bases(scheme: Scheme, params: YearParameters, ft: Decimal, ptf: Decimal) -> dict[str, Any]:
    """The pension (pensioengrondslag) and WIA-excedent fields of a basis, for what the scheme covers."""
    out: dict[str, Any] = {}
    if scheme.has_pension:
        cap = params.fiscal_max_pensionable_salary
        if scheme.pension_max_salary is not None:
            cap = min(cap, scheme.pension_max_salary)
        franchise = scheme.franchise_for(params.aow_franchise_min)
        out |= {"max_pensionable_salary": cap, "franchise": franchise,
                "pensioengrondslag": pensioengrondslag(ft, cap, franchise, ptf)}
    if scheme.has_wia_excedent:
        assert scheme.wia_cover_pct is not None
        salary = cents(ft * ptf)
        threshold = params.wia_threshold(scheme.wia_threshold_source)
        excedent = wia_excedent(salary, threshold, scheme.policy_max_salary)
        out |= {"wia_salary": salary, "wia_threshold": threshold, "wia_excedent": excedent,
                "wia_cover_pct": scheme.wia_cover_pct, "wia_insured": insured_amount(excedent, scheme.wia_cover_pct)}
    return out


def compute_basis(
    scheme: Scheme,
    params: YearParameters,
    reference_date: date,
    employment: Sequence[EmploymentVersion],
    salaries: Sequence[SalaryVersion],
    tail: str = "period13",
) -> Basis:
    """All bases of one employment under one scheme version on ``reference_date``.

    ``employment``/``salaries`` are the versions as known at the chosen knowledge time; the
    caller picks ``scheme`` and ``params`` for ``reference_date``. ``tail`` is the payroll's
    four-weekly calendar (payroll_etl.periods), which decides how many periods a year has.
    Amounts in euro (cents); ValueError when ``params`` are not of the reference date's year.
    """
    if params.year != reference_date.year:
        raise ValueError("parameters must be those of the reference date's year")
    common: dict[str, Any] = {"reference_date": reference_date, "parameter_year": params.year,
                              "scheme_version": scheme.version}
    current = employment_on(employment, reference_date)
    if current is None:
        return Basis(status="out_of_service", **common)
    start, end = current.start_date, max(employment, key=lambda v: v.valid_from).end_date
    if reference_date < start or (end is not None and reference_date > end):
        return Basis(status="out_of_service", **common)
    ptf = part_time_factor(current)
    if ptf is None:
        return Basis(status="no_part_time_factor", **common)
    peil, components = _peildatum_components(reference_date, peildatum(reference_date, scheme.peildatum_rule, start),
                                             salaries)
    if not any(_is_base(c) for c in components):
        return Basis(status="no_salary", peildatum=peil, part_time_factor=ptf, **common)
    at_peil = employment_on(employment, peil) or current
    converted = [fulltime_equivalent(c, part_time_factor(at_peil)) for c in components]
    if any(c is None for c in converted):  # a part-time amount without a part-time factor to divide by
        return Basis(status="no_part_time_factor", peildatum=peil, **common)
    components = [c for c in converted if c is not None]
    base = next(c for c in components if _is_base(c))
    four_weekly, weekly = annual_periods(base.frequency, reference_date.year, tail, scheme.four_weekly_periods)
    ft = fulltime_pensionable_salary(
        components,
        pensionable_components=scheme.pensionable_components,
        holiday_allowance_included=scheme.holiday_allowance_included,
        holiday_allowance_pct=scheme.holiday_allowance_pct,
        default_holiday_allowance_pct=params.holiday_allowance_min_pct,
        four_weekly_periods=four_weekly,
        fulltime_hours_per_week=at_peil.fulltime_hours_per_week,
        weekly_periods=weekly,
    )
    return Basis(status="in_service", **common, peildatum=peil, part_time_factor=ptf, ft_pensionable_salary=ft,
                 **_scheme_bases(scheme, params, ft, ptf))


def reference_dates(
    employment: Sequence[EmploymentVersion],
    salaries: Sequence[SalaryVersion],
    scheme_versions: Sequence[Scheme],
    years: Iterable[int],
    rule: str,
) -> list[date]:
    """The dates on which an employment's basis under a scheme can change.

    1 January of every year in service (or the entry date), every part-time change, every scheme
    version start, every salary change when the scheme follows changes, and the day after the
    exit (an ``out_of_service`` row). Only ``years`` (those with parameters) are returned.
    """
    if not employment:
        return []
    latest = max(employment, key=lambda v: v.valid_from)
    start = min(v.start_date for v in employment)
    end = latest.end_date
    wanted = set(years)
    dates: set[date] = set()
    for y in wanted:
        first = max(date(y, 1, 1), start)
        if first.year == y and (end is None or first <= end):
            dates.add(first)
    candidates = [v.valid_from for v in employment] + [s.valid_from for s in scheme_versions]
    if rule == "follows_changes":
        candidates += [s.valid_from for s in salaries]
    dates.update(d for d in candidates if d >= start and (end is None or d <= end))
    if end is not None:
        dates.add(end + timedelta(days=1))
    return sorted(d for d in dates if d.year in wanted)


__all__ = ["BASE_COMPONENT", "Basis", "EmploymentVersion", "SalaryVersion", "annual_periods", "annualise",
           "compute_basis", "employment_on", "fulltime_equivalent", "fulltime_pensionable_salary", "insured_amount",
           "part_time_factor", "payout", "peildatum", "pensioengrondslag", "reference_dates", "salary_on",
           "wia_excedent"]
