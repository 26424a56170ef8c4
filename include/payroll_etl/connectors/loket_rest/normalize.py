"""Landed Loket REST pages -> canonical rows (never the network; any landed run can be replayed).

payroll_result (the bulk: one row per component, employment and period) is parsed one page at a
time after everything else; with ``stream`` its rows come as ``out.streams["payroll_result"]``
(chunks of one page) instead of a list. When ``pages`` can re-read one entity
(:class:`~payroll_etl.landing.LandedPages`), the result pages stay on disk until then; otherwise
their raw payloads are kept (never their parsed bodies). Landed 4xx/5xx bodies (``errors``) are
evidence, not data, and are skipped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import Normalized, RawPage
from payroll_etl.connectors.loket_rest.plan import latest_approved
from payroll_etl.connectors.loket_rest.rows import employee_row, employment_row, period_type, result_rows, salary_row
from payroll_etl.connectors.loket_rest.settings import BASE_COMPONENT
from payroll_etl.errors import MalformedPayloadError
from payroll_etl.landing import ERRORS_ENTITY
from payroll_etl.model import EMPLOYER, PAYROLL_PERIOD
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod

Bodies = dict[str, list[tuple[RawPage, dict[str, Any]]]]


def _body(page: RawPage) -> dict[str, Any]:
    try:
        body = json.loads(page.payload)
    except ValueError:
        raise MalformedPayloadError(f"Loket {page.entity} page {page.url} is not valid JSON") from None
    if not isinstance(body, dict):
        raise MalformedPayloadError(f"Loket {page.entity} page {page.url} lacks the Loket envelope")
    return body


def _id_from_url(url: str, collection: str) -> str | None:
    m = re.search(rf"/{collection}/([0-9a-fA-F-]{{36}})", url)
    return m.group(1) if m else None


def _dedupe(records: Sequence[dict[str, Any] | None]) -> list[dict[str, Any] | None]:
    seen, out = set(), []
    for r in records:
        key = (r or {}).get("id")
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def normalize(pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod, parser: Parser, *,
              stream: bool = False) -> Normalized:
    """Canonical rows of one run's landed ``pages`` (see the module docstring)."""
    out = Normalized()
    bodies: Bodies = {}
    reread = callable(getattr(pages, "entity", None)) and isinstance(getattr(pages, "entities", None), list)
    kept_results: list[RawPage] = []
    first: Iterable[RawPage] = pages
    if reread:
        first = (p for name in pages.entities if name != "payroll_result"  # type: ignore[attr-defined]
                 for p in pages.entity(name))  # type: ignore[attr-defined]
    for page in first:
        if page.entity == ERRORS_ENTITY:
            continue
        if page.entity == "payroll_result":
            kept_results.append(page)
            continue
        bodies.setdefault(page.entity, []).append((page, _body(page)))
    rows = _Rows(out, bodies, employer, period, parser)
    rows.employers()
    rows.employees()
    rows.employments()
    rows.salaries()
    runs = rows.periods()
    bodies.clear()  # the other entities' parsed pages are no longer needed
    out.issues.extend(parser.issues)
    result_pages = pages.entity("payroll_result") if reread else iter(kept_results)  # type: ignore[attr-defined]
    results = _result_chunks(result_pages, runs, parser, out)
    if stream:
        out.streams["payroll_result"] = results
    else:
        for chunk in results:
            out.extend("payroll_result", chunk)
    return out


