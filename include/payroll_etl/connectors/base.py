"""The one interface every payroll connector implements.

A connector has two halves that never share state:

* ``extract`` talks to the source and hands every raw payload, exactly as received, to a
  :class:`LandingSink`; it returns call counts and the new watermarks (committed only when
  the warehouse load succeeds, so a failed run re-fetches).
* ``normalize`` turns landed raw pages back into canonical rows. It never touches the network,
  so any landed run can be replayed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from payroll_etl.config import EmployerConfig
from payroll_etl.model import ENTITIES
from payroll_etl.parsing import Parser, RecordIssue
from payroll_etl.periods import PayPeriod

if TYPE_CHECKING:
    from payroll_etl.connectors.transport.tokens import TokenStore


@dataclass(frozen=True)
class ExtractRequest:
    """What one extract fetches: the employer entry, the run's logical date and pay period, whether it is a
    full refresh or a backfill of a past period, and the watermarks (``state``) of the last successful load."""

    employer: EmployerConfig
    logical_date: date
    period: PayPeriod
    full_refresh: bool = False
    state: dict[str, Any] = field(default_factory=dict)  # watermarks from the last successful load
    backfill: bool = False  # a past period: fetch that period's payroll results


class LandingSink(Protocol):
    """Where ``extract`` hands every raw payload, exactly as received (``payroll_etl.landing`` writes it to
    Parquet): entity, payload text, the URL it came from, the source id, HTTP status, content type and
    optional metadata. Credentials (token responses) are never written to it."""

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None: ...


@dataclass
class ExtractResult:
    """What ``extract`` returns: the number of source calls, the new watermarks (committed only when the
    load succeeds), each entity's scope (``full`` or ``incremental``) and the pay period as the source states it."""

    calls: int = 0
    state: dict[str, Any] = field(default_factory=dict)
    # "full": the entity was fetched completely; "incremental": only changed records;
    # absent: not fetched this run. Completeness checks only judge "full" entities.
    scope: dict[str, str] = field(default_factory=dict)
    # The pay period this run processed as the source states it (its calendar and dates), when the
    # source states one; it replaces the computed ``request.period`` for the rest of the run.
    period: PayPeriod | None = None


@dataclass(frozen=True)
class RawPage:
    """One landed payload as ``normalize`` reads it back: entity, payload text, URL, source id, content type."""

    entity: str
    payload: str
    url: str
    source_id: str
    content_type: str = "application/json"


def checked_rows(entity: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` unchanged when each has exactly the columns of ``model.ENTITIES[entity].row_columns``.

    A row with a missing or misspelled column raises ``TypeError`` naming the entity and the columns,
    never a value (``model.Entity.row`` is the rule), instead of its value silently staging as NULL;
    an unknown ``entity`` raises ``TypeError`` naming it. Compares key sets only (~0.5 us a row).
    """
    spec = ENTITIES.get(entity)
    if spec is None:
        raise TypeError(f"unknown entity {entity!r}: not in model.ENTITIES")
    columns = spec.row_columns
    for row in rows:
        if row.keys() != columns:
            spec.row(**row)  # raises the TypeError naming missing/unknown columns
    return rows


@dataclass
class Normalized:
    """What ``normalize`` returns: canonical rows per entity (built with ``model.Entity.row``), the record
    issues found while parsing, and optionally lazily produced row chunks (``streams``).

    ``add``/``extend`` and the streamed chunks check every row's columns (:func:`checked_rows`): a
    connector that builds a row dict by hand and misspells a column fails loudly. Rows put into
    ``rows`` directly are not checked; use ``add``/``extend``.
    """

    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    issues: list[RecordIssue] = field(default_factory=list)
    # Bulk entities a connector produces lazily (``normalize(..., stream=True)``): entity -> an
    # iterator of row chunks (lists of row dicts), consumed once by the pipeline, which writes
    # chunk by chunk. Issues found while producing them are added to ``issues`` (and to the
    # parser) by the time the iterator is exhausted. Connectors that do not stream leave it empty.
    streams: dict[str, Iterator[list[dict[str, Any]]]] = field(default_factory=dict)

    def add(self, entity: str, row: dict[str, Any]) -> None:
        """Append ``row`` (a canonical row from ``model.ENTITIES[entity].row(...)``) to ``entity``'s rows.
        TypeError naming entity and columns when its keys are not the entity's ``row_columns``."""
        self.rows.setdefault(entity, []).append(checked_rows(entity, [row])[0])

    def extend(self, entity: str, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (canonical rows of ``entity``) to ``entity``'s rows, each checked like ``add``."""
        self.rows.setdefault(entity, []).extend(checked_rows(entity, rows))

    def chunks(self) -> Iterator[tuple[str, Iterator[list[dict[str, Any]]]]]:
        """Every entity with its rows as chunks: listed entities as one chunk, then the streamed ones
        (each streamed chunk's rows checked as it is produced, :func:`checked_rows`)."""
        for entity in list(self.rows):
            yield entity, iter([self.rows[entity]])
        for entity, stream in self.streams.items():
            yield entity, (checked_rows(entity, chunk) for chunk in stream)


@dataclass(frozen=True)
class SourceCredentials:
    """What an Airflow Connection holds for a source, without Airflow.

    ``host`` is the base URL (simulator or production); ``login``/``password`` are the
    username and the secret (password, API token); ``extra`` holds the rest (client id and
    secret, domain, omgevingscode, tokens). ``repr`` never shows secrets.
    """

    host: str
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)
    # Where rotating tokens are persisted (Loket REST refresh tokens); the Airflow layer attaches one
    # backed by the employer's Connection. None = keep them in memory for this run only.
    token_store: TokenStore | None = field(default=None, repr=False, compare=False)
    conn_id: str | None = None  # the Airflow Connection's id, named in configuration errors

    def where(self, label: str) -> str:
        """``"<label> connection <conn_id> extra"`` (``"<label> connection extra"`` without an id): where a
        bad extra setting is, for a ConfigurationError."""
        return f"{label} connection {self.conn_id} extra" if self.conn_id else f"{label} connection extra"


class Connector(ABC):
    """Connectors are built from credentials with ``from_credentials`` and used for one run.

    Row dicts returned by ``normalize`` use canonical column names (``payroll_etl.model``).
    The pipeline fills ``connector`` and ``employer``; the connector fills ``source_id``,
    ``valid_from`` (the source's effective date; for snapshot entities, the period start) and
    ``valid_to``, plus the entity's attributes (strings, ``date``, ``Decimal``, ``int``, ``bool``)
    parsed with the given :class:`~payroll_etl.parsing.Parser`.
    """

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_credentials(cls, credentials: SourceCredentials) -> Connector:
        """Build a connector; validate credential shapes here (e.g. Nmbrs token length)."""

    @abstractmethod
    def extract(self, request: ExtractRequest, sink: LandingSink) -> ExtractResult:
        """Fetch from the source; every payload goes to ``sink`` before it is interpreted."""

    @classmethod
    @abstractmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser) -> Normalized:
        """Canonical rows from landed pages. Raises MalformedPayloadError naming the page URL."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release sessions; called by the pipeline in ``finally``."""
