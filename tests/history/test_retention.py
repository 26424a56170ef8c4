"""Retention purge with a fixed clock, on DuckDB and PostgreSQL.

One warehouse with a long-gone leaver (ended 2018), a recent leaver (2024), an active employee,
a leaver whose person still works at another employer, old and new quarantine/dq rows, and old
and fresh landing, staging and Data Docs (a backfill of 2025 landed yesterday among them). The
purge at 2026-11-30 removes exactly what is past retention, keeps what a backfill, a replay or
a busy employer needs, logs counts only, and a second purge removes nothing.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, date, datetime, timedelta

import pytest
from history_support import CONNECTOR, batch, employee, employment, pkey, query, salary, ts

from payroll_etl.landing import LandingWriter
from payroll_etl.quality.index import SUMMARY_FILE, write_daily_index
from payroll_etl.retention import RetentionPolicy, purge
from payroll_etl.warehouse import load as loader

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
BSN = {"E1": "111222333", "E2": "222333444", "E3": "333444555", "E4": "444555666"}
POLICY = RetentionPolicy()  # the documented defaults


def _age(path, when: datetime) -> None:
    for p in [path, *path.rglob("*")]:
        os.utime(p, (when.timestamp(), when.timestamp()))


def _dq(run_id: str, employer: str, when: datetime) -> dict:
    return {"load_run_id": run_id, "connector": CONNECTOR, "employer": employer, "entity": "employee",
            "check_name": "expect_bsn_to_pass_elfproef", "column_name": "bsn", "severity": "error",
            "success": False, "element_count": 3, "unexpected_count": 1, "unexpected_sample": "source_id: E9",
            "checked_at": when}


def _quarantine(run_id: str, employer: str, when: datetime, sid: str) -> dict:
    return {"load_run_id": run_id, "connector": CONNECTOR, "employer": employer, "entity": "employee",
            "source_id": sid, "valid_from": None, "failing_checks": "expect_bsn_to_pass_elfproef",
            "landing_ref": "landing/…", "quarantined_at": when}


def _load_acme(url: str) -> None:
    jan18, jul18, nov26 = date(2018, 1, 1), date(2018, 7, 1), date(2026, 11, 1)
    ended = {"end_date": date(2018, 6, 30), "end_reason": "ontslag"}
    first = {
        "employee": [employee("acme", "E1", jan18, BSN["E1"]), employee("acme", "E4", jan18, BSN["E4"])],
        "employment": [employment("acme", "M1", "E1", jan18, "40", "1.0000", start=date(2010, 1, 1)),
                       employment("acme", "M4", "E4", jan18, "40", "1.0000", start=date(2012, 1, 1))],
        "salary": [salary("acme", "S1", "M1", jan18, "3000"), salary("acme", "S4", "M4", jan18, "3100")],
    }
    b = batch("acme", date(2018, 1, 15), ts("2018-01-15"), first, {k: BSN[k] for k in ("E1", "E4")})
    b.quarantine = [_quarantine(b.load_run_id, "acme", ts("2024-01-15"), "E9")]
    b.dq_results = [_dq(b.load_run_id, "acme", ts("2024-01-15"))]
    loader.load(url, b)
    # July 2018: both left (end date on the same version: supersedes it), E1 moved, a wage corrected
    second = {
        "employee": [employee("acme", "E1", jul18, BSN["E1"], street="Kerkstraat"),
                     employee("acme", "E4", jan18, BSN["E4"])],
        "employment": [employment("acme", "M1", "E1", jan18, "40", "1.0000", start=date(2010, 1, 1), **ended),
                       employment("acme", "M4", "E4", jan18, "40", "1.0000", start=date(2012, 1, 1), **ended)],
        "salary": [salary("acme", "S1", "M1", jan18, "3050"), salary("acme", "S4", "M4", jan18, "3100")],
    }
    loader.load(url, batch("acme", date(2018, 7, 15), ts("2018-07-15"), second))
    # 2024: E2 joins and leaves (recent leaver); 2026: E3 active, E2's end date corrected
    loader.load(url, batch("acme", date(2024, 3, 15), ts("2024-03-15"), {
        "employee": [employee("acme", "E2", date(2024, 1, 1), BSN["E2"])],
        "employment": [employment("acme", "M2", "E2", date(2024, 1, 1), "20", "0.5000", start=date(2024, 1, 1),
                                  end_date=date(2024, 3, 31), end_reason="ontslag")]}, {"E2": BSN["E2"]}))
    b = batch("acme", nov26, ts("2026-11-15"), {
        "employee": [employee("acme", "E3", nov26, BSN["E3"])],
        "employment": [employment("acme", "M2", "E2", date(2024, 1, 1), "20", "0.5000", start=date(2024, 1, 1),
                                  end_date=date(2024, 4, 30), end_reason="ontslag"),
                       employment("acme", "M3", "E3", nov26, "32", "0.8000", start=date(2026, 11, 1))]},
        {"E3": BSN["E3"]})
    b.quarantine = [_quarantine(b.load_run_id, "acme", ts("2026-11-15"), "E8")]
    b.dq_results = [_dq(b.load_run_id, "acme", ts("2026-11-15"))]
    loader.load(url, b)
    # E4's person still works at beta (same BSN): the identity must stay
    loader.load(url, batch("beta", nov26, ts("2026-11-15"), {
        "employee": [employee("beta", "B4", nov26, BSN["E4"])],
        "employment": [employment("beta", "N4", "B4", nov26, "40", "1.0000", start=date(2026, 11, 1))]},
        {"B4": BSN["E4"]}))


def _files(tmp_path) -> dict[str, object]:
    """Landing, staging and Data Docs of several ages; returns the paths that must survive or go."""
    out = {}
    for name, employer, run_date, written in (
            ("old", "acme", date(2024, 9, 20), NOW - timedelta(days=800)),
            ("quarter", "acme", date(2026, 7, 1), NOW - timedelta(days=150)),  # past landing, within reports
            ("backfill", "acme", date(2025, 1, 1), NOW - timedelta(days=1)),  # an old period landed yesterday
            ("fresh", "acme", date(2026, 11, 29), NOW - timedelta(hours=20)),
            ("busy", "gamma", date(2024, 9, 21), NOW - timedelta(days=800))):
        writer = LandingWriter(tmp_path / "landing", CONNECTOR, employer, run_date)
        writer.write("employee", '{"bsn": "111222333"}', url="https://example/x", source_id="W1")
        writer.commit()
        landing = tmp_path / "landing" / f"connector={CONNECTOR}" / f"employer={employer}" / "entity=employee" \
            / f"run_date={run_date}"
        staging = tmp_path / "staging" / f"connector={CONNECTOR}" / f"employer={employer}" / f"run_date={run_date}"
        staging.mkdir(parents=True)
        (staging / "entity=employee.parquet").write_bytes(b"x")
        report = tmp_path / "reports" / "datadocs" / CONNECTOR / employer / str(run_date)
        report.mkdir(parents=True)
        (report / SUMMARY_FILE).write_text(json.dumps({"employer": employer, "connector": CONNECTOR}))
        write_daily_index(tmp_path / "reports", str(run_date))
        for path in (landing, staging, report):
            _age(path, written)
        out[name] = (landing, staging, report)
    return out


@pytest.mark.parametrize("policy", [POLICY], ids=["defaults"])
def test_purge_removes_exactly_what_is_past_retention(url, tmp_path, caplog, policy):
    _load_acme(url)
    files = _files(tmp_path)
    before = {t: query(url, f"SELECT count(*) FROM {t}")[0][0]
              for t in ("employee", "employment", "salary", "person_identity", "quarantine", "dq_result")}
    caplog.set_level(logging.INFO)

    counts = purge(policy, now=NOW, data_dir=tmp_path, warehouse_url=url, busy={(CONNECTOR, "gamma")})

    # files: only the old acme partition goes; the backfill landed yesterday, the fresh run and the
    # busy employer's old run stay
    assert [p.exists() for p in files["old"]] == [False, False, False]
    assert [p.exists() for p in files["quarter"]] == [False, False, True]  # landing, staging go; report stays
    for name in ("backfill", "fresh", "busy"):
        assert all(p.exists() for p in files[name]), name
    assert counts["landing_partitions"] == 2 and counts["staging_runs"] == 2 and counts["report_runs"] == 1
    reports = tmp_path / "reports"
    assert not (reports / "index-2024-09-20.html").exists() and counts["report_day_pages"] == 1
    assert (reports / "index-2024-09-21.html").exists() and "2024-09-20" not in (reports / "index.html").read_text()

    # quarantine and dq_result: the 2024 rows go, the 2026 rows stay
    assert query(url, "SELECT source_id FROM quarantine") == [("E8",)]
    assert query(url, "SELECT count(*) FROM dq_result") == [(1,)]

    # E1 and E4 left acme in 2018: their superseded versions go, their current ones stay
    for table, key in (("employee", "source_id"), ("employment", "employee_source_id")):
        assert query(url, f"SELECT count(*) FROM {table} WHERE {key} IN ('E1', 'E4') "
                          "AND superseded_at IS NOT NULL") == [(0,)], table
        assert query(url, f"SELECT count(*) FROM {table} WHERE {key} IN ('E1', 'E4') "
                          "AND superseded_at IS NULL")[0][0] > 0, table
    assert query(url, "SELECT gross_amount FROM salary WHERE source_id = 'S1'")[0][0] == pytest.approx(3050)
    # E2 left in 2024: its corrected end date keeps the superseded version (history within 7 years)
    assert query(url, "SELECT count(*) FROM employment WHERE source_id = 'M2' AND superseded_at IS NOT NULL") \
        == [(1,)]
    # identities: E1 goes (left everywhere 8 years ago); E4 stays (still at beta); E2, E3 stay
    assert sorted(r[0] for r in query(url, "SELECT person_key FROM person_identity")) == \
        sorted(pkey(BSN[k]) for k in ("E2", "E3", "E4"))
    after = {t: query(url, f"SELECT count(*) FROM {t}")[0][0] for t in before}
    assert counts["person_identity_rows"] == before["person_identity"] - after["person_identity"] == 1
    assert counts["quarantine_rows"] == 1 and counts["dq_result_rows"] == 1
    assert sum(counts["history_rows"].values()) == sum(before[t] - after[t] for t in ("employee", "employment",
                                                                                    "salary"))
    assert counts["history_rows"]["employment"] == 2 and counts["history_rows"]["salary"] == 1

    # counts only in the log: no ids, no BSN, no person keys
    text = caplog.text
    assert "retention purge" in text
    for secret in [*BSN.values(), "E1", "E4", pkey(BSN["E1"])]:
        assert secret not in text

    # idempotent: the same clock again removes nothing
    again = purge(policy, now=NOW, data_dir=tmp_path, warehouse_url=url, busy={(CONNECTOR, "gamma")})
    assert again["landing_partitions"] == again["staging_runs"] == again["report_runs"] == 0
    assert again["quarantine_rows"] == again["dq_result_rows"] == again["person_identity_rows"] == 0
    assert set(again["history_rows"].values()) == {0}

    # a year later the 2024 leaver's history is still within 7 years; the busy employer is purged once free
    later = purge(policy, now=NOW + timedelta(days=365), data_dir=tmp_path, warehouse_url=url)
    assert later["history_rows"]["employment"] == 0
    assert not files["busy"][0].exists() and later["landing_partitions"] == 3  # busy, backfill, fresh


def test_policy_from_config_refuses_bad_values():
    from payroll_etl.config import load_config
    from payroll_etl.errors import ConfigurationError

    assert RetentionPolicy.from_config(load_config().retention) == RetentionPolicy()
    assert RetentionPolicy.from_config({"landing_days": None}).landing_days is None
    for bad in ({"landing_day": 3}, {"staging_days": 0}, {"reports_days": "2y"}, {"quarantine_days": True}):
        with pytest.raises(ConfigurationError, match="retention"):
            RetentionPolicy.from_config(bad)
