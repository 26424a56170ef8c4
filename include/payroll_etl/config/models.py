"""The pydantic models of ``employers.yaml``: what an entry may say, with types and defaults.

* An employer entry is discriminated on ``connector``: one model per connector of the registry
  (``payroll_etl.connectors.registry.CONNECTORS``), whose ``options`` is that connector's options
  model (``payroll_etl.connectors.options``). An entry with a ``connectors:`` history
  (docs/migration.md) is a :class:`HistoryEntry`, each of its spells discriminated the same way.
* ``data_quality`` is :class:`DataQualitySettings`: the one place its defaults live.
* ``retention`` is :class:`~payroll_etl.config.retention.RetentionPolicy` (its defaults live there).
* :func:`file_schema` is the JSON schema of the whole file, published as docs/employers.schema.json.

Unknown keys are refused everywhere (``extra="forbid"``). The rules' messages are what the
loader (``payroll_etl.config.loader``) reports, prefixed with the entry (its key and position).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional, Union

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    WithJsonSchema,
    create_model,
    field_validator,
    model_validator,
)

from payroll_etl.config.employer import KEY_RE
from payroll_etl.config.retention import RetentionPolicy
from payroll_etl.connectors.options import ConnectorOptions
from payroll_etl.connectors.registry import CONNECTORS as REGISTRY
from payroll_etl.errors import ConfigurationError
from payroll_etl.periods import FREQUENCIES, TAILS
from payroll_etl.refresh import WEEKDAYS, parse_every

FORBID = ConfigDict(extra="forbid", frozen=True)


def _one_of(name: str, values: tuple[str, ...]) -> Any:
    """A str restricted to ``values``, refused as "<name> must be one of a, b, c" (enum in the schema)."""
    def check(value: str) -> str:
        if value not in values:
            raise ValueError(f"{name} must be one of {', '.join(values)}")
        return value
    return Annotated[str, AfterValidator(check), WithJsonSchema({"enum": list(values)})]


def _refresh_every(value: object) -> int | str | None:
    try:
        return parse_every(value, "")
    except ConfigurationError as exc:
        raise ValueError(str(exc).removeprefix(": ")) from None


def _as_list(value: object) -> object:
    return value if isinstance(value, list | tuple) else [value]


def _cutover_date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError("'from' must be a date (YYYY-MM-DD)") from None


@cache
def _valid_cron(expression: str) -> bool:
    """Memoised: 10,000 employers share a handful of schedules."""
    from croniter import croniter

    return bool(croniter.is_valid(expression))


@cache
def _valid_zone(name: str) -> bool:
    from zoneinfo import ZoneInfo

    try:
        ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return False
    return True


RefreshEvery = Annotated[int | str | None, BeforeValidator(_refresh_every), WithJsonSchema({"anyOf": [
    {"type": "integer", "minimum": 0}, {"enum": sorted(WEEKDAYS)}, {"type": "null"}, {"const": False}],
    "description": "days between full refreshes, or a weekday; 0/false/null: never"})]
SourceIds = Annotated[tuple[str | int, ...], BeforeValidator(_as_list), Field(min_length=1)]


class EmployerFields(BaseModel):
    """What every employer entry (and the ``defaults:`` section) may set, besides the connector."""

    model_config = FORBID

    name: str | None = Field(None, description="display name (default: the key)")
    schedule: str | None = Field("0 2 * * *", description="cron of the nightly, in `timezone`; null: manual only")
    timezone: str = "Europe/Amsterdam"
    enabled: bool = True
    payroll_frequency: _one_of("payroll_frequency", FREQUENCIES) = "month"  # type: ignore[valid-type]
    four_week_tail: _one_of("four_week_tail", TAILS) = "period13"  # type: ignore[valid-type]
    full_refresh_every: RefreshEvery = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        """A cron expression (or preset such as ``@daily``) as Airflow's timetable reads it (croniter)."""
        if value is not None and not _valid_cron(value):
            raise ValueError("schedule must be a cron expression such as '0 2 * * *', or null")
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        """An IANA time zone name (the zone the nightly cron is read in)."""
        if not _valid_zone(value):
            raise ValueError("timezone must be an IANA time zone name such as Europe/Amsterdam")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_history_keys(cls, data: Any) -> Any:
        """``history``/``shadow`` belong to a ``connectors:`` list (docs/migration.md)."""
        if isinstance(data, dict) and "connectors" not in data:
            for key in ("history", "shadow"):
                if key in data:
                    raise ValueError(f"{key!r} is only valid inside connectors:")
        return data


