"""Small simulator worlds for the pay-calendar and salary-basis tests (issue 15), built in Python.

Each test builds a one-employee world, serves it with the real simulator (Loket REST or Nmbrs SOAP) on a
free port and runs the whole pipeline (extract, normalize, validate, load incl. the benefit mart) on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import SourceCredentials
from payroll_etl.pipeline import RunContext, run_all
from payroll_simulators.server import serve_in_thread
from payroll_simulators.world import (
    REFERENCE_TODAY,
    HoursVersion,
    PayrollResultLine,
    PayrollRun,
    WageVersion,
    Werkgever,
    WerkgeverSpec,
    World,
    _build_runs,
    build_world,
    stable_id,
)

# Werkgever keys the simulators' demo users can see: Loket's demo user sees tenant 1
# (bakkerij_de_vries, techniek_noord), the Nmbrs demo user transport_oost and schoonmaak_west.
LOKET_KEY, NMBRS_KEY = "bakkerij_de_vries", "transport_oost"
# The employer key decides the benefit scheme: bakkerij_de_vries has a middelloon scheme with the legal
# minimum franchise (2026: 19,172.00), 8 % holiday allowance, peildatum 1 January.
SCHEME_EMPLOYER, SCHEME = "bakkerij_de_vries", "pensioen_bakkers"


def small_world(key: str, name: str, *, frequency: str = "month", calendar: str = "period13",
                basis: str = "actual", amount: str = "2400.00", hours: str = "24", fulltime: str = "40",
                today: date = REFERENCE_TODAY) -> World:
    """One werkgever, one employee employed since 2024, a wage on ``basis`` and approved runs up to ``today``."""
    world = build_world(specs=(WerkgeverSpec(key, name, 1, frequency),), years=(2025, 2026), today=today)
    wg = werkgever(world)
    wg.calendar = calendar
    emp = wg.employments[0]
    emp.start, emp.end, emp.end_reason = date(2024, 1, 1), None, None
    emp.fulltime_hours = Decimal(fulltime)
    emp.hours = [HoursVersion(stable_id("hours", emp.id, 0), emp.start, Decimal(hours))]
    emp.wages = [WageVersion(stable_id("wage", emp.id, 0), emp.start, Decimal(amount), basis)]
    world.runs.clear()
    world.results.clear()
    _build_runs(world, wg, (2025, 2026), today)
    return world


def werkgever(world: World) -> Werkgever:
    return next(iter(world.werkgevers.values()))


def add_correction_run(world: World, year: int, first: int, last: int, amount: str) -> PayrollRun:
    """An approved correction run covering periods ``first``..``last`` with one line per period."""
    wg = werkgever(world)
    run = PayrollRun(stable_id("correction", wg.id, year, first, last), wg.id, year, first, 2,
                     approved_on=date(year, 4, 10), period_end=last)
    world.runs.append(run)
    for period in range(first, last + 1):
        world.results.append(PayrollResultLine(run.id, wg.employments[0].id, year, period, "BRUTO_LOON",
                                               Decimal(amount)))
    return run


@dataclass
class Source:
    connector: str
    url: str
    app: Any

    def credentials(self) -> SourceCredentials:
        if self.connector == "loket_rest":
            return SourceCredentials(self.url, "demo@example.nl", "demo",
                                     {"client_id": "benefits-etl-demo", "client_secret": "demo-secret"})
        from payroll_simulators.nmbrs.app import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME

        return SourceCredentials(self.url, DEMO_USERNAME, DEMO_TOKEN, {"domain": DEMO_DOMAIN})

    def employer(self, world: World, **settings: Any) -> EmployerConfig:
        wg = werkgever(world)
        source_id = wg.id if self.connector == "loket_rest" else wg.name
        return EmployerConfig(SCHEME_EMPLOYER, "Calendar test", self.connector, (source_id,),
                              f"payroll_{self.connector}_test", **settings)


@contextmanager
def serving(connector: str, world: World, today: date = REFERENCE_TODAY) -> Iterator[Source]:
    """The real simulator of ``connector`` serving ``world`` on a free port, its clock at ``today``."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    if connector == "loket_rest":
        from payroll_simulators.loket_rest import create_app

        app = create_app(world, today=today)
    else:
        from payroll_simulators.nmbrs.app import create_app

        app = create_app(world)
        app.simulator.today = today
    server = serve_in_thread(f"{connector}-calendars", app)
    try:
        yield Source(connector, server.url, app)
    finally:
        server.stop()


def run(source: Source, cfg: EmployerConfig, day: date, tmp_path: Path, url: str, *, today: date | None = None,
        backfill: bool | None = None) -> dict[str, Any]:
    """One employer run through every pipeline step, as the DAG runs it."""
    ctx = RunContext(cfg, day, data_dir=tmp_path / "data", warehouse_url=url, today=today or day, backfill=backfill)
    return run_all(ctx, source.credentials())


def query(url: str, sql: str) -> list[tuple]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        return db.query(sql)
    finally:
        db.close()
