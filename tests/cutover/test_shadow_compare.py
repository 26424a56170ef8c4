"""Shadow runs: Loket REST beside Loket SOAP, publishing nothing, and the go/no-go comparison report."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from cutover_support import EMPLOYER, SHADOW, SOAP_NIGHT, count, history_config, run
from e2e_support import running_simulators

from payroll_etl.identity import mask_id
from payroll_simulators.world import build_world, stable_id

pytestmark = pytest.mark.slow


def test_shadow_run_reports_an_injected_difference_and_publishes_nothing(tmp_path, monkeypatch, capsys):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    cfgs = history_config(tmp_path, SHADOW, today=SOAP_NIGHT)
    same, changed = build_world(), build_world()
    wg = changed.werkgevers[stable_id("werkgever", EMPLOYER)]
    target = next(e for e in wg.employments if e.end is None)
    target.wages[-1].gross_amount += Decimal("100.00")  # one salary changed, in the REST simulator only
    with running_simulators(same) as published, running_simulators(changed) as shadow, \
            running_simulators(same) as identical:
        run(cfgs["loket_soap"], published["loket_soap"].url, url, tmp_path / "d", SOAP_NIGHT)
        before = {t: count(url, f"SELECT count(*) FROM {t}") for t in
                  ("employee", "employment", "salary", "benefit_basis", "mutation", "load_run", "quarantine")}
        clean = run(cfgs["loket_rest"], identical["loket_rest"].url, url, tmp_path / "clean", SOAP_NIGHT)
        result = run(cfgs["loket_rest"], shadow["loket_rest"].url, url, tmp_path / "d", SOAP_NIGHT)

    # the warehouse does not know the shadow ran
    assert {t: count(url, f"SELECT count(*) FROM {t}") for t in before} == before
    assert count(url, "SELECT count(*) FROM load_run WHERE connector = 'loket_rest'") == 0
    # the same world through both interfaces: GO, with what REST cannot deliver named as API capability
    assert clean["load"]["status"] == "shadow" and clean["load"]["verdict"] == "GO", clean["load"]["reasons"]
    load = result["load"]
    assert (load["status"], load["verdict"], load["reasons"]) == ("shadow", "NO-GO", ["salary: 1 field difference(s)"])
    report = json.loads((tmp_path / "d" / "reports" / "connector_compare" / f"employer={EMPLOYER}"
                         / f"{SOAP_NIGHT.isoformat()}_loket_rest.json").read_text())
    assert report["identities"]["persons"] == {"matched": 35, "new": 0, "ambiguous": 0, "unmatched_old": 0}
    assert report["identities"]["employments"]["matched"] == 35
    assert report["differences"] == {"salary": {"count": 1, "examples": [
        f"employment {mask_id(target.id)} BASIS: gross_amount differs by +100.00"]}}
    capability = report["api_capability"]
    assert capability["history depth"]["count"] > 0 and capability["not stated by the new connector"]["count"] > 0
    assert report["rows"]["salary"]["published"] > report["rows"]["salary"]["new"]  # REST: current wages only
    markdown = (tmp_path / "d" / "reports" / "connector_compare" / f"employer={EMPLOYER}"
                / f"{SOAP_NIGHT.isoformat()}_loket_rest.md").read_text()
    assert "**Verdict: NO-GO**" in markdown and "API capability (expected, do not block)" in markdown
    persons = [p for w in same.werkgevers.values() for p in w.persons]
    for text in (markdown, json.dumps(report)):
        leaked = [p for p in persons if p.bsn in text or p.iban in text or p.birth_date.isoformat() in text
                  or p.last_name in text]
        assert not leaked, "the report must not contain a BSN, IBAN, birth date or name"
        assert target.id not in text  # ids are masked

    # make compare-connectors EMPLOYER=schoonmaak_west: the same report from the command line
    from payroll_etl.compare import main

    monkeypatch.setenv("PAYROLL_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("PAYROLL_WAREHOUSE_URL", url)
    monkeypatch.setenv("PAYROLL_EMPLOYERS_FILE", str(tmp_path / "employers.yaml"))
    assert main([EMPLOYER]) == 1  # NO-GO exits non-zero
    out = capsys.readouterr().out
    assert "**Verdict: NO-GO**" in out and "gross_amount differs by +100.00" in out
    assert main(["bakkerij_de_vries"]) == 2 and "no shadow connector" in capsys.readouterr().err
