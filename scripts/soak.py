"""`make soak`: the Celery stack under faults for several nights, then compared with a clean run.

1. A generated simulator world of ``--employers`` werkgevers (companies), spread round-robin over
   Loket.nl REST, Nmbrs SOAP and Loket.nl SOAP, and an employers file pointing one DAG at each
   (``PAYROLL_EMPLOYERS_FILE``). Nmbrs REST is left out: its single-use refresh tokens need a
   consent stored in a metadata-DB Connection, which the stack's environment Connections cannot hold.
2. The docker-compose topology as processes (tests/airflow_stack.py, CeleryExecutor): API server,
   scheduler, dag-processor, triggerer and a Celery worker on Redis, PostgreSQL metadata and warehouse.
3. Per night (logical dates ``--first-night`` and the following days): between nights the world
   changes (working hours of a few employments, found as PARTTIME mutations); a *clean* run of every
   employer (``pipeline.run_all`` in this process, no faults) loads a second PostgreSQL warehouse;
   then the simulators inject 5xx, 429s, timeouts, connection resets and truncated payloads, each
   kind with probability ``--rate`` per request (seeded), and every DAG is triggered. On the
   ``--kill-night`` the Celery worker's process group is SIGKILLed while tasks run and a new worker
   started. Runs that end failed get what an operator would do the morning after: the failed
   tasks cleared once the incident is over (faults off); they are counted as failures needing a human.
4. Both warehouses are compared per employer: the ``*_current`` views, the history tables (row counts
   and row hashes, with the current/superseded flag) and the mutation feed, all without the columns
   that record *when* or *by which run* something was loaded. No ``load_run`` may be left ``running``
   and no mutation may exist twice.

It prints the figures (runs, faults by kind, retries, failures needing a human, rows compared,
differences) and exits 1 when a difference, a stuck load_run or a duplicate mutation was found.
Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (like the distributed test).
See docs/operations.md "Soak under faults".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
sys.path.insert(0, str(ROOT / "tests"))
# A Redis DB of its own (the distributed test flushes DB 13 when it starts and stops).
os.environ.setdefault("PAYROLL_TEST_REDIS_DB", "12")
from airflow_stack import PG_HOST, PG_PORT, AirflowStack, pg_admin  # noqa: E402

CONNECTORS = ("loket_rest", "nmbrs", "loket_soap")
# The demo Connections (include/demo_connections.yaml) whose simulator users see every soak werkgever.
CONN_IDS = {"loket_rest": "payroll_loket_rest_bakkerij_de_vries", "nmbrs": "payroll_nmbrs_transport_oost",
            "loket_soap": "payroll_loket_soap_schoonmaak_west"}
FAULT_KINDS = ("500", "503", "429", "timeout", "reset", "truncate")
CLIENT_TIMEOUT = 3.0  # seconds: the connectors' read timeout in the soak; a "timeout" fault stalls longer
TIMEOUT_FAULT_SECONDS = 4.0
# Columns that say when or by which run a row was loaded: they differ between any two runs.
RUN_COLUMNS = {"recorded_at", "superseded_at", "load_run_id", "superseded_by_run", "detected_at", "valid_to_recorded"}


# ----------------------------------------------------------------------------- world and config

def soak_world(n: int, employees: int, seed: int) -> tuple[Any, list[dict[str, Any]]]:
    """The simulator world of ``n`` generated werkgevers and the employers-file entries for them.

    Every fifth werkgever pays four-weekly. The demo users of each simulator (the ones the demo
    Connections log in as) are given access to all of them."""
    from payroll_simulators.world import WerkgeverSpec, build_world, stable_id

    specs = tuple(WerkgeverSpec(f"soak_{i:02d}", f"Soak {i:02d} B.V.", employees,
                                "four_weeks" if i % 5 == 4 else "month") for i in range(n))
    world = build_world(seed=seed, specs=specs)
    keys = [s.key for s in specs]
    world.simulators = {
        "loket_rest": {"users": [{"username": "demo@example.nl", "password": "demo", "werkgevers": keys}]},
        "nmbrs": {"users": [{"username": "demo@example.nl", "token": "0123456789abcdef0123456789abcdef",
                             "domain": "demo", "companies": keys}]},
        "loket_soap": {"users": [{"username": "Webservice#01", "password": "demo", "omgevingscode": "DEMO",
                                  "werkgevers": keys}]},
    }
    employers = []
    for i, spec in enumerate(specs):
        connector = CONNECTORS[i % len(CONNECTORS)]
        source = spec.name if connector == "nmbrs" else stable_id("werkgever", spec.key)
        employers.append({"employer": spec.key, "name": spec.name, "connector": connector, "source_ids": [source],
                          "conn_id": CONN_IDS[connector],
                          **({"payroll_frequency": "four_weeks"} if spec.frequency == "four_weeks" else {})})
    return world, employers


def write_employers_file(path: Path, employers: list[dict[str, Any]]) -> Path:
    """include/employers.yaml's defaults, pools and settings with ``employers`` as the employer list."""
    base = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    path.write_text(yaml.safe_dump({**base, "employers": employers}, sort_keys=False))
    return path


