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
    """BSN: 8 or 9 digits (left-padded to 9), not all zeros, passing the 11-proef (domain.md §3)."""
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
    """Dutch postcode ``NNNN AA`` (first digit 1-9), letters not SA, SD or SS (PostNL)."""
    normalized = normalize_postcode(value)
    return normalized is not None and normalized[-2:] not in _POSTCODE_UNUSED_LETTERS


def lhn_valid(value: object) -> bool:
    """Loonheffingennummer: RSIN (9 digits, 11-modulus) + 'L' + 2-digit subnumber."""
    if value is None:
        return False
    match = _LHN_RE.match(str(value).strip().upper())
    return match is not None and elfproef(match.group(1))


# ----------------------------------------------------------------------------------------------
# Source identifiers as administrators paste them (issue 15 §3). Each normaliser returns the form
# the source expects, or raises IdentifierError whose message says what to enter and where to find
# it. Messages never repeat a value that may be a secret (a token pasted into the wrong field).

_GUID_RE = re.compile(r"^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$")
_DNS_LABEL_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_NMBRS_HOST_RE = re.compile(r"^(?P<sub>[^.]+)\.nmbrs\.(?:nl|com|se|de|be)$")
_NMBRS_NOT_A_DOMAIN = frozenset({"www", "api", "api-sandbox", "support", "help"})
_SECRET_LIKE_RE = re.compile(r"^[0-9a-fA-F]{24,}$")
# Spaces and invisible characters that come along when copying from a browser or a PDF.
_INVISIBLE = "\u00a0\u200b\u200c\u200d\u2060\ufeff"
_QUOTES = "\"'`\u2018\u2019\u201c\u201d"


class IdentifierError(ValueError):
    """A pasted identifier that cannot be normalised; the message says what to enter instead."""


def _trim(value: object) -> str:
    """The value without surrounding whitespace, invisible characters and quotes."""
    text = "" if value is None else str(value)
    text = text.translate({ord(c): " " for c in _INVISIBLE}).strip()
    while len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
        text = text[1:-1].strip()
    return text


def normalize_nmbrs_domain(value: object) -> str:
    """The Nmbrs environment's subdomain, from what a customer pastes.

    The customer guide (seed 001 §1.1 item 3) says the domain is the part between ``https://`` and
    ``.nmbrs`` in the browser's address bar. Accepted and normalised: ``mycompany``, ``MyCompany``,
    ``mycompany.nmbrs.nl``, ``https://mycompany.nmbrs.nl/`` (any path, port or query), with
    surrounding spaces or quotes -> ``"mycompany"`` (host names are case-insensitive, so lower
    case). Raises :class:`IdentifierError` for an empty value, an e-mail address, a value that
    looks like the API token, Nmbrs' own hosts (``api.nmbrs.nl``, ``www.nmbrs.nl``) or anything
    that is not one DNS label.
    """
    from urllib.parse import urlsplit

    hint = ("enter the Nmbrs domain: the part between 'https://' and '.nmbrs' in the browser's address bar when "
            "logged in to Nmbrs, e.g. 'mycompany' for https://mycompany.nmbrs.nl")
    text = _trim(value)
    if not text:
        raise IdentifierError(f"the Nmbrs domain is empty; {hint}")
    if _SECRET_LIKE_RE.match(text):
        raise IdentifierError(f"the Nmbrs domain looks like the API token (it belongs in the password field); {hint}")
    if "@" in text:
        raise IdentifierError(f"the Nmbrs domain is an e-mail address (that is the user name); {hint}")
    host = urlsplit(text if "://" in text else f"//{text}").hostname or ""
    host = host.lower().rstrip(".")
    match = _NMBRS_HOST_RE.match(host)
    if match:
        sub = match.group("sub")
    elif "." not in host and host:
        sub = host
    else:
        raise IdentifierError(f"the Nmbrs domain {text[:80]!r} is not an Nmbrs address; {hint}")
    if sub in _NMBRS_NOT_A_DOMAIN:
        raise IdentifierError(f"{host or sub!r} is an address of Nmbrs itself, not of your environment; {hint}")
    if not _DNS_LABEL_RE.match(sub):
        raise IdentifierError(f"the Nmbrs domain {text[:80]!r} is not a single name of letters, digits and "
                              f"hyphens; {hint}")
    return sub


