"""An empty first extract is not a success (issue 15 §4): the pipeline against the onboarding scenario."""

from __future__ import annotations

import json

import pytest
from onboarding_support import (
    ACME_WERKGEVER,
    FILTER_WERKGEVER,
    NIGHT,
    loket_rest_credentials,
    loket_soap_credentials,
    nmbrs_credentials,
    nmbrs_employer,
)

from payroll_etl.config import EmployerConfig
from payroll_etl.errors import DataQualityError
from payroll_etl.pipeline import RunContext, run_all
from payroll_etl.warehouse.load import connect, lit

pytestmark = pytest.mark.postgres


def _run(employer: EmployerConfig, credentials, postgres_url: str, tmp_path) -> dict:
    ctx = RunContext(employer, NIGHT, data_dir=tmp_path, warehouse_url=postgres_url, today=NIGHT)
    return run_all(ctx, credentials)


def _load_runs(url: str, employer: str) -> list[tuple]:
    db = connect(url)
    try:
        return db.query(f"SELECT connector, status, message, rows FROM load_run WHERE employer = {lit(employer)} "
                        f"ORDER BY started_at")
    finally:
        db.close()


def _dq(url: str, employer: str, check: str) -> list[tuple]:
    db = connect(url)
    try:
        return db.query(f"SELECT success, severity, element_count, unexpected_sample FROM dq_result "
                        f"WHERE employer = {lit(employer)} AND check_name = {lit(check)}")
    finally:
        db.close()


def _count(url: str, table: str, employer: str) -> int:
    db = connect(url)
    try:
        return int(db.query(f"SELECT COUNT(*) FROM {table} WHERE employer = {lit(employer)}")[0][0])
    finally:
        db.close()


def test_a_loket_user_whose_filter_hides_every_employment_fails_the_first_run(sims, postgres_url, tmp_path):
    employer = EmployerConfig("filter_bv", "Filter B.V.", "loket_rest", (FILTER_WERKGEVER,), "payroll_filter_bv")
    with pytest.raises(DataQualityError) as err:
        _run(employer, loket_rest_credentials(sims["loket_rest"].url), postgres_url, tmp_path)
    message = str(err.value)
    assert (f"employment: expect_first_extract_to_have_employees failed: the first loket_rest extract of filter_bv "
            f"(source ids {FILTER_WERKGEVER}) returned no employees; likely causes: a wrong Werkgever id") in message
    assert "the filter settings of the koppeling's Loket user for this werkgever hide every employment" in message
    (connector, status, stored, rows), = _load_runs(postgres_url, "filter_bv")
    assert (connector, status) == ("loket_rest", "failed")
    assert stored.startswith("employment: expect_first_extract_to_have_employees failed: the first loket_rest")
    assert json.loads(rows)["received"].get("employee", 0) == 0
    (success, severity, count, sample), = _dq(postgres_url, "filter_bv", "expect_first_extract_to_have_employees")
    assert (success, severity, count) == (False, "error", 0) and "likely causes" in sample
    assert _count(postgres_url, "employer", "filter_bv") == 0  # nothing loaded, not even the employer row


def test_a_wrong_nmbrs_company_without_staff_fails_the_first_run_with_its_causes(sims, postgres_url, tmp_path):
    with pytest.raises(DataQualityError, match=r"the first nmbrs extract of lege_bv \(source ids Lege B\.V\.\) "
                                               r"returned no employees; likely causes: a wrong company in source_ids"):
        _run(nmbrs_employer("lege_bv", "Lege B.V."), nmbrs_credentials(sims["nmbrs"].url, "mycompany"),
             postgres_url, tmp_path)
    assert [r[:2] for r in _load_runs(postgres_url, "lege_bv")] == [("nmbrs", "failed")]


def test_an_employer_with_staff_passes_its_first_run_check(sims, postgres_url, tmp_path):
    out = _run(nmbrs_employer("mycompany_first", "MyCompany B.V."), nmbrs_credentials(sims["nmbrs"].url, "mycompany"),
               postgres_url, tmp_path)
    assert out["load"]["status"] == "success"
    (success, severity, count, sample), = _dq(postgres_url, "mycompany_first", "expect_first_extract_to_have_employees")
    assert (success, severity, count, sample) == (True, "error", 4, None)


def test_the_first_run_after_a_migration_fails_when_far_fewer_employees_arrive(sims, postgres_url, tmp_path):
    """Acme B.V. had 12 employees under Loket SOAP; its first Nmbrs extract has 4 (a partial conversion)."""
    loket = EmployerConfig("acme", "Acme B.V.", "loket_soap", (ACME_WERKGEVER,), "payroll_loket_soap_acme")
    first = _run(loket, loket_soap_credentials(sims["loket_soap"].url), postgres_url, tmp_path / "loket")
    assert first["load"]["status"] == "success" and first["normalize"]["rows"]["employee"] == 12

    with pytest.raises(DataQualityError) as err:
        _run(nmbrs_employer("acme", "Acme B.V. (Nmbrs)"), nmbrs_credentials(sims["nmbrs"].url, "mycompany"),
             postgres_url, tmp_path / "nmbrs")
    assert ("employment: expect_headcount_near_last_known failed: the first nmbrs extract of acme has 4 employees "
            "in period 202611, far fewer than the last known headcount 12 (loket_soap, 2026-11-23; more than "
            "max_drop_pct=50 % less): the source answered partially") in str(err.value)
    assert [r[:2] for r in _load_runs(postgres_url, "acme")] == [("loket_soap", "success"), ("nmbrs", "failed")]
    (success, severity, count, _sample), = _dq(postgres_url, "acme", "expect_headcount_near_last_known")
    assert (success, severity, count) == (False, "error", 4)
    db = connect(postgres_url)
    try:  # the Loket SOAP history stays the employer's knowledge; nothing of the partial answer loaded
        assert db.query("SELECT connector, COUNT(*) FROM employment_current WHERE employer = 'acme' "
                        "GROUP BY connector") == [("loket_soap", 12)]
    finally:
        db.close()


def test_a_migration_within_max_drop_pct_passes_and_records_the_comparison(sims, postgres_url, tmp_path):
    loket = EmployerConfig("acme_allowed", "Acme B.V.", "loket_soap", (ACME_WERKGEVER,), "payroll_loket_soap_acme")
    assert _run(loket, loket_soap_credentials(sims["loket_soap"].url), postgres_url, tmp_path / "l")["load"][
        "status"] == "success"
    # 4 of 12 is a 67 % drop: allowed when the data_quality section sets max_drop_pct to 70 (ceil(12 * 0.3) = 4).
    out = run_all(RunContext(nmbrs_employer("acme_allowed", "Acme B.V. (Nmbrs)"), NIGHT, data_dir=tmp_path / "n",
                             warehouse_url=postgres_url, today=NIGHT),
                  nmbrs_credentials(sims["nmbrs"].url, "mycompany"), {"max_drop_pct": 70})
    assert out["load"]["status"] == "success"
    (success, _severity, count, sample), = _dq(postgres_url, "acme_allowed", "expect_headcount_near_last_known")
    assert (success, count, sample) == (True, 4, None)
