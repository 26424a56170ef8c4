"""One retry policy for every connector call: tenacity, driven by the error taxonomy.

Whether a failed attempt is tried again is decided by :func:`payroll_etl.errors.is_retryable`
(the same rule the Airflow retry policy uses): a transport raises :class:`Retry` (a
:class:`~payroll_etl.errors.TransientSourceError`) for 5xx, 429, timeouts and resets, and anything
not retryable (a refused login, a ``ValueError``) fails at once.

Waits grow exponentially, ``backoff_seconds * 2 ** (attempt - 1)``, capped at
``max_backoff_seconds``; a 429 or 503 that states ``Retry-After`` (delta-seconds or an HTTP date,
RFC 9110 §10.2.3) waits that long instead, under the same cap. Throttled attempts (429) have their
own budget, ``max_throttled``, apart from ``max_attempts``.

Tuning knobs have one set of names for every connector, declared with their deprecated aliases by
the pydantic model :class:`payroll_etl.connectors.options.Tuning` (its ``policy`` builds a
:class:`RetryPolicy`); :func:`tuning` reads them from a plain mapping.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from payroll_etl.connectors.options import Tuning
from payroll_etl.errors import TransientSourceError, is_retryable

log = logging.getLogger(__name__)
T = TypeVar("T")


class Retry(TransientSourceError):
    """One attempt failed in a way worth another (5xx, 429, timeout, connection reset).

    ``reason`` is short and safe to log ("HTTP 503", "timeout"); ``retry_after`` the seconds the
    source asked us to wait (``Retry-After``), if any; ``throttled`` marks a 429, counted against
    :attr:`RetryPolicy.max_throttled` instead of :attr:`RetryPolicy.max_attempts`.
    """

    def __init__(self, reason: str, *, retry_after: float | None = None, throttled: bool = False):
        super().__init__(reason)
        self.reason, self.retry_after, self.throttled = reason, retry_after, throttled


def retry_after_seconds(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds ("120") or an HTTP date
    ("Wed, 21 Oct 2026 07:28:00 GMT", waited until then, never negative). None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now()).total_seconds())


def tuning(values: Mapping[str, Any] | None, where: str) -> dict[str, int | float]:
    """The tuning knobs given in ``values`` (a Connection extra or an employer's ``options``) by their
    unified names, typed (:class:`~payroll_etl.connectors.options.Tuning`: deprecated names read,
    unified name wins, other keys ignored). ConfigurationError ``<where>: <key> must be a number``
    for a bad value (never the value itself)."""
    knobs = Tuning.from_extra(values, where)
    return {name: value for name, value in knobs.model_dump(exclude_unset=True).items() if value is not None}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a connector call is retried (see the module docstring).

    ``max_attempts``: attempts in all for transient failures (at least 1); ``max_throttled``: 429
    answers honoured before giving up; ``backoff_seconds``: the first wait; ``max_backoff_seconds``:
    the cap on every wait, ``Retry-After`` included.
    """

    max_attempts: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    max_throttled: int = 10

    @classmethod
    def of(cls, knobs: Tuning) -> RetryPolicy:
        """The policy of ``knobs`` (an options model or a Connection's tuning); ``max_backoff_seconds``
        None means 30 × ``backoff_seconds``."""
        cap = knobs.max_backoff_seconds if knobs.max_backoff_seconds is not None else 30 * knobs.backoff_seconds
        return cls(max_attempts=knobs.max_attempts, backoff_seconds=knobs.backoff_seconds,
                   max_backoff_seconds=cap, max_throttled=knobs.max_throttled)

    def wait_seconds(self, attempt: int, error: BaseException | None) -> float:
        """The wait after failed attempt number ``attempt`` (1-based)."""
        if isinstance(error, Retry) and error.retry_after is not None:
            return min(error.retry_after, self.max_backoff_seconds)
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_backoff_seconds)

    def run(self, attempt: Callable[[], T], *, what: str, sleep: Callable[[float], None] = time.sleep) -> T:
        """``attempt()`` until it returns, retrying what :func:`is_retryable` allows.

        When the budget is spent, raises ``TransientSourceError("{what} failed after N attempts:
        {reason}")``; a non-retryable error propagates at once, unchanged."""
        counts = {"transient": 0, "throttled": 0}

        def stop(state: RetryCallState) -> bool:
            error = state.outcome.exception() if state.outcome else None
            kind = "throttled" if isinstance(error, Retry) and error.throttled else "transient"
            counts[kind] += 1
            return counts[kind] >= (self.max_throttled if kind == "throttled" else self.max_attempts)

        def before_sleep(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning("%s: attempt %d failed (%s); retrying", what, state.attempt_number, _reason(error))

        retrying = Retrying(retry=retry_if_exception(is_retryable), stop=stop, sleep=sleep, reraise=True,
                            wait=lambda state: self.wait_seconds(
                                state.attempt_number, state.outcome.exception() if state.outcome else None),
                            before_sleep=before_sleep)
        try:
            return retrying(attempt)
        except TransientSourceError as error:
            if not is_retryable(error) or sum(counts.values()) == 0:
                raise
            raise TransientSourceError(f"{what} failed after {sum(counts.values())} attempts: "
                                       f"{_reason(error)}") from None


def _reason(error: BaseException | None) -> str:
    return error.reason if isinstance(error, Retry) else str(error)
