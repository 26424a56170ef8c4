"""The Airflow glue: DAG factory, hooks, provider, timetable. The only part of payroll_etl that imports airflow.

Importing this package registers the Airflow Connection lookup as a secret source of
:mod:`payroll_etl.settings` (e.g. the identity keys of the Connection ``payroll_identity_keys``).
"""

from payroll_etl import settings
from payroll_etl.airflow.secrets import connection_password

if connection_password not in settings.SECRET_SOURCES:
    settings.SECRET_SOURCES.append(connection_password)
