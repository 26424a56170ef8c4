"""Scale figures for issues 8 and 18: DAG parse time, a 200-employer nightly, per-step memory of a big employer.

1. Parse time, as Airflow parses it (``DagBag`` in a fresh process): ``dags/`` with 1,000
   configured employers in one file (goal < 2 s), and 10,000 employers as 16 shard files
   (goal: every file < 2 s, all files < 15 s).
2. A nightly of 200 employers against the Loket REST simulator with 50 ms latency per call.
   The API pool (``payroll_loket_rest``) bounds it, so the extract step of every employer runs in a
   thread pool of exactly that many slots, in-process, without Airflow. Compared with the lower
   bound calls x latency / slots (goal <= 1.2x). Then the same nightly, scaled down to 16
   employers, through real Airflow task execution (bench/nightly_airflow.py: a LocalExecutor
   stack, every task its own process), against the same bound with the real slot count.
3. Peak RSS and rows/s of each step (extract, normalize, validate, load) of one employer's run,
   every step in its own fresh process as Airflow runs tasks. Goal < 1 GB per step at 20,000
   employees (the default size) and < 2 GB at 100,000 (opt-in: PAYROLL_BENCH_LARGE=1).

The simulators run in their own process behind uvicorn with HTTP keep-alive (werkzeug's
development server closes every connection; PAYROLL_BENCH_SIM_SERVER=werkzeug brings it back)
and a GIL switch interval of 0.5 ms (PAYROLL_BENCH_SIM_SWITCH_INTERVAL; CPython's default is 0.005).

Knobs (environment): PAYROLL_BENCH_PARSE_EMPLOYERS (1000), PAYROLL_BENCH_PARSE_LARGE (10000; 0 skips),
PAYROLL_BENCH_PARSE_SHARDS (16), PAYROLL_BENCH_PARSE_LARGE_RUNS (2), PAYROLL_BENCH_NIGHTLY_EMPLOYERS (200),
PAYROLL_BENCH_EMPLOYEES_EACH (5), PAYROLL_BENCH_LATENCY (0.05), PAYROLL_BENCH_AIRFLOW_EMPLOYERS (16; 0 skips),
PAYROLL_BENCH_AIRFLOW_BIG_EMPLOYEES (0; e.g. 200 adds the real-Airflow nightly with that many employees each),
PAYROLL_BENCH_MEMORY_EMPLOYEES (20000), PAYROLL_BENCH_LARGE=1 (adds PAYROLL_BENCH_MEMORY_LARGE, 100000),
PAYROLL_BENCH_SKIP (comma list of parse,nightly,airflow,memory).
The warehouse is a throw-away PostgreSQL database on 127.0.0.1:5432 when reachable, else a DuckDB file.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "include"))
BENCH_USER, BENCH_PASSWORD = "bench@example.nl", "bench"
NIGHTLY = date(2026, 11, 23)


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# ----------------------------------------------------------------------------- 1. parse time

def employers_file(n: int, path: Path) -> Path:
    base = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    connectors = ("loket_rest", "nmbrs", "loket_soap")
    employers = []
    for i in range(n):
        connector = connectors[i % 3]
        key = f"employer_{i:04d}"
        employers.append({"employer": key, "name": f"Employer {i} B.V.", "connector": connector,
                          "source_ids": [str(uuid.uuid5(uuid.NAMESPACE_URL, key))],
                          "conn_id": f"payroll_{connector}_{key}",
                          **({"payroll_frequency": "four_weeks"} if i % 5 == 0 else {})})
    path.write_text(yaml.safe_dump({**base, "employers": employers}, sort_keys=False))
    return path


PARSE_CODE = """
import json, sys, time
started = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
imported = time.perf_counter()
cpu = time.process_time()
bag = DagBag(dag_folder=sys.argv[1])
done = time.perf_counter()
stats = bag.dagbag_stats
print(json.dumps({"dags": len(bag.dags), "errors": len(bag.import_errors), "airflow_import_s": imported - started,
                  "cpu_s": time.process_time() - cpu,
                  "dagbag_s": done - imported, "file_s": sum(s.duration.total_seconds() for s in stats),
                  "max_file_s": max(s.duration.total_seconds() for s in stats), "files": len(stats)}))
