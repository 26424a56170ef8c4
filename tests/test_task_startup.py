"""What an extract task pays before its first source call (issue 18, the nightly through Airflow).

* The migration check of a current warehouse imports no alembic: the head revision is written
  down (``migrate.HEAD_REVISION``) and checked here against the head alembic finds.
* The extract task imports its own step, not ``payroll_etl.pipeline`` (normalize, validate, the
  loader and their numpy/quality imports).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from payroll_etl.warehouse import migrate

ROOT = Path(__file__).resolve().parents[1]


def test_head_revision_is_the_head_alembic_finds():
    """Adding a migration without moving ``migrate.HEAD_REVISION`` fails here, naming both."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("duckdb:///:memory:"))
    assert migrate.head_revision() == script.get_current_head()


CHECK = """
import json, sys
from payroll_etl.warehouse import migrate
url = sys.argv[1]
migrate.upgrade(url)  # current already: one query
current = migrate.is_current(url)
import payroll_etl.steps.extract
print(json.dumps({"current": current, "loaded": sorted(m for m in sys.modules if m.split(".")[0] in
                  ("alembic", "payroll_etl", "pandas", "great_expectations"))}))
"""


def test_the_migration_check_of_a_current_warehouse_imports_no_alembic(tmp_path):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    migrate.upgrade(url)
    env = {"PYTHONPATH": str(ROOT / "include"), "PATH": "/usr/bin:/bin", "PAYROLL_DATA_DIR": str(tmp_path / "data")}
    out = subprocess.run([sys.executable, "-c", CHECK, url], capture_output=True, text=True, env=env, cwd=ROOT,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["current"] is True
    loaded = set(result["loaded"])
    assert not {m for m in loaded if m.split(".")[0] in ("alembic", "pandas", "great_expectations")}
    assert "payroll_etl.pipeline" not in loaded and "payroll_etl.steps.normalize" not in loaded


def test_the_extract_task_imports_the_extract_step_not_the_pipeline():
    source = (ROOT / "include" / "payroll_etl" / "airflow" / "dag_factory.py").read_text()
    extract_step = source.split("def extract_step", 1)[1].split("\ndef ", 1)[0]
    assert "from payroll_etl.steps.extract import extract" in extract_step
    assert "from payroll_etl import pipeline" not in extract_step
