"""The data engineer's paths, walked as a user walks them (issue 13).

``make airflow`` starts the local Airflow (api-server, scheduler, dag-processor, triggerer as
processes, LocalExecutor, on a fresh PostgreSQL metadata DB that its setup creates, the
simulators beside it on free ports); then, through the REST API as the UI does and through the
README's make targets:

* ``make airflow-cli ARGS="dags list -o json"`` lists the DAGs the dag-processor parsed;
* ``make backfill`` refuses a paused DAG and creates nothing (``DRY_RUN=1`` lists the runs);
* a run options typo is refused at trigger time;
* a run triggered as the UI does succeeds; then ``make backfill`` over three past monthly pay
  periods (``UNPAUSE=1``: the DAG was paused again) creates one run per period, one at a time,
  and after it the warehouse has those periods and their payroll results, every current row and
  benefit basis exactly as before, no mutation from the backfill and no nightly-window deadline
  alert.

One monthly Loket REST employer, a PostgreSQL warehouse. A few minutes on 2 cores. Under
CI=true a missing PostgreSQL fails.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
from airflow_stack import json_output, running_stack
from pg_support import require_postgres

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
EMPLOYER = "bakkerij_de_vries"
DAG_ID = f"payroll_loket_rest_{EMPLOYER}"
BACKFILL_FROM, BACKFILL_TO = "2025-01-01", "2025-03-31"
BACKFILL_PERIODS = {"202501", "202502", "202503"}
RUN_TIMEOUT = float(os.environ.get("PAYROLL_E2E_RUN_TIMEOUT", "600"))
# What insurers read as "now": the current version per record, and the current benefit bases.
CURRENT = {"employer_current": "SELECT * FROM employer_current", "employee_current": "SELECT * FROM employee_current",
           "employment_current": "SELECT * FROM employment_current", "salary_current": "SELECT * FROM salary_current",
           "benefit_basis": "SELECT * FROM benefit_basis WHERE superseded_at IS NULL"}
# Every version the warehouse holds as known (not superseded), with valid time.
HISTORY_TABLES = ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")
DEADLINE_LINE = "payroll nightly window missed"  # logged by dag_factory.on_deadline_missed


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    require_postgres()
    with running_stack(tmp_path_factory.mktemp("make-airflow"), executor="LocalExecutor") as s:
        yield s


def make(stack, *args: str) -> subprocess.CompletedProcess:
    """``make <args>`` in the checkout, with the environment the user's shell had for `make airflow`.

    ``-o install``: the suite runs inside the installed venv (`make test` installs first).
    """
    env = {**stack.env, "AIRFLOW__API__PORT": str(stack.api_port)}
    return subprocess.run(["make", "--no-print-directory", "-o", "install", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


# ---------------------------------------------------------------------- warehouse snapshots
def warehouse(url: str, sql: str, **params) -> list[dict]:
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(row) for row in conn.execute(sa.text(sql), params).mappings()]
    finally:
        engine.dispose()


def snapshot(url: str) -> dict[str, set[tuple]]:
    """Every row of the current views and of the not-superseded history, all columns (as text)."""
    queries = CURRENT | {t: f"SELECT * FROM {t} WHERE superseded_at IS NULL" for t in HISTORY_TABLES}
    return {name: {tuple(sorted((k, str(v)) for k, v in row.items())) for row in warehouse(url, sql)}
            for name, sql in queries.items()}


def described(rows: set[tuple]) -> list[str]:
    """Which rows, by key and valid time only (source id, employment, scheme, dates): no personal data."""
    keys = ("source_id", "employment_source_id", "scheme", "valid_from", "valid_to", "reference_date", "period_id")
    return sorted(" ".join(f"{k}={v}" for k, v in row if k in keys) for row in rows)[:3]


def added_history_problems(before: set[tuple], after: set[tuple], table: str) -> list[str]:
    """docs/warehouse.md "Past views": a backfill supersedes nothing; it adds pay periods and results
    of the backfilled periods, and employment/salary versions older than every version held of a
    known record (closed before the earliest one); no employee or employer versions."""
    problems = []
    if before - after:
        problems.append(f"{table}: {len(before - after)} rows superseded by the backfill, e.g. "
                        f"{described(before - after)}")
    added = [dict(row) for row in after - before]
    if table in ("employee", "employer") and added:
        problems.append(f"{table}: {len(added)} versions added by the backfill, e.g. {described(after - before)}")
    if table in ("employment", "salary"):
        earliest: dict[str, str] = {}
        for row in map(dict, before):
            earliest[row["source_id"]] = min(earliest.get(row["source_id"], "9999"), row["valid_from"])
        wrong = [r for r in added if r["source_id"] not in earliest or r["valid_to"] == "None"
                 or r["valid_to"] >= earliest[r["source_id"]]]
        if wrong:
            spans = sorted("{source_id} {valid_from}..{valid_to}".format(**r) for r in wrong)[:3]
            problems.append(f"{table}: {len(wrong)} added versions are not older than every version held, e.g. {spans}")
    if table == "payroll_result":
        outside = {r["period_id"] for r in added} - BACKFILL_PERIODS
        if outside:
            problems.append(f"payroll_result: rows added for periods outside the backfill: {sorted(outside)}")
    if table == "payroll_period":
        outside = {f"{r['year']}{int(r['period_number']):02d}" for r in added} - BACKFILL_PERIODS
        if outside:
            problems.append(f"payroll_period: periods added outside the backfill: {sorted(outside)}")
    return problems


def deadline_alerts(stack) -> tuple[list[str], int]:
    """Deadline-alert lines in the triggerer log and missed deadlines in the metadata DB."""
    import psycopg

    lines = stack.log_lines("triggerer", DEADLINE_LINE)
    with psycopg.connect(stack.metadata_url.replace("postgresql+psycopg", "postgresql")) as conn:
        (missed,), = conn.execute("SELECT count(*) FROM deadline WHERE missed").fetchall()
    return lines, missed


def wait_until_finished(stack, run_ids: list[str], timeout: float) -> dict[str, str]:
    api = stack.api()
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        stack.assert_alive()
        states = {r: api.dag_run(DAG_ID, r)["state"] for r in run_ids}
        if all(s in ("success", "failed") for s in states.values()):
            break
        time.sleep(3)
    return states


# ---------------------------------------------------------------------- tests, in this order
def test_make_airflow_cli_runs_airflow_commands_with_the_projects_environment(stack):
    stack.wait_for_dags([DAG_ID])
    result = make(stack, "airflow-cli", 'ARGS=dags list -o json')
    assert result.returncode == 0, result.stderr[-3000:]
    listed = {d["dag_id"]: d for d in json_output(result.stdout)}
    assert DAG_ID in listed, sorted(listed)
    assert str(listed[DAG_ID]["is_paused"]).lower() == "true"  # new DAGs start paused


def test_make_backfill_refuses_a_paused_dag(stack):
    result = make(stack, "backfill", f"EMPLOYER={EMPLOYER}", f"FROM={BACKFILL_FROM}", f"TO={BACKFILL_TO}")
    assert result.returncode != 0
    assert f"refused: DAG {DAG_ID} is paused" in result.stdout, result.stdout + result.stderr
    assert "UNPAUSE=1" in result.stdout
    dry = make(stack, "backfill", f"EMPLOYER={EMPLOYER}", f"FROM={BACKFILL_FROM}", f"TO={BACKFILL_TO}", "DRY_RUN=1")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert f"dry run: a backfill of {DAG_ID} from {BACKFILL_FROM} to {BACKFILL_TO} would create" in dry.stdout
    assert stack.request("GET", f"/api/v2/backfills?dag_id={DAG_ID}")["total_entries"] == 0
    assert stack.api().dag(DAG_ID)["is_paused"]


@pytest.mark.timeout(2700)  # the waits below are bounded themselves (RUN_TIMEOUT per run)
def test_ui_run_then_backfill_of_three_past_periods_leaves_the_present_alone(stack):
    api = stack.api()
    problems: list[str] = []

    # A run options typo is refused when the run is triggered, not when it runs.
    try:
        typo = api.trigger(DAG_ID, datetime.now(UTC).isoformat(), conf={"full_refresh": "yes"})
    except RuntimeError as exc:
        assert "HTTP 4" in str(exc), exc
    else:
        problems.append("run options typo {'full_refresh': 'yes'} was accepted at trigger time "
                        "(needs the run options as Airflow Params)")
        stack.request("DELETE", f"/api/v2/dags/{DAG_ID}/dagRuns/{quote(typo['dag_run_id'], safe='')}")

    # Today's run, as the UI's trigger form makes it.
    api.set_paused(DAG_ID, False)
    run_id = api.trigger(DAG_ID, datetime.now(UTC).isoformat(), note="as the UI")["dag_run_id"]
    state = wait_until_finished(stack, [run_id], RUN_TIMEOUT)[run_id]
    if state != "success":
        pytest.fail(f"the UI-triggered run ended {state!r}: {api.task_states(DAG_ID, run_id)}\n{stack.diagnostics()}")
    before = snapshot(stack.warehouse_url)
    assert before["employment_current"] and before["benefit_basis"], "the nightly run loaded no employments/bases"
    (mutations_before,), = [tuple(r.values()) for r in warehouse(stack.warehouse_url, "SELECT count(*) FROM mutation")]

    # The backfill, as the README gives it, on the DAG paused again: UNPAUSE=1 unpauses it with a warning.
    api.set_paused(DAG_ID, True)
    result = make(stack, "backfill", f"EMPLOYER={EMPLOYER}", f"FROM={BACKFILL_FROM}", f"TO={BACKFILL_TO}",
                  "UNPAUSE=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"WARNING: DAG {DAG_ID} was paused and is now unpaused" in result.stdout, result.stdout
    assert f"of {DAG_ID} created" in result.stdout, result.stdout
    assert not api.dag(DAG_ID)["is_paused"]
    (backfill,) = stack.request("GET", f"/api/v2/backfills?dag_id={DAG_ID}")["backfills"]
    assert backfill["max_active_runs"] == 1
    runs = api.dag_runs(DAG_ID, run_type="backfill")
    run_ids = [r["dag_run_id"] for r in runs]
    one_per_period = len(runs) == len(BACKFILL_PERIODS)
    if not one_per_period:
        problems.append(f"the backfill of {BACKFILL_FROM}..{BACKFILL_TO} created {len(runs)} runs, expected "
                        f"{len(BACKFILL_PERIODS)} (one per pay period); cancelled after its first run")
        wait_until_finished(stack, run_ids[:1], RUN_TIMEOUT)
        stack.request("PUT", f"/api/v2/backfills/{backfill['id']}/cancel")  # fails the queued ones
    states = wait_until_finished(stack, run_ids, RUN_TIMEOUT * len(BACKFILL_PERIODS))
    if one_per_period and set(states.values()) != {"success"}:
        problems.append(f"backfill runs did not all succeed: {states} "
                        f"{ {r: api.task_states(DAG_ID, r) for r in run_ids} }")

    # Their pay periods and payroll results are in the warehouse ...
    loads = warehouse(stack.warehouse_url, "SELECT airflow_run_id, period_id, status FROM load_run")
    loaded = {r["period_id"] for r in loads if r["airflow_run_id"] in run_ids and r["status"] == "success"}
    if loaded != BACKFILL_PERIODS:
        problems.append(f"backfill loads: periods {sorted(loaded)}, expected {sorted(BACKFILL_PERIODS)}")
    periods = {f"{r['year']}{int(r['period_number']):02d}" for r in warehouse(
        stack.warehouse_url, "SELECT year, period_number FROM payroll_period WHERE superseded_at IS NULL "
                             "AND employer = :e", e=EMPLOYER)}
    results = {r["period_id"]: r["n"] for r in warehouse(
        stack.warehouse_url, "SELECT period_id, count(*) AS n FROM payroll_result WHERE superseded_at IS NULL "
                             "AND employer = :e GROUP BY period_id", e=EMPLOYER)}
    for period in sorted(BACKFILL_PERIODS):
        if period not in periods:
            problems.append(f"no payroll_period row for {period}")
        if not results.get(period):
            problems.append(f"no payroll_result rows for {period}")

    # ... and the present is untouched: every current row and benefit basis as before, ...
    after = snapshot(stack.warehouse_url)
    for name in CURRENT:
        gone, new = before[name] - after[name], after[name] - before[name]
        if gone or new:
            problems.append(f"{name}: {len(gone)} current rows replaced by {len(new)} from the backfill, e.g. "
                            f"{described(gone)} -> {described(new)}")
    for table in HISTORY_TABLES:
        problems += added_history_problems(before[table], after[table], table)
    # ... no mutation from it, ...
    new_mutations = warehouse(stack.warehouse_url, "SELECT mutation_type, ingangsdatum, load_run_id FROM mutation "
                                                   "ORDER BY detected_at OFFSET :n", n=mutations_before)
    if new_mutations:
        problems.append(f"{len(new_mutations)} mutations from the backfill: "
                        f"{sorted({(m['mutation_type'], str(m['ingangsdatum'])) for m in new_mutations})[:5]}")
    # ... and no nightly-window alert for the backfill runs or the UI's run.
    lines, missed = deadline_alerts(stack)
    if lines or missed:
        problems.append(f"deadline alert fired: {len(lines)} '{DEADLINE_LINE}' lines, {missed} missed deadlines")

    assert not problems, "\n".join(["issue 13 'Done when' not met:", *problems])