"""
SHARD_FILE = """from payroll_etl.airflow.dag_factory import dag_file

globals().update(dag_file(shard={shard}, shards={shards}))
"""


def _parse_once(folder: Path, env: dict[str, str], one_process: bool) -> dict[str, Any]:
    """One DagBag parse of ``folder`` in a fresh process, or (``one_process=False``) one fresh process
    per file, as Airflow's DAG processor parses each file: nothing is shared between files but the
    parsed-config cache on disk (payroll_etl/config/loader.py)."""
    files = [folder] if one_process else sorted(folder.glob("*.py"))
    runs = [json.loads(subprocess.run([sys.executable, "-c", PARSE_CODE, str(f)], env=env, cwd=ROOT,
                                      capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            for f in files]
    return {"dags": sum(r["dags"] for r in runs), "errors": sum(r["errors"] for r in runs),
            "airflow_import_s": max(r["airflow_import_s"] for r in runs), "files": sum(r["files"] for r in runs),
            "cpu_s": sum(r["cpu_s"] for r in runs), "max_cpu_s": max(r["cpu_s"] for r in runs),
            "file_s": sum(r["file_s"] for r in runs), "max_file_s": max(r["max_file_s"] for r in runs)}


def parse_time(n: int, shards: int = 1, runs: int = 3) -> dict[str, Any]:
    """DagBag parses of dags/ (shards=1) or of ``shards`` files each building a slice.

    The first run starts with an empty parsed-config cache (what the first parse after an edit of
    employers.yaml costs: ``cold``); the best of the later runs is the steady state (the DAG
    processor re-parses every file every 30 s while the file is unchanged). Shard files are parsed
    one process per file, as the DAG processor does.
    """
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as tmp:
        path = employers_file(n, Path(tmp) / "employers.yaml")
        folder = ROOT / "dags"
        if shards > 1:
            folder = Path(tmp) / "dags"
            folder.mkdir()
            for i in range(shards):
                (folder / f"payroll_dags_{i:02d}.py").write_text(SHARD_FILE.format(shard=i, shards=shards))
        env = {**os.environ, "PAYROLL_EMPLOYERS_FILE": str(path), "AIRFLOW_HOME": tmp,
               "PAYROLL_DATA_DIR": str(Path(tmp) / "data"),
               "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
               "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp}/airflow.db"}
        results = [_parse_once(folder, env, one_process=shards == 1) for _ in range(max(2, runs))]
    best = min(results[1:], key=lambda r: r["file_s"])  # the machine is shared: best of the warm runs
    return {**best, "cold": results[0]}


# -------------------------------------------------------------------------- simulators

def _serve(kind: str, n: int, employees: int, queue: Any, stop: Any) -> None:
    """Child process: build the world and serve one simulator until ``stop`` is set."""
    import logging

    from payroll_simulators.server import serve_in_thread
    from payroll_simulators.world import WerkgeverSpec, build_world

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    # One CPython process answers 8 concurrent clients: a thread waking for the GIL waits up to the
    # switch interval (5 ms) behind another request's JSON work. A real API is not one interpreter;
    # measured 2026-11-30, 5 ms -> 0.5 ms took the in-process nightly from 1.37x to 1.30x.
    sys.setswitchinterval(float(os.environ.get("PAYROLL_BENCH_SIM_SWITCH_INTERVAL", "0.0005")))
    keys = tuple(f"bench_{i:04d}" for i in range(n))
    world = build_world(seed=7, specs=tuple(WerkgeverSpec(k, f"Bench {k} B.V.", employees, "month") for k in keys))
    # World.person() scans the employer's persons (O(n) per call, O(n^2) for a 20,000-employee run):
    # index them, so the simulator is not what the benchmark measures.
    persons = {(wg.id, p.id): p for wg in world.werkgevers.values() for p in wg.persons}
    world.person = lambda werkgever_id, person_id: persons[(werkgever_id, person_id)]  # type: ignore[method-assign]
    if kind == "loket_rest":
        from payroll_simulators.loket_rest.app import User, create_app

        app = create_app(world)
        app.users[BENCH_USER] = User(BENCH_USER, BENCH_PASSWORD, keys)
    else:
        raise ValueError(kind)
    if os.environ.get("PAYROLL_BENCH_SIM_SERVER", "uvicorn") == "werkzeug":
        server = serve_in_thread(f"bench-{kind}", app)
        queue.put(server.url)
        stop.wait()
        server.stop()
        return
    queue.put(_serve_keepalive(app, stop))
    stop.wait()


def _serve_keepalive(app: Any, stop: Any) -> str:
    """Serve the WSGI ``app`` with uvicorn (through a2wsgi, both Airflow dependencies) in a thread.

    Werkzeug's development server answers every request with ``Connection: close``: each call
    then pays a TCP connect and a server thread of its own (≈3 ms of the ≈10 ms a call cost on
    top of the injected latency, measured 2026-11-30), which a real API behind HTTPS keep-alive
    does not charge; ``requests.Session`` reuses connections when the server lets it. A watcher
    thread stops the server when ``stop`` is set. Returns the URL."""
    import socket
    import threading

    import uvicorn
    from a2wsgi import WSGIMiddleware

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it; without it every keep-alive response waits ≈40 ms for a delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(WSGIMiddleware(app, workers=32), log_level="warning", access_log=False,
                            lifespan="off", timeout_keep_alive=30, backlog=256)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    threading.Thread(target=lambda: (stop.wait(), setattr(server, "should_exit", True)), daemon=True).start()
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


SIM_PIDS: dict[str, int] = {}  # simulator URL -> its process id (for its CPU time)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds process ``pid`` used so far (Linux ``/proc``; nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def simulator(kind: str, n: int, employees: int) -> Iterator[str]:
    """A simulator in its own process (no GIL shared with the pipeline); yields its URL."""
    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve, args=(kind, n, employees, queue, stop), daemon=True)
    proc.start()
    try:
        url = queue.get(timeout=600)
        SIM_PIDS[url] = proc.pid
        yield url
    finally:
        stop.set()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()


def _sim(url: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{url}{path}", data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read()
    return json.loads(text) if text else None


# The nightly's bound (calls x latency / slots) assumes one call in flight per extract: its employers
# fetch their per-employee BSNs one after another (Loket REST's default is 4 at a time, which would
# make the bound too high and flatter the ratio). The memory run keeps the default.
NIGHTLY_OPTIONS = {"max_concurrent_requests": 1}


def bench_employers(n: int, options: dict[str, Any] | None = None) -> list[Any]:
    """``n`` Loket REST employer configs ``bench_0000``… with ``options`` (the connector's defaults when None)."""
    from payroll_etl.config import EmployerConfig
    from payroll_simulators.world import stable_id

    keys = [f"bench_{i:04d}" for i in range(n)]
    return [EmployerConfig(k, f"Bench {k} B.V.", "loket_rest", (stable_id("werkgever", k),), f"payroll_loket_rest_{k}",
                           options=options or {})
            for k in keys]


def load_pool_slots(pool: str) -> int:
    """Slots of an Airflow pool as employers.yaml configures it (``pools``)."""
    from payroll_etl.config import load_config

    return load_config().pools[pool]


def credentials(url: str) -> Any:
    from payroll_etl.connectors.base import SourceCredentials

    extra = {"connector": "loket_rest", "client_id": "benefits-etl-demo", "client_secret": "demo-secret"}
    return SourceCredentials(url, BENCH_USER, BENCH_PASSWORD, extra)


@contextmanager
def warehouse(tmp: Path) -> Iterator[str]:
    """A throw-away PostgreSQL database (dropped afterwards), else a DuckDB file; schema migrated."""
    from payroll_etl.warehouse.migrate import upgrade

    name = f"payroll_bench_{uuid.uuid4().hex[:8]}"
    admin = None
    try:
        import psycopg

        admin = psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True,
                                connect_timeout=3)
        admin.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    except Exception:  # noqa: BLE001 - no PostgreSQL here: DuckDB
        url = f"duckdb:///{tmp / 'warehouse.duckdb'}"
    try:
        upgrade(url)
        yield url
    finally:
        if admin is not None:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()


