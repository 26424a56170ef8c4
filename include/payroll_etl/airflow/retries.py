"""The task retry policy of every payroll task: the error taxonomy (``payroll_etl.errors``) decides.

``retry_policy()`` fails a task at once unless ``errors.is_retryable`` says the error is weather
(``TransientSourceError``, ``WarehouseError``) or Airflow stopped a task that ran past its
``execution_timeout`` (``AirflowTaskTimeout``: a hung source or warehouse, weather too); then the
task's retries apply, starting after ``retry_delay()`` and doubling (``dag_factory.build_dag``).
"""

from __future__ import annotations

import os
from datetime import timedelta
from functools import lru_cache
from typing import Any

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryDecision, RetryRule
from airflow.sdk.exceptions import AirflowTaskTimeout

from payroll_etl.errors import PayrollError, is_retryable, not_retryable_classes

# The payroll errors that never retry, derived from the taxonomy (errors.py: a class says ``retryable``);
# shown as the policy's rule. The decision itself is errors.is_retryable, for any exception.
NO_RETRY: list[type[BaseException] | str] = [
    f"{cls.__module__}.{cls.__qualname__}" for cls in not_retryable_classes() if cls is not PayrollError]


class _SharedRetryPolicy(ExceptionRetryPolicy):
    """The task retry decision of ``payroll_etl.errors.is_retryable``: a retryable payroll error
    (``TransientSourceError``, ``WarehouseError``) and Airflow's own ``AirflowTaskTimeout``
    (``execution_timeout`` hit) take the task's retries with exponential backoff; anything else
    fails at once, our own bugs included (a ``ValueError`` from a bad Connection extra is not weather).
    ``rules`` names the payroll errors that fail at once (:data:`NO_RETRY`).

    Immutable in practice, so every task may share one instance: Airflow deep-copies
    default_args into each operator, and copying the rules 4,000 times cost ~1 s of parse time."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedRetryPolicy:
        return self

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Any = None) -> RetryDecision:
        """DEFAULT (the task's retries and backoff) when ``is_retryable(exception)`` or the task hit its
        ``execution_timeout`` (``AirflowTaskTimeout``, which the task runner passes here), else FAIL."""
        if is_retryable(exception) or isinstance(exception, AirflowTaskTimeout):
            return RetryDecision(action=RetryAction.DEFAULT)
        return RetryDecision.fail(f"{type(exception).__name__}: not transient, needs a human (errors.is_retryable)")


@lru_cache(maxsize=1)
def retry_policy() -> ExceptionRetryPolicy:
    """Credentials, rights, config, bad data and bugs never get better by retrying: fail at once."""
    return _SharedRetryPolicy(rules=[
        RetryRule(exception=NO_RETRY, action=RetryAction.FAIL, reason="not transient: needs a human"),
    ])


def retry_delay() -> timedelta:
    """The first task retry's delay (doubling from there, at most 30 min): 2 minutes, or
    ``PAYROLL_RETRY_DELAY_SECONDS`` (read at parse time; the soak, scripts/soak.py, uses a few seconds).
    Raises ValueError naming the variable when it is not a non-negative number."""
    raw = os.environ.get("PAYROLL_RETRY_DELAY_SECONDS")
    if not raw:
        return timedelta(minutes=2)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if seconds < 0:
        raise ValueError(f"PAYROLL_RETRY_DELAY_SECONDS must be a number of seconds >= 0, got {raw!r}")
    return timedelta(seconds=seconds)
