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
# Airflow's own defaults, which a deployment runs, instead of the test stack's fast loops (a DAG-file
# re-parse every 10 s, a scheduler heartbeat every second): CPU the extract tasks share the cores with.
DEPLOYMENT_INTERVALS = {"AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "5"}


def _employers_file(n: int, path: Path) -> Path:
    """employers.yaml with the bench's ``n`` Loket REST employers (the simulator's werkgevers)."""
    import bench_scale as b

    base = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    employers = [{"employer": e.employer, "name": e.name, "connector": e.connector,
                  "source_ids": list(e.source_ids), "conn_id": e.conn_id, "options": b.NIGHTLY_OPTIONS}
                 for e in b.bench_employers(n)]
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
    tasks: dict[str, tuple[float, float, str, float]] = {}  # dag id -> start, end, ti id, queued
    # One request for all runs (the batch endpoint): polling each run's task instances every 2 s was
    # 8 REST requests a second, CPU of the API server that the tasks' execution API calls wait for.
    body = {"dag_ids": list(runs), "dag_run_ids": list(runs.values()), "task_ids": ["extract"], "page_limit": 1000}
    for ti in stack.request("POST", "/api/v2/dags/~/dagRuns/~/taskInstances/list", body)["task_instances"]:
        dag_id = ti["dag_id"]
        if runs.get(dag_id) != ti["dag_run_id"]:
            continue
        states[f"{ti['task_id']}:{ti['state']}"] = states.get(f"{ti['task_id']}:{ti['state']}", 0) + 1
        if ti.get("start_date") and ti.get("end_date"):
            start, end = _when(ti["start_date"]) or 0.0, _when(ti["end_date"]) or 0.0
            tasks[dag_id] = (start, end, ti["id"], _when(ti.get("queued_when")) or start)
            starts.append(start)
            ends.append(end)
            durations.append(end - start)
            queued.append(start - tasks[dag_id][3])
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


# An extract task's phases: (name, from, to); marks from the task instance, its log, its landed pages.
PHASES = (("queued -> running (scheduler, executor, supervisor fork)", "queued", "start"),
          ("supervisor's ti.start call until the startup message", "start", "startup_msg"),
          ("DAG bundle + parsing the DAG file", "startup_msg", "parsed"),
          ("pipeline set-up + token call until the first call returned", "parsed", "first"),
          ("first to last call", "first", "last"), ("after the last call (commit, XCom, exit)", "last", "end"))


def _landed_call_phase(root: Path, employers: list[Any], tasks: dict[str, tuple[float, float, str, float]],
                       marks: dict[str, dict[str, float]]) -> dict[str, Any]:
    """Mean s per extract task before its first page, first to last, after the last; ``phases``: ``PHASES``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from payroll_etl import landing

    before, calls, after, phases = [], [], [], {name: [] for name, _, _ in PHASES}  # type: ignore[var-annotated]
    for e in employers:
        parts = landing.committed_parts(root, e.connector, e.employer, date.fromisoformat(LOGICAL_DATE[:10]))
        stamps = [pq.read_table(p, columns=["received_at"]).column(0) for p in parts.values()]
        if not stamps or e.dag_id not in tasks:
            continue
        first = min(pc.min(s).as_py() for s in stamps).timestamp()
        last = max(pc.max(s).as_py() for s in stamps).timestamp()
        start, end, ti_id, queued = tasks[e.dag_id]
        for values, seconds in ((before, first - start), (calls, last - first), (after, end - last)):
            values.append(seconds)
        at = {"queued": queued, "start": start, "first": first, "last": last, "end": end, **marks.get(ti_id, {})}
        if all(m in at for _, m0, m1 in PHASES for m in (m0, m1)):
            for name, m0, m1 in PHASES:
                phases[name].append(at[m1] - at[m0])

    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    return {"before_calls_s": mean(before), "calls_phase_s": mean(calls), "after_calls_s": mean(after),
            "phases": {name: mean(v) for name, v in phases.items()}}


class CpuSampler:
    """CPU seconds of the stack's processes (this process's descendants) while the extracts run.

    Every ``interval`` s: each descendant's CPU (own, and of the children it reaped) and title.
    ``roles()``: CPU per role between ``start()`` and ``stop()`` (an ended process counts in its
    parent's reaped CPU; a task process in its supervisor's, as "task processes"). ``tasks()``: CPU
    per task process by task-instance id (its title ``airflow worker -- <ti id>``), last sample: a lower bound."""

    def __init__(self, interval: float = 0.5):
        import threading

        self.interval, self.stop_event = interval, threading.Event()
        self.first: dict[int, tuple[float, float]] = {}
        self.last: dict[int, tuple[str, float, float]] = {}  # pid -> (role, own cpu, reaped children's cpu)
        self.titles, self.alive = {}, set()  # type: ignore[var-annotated]
        self.thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _role(title: str, parent: str) -> str:
        if title.startswith("airflow worker -- LocalExecutor") and not parent.startswith("airflow worker"):
            return "executor workers (supervisors)"
        if title.startswith("airflow worker -- "):
            return "task processes"
        for role in ("api-server", "api_server", "scheduler", "dag-processor", "triggerer", "payroll_simulators",
                     "multiprocessing", "serve-logs", "serve_logs"):
            if role in title or role in parent:
                return {"api_server": "api-server", "multiprocessing": "bench simulator"}.get(role, role)
        return title[:60]

    def sample(self) -> None:
        import psutil

        alive = set()
        for proc in psutil.Process().children(recursive=True):
            try:
                with proc.oneshot():
                    title, times, parent = " ".join(proc.cmdline()), proc.cpu_times(), proc.parent()
                parent_title = " ".join(parent.cmdline()) if parent else ""
            except (psutil.Error, OSError):
                continue
            alive.add(proc.pid)
            own, reaped = times.user + times.system, times.children_user + times.children_system
            self.first.setdefault(proc.pid, (0.0, reaped))  # new processes: all of their own CPU counts
            self.last[proc.pid] = (self._role(title, parent_title), own, reaped)
            if title.startswith("airflow worker -- ") and "LocalExecutor" not in title:
                self.titles[proc.pid] = title.removeprefix("airflow worker -- ").strip()
        self.alive = alive

    def _run(self) -> None:
        while not self.stop_event.wait(self.interval):
            self.sample()

    def start(self) -> None:
        self.sample()
        self.first = {pid: (own, reaped) for pid, (_, own, reaped) in self.last.items()}
        self.thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.thread.join()
        self.sample()

    def roles(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid in self.alive:
            role, own, reaped = self.last[pid]
            own0, reaped0 = self.first[pid]
            children = "task processes" if role.startswith("executor workers") else role
            out[role] = out.get(role, 0.0) + own - own0
            out[children] = out.get(children, 0.0) + reaped - reaped0
        return out

    def tasks(self) -> dict[str, float]:
        return {ti: self.last[pid][1] for pid, ti in self.titles.items()}


# Task-log events (task runner) that mark the start-up phases of an extract task.
_EVENTS = {"::group::Pre Execute": "child", "DAG bundles loaded": "startup_msg",
           "Worker startup parse complete": "parsed"}


def _task_log_marks(home: Path) -> dict[str, dict[str, float]]:
    """Per extract task (by task-instance id): when its process was ready (``child``), got the startup
    message after the supervisor's ``ti.start`` call (``startup_msg``) and had parsed the DAG file (``parsed``)."""
    out: dict[str, dict[str, float]] = {}
    for path in home.rglob("*.log"):
        if "task_id=extract" not in str(path):
            continue
        marks: dict[str, float] = {}
        ti_id = None
        for line in path.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            ti_id = ti_id or event.get("ti_id")
            name = next((v for k, v in _EVENTS.items() if str(event.get("event", "")).startswith(k)), None)
            if name and name not in marks:
                marks[name] = _when(event["timestamp"]) or 0.0
        if ti_id:
            out[str(ti_id)] = marks
    if os.environ.get("PAYROLL_BENCH_AIRFLOW_LOGS"):  # a folder: every log of the stack is copied there
        import shutil

        shutil.copytree(home / "logs", os.environ["PAYROLL_BENCH_AIRFLOW_LOGS"], dirs_exist_ok=True)
    return out