# ------------------------------------------------------------------------- 2. 200 employers

def _migrate_once() -> None:
    """``extract`` starts with ``upgrade(warehouse)``, a no-op check once the schema is current.
    The benchmark migrates up front and skips the repeated check: it is not a source call, and
    Alembic keeps its context in module globals, so concurrent ``upgrade()`` calls in one process
    break (``KeyError: 'config'``); in Airflow every task is its own process."""
    import threading

    from payroll_etl.warehouse import migrate

    if getattr(migrate.upgrade, "_bench_once", False):
        return
    lock, real, done = threading.Lock(), migrate.upgrade, set()

    def upgrade(url: str, revision: str = "head") -> None:
        with lock:
            if (url, revision) not in done:
                real(url, revision)
                done.add((url, revision))

    upgrade._bench_once = True  # type: ignore[attr-defined]
    migrate.upgrade = upgrade


def _serve_noop(latency: float, queue: Any, stop: Any) -> None:
    """Child process: a WSGI app that only sleeps ``latency`` s and answers ``{}``, served as the simulators are."""

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        time.sleep(latency)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]

    queue.put(_serve_keepalive(app, stop))
    stop.wait()


def harness_floor(latency: float, slots: int, calls_each: int = 60) -> float:
    """The ratio to calls x latency / slots that ``slots`` threads of bare ``requests.Session`` GETs
    reach against a server that does nothing but wait ``latency``: what this machine and harness
    cost per call before any pipeline or simulator work (context switches, the GIL, the load)."""
    import requests

    ctx = multiprocessing.get_context("spawn")
    queue, stop = ctx.Queue(), ctx.Event()
    proc = ctx.Process(target=_serve_noop, args=(latency, queue, stop), daemon=True)
    proc.start()
    try:
        url = queue.get(timeout=120)

        def client(_: int) -> None:
            with requests.Session() as session:
                for _ in range(calls_each):
                    session.get(url, timeout=30)

        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=slots) as pool:
            list(pool.map(client, range(slots)))
        return (time.perf_counter() - started) / (calls_each * latency)
    finally:
        stop.set()
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()


