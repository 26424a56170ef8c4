"""Backfills are past views: they add the past periods' facts and never rewrite the present.

The issue-13 experiment through the real connectors and the whole pipeline, on DuckDB and
PostgreSQL, in both orders: a nightly, then a backfill of three past monthly periods (and the next
nightly); and the backfill first, then the nightly. In every order the current rows, the current
benefit bases and the mutation feed equal a nightly-only warehouse; the past periods' pay periods
and payroll results are loaded.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import yaml
from e2e_support import ROOT, running_simulators

from payroll_etl.config import load_config
from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.pipeline import RunContext, run_all
from payroll_etl.warehouse.load import connect

pytestmark = pytest.mark.slow

NIGHT = date(2026, 11, 27)
BACKFILL = [date(2025, 1, 1), date(2025, 2, 1), date(2025, 3, 1)]
EMPLOYERS = {"transport_oost": ("nmbrs", ["202501", "202502", "202503"]),
             # Loket REST states only the current wage versions: a backfill adds older ones
             "bakkerij_de_vries": ("loket_rest", ["202501", "202502", "202503"]),
             "schoonmaak_west": ("loket_soap", ["202501", "202502", "202503", "202504"])}
CURRENT = {
    "employee_current": "source_id, person_key, employee_number, last_name, postcode, valid_from, valid_to",
    "employment_current": "source_id, start_date, end_date, hours_per_week, part_time_factor, valid_from, valid_to",
    "salary_current": "source_id, gross_amount, frequency, valid_from, valid_to",
    "employer_current": "source_id, name, payroll_frequency, valid_from",
}


def employer_config(employer: str):
    return next(e for e in load_config().employers if e.employer == employer)


def credentials(servers, employer: str) -> SourceCredentials:
    cfg = employer_config(employer)
    spec = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())[cfg.conn_id]
    return SourceCredentials(host=servers[cfg.connector].url, login=spec.get("login"),
                             password=str(spec.get("password")), extra=dict(spec.get("extra") or {}))


def run(servers, url, data_dir, employer: str, logical: date) -> dict:
    cfg = employer_config(employer)
    ctx = RunContext(cfg, logical, data_dir=data_dir, warehouse_url=url, today=NIGHT)
    return run_all(ctx, credentials(servers, employer))


def q(url: str, sql: str) -> list[tuple]:
    db = connect(url)
    try:
        return db.query(sql)
    finally:
        db.close()


def current_state(url: str, employer: str, bases_from: date | None = None) -> dict[str, list[tuple]]:
    """What the benefits platform reads now: current views, current benefit bases (with a peildatum from
    ``bases_from`` on, when given), the mutation feed."""
    where = f"employer = '{employer}'"
    state = {view: sorted(q(url, f"SELECT {cols} FROM {view} WHERE {where}"), key=repr)
             for view, cols in CURRENT.items()}
    state["benefit_basis"] = sorted(q(url, "SELECT employment_source_id, scheme, peildatum, "
                                           "CAST(pensioengrondslag AS VARCHAR) FROM benefit_basis "
                                           f"WHERE {where} AND superseded_at IS NULL"
                                           + (f" AND peildatum >= DATE '{bases_from}'" if bases_from else "")),
                                   key=repr)
    state["mutation"] = sorted(q(url, f"SELECT mutation_type, mutation_key, ingangsdatum FROM mutation WHERE {where}"),
                               key=repr)
    return state


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def warehouses(request, tmp_path):
    """A factory of fresh, empty warehouses on the engine under test (DuckDB files or PostgreSQL databases)."""
    if request.param == "duckdb":
        yield lambda name: f"duckdb:///{tmp_path / name}.duckdb"
        return
    import uuid

    from pg_support import PG_HOST, PG_PORT, _pg_admin, require_postgres

    require_postgres()
    made: list[str] = []

    def make(name: str) -> str:
        db = f"payroll_test_{uuid.uuid4().hex[:10]}"
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        made.append(db)
        return f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{db}"

    yield make
    with _pg_admin() as conn:
        for db in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


@pytest.mark.parametrize("employer", sorted(EMPLOYERS))
def test_backfill_after_the_nightly_keeps_the_present(warehouses, tmp_path, employer):
    _, periods = EMPLOYERS[employer]
    url = warehouses("after")
    with running_simulators() as servers:
        run(servers, url, tmp_path / "d", employer, NIGHT)
        before = current_state(url, employer)
        assert before["employment_current"] and before["benefit_basis"]
        results = [run(servers, url, tmp_path / "d", employer, day) for day in BACKFILL]
        after_backfill = current_state(url, employer)
        nightly = run(servers, url, tmp_path / "d", employer, date(2026, 11, 28))

    assert [r["load"]["view"] for r in results] == ["past"] * 3
    assert after_backfill == before  # every current row and benefit basis identical; no mutation
    # the next nightly flips nothing back: current rows, the feed and every basis in force after the
    # backfilled periods are as before (bases of the backfilled periods may gain their value)
    after_periods = RunContext(employer_config(employer), BACKFILL[-1]).period.end + timedelta(days=1)
    assert current_state(url, employer, after_periods) == {
        k: [r for r in v if k != "benefit_basis" or (r[2] is not None and r[2] >= after_periods)]
        for k, v in before.items()}
    assert nightly["load"]["view"] == "current"
    assert q(url, f"SELECT count(*) FROM mutation WHERE employer = '{employer}'") == [(0,)]
    runs = q(url, f"SELECT logical_date, period_id, view, status FROM load_run WHERE employer = '{employer}' "
                  "ORDER BY logical_date")
    def period(day: date) -> str:
        return RunContext(employer_config(employer), day).period.id

    assert [(str(d), p, v) for d, p, v, _ in runs] == [
        *((str(day), period(day), "past") for day in BACKFILL),
        ("2026-11-27", period(NIGHT), "current"), ("2026-11-28", period(date(2026, 11, 28)), "current")]
    # the past periods' facts are in: their pay periods (item 6) and payroll results
    loaded_periods = {p for (p,) in q(url, "SELECT DISTINCT CAST(year * 100 + period_number AS VARCHAR) "
                                           f"FROM payroll_period WHERE employer = '{employer}'")}
    result_periods = {p for (p,) in q(url, "SELECT DISTINCT period_id FROM payroll_result "
                                           f"WHERE employer = '{employer}'")}
    assert set(periods[:3]) <= result_periods
    assert result_periods <= loaded_periods, "every period with results has its payroll_period row"


@pytest.mark.parametrize("employer", ["transport_oost"])
def test_backfill_before_the_nightly_gives_the_same_present(warehouses, tmp_path, employer):
    only, both = warehouses("only"), warehouses("both")
    with running_simulators() as servers:
        run(servers, only, tmp_path / "d1", employer, NIGHT)
        for day in BACKFILL:
            run(servers, both, tmp_path / "d2", employer, day)
        # a past view alone creates no state record: the first current view is the baseline
        assert q(both, f"SELECT count(*) FROM employment WHERE employer = '{employer}'") == [(0,)]
        run(servers, both, tmp_path / "d2", employer, NIGHT)
    assert current_state(both, employer) == current_state(only, employer)
    assert q(both, f"SELECT count(*) FROM payroll_result WHERE employer = '{employer}' "
                   "AND period_id IN ('202501', '202502', '202503')")[0][0] > 0
