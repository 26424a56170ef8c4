"""Benefit scheme definitions per employer, versioned, loaded from ``include/benefit_schemes.yaml``.

A scheme is what the pension fund / insurer's rules say (domain.md: "treat scheme-specific rules
as configuration"): franchise, accrual type, peildatum rule, which salary components are
pensionable, holiday-allowance inclusion, and for a WIA-excedent policy the cover %, the
threshold the insurer uses and the policy's maximum salary. One scheme may carry a pension part,
a WIA-excedent part or both (``accrual_type: none`` / no ``wia_cover_pct`` switches a part off).

Versions are effective-dated (``valid_from``); a later version lists only what changes and
inherits the rest. A version, once seeded into the warehouse, is immutable: change a scheme by
adding a version, so that every basis row can say which version it used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from payroll_etl.benefits.parameters import THRESHOLD_SOURCES, MissingParameterError, ParameterTable
from payroll_etl.errors import ConfigurationError

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SCHEMES_FILE = PROJECT_ROOT / "include" / "benefit_schemes.yaml"

ACCRUAL_TYPES = ("middelloon", "beschikbare_premie", "eindloon", "none")
PEILDATUM_RULES = ("fixed_1_january", "follows_changes")
WIA_COVER_PCTS = (Decimal("70"), Decimal("75"), Decimal("80"))
LEGAL_MINIMUM = "legal_minimum"


@dataclass(frozen=True)
class Scheme:
    """One version of one employer's scheme."""

    employer: str
    scheme: str
    version: int
    valid_from: date
    name: str = ""
    accrual_type: str = "middelloon"
    franchise: Decimal | None = None  # None: the legal minimum (aow_franchise_min) of the year
    peildatum_rule: str = "fixed_1_january"
    pensionable_components: tuple[str, ...] = ("BASIS",)
    holiday_allowance_included: bool = True
    holiday_allowance_pct: Decimal | None = None  # None: the salary's own %, else the statutory minimum
    four_weekly_periods: int = 13
    pension_max_salary: Decimal | None = None  # scheme cap below the fiscal max, if any
    wia_cover_pct: Decimal | None = None  # 70 / 75 / 80; None: no WIA-excedent cover
    wia_threshold_source: str = "dagloon_x_261"
    policy_max_salary: Decimal | None = None  # WIA-excedent: salary insured at most up to this
    valid_to: date | None = field(default=None, compare=False)  # derived: day before the next version

    @property
    def has_pension(self) -> bool:
        """True unless ``accrual_type`` is ``"none"`` (the version accrues pension)."""
        return self.accrual_type != "none"

    @property
    def has_wia_excedent(self) -> bool:
        """True when the version insures WIA-excedent (``wia_cover_pct`` is set)."""
        return self.wia_cover_pct is not None

    def franchise_for(self, legal_minimum: Decimal) -> Decimal:
        """The scheme franchise in a year; never below the legal minimum (art. 18a(3) Wet LB)."""
        value = legal_minimum if self.franchise is None else self.franchise
        if value < legal_minimum:
            raise ConfigurationError(
                f"scheme {self.employer}/{self.scheme} v{self.version}: franchise below the legal minimum")
        return value

    def definition(self) -> dict[str, Any]:
        """The version's content as JSON-able values (what the warehouse stores and hashes)."""
        out = {}
        for f in fields(self):
            if f.name in ("valid_to",):
                continue
            v = getattr(self, f.name)
            out[f.name] = (str(v) if isinstance(v, Decimal | date) else list(v) if isinstance(v, tuple) else v)
        return out

    @property
    def definition_hash(self) -> str:
        """SHA-256 (hex, 64 chars) of :meth:`definition` as sorted-key JSON; identifies the version's content."""
        return hashlib.sha256(json.dumps(self.definition(), sort_keys=True).encode()).hexdigest()


def _dec(value: Any, where: str, name: str) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError as exc:
        raise ConfigurationError(f"{where}: {name} must be a number") from exc


def _build(raw: dict[str, Any], where: str) -> Scheme:
    known = {f.name for f in fields(Scheme)} - {"valid_to"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)}")
    for required in ("employer", "scheme", "version", "valid_from"):
        if raw.get(required) in (None, ""):
            raise ConfigurationError(f"{where}: missing {required!r}")
    data = dict(raw)
    data["valid_from"] = data["valid_from"] if isinstance(data["valid_from"], date) else \
        date.fromisoformat(str(data["valid_from"]))
    data["version"] = int(data["version"])
    franchise = data.get("franchise")
    data["franchise"] = None if franchise in (None, LEGAL_MINIMUM) else _dec(franchise, where, "franchise")
    for name in ("holiday_allowance_pct", "pension_max_salary", "wia_cover_pct", "policy_max_salary"):
        data[name] = _dec(data.get(name), where, name)
    if "pensionable_components" in data:
        comps = data["pensionable_components"]
        data["pensionable_components"] = tuple(str(c).upper() for c in (comps if isinstance(comps, list) else [comps]))
    scheme = Scheme(**data)
    if scheme.accrual_type not in ACCRUAL_TYPES:
        raise ConfigurationError(f"{where}: accrual_type must be one of {ACCRUAL_TYPES}")
    if scheme.peildatum_rule not in PEILDATUM_RULES:
        raise ConfigurationError(f"{where}: peildatum_rule must be one of {PEILDATUM_RULES}")
    if scheme.wia_cover_pct is not None and scheme.wia_cover_pct not in WIA_COVER_PCTS:
        raise ConfigurationError(f"{where}: wia_cover_pct must be one of 70, 75, 80")
    if scheme.wia_threshold_source not in THRESHOLD_SOURCES:
        raise ConfigurationError(f"{where}: wia_threshold_source must be one of {THRESHOLD_SOURCES}")
    if scheme.four_weekly_periods not in (13, 14):
        raise ConfigurationError(f"{where}: four_weekly_periods must be 13 or 14")
    if not scheme.has_pension and not scheme.has_wia_excedent:
        raise ConfigurationError(f"{where}: scheme has neither a pension nor a WIA-excedent part")
    if scheme.has_pension and "BASIS" not in scheme.pensionable_components:
        raise ConfigurationError(f"{where}: pensionable_components must include BASIS")
    return scheme