class _Keyed(EmployerFields):
    employer: str = Field(description="our key, lower_snake_case; the DAG is payroll_<connector>_<employer>",
                          json_schema_extra={"pattern": KEY_RE.pattern})

    @field_validator("employer")
    @classmethod
    def _key(cls, value: str) -> str:
        if not KEY_RE.match(value):
            raise ValueError("employer key must be lower_snake_case")
        return value


def _tag(value: Any) -> str | None:
    """The union tag of an entry: its ``connector`` when the registry knows it, else None (refused)."""
    connector = value.get("connector") if isinstance(value, dict) else getattr(value, "connector", None)
    return connector if connector in REGISTRY else None


def _by_connector(models: Mapping[str, type[BaseModel]]) -> Any:
    """The union of ``models`` discriminated on ``connector``; an unknown one is named in the error."""
    names = tuple(models)
    members = tuple(Annotated[model, Tag(name)] for name, model in models.items())
    return Annotated[Union[members], Discriminator(  # noqa: UP007
        _tag, custom_error_type="connector", custom_error_message=f"connector must be one of {names}")]


def _options(name: str) -> type[ConnectorOptions]:
    model: Any = REGISTRY[name].options_model()
    return model


def _optional(model: type[BaseModel]) -> Any:
    return Optional[model]  # noqa: UP045


def _literal(name: str) -> Any:
    return Literal[name]


@cache
def plain_entries() -> dict[str, type[_Keyed]]:
    """connector -> the model of a single-connector employer entry (from the registry)."""
    return {name: create_model(
        f"{name.title().replace('_', '')}Employer", __base__=_Keyed,
        connector=(_literal(name), ...), conn_id=(str, Field(min_length=1, description="Airflow Connection id")),
        source_ids=(SourceIds, ...), options=(_options(name), Field(default_factory=_options(name))))
        for name in REGISTRY}


