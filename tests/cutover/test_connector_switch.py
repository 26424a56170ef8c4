"""Switching an employer's connector keeps one identity (issue 17), through the real connectors and pipeline.

The issue's experiment on DuckDB and PostgreSQL: schoonmaak_west runs on Loket SOAP for 2026-11-27,
its config switches to Loket REST from 2026-11-28 and the REST run for that night is the cutover
load. Both simulators serve the same world, as Loket's two interfaces serve one administration.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from cutover_support import (
    EMPLOYER,
    SOAP_NIGHT,
    SWITCH,
    SWITCH_NIGHT,
    count,
    history_config,
    q,
    run,
)
from e2e_support import running_simulators

from payroll_simulators.world import WageVersion, build_world, stable_id

pytestmark = pytest.mark.slow
WHERE = f"employer = '{EMPLOYER}'"


@pytest.fixture(params=["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    return request.getfixturevalue("postgres_url")


def current(url: str) -> dict[str, list[tuple]]:
    """Per connector: current employees, employments, benefit bases."""
    return {name: sorted(q(url, f"SELECT connector, count(*) FROM {rel} WHERE {WHERE} {extra} GROUP BY connector"))
            for name, rel, extra in (("employee", "employee_current", ""), ("employment", "employment_current", ""),
                                     ("benefit_basis", "benefit_basis", "AND superseded_at IS NULL"))}


def test_switch_keeps_one_identity(url, tmp_path):
    cfgs = history_config(tmp_path, SWITCH)
    with running_simulators() as sims:
        run(cfgs["loket_soap"], sims["loket_soap"].url, url, tmp_path / "d", SOAP_NIGHT)
        soap_known_at = q(url, f"SELECT max(recorded_at) FROM employee WHERE {WHERE}")[0][0]
        assert current(url) == {"employee": [("loket_soap", 35)], "employment": [("loket_soap", 35)],
                                "benefit_basis": [("loket_soap", 108)]}
        soap_bases = q(url, f"SELECT employment_source_id, scheme, reference_date, CAST(pensioengrondslag AS VARCHAR) "
                            f"FROM benefit_basis WHERE {WHERE} AND superseded_at IS NULL ORDER BY 1, 2, 3")
        switch = run(cfgs["loket_rest"], sims["loket_rest"].url, url, tmp_path / "d", SWITCH_NIGHT)
        # a replay of the old connector's last night after the switch is a past view: it reopens nothing
        replay = run(cfgs["loket_soap"], sims["loket_soap"].url, url, tmp_path / "d", SOAP_NIGHT)

    assert replay["load"]["view"] == "past"
    # one identity: 35 employees, 35 employments, 108 benefit bases, all from the new connector
    assert current(url) == {"employee": [("loket_rest", 35)], "employment": [("loket_rest", 35)],
                            "benefit_basis": [("loket_rest", 108)]}
    rest_bases = q(url, f"SELECT employment_source_id, scheme, reference_date, CAST(pensioengrondslag AS VARCHAR) "
                        f"FROM benefit_basis WHERE {WHERE} AND superseded_at IS NULL ORDER BY 1, 2, 3")
    # same world, same bases, past reference dates included (the SOAP wage and hours history REST cannot
    # state is carried over) ...
    differing = {a[0] for a, b in zip(soap_bases, rest_bases, strict=True) if a != b}
    # ... except where REST states no hours at all: it gives none for an ended employment (API capability,
    # named in the shadow report); those bases say so instead of repeating the SOAP hours
    no_hours = {r[0] for r in q(url, f"SELECT source_id FROM employment_current WHERE {WHERE} "
                                     "AND hours_per_week IS NULL AND end_date IS NOT NULL")}
    assert differing == no_hours and len(no_hours) == 3
    assert switch["load"]["cutover"]["carried"] == {"employment": 7, "salary": 40}
    assert count(url, f"SELECT count(*) FROM mutation WHERE {WHERE}") == 0  # the switch itself is no mutation
    cut = switch["load"]["cutover"]
    assert cut["from"] == ["loket_soap"]
    assert cut["persons"] == {"matched": 35, "new": 0, "ambiguous": 0, "unmatched_old": 0}
    assert cut["employments"]["matched"] == 35 and cut["employments"]["ambiguous"] == 0
    # the SOAP facts are closed in transaction time by the cutover run, not deleted ...
    run_id = q(url, f"SELECT load_run_id FROM load_run WHERE {WHERE} AND connector = 'loket_rest'")[0][0]
    assert q(url, f"SELECT count(*), min(superseded_by_run), max(superseded_by_run) FROM employee "
                  f"WHERE {WHERE} AND connector = 'loket_soap'") == [(35, run_id, run_id)]
    # ... so "as known the night before" still answers what we believed then: 35 SOAP employees and bases
    known = f"recorded_at <= CAST('{soap_known_at.isoformat()}' AS TIMESTAMPTZ) AND (superseded_at IS NULL " \
            f"OR superseded_at > CAST('{soap_known_at.isoformat()}' AS TIMESTAMPTZ))"
    assert q(url, f"SELECT connector, count(DISTINCT source_id) FROM employee WHERE {WHERE} AND {known} "
                  "GROUP BY connector") == [("loket_soap", 35)]
    assert q(url, f"SELECT connector, count(*) FROM benefit_basis WHERE {WHERE} AND {known} "
                  "GROUP BY connector") == [("loket_soap", 108)]
    # the crosswalk keeps both connectors' own ids per identity, for lineage back to each landing
    assert sorted(q(url, f"SELECT entity, connector, match_rule, count(*) FROM identity_crosswalk WHERE {WHERE} "
                         "GROUP BY entity, connector, match_rule")) == [
        ("employee", "loket_rest", "person_key", 35), ("employee", "loket_soap", "own", 35),
        ("employment", "loket_rest", "ikv", 35), ("employment", "loket_soap", "own", 35)]
    assert count(url, f"SELECT count(DISTINCT identity_id) FROM identity_crosswalk WHERE {WHERE} "
                      "AND entity = 'employment'") == 35
    # pay-period facts: the periods REST states are REST's, none counted twice
    assert count(url, f"SELECT count(*) FROM (SELECT period_id, employment_source_id, run_id, component "
                      f"FROM payroll_result WHERE {WHERE} AND superseded_at IS NULL "
                      "GROUP BY period_id, employment_source_id, run_id, component HAVING count(*) > 1) d") == 0


def switch_night_world():
    """The demo world plus, on the switch night, a raise for one employee and a leaver."""
    world = build_world()
    wg = world.werkgevers[stable_id("werkgever", EMPLOYER)]
    active = [e for e in wg.employments if e.end is None and len(e.hours) == 1]
    raised, leaver = active[0], active[1]
    new_amount = (raised.wages[-1].gross_amount * Decimal("1.05")).quantize(Decimal("0.01"))
    raised.wages.append(WageVersion(stable_id("wage", raised.id, "switch"), SWITCH_NIGHT, new_amount))
    leaver.end, leaver.end_reason = SWITCH_NIGHT + timedelta(days=2), "ontslag werknemer"
    return world, raised, leaver, new_amount


def test_a_raise_and_a_leaver_on_the_switch_night_are_reported_once(url, tmp_path):
    cfgs = history_config(tmp_path, SWITCH)
    world = build_world()
    changed, raised, leaver, new_amount = switch_night_world()
    with running_simulators(world) as before, running_simulators(changed) as after:
        run(cfgs["loket_soap"], before["loket_soap"].url, url, tmp_path / "d", SOAP_NIGHT)
        run(cfgs["loket_rest"], after["loket_rest"].url, url, tmp_path / "d", SWITCH_NIGHT)
        run(cfgs["loket_rest"], after["loket_rest"].url, url, tmp_path / "d", SWITCH_NIGHT)  # a re-run adds nothing
        run(cfgs["loket_rest"], after["loket_rest"].url, url, tmp_path / "d", SWITCH_NIGHT + timedelta(days=1))

    feed = q(url, f"SELECT mutation_type, connector, employment_source_id, ingangsdatum, new_values FROM mutation "
                  f"WHERE {WHERE} ORDER BY mutation_type")
    assert [(t, c, e, d) for t, c, e, d, _ in feed] == [
        ("SALARIS", "loket_rest", raised.id, SWITCH_NIGHT),
        ("UIT_DIENST", "loket_rest", leaver.id, SWITCH_NIGHT + timedelta(days=2))]
    assert f'"gross_amount":"{new_amount}' in feed[0][4]
    assert count(url, "SELECT count(*) FROM employment_current WHERE end_date IS NULL AND " + WHERE) == \
        count(url, f"SELECT count(*) FROM employment WHERE {WHERE} AND connector = 'loket_soap' "
                   "AND end_date IS NULL AND valid_to IS NULL") - 1
    assert current(url)["employee"] == [("loket_rest", 35)]


def test_switching_back_works_the_same_way(tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    back = [*SWITCH, {"connector": "loket_soap", "conn_id": "payroll_loket_soap_schoonmaak_west",
                      "from": SWITCH_NIGHT + timedelta(days=1)}]
    cfgs = history_config(tmp_path, back, today=SWITCH_NIGHT + timedelta(days=1))
    with running_simulators() as sims:
        run(cfgs["loket_soap"], sims["loket_soap"].url, url, tmp_path / "d", SOAP_NIGHT)
        run(cfgs["loket_rest"], sims["loket_rest"].url, url, tmp_path / "d", SWITCH_NIGHT)
        back_load = run(cfgs["loket_soap"], sims["loket_soap"].url, url, tmp_path / "d",
                        SWITCH_NIGHT + timedelta(days=1))
    assert back_load["load"]["cutover"]["from"] == ["loket_rest"]
    assert back_load["load"]["cutover"]["employments"]["matched"] == 35
    assert current(url) == {"employee": [("loket_soap", 35)], "employment": [("loket_soap", 35)],
                            "benefit_basis": [("loket_soap", 108)]}
    assert count(url, f"SELECT count(*) FROM mutation WHERE {WHERE}") == 0
    # the identities stay the ones of the first spell: the SOAP ids were registered at the first cutover
    assert count(url, f"SELECT count(DISTINCT identity_id) FROM identity_crosswalk WHERE {WHERE} "
                      "AND entity = 'employment'") == 35


def test_an_ambiguous_match_is_quarantined_and_reported_never_guessed(tmp_path):
    """One person's BSN is missing in Loket REST: that person cannot be told apart, so it is not loaded."""
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    cfgs = history_config(tmp_path, SWITCH)
    world = build_world()
    wg = world.werkgevers[stable_id("werkgever", EMPLOYER)]
    job = next(e for e in wg.employments if e.end is None)
    next(p for p in wg.persons if p.id == job.person_id).bsn = ""
    with running_simulators() as before, running_simulators(world) as after:
        run(cfgs["loket_soap"], before["loket_soap"].url, url, tmp_path / "d", SOAP_NIGHT)
        switch = run(cfgs["loket_rest"], after["loket_rest"].url, url, tmp_path / "d", SWITCH_NIGHT)

    load = switch["load"]
    assert load["status"] == "partial"
    assert load["cutover"]["persons"] == {"matched": 34, "new": 0, "ambiguous": 1, "unmatched_old": 1}
    assert load["cutover"]["employments"]["ambiguous"] == 1
    quarantined = dict(((e, c), n) for e, c, n in q(url, "SELECT entity, failing_checks, count(*) FROM quarantine "
                                                        f"WHERE {WHERE} GROUP BY entity, failing_checks"))
    assert quarantined[("employee", "identity_ambiguous: BSN missing on the new side")] == 1
    assert quarantined[("employment", "identity_ambiguous: its person is ambiguous")] == 1
    assert q(url, f"SELECT DISTINCT source_id FROM quarantine WHERE {WHERE} AND entity = 'employment'") == [(job.id,)]
    # not guessed: no REST row for them, no IN_DIENST for a "new" employment, the other 34 switched
    assert count(url, f"SELECT count(*) FROM employment WHERE {WHERE} AND connector = 'loket_rest' "
                      f"AND source_id = '{job.id}'") == 0
    assert count(url, f"SELECT count(*) FROM mutation WHERE {WHERE}") == 0
    assert current(url)["employment"] == [("loket_rest", 34)]
