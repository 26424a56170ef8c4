"""Rules without Great Expectations: identifier vectors (domain.md §3/§6), periods, volume, completeness, scanner."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from dq_corpus import EMPLOYER, INVALID_BSNS, VALID_BSNS

from payroll_etl.config import EmployerConfig
from payroll_etl.periods import period_for
from payroll_etl.quality import DQContext
from payroll_etl.quality.identifiers import bsn_valid, iban_valid, lhn_valid, normalize_postcode, postcode_valid
from payroll_etl.quality.rules import (
    RuleEnv,
    completeness,
    effective_settings,
    reference_date,
    row_rules,
    volume_checks,
)
from payroll_etl.quality.scan import find_bsn_like, scan_paths, scan_rows


def _ctx(employer: EmployerConfig = EMPLOYER, **kw) -> DQContext:
    return DQContext(employer, period_for(date(2025, 6, 15), "month"), "2025-06-15", Path("/nonexistent"), **kw)


@pytest.mark.parametrize("bsn", VALID_BSNS + ("12345672", "111.222.333", "111 222 333"))
def test_bsn_valid_vectors(bsn: str) -> None:
    assert bsn_valid(bsn)


@pytest.mark.parametrize("bsn", INVALID_BSNS + ("12345678a", "1234567", "1234567890", ""))
def test_bsn_invalid_vectors(bsn: str) -> None:
    assert not bsn_valid(bsn)


def test_iban_vectors() -> None:
    assert iban_valid("NL91ABNA0417164300") and iban_valid("NL86INGB0002445588")
    assert iban_valid("nl91 abna 0417 1643 00")
    assert not iban_valid("NL91ABNA0417164301")
    assert not iban_valid("NL91ABNA041716430")  # Dutch IBAN must be 18 characters
    assert iban_valid("DE89370400440532013000")  # other countries: mod 97 only


def test_postcode_vectors() -> None:
    assert postcode_valid("2601 DC") and normalize_postcode("1011ab") == "1011 AB"
    assert postcode_valid("1011ab")
    for bad in ("2611 SS", "2611 SA", "2611 SD", "0123 AB", "12345 AB", "1011", ""):
        assert not postcode_valid(bad), bad
    assert postcode_valid("1234 FQ")  # F, I, O, Q, U, Y are allowed since 2005


def test_loonheffingennummer_vectors() -> None:
    assert lhn_valid("111222333L01") and lhn_valid("123456782l00")
    assert not lhn_valid("123456789L01")  # RSIN fails the 11-modulus
    assert not lhn_valid("111222333X01") and not lhn_valid("111222333L1") and not lhn_valid("11122233L01")


def _rule(entity: str, name: str, column: str | None = None):
    return next(r for r in row_rules() if r.entity == entity and r.name == name and (column is None or
                                                                                     r.column == column))


def _env(ctx: DQContext, frames: dict | None = None) -> RuleEnv:
    return RuleEnv(ctx, frames or {}, effective_settings(ctx), reference_date(ctx))


def test_period_14_only_with_a_short_period_14_tail() -> None:
    periods = pd.DataFrame({"frequency": ["four_weeks"] * 3 + ["month"], "year": [2026] * 4,
                            "period_number": [13, 14, 15, 12]})
    rule = _rule("payroll_period", "expect_period_number_consistent_with_frequency")
    tail13 = EmployerConfig(**{**EMPLOYER.__dict__, "payroll_frequency": "four_weeks", "four_week_tail": "period13"})
    tail14 = EmployerConfig(**{**EMPLOYER.__dict__, "payroll_frequency": "four_weeks", "four_week_tail": "period14"})
    assert rule.check(periods, _env(_ctx(tail13))).tolist() == [True, False, False, True]
    assert rule.check(periods, _env(_ctx(tail14))).tolist() == [True, True, False, True]


def test_53_week_case_period_13_runs_to_31_december() -> None:
    """Tail period13 (the 5-week period 13 in a 53-week year): period 13 ends 31 Dec; tail period14: 28 days."""
    periods = pd.DataFrame({"frequency": ["four_weeks"] * 2, "year": [2026] * 2, "period_number": [13, 14],
                            "start_date": [date(2026, 12, 3), date(2026, 12, 31)],
                            "end_date": [date(2026, 12, 31), date(2026, 12, 31)]})
    rule = _rule("payroll_period", "expect_period_dates_to_match_calendar")
    tail13 = EmployerConfig(**{**EMPLOYER.__dict__, "four_week_tail": "period13"})
    tail14 = EmployerConfig(**{**EMPLOYER.__dict__, "four_week_tail": "period14"})
    assert rule.check(periods, _env(_ctx(tail13))).tolist() == [True, True]  # 14 is the error rule's case
    assert rule.check(periods, _env(_ctx(tail14))).tolist() == [False, True]  # 13 would end on 30 Dec
    results = pd.DataFrame({"period_id": ["202614", "202613", None]})
    pid = _rule("payroll_result", "expect_period_id_consistent_with_frequency", "period_id")
    four_weekly14 = EmployerConfig(**{**EMPLOYER.__dict__, "payroll_frequency": "four_weeks",
                                      "four_week_tail": "period14"})
    assert pid.check(results, _env(_ctx(four_weekly14))).tolist() == [True, True, True]
    assert pid.check(results, _env(_ctx())).tolist() == [False, False, True]  # monthly employer


def test_volume_thresholds_and_scope() -> None:
    ctx = _ctx(previous_counts={"employee": 100, "employment": 100, "salary": 8, "payroll_result": 500},
               scope={"employee": "full", "employment": "full", "salary": "full", "payroll_result": "incremental"})
    checks = {v.entity: v for v in volume_checks({"employee": 50, "employment": 49, "salary": 1}, ctx,
                                                 effective_settings(ctx))}
    assert set(checks) == {"employee", "employment", "salary"}  # incremental entities are not judged
    assert checks["employee"].success and not checks["employment"].success  # 50 % drop passes, 51 % blocks
    assert checks["employment"].severity == "error"
    assert not checks["salary"].success and checks["salary"].severity == "warn"  # fewer than 10 rows last run
    assert "100 to 49" in checks["employment"].reason()
    ctx.settings = {"max_drop_pct": 60, "employers": {EMPLOYER.employer: {"max_drop_pct": 20}}}
    assert effective_settings(ctx)["max_drop_pct"] == 20


def test_completeness_only_for_full_scope_and_open_records() -> None:
    frames = {"employee": pd.DataFrame({"source_id": ["a"]}), "employment": pd.DataFrame({"source_id": ["m1"]})}
    ctx = _ctx(scope={"employee": "full", "employment": "incremental"},
               previous_keys={"employee": {"a", "b", "c"}, "employment": {"m1", "m2"}},
               previous_open={"employee": {"a", "b"}})
    assert completeness(frames, ctx) == {"employee": (["a", "b"], ["b"])}


def test_severity_override() -> None:
    rules = row_rules({"severity_overrides": {"employee.expect_postcode_to_be_dutch": "error",
                                              "expect_bsn_to_be_present": "bogus"}})
    assert next(r for r in rules if r.name == "expect_postcode_to_be_dutch").severity == "error"
    assert next(r for r in rules if r.name == "expect_bsn_to_be_present").severity == "warn"


def test_scanner(tmp_path: Path) -> None:
    text = "ok 123456789 and 111222333, iban NL91ABNA0417164300, long 1112223330, 20261123"
    assert find_bsn_like(text) == ["111222333"]
    (tmp_path / "a.html").write_text("<td>249566758</td>\n<td>x</td>")
    (tmp_path / "b.bin").write_text("249566758")  # not a text report: ignored under directories
    findings = scan_paths([tmp_path])
    assert [(Path(f.path).name, f.line) for f in findings] == [("a.html", 1)]
    assert "249566758" not in str(findings[0])  # a finding never repeats the number
    assert len(scan_rows([("x", 999999990), ("y", None)])) == 1


def test_pii_scan_ignores_uuids_but_not_a_bsn_beside_one():
    """A task-instance UUID whose hex group holds nine digits passing the 11-proef is no BSN (the privacy
    scan of Airflow's console once failed on one); a real BSN next to it is still found."""
    from payroll_etl.quality.scan import elfproef, find_bsn_like

    digits = "123456782"
    assert elfproef(digits)
    line = f"Pushing xcom ti=RuntimeTaskInstance(id=UUID('01a2bcfb-1ce2-1234-b12c-a{digits}bc'), task_id='load')"
    assert find_bsn_like(line) == []
    assert find_bsn_like(line + f" bsn={digits}") == [digits]
