"""Airflow plugin: the data-quality reports in the Airflow UI (logic in payroll_etl.airflow.dq_reports).

* an extra link "Data quality report" on each payroll DAG's ``validate`` task, to the run date's
  data-quality index;
* ``/dq-reports/…`` on the API server: the files under ``data/reports`` for logged-in users.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from payroll_etl.airflow import dq_reports


class PayrollDataQualityReports(AirflowPlugin):
    name = "payroll_dq_reports"
    global_operator_extra_links = [dq_reports.operator_link_class()()]
    fastapi_apps = [{"app": dq_reports.LazyReportsApp(), "url_prefix": dq_reports.URL_PREFIX,
                     "name": "Payroll data-quality reports"}]
