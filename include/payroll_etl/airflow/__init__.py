"""Thin Airflow glue: hooks (Connections -> connectors) and the DAG factory. Imports Airflow."""