def normalize_loket_werkgever_id(value: object) -> str:
    """A Loket werkgever id (REST ``employerId`` / SOAP werkgever ``DataIdentity``) in canonical form.

    Loket shows the id as a GUID (Werkgever > Bedrijfsgegevens, field *Werkgever id*). Accepted:
    any case, surrounding spaces or quotes, ``{braces}``, ``urn:uuid:`` and the 32-digit form
    without hyphens -> lower-case ``8-4-4-4-12`` (the form the Loket API returns). Raises
    :class:`IdentifierError` for anything else, e.g. the werkgever *number* (digits) shown next to it.
    """
    hint = ("enter the Werkgever id: the GUID shown in Loket.nl under Werkgever > Bedrijfsgegevens, e.g. "
            "4ac3a50f-200f-56d8-a1a2-ded9d17e7992")
    text = _trim(value)
    raw = text.lower()
    raw = raw.removeprefix("urn:uuid:")
    if raw.startswith("{") and raw.endswith("}"):
        raw = raw[1:-1].strip()
    if not raw:
        raise IdentifierError(f"the Loket werkgever id is empty; {hint}")
    if not _GUID_RE.match(raw):
        if raw.isdigit():
            raise IdentifierError(f"Loket werkgever id {text[:60]!r} is a number (the werkgevernummer or "
                                  f"klantnummer), not the werkgever id; {hint}")
        raise IdentifierError(f"Loket werkgever id {text[:60]!r} is not a GUID; {hint}")
    compact = raw.replace("-", "")
    return f"{compact[:8]}-{compact[8:12]}-{compact[12:16]}-{compact[16:20]}-{compact[20:]}"


def normalize_omgevingscode(value: object) -> str:
    """The Loket webservice omgevingscode, as Loket.nl support hands it to the provider (seed 003).

    Surrounding spaces, invisible characters and quotes are removed; the code itself is kept as
    given (its case rules are not published, so it is not guessed). Raises
    :class:`IdentifierError` (without repeating the value: it is part of the login) when it is
    empty or is clearly something else: a URL, an e-mail address, or text with spaces.
    """
    hint = ("enter the omgevingscode that Loket.nl support gave the payroll provider (ask it with a ticket "
            "naming the administration or accountancy office)")
    text = _trim(value)
    if not text:
        raise IdentifierError(f"the Loket omgevingscode is empty; {hint}")
    if "://" in text or "/" in text:
        raise IdentifierError(f"the Loket omgevingscode is a web address, not a code; {hint}")
    if "@" in text:
        raise IdentifierError(f"the Loket omgevingscode is an e-mail address, not a code; {hint}")
    if any(c.isspace() for c in text):
        raise IdentifierError(f"the Loket omgevingscode contains spaces; {hint}")
    return text


def nmbrs_company_ref(value: object) -> str:
    """An Nmbrs company reference from the employer config: a Company ID (digits) or a literal name.

    A Company ID is trimmed; a name is returned exactly as written, because Nmbrs names are case,
    space, dot and comma sensitive (seed 001 §1.1 item 4). Only invisible characters copied along
    (no-break or zero-width spaces) at its ends are removed. Raises :class:`IdentifierError` when empty.
    """
    text = "" if value is None else str(value)
    stripped = _trim(text)
    if not stripped:
        raise IdentifierError("the Nmbrs company is empty; enter the literal company name as Nmbrs shows it, "
                              "or its Company ID")
    if stripped.isdigit():
        return stripped
    return text.strip(_INVISIBLE)


def closest_names(wanted: str, names: list[str], limit: int = 3) -> list[str]:
    """The ``limit`` names most like ``wanted`` (rapidfuzz WRatio), best first; names that differ only
    in case or spacing come first. Used when an exact name matches nothing."""
    from rapidfuzz import fuzz, process

    def folded(s: str) -> str:
        return " ".join(s.split()).casefold()

    same = [n for n in names if folded(n) == folded(wanted)]
    rest = [name for name, _score, _ in process.extract(wanted, [n for n in names if n not in same],
                                                         scorer=fuzz.WRatio, limit=limit)]
    return (same + rest)[:limit]
