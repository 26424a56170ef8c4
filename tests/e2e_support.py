"""Helpers for end-to-end runs: simulators on free ports and Airflow Connections as env vars."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from payroll_etl.connectors.registry import CONNECTORS  # noqa: E402

SIM_HOSTS = {name: str(spec.simulator_port) for name, spec in CONNECTORS.items()}  # from the connector registry


@contextmanager
def running_simulators(world=None):
    from payroll_simulators.__main__ import start_all

    servers = start_all(world, ports={name: 0 for name in SIM_HOSTS})
    try:
        yield {s.name: s for s in servers}
    finally:
        for s in servers:
            s.stop()


def connection_env(servers) -> dict[str, str]:
    """AIRFLOW_CONN_* env vars for the demo connections, re-pointed at the simulators' ports.

    A source whose first login is a person's consent (registry ``demo_consent``: Nmbrs REST) has no
    password grant: its connection gets the tokens of a first consent done now on the simulator with
    the demo login (what `make connect-nmbrs` has a person do).
    """
    from local_airflow import connection_env as for_urls

    from payroll_etl.connectors.base import SourceCredentials
    from payroll_etl.connectors.transport.tokens import MemoryTokenStore

    env = for_urls({name: server.url for name, server in servers.items()})
    for name, value in env.items():
        spec = json.loads(value)
        consenter = CONNECTORS[spec["extra"]["connector"]].demo_consenter()
        if consenter is not None:
            credentials = SourceCredentials(host=spec["host"], login=spec.get("login"), password=spec.get("password"),
                                            extra=spec["extra"])
            spec["extra"] = {**spec["extra"], **consenter(credentials, MemoryTokenStore())}
            env[name] = json.dumps(spec)
    return env


@contextmanager
def environment(**values: str):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_dag(dag_id: str, logical_date: datetime, retries: int = 0, **conf):
    """Build the DAG from the real config and run it with dag.test(); returns the DagRun.

    dag.test() honours retry delays (minutes, growing), so retries are off unless a test asks.
    """
    from payroll_etl.airflow.dag_factory import build_all
    from payroll_etl.config import load_config

    dag = build_all(load_config(), only_dag_id=dag_id)[dag_id]
    for task in dag.tasks:
        task.retries = retries
    return dag.test(logical_date=logical_date.replace(tzinfo=UTC), run_conf=conf or None)


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}