def parse_schemes(raw: dict[str, Any], where: str = "benefit_schemes") -> list[Scheme]:
    """Schemes from the parsed YAML: ``defaults`` + ``schemes: [{employer, scheme, versions: [...]}]``."""
    defaults = raw.get("defaults") or {}
    out: list[Scheme] = []
    seen: set[tuple[Any, Any]] = set()
    for i, item in enumerate(raw.get("schemes") or []):
        item = dict(item)
        versions = item.pop("versions", None) or [{}]
        key = (item.get("employer"), item.get("scheme"))
        if key in seen:
            raise ConfigurationError(f"{where}: schemes[{i}]: duplicate scheme {key}")
        seen.add(key)
        inherited: dict[str, Any] = {**defaults, **item}
        built: list[Scheme] = []
        for j, v in enumerate(versions):
            inherited = {**inherited, **v}
            built.append(_build(inherited, f"{where}: schemes[{i}].versions[{j}]"))
        built.sort(key=lambda s: s.valid_from)
        if len({s.version for s in built}) != len(built) or [s.version for s in built] != sorted(
                s.version for s in built):
            raise ConfigurationError(f"{where}: schemes[{i}]: versions must be unique and ascend with valid_from")
        if len({s.valid_from for s in built}) != len(built):
            raise ConfigurationError(f"{where}: schemes[{i}]: two versions start on the same day")
        out.extend(with_valid_to(built))
    return out


def with_valid_to(versions: list[Scheme]) -> list[Scheme]:
    """Fill the derived ``valid_to`` of each version of one scheme (day before the next one starts)."""
    ordered = sorted(versions, key=lambda s: s.valid_from)
    result = []
    for cur, nxt in zip(ordered, [*ordered[1:], None], strict=True):
        data = {f.name: getattr(cur, f.name) for f in fields(Scheme)}
        data["valid_to"] = nxt.valid_from - timedelta(days=1) if nxt else None
        result.append(Scheme(**data))
    return result


def load_schemes(path: Path | str | None = None) -> list[Scheme]:
    """All scheme versions in the YAML file (default: include/benefit_schemes.yaml), ``valid_to`` filled.
    Raises ConfigurationError when the file is missing or an entry is invalid (:func:`parse_schemes`)."""
    path = Path(path) if path else DEFAULT_SCHEMES_FILE
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ConfigurationError(f"benefit scheme config {path} not found") from exc
    return parse_schemes(raw, str(path))


def validate_schemes(schemes: list[Scheme], parameters: ParameterTable) -> None:
    """Check each version's franchise against the legal minimum of every year it is in force."""
    years = parameters.years()
    for s in schemes:
        if s.franchise is None or not s.has_pension:
            continue
        for y in years:
            if y < s.valid_from.year or (s.valid_to is not None and y > s.valid_to.year):
                continue
            try:
                minimum = parameters.for_year(y).aow_franchise_min
            except MissingParameterError:
                continue
            if s.franchise < minimum:
                raise ConfigurationError(
                    f"scheme {s.employer}/{s.scheme} v{s.version}: franchise {s.franchise} is below the "
                    f"legal minimum {minimum} of {y}; add a version from 1 January {y}")


def scheme_on(schemes: list[Scheme], employer: str, scheme: str, day: date) -> Scheme | None:
    """The version of ``employer``/``scheme`` in force on ``day`` (None before the first version)."""
    candidates = [s for s in schemes if s.employer == employer and s.scheme == scheme and s.valid_from <= day]
    return max(candidates, key=lambda s: s.valid_from) if candidates else None


def schemes_for(schemes: list[Scheme], employer: str) -> dict[str, list[Scheme]]:
    """All versions per scheme code of one employer."""
    out: dict[str, list[Scheme]] = {}
    for s in schemes:
        if s.employer == employer:
            out.setdefault(s.scheme, []).append(s)
    return out


def scheme_from_definition(definition: dict[str, Any]) -> Scheme:
    """Inverse of :meth:`Scheme.definition` (the warehouse stores the JSON)."""
    return _build(dict(definition), f"scheme definition {definition.get('employer')}/{definition.get('scheme')}")


__all__ = [
    "Scheme", "load_schemes", "parse_schemes", "validate_schemes", "scheme_on", "schemes_for", "with_valid_to",
    "scheme_from_definition",
]
