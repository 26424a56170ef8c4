"""The ``retention:`` section of ``employers.yaml`` as a typed model (issue 14): :class:`RetentionPolicy`.

One set of defaults and their grounds: docs/privacy.md ("Retention"); what each class covers and
how it is purged: :mod:`payroll_etl.retention` (which re-exports this class). Unknown keys,
non-integers (also ``true`` and ``"7"``) and values below 1 are refused naming the field; ``null``
keeps a class forever. A leaf module (pydantic and errors only), so the config models and the
purge can both import it without an import cycle.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import ConfigDict, Field, StrictInt, ValidationError
from pydantic.dataclasses import dataclass

from payroll_etl.errors import ConfigurationError

# Whole days or years >= 1; null keeps the class forever.
Period = Annotated[StrictInt, Field(ge=1)] | None


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class RetentionPolicy:
    """Retention per data class; ``None`` = keep forever. Days (``*_days``) or years (``*_years``).

    Defaults (docs/privacy.md): landing 92 days (the replay window), staging 14 days, Data Docs and
    ``dq_result`` 730 days, quarantine 730 days, leavers' superseded history and identity 7 years
    (fiscal retention, art. 52 AWR).
    """

    landing_days: Annotated[Period, Field(description="raw payloads (clear BSN, IBAN): the replay window")] = 92
    staging_days: Annotated[Period, Field(description="hand-over files between the tasks of one run")] = 14
    reports_days: Annotated[Period, Field(description="Data Docs HTML and dq_result rows")] = 730
    quarantine_days: Annotated[Period, Field(description="quarantine rows (ids + landing references)")] = 730
    leaver_history_years: Annotated[Period, Field(description="superseded warehouse history of people who left")] = 7
    leaver_identity_years: Annotated[Period, Field(description="person_identity rows of people who left")] = 7

    @classmethod
    def from_config(cls, raw: dict[str, Any] | None, where: str = "retention") -> RetentionPolicy:
        """The policy of a ``retention:`` mapping (None: the defaults).

        Raises ConfigurationError ``<where>: unknown keys [...]`` or ``<where>.<field>: <problem>``
        (never the value).
        """
        try:
            return cls(**dict(raw or {}))
        except ValidationError as exc:
            raise ConfigurationError(f"{where}: {'; '.join(problems(exc))}") from None


def problems(exc: ValidationError) -> list[str]:
    """A retention ValidationError as ``<field>: <problem>`` lines, unknown keys as one line."""
    unknown = sorted(str(err["loc"][-1]) for err in exc.errors() if err["type"] == "unexpected_keyword_argument")
    lines = [f"{'.'.join(map(str, err['loc']))}: {err['msg'].lower()}" for err in exc.errors()
             if err["type"] != "unexpected_keyword_argument"]
    return lines + ([f"unknown keys {unknown}"] if unknown else [])