class SoakStack(AirflowStack):
    """The Celery stack with short retry delays, quick zombie detection and a short client timeout."""

    def component_env(self) -> dict[str, str]:
        env = super().component_env()
        for name, value in env.items():
            if name.startswith("AIRFLOW_CONN_"):
                spec = json.loads(value)
                spec["extra"] = {**spec.get("extra", {}), "timeout": CLIENT_TIMEOUT}
                env[name] = json.dumps(spec)
        return env

    def worker_args(self) -> list[str]:
        return list(next(p for p in self.procs if p.name.startswith("celery-worker")).popen.args)

    def kill_worker(self) -> None:
        """SIGKILL the running Celery worker's process group (its task processes included)."""
        for proc in self.procs:
            if proc.name.startswith("celery-worker") and proc.popen.poll() is None:
                os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait(timeout=30)
                proc.one_shot = True  # dead on purpose: assert_alive must not report it

    def start_worker(self, index: int, args: list[str]) -> None:
        self.spawn(f"celery-worker-{index}", args)


# ----------------------------------------------------------------------------- simulators

def sim_call(url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def set_faults(urls: dict[str, str], rate: float, seed: int) -> None:
    for i, url in enumerate(urls.values()):
        for j, kind in enumerate(FAULT_KINDS):
            sim_call(url, "/_sim/faults", "POST", {"kind": kind, "rate": rate, "seed": seed * 100 + i * 10 + j,
                                                   "seconds": TIMEOUT_FAULT_SECONDS})


def collect_faults(urls: dict[str, str], into: Counter) -> None:
    """Add the faults each simulator injected, by kind, to ``into``; then clear them."""
    for url in urls.values():
        for fault in sim_call(url, "/_sim/faults"):
            into[fault["kind"]] += fault["hits"]
        sim_call(url, "/_sim/faults", "DELETE")


def change_world(loket_url: str, world: Any, night: int, day: date, per_night: int) -> int:
    """New working hours from ``day`` for ``per_night`` employments (spread over the werkgevers)."""
    emps = [e for wg in world.werkgevers.values() for e in wg.employments if e.end is None]
    step = max(1, len(emps) // max(1, per_night))
    changed = 0
    for emp in emps[night % step::step][:per_night]:
        sim_call(loket_url, "/_sim/loket/change", "POST",
                 {"employment_id": emp.id, "hours_per_week": 20 + night * 2, "start": day.isoformat()})
        changed += 1
    return changed


# ----------------------------------------------------------------------------- the clean side

def clean_night(employers_file: Path, sim_urls: dict[str, str], day: date, data_dir: Path, url: str) -> None:
    """Every employer's run for ``day`` in this process, no faults, into warehouse ``url``."""
    from payroll_etl.config import load_config
    from payroll_etl.connectors.base import SourceCredentials
    from payroll_etl.pipeline import RunContext, run_all

    demo = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())
    config = load_config(employers_file)
    for cfg in config.employers:
        spec = demo[cfg.conn_id]
        creds = SourceCredentials(sim_urls[cfg.connector], spec.get("login"), spec.get("password"),
                                  {**spec.get("extra", {}), "timeout": 30})
        ctx = RunContext(employer=cfg, logical_date=day, airflow_run_id=f"clean__{day.isoformat()}",
                         data_dir=data_dir, warehouse_url=url)
        run_all(ctx, creds, config.dq.model_dump())


# ----------------------------------------------------------------------------- comparison

def _pg(url: str):
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def _rows(conn: Any, relation: str, flag_current: bool) -> tuple[list[str], Counter]:
    cols = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND table_schema = 'public' "
        "ORDER BY ordinal_position", (relation,)).fetchall()]
    keep = [c for c in cols if c not in RUN_COLUMNS]
    select = ", ".join(f'"{c}"::text' for c in keep)
    if flag_current:
        select += ", (superseded_at IS NULL)::text"
    return keep, Counter(conn.execute(f'SELECT {select} FROM "{relation}"').fetchall())


