"""Constants and per-employer options of the Nmbrs REST connector.

Sources: the official OpenAPI document ("Nmbrs Public REST API", excerpt vendored in
``tests/nmbrs_rest/fixtures/nmbrs-openapi-excerpt.yaml``) for paths, paging and the scopes per
operation; ``../shared/research/nmbrs-rest.md`` for the identity server, token lifetimes and codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import ConfigDict, Field

from payroll_etl.connectors.options import TunedOptions

API_URL = "https://api.nmbrsapp.com"
IDENTITY_URL = "https://identityservice.nmbrs.com"
PAGE_SIZE = 100  # the spec's maximum pageSize
SUBSCRIPTION_HEADER = "X-Subscription-Key"
QUOTA_EXHAUSTED = 42909  # 429 code: the plan's call volume is used up (do not retry)


@dataclass(frozen=True)
class Endpoint:
    """One GET operation: path template, landing entity, and the scopes the spec lists (any one suffices)."""

    operation: str
    path: str
    entity: str
    scopes: tuple[str, ...]
    paged: bool = True


def _ep(operation: str, path: str, entity: str, *scopes: str, paged: bool = True) -> Endpoint:
    return Endpoint(operation, path, entity, scopes, paged)


# operationId (or, for the bulk lists, the collection name) -> endpoint. Scopes verbatim from the spec.
ENDPOINTS: dict[str, Endpoint] = {e.operation: e for e in (
    _ep("getCompanies", "/api/companies", "company", "company.info", "company.info.read"),
    _ep("getCompaniesByDebtor", "/api/debtors/{debtorId}/companies", "company", "company.info.read", "company.info"),
    _ep("getCurrentPeriod", "/api/companies/{companyId}/period", "payroll_period", "company.info.read",
        "company.info", paged=False),
    _ep("personalinfo", "/api/companies/{companyId}/employees/personalinfo", "personal_info", "employee.info",
        "employee.info.read"),
    _ep("addresses", "/api/companies/{companyId}/employees/addresses", "address", "employee.info",
        "employee.info.read"),
    _ep("privateInfos", "/api/companies/{companyId}/employees/privateInfos", "private_info", "employee.info",
        "employee.info.read"),
    _ep("bankaccounts", "/api/companies/{companyId}/employees/bankaccounts", "bank_account",
        "employee.bankaccount.read", "employee.bankaccount"),
    _ep("employments", "/api/companies/{companyId}/employees/employments", "employment", "employee.employment.read",
        "employee.employment"),
    _ep("contracts", "/api/companies/{companyId}/employees/contracts", "contract", "employee.employment",
        "employee.employment.read"),
    _ep("salaries", "/api/companies/{companyId}/employees/salaries", "salary", "employee.employment",
        "employee.employment.read"),
    _ep("schedules", "/api/companies/{companyId}/employees/schedules", "schedule", "employee.employment",
        "employee.employment.read"),
    _ep("getCompanyPayrollRuns", "/api/companies/{companyId}/runs", "payroll_run", "company.payrollsettings.read",
        paged=False),
    _ep("getPayrollRunWageCodes", "/api/companies/{companyId}/runs/{payrollRunId}/wagecodes/xml", "document_task",
        "company.document.read", paged=False),
    _ep("GetDocumentContentId", "/api/documents/{taskId}", "payroll_result", "document.read", paged=False),
    _ep("getCompanyPensionExports", "/api/companies/{companyId}/pensionexport", "pension_export",
        "company.payrollsettings.read", paged=False),
)}
# The company-level bulk lists every full extract fetches (one item per employee, nested history).
HR_LISTS = ("personalinfo", "addresses", "privateInfos", "employments", "contracts", "salaries", "schedules")
OPTIONAL_LISTS = {"bank_accounts": "bankaccounts"}  # options.include (IBAN only when asked, as SOAP)
# Scopes the connector asks for at consent: the read scopes of the operations above + a refresh token.
DEFAULT_SCOPES = ("company.info.read", "employee.info.read", "employee.employment.read",
                  "company.payrollsettings.read", "company.document.read", "document.read", "offline_access")
BANK_SCOPE = "employee.bankaccount.read"


class Options(TunedOptions):
    """Nmbrs REST ``options:`` of an employer entry (all optional).

    ``include``: extra lists (:data:`OPTIONAL_LISTS`: ``bank_accounts`` → IBAN); ``wage_codes``:
    restrict the run output to these codes; ``full_refresh_days``: a full extract at least this often
    even when the ``createdFrom`` probe sees nothing new; ``debtor_id``: list companies of this debtor
    only; the shared tuning knobs (:class:`~payroll_etl.connectors.options.Tuning`, defaults 60 s,
    5 attempts, 1 s backoff up to 60 s, 10 throttled answers); ``document_polls`` and
    ``document_wait`` (s) for the run-output document.
    """

    model_config = ConfigDict(title="NmbrsRestOptions")

    include: tuple[Literal["bank_accounts"], ...] = ()
    wage_codes: tuple[int, ...] = Field(default=(), description="restrict payroll results to these wage codes")
    full_refresh_days: int = Field(default=7, ge=1, description="days between forced full extracts")
    debtor_id: str | None = None
    document_polls: int = Field(default=30, ge=1, description="polls of the run-output document")
    document_wait: float = Field(default=1.0, ge=0, description="seconds between document polls")

# The Airflow Connections form of this connector's Connection type (read by payroll_etl.airflow.provider):
# the hook's name, field labels and placeholders.
CONNECTION_FORM = {"hook-name": "Nmbrs REST (payroll)",
                   "relabeling": {"host": "API base URL", "login": "(unused)",
                                  "password": "X-Subscription-Key (32 hex characters)"},
                   "placeholders": {"host": "https://api.nmbrsapp.com",
                                    "extra": '{"client_id": "…", "client_secret": "…"} (tokens: make connect-nmbrs)'}}
