"""What one Nmbrs REST extract fetches: companies, full or probe-only HR lists, payroll runs.

Pure decisions (no network), so they are tested directly and documented in one place:

* **Company** (:func:`resolve_companies`): each ``source_ids`` entry is the company's exact name
  (case, space, dot and comma sensitive, the seed's rule for Nmbrs), its ``companyId`` GUID or
  its company number, looked up in ``/api/companies`` (or ``/api/debtors/{debtorId}/companies``
  when ``options.debtor_id`` is set). A GUID that is not listed is still tried, so the API itself
  answers 403 (no access to that company) or 404 (no such company).
* **HR lists** (:func:`hr_mode`): ``full`` fetches every company-level bulk list completely (a
  few pages of 100 employees each). Otherwise the night is a ``probe``: one ``createdFrom`` call
  per list with ``pageSize=1`` asks whether any record was created since the watermark; if one
  list answers with records, the night becomes ``full`` (normalize needs complete histories to
  close versions). Full when: ``full_refresh``, a backfill, no watermark yet, or the last full
  extract is ``options.full_refresh_days`` (default 7) or more days old. ``createdFrom`` cannot see
  in-place corrections or deletions: the periodic full extract catches those (docs).
* **Runs** (:func:`wanted_runs`): a backfill takes the runs covering its period; a nightly takes
  runs not fetched before (all runs of the year on the first night); January also looks at the
  previous year. A run may span several periods (``periodStart``..``periodEnd``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import ExtractRequest
from payroll_etl.connectors.nmbrs.plan import company_not_found
from payroll_etl.connectors.nmbrs_rest.settings import Options

GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Company:
    """A configured Nmbrs company: ``companyId`` (GUID, lower case) and its name."""

    id: str
    name: str


def resolve_companies(employer: EmployerConfig, listed: list[dict[str, Any]]) -> list[Company]:
    """The configured companies among ``listed`` (Company items); ConfigurationError with the closest names."""
    by_name = {str(c["name"]): c for c in listed if c.get("name") is not None}
    by_id = {str(c.get("companyId", "")).lower(): c for c in listed}
    by_number = {str(c.get("number", "")).strip(): c for c in listed}
    out: dict[str, Company] = {}
    for source_id in employer.source_ids:
        text = str(source_id)
        found = by_name.get(text) or by_id.get(text.strip().lower()) or by_number.get(text.strip())
        if found is None and GUID.match(text.strip()):  # not listed: let the API say 403 (no access) or 404
            out[text.strip().lower()] = Company(text.strip().lower(), text.strip())
            continue
        if found is None:
            raise company_not_found(employer, text, list(by_name), "this consent sees",
                                    "the companyId or the company number")
        out[str(found["companyId"]).lower()] = Company(str(found["companyId"]).lower(), str(found.get("name") or ""))
    return list(out.values())


def hr_mode(request: ExtractRequest, state: dict[str, Any], options: Options) -> str:
    """``full`` or ``probe`` for one company's HR lists (see the module docstring)."""
    if request.full_refresh or request.backfill or not state.get("created_watermark") or not state.get("last_full"):
        return "full"
    last_full = date.fromisoformat(str(state["last_full"]))
    return "full" if (request.logical_date - last_full).days >= options.full_refresh_days else "probe"


def probe_from(state: dict[str, Any]) -> str:
    """``createdFrom`` for a probe: one second after the newest ``createdAt`` seen (the filter is inclusive)."""
    mark = datetime.fromisoformat(str(state["created_watermark"]).replace("Z", "+00:00"))
    return (mark + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def newest_created(body: dict[str, Any], nested: str, current: str | None) -> str | None:
    """The newest ``createdAt`` in a bulk page's nested records, or ``current`` if none is newer."""
    best = current
    for item in body.get("data") or []:
        for record in item.get(nested) or []:
            # Employment items carry ``creationDate`` where the other lists have ``createdAt``.
            stamp = (record.get("createdAt") or record.get("creationDate")) if isinstance(record, dict) else None
            if isinstance(stamp, str) and (best is None or _instant(stamp) > _instant(best)):
                best = stamp
    return best


def _instant(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # the API writes UTC


def run_years(request: ExtractRequest) -> list[int]:
    """Years whose runs a night lists: the period's year, plus the previous one in period 1."""
    period = request.period
    return [period.year] + ([period.year - 1] if period.number == 1 and not request.backfill else [])


def wanted_runs(runs: list[dict[str, Any]], request: ExtractRequest, seen: set[str]) -> list[dict[str, Any]]:
    """The runs whose output to fetch (backfill: covering the period; nightly: not fetched yet)."""
    period = request.period
    out = []
    for run in runs:
        run_id = str(run.get("payrollRunId", "")).lower()
        if request.backfill:
            start, end = int(run.get("periodStart") or 0), int(run.get("periodEnd") or 0)
            wanted = int(run.get("year") or 0) == period.year and start <= period.number <= end
        else:
            wanted = request.full_refresh or run_id not in seen
        if wanted:
            out.append(run)
    return out
