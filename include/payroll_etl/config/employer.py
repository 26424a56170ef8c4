"""The resolved employer config: one :class:`EmployerConfig` per employer and connector (one DAG).

What the pipeline, the connectors and the DAG factory read. Built by :mod:`payroll_etl.config.loader`
from the validated YAML entries (:mod:`payroll_etl.config.models`), or in code (tests, scripts), where
``options`` may be given as a plain mapping and is validated against the connector's options model.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any

from payroll_etl.errors import ConfigurationError
from payroll_etl.periods import Frequency, Tail

if TYPE_CHECKING:
    from pydantic import BaseModel

    from payroll_etl.config.models import DataQualitySettings
    from payroll_etl.connectors.options import ConnectorOptions

KEY_RE = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
# (connector, first logical date, last logical date) of one publishing spell; dates inclusive, None = open.
Spell = tuple[str, date | None, date | None]


@dataclass(frozen=True)
class EmployerConfig:
    """One employer on one connector: the DAG ``payroll_<connector>_<employer>``.

    ``source_ids``: Loket werkgever ids (GUIDs) or Nmbrs company names / ids, normalised
    (:func:`normalize_source_ids`). ``options``: the connector's options model
    (``registry.CONNECTORS[connector].options``); a mapping given in code is validated into it
    (ConfigurationError naming employer and field). ``history``: the employer's publishing spells,
    oldest first (empty: this connector always publishes); ``shadow``: runs beside the publisher
    before its cutover, publishing nothing (docs/migration.md).
    """

    employer: str  # our key, lower_snake
    name: str
    connector: str
    source_ids: tuple[str, ...]  # Loket werkgever ids / Nmbrs company names or ids
    conn_id: str  # Airflow Connection id holding the credentials
    schedule: str | None = "0 2 * * *"
    timezone: str = "Europe/Amsterdam"
    enabled: bool = True
    # month | four_weeks | week; the source's own statement wins where it makes one (docs/benefits.md)
    payroll_frequency: Frequency = "month"
    # four-weekly calendar: period13 | iso_weeks | period14; see payroll_etl.periods
    four_week_tail: Tail = "period13"
    options: ConnectorOptions | Mapping[str, Any] = field(default_factory=dict)
    # days between scheduled full refreshes, or a weekday; None: never (payroll_etl/refresh.py)
    full_refresh_every: int | str | None = None
    history: tuple[Spell, ...] = ()
    shadow: bool = False  # runs beside the publisher before its cutover, publishing nothing

    def publisher_on(self, day: date) -> str | None:
        """The connector that publishes this employer's facts for logical date ``day`` (None: none yet)."""
        if not self.history:
            return self.connector
        for connector, first, last in self.history:
            if (first is None or first <= day) and (last is None or day <= last):
                return connector
        return None

    def publishes_on(self, day: date) -> bool:
        """True when this connector is the employer's publisher for logical date ``day``."""
        return self.publisher_on(day) == self.connector

    @property
    def other_connectors(self) -> tuple[str, ...]:
        """The employer's other connectors (earlier or later in its history), in history order."""
        return tuple(dict.fromkeys(c for c, _, _ in self.history if c != self.connector))

    def __post_init__(self) -> None:
        # Configs built in code (tests, scripts) get the same normalised source ids and typed options as the YAML.
        # The registry is imported here, not at the top: payroll_etl.connectors imports this module.
        from payroll_etl.connectors.registry import CONNECTORS as REGISTRY

        if self.connector in REGISTRY:
            # Lenient here (what cannot be normalised stays as given); load_config refuses it.
            object.__setattr__(self, "source_ids", normalize_source_ids(
                self.connector, list(self.source_ids), f"employer {self.employer}", strict=False))
            object.__setattr__(self, "options", typed_options(self.connector, self.options, self.employer))

    @property
    def dag_id(self) -> str:
        """``payroll_<connector>_<employer>``."""
        return f"payroll_{self.connector}_{self.employer}"

    @property
    def pool(self) -> str:
        """The Airflow pool bounding this connector's concurrent extracts: ``payroll_<connector>``."""
        return f"payroll_{self.connector}"


def typed_options(connector: str, options: ConnectorOptions | Mapping[str, Any] | None,
                  employer: str) -> ConnectorOptions:
    """``options`` as ``connector``'s options model (already one: returned as is).

    Raises ConfigurationError ``employer <key>: options.<field>: <problem>`` (no values) for an
    unknown key or a wrong type.
    """
    from pydantic import BaseModel, ValidationError

    from payroll_etl.connectors.registry import CONNECTORS as REGISTRY

    model = REGISTRY[connector].options_model()
    if isinstance(options, model):
        return options
    if not isinstance(options, BaseModel) and not options:
        return _default_options(model)
    try:
        return model.model_validate(dict(options or {}))  # type: ignore[return-value]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigurationError(f"employer {employer}: options.{where}: {first['msg']}") from None


@cache
def _default_options(model: type[BaseModel]) -> ConnectorOptions:
    """One shared instance of a model's defaults (immutable): 10,000 employers pickle it once."""
    return model()  # type: ignore[return-value]


