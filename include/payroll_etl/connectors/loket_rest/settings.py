"""Constants of the Loket.nl REST connector: API paths and versions, rights per activity, code values, tuning.

Sources: the Loket.nl REST API reference (``payrollPeriodType`` keys, ``grossWageType`` values,
``payrollRunStatus`` 9 = approved) and the customer guide's list of rights ("rechten").
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from payroll_etl.connectors.options import ConnectorOptions, Count, Seconds, Timeout, Tuning, knob
from payroll_etl.connectors.transport.tokens import TOKEN_KEYS

API = "/v2/providers/employers"
# Resource versions we are written against (sent as Accept: application/json;version=…).
VERSIONS = {"employee": "2021-03-29", "employment": "2019-12-16"}
DEFAULT_VERSION = "2018-01-01"

# Which Loket right ("recht", as the customer guide lists them) grants which activity.
# Assumption: Loket does not publish this grouping; it follows the names of the rights.
ACTIVITY_RIGHTS: dict[str, str] = {
    "GetEmployersByUserId": "Raadplegen HRM",
    "GetEmployerByEmployerId": "Raadplegen HRM",
    "GetEmployerLastModifiedVersionNumbersByUser": "Raadplegen HRM",
    "GetPayrollAdministrationsByEmployerId": "Raadplegen HRM",
    "GetEmployeesByEmployerId": "Raadplegen HRM",
    "GetEmployeeByEmployeeId": "Raadplegen HRM",
    "GetCitizenServiceNumberByEmployeeId": "Beheren en raadplegen BSN",
    "GetEmploymentsByEmployerId": "Raadplegen dienstverbanden",
    "GetEmploymentLastModifiedVersionNumbersByEmployerId": "Raadplegen dienstverbanden",
    "GetWorkingHoursByEmploymentId": "Raadplegen dienstverbanden",
    "GetActualWorkingHoursByEmployerId": "Raadplegen dienstverbanden",
    "GetWagesByEmploymentId": "Raadplegen beloningen",
    "GetActualWagesByEmployerId": "Raadplegen beloningen",
    "GetPayrollPeriodsByPayrollAdministrationId": "Raadplegen variabele gegevens",
    "GetPayrollRunsByPayrollAdministrationId": "Raadplegen loonoutput beperkt",
    "GetPayrollPeriodResultsByPayrollAdministrationIdAndPayrollPeriodId": "Raadplegen loonoutput beperkt",
}
# payrollPeriodType keys (spec): 1 month, 3 four-weekly, 4 weekly.
PERIOD_TYPES = {1: "month", 3: "four_weeks", 4: "week"}
# grossWageType values (spec example {"key": 2, "value": "hourly"}); Dutch labels as the Loket UI shows them.
PERIODIC_WAGE_TYPES = frozenset({"periodic", "periodeloon", "periode", "periodiek"})
HOURLY_WAGE_TYPES = frozenset({"hourly", "uurloon", "uur"})
APPROVED = 9  # payrollRunStatus key of an approved run
FILTER_CHUNK = 25  # ids per ``filter=id eq '…' or …``
BASE_COMPONENT = "BASIS"
GENDER_KEYS = {1: "M", 2: "V"}  # personalDetails.gender.key
PAGE_SIZE = 250
REFRESH_SKEW = 120.0  # seconds before expiry at which an access token counts as expired


MAX_CONCURRENT_REQUESTS = 4  # per-employee calls in flight at once, by default


class Options(ConnectorOptions):
    """Loket REST ``options:`` of an employer entry (all optional); the retry and timeout tuning is in
    the Connection extra (:class:`ExtraTuning`).

    ``max_concurrent_requests``: per-employee calls (the BSN, one call per employee) in flight at
    once, each through the same retries, 429/``Retry-After`` handling and token refresh; 1 = one
    after another. Bodies land in the same order either way.
    """

    model_config = ConfigDict(title="LoketRestOptions")

    max_concurrent_requests: int = Field(default=MAX_CONCURRENT_REQUESTS, ge=1, le=32,
                                         description="per-employee calls in flight at once (1 = serial)")


class ExtraTuning(Tuning):
    """The tuning of a Loket REST Connection's extra (:class:`~payroll_etl.connectors.options.Tuning`):
    30 s per call, 5 attempts, 1 s backoff doubling up to 60 s, 10 throttled answers; ``page_size``
    (records per page) and ``refresh_skew`` (s before expiry an access token counts as expired).
    Empty values (``""``, ``0``, null) mean the default, as in the Connections form. Other keys the extra
    may hold (any further key is refused, naming it): ``connector`` (``airflow/hooks.connector_of``), the
    API client ``client_id``/``client_secret`` and ``oauth_url`` (Connections form, ``make connect-loket``),
    the tokens the token stores write (``TOKEN_KEYS``), ``token_file`` and ``employer`` (tests, CLI)."""

    connection_keys: ClassVar[frozenset[str] | None] = frozenset(
        {"connector", "client_id", "client_secret", "oauth_url", "token_file", "employer", *TOKEN_KEYS})
    timeout_seconds: Timeout = knob("timeout_seconds", 30.0)
    page_size: Count = Field(default=PAGE_SIZE, description="records per page")
    refresh_skew: Seconds = Field(default=REFRESH_SKEW, description="seconds before expiry")

    @field_validator("page_size", "refresh_skew", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object, info: ValidationInfo) -> object:
        return value if value else cls.model_fields[str(info.field_name)].default

# The Airflow Connections form of this connector's Connection type (read by payroll_etl.airflow.provider):
# the hook's name, field labels and placeholders.
CONNECTION_FORM = {"hook-name": "Loket.nl REST (payroll)",
                   "relabeling": {"host": "API base URL", "login": "Loket user (demo clients only)",
                                  "password": "Loket password (demo clients only)"},
                   "placeholders": {"host": "https://api.loket.nl",
                                    "extra": '{"client_id": "…", "client_secret": "…"}'}}
