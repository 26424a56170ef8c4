"""A scheduled full refresh ends what Loket SOAP deleted; incremental nights cannot see it.

Loket SOAP incremental runs compare ListVersion/SelectVersion: a deleted person leaves no version
behind, so night 2 (incremental) keeps it current. ``full_refresh_every: 7`` makes the run a week
after the last full extract a full refresh; it ends the deleted person and employment in the
warehouse (history kept), reports them, emits no mutation, and the nights after are incremental
again. The fixed clock is the RunContext's ``today`` and logical date.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from loket_soap_support import LOGICAL, WG, Sim, credentials, employer_config
from warehouse_support import query as _query

from payroll_etl.pipeline import RunContext, run_all


def _night(sim: Sim, cfg, day, url, tmp_path) -> dict:
    out = run_all(RunContext(cfg, day, data_dir=tmp_path, warehouse_url=url, today=day), credentials(sim.url))
    assert out["load"]["status"] in ("success", "partial"), out
    return out


def test_a_person_deleted_in_loket_ends_at_the_scheduled_full_refresh(sim: Sim, warehouse: str, tmp_path):
    cfg = replace(employer_config(), full_refresh_every=7)
    url = warehouse
    wg = sim.world.werkgevers[WG]
    person = next(p for p in wg.persons if any(e.person_id == p.id and e.end is None for e in wg.employments))
    employments = sorted(e.id for e in wg.employments if e.person_id == person.id)

    first = _night(sim, cfg, LOGICAL, url, tmp_path)
    assert first["extract"]["full_refresh"] is False  # a first run is complete by nature: it is the anchor
    (state,), = _query(url, "SELECT state FROM source_state")
    assert json.loads(state)["last_full_refresh"] == LOGICAL.isoformat()

    assert sim.app.delete(person.id) == 1 + len(employments)

    # night 2 (incremental): versions unchanged, the deleted person stays current
    second = _night(sim, cfg, LOGICAL + timedelta(days=1), url, tmp_path)
    assert second["extract"]["full_refresh"] is False and second["extract"]["scope"] == {}
    assert _query(url, f"SELECT count(*) FROM employee_current WHERE source_id = '{person.id}'") == [(1,)]

    # night 8: a week after the anchor, the scheduled full refresh
    refresh_day = LOGICAL + timedelta(days=7)
    eighth = _night(sim, cfg, refresh_day, url, tmp_path)
    assert eighth["extract"]["full_refresh"] is True
    assert eighth["extract"]["scope"]["employee"] == "full"
    assert _query(url, f"SELECT count(*) FROM employee_current WHERE source_id = '{person.id}'") == [(0,)]
    ids = ", ".join(f"'{e}'" for e in employments)
    assert _query(url, f"SELECT count(*) FROM employment_current WHERE source_id IN ({ids})") == [(0,)]
    # everyone else is still current
    assert _query(url, "SELECT count(*) FROM employee_current") == [(len(wg.persons),)]
    # history kept: ended by the refresh's own load, no successor version
    run_id = RunContext(cfg, refresh_day).load_run_id
    assert _query(url, f"SELECT DISTINCT superseded_by_run FROM employee WHERE source_id = '{person.id}'") \
        == [(run_id,)]
    # reported: counts in load_run, the ids in the completeness warning; no UIT_DIENST (not an exit)
    (rows,), = _query(url, f"SELECT rows FROM load_run WHERE load_run_id = '{run_id}'")
    loaded = json.loads(rows)["loaded"]
    assert loaded["employee"]["ended_at_source"] == 1
    assert loaded["employment"]["ended_at_source"] == len(employments)
    samples = _query(url, "SELECT entity, unexpected_sample FROM dq_result WHERE check_name = "
                          f"'expect_previous_records_to_be_present' AND load_run_id = '{run_id}' AND NOT success")
    assert {e for e, s in samples if person.id in (s or "")} == {"employee"}
    assert _query(url, f"SELECT count(*) FROM mutation WHERE employee_source_id = '{person.id}'") == [(0,)]

    # night 9: incremental again; the re-run of night 8 changes nothing and ends nothing twice
    ninth = _night(sim, cfg, refresh_day + timedelta(days=1), url, tmp_path)
    assert ninth["extract"]["full_refresh"] is False
    before = _query(url, "SELECT count(*), count(superseded_at) FROM employee")
    rerun = _night(sim, cfg, refresh_day, url, tmp_path)
    assert rerun["extract"]["full_refresh"] is False  # a re-run of an older date is never due
    assert _query(url, "SELECT count(*), count(superseded_at) FROM employee") == before
