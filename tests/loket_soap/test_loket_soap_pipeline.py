"""The demo employer on Loket SOAP through the whole pipeline (extract, normalize, validate, load)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from loket_soap_support import LOGICAL, WG, Sim, credentials, employer_config

from payroll_etl.pipeline import RunContext, run_all

pytestmark = pytest.mark.postgres


def test_demo_employer_loads_and_the_next_quiet_night_only_checks_versions(sim: Sim, postgres_url: str, tmp_path):
    cfg = employer_config()
    first = run_all(RunContext(cfg, LOGICAL, data_dir=tmp_path, warehouse_url=postgres_url, today=LOGICAL),
                    credentials(sim.url))
    assert first["load"]["status"] == "success", first
    assert first["normalize"]["rows"]["employee"] == len(sim.world.werkgevers[WG].persons)
    assert first["normalize"]["issues"] == 0

    sim.reset_calls()
    night = LOGICAL + timedelta(days=1)
    second = run_all(RunContext(cfg, night, data_dir=tmp_path, warehouse_url=postgres_url, today=night),
                     credentials(sim.url))
    assert set(sim.calls()) <= {"GetUserToken", "ListVersion", "SelectVersion"}
    assert second["extract"]["scope"] == {}
    assert second["load"]["status"] == "success", second
