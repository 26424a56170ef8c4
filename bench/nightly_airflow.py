"""The 200-employer nightly of issue 18 through real Airflow task execution (scaled down).

A real local Airflow (``tests/airflow_stack.AirflowStack`` with ``executor="LocalExecutor"``:
`make airflow`'s setup, api-server, scheduler, dag-processor and triggerer on a fresh PostgreSQL
metadata database and a fresh warehouse database) runs the nightly DAG of ``n`` Loket REST
employers against the bench's Loket REST simulator (its own process, ``latency`` seconds added per
call). Every task is its own process, as in production; the extract tasks share the
``payroll_loket_rest`` pool.

The figure is the extract phase's wall time (first extract task started .. last one ended, from
the task instances' ``start_date``/``end_date``) against calls x latency / slots, where calls is
what the simulator counted and slots = min(pool slots, employers). The default is 16 employers
(``PAYROLL_BENCH_AIRFLOW_EMPLOYERS``) so that the stack's start-up plus the runs stay at a few
minutes on 2 cores; 0 skips it.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
LOGICAL_DATE = "2026-11-23T01:00:00Z"  # 02:00 Europe/Amsterdam: the in-process bench's NIGHTLY
POOL = "payroll_loket_rest"


def _employers_file(n: int, path: Path) -> Path:
    """employers.yaml with the bench's ``n`` Loket REST employers (the simulator's werkgevers)."""
    import bench_scale as b

    base = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    employers = [{"employer": e.employer, "name": e.name, "connector": e.connector,
                  "source_ids": list(e.source_ids), "conn_id": e.conn_id} for e in b.bench_employers(n)]
    path.write_text(yaml.safe_dump({**base, "employers": employers}, sort_keys=False))
    return path


def _connections(n: int, url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for every bench employer: the simulator's password-grant client."""
    import bench_scale as b

    spec = {"conn_type": "loket_rest", "host": url, "login": b.BENCH_USER, "password": b.BENCH_PASSWORD,
            "extra": {"connector": "loket_rest", "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}}
    return {f"AIRFLOW_CONN_{e.conn_id.upper()}": json.dumps(spec) for e in b.bench_employers(n)}


def _when(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _extract_phase(stack: Any, runs: dict[str, str]) -> dict[str, Any]:
    """Start, end and per-task figures of the extract tasks of ``runs`` (dag id -> run id)."""
    starts, ends, durations, queued = [], [], [], []
    states: dict[str, int] = {}
    tasks: dict[str, tuple[float, float]] = {}
    for dag_id, run_id in runs.items():
        for ti in stack.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]:
            states[f"{ti['task_id']}:{ti['state']}"] = states.get(f"{ti['task_id']}:{ti['state']}", 0) + 1
            if ti["task_id"] != "extract" or not ti.get("start_date") or not ti.get("end_date"):
                continue
            start, end = _when(ti["start_date"]), _when(ti["end_date"])
            tasks[dag_id] = (start, end)
            starts.append(start)
            ends.append(end)
            durations.append(end - start)
            if ti.get("queued_when"):
                queued.append(start - _when(ti["queued_when"]))
    return {"wall_s": (max(ends) - min(starts)) if starts else float("nan"), "tasks": len(durations),
            "mean_task_s": sum(durations) / len(durations) if durations else float("nan"),
            "mean_queued_s": sum(queued) / len(queued) if queued else float("nan"), "states": states,
            "task_spans": tasks}


def _wait_for_extracts(stack: Any, runs: dict[str, str], timeout: float) -> dict[str, Any]:
    """Poll until every run's extract task ended (success or failed); the rest of each run
    (normalize, validate, load) is not part of the figure and is stopped with the stack."""
    deadline = time.monotonic() + timeout
    while True:
        stack.assert_alive()
        phase = _extract_phase(stack, runs)
        ended = sum(n for k, n in phase["states"].items() if k in ("extract:success", "extract:failed"))
        if ended >= len(runs) or time.monotonic() > deadline:
            return phase
        time.sleep(2)


def _landed_call_phase(root: Path, employers: list[Any], tasks: dict[str, tuple[float, float]]) -> dict[str, float]:
    """Mean seconds per extract task spent before its first page arrived (task start-up, state
    query, token), between its first and last page (the calls) and after its last page (landing
    commit, summary, task end), from the landed pages' ``received_at`` and the task's start/end."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from payroll_etl import landing

    before, calls, after = [], [], []
    for e in employers:
        parts = landing.committed_parts(root, e.connector, e.employer, date.fromisoformat(LOGICAL_DATE[:10]))
        stamps = [pq.read_table(p, columns=["received_at"]).column(0) for p in parts.values()]
        if not stamps or e.dag_id not in tasks:
            continue
        first = min(pc.min(s).as_py() for s in stamps).timestamp()
        last = max(pc.max(s).as_py() for s in stamps).timestamp()
        start, end = tasks[e.dag_id]
        before.append(first - start)
        calls.append(last - first)
        after.append(end - last)

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {"before_calls_s": mean(before), "calls_phase_s": mean(calls), "after_calls_s": mean(after)}


def _task_log_timeline(home: Path) -> None:
    """Print where the time of the first extract task went (its log's timestamps), for the docs."""
    logs = sorted(p for p in home.rglob("*.log") if "task_id=extract" in str(p))
    if os.environ.get("PAYROLL_BENCH_AIRFLOW_LOG") and logs:
        print(logs[0].read_text(errors="replace")[-6000:], flush=True)


def nightly_airflow(n: int, employees: int, latency: float, timeout: float = 900) -> dict[str, Any]:
    """Run ``n`` employers' nightly DAGs on a real LocalExecutor Airflow; the extract phase vs the bound.

    Returns ``wall_s`` (extract phase, s), ``bound_s`` (calls x latency / slots), ``ratio``,
    ``calls`` (simulator-counted), ``slots``, ``mean_task_s`` (one extract task, process start-up
    included), ``stack_s`` (start-up of the stack), ``runs_s`` (trigger .. every extract ended) and
    the task states. Raises ``RuntimeError`` when a component dies or the runs time out."""
    import bench_scale as b

    sys.path.insert(0, str(ROOT / "tests"))
    from airflow_stack import AirflowStack

    slots = min(b.load_pool_slots(POOL), n)
    with tempfile.TemporaryDirectory(prefix="bench-airflow-", ignore_cleanup_errors=True) as tmp, \
            b.simulator("loket_rest", n, employees) as url:
        b._sim(url, "/_sim/latency", "POST", {"seconds": latency})
        employers = _employers_file(n, Path(tmp) / "employers.yaml")
        stack = AirflowStack(Path(tmp) / "home", employers_file=employers, executor="LocalExecutor")
        stack.env.update(_connections(n, url))
        started = time.monotonic()
        try:
            stack.start()
            dag_ids = [e.dag_id for e in b.bench_employers(n)]
            stack.wait_for_dags(dag_ids, timeout=300)
            stack_s = time.monotonic() - started
            b._sim(url, "/_sim/calls", "DELETE")
            triggered = time.monotonic()
            runs = {dag_id: stack.trigger(dag_id, LOGICAL_DATE) for dag_id in dag_ids}
            phase = _wait_for_extracts(stack, runs, timeout)
            runs_s = time.monotonic() - triggered
            calls = sum(b._sim(url, "/_sim/calls").values())
            _task_log_timeline(Path(tmp) / "home")
            phase.update(_landed_call_phase(stack.data_dir / "landing", b.bench_employers(n), phase["task_spans"]))
        except BaseException:
            print(stack.diagnostics(20)[-4000:], flush=True)
            raise
        finally:
            stack.stop()
    failed = {k: v for k, v in phase["states"].items() if k.startswith("extract:") and k != "extract:success"}
    bound = calls * latency / slots
    return {"employers": n, "employees_each": employees, "latency": latency, "slots": slots, "calls": calls,
            "bound_s": bound, "ratio": phase["wall_s"] / bound if bound else float("nan"), "stack_s": stack_s,
            "runs_s": runs_s, "failed_runs": sum(failed.values()), **phase}


def report(r: dict[str, Any]) -> str:
    """One line: the real-Airflow figure next to its goal."""
    from bench_scale import _target

    return (f"nightly (real Airflow, LocalExecutor, every task its own process): {r['employers']} Loket REST "
            f"employers x {r['employees_each']} employees, {r['latency'] * 1000:.0f} ms per call, "
            f"{r['slots']} pool slots: extract phase {r['wall_s']:.1f} s for {r['calls']} calls; bound calls x "
            f"latency / slots = {r['bound_s']:.1f} s; ratio {r['ratio']:.2f}x (goal <= 1.2x) "
            f"[{_target(r['ratio'], 1.2)}]; one extract task {r['mean_task_s']:.1f} s (its calls alone "
            f"{r['calls'] / max(r['tasks'], 1) * r['latency']:.1f} s): {r['before_calls_s']:.1f} s before its first "
            f"call returned (task start-up), {r['calls_phase_s']:.1f} s first to last call, {r['after_calls_s']:.1f} s "
            f"after; queued {r['mean_queued_s']:.1f} s; "
            f"every extract ended {r['runs_s']:.0f} s after the trigger ({r['failed_runs']} not successful); "
            f"stack start-up {r['stack_s']:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print(report(nightly_airflow(int(os.environ.get("PAYROLL_BENCH_AIRFLOW_EMPLOYERS", "16")),
                                 int(os.environ.get("PAYROLL_BENCH_EMPLOYEES_EACH", "5")),
                                 float(os.environ.get("PAYROLL_BENCH_LATENCY", "0.05")))), flush=True)
