"""`make airflow`: a local Airflow 3.3 with the project's DAGs and the demo simulators beside it.

``LocalAirflow.start()`` runs, each component in its own process group with the venv's ``bin``
first on ``PATH`` (Airflow's components spawn plain ``airflow``):

1. ``scripts/airflow_setup.py``: creates the PostgreSQL metadata database if missing
   (``airflow_payroll_<hash>`` on the local server by default), migrates it, writes pools and Connections;
2. the payroll simulators (``python -m payroll_simulators``) unless all of them already answer
   on their ports (a `make simulators` in another terminal);
3. ``airflow api-server``, ``scheduler`` (LocalExecutor), ``dag-processor`` and ``triggerer``
   (deadline-alert callbacks), then waits for ``/api/v2/monitor/health``.

Component logs go to ``$AIRFLOW_HOME/logs/<component>.log``. Ctrl-C (or SIGTERM) stops everything;
when one component dies, the others are stopped and its log tail is printed. The end-to-end test
(tests/test_local_airflow.py) and the Celery stack (tests/airflow_stack.py) start
Airflow with this same class. See docs/operations.md "Local Airflow".
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from airflow_api import AirflowAPI, admin_credentials  # noqa: E402

from payroll_etl.connectors.registry import CONNECTORS  # noqa: E402

VENV_BIN = Path(sys.executable).parent
# The demo Connections' hosts: each connector's simulator port, from the connector registry.
SIM_PORTS = {name: spec.simulator_port for name, spec in CONNECTORS.items()}
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
# Stop order: nothing new is scheduled first, the API server (execution API of running tasks) last.
STOP_ORDER = {"celery-worker": 0, "scheduler": 1, "triggerer": 2, "dag-processor": 2, "simulators": 4,
              "api-server": 5}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


def connection_env(sim_urls: dict[str, str]) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables for the demo Connections, re-pointed at ``sim_urls``
    (``{connector: url}``); connectors without a URL are left out. Environment Connections win
    over the metadata DB's, so a stack on other ports needs no DB change."""
    import yaml

    specs = yaml.safe_load((ROOT / "include" / "demo_connections.yaml").read_text())
    env = {}
    for conn_id, spec in specs.items():
        url = sim_urls.get(spec["extra"]["connector"])
        if url:
            env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps({**spec, "host": url})
    return env


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen
    log: Path
    one_shot: bool = False  # a command that exits (setup, init, CLI calls), not a component that must stay up


