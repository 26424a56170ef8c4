"""Dutch identifier checks (pure functions, no dependencies): BSN, IBAN, postcode, loonheffingennummer.

Rules and test vectors: research/domain.md §3.1-3.4 and §6 "Identifiers".
"""

from __future__ import annotations

import re

_POSTCODE_RE = re.compile(r"^([1-9][0-9]{3}) ?([A-Z]{2})$")
_POSTCODE_UNUSED_LETTERS = frozenset({"SA", "SD", "SS"})
_LHN_RE = re.compile(r"^(\d{9})L(\d{2})$")
_NL_BBAN_RE = re.compile(r"^[A-Z]{4}\d{10}$")
_IBAN_RE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")


def elfproef(digits: str) -> bool:
    """The BSN/RSIN 11-modulus: 9·d1 + 8·d2 + … + 2·d8 − 1·d9 ≡ 0 (mod 11), never all zeros."""
    if len(digits) != 9 or not digits.isdigit() or digits == "000000000":
        return False
    total = sum(w * int(d) for w, d in zip(range(9, 1, -1), digits[:8])) - int(digits[8])
    return total % 11 == 0


def normalize_bsn(value: object) -> str | None:
    """Strip spaces and dots, left-pad 8 digits to 9; None when it is not 8-9 digits."""
    if value is None:
        return None
    text = re.sub(r"[\s.]", "", str(value))
    if not text.isdigit() or not 8 <= len(text) <= 9:
        return None
    return text.zfill(9)


def bsn_valid(value: object) -> bool:
    bsn = normalize_bsn(value)
    return bsn is not None and elfproef(bsn)


def iban_valid(value: object) -> bool:
    """ISO 13616 MOD 97-10 (remainder 1); Dutch IBANs must also be 18 chars with BBAN 4!a10!n."""
    if value is None:
        return False
    iban = re.sub(r"\s", "", str(value)).upper()
    if not _IBAN_RE.match(iban):
        return False
    if iban.startswith("NL") and (len(iban) != 18 or not _NL_BBAN_RE.match(iban[4:])):
        return False
    rearranged = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def normalize_postcode(value: object) -> str | None:
    """'1011ab' -> '1011 AB'; None when the value is not a Dutch postcode shape."""
    if value is None:
        return None
    match = _POSTCODE_RE.match(re.sub(r"\s+", " ", str(value).strip()).upper())
    return f"{match.group(1)} {match.group(2)}" if match else None


def postcode_valid(value: object) -> bool:
    normalized = normalize_postcode(value)
    return normalized is not None and normalized[-2:] not in _POSTCODE_UNUSED_LETTERS


def lhn_valid(value: object) -> bool:
    """Loonheffingennummer: RSIN (9 digits, 11-modulus) + 'L' + 2-digit subnumber."""
    if value is None:
        return False
    match = _LHN_RE.match(str(value).strip().upper())
    return bool(match) and elfproef(match.group(1))
