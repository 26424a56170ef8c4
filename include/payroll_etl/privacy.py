"""Pseudonymization and masking of personal data (BSN, IBAN, birth dates, tokens)."""

from __future__ import annotations

import hashlib
import hmac
import re

from payroll_etl.settings import pseudonym_key

_NINE_DIGITS = re.compile(r"(?<!\d)\d{8,10}(?!\d)")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b")
_ISO_DATE = re.compile(r"\b(19|20)\d{2}-\d{2}-\d{2}\b")


def person_key(bsn: str | None, key: bytes | None = None) -> str | None:
    """Keyed HMAC-SHA256 of a BSN: a stable join key that reveals nothing without the key."""
    if not bsn:
        return None
    return hmac.new(key or pseudonym_key(), bsn.strip().encode(), hashlib.sha256).hexdigest()[:32]


def mask_value(value: object) -> str:
    """A value as it may appear in a report: its shape, never its content."""
    text = "" if value is None else str(value)
    return re.sub(r"[0-9]", "9", re.sub(r"[A-Za-z]", "x", text))[:12] + ("…" if len(text) > 12 else "")


def scrub(text: str) -> str:
    """Remove anything that looks like a BSN, IBAN or date from free text (log lines, messages)."""
    text = _IBAN.sub("<iban>", text)
    text = _NINE_DIGITS.sub("<number>", text)
    return _ISO_DATE.sub("<date>", text)
