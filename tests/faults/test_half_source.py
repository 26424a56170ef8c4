"""A source that suddenly answers with half the employees: the volume check blocks the load.

Built on a copy of the connector's clean baseline (the previous night), the next night's run
gets half the employee list: validate fails with a blocking
DataQualityError, load never runs, the warehouse business tables stay exactly as they were and
``load_run`` records the failed night. After the fault clears, ONE re-run of that night succeeds
and the warehouse equals the clean baseline again (plus that night's load_run/dq rows).
"""

from __future__ import annotations

import pytest
from e2e_support import environment
from fault_support import (
    DAGS,
    NEXT_NIGHT,
    add_fault,
    assert_failed_at,
    assert_succeeded,
    clear_faults,
    copy_run_dir,
    landed_rows,
    run_dag,
    snapshot,
    tries,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

# Registered connectors left out here, with the reason (tests/test_source_tables.py checks the table against it).
EXCLUDED = {"nmbrs_rest": "not yet written: which of its REST lists may fail alone, and whether it "
                          "full-refreshes after a half extract, have not been verified in a DAG run"}
HALF = {"loket_rest": r"GET /v2/providers/employers/[^/]+/employees\?", "loket_soap": r"^List$",
        "nmbrs": r"^(List_GetByCompany|Employment_GetAll_AllEmployeesByCompany|Salary_GetAll_AllEmployeesByCompany)$"}
# Loket REST and SOAP fetch incrementally on night 2 (nothing changed: no list to halve), so that
# night runs with full_refresh; Nmbrs always fetches its company-wide lists in full, and its
# full_refresh also fetches long-gone employees, which a clean night-2 run would not.
FULL_REFRESH = {"loket_rest": True, "loket_soap": True, "nmbrs": False}
RUN_TABLES = ("load_run", "dq_result", "source_state")  # per-night bookkeeping


def _without_run_tables(snap: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    return {t: rows for t, rows in snap.items() if t not in RUN_TABLES}


def _load_runs(url: str) -> list[tuple]:
    from payroll_etl.warehouse.load import connect

    db = connect(url)
    try:
        return sorted(db.query("SELECT logical_date, status FROM load_run"))
    finally:
        db.close()


@pytest.mark.parametrize("connector", sorted(HALF))
def test_half_the_employees_is_blocked_and_one_rerun_restores(connector, simulators, run_env, baselines):
    baseline = baselines(connector)
    data_dir = run_env["tmp"] / "night2"
    url = copy_run_dir(baseline.data_dir, data_dir, baseline.url)
    sim = simulators[connector].url
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(data_dir)):
        add_fault(sim, HALF[connector], "half", -1)
        run = run_dag(DAGS[connector], NEXT_NIGHT, retries=1, full_refresh=FULL_REFRESH[connector])

        assert_failed_at(run, "validate")
        assert tries(run)["validate"] == 1, "a blocking data-quality failure is not retried"
        assert _without_run_tables(snapshot(url)) == _without_run_tables(baseline.snapshot)
        night = str(NEXT_NIGHT.date())
        assert [s for d, s in _load_runs(url) if str(d) == night] == ["failed"]
        half_landed = [r for r in landed_rows(data_dir) if f"run_date={night}" in str(r["file"])]
        assert half_landed, "the half answer stays in the landing for inspection"

        clear_faults(sim)
        rerun = run_dag(DAGS[connector], NEXT_NIGHT, full_refresh=FULL_REFRESH[connector])
        assert_succeeded(rerun)
        assert _without_run_tables(snapshot(url)) == _without_run_tables(baseline.snapshot)
        assert [s for d, s in _load_runs(url) if str(d) == night] == ["success"]
