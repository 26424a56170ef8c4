"""The benefit_basis mart against a real warehouse (DuckDB file and PostgreSQL), via the real loader.

Scenario for one bakkerij_de_vries employment (schemes from include/benefit_schemes.yaml:
``pensioen_bakkers`` fixes the salary on 1 January, ``wia_excedent`` follows changes):

* T1 (2025-02-10): €5,000/month, ptf 0.8 → grondslag 2025 = €37,060.00;
* T2 (2025-03-10): retroactive correction of that wage to €5,100 → a new row, the old one superseded;
* T3 (2025-07-10): part-time 0.8 → 1.0 from 1 June and a raise to €6,000 from 1 June →
  a 1 June row with ptf 1 but still the 1 January salary; the WIA row follows the raise.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from payroll_etl.benefits import mart, tables
from payroll_etl.benefits.parameters import ParameterRow, load_parameter_rows
from payroll_etl.benefits.schemes import load_schemes
from payroll_etl.errors import ConfigurationError
from payroll_etl.model import ENTITIES, arrow_schema
from payroll_etl.periods import period_for
from payroll_etl.warehouse import load as loader
from payroll_etl.warehouse.migrate import upgrade
from payroll_etl.warehouse.schema import warehouse_columns

EMPLOYER, CONNECTOR, EMP = "bakkerij_de_vries", "loket_rest", "emp-1"
T1 = datetime(2025, 2, 10, 2, tzinfo=UTC)
T2 = datetime(2025, 3, 10, 2, tzinfo=UTC)
T3 = datetime(2025, 7, 10, 2, tzinfo=UTC)
PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("BENEFITS_TEST_PG_PORT", "5432"))


def employment(valid_from: date, ptf: str, hours: str, valid_to: date | None = None) -> dict[str, Any]:
    return {"connector": CONNECTOR, "employer": EMPLOYER, "source_id": EMP, "valid_from": valid_from,
            "valid_to": valid_to, "employee_source_id": "p-1", "employment_number": "1",
            "start_date": date(2020, 1, 1), "hours_per_week": D(hours), "fulltime_hours_per_week": D("40"),
            "part_time_factor": D(ptf), "payroll_frequency": "month"}


def salary(source_id: str, valid_from: date, amount: str) -> dict[str, Any]:
    return {"connector": CONNECTOR, "employer": EMPLOYER, "source_id": source_id, "valid_from": valid_from,
            "employment_source_id": EMP, "gross_amount": D(amount), "frequency": "month",
            "holiday_allowance_pct": D("8"), "component": "BASIS", "is_correction": False}


def arrow(entity: str, rows: list[dict[str, Any]]) -> pa.Table:
    schema = arrow_schema(ENTITIES[entity])
    full = [{c: r.get(c) for c in schema.names} for r in rows]
    return pa.Table.from_pylist(full, schema=schema).select(warehouse_columns(ENTITIES[entity]))


def load(url: str, at: datetime, employments: list[dict], salaries: list[dict]) -> None:
    """Load as pipeline.load does: seed the benefit config in its own transaction, then the batch."""
    config_error = mart.seed_config(url, now=at)
    batch = loader.LoadBatch(
        load_run_id=f"run-{at:%Y%m%d%H%M%S}", dag_id="test", airflow_run_id=None, connector=CONNECTOR,
        employer=EMPLOYER, logical_date=at.date(), period=period_for(at.date(), "month"),
        tables={"employment": arrow("employment", employments), "salary": arrow("salary", salaries)},
        started_at=at, recorded_at=at, benefit_config_error=config_error)
    loader.load(url, batch)


def scenario(url: str) -> None:
    load(url, T1, [employment(date(2020, 1, 1), "0.8", "32")], [salary("w-0", date(2020, 1, 1), "5000")])
    load(url, T2, [employment(date(2020, 1, 1), "0.8", "32")], [salary("w-0", date(2020, 1, 1), "5100")])
    load(url, T3,
         [employment(date(2020, 1, 1), "0.8", "32", valid_to=date(2025, 5, 31)),
          employment(date(2025, 6, 1), "1", "40")],
         [salary("w-0", date(2020, 1, 1), "5100"), salary("w-1", date(2025, 6, 1), "6000")])


def basis(rows: list[dict], scheme: str, day: date) -> dict[str, Any]:
    return next(r for r in rows if r["scheme"] == scheme and r["reference_date"] == day)


def check_scenario(url: str) -> None:
    at_t1 = mart.bases_as_of(url, EMPLOYER, T1)
    at_t2 = mart.bases_as_of(url, EMPLOYER, T2)
    now = mart.bases_as_of(url, EMPLOYER)

    # T1: the worked example, plus 2024 with the 2024 franchise
    b = basis(at_t1, "pensioen_bakkers", date(2025, 1, 1))
    assert (b["ft_pensionable_salary"], b["franchise"], b["part_time_factor"], b["pensioengrondslag"]) == (
        D("64800.00"), D("18475.00"), D("0.8000"), D("37060.00"))
    assert (b["parameter_year"], b["scheme_version"], b["peildatum"]) == (2025, 1, date(2025, 1, 1))
    assert basis(at_t1, "pensioen_bakkers", date(2024, 1, 1))["pensioengrondslag"] == D("37804.00")
    w = basis(at_t1, "wia_excedent", date(2025, 1, 1))
    assert (w["wia_salary"], w["wia_threshold"], w["wia_excedent"]) == (D("51840.00"), D("75864.87"), D("0.00"))
    assert {r["reference_date"] for r in at_t1} == {date(2024, 1, 1), date(2025, 1, 1)}  # horizon: T1's year

    # T2: the retroactive correction recomputed 2024 and 2025 ...
    assert basis(at_t2, "pensioen_bakkers", date(2025, 1, 1))["pensioengrondslag"] == D("38096.80")
    assert basis(at_t2, "pensioen_bakkers", date(2024, 1, 1))["pensioengrondslag"] == D("38840.80")
    # ... and what was reported at T1 is still there, superseded at T2, never deleted
    assert mart.bases_as_of(url, EMPLOYER, T1) == at_t1
    with mart.session(url) as db:
        versions = db.query(
            "SELECT pensioengrondslag, recorded_at, superseded_at, load_run_id, superseded_by_run FROM benefit_basis "
            "WHERE scheme = 'pensioen_bakkers' AND reference_date = DATE '2025-01-01' ORDER BY recorded_at")
    assert [v[0] for v in versions] == [D("37060.00"), D("38096.80")]
    assert versions[0][2] == versions[1][1]  # superseded exactly when the correction was recorded
    assert (versions[0][4], versions[1][3]) == ("run-20250310020000", "run-20250310020000")

    # T3: part-time change applies at once (1 June row, ptf 1) but the June raise waits for 1 January
    june = basis(now, "pensioen_bakkers", date(2025, 6, 1))
    assert (june["part_time_factor"], june["peildatum"], june["ft_pensionable_salary"]) == (
        D("1.0000"), date(2025, 1, 1), D("66096.00"))
    assert june["pensioengrondslag"] == D("47621.00")  # (66,096 − 18,475) × 1
    assert basis(now, "pensioen_bakkers", date(2025, 1, 1))["pensioengrondslag"] == D("38096.80")  # unchanged
    # the WIA-excedent scheme follows changes: 6,000 × 12.96 = 77,760 > 75,864.87 → excedent 1,895.13 × 70 %
    wj = basis(now, "wia_excedent", date(2025, 6, 1))
    assert (wj["wia_salary"], wj["wia_excedent"], wj["wia_insured"]) == (D("77760.00"), D("1895.13"), D("1326.59"))
    on_july = {r["scheme"]: r for r in mart.basis_on(url, EMPLOYER, date(2025, 7, 1))}
    assert on_july["pensioen_bakkers"]["reference_date"] == date(2025, 6, 1)

    # reproducible: the mart as known at T equals a fresh computation from the history as known at T
    for at in (T1, T2, T3):
        with mart.session(url) as db:
            params, schemes = tables.read_parameters(db, at), tables.read_schemes(db, at, EMPLOYER)
            fresh, _ = mart.compute_rows(EMPLOYER, mart.read_history(db, EMPLOYER, at), schemes, params,
                                         horizon_year=at.year)
        stored = {(r["scheme"], r["reference_date"]): {c: r[c] for c in tables.BASIS_VALUE_COLUMNS}
                  for r in mart.bases_as_of(url, EMPLOYER, at)}
        assert stored == {(r.scheme, r.basis.reference_date): r.values for r in fresh}

    # idempotent: recomputing with nothing new changes nothing
    res = mart.recompute_for(url, EMPLOYER, [EMP], as_of=datetime(2025, 7, 11, tzinfo=UTC))
    assert (res.inserted, res.superseded) == (0, 0) and res.unchanged == len(now)
    # and knowledge cannot be written into the past
    with pytest.raises(Exception, match="recorded after"):
        mart.recompute_for(url, EMPLOYER, [EMP], as_of=T2)


def check_seeding(url: str) -> None:
    with mart.session(url) as db:
        again = tables.seed(db, now=datetime(2025, 8, 1, tzinfo=UTC))
    assert again["benefit_parameter"]["inserted"] == 0 and again["benefit_scheme"]["inserted"] == 0
    # a seeded scheme version is immutable: editing it in place is refused (add a version instead)
    edited = [dataclasses.replace(s, wia_cover_pct=D("75")) if s.scheme == "wia_excedent" else s
              for s in load_schemes()]
    with pytest.raises(ConfigurationError, match="add a new version"), mart.session(url) as db:
        tables.seed_schemes(db, edited)
    # a corrected parameter supersedes the preliminary one; bases as known before stay as they were
    rows = [r if (r.parameter, r.valid_from) != ("aow_franchise_min", date(2025, 1, 1)) else
            ParameterRow(r.parameter, r.valid_from, D("18500"), r.unit, r.source, "corrected")
            for r in load_parameter_rows()]
    at = datetime(2025, 9, 1, tzinfo=UTC)
    with mart.session(url) as db:
        assert tables.seed_parameters(db, rows, now=at) == {"inserted": 1, "superseded": 1,
                                                            "unchanged": len(rows) - 1}
        assert tables.read_parameters(db, T3).for_year(2025).aow_franchise_min == D("18475")
        assert tables.read_parameters(db, at).for_year(2025).aow_franchise_min == D("18500")
        mart.recompute_for(db, EMPLOYER, as_of=at)
    assert basis(mart.bases_as_of(url, EMPLOYER, at), "pensioen_bakkers", date(2025, 1, 1))[
        "pensioengrondslag"] == D("38076.80")  # (66,096 − 18,500) × 0.8
    assert basis(mart.bases_as_of(url, EMPLOYER, T3), "pensioen_bakkers", date(2025, 1, 1))[
        "pensioengrondslag"] == D("38096.80")


def run_all(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(url)
    with mart.session(url) as db:
        first = tables.seed(db, now=datetime(2024, 12, 1, tzinfo=UTC))
    assert first["benefit_scheme"]["inserted"] == 7
    monkeypatch.setattr(loader, "load", functools.partial(loader.load, post_load_steps=[mart.post_load_step]))
    scenario(url)
    check_scenario(url)
    check_seeding(url)
    check_config_error_does_not_block_load(url, monkeypatch)


def check_config_error_does_not_block_load(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An edited seeded scheme version: the payroll load still lands; the error is in load_run.rows."""
    edited = [dataclasses.replace(s, wia_cover_pct=D("75")) if s.scheme == "wia_excedent" else s
              for s in load_schemes()]
    monkeypatch.setattr(tables, "load_schemes", lambda: edited)
    t4 = datetime(2025, 10, 1, 2, tzinfo=UTC)
    load(url, t4, [employment(date(2020, 1, 1), "0.8", "32", valid_to=date(2025, 5, 31)),
                   employment(date(2025, 6, 1), "1", "40")],
         [salary("w-0", date(2020, 1, 1), "5100"), salary("w-1", date(2025, 6, 1), "6200")])
    with mart.session(url) as db:
        (rows,), = db.query("SELECT rows FROM load_run WHERE load_run_id = 'run-20251001020000'")
    report = json.loads(rows)["benefit_basis"]
    assert "add a new version" in report["config_error"] and report["inserted"] >= 1
    wia = basis(mart.bases_as_of(url, EMPLOYER, t4), "wia_excedent", date(2025, 6, 1))
    assert (wia["wia_cover_pct"], wia["wia_salary"]) == (D("70"), D("80352.00"))  # seeded config, new salary


def test_mart_on_duckdb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_all(f"duckdb:///{tmp_path / 'warehouse.duckdb'}", monkeypatch)


@pytest.fixture
def pg_url(postgres_url: str) -> str:
    """The shared fresh-database fixture (tests/conftest.py): fails under CI=true when PostgreSQL is missing."""
    return postgres_url


@pytest.mark.postgres
def test_mart_on_postgres(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    run_all(pg_url, monkeypatch)


def test_migration_matches_table_definitions(tmp_path: Path) -> None:
    import duckdb

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    upgrade(url)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    for table in (tables.benefit_parameter, tables.benefit_scheme, tables.benefit_basis):
        cols = [r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
            [table.name]).fetchall()]
        assert cols == [c.name for c in table.columns]
    con.close()
