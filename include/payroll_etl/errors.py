"""Errors with messages safe to log: they name employer, entity, record and field, never values.

The retry decision lives here, once: a class says ``retryable = True`` or it is not retried.
:func:`is_retryable` answers for any exception; the connectors' transports and the Airflow retry
policy (``payroll_etl.airflow.retries``) both derive from it. ``TransientSourceError`` and
``WarehouseError`` retry with backoff; everything else fails the task at once (no point retrying a
wrong password, and a ``ValueError`` is a bug, not weather).
"""

from __future__ import annotations


class PayrollError(Exception):
    """Base class. ``str(err)`` must never contain BSN, IBAN, birth dates or tokens."""

    retryable = False


class ConfigurationError(PayrollError):
    """The employer config or the Airflow Connection is wrong; a human must fix it."""


class SourceUnreachableError(ConfigurationError):
    """Nothing listens on a local source host (a simulator that is not running). Never retried:
    retrying a refused connection on 127.0.0.1 for a quarter of an hour helps no one."""


class AuthenticationError(PayrollError):
    """Credentials were refused (wrong password, revoked refresh token). Never retried."""


class AuthorizationError(PayrollError):
    """Logged in, but not allowed to do this (missing Loket right, Nmbrs call not enabled)."""


class QuotaExhaustedError(PayrollError):
    """The source's plan volume is used up (Nmbrs REST: 429 code 42909); retrying before the window resets
    only burns calls, so neither the connector nor Airflow retries it."""


class TransientSourceError(PayrollError):
    """5xx, timeouts, resets, 429 after our own retries: Airflow may retry the task."""

    retryable = True


class MalformedPayloadError(PayrollError):
    """The source answered with something we cannot parse; the raw payload is kept in landing."""


class RecordError(PayrollError):
    """One record is unusable; names employer, entity, record and field, never the value."""

    def __init__(self, employer: str, entity: str, record: str, field: str, problem: str):
        self.employer, self.entity, self.record, self.field, self.problem = employer, entity, record, field, problem
        super().__init__(f"employer={employer} entity={entity} record={record} field={field}: {problem}")


class DataQualityError(PayrollError):
    """An error-severity check failed in a way that blocks the whole load."""


class WarehouseError(PayrollError):
    """The warehouse database failed (connection lost, lock timeout): Airflow may retry the task."""

    retryable = True


class PeriodAlreadyLoaded(PayrollError):
    """A backfill run whose pay period another logical date already loaded: nothing to do.

    E.g. a backfill run for a period a nightly or manual run of another day already loaded. The
    Airflow tasks are marked skipped and the run gets a note saying so (airflow/run_policy.py).
    """


def is_retryable(exc: BaseException) -> bool:
    """True when retrying the same call or task may succeed: only a ``PayrollError`` whose class says
    ``retryable``. Anything else (our own bugs, ``ValueError`` from a bad Connection extra) is not."""
    return isinstance(exc, PayrollError) and type(exc).retryable


def not_retryable_classes() -> list[type[PayrollError]]:
    """Every ``PayrollError`` subclass that is never retried (for Airflow's ``ExceptionRetryPolicy``)."""
    seen: list[type[PayrollError]] = []
    stack: list[type[PayrollError]] = [PayrollError]
    while stack:
        cls = stack.pop()
        if not cls.retryable and cls not in seen:
            seen.append(cls)
        stack.extend(cls.__subclasses__())
    return seen
