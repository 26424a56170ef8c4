"""Constants and per-employer options of the Nmbrs REST connector.

Sources: the official OpenAPI document ("Nmbrs Public REST API", excerpt vendored in
``tests/nmbrs_rest/fixtures/nmbrs-openapi-excerpt.yaml``) for paths, paging and the scopes per
operation; ``../shared/research/nmbrs-rest.md`` for the identity server, token lifetimes and codes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.transport.retry import RetryPolicy, tuning
from payroll_etl.errors import ConfigurationError

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


@dataclass(frozen=True)
class Options:
    """Per-employer tuning from ``employers.yaml`` ``options`` (all optional).

    ``include``: extra lists (``bank_accounts`` → IBAN); ``wage_codes``: restrict the run output
    to these codes; ``full_refresh_days``: a full extract at least this often even when the
    ``createdFrom`` probe sees nothing new (default 7); ``debtor_id``: list companies of this debtor
    only; the shared tuning knobs (:data:`~payroll_etl.connectors.transport.retry.TUNING`):
    ``timeout_seconds``, ``max_attempts``, ``max_throttled`` (429 answers honoured before giving up),
    ``backoff_seconds`` (exponential base), ``max_backoff_seconds`` (the former names ``timeout``,
    ``retry_attempts``, ``retry_wait``, ``max_wait`` are still read); ``document_polls`` and
    ``document_wait`` (s) for the run-output document.
    """

    include: tuple[str, ...] = ()
    wage_codes: tuple[int, ...] = ()
    full_refresh_days: int = 7
    debtor_id: str | None = None
    timeout: float = 60.0
    retry_attempts: int = 5
    max_throttled: int = 10
    retry_wait: float = 1.0
    max_wait: float = 60.0
    document_polls: int = 30
    document_wait: float = 1.0

    @classmethod
    def of(cls, employer: EmployerConfig) -> Options:
        """Parse and check ``employer.options``; unknown ``include`` names are a ConfigurationError."""
        o: dict[str, Any] = dict(employer.options or {})
        include = tuple(o.get("include", ()) or ())
        unknown = set(include) - set(OPTIONAL_LISTS)
        if unknown:
            raise ConfigurationError(f"employer {employer.employer}: options.include has unknown {sorted(unknown)}; "
                                     f"allowed for nmbrs_rest: {sorted(OPTIONAL_LISTS)}")
        knobs = tuning(o, f"employer {employer.employer}: options")
        return cls(include=include, wage_codes=tuple(int(c) for c in o.get("wage_codes", ()) or ()),
                   full_refresh_days=max(1, int(o.get("full_refresh_days", 7))), debtor_id=o.get("debtor_id"),
                   timeout=float(knobs.get("timeout_seconds", 60.0)),
                   retry_attempts=max(1, int(knobs.get("max_attempts", 5))),
                   max_throttled=max(1, int(knobs.get("max_throttled", 10))),
                   retry_wait=float(knobs.get("backoff_seconds", 1.0)),
                   max_wait=float(knobs.get("max_backoff_seconds", 60.0)),
                   document_polls=max(1, int(o.get("document_polls", 30))),
                   document_wait=float(o.get("document_wait", 1.0)))

    @property
    def policy(self) -> RetryPolicy:
        """The retry policy of every API call (waits in seconds)."""
        return RetryPolicy(max_attempts=self.retry_attempts, backoff_seconds=self.retry_wait,
                           max_backoff_seconds=self.max_wait, max_throttled=self.max_throttled)
