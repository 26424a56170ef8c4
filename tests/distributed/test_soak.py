"""`make soak` at a tiny size: 4 employers (Loket REST, Nmbrs SOAP, Loket SOAP) over 2 nights on the
Celery stack, faults of every kind injected, the worker SIGKILLed mid-task on the second night; the
warehouse must then equal the clean run's. About 3 minutes on 2 cores (7 under heavy load).

Under CI=true a missing PostgreSQL or Redis fails the test (require_services).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_celery_run import require_services

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_soak_command_at_a_tiny_size(tmp_path):
    require_services()
    figures_file = tmp_path / "figures.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "include")}
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "soak.py"), "--employers", "4", "--employees", "4",
                           "--nights", "2", "--rate", "0.01", "--changes", "3", "--json", str(figures_file)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    assert figures_file.exists(), proc.stderr[-3000:]
    figures = json.loads(figures_file.read_text())
    cmp = figures["comparison"]
    # 4 employers x 2 nights, every run ended (after the operator's rerun of what needed a human).
    assert sum(figures["runs"].values()) == 8
    assert set(figures.get("after_human_rerun") or {"success": 0}) == {"success"}
    assert sum(figures["faults_injected"].values()) > 0
    assert figures["worker_killed"].startswith("night 2026-11-22")
    # Both warehouses hold the same facts: history, current views, mutations (the hours changed between
    # the nights are found as mutations on both sides).
    assert cmp["by_relation"]["employee"]["clean"] == 4 * 4
    assert cmp["by_relation"]["mutation"]["clean"] > 0
    assert cmp["rows_compared"] > 0
    assert (cmp["differences"], cmp["stuck_running"], cmp["duplicate_mutations"]) == (0, 0, 0), cmp
    assert proc.returncode == 0
    assert "differences               0" in proc.stdout
