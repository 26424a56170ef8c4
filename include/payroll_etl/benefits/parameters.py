"""Statutory yearly parameters (fiscal max, AOW-franchise minimum, SV maxima), effective-dated.

The values live in ``parameters.csv`` next to this module (one row per parameter and effective
date, with its source tag from docs/benefits.md); adding a year is adding rows, not code. The
warehouse keeps the same rows bitemporally in ``benefit_parameter`` (see ``tables.py``), so a
preliminary figure that is corrected later (the 2026 franchise) supersedes, never overwrites.

Annual parameters take the value of the first row in the calendar year (the 1 January value:
the max premium wage is fixed for the whole year at its January value, domain.md §1.5). The max
daily wage is indexed on 1 January and 1 July; the WIA threshold uses the 1 January value × 261.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from payroll_etl.errors import ConfigurationError

DEFAULT_PARAMETERS_FILE = Path(__file__).resolve().parent / "parameters.csv"
CENT = Decimal("0.01")

ANNUAL_PARAMETERS = (
    "fiscal_max_pensionable_salary",
    "aow_franchise_min",
    "max_premium_wage",
    "max_daily_wage",
    "daily_wage_days_factor",
    "holiday_allowance_min_pct",
)
PARAMETER_NAMES = frozenset(ANNUAL_PARAMETERS)

ThresholdSource = Literal["dagloon_x_261", "max_premieloon"]
THRESHOLD_SOURCES: tuple[str, ...] = ("dagloon_x_261", "max_premieloon")


class MissingParameterError(ConfigurationError):
    """No parameter row for the requested year: add rows to parameters.csv and reseed."""


def cents(amount: Decimal) -> Decimal:
    """Round half-up to whole cents (the rounding every amount in domain.md uses)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ParameterRow:
    """One row of parameters.csv: ``value`` in ``unit`` (``EUR/year``, ``EUR/day``, ``days/year``, ``percent``) from
    ``valid_from``; ``source``: the source tags of docs/benefits.md; ``parameter`` one of ``ANNUAL_PARAMETERS``."""

    parameter: str
    valid_from: date
    value: Decimal
    unit: str = ""
    source: str = ""
    note: str = ""


@dataclass(frozen=True)
class YearParameters:
    """The parameter values that apply to one calendar year (as of 1 January)."""

    year: int
    fiscal_max_pensionable_salary: Decimal
    aow_franchise_min: Decimal
    max_premium_wage: Decimal
    max_daily_wage: Decimal  # 1 January value
    daily_wage_days_factor: Decimal
    holiday_allowance_min_pct: Decimal
    max_daily_wage_1_july: Decimal | None = None

    @property
    def wia_threshold_daily_wage(self) -> Decimal:
        """WIA-loongrens / max SV-loon as insurers like Interpolis use it: dagloon(1 Jan) × 261."""
        return cents(self.max_daily_wage * self.daily_wage_days_factor)

    def wia_threshold(self, source: str) -> Decimal:
        """The WIA threshold the policy uses (domain.md §1.5: insurers differ, so it is a policy choice)."""
        if source == "dagloon_x_261":
            return self.wia_threshold_daily_wage
        if source == "max_premieloon":
            return self.max_premium_wage
        raise ConfigurationError(f"unknown WIA threshold source {source!r}; expected one of {THRESHOLD_SOURCES}")


class ParameterTable:
    """Effective-dated parameter rows with per-year lookup."""

    def __init__(self, rows: Iterable[ParameterRow]):
        self.rows: tuple[ParameterRow, ...] = tuple(sorted(rows, key=lambda r: (r.parameter, r.valid_from)))
        seen: set[tuple[str, date]] = set()
        for r in self.rows:
            if r.parameter not in PARAMETER_NAMES:
                raise ConfigurationError(f"unknown benefit parameter {r.parameter!r}")
            if (r.parameter, r.valid_from) in seen:
                raise ConfigurationError(f"duplicate benefit parameter {r.parameter} at {r.valid_from}")
            seen.add((r.parameter, r.valid_from))

    def _rows_in_year(self, parameter: str, year: int) -> list[ParameterRow]:
        return [r for r in self.rows if r.parameter == parameter and r.valid_from.year == year]

    def value_on(self, parameter: str, day: date) -> Decimal:
        """The value in effect on ``day``; only rows of ``day``'s own year count (values are per year)."""
        rows = [r for r in self._rows_in_year(parameter, day.year) if r.valid_from <= day]
        if not rows:
            raise MissingParameterError(f"benefit parameter {parameter} has no value for {day.year}")
        return rows[-1].value

    def years(self) -> list[int]:
        """Years for which every annual parameter has a value."""
        candidates = {r.valid_from.year for r in self.rows}
        return sorted(y for y in candidates if all(self._rows_in_year(p, y) for p in ANNUAL_PARAMETERS))

    def for_year(self, year: int) -> YearParameters:
        """Each annual parameter's first value in ``year`` (its 1 January value; ``max_daily_wage_1_july`` from a
        1 July row, if any). Raises MissingParameterError when a parameter has no row in ``year``."""
        values: dict[str, Decimal] = {}
        for p in ANNUAL_PARAMETERS:
            rows = self._rows_in_year(p, year)
            if not rows:
                raise MissingParameterError(f"benefit parameter {p} has no value for {year}")
            values[p] = rows[0].value
        july = [r.value for r in self._rows_in_year("max_daily_wage", year) if r.valid_from == date(year, 7, 1)]
        return YearParameters(year=year, max_daily_wage_1_july=july[0] if july else None, **values)


def load_parameter_rows(path: Path | str | None = None) -> list[ParameterRow]:
    """The rows of the parameters CSV (default: parameters.csv next to this module), in file order.
    Raises ConfigurationError naming file and line for a missing column or a bad date or number."""
    path = Path(path) if path else DEFAULT_PARAMETERS_FILE
    rows = []
    with Path(path).open(newline="", encoding="utf-8") as fh:
        for i, raw in enumerate(csv.DictReader(fh), start=2):
            try:
                rows.append(ParameterRow(
                    parameter=raw["parameter"].strip(),
                    valid_from=date.fromisoformat(raw["valid_from"].strip()),
                    value=Decimal(raw["value"].strip()),
                    unit=(raw.get("unit") or "").strip(),
                    source=(raw.get("source") or "").strip(),
                    note=(raw.get("note") or "").strip(),
                ))
            except (KeyError, ValueError, ArithmeticError) as exc:
                raise ConfigurationError(f"{path}:{i}: malformed parameter row ({type(exc).__name__})") from exc
    return rows


def load_parameters(path: Path | str | None = None) -> ParameterTable:
    """The parameter table from the seed CSV (the warehouse copy: ``tables.read_parameters``)."""
    return ParameterTable(load_parameter_rows(path))
