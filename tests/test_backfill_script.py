"""`make backfill` (scripts/backfill.py) without a running Airflow: what it would send, and what it
refuses before calling Airflow. The calls against a running Airflow are in tests/test_local_airflow.py."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from airflow_api import AirflowAPI  # noqa: E402
from backfill import EXIT_AIRFLOW, EXIT_USAGE, backfill_body, create_backfill  # noqa: E402


def test_from_and_to_are_inclusive_days_in_the_employers_time_zone():
    body = backfill_body("payroll_loket_rest_x", date(2025, 1, 1), date(2025, 3, 31), "Europe/Amsterdam")
    assert body == {"dag_id": "payroll_loket_rest_x", "from_date": "2025-01-01T00:00:00+01:00",
                    "to_date": "2025-03-31T23:59:59+02:00",  # summer time since 30 March
                    "max_active_runs": 1, "reprocess_behavior": "failed", "run_backwards": False}


def test_unknown_employer_and_reversed_dates_are_refused_before_airflow_is_asked():
    nowhere = AirflowAPI("http://127.0.0.1:9", "admin", "x")  # port 9: nothing answers
    said: list[str] = []
    assert create_backfill(nowhere, "bakkerij_de_vris", date(2025, 1, 1), date(2025, 3, 31), out=said.append) \
        == EXIT_USAGE
    assert said[-1].startswith("unknown employer 'bakkerij_de_vris'; employers in the config: bakkerij_de_vries")
    assert create_backfill(nowhere, "bakkerij_de_vries", date(2025, 3, 31), date(2025, 1, 1), out=said.append) \
        == EXIT_USAGE
    assert said[-1] == "FROM 2025-03-31 is after TO 2025-01-01"


def test_airflow_not_running_says_so_with_its_address():
    nowhere = AirflowAPI("http://127.0.0.1:9", "admin", "x")
    said: list[str] = []
    assert create_backfill(nowhere, "bakkerij_de_vries", date(2025, 1, 1), date(2025, 3, 31), out=said.append) \
        == EXIT_AIRFLOW
    assert len(said) == 1
    assert said[0].startswith("Airflow API at http://127.0.0.1:9 does not answer (")
    assert said[0].endswith("): is `make airflow` running?")
