"""A small client for the running Airflow's REST API (``/api/v2``), as the UI uses it.

Used by `make backfill` (scripts/backfill.py), `make airflow` (health check, scripts/local_airflow.py)
and the tests that drive a real Airflow. Standard library only: no Airflow import, so it is fast
and works against any Airflow 3.3 API server.

Auth is the simple auth manager's: ``POST /auth/token`` with user and password returns a JWT,
sent as ``Authorization: Bearer``. ``make airflow`` lets the API server generate the admin
password into ``$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated``;
``admin_credentials`` reads it from there.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PORT = 8080


class AirflowAPIError(RuntimeError):
    """The API answered with an HTTP error (``status`` holds the code) or did not answer (``status`` 0)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def api_url_from_env(env: dict[str, str] | None = None) -> str:
    """``http://127.0.0.1:<AIRFLOW__API__PORT or 8080>``: where `make airflow` serves the API and UI."""
    env = os.environ if env is None else env
    return f"http://127.0.0.1:{env.get('AIRFLOW__API__PORT') or DEFAULT_PORT}"


def passwords_file(env: dict[str, str] | None = None) -> Path:
    """The simple auth manager's passwords file: the configured one or the generated default."""
    env = os.environ if env is None else env
    configured = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
    if configured:
        return Path(configured)
    return Path(env.get("AIRFLOW_HOME", Path.home() / "airflow")) / "simple_auth_manager_passwords.json.generated"


def admin_credentials(env: dict[str, str] | None = None, user: str = "admin") -> tuple[str, str]:
    """``(user, password)`` from the passwords file; raises ``AirflowAPIError`` naming the file if absent."""
    path = passwords_file(env)
    try:
        passwords = json.loads(path.read_text())
    except FileNotFoundError:
        raise AirflowAPIError(f"no Airflow password file at {path}: start Airflow with `make airflow` "
                              "(the API server writes it on its first start)") from None
    if user not in passwords:
        raise AirflowAPIError(f"user {user!r} not in {path} (users: {sorted(passwords)})")
    return user, passwords[user]


@dataclass
class AirflowAPI:
    """JSON over HTTP to one API server; logs in lazily and keeps the token."""

    base_url: str
    user: str
    password: str
    token: str | None = None
    timeout: float = 30

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> AirflowAPI:
        """The API of the Airflow that `make airflow` started with this environment."""
        user, password = admin_credentials(env)
        return cls(api_url_from_env(env), user, password)

    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        """``method path`` with a JSON body; returns the decoded JSON (None when empty).

        Raises ``AirflowAPIError`` with the HTTP status and the server's detail, or status 0 and the
        URL when nothing answers.
        """
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self.login()}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise AirflowAPIError(f"{method} {path}: HTTP {exc.code}: {detail}", exc.code) from None
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AirflowAPIError(f"Airflow API at {self.base_url} does not answer ({reason}): "
                                  "is `make airflow` running?") from None
        return json.loads(text) if text else None

    def login(self) -> str:
        """A JWT from the simple auth manager's token endpoint (``POST /auth/token``)."""
        if self.token is None:
            reply = self.request("POST", "/auth/token", {"username": self.user, "password": self.password},
                                 auth=False)
            self.token = reply["access_token"]
        return self.token

    def healthy(self) -> bool:
        """True when ``/api/v2/monitor/health`` answers 200 (no auth needed)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as resp:
                return resp.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    # ------------------------------------------------------------------ what the UI does
    def dag(self, dag_id: str) -> dict[str, Any]:
        """The DAG as the UI lists it (``is_paused``, ``timetable_summary``, ...)."""
        return self.request("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id)}")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        """The UI's pause toggle."""
        self.request("PATCH", f"/api/v2/dags/{urllib.parse.quote(dag_id)}", {"is_paused": paused})

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict[str, Any] | None = None,
                note: str | None = None) -> dict[str, Any]:
        """The UI's "Trigger" form: one manual run; returns the run (``dag_run_id``, ``state``, ...)."""
        return self.request("POST", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns",
                            {"logical_date": logical_date, "conf": conf or {}, "note": note})

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns/"
                                   f"{urllib.parse.quote(run_id, safe='')}")

    def dag_runs(self, dag_id: str, run_type: str | None = None) -> list[dict[str, Any]]:
        """All runs of ``dag_id`` (optionally one run type: manual, scheduled, backfill), oldest first."""
        query = {"limit": 100, "order_by": "logical_date"} | ({"run_type": run_type} if run_type else {})
        runs: list[dict[str, Any]] = []
        while True:
            page = self.request("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns?"
                                       f"{urllib.parse.urlencode(query | {'offset': len(runs)})}")
            runs += page["dag_runs"]
            if not page["dag_runs"] or len(runs) >= page["total_entries"]:
                return runs

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        tis = self.request("GET", f"/api/v2/dags/{urllib.parse.quote(dag_id)}/dagRuns/"
                                  f"{urllib.parse.quote(run_id, safe='')}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float, alive=lambda: None) -> str:
        """Poll until the run is success/failed or ``timeout`` s passed; returns the last state.

        ``alive`` is called between polls (e.g. to raise when an Airflow process died).
        """
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            alive()
            state = self.dag_run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                break
            time.sleep(2)
        return state