def nightly(n: int, employees: int, latency: float) -> dict[str, Any]:
    from payroll_etl import pipeline
    from payroll_etl.config import load_config

    slots = load_config().pools["payroll_loket_rest"]
    _migrate_once()
    with tempfile.TemporaryDirectory(prefix="bench-nightly-") as tmp, simulator("loket_rest", n, employees) as url, \
            warehouse(Path(tmp)) as wh:
        _sim(url, "/_sim/latency", "POST", {"seconds": latency})
        creds = credentials(url)
        contexts = [pipeline.RunContext(e, NIGHTLY, data_dir=Path(tmp) / "data", warehouse_url=wh, today=NIGHTLY)
                    for e in bench_employers(n, NIGHTLY_OPTIONS)]
        _sim(url, "/_sim/calls", "DELETE")
        started, cpu, sim_cpu = time.perf_counter(), time.process_time(), cpu_seconds(SIM_PIDS[url])
        with ThreadPoolExecutor(max_workers=slots) as pool:  # = the Airflow pool's slots
            summaries = list(pool.map(lambda ctx: pipeline.extract(ctx, creds), contexts))
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        sim_cpu = cpu_seconds(SIM_PIDS[url]) - sim_cpu
        calls = sum(_sim(url, "/_sim/calls").values())
    bound = calls * latency / slots
    return {"employers": n, "employees_each": employees, "slots": slots, "latency": latency, "calls": calls,
            "connector_calls": sum(s["calls"] for s in summaries), "wall_s": wall, "bound_s": bound,
            "cpu_per_extract_s": cpu / n, "simulator_cpu_s": sim_cpu, "floor": harness_floor(latency, slots),
            "ratio": wall / bound if bound else float("nan")}


# ---------------------------------------------------------------------------- 3. peak memory

STEP_CODE = """
import json, resource, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[5])
import bench_scale as b
from payroll_etl import pipeline
step = sys.argv[1]
ctx = pipeline.RunContext(b.bench_employers(1)[0], b.NIGHTLY, data_dir=Path(sys.argv[3]), warehouse_url=sys.argv[4],
                          today=b.NIGHTLY)
t = time.perf_counter()
out = pipeline.extract(ctx, b.credentials(sys.argv[2])) if step == "extract" else (
    pipeline.validate(ctx, {}) if step == "validate" else getattr(pipeline, step)(ctx))
seconds = time.perf_counter() - t
import pyarrow.parquet as pq
rows = sum(pq.ParquetFile(p).metadata.num_rows for p in ctx.staging.glob("entity=*.parquet"))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"seconds": seconds, "peak_rss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime,
                  "rows": rows, "out": out if step == "normalize" else None}, default=str))
"""
STEPS = ("extract", "normalize", "validate", "load")


