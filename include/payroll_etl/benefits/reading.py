"""Reading the ``benefit_basis`` mart: bases as known at a time, the basis in force on a day, demo lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from payroll_etl.benefits.store import BASIS_KEY, _in, _utc, session
from payroll_etl.benefits.tables import BASIS_VALUE_COLUMNS, known_at


def bases_as_of(db: Any, employer: str, at: datetime | None = None, *, employment_ids: Sequence[str] | None = None,
                scheme: str | None = None) -> list[dict[str, Any]]:
    """The ``benefit_basis`` rows believed at ``at`` (default now), ordered by key."""
    params: dict[str, object] = {"employer": employer, "at": _utc(at), "scheme": scheme}
    where = ["b.employer = :employer", known_at("b")]
    if employment_ids is not None:
        where.append(_in("b.employment_source_id", employment_ids, params))
    if scheme:
        where.append("b.scheme = :scheme")
    cols = [*BASIS_KEY, *BASIS_VALUE_COLUMNS, "recorded_at", "superseded_at"]
    with session(db) as conn:
        select = ", ".join("b." + c for c in cols)
        rows = conn.query(f"SELECT {select} FROM benefit_basis b WHERE {' AND '.join(where)} "
                          f"ORDER BY b.connector, b.employment_source_id, b.scheme, b.reference_date", params)
    return [dict(zip(cols, r, strict=True)) for r in rows]


def basis_on(db: Any, employer: str, day: date, at: datetime | None = None) -> list[dict[str, Any]]:
    """Per employment and scheme, the basis in force on ``day`` as known at ``at`` (latest reference date <= day)."""
    latest: dict[tuple, dict[str, Any]] = {}
    for r in bases_as_of(db, employer, at):
        if r["reference_date"] <= day:
            latest[(r["connector"], r["employment_source_id"], r["scheme"])] = r
    return [r for r in latest.values() if r["status"] == "in_service"]


def format_bases(rows: Sequence[dict[str, Any]], limit: int = 5) -> list[str]:
    """A few human-readable lines for the demo (no personal data: employment ids and amounts only)."""
    def money(v: Any) -> str:
        return "-" if v is None else f"€{Decimal(v):,.2f}"

    lines = []
    for r in list(rows)[:limit]:
        lines.append(
            f"{r['employer']}/{r['employment_source_id'][:12]} {r['scheme']} v{r['scheme_version']} "
            f"ref {r['reference_date']} (params {r['parameter_year']}, peildatum {r['peildatum']}): "
            f"FT pensionable {money(r['ft_pensionable_salary'])}, ptf {r['part_time_factor']}, "
            f"franchise {money(r['franchise'])}, grondslag {money(r['pensioengrondslag'])}, "
            f"WIA-excedent {money(r['wia_excedent'])} insured {money(r['wia_insured'])}")
    return lines


def show_bases(url: str, employers: Sequence[str], day: date | None = None, limit: int = 3, *,
               at: datetime | None = None) -> list[str]:
    """Demo helper: a few bases in force on ``day`` (default today) per employer, as known at ``at``."""
    day = day or date.today()
    out = []
    for employer in employers:
        rows = basis_on(url, employer, day, at)
        out.append(f"{employer}: {len(rows)} bases in force on {day}")
        out.extend("  " + line for line in format_bases(rows, limit))
    return out