@dataclass
class LocalAirflow:
    """The local Airflow of `make airflow` as child processes.

    ``env`` is the project's environment (the Makefile's exports; defaults below fill what is
    missing); ``api_port`` serves UI and API; ``sim_ports`` maps simulator name to port (0: a free
    one, then the components get the Connections re-pointed through ``AIRFLOW_CONN_*``).
    """

    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    api_port: int = 8080
    sim_ports: dict[str, int] = field(default_factory=lambda: dict(SIM_PORTS))
    executor: str = "LocalExecutor"
    procs: list[Proc] = field(default_factory=list)
    sim_urls: dict[str, str] = field(default_factory=dict)
    sim_world: Path | None = None  # a scenario file for the simulators (docs/simulators.md); None: the demo world

    def __post_init__(self) -> None:
        self.env = dict(self.env)
        self.env.setdefault("AIRFLOW_HOME", str(ROOT / ".airflow"))
        self.env.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
        self.env.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
        self.env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        self.env.setdefault("PAYROLL_DATA_DIR", str(ROOT / "data"))
        self.sim_ports = {name: port or free_port() for name, port in self.sim_ports.items()}
        self.home = Path(self.env["AIRFLOW_HOME"])
        self.logs = self.home / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        # "<name> <pid>" per line: the launcher, then each process group it started (a safety net
        # for whoever must clean up after a launcher that was killed hard).
        self.pid_file = self.home / "local_airflow.pids"
        self._api: AirflowAPI | None = None

    # ------------------------------------------------------------------ environment
    def component_env(self) -> dict[str, str]:
        """What every Airflow component (and the tasks it runs) sees."""
        env = dict(self.env)
        env.update({
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "PYTHONUNBUFFERED": "1",
        })
        url = env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "")
        if url.startswith("postgresql+psycopg://"):  # no asyncpg: psycopg 3 serves the async engine too
            env.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC", url)
        if self.sim_urls and any(port != SIM_PORTS[name] for name, port in self.sim_ports.items()):
            env.update(connection_env(self.sim_urls))
        return env

    # ------------------------------------------------------------------ processes
    def spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        """Start ``args`` in its own process group (``component_env()`` unless ``env`` is given),
        output to ``logs/<name>.log``; the group id is appended to ``pid_file``."""
        log = self.logs / f"{name}.log"
        fh = open(log, "ab")  # noqa: SIM115 - owned by the child process
        popen = subprocess.Popen(args, cwd=ROOT, env=env or self.component_env(), stdout=fh,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        fh.close()
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        with self.pid_file.open("a") as pids:
            pids.write(f"{name} {popen.pid}\n")
        return proc

    def run(self, name: str, args: list[str], timeout: float = 300) -> None:
        """Run ``args`` to completion; raise with its log tail when it fails or hangs."""
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
        """Setup, simulators, the four components; returns once the API server is healthy."""
        self.setup()
        self.start_simulators()
        self.start_components()
        self.wait_healthy()

    def setup(self) -> None:
        self.run("setup", [sys.executable, str(ROOT / "scripts" / "airflow_setup.py")])

    def start_components(self) -> None:
        airflow = str(VENV_BIN / "airflow")
        self.spawn("api-server", [airflow, "api-server", "--port", str(self.api_port), "--host", "127.0.0.1"])
        self.spawn("scheduler", [airflow, "scheduler"])
        self.spawn("dag-processor", [airflow, "dag-processor"])
        self.spawn("triggerer", [airflow, "triggerer"])  # runs the deadline-alert callbacks

    def start_simulators(self, timeout: float = 60) -> None:
        """The simulators as one child process, or the ones already answering on the demo ports."""
        if self.sim_ports == SIM_PORTS and all(port_open(p) for p in SIM_PORTS.values()):
            self.sim_urls = {name: f"http://127.0.0.1:{port}" for name, port in SIM_PORTS.items()}
            return
        args = [sys.executable, "-m", "payroll_simulators"]
        if self.sim_world is not None:
            args += ["--world", str(self.sim_world)]
        for name, port in self.sim_ports.items():
            args += ["--port", f"{name}={port}"]
        proc = self.spawn("simulators", args)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = proc.log.read_text().splitlines() if proc.log.exists() else []
            if "ready" in lines:
                self.sim_urls = {parts[0]: parts[1] for parts in map(str.split, lines)
                                 if len(parts) == 2 and parts[0] in self.sim_ports}
                return
            if proc.popen.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"simulators did not start (ports {self.sim_ports})\n{tail(proc.log)}")

    def wait_healthy(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        probe = AirflowAPI(self.api_url, "", "")
        while time.monotonic() < deadline:
            self.assert_alive()
            if probe.healthy():
                return
            time.sleep(1)
        raise RuntimeError(f"API server not healthy after {timeout:.0f} s\n{self.diagnostics()}")

    def assert_alive(self) -> None:
        """Raise with the log tail of the first long-running component that exited."""
        for proc in self.procs:
            if proc.one_shot or proc.name in ("setup", "init"):
                continue
            rc = proc.popen.poll()
            if rc is not None:
                raise RuntimeError(f"{proc.name} died with exit code {rc}\n{tail(proc.log)}")

    def _kill(self, proc: Proc, grace: float = 15) -> None:
        if proc.popen.poll() is not None:
            return
        try:
            os.killpg(proc.popen.pid, signal.SIGTERM)  # the group start_new_session created
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
        """Stop every process this object started (scheduler first, API server last)."""
        for proc in sorted(self.procs, key=lambda p: STOP_ORDER.get(p.name, 3)):
            self._kill(proc)
        for proc in self.procs:  # group leaders are gone; no straggler of a group survives
            try:
                os.killpg(proc.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    # ------------------------------------------------------------------ API and diagnostics
    def api(self) -> AirflowAPI:
        """The REST API as the admin user (password generated by the API server on first start)."""
        if self._api is None:
            user, password = admin_credentials(self.component_env())
            self._api = AirflowAPI(self.api_url, user, password)
        return self._api

    def diagnostics(self, lines: int = 40) -> str:
        """The log tails of every process (also those a `make airflow` child started) and of the newest task logs."""
        parts = [f"--- {log.stem} ---\n{tail(log, lines)}" for log in sorted(self.logs.glob("*.log"))]
        task_logs = sorted((p for p in self.home.rglob("*.log") if "dag_id=" in str(p)),
                           key=lambda p: p.stat().st_mtime)[-6:]
        parts += [f"--- task log {p.relative_to(self.home)} ---\n{tail(p, lines)}" for p in task_logs]
        return "\n".join(parts)


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True) if url else "(Airflow's default)"


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def simulator_ports(spec: str) -> dict[str, int]:
    """``PAYROLL_SIMULATOR_PORTS`` ("loket_rest=0,nmbrs=9083"; 0: a free port) over the demo ports."""
    ports = dict(SIM_PORTS)
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, port = item.partition("=")
        if name not in SIM_PORTS or not port.isdigit():
            raise SystemExit(f"PAYROLL_SIMULATOR_PORTS: {item!r} is not NAME=PORT with NAME one of {list(SIM_PORTS)}")
        ports[name] = int(port)
    return ports


def main() -> int:
    """`make airflow`: start everything, print where the UI is, wait for Ctrl-C.

    ``AIRFLOW__API__PORT`` moves UI and API (default 8080); ``PAYROLL_SIMULATOR_PORTS`` the
    simulators (the Connections are then re-pointed through ``AIRFLOW_CONN_*``).
    """
    stack = LocalAirflow(api_port=int(os.environ.get("AIRFLOW__API__PORT") or 8080),
                         sim_ports=simulator_ports(os.environ.get("PAYROLL_SIMULATOR_PORTS", "")))
    if port_open(stack.api_port):
        print(f"port {stack.api_port} is already in use: another Airflow? Stop it, or run with "
              f"AIRFLOW__API__PORT=<port> make airflow", file=sys.stderr)
        return 1
    stack.pid_file.write_text(f"launcher {os.getpid()}\n")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print(f"starting Airflow (logs in {stack.logs}) ...", flush=True)
        stack.start()
        print(tail(stack.logs / "setup.log", 1))
        user, password = admin_credentials(stack.component_env())
        print(f"\nAirflow UI   {stack.api_url}   user {user}  password {password}\n"
              f"simulators   {'  '.join(f'{k} {v}' for k, v in stack.sim_urls.items())}\n"
              f"metadata DB  {_hide_password(stack.env.get('AIRFLOW__DATABASE__SQL_ALCHEMY_CONN', ''))}\n"
              f"logs         {stack.logs}/<component>.log\n"
              "CLI          make airflow-cli ARGS=\"dags list\"\n"
              "backfill     make backfill EMPLOYER=<key> FROM=YYYY-MM-DD TO=YYYY-MM-DD\n"
              "DAGs start paused (Airflow's default): unpause one (its toggle in the UI) before you trigger it;\n"
              "a triggered run of a paused DAG stays queued.\n"
              "Ctrl-C stops everything.", flush=True)
        while True:
            stack.assert_alive()
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping Airflow ...", flush=True)
        return 0
    except RuntimeError as exc:
        print(f"\n{exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the clean stop short
        stack.stop()
        stack.pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