def peak_memory(employees: int) -> dict[str, Any]:
    """Each step of one employer's run in its own fresh process, as Airflow runs tasks.

    Returns per step: seconds, peak RSS (MB, ``ru_maxrss`` of that process), CPU seconds of that
    process (whole process, start-up included) and of the simulator meanwhile, and rows per second
    (rows in the staged tables; extract: the rows normalize then finds in its landing)."""
    steps: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp, simulator("loket_rest", 1, employees) as url, \
            warehouse(Path(tmp)) as wh:
        for step in STEPS:
            sim_cpu = cpu_seconds(SIM_PIDS[url])
            out = subprocess.run([sys.executable, "-c", STEP_CODE, step, url, str(Path(tmp) / "data"), wh,
                                  str(Path(__file__).parent)], cwd=ROOT, capture_output=True, text=True)
            if out.returncode != 0:
                return {"employees": employees, "steps": steps,
                        "error": f"{step}: {out.stderr.strip().splitlines()[-1][:300] if out.stderr else '?'}"}
            steps[step] = json.loads(out.stdout.strip().splitlines()[-1])
            steps[step]["simulator_cpu_s"] = cpu_seconds(SIM_PIDS[url]) - sim_cpu
    rows = steps["normalize"]["rows"]
    for r in steps.values():
        r["rows"] = rows
        r["mb"] = r["peak_rss_kb"] / 1024
        r["rows_per_s"] = rows / r["seconds"] if r["seconds"] else float("nan")
    return {"employees": employees, "steps": steps, "error": None, "rows": rows,
            "rows_by_entity": steps["normalize"]["out"]["rows"]}


def _target(value: float, goal: float, lower_is_better: bool = True) -> str:
    ok = value <= goal if lower_is_better else value >= goal
    return "met" if ok else "MISSED"


