"""Payroll DAGs: one per employer and connector, generated from include/employers.yaml.

Kept thin on purpose: the config is read from a local YAML file (validated once per content,
cached: payroll_etl/config/loader.py) and only the DAG structure is built here; everything heavy
happens inside the tasks. An employer entry that fails validation does not take the others down:
it shows as the DAG ``payroll__<key>__config_error`` (docs/decisions.md). With thousands of
employers, split this file into shards: ``dag_file(shard=i, shards=N)`` (docs/operations.md).
"""

from payroll_etl.airflow.dag_factory import dag_file

# When a worker runs one task, only that task's DAG is built (fast task start with 1000s of DAGs).
globals().update(dag_file())
