"""Lenient, explicit parsing of source values into canonical types.

A value that does not parse becomes ``None`` plus a :class:`RecordIssue` naming employer, entity,
record and field (never the value). Data quality then quarantines the record when the field is
required, so nothing is silently dropped and nothing silently wrong reaches the warehouse.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

_DECIMAL_RE = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class RecordIssue:
    """A value of one record the connector could not parse: names the record and field, never the value.
"""
    employer: str
    entity: str
    source_id: str
    field: str
    check: str  # e.g. "parse_date"
    message: str  # never contains the value itself

    def __str__(self) -> str:
        return (f"employer={self.employer} entity={self.entity} record={self.source_id} "
                f"field={self.field}: {self.message}")


@dataclass
class Parser:
    """Collects issues while parsing the fields of one employer's records."""

    employer: str
    issues: list[RecordIssue] = field(default_factory=list)

    def issue(self, entity: str, source_id: str, field_name: str, check: str, message: str) -> None:
        """Record an issue (``message`` must not contain the value)."""
        self.issues.append(RecordIssue(self.employer, entity, source_id, field_name, check, message))

    def string(self, value: object, entity: str, source_id: str, field_name: str) -> str | None:
        """Stripped text, None when empty; a structure or invalid UTF-8 is an issue."""
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            self.issue(entity, source_id, field_name, "parse_string", "expected text, got a structure")
            return None
        text = str(value).strip()
        if "\ufffd" in text:
            self.issue(entity, source_id, field_name, "encoding", "text is not valid UTF-8")
        return text or None

    def date(self, value: object, entity: str, source_id: str, field_name: str) -> date | None:
        """An ISO date (a datetime's date part); anything else is a ``parse_date`` issue and None."""
        if value is None or value == "":
            return None
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            # Loket sends "2025-01-01" and sometimes "2025-01-01T00:00:00+01:00"; Nmbrs "2025-01-01T00:00:00".
            return date.fromisoformat(text[:10])
        except ValueError:
            self.issue(entity, source_id, field_name, "parse_date", "not a valid ISO date")
            return None

    def decimal(self, value: object, entity: str, source_id: str, field_name: str) -> Decimal | None:
        """A plain decimal number; locale formats ("12,5") and booleans are issues, never guessed."""
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            self.issue(entity, source_id, field_name, "parse_decimal", "expected a number, got a boolean")
            return None
        if isinstance(value, (int, Decimal)):
            return Decimal(value)
        if isinstance(value, float):
            return Decimal(repr(value))
        text = str(value).strip()
        if not _DECIMAL_RE.match(text):
            # "1.234,56" or "12,5": ambiguous locale formatting is refused, not guessed.
            self.issue(entity, source_id, field_name, "parse_decimal", "not a plain decimal number")
            return None
        try:
            return Decimal(text)
        except InvalidOperation:
            self.issue(entity, source_id, field_name, "parse_decimal", "not a decimal number")
            return None

    def integer(self, value: object, entity: str, source_id: str, field_name: str) -> int | None:
        """A whole number (as :meth:`decimal`); a fraction is a ``parse_int`` issue."""
        number = self.decimal(value, entity, source_id, field_name)
        if number is None:
            return None
        if number != number.to_integral_value():
            self.issue(entity, source_id, field_name, "parse_int", "not a whole number")
            return None
        return int(number)
