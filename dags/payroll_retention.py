"""Daily retention purge (``payroll_retention``): thin, the rules live in payroll_etl.retention."""

from payroll_etl.airflow.retention_dag import build_retention_dag

dag = build_retention_dag()
