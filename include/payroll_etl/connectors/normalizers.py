"""Canonical values every connector writes the same way: postcode, gender, part-time factor, period id.

The canonical forms are those of :mod:`payroll_etl.model` (``employee.postcode`` "NNNN AA",
``employee.gender`` M | V | X | U, ``employment.part_time_factor`` with 4 decimals,
``payroll_result.period_id`` YYYYPP).
"""

from __future__ import annotations

from decimal import Decimal

from payroll_etl.quality.identifiers import normalize_postcode

# Gender words and codes the sources send (lower case) -> canonical gender. Loket REST: man/vrouw
# (key 1/2); Loket webservice: the Geslacht code table's descriptions; Nmbrs SOAP and REST:
# male/female/undefined/unknown/unspecified.
GENDERS: dict[str, str] = {
    "m": "M", "man": "M", "male": "M",
    "v": "V", "vrouw": "V", "female": "V",
    "x": "X",
    "onbekend": "U", "undefined": "U", "unknown": "U", "unspecified": "U",
}
FACTOR_QUANTUM = Decimal("0.0001")  # employment.part_time_factor: 4 decimals


def gender(value: object) -> str | None:
    """Canonical gender (M, V, X, U) of a source's word or code, case and spaces ignored; None when
    ``value`` is empty or unknown (the connector decides: default "U", or a data-quality issue)."""
    return GENDERS.get(str(value or "").strip().lower())


def postcode(value: object) -> str | None:
    """A Dutch postcode as "NNNN AA" (:func:`~payroll_etl.quality.identifiers.normalize_postcode`);
    anything else (a foreign postcode) as the source wrote it, trimmed; None when empty."""
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    return normalize_postcode("".join(text.split())) or text


def dutch_postcode(value: object) -> str | None:
    """"NNNN AA" when ``value`` is a Dutch postcode shape, else None (the caller reports the issue)."""
    return normalize_postcode("".join(str(value if value is not None else "").split()))


def part_time_factor(hours: Decimal | None, fulltime: Decimal | None) -> Decimal | None:
    """``hours / fulltime`` per week, 4 decimals; None when either is missing or ``fulltime`` is 0.
    Raises ``decimal.InvalidOperation`` when the quotient does not fit the context's precision."""
    if hours is None or not fulltime:
        return None
    return (hours / fulltime).quantize(FACTOR_QUANTUM)


def period_id(year: int, number: int) -> str:
    """The canonical pay period id, ``YYYYPP`` (2026, 3 -> "202603"; a 53rd week -> "202653")."""
    return f"{year}{number:02d}"
