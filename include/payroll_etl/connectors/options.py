"""What every connector's settings share: the ``options:`` base model and the tuning knobs.

Each connector declares its own ``options:`` model, ``Options`` in ``connectors/<name>/settings.py``,
named by :data:`payroll_etl.connectors.registry.CONNECTORS` (``ConnectorSpec.options``); the
employer config (``payroll_etl.config``) validates an entry's ``options:`` against it, so an unknown
key (``max_workerz: 4``) or a wrong type (``timeout_seconds: fast``) is a configuration error naming
the employer and the field, never silently ignored.

The tuning knobs (:class:`Tuning`) have one set of names for every connector, whether they live in
an employer's ``options:`` (Nmbrs) or in an Airflow Connection's extra (Loket):
``timeout_seconds`` (s per call), ``max_attempts`` (attempts per call, at least 1),
``backoff_seconds`` (s, base of the exponential backoff), ``max_backoff_seconds`` (s, cap of every
wait, ``Retry-After`` included) and ``max_throttled`` (429 answers honoured before giving up). The
names used before (:data:`DEPRECATED_NAMES`) are accepted as aliases; when both are given the
unified name wins.

Only pydantic and the standard library are imported here: the models are built at DAG-parse time.
"""

from __future__ import annotations

from collections.abc import Mapping
from difflib import get_close_matches
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Self

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from payroll_etl.errors import ConfigurationError

if TYPE_CHECKING:
    from payroll_etl.config import EmployerConfig

# Names read before the knobs were unified: deprecated, still accepted (old name -> unified name).
DEPRECATED_NAMES: dict[str, str] = {
    "timeout": "timeout_seconds", "retry_attempts": "max_attempts", "backoff": "backoff_seconds",
    "retry_wait": "backoff_seconds", "max_backoff": "max_backoff_seconds", "max_wait": "max_backoff_seconds",
}
_DESCRIPTIONS = {
    "timeout_seconds": "seconds per call", "max_attempts": "attempts per call before the task fails",
    "backoff_seconds": "seconds, base of the exponential backoff",
    "max_backoff_seconds": "seconds, cap of every wait (Retry-After included)",
    "max_throttled": "429 answers honoured before giving up",
}
_NUMBER_ERRORS = ("float_parsing", "float_type", "int_parsing", "int_type", "int_from_float", "value_error")


def _no_bool(value: object) -> object:
    if isinstance(value, bool):  # YAML/JSON ``true`` is no number of seconds
        raise ValueError("must be a number")
    return value


Timeout = Annotated[float, Field(gt=0), BeforeValidator(_no_bool)]  # seconds, more than 0
Seconds = Annotated[float, Field(ge=0), BeforeValidator(_no_bool)]  # seconds, 0 or more
Count = Annotated[int, Field(ge=1), BeforeValidator(_no_bool)]  # at least 1


def knob(name: str, default: float | int | None) -> Any:
    """The pydantic ``Field`` of tuning knob ``name`` (a key of :data:`_DESCRIPTIONS`) with ``default``:
    its deprecated names (:data:`DEPRECATED_NAMES`) as aliases and its unit in the description (the
    bounds are in the type: :data:`Timeout`, :data:`Seconds`, :data:`Count`). A connector overriding a
    default redeclares the field with this (``timeout_seconds: Timeout = knob("timeout_seconds", 120.0)``)."""
    old = [alias for alias, new in DEPRECATED_NAMES.items() if new == name]
    return Field(default, validation_alias=AliasChoices(name, *old), description=_DESCRIPTIONS[name])


def _schema_aliases(schema: dict[str, Any]) -> None:
    """List the deprecated names in the JSON schema too (``deprecated: true``), so an editor checking
    an old employers.yaml against it does not flag names the models still accept."""
    properties = schema.get("properties", {})
    for old, new in DEPRECATED_NAMES.items():
        if new in properties:
            properties[old] = {**properties[new], "deprecated": True, "description": f"deprecated: use {new}"}


