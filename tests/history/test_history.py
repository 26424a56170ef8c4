"""Bitemporal history: the as-of query, retroactive corrections, idempotent re-runs, payroll results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from history_support import CONNECTOR, batch, employee, employment, query, result, salary, snapshot, ts

from payroll_etl.warehouse.load import load
from payroll_etl.warehouse.schema import as_of_clause

ER = "acme"
BSN = {"E1": "111222333"}


def ptf_as_of(url: str, effective_on: str, known_at: str) -> Decimal | None:
    """"The part-time factor of M1 on ``effective_on`` as we knew it at ``known_at``": one query."""
    rows = query(url, f"""
        SELECT e.part_time_factor FROM employment e
        WHERE e.connector = '{CONNECTOR}' AND e.employer = '{ER}' AND e.source_id = 'M1'
          AND {as_of_clause('e', f"DATE '{effective_on}'", f"CAST('{known_at}' AS TIMESTAMPTZ)")}
        ORDER BY e.valid_from DESC LIMIT 1""")
    return rows[0][0] if rows else None


def _load_history(url: str) -> None:
    p = date(2025, 3, 1)
    emp = [employee(ER, "E1", p, BSN["E1"])]
    # 5 March: 40 h (factor 1.0) since 2020
    load(url, batch(ER, date(2025, 3, 5), ts("2025-03-05"), {
        "employee": emp, "employment": [employment(ER, "M1", "E1", date(2020, 1, 1), "40", "1.0")]}, BSN))
    # 15 April: we learn that hours went to 32 (0.8) from 1 February: retroactive
    load(url, batch(ER, date(2025, 4, 15), ts("2025-04-15"), {
        "employee": emp, "employment": [employment(ER, "M1", "E1", date(2020, 1, 1), "40", "1.0"),
                                        employment(ER, "M1", "E1", date(2025, 2, 1), "32", "0.8")]}, BSN))
    # 10 May: the February version is corrected to 36 h (0.9), same effective date
    load(url, batch(ER, date(2025, 5, 10), ts("2025-05-10"), {
        "employee": emp, "employment": [employment(ER, "M1", "E1", date(2020, 1, 1), "40", "1.0"),
                                        employment(ER, "M1", "E1", date(2025, 2, 1), "36", "0.9")]}, BSN))


def test_as_of_query_on_both_timelines(url):
    _load_history(url)
    assert ptf_as_of(url, "2025-03-01", "2025-03-01T00:00:00+00:00") is None  # not loaded yet
    assert ptf_as_of(url, "2025-03-01", "2025-04-01T00:00:00+00:00") == Decimal("1.0000")  # as known on 1 April
    assert ptf_as_of(url, "2025-03-01", "2025-05-01T00:00:00+00:00") == Decimal("0.8000")
    assert ptf_as_of(url, "2025-03-01", "2025-06-01T00:00:00+00:00") == Decimal("0.9000")
    assert ptf_as_of(url, "2025-01-15", "2025-06-01T00:00:00+00:00") == Decimal("1.0000")  # before the change
    current = query(url, "SELECT part_time_factor, valid_from FROM employment_current WHERE source_id = 'M1'")
    assert current == [(Decimal("0.9000"), date(2025, 2, 1))]


def test_retroactive_correction_never_overwrites_what_we_knew(url):
    _load_history(url)
    rows = query(url, "SELECT valid_from, part_time_factor, recorded_at, superseded_at FROM employment "
                      "WHERE source_id = 'M1' ORDER BY recorded_at, valid_from")
    assert [(r[0], r[1], r[3] is None) for r in rows] == [
        (date(2020, 1, 1), Decimal("1.0000"), True),    # still true: never touched
        (date(2025, 2, 1), Decimal("0.8000"), False),   # what we believed from 15 April, kept ...
        (date(2025, 2, 1), Decimal("0.9000"), True),    # ... superseded by the correction of 10 May
    ]
    assert rows[1][3] == rows[2][2]  # superseded exactly when the correction was recorded


def _full_batch(recorded: str):
    p = date(2025, 3, 1)
    return batch(ER, date(2025, 3, 15), ts(recorded), {
        "employee": [employee(ER, "E1", p, BSN["E1"]), employee(ER, "E2", p, "123456782", prefix="van")],
        "employment": [employment(ER, "M1", "E1", date(2020, 1, 1), "40", "1.0"),
                       employment(ER, "M2", "E2", date(2022, 1, 1), "20", "0.5", end_date=None)],
        "salary": [salary(ER, "S1", "M1", date(2025, 1, 1), "4000"), salary(ER, "S2", "M2", date(2025, 1, 1), "2000"),
                   salary(ER, "S2b", "M2", date(2025, 1, 1), "150", component="TOESLAG")],
        "payroll_result": [result(ER, "M1", "M1", "202503", "R1", "BASIS", "4000", p)],
    }, {"E1": BSN["E1"], "E2": "123456782"})


def test_rerun_of_the_same_logical_date_changes_nothing(url):
    load(url, _full_batch("2025-03-16"))
    before = snapshot(url)
    assert sum(len(v) for v in before.values()) > 8
    counts = load(url, _full_batch("2025-03-17"))  # a re-run the next day: same load_run_id, later clock
    assert snapshot(url) == before  # identical contents, not just counts
    assert all(c["inserted"] == 0 and c.get("superseded", 0) == 0 for c in counts.values())


def test_later_retroactive_run_adds_payroll_results(url):
    jan = date(2025, 1, 1)
    load(url, batch(ER, date(2025, 1, 25), ts("2025-01-25"), {
        "payroll_result": [result(ER, "M1", "M1", "202501", "R1", "BASIS", "4000", jan)]}))
    # March: a retroactive run R7 for January; the connector keys the line on the employment again
    load(url, batch(ER, date(2025, 3, 25), ts("2025-03-25"), {
        "payroll_result": [result(ER, "M1", "M1", "202501", "R7", "BASIS", "50", jan),
                           result(ER, "M1", "M1", "202503", "R8", "BASIS", "4050", date(2025, 3, 1))]}))
    rows = query(url, "SELECT period_id, run_id, amount FROM payroll_result WHERE superseded_at IS NULL "
                      "ORDER BY period_id, run_id")
    assert rows == [("202501", "R1", Decimal("4000.0000")), ("202501", "R7", Decimal("50.0000")),
                    ("202503", "R8", Decimal("4050.0000"))]
    total = query(url, "SELECT sum(amount) FROM payroll_result WHERE superseded_at IS NULL AND period_id = '202501'")
    assert total == [(Decimal("4050.0000"),)]
