"""payroll_etl: payroll sources -> raw Parquet -> data quality -> benefits warehouse.

Plain Python, importable and testable without Airflow. ``payroll_etl.airflow`` holds the thin
Airflow glue (hooks, DAG factory); everything else runs anywhere.
"""
