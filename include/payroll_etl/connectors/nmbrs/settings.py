"""Constants, the call catalogue and per-employer options of the Nmbrs SOAP connector.

Sources: the Nmbrs SOAP v3 WSDLs (CompanyService, EmployeeService) for operation names and enums,
the customer's setup guide (§1.2.2) for the calls enabled on the API template user, and the Nmbrs
fair-use rule (150 calls/s) for the rate limit.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field

from payroll_etl.connectors.options import Seconds, Timeout, TunedOptions, knob

COMPANY = "CompanyService"
EMPLOYEE = "EmployeeService"
NAMESPACE = "https://api.nmbrs.nl/soap/v3/{service}"
TOKEN_LENGTH = 32
MAX_CALLS_PER_SECOND = 150.0  # Nmbrs fair use: 150 calls/s, above that the service delays

# The calls the seed guide (§1.2.2) has the customer enable on the API template user.
SEED_CALLS: dict[str, str] = {
    "Company_GetCurrentPeriod": COMPANY, "List_GetAll": COMPANY, "Run_GetList": COMPANY,
    "Reports_GetWageCodesByRunCompany_FilterByWageCode": COMPANY, "Reports_GetWageCodesByRunCompany_v2": COMPANY,
    "Address_GetListCurrent": EMPLOYEE, "BankAccount_GetListCurrent": EMPLOYEE, "Children_Get": EMPLOYEE,
    "Contract_GetCurrentPeriod": EMPLOYEE, "List_GetByCompany": EMPLOYEE, "Partner_Get": EMPLOYEE,
    "PersonalInfo_GetCurrent": EMPLOYEE, "Salary_GetAll_AllEmployeesByCompany": EMPLOYEE,
    "Schedule_GetCurrent": EMPLOYEE, "Schedule_GetList": EMPLOYEE, "SVW_GetCurrent": EMPLOYEE,
    "WageComponentFixed_GetCurrent": EMPLOYEE, "WageComponentVar_GetCurrent": EMPLOYEE,
    "Employment_GetAll_AllEmployeesByCompany": EMPLOYEE,
}
# Per-employee calls every nightly run makes: the minimum the canonical model needs.
EMPLOYEE_CALLS = ("PersonalInfo_GetCurrent", "Address_GetListCurrent", "Schedule_GetList")
# Optional per-employee calls, switched on by ``options.include`` (seed: "indien ... noodzakelijk").
OPTIONAL_CALLS = {"bank_accounts": "BankAccount_GetListCurrent", "partner": "Partner_Get", "children": "Children_Get"}
# Which landing entity (partition) each operation's raw responses go to.
LANDING_ENTITY = {
    "List_GetAll": "employer", "Company_GetCurrentPeriod": "payroll_period",
    "Employment_GetAll_AllEmployeesByCompany": "employment", "Schedule_GetList": "employment",
    "Salary_GetAll_AllEmployeesByCompany": "salary", "PersonalInfo_GetCurrent": "employee",
    "Address_GetListCurrent": "employee", "BankAccount_GetListCurrent": "employee", "Partner_Get": "employee",
    "Children_Get": "employee", "Run_GetList": "payroll_result",
    "Reports_GetWageCodesByRunCompany_v2": "payroll_result",
    "Reports_GetWageCodesByRunCompany_FilterByWageCode": "payroll_result",
}
FAULT_CODE_RE = re.compile(r"--->\s*(\d{4})\s*:\s*([^\r\n]*)")
# Company_GetCurrentPeriod: "yyyy-p-type" (WSDL doc: "2010-5-M or 2010-4-4W"); any type is captured so
# that an unknown one is refused by name instead of failing the pattern.
PERIOD_RE = re.compile(r"^\s*(\d{4})-(\d{1,2})-([0-9A-Za-z-]+)\s*$")
# Pay period types: M and 4W are documented; weekly companies exist (REST periodType "1-week"), their SOAP
# suffix is not documented, so both W and 1W are read as weekly (docs/benefits.md "Pay calendars").
PERIOD_TYPES = {"M": "month", "4W": "four_weeks", "W": "week", "1W": "week"}
# Salary_V2.Type = position in the WSDL's SalaryType enum: 1 Bruto_Salaris_Fulltime, 2 Bruto_Salaris_Partime
# (the part-time amount actually paid), 3 Bruto_Uurloon. 0 None, 4-8 net wages / employer costs: no basis.
SALARY_BASES = {"1": "fulltime", "2": "actual", "3": "hourly"}
SALARY_TYPE_NAMES = {"0": "None", "4": "Netto_Salaris_Partime_incl_looncomp",
                     "5": "Netto_Salaris_Partime_excl_looncomp", "6": "Netto_Uurloon_excl_looncomp",
                     "7": "Werkgerverslasten", "8": "Netto_Uurloon_incl_looncomp"}
FREQUENCIES = {"Month": "month", "Week4": "four_weeks"}
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class Options(TunedOptions):
    """Nmbrs SOAP ``options:`` of an employer entry (all optional).

    ``max_workers``: threads for the per-employee calls; ``rate_limit`` (calls/s; :attr:`rate` caps it
    at the fair-use 150, :data:`MAX_CALLS_PER_SECOND`); the shared tuning knobs
    (:class:`~payroll_etl.connectors.options.Tuning`) with ``timeout_seconds`` 120 and
    ``max_backoff_seconds`` unset = 30 × ``backoff_seconds``; ``include``: optional per-employee calls
    (:data:`OPTIONAL_CALLS`: ``bank_accounts`` → IBAN, ``partner``, ``children``); ``wage_codes``:
    restrict the run reports to these codes.
    """

    model_config = ConfigDict(title="NmbrsOptions")

    timeout_seconds: Timeout = knob("timeout_seconds", 120.0)
    max_backoff_seconds: Seconds | None = knob("max_backoff_seconds", None)
    include: tuple[Literal["bank_accounts", "partner", "children"], ...] = ()
    wage_codes: tuple[int, ...] = Field(default=(), description="restrict payroll results to these wage codes")
    max_workers: int = Field(default=8, ge=1, description="parallel calls per extract")
    rate_limit: float = Field(default=MAX_CALLS_PER_SECOND, gt=0,
                              description="calls per second (above 150 the connector caps it)")

    @property
    def rate(self) -> float:
        """Calls per second: ``rate_limit`` capped at Nmbrs' fair use (:data:`MAX_CALLS_PER_SECOND`)."""
        return min(self.rate_limit, MAX_CALLS_PER_SECOND)

# The Airflow Connections form of this connector's Connection type (read by payroll_etl.airflow.provider):
# the hook's name, field labels and placeholders.
CONNECTION_FORM = {"hook-name": "Nmbrs SOAP (payroll)",
                   "relabeling": {"host": "API base URL", "login": "API user (e-mail)",
                                  "password": "API token (32 characters)"},
                   "placeholders": {"host": "https://api.nmbrs.nl", "extra": '{"domain": "mycompany"}'}}
