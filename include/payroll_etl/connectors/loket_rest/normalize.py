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


_USED = ("payroll_administration", "employer", "citizen_service_number", "employee", "working_hours", "employment",
         "wage", "payroll_period", "payroll_result")
# the fields of a working-hours record employment_row reads (the rest of the record is not kept)
_HOURS_KEYS = ("id", "startDate", "endDate", "shift", "deviatingHoursPerWeek")


class _Landed:
    """One run's pages one entity at a time: re-read from the landing when ``pages`` can
    (:class:`~payroll_etl.landing.LandedPages`), else kept as raw text per entity (never parsed
    bodies). ``items`` parses one page at a time and drops it once its items are consumed."""

    def __init__(self, pages: Iterable[RawPage]):
        self.reread = callable(getattr(pages, "entity", None)) and isinstance(getattr(pages, "entities", None), list)
        self.source = pages
        self.kept: dict[str, list[RawPage]] = {}
        if self.reread:
            self.names = [n for n in pages.entities if n != ERRORS_ENTITY]  # type: ignore[attr-defined]
        else:
            for page in pages:
                if page.entity != ERRORS_ENTITY:
                    self.kept.setdefault(page.entity, []).append(page)
            self.names = list(self.kept)

    def pages(self, entity: str) -> Iterator[RawPage]:
        if self.reread:
            return self.source.entity(entity) if entity in self.names else iter(())  # type: ignore[attr-defined]
        return iter(self.kept.get(entity, []))

    def bodies(self, entity: str) -> Iterator[tuple[RawPage, dict[str, Any]]]:
        for page in self.pages(entity):
            yield page, _body(page)

    def items(self, entity: str) -> Iterator[tuple[RawPage, dict[str, Any]]]:
        for page, body in self.bodies(entity):
            for item in body.get("_embedded") or []:
                if isinstance(item, dict):
                    yield page, item

    def done(self, entity: str) -> None:
        self.kept.pop(entity, None)


def normalize(pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod, parser: Parser, *,
              stream: bool = False) -> Normalized:
    """Canonical rows of one run's landed ``pages`` (see the module docstring).

    ``pages``: any iterable of :class:`RawPage`, or a :class:`~payroll_etl.landing.LandedPages`
    (then each entity is read from disk when its rows are built, one page parsed at a time).
    With ``stream`` the payroll_result rows come as ``out.streams["payroll_result"]`` (one chunk
    per page), else as rows. Raises ``MalformedPayloadError`` for a page that is not a JSON
    object, ``RecordError`` (employer, entity, record, field) for an unknown period type."""
    out = Normalized()
    landed = _Landed(pages)
    for name in landed.names:  # entities no row is built from: still checked page by page
        if name not in _USED:
            for _ in landed.bodies(name):
                pass
    rows = _Rows(out, landed, employer, period, parser)
    rows.employers()
    rows.employees()
    rows.employments()
    rows.salaries()
    runs = rows.periods()
    out.issues.extend(parser.issues)
    results = _result_chunks(landed.pages("payroll_result"), runs, parser, out)
    if stream:
        out.streams["payroll_result"] = results
    else:
        for chunk in results:
            out.extend("payroll_result", chunk)
    return out