def compare_warehouses(soak_url: str, clean_url: str) -> dict[str, Any]:
    """Row-by-row comparison of the two warehouses, per relation and employer (see module doc)."""
    from payroll_etl.warehouse.schema import ENTITY_TABLES

    out: dict[str, Any] = {"rows_compared": 0, "differences": 0, "by_relation": {}, "by_employer": Counter()}
    with _pg(soak_url) as soak, _pg(clean_url) as clean:
        views = [r[0] for r in soak.execute("SELECT table_name FROM information_schema.views "
                                            "WHERE table_schema = 'public' AND table_name LIKE '%%_current' "
                                            "ORDER BY 1").fetchall()]
        relations = [(name, True) for name in ENTITY_TABLES] + [("mutation", False)] + [(v, False) for v in views]
        for relation, flag in relations:
            cols, a = _rows(soak, relation, flag)
            _, b = _rows(clean, relation, flag)
            diff = (a - b) + (b - a)
            employer_at = cols.index("employer") if "employer" in cols else None
            for row, count in diff.items():
                out["by_employer"][row[employer_at] if employer_at is not None else "?"] += count
            out["by_relation"][relation] = {"soak": sum(a.values()), "clean": sum(b.values()),
                                            "differences": sum(diff.values())}
            out["rows_compared"] += max(sum(a.values()), sum(b.values()))
            out["differences"] += sum(diff.values())
        out["stuck_running"] = soak.execute("SELECT count(*) FROM load_run WHERE status = 'running'").fetchone()[0]
        out["load_runs"] = dict(soak.execute("SELECT status, count(*) FROM load_run GROUP BY 1").fetchall())
        out["duplicate_mutations"] = int(soak.execute(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM mutation GROUP BY connector, employer, "
            "mutation_type, mutation_key, ingangsdatum, coalesce(old_values, ''), new_values HAVING count(*) > 1) d"
        ).fetchone()[0])
    return out


def task_figures(metadata_url: str, cleared_failed: int) -> dict[str, Any]:
    """Task tries from Airflow's metadata DB. Every earlier try of a task instance is a row of
    ``task_instance_history``; the failed ones are Airflow's automatic retries, except the
    ``cleared_failed`` tries a human cleared after the night."""
    with _pg(metadata_url) as conn:
        count = conn.execute("SELECT count(*) FROM task_instance").fetchone()[0]
        history = dict(conn.execute("SELECT coalesce(state, 'none'), count(*) FROM task_instance_history "
                                    "GROUP BY 1").fetchall())
    retries = history.get("failed", 0) + history.get("up_for_retry", 0) - cleared_failed
    return {"task_instances": count, "retries": retries, "earlier_tries_by_state": history}