class _Rows:
    """The non-bulk entities of one run, from the parsed ``bodies`` per landing entity."""

    def __init__(self, out: Normalized, bodies: Bodies, employer: EmployerConfig, period: PayPeriod,
                 parser: Parser):
        self.out, self.bodies, self.employer, self.period, self.parser = out, bodies, employer, period, parser
        self.admins: dict[str, dict[str, Any]] = {}
        self.admins_of: dict[str, list[dict[str, Any]]] = {}
        for page, admin in self.items("payroll_administration"):
            self.admins[str(admin.get("id", "")).lower()] = admin
            self.admins_of.setdefault(page.source_id.lower(), []).append(admin)
        self.employment_items: dict[str, dict[str, Any]] = {
            str(item.get("id")).lower(): item for _page, item in self.items("employment")}

    def items(self, entity: str) -> Iterator[tuple[RawPage, dict[str, Any]]]:
        for page, body in self.bodies.get(entity, []):
            for item in body.get("_embedded") or []:
                if isinstance(item, dict):
                    yield page, item

    def frequency(self, obj: dict[str, Any] | None, entity: str, record: str) -> str | None:
        return period_type(obj, self.employer.employer, entity, record)

    def admin_of(self, employment: dict[str, Any]) -> dict[str, Any]:
        return self.admins.get(str((employment.get("payrollAdministration") or {}).get("id", "")).lower(), {})

    def employers(self) -> None:
        p = self.parser
        for page, body in self.bodies.get("employer", []):
            content = body.get("content") or {}
            sid = str(content.get("id") or page.source_id)
            admin = (self.admins_of.get(sid.lower()) or [{}])[0]
            self.out.add("employer", EMPLOYER.row(
                source_id=sid, valid_from=self.period.start, valid_to=None,
                name=p.string(content.get("companyName"), "employer", sid, "companyName"),
                loonheffingennummer=p.string(admin.get("payrollTaxesNumber"), "employer", sid, "payrollTaxesNumber"),
                payroll_frequency=self.frequency(admin.get("payrollPeriodType"), "employer", sid)))

    def employees(self) -> None:
        bsn: dict[str, Any] = {}
        for page, body in self.bodies.get("citizen_service_number", []):
            m = re.search(r"/employees/([^/]+)/citizenservicenumber", urlsplit(page.url).path)
            if m:
                bsn[m.group(1).lower()] = (body.get("content") or {}).get("citizenServiceNumber")
        seen: set[str] = set()
        for page, item in self.items("employee"):
            sid = str(item.get("id"))
            if sid not in seen:
                seen.add(sid)
                self.out.add("employee", employee_row(item, sid, page.source_id, bsn.get(sid.lower()), self.period,
                                                      self.parser))

    def employments(self) -> None:
        hours: dict[str, list[dict[str, Any]]] = {}
        for page, item in self.items("working_hours"):
            record = item.get("workingHours") if "workingHours" in item else item
            emp_id = item.get("employmentId") or _id_from_url(page.url, "employments")
            if record and emp_id:
                hours.setdefault(str(emp_id).lower(), []).append(record)
        for emp_id, emp in self.employment_items.items():
            frequency = self.frequency(self.admin_of(emp).get("payrollPeriodType"), "employment", emp_id)
            records: Sequence[dict[str, Any] | None] = hours[emp_id] if hours.get(emp_id) else [None]
            for record in _dedupe(records):
                self.out.add("employment", employment_row(emp, record, frequency, self.parser))

    def salaries(self) -> None:
        for page, item in self.items("wage"):
            wage = item.get("wage") if "wage" in item else item
            emp_id = item.get("employmentId") or _id_from_url(page.url, "employments")
            if wage and emp_id:
                sid = f"{emp_id}/{BASE_COMPONENT}"
                frequency = self.frequency(wage.get("payrollPeriodType"), "salary", sid)
                if frequency is None:  # not stated on the wage: the payroll administration's frequency
                    admin = self.admin_of(self.employment_items.get(str(emp_id).lower(), {}))
                    frequency = self.frequency(admin.get("payrollPeriodType"), "salary", sid)
                self.out.add("salary", salary_row(str(emp_id), wage, frequency, self.parser))

    def periods(self) -> dict[tuple[str, int], dict[str, Any]]:
        """payroll_period rows; returns the latest approved run per (administration id, period id)."""
        p, e = self.parser, "payroll_period"
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for page, item in self.items("payroll_period"):
            aid = _id_from_url(page.url, "payrolladministrations") or ""
            pid = p.integer(item.get("id"), e, aid, "id")
            sid = f"{aid}/{pid}"
            run = latest_approved(item)
            if run and pid is not None:
                runs[(aid.lower(), pid)] = run
            self.out.add(e, PAYROLL_PERIOD.row(
                source_id=sid, valid_from=p.date(item.get("startDate"), e, sid, "startDate"),
                valid_to=p.date(item.get("endDate"), e, sid, "endDate"),
                year=p.integer(item.get("year"), e, sid, "year"),
                period_number=p.integer(item.get("periodNumber"), e, sid, "periodNumber"),
                frequency=self.frequency(item.get("payrollPeriodType"), e, sid),
                start_date=p.date(item.get("startDate"), e, sid, "startDate"),
                end_date=p.date(item.get("endDate"), e, sid, "endDate")))
        return runs


def _result_chunks(pages: Iterable[RawPage], runs: dict[tuple[str, int], dict[str, Any]], parser: Parser,
                   out: Normalized) -> Iterator[list[dict[str, Any]]]:
    """payroll_result rows, one chunk per landed page (only that page's body is parsed at a time).
    Issues found on the way join ``out.issues`` once the pages are exhausted."""
    issues_before = len(parser.issues)
    for page in pages:
        body = _body(page)
        m = re.search(r"/payrolladministrations/([^/]+)/payrollperiods/(\d+)/payrollresults", page.url)
        chunk: list[dict[str, Any]] = []
        for item in body.get("_embedded") or []:
            if not isinstance(item, dict):
                continue
            if not m:
                raise MalformedPayloadError(f"Loket payroll_result page {page.url} has an unexpected URL")
            aid, run_pid = m.group(1).lower(), int(m.group(2))
            chunk.extend(result_rows(item, runs.get((aid, run_pid)) or {}, run_pid, parser))
        del body
        if chunk:
            yield chunk
    out.issues.extend(parser.issues[issues_before:])
