"""The ``options:`` of an employer entry in ``employers.yaml``, one pydantic model per connector.

:data:`payroll_etl.connectors.registry.CONNECTORS` names each connector's model
(``ConnectorSpec.options``); the employer config (``payroll_etl.config``) validates an entry's
``options:`` against it, so an unknown key (``max_workerz: 4``) or a wrong type (``timeout: fast``)
is a configuration error naming the employer and the field, never silently ignored.

Only pydantic and the standard library are imported here: the models are built at DAG-parse time.
Units: seconds for ``timeout``/``*_wait``, calls per second for ``rate_limit``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ConnectorOptions(BaseModel):
    """Base of every connector's options: immutable, unknown keys refused (``extra="forbid"``).

    ``get(key, default)`` and ``dict(options)`` keep mapping-style readers working; new code reads
    attributes (``options.timeout``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    def get(self, key: str, default: Any = None) -> Any:
        """The value of option ``key`` (its model default when not set), ``default`` for no such option."""
        return getattr(self, key, default)

    def __iter__(self) -> Iterator[tuple[str, Any]]:  # type: ignore[override]
        """(name, value) pairs of every option, defaults included, so ``dict(options)`` is a plain dict."""
        return ((name, getattr(self, name)) for name in type(self).model_fields)


class LoketRestOptions(ConnectorOptions):
    """Loket REST reads no per-employer options (tuning lives in the Airflow Connection's extra)."""


class LoketSoapOptions(ConnectorOptions):
    """Loket SOAP reads no per-employer options (tuning lives in the Airflow Connection's extra)."""


class _Retrying(ConnectorOptions):
    """The tuning both Nmbrs connectors share: call timeout and in-connector retries."""

    timeout: float = Field(default=60.0, gt=0, description="seconds per call")
    retry_attempts: int = Field(default=5, ge=1, description="attempts per call before the task fails")
    retry_wait: float = Field(default=1.0, ge=0, description="seconds, base of the exponential backoff")
    wage_codes: tuple[int, ...] = Field(default=(), description="restrict payroll results to these wage codes")


class NmbrsOptions(_Retrying):
    """Nmbrs SOAP: ``include`` adds optional calls (``bank_accounts`` → IBAN, ``partner``,
    ``children``); ``max_workers`` parallel calls; ``rate_limit`` calls/s, capped at Nmbrs' fair use
    of 150/s. Source: connectors/nmbrs.py (``OPTIONAL_CALLS``, ``MAX_CALLS_PER_SECOND``)."""

    timeout: float = Field(default=120.0, gt=0, description="seconds per call")
    include: tuple[Literal["bank_accounts", "partner", "children"], ...] = ()
    max_workers: int = Field(default=8, ge=1, description="parallel calls per extract")
    rate_limit: float = Field(default=150.0, gt=0, description="calls per second (above 150 the connector caps it)")


class NmbrsRestOptions(_Retrying):
    """Nmbrs REST: ``include: [bank_accounts]`` adds IBANs; ``full_refresh_days`` forces a full
    extract at least this often; ``debtor_id`` lists that debtor's companies only; ``max_throttled``
    429 answers honoured before giving up; ``max_wait`` caps a backoff or Retry-After (s);
    ``document_polls``/``document_wait`` (s) poll the run-output document.
    Source: connectors/nmbrs_rest/settings.py (``Options``, ``OPTIONAL_LISTS``)."""

    include: tuple[Literal["bank_accounts"], ...] = ()
    full_refresh_days: int = Field(default=7, ge=1)
    debtor_id: str | None = None
    max_throttled: int = Field(default=10, ge=1)
    max_wait: float = Field(default=60.0, ge=0)
    document_polls: int = Field(default=30, ge=1)
    document_wait: float = Field(default=1.0, ge=0)
