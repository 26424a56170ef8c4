"""What one Loket REST extract fetches, per configured Werkgever ID (one employer may have several).

1. ``GET /v2/providers/employers/{id}`` (404 = configuration error) and its payroll administrations
   and their payroll periods; the period containing the run's logical day is the source's own
   statement of the pay period (:func:`source_period`).
2. Employments, employees (+ the BSN from its own endpoint, one call per employee on up to
   ``max_concurrent_requests`` threads, :class:`~payroll_etl.connectors.loket_rest.settings.Options`),
   and the wage and working-hours record
   in force at the end of the processed pay period (``actualwages``/``actualworkinghours``, one
   paged call per employer instead of two per employment). Nightly runs are incremental: the
   watermark is the highest ``lastModifiedVersionNumber`` seen; only employments changed since
   are fetched (``filter=id eq '…' or …``). ``full_refresh``, a backfill or no watermark fetches everything.
3. Payroll runs, and the payroll results of every period whose latest approved run was not fetched
   yet (a backfill fetches exactly ``request.period``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import date
from typing import Any

from payroll_etl.connectors.base import ExtractRequest, ExtractResult, LandingSink
from payroll_etl.connectors.loket_rest.client import LoketRestClient
from payroll_etl.connectors.loket_rest.rows import period_type
from payroll_etl.connectors.loket_rest.settings import API, APPROVED, FILTER_CHUNK, VERSIONS
from payroll_etl.errors import MalformedPayloadError
from payroll_etl.periods import PayPeriod

HR = ("employee", "employment", "salary")  # the entities a werkgever's HR lists feed


def _scope(result: ExtractResult, entity: str, scope: str) -> None:
    """Several werkgevers under one employer: "incremental" wins over "full"."""
    if result.scope.get(entity) != "incremental":
        result.scope[entity] = scope


def _chunks(ids: list[str], size: int = FILTER_CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(ids), size):
        yield ids[i:i + size]


def _any_of(field: str, ids: list[str]) -> str:
    return " or ".join(f"{field} eq '{i}'" for i in ids)


def latest_approved(period: dict[str, Any]) -> dict[str, Any] | None:
    """The approved run (``payrollRunStatus.key`` 9) with the highest ``sequenceNumber`` of a payroll period."""
    approved = [r for r in period.get("payrollRuns") or []
                if (r.get("payrollRunStatus") or {}).get("key") == APPROVED]
    return max(approved, key=lambda r: r.get("sequenceNumber") or 0) if approved else None


def source_period(periods: list[dict[str, Any]], request: ExtractRequest, werkgever: str) -> PayPeriod | None:
    """The Loket payroll period (``payrollperiods``: startDate..endDate) that contains the run's logical
    day: the source's calendar decides which period a nightly run or a backfill date processes. None when
    the administration lists no period containing it (the configured calendar is used then)."""
    from payroll_etl.periods import calendar_tail, local_day

    day = local_day(request.logical_date).isoformat()
    numbers = [(item.get("year"), item.get("periodNumber")) for item in periods]
    stated = [(y, n) for y, n in numbers if isinstance(y, int) and isinstance(n, int)]
    for item in periods:
        start, end = str(item.get("startDate") or ""), str(item.get("endDate") or "")
        if not (start[:10] <= day <= end[:10]) or not start or not end:
            continue
        record = f"{werkgever}/{item.get('id')}"
        frequency = period_type(item.get("payrollPeriodType"), request.employer.employer, "payroll_period", record)
        frequency = frequency or request.period.frequency
        tail = calendar_tail(frequency, request.employer.four_week_tail, stated)
        try:
            return PayPeriod(frequency, int(item["year"]), int(item["periodNumber"]),  # type: ignore[arg-type]
                             date.fromisoformat(start[:10]), date.fromisoformat(end[:10]), tail)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            raise MalformedPayloadError(f"Loket payroll period {record} of employer {request.employer.employer} "
                                        "lacks a valid year, periodNumber, startDate or endDate") from None
    return None


class Extraction:
    """The calls of one extract through ``client``, landing in ``sink``; ``period`` is the pay period
    the source states for the run (the first werkgever's), once one is found."""

    def __init__(self, client: LoketRestClient, sink: LandingSink, *, workers: int = 1):
        self.client, self.sink, self.workers = client, sink, workers
        self.period: PayPeriod | None = None

    def changed_werkgevers(self, request: ExtractRequest, state: dict[str, Any]) -> dict[str, int] | None:
        """Employer-level change detection: which configured werkgevers changed since their watermark
        (id -> newest version); None when every werkgever is fetched in full anyway."""
        marks = [state.get(w, {}).get("employment_version") for w in request.employer.source_ids]
        if request.full_refresh or request.backfill or any(m is None for m in marks):
            return None
        ids = " or ".join(f"id eq '{w}'" for w in request.employer.source_ids)
        items = self.client.items(f"{API}/lastmodifiedversionnumbers", entity="employer_version",
                                  source_id=",".join(request.employer.source_ids),
                                  activity="GetEmployerLastModifiedVersionNumbersByUser", sink=self.sink,
                                  params={"filter": f"({ids}) and lastModifiedVersionNumber gt {min(marks)}"})
        return {str(i["id"]).lower(): int(i["lastModifiedVersionNumber"]) for i in items}

    def werkgever(self, wid: str, request: ExtractRequest, state: dict[str, Any],
                  changed: dict[str, int] | None, result: ExtractResult) -> dict[str, Any]:
        """Extract werkgever ``wid``; ``state`` is its state from the last successful load. Returns the
        new state ``{"employment_version": int, "results": {"admin/period": "run:sequence"}}``."""
        get: dict[str, Any] = {"source_id": wid, "sink": self.sink}
        self.client.get(f"{API}/{wid}", {}, entity="employer", activity="GetEmployerByEmployerId", **get)
        admins = self.client.items(f"{API}/{wid}/payrolladministrations", entity="payroll_administration",
                                   activity="GetPayrollAdministrationsByEmployerId", **get)
        _scope(result, "employer", "full")
        periods = {str(admin["id"]): self.client.items(
            f"{API}/payrolladministrations/{admin['id']}/payrollperiods", entity="payroll_period", paged=False,
            activity="GetPayrollPeriodsByPayrollAdministrationId",
            meta={"payroll_administration_id": str(admin["id"])}, **get) for admin in admins}
        _scope(result, "payroll_period", "full")
        stated = next((p for aid in periods if (p := source_period(periods[aid], request, wid)) is not None), None)
        if stated is not None:
            request = replace(request, period=stated)
            self.period = self.period or stated
        watermark = state.get("employment_version")
        new_state: dict[str, Any] = {"employment_version": watermark}
        if request.full_refresh or request.backfill or watermark is None:
            new_state["employment_version"] = self._full(wid, request)
            for entity in HR:
                _scope(result, entity, "full")
        else:
            for entity in HR:
                _scope(result, entity, "incremental")
            if changed is not None and wid.lower() in changed:
                new_state["employment_version"] = self._changed(wid, request, watermark)
        new_state["results"] = self._payroll(wid, admins, periods, request, state.get("results") or {}, result)
        return new_state

    def _full(self, wid: str, request: ExtractRequest) -> int:
        """Every employment, employee, BSN, wage and working-hours record; returns the new watermark."""
        get: dict[str, Any] = {"source_id": wid, "sink": self.sink}
        reference = {"referenceDate": request.period.end.isoformat()}
        newest = max((int(v) for v in self.client.column(
            "lastModifiedVersionNumber", f"{API}/{wid}/employees/employments/lastmodifiedversionnumbers",
            entity="employment_version", activity="GetEmploymentLastModifiedVersionNumbersByEmployerId", **get)),
            default=0)
        self.client.land_all(f"{API}/{wid}/employees/employments", entity="employment",
                             activity="GetEmploymentsByEmployerId", version=VERSIONS["employment"], **get)
        self._bsns(list(self.client.column("id", f"{API}/{wid}/employees", entity="employee",
                                           activity="GetEmployeesByEmployerId", version=VERSIONS["employee"], **get)),
                   wid)
        self.client.land_all(f"{API}/{wid}/actualwages", entity="wage", activity="GetActualWagesByEmployerId",
                             params=reference, **get)
        self.client.land_all(f"{API}/{wid}/actualworkinghours", entity="working_hours",
                             activity="GetActualWorkingHoursByEmployerId", params=reference, **get)
        return newest

    def _changed(self, wid: str, request: ExtractRequest, watermark: int) -> int:
        """The employments changed since ``watermark``, their employees, wages and hours; the new watermark."""
        get: dict[str, Any] = {"source_id": wid, "sink": self.sink}
        reference = {"referenceDate": request.period.end.isoformat()}
        versions = self.client.items(f"{API}/{wid}/employees/employments/lastmodifiedversionnumbers",
                                     entity="employment_version",
                                     activity="GetEmploymentLastModifiedVersionNumbersByEmployerId",
                                     params={"filter": f"lastModifiedVersionNumber gt {watermark}",
                                             "orderBy": "-lastModifiedVersionNumber"}, **get)
        ids = [str(v["id"]) for v in versions]
        employee_ids: dict[str, None] = {}  # in order of first appearance
        for chunk in _chunks(ids):
            for emp in self.client.items(f"{API}/{wid}/employees/employments", entity="employment",
                                         activity="GetEmploymentsByEmployerId", version=VERSIONS["employment"],
                                         params={"filter": _any_of("id", chunk)}, **get):
                employee_ids.setdefault(emp["employee"]["id"])
            for path, entity, activity in (("actualwages", "wage", "GetActualWagesByEmployerId"),
                                           ("actualworkinghours", "working_hours",
                                            "GetActualWorkingHoursByEmployerId")):
                self.client.items(f"{API}/{wid}/{path}", entity=entity, activity=activity,
                                  params={**reference, "filter": _any_of("employmentId", chunk)}, **get)
        for chunk in _chunks(list(employee_ids)):
            self.client.items(f"{API}/{wid}/employees", entity="employee", activity="GetEmployeesByEmployerId",
                              version=VERSIONS["employee"], params={"filter": _any_of("id", chunk)}, **get)
        self._bsns(employee_ids, wid)
        return max([watermark] + [int(v["lastModifiedVersionNumber"]) for v in versions])

    def _bsns(self, employee_ids: Iterable[str], wid: str) -> None:
        """One call per employee, on ``workers`` threads, landed in the order of ``employee_ids``."""
        self.client.get_each((f"{API}/employees/{employee_id}/citizenservicenumber" for employee_id in employee_ids),
                             workers=self.workers, entity="citizen_service_number", source_id=wid,
                             activity="GetCitizenServiceNumberByEmployeeId", sink=self.sink)

    def _payroll(self, wid: str, admins: list[dict[str, Any]], admin_periods: dict[str, list[dict[str, Any]]],
                 request: ExtractRequest, seen: dict[str, str], result: ExtractResult) -> dict[str, str]:
        """Runs always; results for periods whose latest approved run is new to us (``admin_periods``:
        the periods already fetched per administration)."""
        target, first_year = int(request.period.id), request.period.year - 1
        fetched = dict(seen)
        for admin in admins:
            aid = str(admin["id"])
            base = f"{API}/payrolladministrations/{aid}"
            self.client.items(f"{base}/payrollruns", entity="payroll_run", source_id=wid, sink=self.sink,
                              activity="GetPayrollRunsByPayrollAdministrationId",
                              params={"filter": f"payrollPeriod.year ge {first_year}"},
                              meta={"payroll_administration_id": aid})
            for period in admin_periods.get(aid) or []:
                pid, run = int(period["id"]), latest_approved(period)
                if run is None or pid > target:
                    continue
                key, marker = f"{aid}/{pid}", f"{run['id']}:{run.get('sequenceNumber')}"
                if request.backfill:
                    wanted = pid == target
                elif request.full_refresh or not seen:
                    wanted = int(period.get("year") or 0) >= first_year
                else:
                    wanted = seen.get(key) != marker
                if not wanted:
                    continue
                self.client.land_all(
                    f"{base}/payrollperiods/{pid}/payrollresults", entity="payroll_result", source_id=wid,
                    sink=self.sink, paged=False,
                    activity="GetPayrollPeriodResultsByPayrollAdministrationIdAndPayrollPeriodId",
                    meta={"payroll_administration_id": aid, "payroll_period_id": pid, "payroll_run_id": run["id"]})
                fetched[key] = marker
                _scope(result, "payroll_result", "incremental")
        keep = str(first_year - 1)
        return {k: v for k, v in fetched.items() if k.rsplit("/", 1)[-1][:4] >= keep}