@dataclass(frozen=True)
class PipelineConfig:
    """The whole employer config: employers (one entry per DAG), Airflow pool sizes, the
    data-quality settings, the retention section (validated by ``retention.RetentionPolicy``), and
    ``problems``: one message per employer entry that failed validation (their DAGs are not built;
    the DAG file shows each as a ``payroll__<key>__config_error`` DAG).

    ``pools`` (pool name -> slots) always holds ``payroll_<connector>`` for every registered
    connector: ``pools:`` in the file overrides the registry's ``pool_slots`` and may add pools, so
    a new connector's extract tasks never wait for a pool nobody created (docs/decisions.md)."""

    employers: tuple[EmployerConfig, ...]
    pools: dict[str, int]
    dq: DataQualitySettings
    retention: dict[str, Any] = field(default_factory=dict)
    today: date | None = None  # the day the config was read for (schedules of connector histories)
    problems: tuple[EntryProblem, ...] = ()

    def __post_init__(self) -> None:
        from payroll_etl.connectors.registry import default_pools

        object.__setattr__(self, "pools", {**default_pools(), **self.pools})

    def employer(self, key: str, connector: str | None = None) -> EmployerConfig:
        """The entry of employer ``key`` for ``connector``; without one, the connector publishing today."""
        found = [e for e in self.employers if e.employer == key and (connector is None or e.connector == connector)]
        if not found:
            raise ConfigurationError(f"employer {key!r} is not in the employer config")
        today = self.today or date.today()
        return next((e for e in found if e.publishes_on(today)), found[0])

    def by_dag_id(self, dag_id: str) -> EmployerConfig:
        """The entry whose DAG is ``dag_id``; ConfigurationError when there is none."""
        for e in self.employers:
            if e.dag_id == dag_id:
                return e
        raise ConfigurationError(f"no employer config for DAG {dag_id!r}")


@dataclass(frozen=True)
class EntryProblem:
    """An employer entry that failed validation: its position, its key (when it has a usable one)
    and the message (entry and field, never a value that could be personal data)."""

    index: int
    key: str | None
    message: str

    @property
    def dag_id(self) -> str:
        """``payroll__<key>__config_error`` (``entry<i>`` without a usable key): the stand-in DAG
        (airflow/dag_factory.py); the double underscores cannot clash with ``payroll_<connector>_<key>``."""
        key = re.sub(r"[^A-Za-z0-9_]", "_", self.key or "")[:100] or f"entry{self.index}"
        return f"payroll__{key}__config_error"


def build_employer(fields: dict[str, Any], options: ConnectorOptions | Mapping[str, Any], where: str) -> EmployerConfig:
    """An EmployerConfig from validated entry fields; ``source_ids`` normalised strictly
    (ConfigurationError ``<where>: source_ids[i]: <what to enter>``), ``name`` defaulting to the key."""
    fields["source_ids"] = normalize_source_ids(fields["connector"], list(fields["source_ids"]), where)
    fields["name"] = fields.get("name") or fields["employer"]
    return EmployerConfig(**fields, options=options)


def in_shard(dag_id: str, shard: int | None, shards: int) -> bool:
    """True when ``dag_id`` belongs to shard ``shard`` of ``shards`` (``crc32(dag_id) % shards``: stable
    across parses and machines); every DAG belongs when ``shard`` is None."""
    return shard is None or zlib.crc32(dag_id.encode()) % shards == shard


def normalize_source_ids(connector: str, values: list[Any], where: str = "employer config", *,
                         strict: bool = True) -> tuple[str, ...]:
    """``source_ids`` as the source expects them, from what an administrator copied out of its UI.

    The connector's registry entry names the rule (``ConnectorSpec.source_ids``): for Loket (REST and
    SOAP) werkgever ids (GUIDs) in canonical lower-case form, whatever their case, braces or surrounding
    spaces; for Nmbrs (SOAP and REST) Company IDs trimmed, company names kept literally (exact match is
    the rule; the connector reports the closest names). Duplicates after normalisation are dropped.
    Raises :class:`ConfigurationError` naming the entry and saying what to enter (or naming an
    unregistered connector); with ``strict=False`` an entry that cannot be normalised is kept as given.
    Rules: ``payroll_etl.quality.identifiers`` (imported here: that package imports this module).
    """
    from payroll_etl.connectors.registry import CONNECTORS as REGISTRY
    from payroll_etl.quality.identifiers import IdentifierError

    spec = REGISTRY.get(connector)
    if spec is None:
        if strict:
            raise ConfigurationError(f"{where}: connector {connector!r} is not registered "
                                     f"(one of {', '.join(REGISTRY)})")
        return tuple(dict.fromkeys(str(v) for v in values))
    normalise = spec.source_id_normaliser()
    out: list[str] = []
    for j, value in enumerate(values):
        try:
            text = normalise(value)
        except IdentifierError as exc:
            if strict:
                raise ConfigurationError(f"{where}: source_ids[{j}]: {exc}") from None
            text = str(value)
        if text not in out:
            out.append(text)
    return tuple(out)
