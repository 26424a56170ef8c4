"""Fault-injection fixtures: one set of simulators, test-speed connector settings, clean baselines.

The clean-run baseline of each connector is computed once (a real DAG run into its own DuckDB
warehouse) and shared by every scenario of that connector.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from e2e_support import environment, running_simulators
from fault_support import DAGS, assert_succeeded, clear_faults, employers_file, fast_connection_env, run_dag, snapshot


@dataclass
class Baseline:
    data_dir: Path
    url: str
    snapshot: dict[str, list[tuple]]


@pytest.fixture(scope="session")
def simulators() -> Iterator[dict[str, Any]]:
    with running_simulators() as servers:
        yield servers


@pytest.fixture(scope="session")
def fault_config(simulators) -> Iterator[Path]:
    directory = Path(tempfile.mkdtemp(prefix="payroll-faults-"))
    yield employers_file(directory)


@pytest.fixture(autouse=True)
def _clean_switches(simulators) -> Iterator[None]:
    for server in simulators.values():
        clear_faults(server.url)
    yield
    for server in simulators.values():
        clear_faults(server.url)


@pytest.fixture
def run_env(airflow_db, simulators, fault_config, tmp_path) -> Iterator[dict[str, Any]]:
    """A fresh data directory and DuckDB warehouse, the fast demo connections and employer config."""
    data_dir = tmp_path / "data"
    url = f"duckdb:///{data_dir / 'warehouse.duckdb'}"
    with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(data_dir),
                     PAYROLL_EMPLOYERS_FILE=str(fault_config), **fast_connection_env(simulators)):
        yield {"data_dir": data_dir, "url": url, "tmp": tmp_path}


_BASELINES: dict[str, Baseline] = {}


@pytest.fixture(scope="session")
def baselines(airflow_db, simulators, fault_config, tmp_path_factory):
    """``baselines(connector)``: the clean run of the connector's demo employer (computed once)."""

    def get(connector: str) -> Baseline:
        if connector not in _BASELINES:
            data_dir = tmp_path_factory.mktemp(f"baseline-{connector}") / "data"
            url = f"duckdb:///{data_dir / 'warehouse.duckdb'}"
            for server in simulators.values():
                clear_faults(server.url)
            with environment(PAYROLL_WAREHOUSE_URL=url, PAYROLL_DATA_DIR=str(data_dir),
                             PAYROLL_EMPLOYERS_FILE=str(fault_config), **fast_connection_env(simulators)):
                run = run_dag(DAGS[connector])
            assert_succeeded(run)
            _BASELINES[connector] = Baseline(data_dir, url, snapshot(url))
        return _BASELINES[connector]

    return get