def _cpu_figures(sampler: CpuSampler, tasks: dict[str, tuple[float, float, str, float]],
                 runs_s: float) -> dict[str, Any]:
    """CPU seconds from the trigger until every extract ended: per role of the stack, and per extract
    task process (mean of the extract tasks' processes the sampler saw)."""
    extract_ids = {t[2] for t in tasks.values()}
    per_task = [cpu for ti, cpu in sampler.tasks().items() if ti in extract_ids]
    roles = sampler.roles()
    return {"cpu_roles": roles, "cpu_total_s": sum(roles.values()), "cpu_cores_busy": sum(roles.values()) / runs_s,
            "task_cpu_s": sum(per_task) / len(per_task) if per_task else float("nan"), "task_cpu_n": len(per_task)}


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
        stack.env.update({**_connections(n, url), **DEPLOYMENT_INTERVALS})
        started = time.monotonic()
        try:
            stack.start()
            dag_ids = [e.dag_id for e in b.bench_employers(n)]
            stack.wait_for_dags(dag_ids, timeout=300)
            stack_s = time.monotonic() - started
            # A nightly runs on a warehouse at the head revision: migrated here, before the runs, as a
            # deployment's init step does (docker-compose, the Celery stack), so the extracts' check is the
            # no-op one, not 8 tasks waiting on the advisory lock for the first-ever migration.
            from payroll_etl.warehouse.migrate import upgrade

            upgrade(stack.warehouse_url)
            b._sim(url, "/_sim/calls", "DELETE")
            sampler = CpuSampler()
            sampler.start()
            triggered = time.monotonic()
            runs = {dag_id: stack.trigger(dag_id, LOGICAL_DATE) for dag_id in dag_ids}
            phase = _wait_for_extracts(stack, runs, timeout)
            runs_s = time.monotonic() - triggered
            sampler.stop()
            calls = sum(b._sim(url, "/_sim/calls").values())
            marks = _task_log_marks(Path(tmp) / "home")
            phase.update(_landed_call_phase(stack.data_dir / "landing", b.bench_employers(n), phase["task_spans"],
                                            marks))
            phase.update(_cpu_figures(sampler, phase["task_spans"], runs_s))
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
            f"stack start-up {r['stack_s']:.0f} s; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            + breakdown(r))


