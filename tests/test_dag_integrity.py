"""The DAG folder parses cleanly, fast, with exactly one DAG per enabled employer."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    started = time.perf_counter()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    print(f"\nparse time of dags/: {time.perf_counter() - started:.2f} s for {len(bag.dags)} DAGs")
    return bag


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_one_dag_per_enabled_employer(dagbag):
    from payroll_etl.config import load_config

    config = load_config()
    expected = {e.dag_id for e in config.employers if e.enabled}
    assert set(dagbag.dag_ids) == expected | {"payroll_retention"}  # + the daily retention purge
    for employer in config.employers:
        assert employer.dag_id == f"payroll_{employer.connector}_{employer.employer}"


def test_every_dag_is_documented_tagged_and_wired(dagbag):
    from payroll_etl.config import load_config

    pools = set(load_config().pools)
    for dag in dagbag.dags.values():
        if dag.dag_id == "payroll_retention":  # tests/security/test_retention_dag.py
            continue
        assert dag.doc_md and "backfill" in dag.doc_md
        assert "payroll" in dag.tags
        assert [t.task_id for t in dag.topological_sort()] == ["extract", "normalize", "validate", "load"]
        extract = dag.get_task("extract")
        assert extract.pool in pools, f"{dag.dag_id}: pool {extract.pool} is not declared in employers.yaml"
        for t in dag.tasks:
            assert t.retries >= 2
            assert t.retry_policy is not None


def test_disabled_employer_yields_no_dag(tmp_path):
    config = yaml.safe_load((ROOT / "include" / "employers.yaml").read_text())
    config["employers"][0]["enabled"] = False
    path = tmp_path / "employers.yaml"
    path.write_text(yaml.safe_dump(config))
    out = subprocess.run([sys.executable, "-c", (
        "import runpy, json; g = runpy.run_path('dags/payroll_dags.py');"
        "print(json.dumps(sorted(k for k in g if k.startswith('payroll_'))))")],
        cwd=ROOT, capture_output=True, text=True, env={**_env(), "PAYROLL_EMPLOYERS_FILE": str(path)}, check=True)
    dag_ids = json.loads(out.stdout.strip().splitlines()[-1])
    assert f"payroll_{config['employers'][0]['connector']}_{config['employers'][0]['employer']}" not in dag_ids
    assert len(dag_ids) == sum(1 for e in config["employers"] if e.get("enabled", True))


def _env():
    import os

    return dict(os.environ)


def test_parsing_imports_no_heavy_modules():
    """pandas, pyarrow, Great Expectations and zeep stay out of DAG parsing."""
    code = ("import runpy, sys; runpy.run_path('dags/payroll_dags.py');"
            "heavy = [m for m in ('great_expectations', 'pandas', 'pyarrow', 'zeep', 'duckdb', 'psycopg')"
            " if m in sys.modules]; print('HEAVY=' + ','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=_env(),
                         check=True)
    heavy = [line for line in out.stdout.splitlines() if line.startswith("HEAVY=")]
    assert heavy == ["HEAVY="], f"heavy imports at parse time: {heavy}"


def test_production_code_never_imports_simulators():
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "include" / "payroll_etl").rglob("*.py")
                 if "payroll_simulators" in p.read_text()]
    offenders += [str(p.relative_to(ROOT)) for p in (ROOT / "dags").rglob("*.py")
                  if "payroll_simulators" in p.read_text()]
    assert offenders == []
