"""The mart over the simulators' demo population: every demo employer gets bases; four-weekly pay is ×13."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pyarrow as pa
import pytest

from payroll_etl.benefits import mart
from payroll_etl.model import ENTITIES, arrow_schema
from payroll_etl.periods import period_for
from payroll_etl.warehouse import load as loader
from payroll_etl.warehouse.migrate import upgrade
from payroll_etl.warehouse.schema import warehouse_columns
from payroll_simulators.world import DEMO_WERKGEVERS, build_werkgever

AT = datetime(2026, 11, 20, 2, tzinfo=UTC)
EMPLOYER_KEY = {"zorggroep_zuid_1": "zorggroep_zuid", "zorggroep_zuid_2": "zorggroep_zuid"}


def arrow(entity: str, rows: list[dict]) -> pa.Table:
    schema = arrow_schema(ENTITIES[entity])
    return pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows], schema=schema).select(
        warehouse_columns(ENTITIES[entity]))


def load_world(url: str) -> dict[str, dict[str, tuple]]:
    """Load every demo werkgever's employments and wages; return the expected inputs per employment."""
    batches: dict[str, tuple[list, list]] = {}
    facts: dict[str, dict[str, tuple]] = {}
    for index, spec in enumerate(DEMO_WERKGEVERS):
        employer = EMPLOYER_KEY.get(spec.key, spec.key)
        wg = build_werkgever(spec, 42, index)
        employments, salaries = batches.setdefault(employer, ([], []))
        for emp in wg.employments:
            for h in sorted(emp.hours, key=lambda h: h.start):
                employments.append({
                    "connector": "loket_rest", "employer": employer, "source_id": emp.id, "valid_from": h.start,
                    "employee_source_id": emp.person_id, "start_date": emp.start, "end_date": emp.end,
                    "hours_per_week": h.hours_per_week, "fulltime_hours_per_week": emp.fulltime_hours,
                    "part_time_factor": (h.hours_per_week / emp.fulltime_hours).quantize(Decimal("0.0001"),
                                                                                         ROUND_HALF_UP),
                    "payroll_frequency": wg.frequency})
            for w in emp.wages:
                salaries.append({
                    "connector": "loket_rest", "employer": employer, "source_id": w.id, "valid_from": w.start,
                    "employment_source_id": emp.id, "gross_amount": w.gross_amount, "frequency": wg.frequency,
                    "holiday_allowance_pct": emp.holiday_allowance_pct, "component": "BASIS",
                    "is_correction": False})
            facts.setdefault(employer, {})[emp.id] = (emp, wg.frequency)
    for employer, (employments, salaries) in batches.items():
        loader.load(url, loader.LoadBatch(
            load_run_id=f"world-{employer}", dag_id="test", airflow_run_id=None, connector="loket_rest",
            employer=employer, logical_date=AT.date(), period=period_for(AT.date(), "month"),
            tables={"employment": arrow("employment", employments), "salary": arrow("salary", salaries)},
            started_at=AT, recorded_at=AT))
    return facts


@pytest.mark.slow
def test_demo_population(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    upgrade(url)
    monkeypatch.setattr(loader, "load", functools.partial(loader.load, post_load_steps=[mart.post_load_step]))
    assert mart.seed_config(url, now=AT) is None  # as pipeline.load does, before the employer transactions
    facts = load_world(url)
    mart.demo_summary(url, day=date(2026, 11, 1), as_of=AT)
    out = capsys.readouterr().out
    assert " 0 new, 0 superseded" in out  # the load hook already computed everything
    for employer in facts:
        assert f"{employer}: " in out and f"{employer}: 0 bases" not in out
    # four-weekly (techniek_noord): FT pensionable on 1 Jan 2026 = wage(1 Jan 2026) × 13 × 1.08
    rows = {(r["employment_source_id"], r["scheme"]): r
            for r in mart.basis_on(url, "techniek_noord", date(2026, 1, 1), AT)}
    checked = 0
    for emp_id, (emp, frequency) in facts["techniek_noord"].items():
        r = rows.get((emp_id, "pensioen_metaal"))
        if r is None:
            continue
        assert frequency == "four_weeks"
        peil = max(date(2026, 1, 1), emp.start)
        wage = [w.gross_amount for w in sorted(emp.wages, key=lambda w: w.start) if w.start <= peil][-1]
        assert r["ft_pensionable_salary"] == (wage * 13 * Decimal("1.08")).quantize(Decimal("0.01"), ROUND_HALF_UP)
        checked += 1
    assert checked > 20
    # recomputing the same knowledge again changes nothing
    res = mart.recompute_for(url, "techniek_noord", as_of=AT)
    assert (res.inserted, res.superseded) == (0, 0)