class _Rows:
    """The non-bulk entities of one run, one landing entity at a time; what crosses entities is
    kept as small lookups (administration fields, BSNs, employment -> administration ids)."""

    def __init__(self, out: Normalized, landed: _Landed, employer: EmployerConfig, period: PayPeriod,
                 parser: Parser):
        self.out, self.landed, self.employer, self.period, self.parser = out, landed, employer, period, parser
        self.admins: dict[str, dict[str, Any]] = {}
        self.admins_of: dict[str, list[dict[str, Any]]] = {}
        for page, admin in landed.items("payroll_administration"):
            small: dict[str, Any] = {k: admin[k] for k in ("payrollTaxesNumber", "payrollPeriodType") if k in admin}
            self.admins[str(admin.get("id", "")).lower()] = small
            self.admins_of.setdefault(page.source_id.lower(), []).append(small)
        landed.done("payroll_administration")
        self.admin_ids: dict[str, str] = {}  # employment id (lower) -> its administration id (lower)

    def frequency(self, obj: dict[str, Any] | None, entity: str, record: str) -> str | None:
        return period_type(obj, self.employer.employer, entity, record)

    def admin_of(self, employment: dict[str, Any]) -> dict[str, Any]:
        return self.admins.get(_admin_id(employment), {})

    def employers(self) -> None:
        p = self.parser
        for page, body in self.landed.bodies("employer"):
            content = body.get("content") or {}
            sid = str(content.get("id") or page.source_id)
            admin = (self.admins_of.get(sid.lower()) or [{}])[0]
            self.out.add("employer", EMPLOYER.row(
                source_id=sid, valid_from=self.period.start, valid_to=None,
                name=p.string(content.get("companyName"), "employer", sid, "companyName"),
                loonheffingennummer=p.string(admin.get("payrollTaxesNumber"), "employer", sid, "payrollTaxesNumber"),
                payroll_frequency=self.frequency(admin.get("payrollPeriodType"), "employer", sid)))
        self.landed.done("employer")

    def employees(self) -> None:
        bsn: dict[str, Any] = {}
        for page, body in self.landed.bodies("citizen_service_number"):
            m = re.search(r"/employees/([^/]+)/citizenservicenumber", urlsplit(page.url).path)
            if m:
                bsn[m.group(1).lower()] = (body.get("content") or {}).get("citizenServiceNumber")
        self.landed.done("citizen_service_number")
        seen: set[str] = set()
        for page, item in self.landed.items("employee"):
            sid = str(item.get("id"))
            if sid not in seen:
                seen.add(sid)
                self.out.add("employee", employee_row(item, sid, page.source_id, bsn.get(sid.lower()), self.period,
                                                      self.parser))
        self.landed.done("employee")

    def hours(self) -> dict[str, list[dict[str, Any]]]:
        """Working-hours records per employment id (lower), only the fields employment_row reads."""
        hours: dict[str, list[dict[str, Any]]] = {}
        for page, item in self.landed.items("working_hours"):
            record = item.get("workingHours") if "workingHours" in item else item
            emp_id = item.get("employmentId") or _id_from_url(page.url, "employments")
            if record and emp_id:
                if isinstance(record, dict):
                    record = {k: record[k] for k in _HOURS_KEYS if k in record} or record
                hours.setdefault(str(emp_id).lower(), []).append(record)
        self.landed.done("working_hours")
        return hours

    def employments(self) -> None:
        """Rows in the order each employment id first appears, from its last item (as a dict of the
        items would): a first pass keeps ids and the items of repeated ids only."""
        hours = self.hours()
        repeated: dict[str, dict[str, Any]] = {}
        for _page, item in self.landed.items("employment"):
            emp_id = str(item.get("id")).lower()
            if emp_id in self.admin_ids:
                repeated[emp_id] = item
            self.admin_ids[emp_id] = _admin_id(item)
        built: set[str] = set()
        for _page, item in self.landed.items("employment"):
            emp_id = str(item.get("id")).lower()
            if emp_id in built:
                continue
            built.add(emp_id)
            emp = repeated.get(emp_id, item)
            frequency = self.frequency(self.admin_of(emp).get("payrollPeriodType"), "employment", emp_id)
            records: Sequence[dict[str, Any] | None] = hours[emp_id] if hours.get(emp_id) else [None]
            for record in _dedupe(records):
                self.out.add("employment", employment_row(emp, record, frequency, self.parser))
        self.landed.done("employment")

    def salaries(self) -> None:
        for page, item in self.landed.items("wage"):
            wage = item.get("wage") if "wage" in item else item
            emp_id = item.get("employmentId") or _id_from_url(page.url, "employments")
            if wage and emp_id:
                sid = f"{emp_id}/{BASE_COMPONENT}"
                frequency = self.frequency(wage.get("payrollPeriodType"), "salary", sid)
                if frequency is None:  # not stated on the wage: the payroll administration's frequency
                    admin = self.admins.get(self.admin_ids.get(str(emp_id).lower(), ""), {})
                    frequency = self.frequency(admin.get("payrollPeriodType"), "salary", sid)
                self.out.add("salary", salary_row(str(emp_id), wage, frequency, self.parser))
        self.landed.done("wage")

    def periods(self) -> dict[tuple[str, int], dict[str, Any]]:
        """payroll_period rows; returns the latest approved run per (administration id, period id)."""
        p, e = self.parser, "payroll_period"
        runs: dict[tuple[str, int], dict[str, Any]] = {}
        for page, item in self.landed.items("payroll_period"):
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
        self.landed.done("payroll_period")
        return runs


def _admin_id(employment: dict[str, Any]) -> str:
    return str((employment.get("payrollAdministration") or {}).get("id", "")).lower()


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