def main() -> None:
    import logging

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")
    sys.path.insert(0, str(Path(__file__).parent))  # nightly_airflow
    skip = set(filter(None, os.environ.get("PAYROLL_BENCH_SKIP", "").split(",")))
    if "parse" not in skip:
        n = _int("PAYROLL_BENCH_PARSE_EMPLOYERS", 1000)
        r = parse_time(n)
        print(f"parse: dags/ (one file) with {n} employers -> {r['dags']} DAGs, {r['errors']} import errors; "
              f"DagBag file parse {r['file_s']:.2f} s / goal 2 s = {r['file_s'] / 2:.2f} "
              f"[{_target(r['file_s'], 2)}] (CPU {r['cpu_s']:.2f} s; first parse after an edit, cache cold: "
              f"{r['cold']['file_s']:.2f} s; import airflow {r['airflow_import_s']:.2f} s before that)", flush=True)
        big, shards = _int("PAYROLL_BENCH_PARSE_LARGE", 10000), _int("PAYROLL_BENCH_PARSE_SHARDS", 16)
        if big and shards > 1:
            r = parse_time(big, shards, runs=_int("PAYROLL_BENCH_PARSE_LARGE_RUNS", 2))
            print(f"parse: {big} employers as {r['files']} shard files (dag_file(shard=i, shards={shards}), one "
                  f"process per file) -> {r['dags']} DAGs, {r['errors']} import errors; slowest file "
                  f"{r['max_file_s']:.2f} s / goal 2 s = {r['max_file_s'] / 2:.2f} [{_target(r['max_file_s'], 2)}]; "
                  f"all files {r['file_s']:.2f} s / goal 15 s = {r['file_s'] / 15:.2f} [{_target(r['file_s'], 15)}] "
                  f"(CPU: slowest file {r['max_cpu_s']:.2f} s, all {r['cpu_s']:.2f} s; first parse after an edit, "
                  f"cache cold: slowest {r['cold']['max_file_s']:.2f} s, all {r['cold']['file_s']:.2f} s)", flush=True)
    if "nightly" not in skip:
        r = nightly(_int("PAYROLL_BENCH_NIGHTLY_EMPLOYERS", 200), _int("PAYROLL_BENCH_EMPLOYEES_EACH", 5),
                    float(os.environ.get("PAYROLL_BENCH_LATENCY", "0.05")))
        print(f"nightly (in-process): {r['employers']} Loket REST employers x {r['employees_each']} employees, "
              f"{r['latency'] * 1000:.0f} ms per call, {r['slots']} pool slots (extract steps in a thread pool of "
              f"that size, no Airflow): {r['calls']} calls in {r['wall_s']:.1f} s; bound calls x latency / "
              f"slots = {r['bound_s']:.1f} s; ratio {r['ratio']:.2f}x (goal <= 1.2x) [{_target(r['ratio'], 1.2)}]; "
              f"CPU of the pipeline process {r['cpu_per_extract_s'] * 1000:.0f} ms per extract (its calls' wait "
              f"{r['calls'] / r['employers'] * r['latency'] * 1000:.0f} ms); the simulator process used "
              f"{r['simulator_cpu_s']:.1f} s CPU ({r['simulator_cpu_s'] / max(r['calls'], 1) * 1000:.1f} ms per call) "
              f"and the machine's load average was {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; harness floor "
              f"(bare GETs against a server that only waits the latency, same threads) {r['floor']:.2f}x", flush=True)
        airflow_n = _int("PAYROLL_BENCH_AIRFLOW_EMPLOYERS", 16)
        if airflow_n and "airflow" not in skip:
            import nightly_airflow

            latency = float(os.environ.get("PAYROLL_BENCH_LATENCY", "0.05"))
            try:
                r = nightly_airflow.nightly_airflow(airflow_n, _int("PAYROLL_BENCH_EMPLOYEES_EACH", 5), latency)
            except Exception as exc:  # noqa: BLE001 - e.g. no PostgreSQL for the metadata DB: the rest still runs
                print(f"nightly (real Airflow): not measured (goal <= 1.2x) [MISSED]: {type(exc).__name__}: "
                      f"{str(exc).splitlines()[0][:300] if str(exc) else ''}", flush=True)
            else:
                print(nightly_airflow.report(r), flush=True)
            # Beside it (opt-in, ~2 minutes): the same with bigger employers, more calls per extract task,
            # so the fixed start-up of a task weighs less against its calls (docs/operations.md "Nightly").
            big = _int("PAYROLL_BENCH_AIRFLOW_BIG_EMPLOYEES", 0)
            if big:
                try:
                    r = nightly_airflow.nightly_airflow(airflow_n, big, latency)
                except Exception as exc:  # noqa: BLE001 - as above
                    print(f"nightly (real Airflow, {big} employees each): not measured: {exc!s:.300}", flush=True)
                else:
                    print(nightly_airflow.report(r), flush=True)
    if "memory" not in skip:
        sizes = [_int("PAYROLL_BENCH_MEMORY_EMPLOYEES", 20000)]
        if os.environ.get("PAYROLL_BENCH_LARGE") == "1" or os.environ.get("PAYROLL_BENCH_MEMORY_LARGE"):
            sizes.append(_int("PAYROLL_BENCH_MEMORY_LARGE", 100000))
        for employees in sizes:
            goal_mb = 1024 if employees <= 20000 else 2048
            r = peak_memory(employees)
            print(f"memory: one employer with {employees} employees, each step in its own process "
                  f"(goal < {goal_mb} MB per step at {'20,000' if goal_mb == 1024 else '100,000'} employees)"
                  + (f"; rows {r['rows_by_entity']}" if r.get("rows_by_entity") else ""), flush=True)
            for step, s in r["steps"].items():
                print(f"  {employees} employees {step:9} {s['seconds']:7.1f} s  peak RSS {s['mb']:6.0f} MB / goal "
                      f"{goal_mb} MB = {s['mb'] / goal_mb:.2f} [{_target(s['mb'], goal_mb)}]  "
                      f"{s['rows_per_s']:>9,.0f} rows/s  CPU {s.get('cpu_s', float('nan')):6.1f} s (simulator "
                      f"{s.get('simulator_cpu_s', float('nan')):.1f} s)", flush=True)
            if r["error"]:
                print(f"  STOPPED at {r['error']} [MISSED]", flush=True)


if __name__ == "__main__":
    main()