def failure_reason(stack: SoakStack, dag_id: str, run_id: str, task_id: str) -> str:
    """The exception class of a failed task's last try, from the failure callback's log line."""
    logs = sorted((stack.home / "logs" / "airflow" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}")
                  .glob("attempt=*.log"), key=lambda p: int(p.stem.split("=")[1]))
    for log in reversed(logs):
        found = re.search(r"payroll run failed: dag=\S+ task=\S+ error=(\w+)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
    return "?"


# ----------------------------------------------------------------------------- the soak

def wait_running(stack: SoakStack, timeout: float = 300) -> bool:
    deadline = time.monotonic() + timeout
    with _pg(stack.metadata_url) as conn:
        while time.monotonic() < deadline:
            if conn.execute("SELECT count(*) FROM task_instance WHERE state = 'running'").fetchone()[0] >= 2:
                return True
            time.sleep(0.5)
    return False


def soak(args: argparse.Namespace) -> dict[str, Any]:
    from payroll_etl.warehouse.migrate import upgrade
    from payroll_simulators.scenario import dump_world

    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="payroll-soak-"))
    world, employers = soak_world(args.employers, args.employees, args.seed)
    scenario = home / "world.yaml"
    dump_world(world, scenario, description=f"soak world: {args.employers} werkgevers, seed {args.seed}")
    employers_file = write_employers_file(home / "employers.yaml", employers)
    clean_db = f"payroll_soak_clean_{uuid.uuid4().hex[:8]}"
    clean_url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{clean_db}"
    stack = SoakStack(home / "airflow", employers_file=employers_file, executor="CeleryExecutor",
                      worker_concurrency=args.concurrency)
    stack.sim_world = scenario
    stack.env.update({
        "PAYROLL_RETRY_DELAY_SECONDS": str(args.retry_delay),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "180",
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "300",
    })
    figures: dict[str, Any] = {"employers": args.employers, "nights": args.nights, "rate_per_kind": args.rate,
                               "connectors": dict(Counter(e["connector"] for e in employers))}
    faults: Counter = Counter()
    runs: Counter = Counter()
    human: list[str] = []
    cleared_failed = 0
    with pg_admin() as admin:
        admin.execute(f'CREATE DATABASE "{clean_db}"')
    try:
        upgrade(clean_url)
        stack.start()
        print(f"stack up in {time.monotonic() - started:.0f} s (API {stack.api_url}, home {home})", flush=True)
        dag_ids = [f"payroll_{e['connector']}_{e['employer']}" for e in employers]
        stack.wait_for_dags(dag_ids, timeout=300)
        sims = {name: url for name, url in stack.sim_urls.items() if name in CONNECTORS}
        worker = 1
        for night in range(args.nights):
            day = args.first_night + timedelta(days=night)
            for url in sims.values():
                sim_call(url, "/_sim/faults", "DELETE")
            if night:
                change_world(stack.sim_urls["loket_rest"], world, night, day, args.changes)
            t0 = time.monotonic()
            clean_night(employers_file, stack.sim_urls, day, home / "clean-data", clean_url)
            print(f"night {day}: clean run of {len(dag_ids)} employers in {time.monotonic() - t0:.0f} s", flush=True)
            t0 = time.monotonic()
            set_faults(sims, args.rate, args.seed + night)
            night_runs = {dag_id: stack.trigger(dag_id, f"{day.isoformat()}T01:00:00Z") for dag_id in dag_ids}
            if night == args.kill_night and wait_running(stack):
                worker_args = stack.worker_args()
                stack.kill_worker()
                figures["worker_killed"] = f"night {day}, worker {worker}"
                time.sleep(2)
                worker += 1
                stack.start_worker(worker, worker_args)
            states = stack.wait_for_runs(night_runs, timeout=args.night_timeout)
            collect_faults(sims, faults)  # faults off: what follows is the morning after
            runs.update(states.values())
            failed = [d for d, s in states.items() if s != "success"]
            print(f"night {day}: {len(night_runs)} runs in {time.monotonic() - t0:.0f} s: "
                  f"{dict(Counter(states.values()))}", flush=True)
            for dag_id in failed:
                tasks = [t for t, s in stack.task_states(dag_id, night_runs[dag_id]).items() if s == "failed"]
                cleared_failed += len(tasks)
                human.append(f"{day} {dag_id} " + ", ".join(
                    f"{t}: {failure_reason(stack, dag_id, night_runs[dag_id], t)}" for t in tasks))
                stack.request("POST", f"/api/v2/dags/{dag_id}/clearTaskInstances",
                              {"dry_run": False, "dag_run_id": night_runs[dag_id], "only_failed": True,
                               "reset_dag_runs": True})
            if failed:
                again = stack.wait_for_runs({d: night_runs[d] for d in failed}, timeout=args.night_timeout)
                figures.setdefault("after_human_rerun", Counter()).update(again.values())
        figures["runs"] = dict(runs)
        figures["faults_injected"] = dict(faults)
        figures["tasks"] = task_figures(stack.metadata_url, cleared_failed)
        figures["failures_needing_a_human"] = len(human)
        figures["human_detail"] = human
        figures["comparison"] = compare_warehouses(stack.warehouse_url, clean_url)
    except BaseException:
        print(stack.diagnostics(), flush=True)
        raise
    finally:
        stack.stop()
        with pg_admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{clean_db}" WITH (FORCE)')
    figures["minutes"] = round((time.monotonic() - started) / 60, 1)
    return figures


