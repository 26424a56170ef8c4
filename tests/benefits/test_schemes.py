"""Scheme configuration: the shipped YAML, inheritance between versions, and what is rejected."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from payroll_etl.benefits.parameters import load_parameters
from payroll_etl.benefits.schemes import (
    load_schemes,
    parse_schemes,
    scheme_from_definition,
    scheme_on,
    validate_schemes,
)
from payroll_etl.errors import ConfigurationError

DEMO_EMPLOYERS = {"bakkerij_de_vries", "techniek_noord", "zorggroep_zuid", "transport_oost", "schoonmaak_west"}


def test_shipped_schemes_cover_demo_employers_and_pass_validation() -> None:
    schemes = load_schemes()
    validate_schemes(schemes, load_parameters())
    assert {s.employer for s in schemes} == DEMO_EMPLOYERS
    v1 = scheme_on(schemes, "transport_oost", "pensioen_transport", date(2025, 12, 31))
    v2 = scheme_on(schemes, "transport_oost", "pensioen_transport", date(2026, 1, 1))
    assert (v1.version, v1.franchise, v1.valid_to) == (1, D("19000"), date(2025, 12, 31))
    assert (v2.version, v2.franchise, v2.wia_cover_pct, v2.accrual_type) == (2, D("19750"), D("80"),
                                                                             "beschikbare_premie")  # inherited
    assert scheme_on(schemes, "transport_oost", "pensioen_transport", date(2023, 12, 31)) is None
    for s in schemes:  # JSON round trip, as stored in benefit_scheme.definition
        assert scheme_from_definition(s.definition()).definition_hash == s.definition_hash


def raw(**version: object) -> dict:
    return {"schemes": [{"employer": "acme", "scheme": "p", "versions": [
        {"version": 1, "valid_from": "2024-01-01", "accrual_type": "middelloon", **version}]}]}


@pytest.mark.parametrize("bad", [
    {"wia_cover_pct": 65},
    {"peildatum_rule": "average"},
    {"accrual_type": "none"},  # neither pension nor WIA part
    {"wia_threshold_source": "guess", "wia_cover_pct": 70},
    {"franchise_typo": 1},
    {"pensionable_components": ["ORT"]},
])
def test_rejected_scheme_configs(bad: dict) -> None:
    with pytest.raises(ConfigurationError):
        parse_schemes(raw(**bad))


def test_fixed_franchise_below_a_years_legal_minimum_is_rejected() -> None:
    schemes = parse_schemes(raw(franchise=18500))  # ≥ 2024 and 2025 minimum, < 2026's 19,172
    with pytest.raises(ConfigurationError, match="2026"):
        validate_schemes(schemes, load_parameters())
