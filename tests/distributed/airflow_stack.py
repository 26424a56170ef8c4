"""A real distributed Airflow stack as local processes: the docker-compose topology without Docker.

``AirflowStack`` starts, each in its own process group, the payroll simulators, the Airflow
API server, scheduler, dag-processor, triggerer and a Celery worker, against

* a fresh PostgreSQL database for Airflow's metadata (created here, dropped on ``stop()``),
* a fresh PostgreSQL database for the benefits warehouse,
* the machine's Redis as Celery broker, on a dedicated DB number and a queue of its own, so
  parallel runs of other checkouts never pick up our tasks.

Everything it started is stopped in ``stop()``, also when a start step failed.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
PG_HOST = os.environ.get("PAYROLL_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("PAYROLL_TEST_PG_PORT", "5432"))
REDIS_HOST = os.environ.get("PAYROLL_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PAYROLL_TEST_REDIS_PORT", "6379"))
# Redis DB reserved for this test (others use 0..): flushed before and after the run.
REDIS_DB = int(os.environ.get("PAYROLL_TEST_REDIS_DB", "13"))
ADMIN_USER, ADMIN_PASSWORD = "admin", "distributed-test"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_admin():
    import psycopg

    return psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", autocommit=True,
                           connect_timeout=5)


def redis_ping(db: int = REDIS_DB) -> None:
    """Raise if Redis does not answer PING (plain RESP over a socket: no client needed)."""
    with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=3) as s:
        s.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(str(db))}\r\n{db}\r\n*1\r\n$4\r\nPING\r\n".encode())
        reply = b""
        while b"PONG" not in reply:
            chunk = s.recv(1024)
            if not chunk:
                raise ConnectionError(f"Redis at {REDIS_HOST}:{REDIS_PORT} closed the connection: {reply!r}")
            reply += chunk
            if reply.startswith(b"-"):
                raise ConnectionError(f"Redis refused: {reply!r}")


def redis_flushdb(db: int = REDIS_DB) -> None:
    import redis

    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db, socket_timeout=5).flushdb()


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    one_shot: bool = False  # a command that exits (init, CLI calls), not a component that must stay up


@dataclass
class AirflowStack:
    home: Path
    employers_file: Path | None = None
    worker_concurrency: int = 4
    procs: list[Proc] = field(default_factory=list)
    databases: list[str] = field(default_factory=list)
    api_port: int = field(default_factory=free_port)
    sim_urls: dict[str, str] = field(default_factory=dict)
    token: str | None = None

    def __post_init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.metadata_db = f"payroll_af_{tag}"
        self.warehouse_db = f"payroll_wh_{tag}"
        self.queue = f"payroll_dist_{tag}"
        self.logs = self.home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.home / "data"
        self.warehouse_url = f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{self.warehouse_db}"
        self.api_url = f"http://127.0.0.1:{self.api_port}"

    # ------------------------------------------------------------------ environment
    @property
    def env(self) -> dict[str, str]:
        metadata = f"postgres@{PG_HOST}:{PG_PORT}/{self.metadata_db}"
        passwords = self.home / "simple_auth_manager_passwords.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PAYROLL_"))}
        env.update({
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",  # the Connections page's "Test" button
            "AIRFLOW__CORE__FERNET_KEY": _FERNET,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API_AUTH__JWT_SECRET": _JWT_SECRET,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg://{metadata}",
            # asyncpg is not installed: psycopg 3 serves the async engine too.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": f"postgresql+psycopg://{metadata}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{metadata}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(self.worker_concurrency),
            "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.queue,
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs / "airflow"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Fast loops: a test, not a fleet.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "10",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            # Only the runs the test triggers: unpausing must not add the cron's own latest run.
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
            "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
            "AIRFLOW__API__WORKERS": "1",
            "PAYROLL_WAREHOUSE_URL": self.warehouse_url,
            "PAYROLL_DATA_DIR": str(self.data_dir),
            "PYTHONUNBUFFERED": "1",
            "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        })
        if self.employers_file:
            env["PAYROLL_EMPLOYERS_FILE"] = str(self.employers_file)
        return env

    # ------------------------------------------------------------------ processes
    def spawn(self, name: str, args: list[str]) -> Proc:
        log = self.logs / f"{name}.log"
        fh = open(log, "ab")  # noqa: SIM115 - owned by the child process
        popen = subprocess.Popen(args, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def run(self, name: str, args: list[str], timeout: float = 180) -> None:
        proc = self.spawn(name, args)
        proc.one_shot = True
        try:
            rc = proc.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            raise RuntimeError(f"{name} did not finish within {timeout:.0f} s\n{tail(proc.log)}") from None
        if rc != 0:
            raise RuntimeError(f"{name} exited with {rc}\n{tail(proc.log)}")

    def start(self) -> None:
        redis_ping()
        redis_flushdb()
        with pg_admin() as conn:
            for name in (self.metadata_db, self.warehouse_db):
                conn.execute(f'CREATE DATABASE "{name}"')
                self.databases.append(name)
        (self.home / "simple_auth_manager_passwords.json").write_text(json.dumps({ADMIN_USER: ADMIN_PASSWORD}))
        self._start_simulators()
        # The compose file's init step, with the stock CLI: migrate, pools from employers.yaml,
        # Connections (the demo ones, re-pointed at the simulators' free ports), warehouse schema.
        pools, conns = self.home / "pools.json", self.home / "connections.json"
        pools.write_text(json.dumps(self._pools()))
        conns.write_text(json.dumps(self._connections()))
        airflow = str(VENV_BIN / "airflow")
        self.run("init", ["bash", "-ec", f"'{airflow}' db migrate; '{airflow}' pools import '{pools}'; "
                                          f"'{airflow}' connections import --overwrite '{conns}'; "
                                          # the warehouse schema too: tasks must not race to create it
                                          f"'{sys.executable}' -m payroll_etl.warehouse.migrate"])
        self.spawn("api-server", [airflow, "api-server", "--port", str(self.api_port), "--host", "127.0.0.1"])
        self.spawn("scheduler", [airflow, "scheduler"])
        self.spawn("dag-processor", [airflow, "dag-processor"])
        self.spawn("triggerer", [airflow, "triggerer"])  # runs deadline-alert callbacks
        self.spawn("celery-worker", [airflow, "celery", "worker", "--queues", self.queue, "--concurrency",
                                     str(self.worker_concurrency), "--skip-serve-logs", "--without-gossip",
                                     "--without-mingle", "--celery-hostname", f"{self.queue}@%h"])
        self._wait_api()

    def _start_simulators(self) -> None:
        ports = {name: free_port() for name in ("loket_rest", "loket_soap", "nmbrs")}
        code = ("import signal, sys, threading\n"
                "from payroll_simulators.__main__ import start_all\n"
                f"servers = start_all(None, {ports!r})\n"
                "[print(s.name, s.url, flush=True) for s in servers]\n"
                "print('ready', flush=True)\n"
                "stop = threading.Event(); signal.signal(signal.SIGTERM, lambda *_: stop.set()); stop.wait()\n"
                "[s.stop() for s in servers]\n")
        proc = self.spawn("simulators", [sys.executable, "-c", code])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = proc.log.read_text() if proc.log.exists() else ""
            if "ready" in text.splitlines():
                for line in text.splitlines():
                    parts = line.split()
                    if len(parts) == 2 and parts[0] in ports:
                        self.sim_urls[parts[0]] = parts[1]
                return
            if proc.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"simulators did not start\n{tail(proc.log)}")

    def _pools(self) -> dict[str, dict[str, Any]]:
        from payroll_etl.config import load_config

        config = load_config(self.employers_file)
        return {name: {"slots": slots, "description": f"Concurrent calls to {name.removeprefix('payroll_')}",
                       "include_deferred": False} for name, slots in config.pools.items()}

    def _connections(self) -> dict[str, dict[str, Any]]:
        import yaml

        specs = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())
        out = {}
        for conn_id, spec in specs.items():
            out[conn_id] = {"conn_type": spec.get("conn_type", "http"),
                            "host": self.sim_urls[spec["extra"]["connector"]], "login": spec.get("login"),
                            "password": spec.get("password"), "extra": json.dumps(spec.get("extra", {}))}
        return out

    def _wait_api(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.assert_alive()
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=5) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(1)
        raise RuntimeError(f"API server not healthy after {timeout:.0f} s\n{self.diagnostics()}")

    def assert_alive(self) -> None:
        for proc in self.procs:
            if proc.one_shot:
                continue
            rc = proc.popen.poll()
            if rc is not None:
                log = tail(proc.log)
                hint = ("\nHINT: celery 5.7 dropped celery.backends.database.retry, which "
                        "apache-airflow-providers-celery 3.26 imports: pin celery<5.7 (5.6.3)."
                        if "celery.backends.database" in log else "")
                raise RuntimeError(f"{proc.name} died with exit code {rc}\n{log}{hint}")

    def _kill(self, proc: Proc, grace: float = 10) -> None:
        if proc.popen.poll() is not None:
            return
        try:
            os.killpg(proc.popen.pid, signal.SIGTERM)  # the group we created with start_new_session
        except ProcessLookupError:
            return
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.popen.wait(timeout=10)

    def stop(self) -> None:
        """Stop every process (worker first, API server last) and drop the databases."""
        order = {"celery-worker": 0, "scheduler": 1, "triggerer": 2, "dag-processor": 2, "simulators": 4,
                 "api-server": 5}
        for proc in sorted(self.procs, key=lambda p: order.get(p.name, 3)):
            self._kill(proc)
        # Group leaders are gone; make sure no straggler of a group survives.
        for proc in self.procs:
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        try:
            redis_flushdb()
        except Exception:  # noqa: BLE001 - best effort cleanup
            pass
        if self.databases:
            with pg_admin() as conn:
                for name in self.databases:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self.databases.clear()

    # ------------------------------------------------------------------ REST API (as the UI does)
    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.login()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.api_url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: HTTP {exc.code}: {exc.read().decode()[:500]}") from None
        return json.loads(text) if text else None

    def login(self) -> str:
        """JWT from the simple auth manager's token endpoint (POST /auth/token)."""
        if self.token is None:
            reply = self.request("POST", "/auth/token", {"username": ADMIN_USER, "password": ADMIN_PASSWORD},
                                 auth=False)
            self.token = reply["access_token"]
        return self.token

    def wait_for_dags(self, dag_ids: list[str], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        missing = set(dag_ids)
        while time.monotonic() < deadline:
            self.assert_alive()
            listed = self.request("GET", "/api/v2/dags?limit=1000")
            missing = set(dag_ids) - {d["dag_id"] for d in listed["dags"]}
            if not missing:
                return
            time.sleep(2)
        raise RuntimeError(f"DAGs never parsed: {sorted(missing)}\n{self.diagnostics()}")

    def trigger(self, dag_id: str, logical_date: str, conf: dict[str, Any] | None = None) -> str:
        self.request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns",
                           {"logical_date": logical_date, "conf": conf or {}, "note": "distributed test"})
        return run["dag_run_id"]

    def scheduled_run(self, dag_id: str, logical_date: str) -> str:
        """Create a *scheduled* run as the scheduler does for the nightly (``SerializedDAG.create_dagrun``,
        run type ``scheduled``); the REST API can only create manual runs. Returns its run id."""
        code = ("import sys; from datetime import datetime\n"
                "from airflow.models.serialized_dag import SerializedDagModel\n"
                "from airflow.utils.session import create_session\n"
                "from airflow.utils.state import DagRunState\n"
                "from airflow.utils.types import DagRunTriggeredByType, DagRunType\n"
                "when = datetime.fromisoformat(sys.argv[2].replace('Z', '+00:00'))\n"
                "with create_session() as session:\n"
                "    dag = SerializedDagModel.get_dag(sys.argv[1], session=session)\n"
                "    run = dag.create_dagrun(run_id=DagRunType.SCHEDULED.generate_run_id(suffix=when.isoformat()),\n"
                "        logical_date=when, data_interval=(when, when), run_after=when,\n"
                "        run_type=DagRunType.SCHEDULED, triggered_by=DagRunTriggeredByType.TIMETABLE,\n"
                "        state=DagRunState.QUEUED, session=session)\n"
                "    print('RUN_ID=' + run.run_id, flush=True)\n")
        name = f"scheduled-run-{len(self.procs)}"
        self.run(name, [sys.executable, "-c", code, dag_id, logical_date])
        log = next(p.log for p in self.procs if p.name == name).read_text()
        return next(line.split("=", 1)[1] for line in log.splitlines() if line.startswith("RUN_ID="))

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}")["state"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id)}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def wait_for_runs(self, runs: dict[str, str], timeout: float, dag_id: str | None = None) -> dict[str, str]:
        """``runs``: dag id -> run id (or, with ``dag_id``, any label -> run id of that DAG)."""
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self.assert_alive()
            states = {key: self.run_state(dag_id or key, run_id) for key, run_id in runs.items()}
            if all(s in ("success", "failed") for s in states.values()):
                return states
            time.sleep(2)
        return states

    def wait_for_log(self, name: str, text: str, timeout: float = 60) -> str:
        """The first line of process ``name``'s log containing ``text``."""
        log = next(p.log for p in self.procs if p.name == name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in log.read_text(errors="replace").splitlines():
                if text in line:
                    return line
            time.sleep(1)
        raise AssertionError(f"{text!r} not in the {name} log within {timeout:.0f} s\n{tail(log)}")

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self, lines: int = 40) -> str:
        parts = [f"--- {p.name} (rc={p.popen.poll()}) ---\n{tail(p.log, lines)}" for p in self.procs]
        task_logs = sorted((self.logs / "airflow").rglob("*.log"), key=lambda p: p.stat().st_mtime)[-6:] \
            if (self.logs / "airflow").exists() else []
        parts += [f"--- task log {p.relative_to(self.logs)} ---\n{tail(p, lines)}" for p in task_logs]
        return "\n".join(parts)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


_FERNET = "x2ZcK2r0pGk6Q0Yz5rj2r8yEJ0Xw0gk1VdB2m4pVf9c="  # test-only key
_JWT_SECRET = secrets.token_urlsafe(32)  # one secret shared by every component, as in docker-compose