def report(f: dict[str, Any]) -> str:
    """The printed figures (docs/operations.md "Soak under faults" shows a full-size run's)."""
    cmp = f["comparison"]
    lines = [
        f"soak: {f['employers']} employers {f['connectors']}, {f['nights']} nights, "
        f"fault rate {f['rate_per_kind']} per kind per request, {f['minutes']} min",
        f"runs                      {sum(f['runs'].values())} {f['runs']}",
        f"faults injected           {sum(f['faults_injected'].values())} {f['faults_injected']}",
        f"worker killed             {f.get('worker_killed', 'no')}",
        f"task retries (automatic)  {f['tasks']['retries']} (earlier tries by state "
        f"{f['tasks']['earlier_tries_by_state']}; {f['tasks']['task_instances']} task instances)",
        f"failures needing a human  {f['failures_needing_a_human']}"
        + (f" (after the rerun: {dict(f['after_human_rerun'])})" if f.get("after_human_rerun") else ""),
    ]
    lines += [f"    {line}" for line in f["human_detail"]]
    lines += [
        f"load_run by status        {cmp['load_runs']}, stuck in running: {cmp['stuck_running']}",
        f"duplicate mutations       {cmp['duplicate_mutations']}",
        f"rows compared             {cmp['rows_compared']}",
        f"differences               {cmp['differences']}"
        + (f" by employer {dict(cmp['by_employer'])}" if cmp["differences"] else ""),
    ]
    lines += [f"    {name:<24} soak {v['soak']:>6}  clean {v['clean']:>6}  differences {v['differences']}"
              for name, v in cmp["by_relation"].items()]
    return "\n".join(lines)


def ok(f: dict[str, Any]) -> bool:
    cmp = f["comparison"]
    return cmp["differences"] == 0 and cmp["stuck_running"] == 0 and cmp["duplicate_mutations"] == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--employers", type=int, default=50)
    parser.add_argument("--employees", type=int, default=8, help="employees per werkgever")
    parser.add_argument("--nights", type=int, default=3)
    parser.add_argument("--first-night", type=date.fromisoformat, default=date(2026, 11, 21))
    parser.add_argument("--rate", type=float, default=0.005, help="probability per request, per fault kind")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--kill-night", type=int, default=1, help="0-based night whose worker is killed; -1: none")
    parser.add_argument("--changes", type=int, default=10, help="working-hours changes between nights")
    parser.add_argument("--concurrency", type=int, default=4, help="Celery worker slots")
    parser.add_argument("--retry-delay", type=float, default=3.0, help="seconds before a task's first retry")
    parser.add_argument("--night-timeout", type=float, default=1800)
    parser.add_argument("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    figures = soak(args)
    print(report(figures), flush=True)
    if args.json:
        args.json.write_text(json.dumps(figures, default=str, indent=2))
    return 0 if ok(figures) else 1


if __name__ == "__main__":
    sys.exit(main())