class _SpellBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    conn_id: str = Field(min_length=1)
    source_ids: SourceIds | None = None
    first: Annotated[date | None, BeforeValidator(_cutover_date)] = Field(
        None, alias="from", description="first logical date this connector publishes (the cutover)")
    shadow: bool = False

    @model_validator(mode="before")
    @classmethod
    def _needs(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not data.get("connector") or not data.get("conn_id"):
            raise ValueError("needs connector and conn_id")
        return data


@cache
def spells() -> dict[str, type[_SpellBase]]:
    """connector -> the model of one entry of a ``connectors:`` history (from the registry)."""
    return {name: create_model(
        f"{name.title().replace('_', '')}Spell", __base__=_SpellBase,
        connector=(_literal(name), ...), options=(_optional(_options(name)), None))
        for name in REGISTRY}


class HistoryEntry(_Keyed):
    """An employer with a connector history (oldest first); see ``loader.expand_connectors``."""

    source_ids: SourceIds | None = None
    options: dict[str, Any] = Field(default_factory=dict, description="shared by every connector of the history")
    connectors: list[Any] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _either(cls, data: Any) -> Any:
        if isinstance(data, dict):
            if "connector" in data or "conn_id" in data:
                raise ValueError("give either connector/conn_id or connectors:, not both")
            if not isinstance(data.get("connectors"), list) or not data["connectors"]:
                raise ValueError("connectors must be a non-empty list")
        return data

    @field_validator("connectors")
    @classmethod
    def _spells(cls, value: list[Any]) -> list[Any]:
        """Each spell validated against its connector's model; then the order rules (docs/migration.md):
        only the last may be a shadow, ``from`` is required after the first and strictly increases, and
        consecutive spells differ."""
        spells = spell_list().validate_python(value)
        for i, spell in enumerate(spells):
            if spell.shadow and i != len(spells) - 1:
                raise ValueError(f"connectors[{i}]: only the last connector can be a shadow")
            if i and spell.first is None and not spell.shadow:
                raise ValueError(f"connectors[{i}]: 'from' (the cutover date) is required after the first connector")
            if i and spell.connector == spells[i - 1].connector:
                raise ValueError(f"connectors[{i}]: the same connector twice in a row")
            if spell.first is not None and any(s.first is not None and s.first >= spell.first for s in spells[:i]):
                raise ValueError(f"connectors[{i}]: 'from' dates must increase")
        return spells


@cache
def spell_list() -> TypeAdapter[list[Any]]:
    """Validates the ``connectors:`` list of a :class:`HistoryEntry`."""
    member: Any = _by_connector(spells())
    return TypeAdapter(list[member])


@cache
def plain_entry() -> TypeAdapter[Any]:
    """Validates one single-connector entry (discriminated on ``connector``)."""
    return TypeAdapter(_by_connector(plain_entries()))


class DataQualitySettings(BaseModel):
    """The ``data_quality:`` section, and the defaults of every data-quality rule (quality/rules.py).

    ``max_drop_pct``: % fewer rows per entity than the previous run that still loads (a bigger drop
    blocks the load; default 50, the shipped employers.yaml sets 30; docs/decisions.md);
    ``volume_min_previous_rows``: below this many rows last run a drop only warns;
    ``holiday_allowance_min_pct``: the WML minimum holiday allowance (docs/domain.md §6);
    ``correction_components``: components that may carry negative amounts;
    ``severity_overrides``: check name -> error | warn; ``employers``: key -> overrides of these.
    """

    model_config = FORBID

    max_drop_pct: float = Field(default=50, ge=0, le=100)
    volume_min_previous_rows: int = Field(default=10, ge=0)
    holiday_allowance_min_pct: float = Field(default=8, ge=0)
    correction_components: tuple[str, ...] = ("CORRECTIE", "CORRECTION", "CORR")
    severity_overrides: dict[str, Literal["error", "warn"]] = Field(default_factory=dict)
    employers: dict[str, DataQualityOverride] = Field(default_factory=dict)

    def for_employer(self, key: str) -> dict[str, Any]:
        """The settings one employer's run uses: these, then its ``employers.<key>`` overrides."""
        base = self.model_dump(exclude={"employers"})
        override = self.employers.get(key)
        return {**base, **(override.model_dump(exclude_unset=True) if override else {})}


# Per-employer overrides: the same fields, all optional (no second list of names or defaults).
if TYPE_CHECKING:
    DataQualityOverride = DataQualitySettings
else:
    DataQualityOverride = create_model(
        "DataQualityOverride", __config__=FORBID,
        **{name: (Optional[info.annotation], None) for name, info in DataQualitySettings.model_fields.items()  # noqa: UP045
           if name != "employers"})
DataQualitySettings.model_rebuild()


class EmployersFile(BaseModel):
    """The whole ``employers.yaml`` (only for the published JSON schema; the loader validates per entry,
    and ``data_quality.employers.<key>`` and ``retention`` per section: ``loader._validate_file``)."""

    model_config = FORBID

    defaults: EmployerFields = EmployerFields.model_validate({})
    pools: dict[str, int] = Field(default_factory=dict, description="Airflow pool -> slots")
    data_quality: DataQualitySettings = DataQualitySettings()
    retention: RetentionPolicy = Field(RetentionPolicy(), description="days/years per data class; null: keep "
                                       "forever (docs/privacy.md, payroll_etl.retention)")
    employers: list[Any] = Field(default_factory=list)


def file_schema() -> dict[str, Any]:
    """The JSON schema of employers.yaml (docs/employers.schema.json; ``make schema`` rewrites it)."""
    entry: Any = Union[_by_connector(plain_entries()), HistoryEntry]  # noqa: UP007
    spell: Any = _by_connector(spells())
    model = create_model("EmployersYaml", __base__=EmployersFile, employers=(list[entry], []))
    history = create_model("HistoryEntry", __base__=HistoryEntry, connectors=(list[spell], ...))
    schema = model.model_json_schema()
    schema["$defs"]["HistoryEntry"] = history.model_json_schema(ref_template="#/$defs/{model}")
    schema["$defs"].update(schema["$defs"]["HistoryEntry"].pop("$defs", {}))
    return schema