class Tuning(BaseModel):
    """The shared tuning knobs (module docstring), with the defaults of the transports' retry policy
    (:meth:`payroll_etl.connectors.transport.retry.RetryPolicy.of` builds one from a model).

    Keys that are not knobs are ignored here (a Connection extra also holds client ids and tokens);
    the ``options:`` models refuse them (:class:`TunedOptions`). ``None`` counts as not given. A
    subclass read from a Connection extra lists the other keys that extra may hold in
    ``connection_keys``; :meth:`from_extra` then refuses every key that is neither a knob (nor one of
    its old names) nor listed there.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_schema_aliases)
    # Non-knob keys a Connection extra may hold (client ids, tokens, ...); None: any other key is ignored.
    connection_keys: ClassVar[frozenset[str] | None] = None

    timeout_seconds: Timeout = knob("timeout_seconds", 60.0)
    max_attempts: Count = knob("max_attempts", 5)
    backoff_seconds: Seconds = knob("backoff_seconds", 1.0)
    max_backoff_seconds: Seconds | None = knob("max_backoff_seconds", 60.0)
    max_throttled: Count = knob("max_throttled", 10)

    @model_validator(mode="before")
    @classmethod
    def _one_name_per_knob(cls, data: Any) -> Any:
        """Drop ``None`` knobs and a deprecated name whose unified name (or an earlier alias) is given."""
        if not isinstance(data, Mapping):
            return data
        out = {k: v for k, v in data.items() if not (v is None and DEPRECATED_NAMES.get(k, k) in _DESCRIPTIONS)}
        seen = {k for k in out if k in _DESCRIPTIONS}
        for old, new in DEPRECATED_NAMES.items():
            if old in out:
                if new in seen:
                    del out[old]
                seen.add(new)
        return out

    @classmethod
    def known_keys(cls) -> frozenset[str]:
        """The keys :meth:`from_extra` accepts: every field, its old names (aliases) and ``connection_keys``."""
        names: set[str] = set(cls.connection_keys or ())
        for name, info in cls.model_fields.items():
            names.add(name)
            alias = info.validation_alias
            choices = alias.choices if isinstance(alias, AliasChoices) else [alias] if alias else []
            names.update(c for c in choices if isinstance(c, str))
        return frozenset(names)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | None, where: str) -> Self:
        """The knobs in ``extra`` (an Airflow Connection's extra) over this model's defaults. Other keys
        are ignored, unless the model lists ``connection_keys``: then a key outside :meth:`known_keys`
        (a typo such as ``max_atempts``) raises ConfigurationError ``<where>: unknown key 'max_atempts'``.
        A bad value raises ConfigurationError ``<where>: <key> must be a number`` (or the broken bound).
        Messages name the key as given and never a value: a bad setting is a human's to fix, never retried."""
        if cls.connection_keys is not None and extra:
            known = cls.known_keys()
            for key in sorted(str(k) for k in extra if k not in known):
                hint = get_close_matches(key, sorted(known), n=1)
                raise ConfigurationError(f"{where}: unknown key {key!r}"
                                         + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        try:
            return cls.model_validate(dict(extra or {}))
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in first["loc"])
            problem = "must be a number" if first["type"] in _NUMBER_ERRORS else first["msg"]
            raise ConfigurationError(f"{where}: {key} {problem}") from None


class ConnectorOptions(BaseModel):
    """Base of every connector's ``options:`` model: immutable, unknown keys refused (``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    @classmethod
    def of(cls, employer: EmployerConfig) -> Self:
        """``employer.options`` as this model (EmployerConfig validates it on construction, against
        the registry's model of ``employer.connector``); ConfigurationError when it is another model."""
        if not isinstance(employer.options, cls):
            raise ConfigurationError(f"employer {employer.employer}: options of connector {employer.connector} "
                                     f"are no {cls.__module__}.{cls.__qualname__}")
        return employer.options


class TunedOptions(Tuning, ConnectorOptions):
    """``options:`` of a connector tuned per employer: the shared knobs (:class:`Tuning`), unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True,
                              json_schema_extra=_schema_aliases)
