"""Transient faults (5xx, timeouts, resets, 429) recover, in the connector or by an Airflow task retry.

One DAG run per connector carries every transient fault at once, each on a different call:
single faults are absorbed by the connector's own retries; one fault that outlasts them
(``MAX_ATTEMPTS`` in a row) fails the extract's first try with ``TransientSourceError`` and the
Airflow retry succeeds. The warehouse must then equal the clean run exactly, and the landing must
keep what the failed first try had received as ``failed-<attempt>.parquet``.
"""

from __future__ import annotations

import pytest
from fault_support import (
    DAGS,
    MAX_ATTEMPTS,
    add_fault,
    assert_same_warehouse,
    assert_succeeded,
    faults,
    landed_rows,
    run_dag,
    snapshot,
    tries,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# Registered connectors left out here, with the reason (tests/test_source_tables.py checks the table against it).
EXCLUDED: dict[str, str] = {}
# (match, kind, times) per connector; the first entry outlasts the connector's own retries.
TRANSIENT: dict[str, list[tuple[str, str, int]]] = {
    "loket_rest": [
        (r"/employees/employments\?", "503", MAX_ATTEMPTS),
        (r"/payrolladministrations\?", "500", 1),
        (r"/employees\?", "timeout", 1),
        (r"/citizenservicenumber", "reset", 1),
        (r"/actualwages", "429", 2),
        (r"/actualworkinghours", "429_no_retry_after", 1),
    ],
    "loket_soap": [
        (r"^ListVersion$", "503", MAX_ATTEMPTS),
        (r"^GetMetaData$", "500", 1),
        (r"^List$", "timeout", 1),
        (r"^Select$", "reset", 1),
        (r"^GetNodeFunction$", "revoke_token", 1),
        (r"^ListGoedgekeurdeLoonrunsPeriode$", "429", 2),
        (r"^ExportLoonresultatenPerRun$", "429_no_retry_after", 1),
    ],
    "nmbrs": [
        (r"^Employment_GetAll_AllEmployeesByCompany$", "503", MAX_ATTEMPTS),
        (r"^Company_GetCurrentPeriod$", "500", 1),
        (r"^Salary_GetAll_AllEmployeesByCompany$", "timeout", 1),
        (r"^PersonalInfo_GetCurrent$", "reset", 1),
        (r"^Address_GetListCurrent$", "429", 2),
        (r"^Run_GetList$", "429_no_retry_after", 1),
    ],
    "nmbrs_rest": [
        (r"^GET /api/companies/[^/]+/employees/salaries", "503", MAX_ATTEMPTS),
        (r"^GET /api/companies/[^/]+/period", "500", 1),
        (r"^GET /api/companies/[^/]+/employees/employments", "timeout", 1),
        (r"^GET /api/companies/[^/]+/employees/personalinfo", "reset", 1),
    ],
}


@pytest.mark.parametrize("connector", sorted(TRANSIENT))
def test_transient_faults_recover_to_the_clean_warehouse(connector, simulators, run_env, baselines):
    baseline = baselines(connector)
    sim = simulators[connector].url
    for match, kind, times in TRANSIENT[connector]:
        add_fault(sim, match, kind, times)

    run = run_dag(DAGS[connector], retries=1)

    assert_succeeded(run)
    assert tries(run)["extract"] == 2, "the fault that outlasts the connector's retries costs one task try"
    hits = {(f["match"], f["kind"]): f["hits"] for f in faults(sim)}
    for match, kind, times in TRANSIENT[connector]:
        assert hits[(match, kind)] == times, f"{kind} on {match} was not exercised"
    assert_same_warehouse(snapshot(run_env["url"]), baseline.snapshot)
    failed = landed_rows(run_env["data_dir"], "failed-")
    assert failed, "the first try's payloads must stay in the landing"
    # every connector keeps the error bodies of the failed try as evidence (REST: entity "errors")
    errors = [r for r in failed if r["status"] >= 400]
    assert errors and all(r["status"] >= 500 for r in errors)
    if connector == "loket_rest":
        assert {r["entity"] for r in errors} == {"errors"}