def breakdown(r: dict[str, Any]) -> str:
    """Where one extract task's time went (``PHASES``, means) and the CPU the stack used meanwhile."""
    lines = [f"\n  {name:62} {seconds:5.2f} s" for name, seconds in r.get("phases", {}).items()]
    roles = sorted(r.get("cpu_roles", {}).items(), key=lambda kv: -kv[1])
    lines.append(f"\n  CPU from the trigger until the last extract ended: {r.get('cpu_total_s', 0):.1f} s in "
                 f"{r['runs_s']:.0f} s ({r.get('cpu_cores_busy', 0):.2f} cores busy; normalize tasks of finished "
                 f"runs included): " + ", ".join(f"{k} {v:.1f} s" for k, v in roles if v >= 0.05))
    floor = r.get("cpu_total_s", 0) / (os.cpu_count() or 1)
    lines.append(f"\n  that CPU on free cores alone: {floor:.1f} s = {floor / r['bound_s']:.2f}x the bound (a floor)")
    lines.append(f"\n  CPU of one extract task's process: {r.get('task_cpu_s', float('nan')):.2f} s "
                 f"(mean of {r.get('task_cpu_n', 0)}, sampled every 0.5 s: a lower bound)")
    return "".join(lines)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    print(report(nightly_airflow(int(os.environ.get("PAYROLL_BENCH_AIRFLOW_EMPLOYERS", "16")),
                                 int(os.environ.get("PAYROLL_BENCH_EMPLOYEES_EACH", "5")),
                                 float(os.environ.get("PAYROLL_BENCH_LATENCY", "0.05")))), flush=True)
