"""Nmbrs SOAP v3 connector (``nmbrs``), one module per concern.

* :mod:`.settings`  constants, call catalogue, landing entities, per-employer options
* :mod:`.auth`      the Connection's fields, checked
* :mod:`.client`    zeep clients, landing, rate limit, retries, fault mapping
* :mod:`.plan`      what an extract fetches (companies, runs, per-employee calls)
* :mod:`.normalize` landed SOAP pages -> canonical rows
* :mod:`.rows`      row builders shared with :mod:`payroll_etl.connectors.nmbrs_rest`
* :mod:`.connector` :class:`~.connector.NmbrsConnector`, the :class:`~payroll_etl.connectors.base.Connector`

The names below are re-exported for callers that import them from ``payroll_etl.connectors.nmbrs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from payroll_etl.connectors.lazy import exports

if TYPE_CHECKING:
    from payroll_etl.connectors.nmbrs.client import _RateLimiter, _Run
    from payroll_etl.connectors.nmbrs.connector import NmbrsConnector
    from payroll_etl.connectors.nmbrs.plan import company_not_found, parse_current_period, source_period_of
    from payroll_etl.connectors.nmbrs.rows import (
        Employment,
        SalaryVersion,
        add_employment_rows,
        add_period_row,
        add_report_rows,
        add_salary_rows,
        employment_versions,
    )
    from payroll_etl.connectors.nmbrs.settings import EMPLOYEE_CALLS, OPTIONAL_CALLS, SEED_CALLS, Options

__all__ = [
    "EMPLOYEE_CALLS", "OPTIONAL_CALLS", "SEED_CALLS", "Employment", "NmbrsConnector", "SalaryVersion", "Options",
    "_RateLimiter", "_Run", "add_employment_rows", "add_period_row", "add_report_rows", "add_salary_rows",
    "company_not_found", "employment_versions", "parse_current_period", "source_period_of",
]

__getattr__ = exports(__name__, {
    "_RateLimiter": "client",
    "_Run": "client",
    "NmbrsConnector": "connector",
    "company_not_found": "plan",
    "parse_current_period": "plan",
    "source_period_of": "plan",
    "Employment": "rows",
    "SalaryVersion": "rows",
    "add_employment_rows": "rows",
    "add_period_row": "rows",
    "add_report_rows": "rows",
    "add_salary_rows": "rows",
    "employment_versions": "rows",
    "EMPLOYEE_CALLS": "settings",
    "OPTIONAL_CALLS": "settings",
    "SEED_CALLS": "settings",
    "Options": "settings",
})
