"""Payroll DAGs: one per employer and connector, generated from include/employers.yaml.

Kept thin on purpose: the config is read from a local YAML file (validated once per content,
cached: payroll_etl/config/loader.py) and only the DAG structure is built here; everything heavy
happens inside the tasks. An employer entry that fails validation does not take the others down:
it shows as the DAG ``payroll__<key>__config_error`` (docs/decisions.md).
"""

from airflow.sdk import get_parsing_context

from payroll_etl.airflow.dag_factory import build_all
from payroll_etl.config import read_config

# When a worker runs one task, build only that task's DAG (fast task start with 1000s of DAGs).
globals().update(build_all(read_config(), only_dag_id=get_parsing_context().dag_id))
