"""Landed Loket webservice pages -> canonical rows (lxml only, never zeep, never the network).

``GetMetaData`` pages give the code tables (``Geslacht``, ``Verloningsperiode``, ...) that decode
the coded fields of ``Select`` records; ``ExportLoonresultatenPerRun`` pages give result lines and
the pay periods they belong to. Landed error bodies (``errors``) and faults are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from typing import Any

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors import xml
from payroll_etl.connectors.base import Normalized, RawPage
from payroll_etl.connectors.normalizers import dutch_postcode, gender, part_time_factor, period_id
from payroll_etl.landing import ERRORS_ENTITY
from payroll_etl.model import EMPLOYEE, EMPLOYER, EMPLOYMENT, PAYROLL_PERIOD, PAYROLL_RESULT, SALARY
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod

Element = xml.Element


def normalize(pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod, parser: Parser) -> Normalized:
    """Canonical rows of the landed ``pages`` of one run (see the module docstring)."""
    out = Normalized()
    bodies: list[tuple[RawPage, Element]] = []
    codes: dict[str, dict[str, str]] = {}
    for page in pages:
        if page.entity == ERRORS_ENTITY:
            continue
        body = xml.soap_response(page.payload, f"landed Loket SOAP page {page.url}")
        if body is None:
            continue
        bodies.append((page, body))
        if xml.local(body) == "GetMetaDataResponse":
            for meta in xml.descendants(body, "FieldMetaData"):
                table = codes.setdefault(xml.text(meta, "Name") or "", {})
                for code in xml.descendants(meta, "Code"):
                    table[xml.text(code, "Value") or ""] = xml.text(code, "Description") or ""
    periods: dict[str, dict[str, Any]] = {}
    norm = _Normalizer(out, employer, period, parser, codes)
    for page, body in bodies:
        kind = xml.local(body)
        if kind == "SelectResponse":
            record = xml.first(body, "SelectResult")
            if record is not None and not xml.is_nil(record):
                norm.record(record, page)
        elif kind == "ListGoedgekeurdeLoonrunsPeriodeResponse":
            for run in xml.descendants(body, "VerloningsRun"):
                norm.period_row(run, periods)
        elif kind == "ExportLoonresultatenPerRunResponse":
            norm.results(body, periods)
    for row in periods.values():
        out.add("payroll_period", row)
    return out


def _fields(record: Element) -> dict[str, str | None]:
    """``Fields/Field`` of a record: Name -> Value."""
    return {(xml.text(f, "Name") or ""): xml.text(f, "Value") for f in xml.children(xml.child(record, "Fields"),
                                                                                    "Field")}


def _entities(record: Element) -> list[Element]:
    return xml.children(xml.child(record, "Children"), "Entity")


class _Normalizer:
    def __init__(self, out: Normalized, employer: EmployerConfig, period: PayPeriod, parser: Parser,
                 codes: dict[str, dict[str, str]]):
        self.out, self.employer, self.period, self.p, self.codes = out, employer, period, parser, codes

    def decode(self, table: str, value: str | None, entity: str, sid: str, field: str) -> str | None:
        if value in (None, ""):
            return None
        description = self.codes.get(table, {}).get(value)
        if description is None:
            self.p.issue(entity, sid, field, "code_table", f"code not in the {table} code table (GetMetaData)")
        return description

    def frequency(self, code: str | None, entity: str, sid: str, field: str) -> str | None:
        description = self.decode("Verloningsperiode", code, entity, sid, field)
        if description is None:
            return None
        text = description.lower()
        if "maand" in text:
            return "month"
        if "4 weken" in text or "vier weken" in text:
            return "four_weeks"
        if text.strip() in ("week", "1 week", "weekloon"):
            return "week"
        self.p.issue(entity, sid, field, "code_table", "pay frequency is not month, four weeks or week")
        return None

    def record(self, record: Element, page: RawPage) -> None:
        entity = xml.text(record, "EntityName")
        sid = xml.text(record, "DataIdentity") or ""
        fields = _fields(record)
        if entity == "Werkgever":
            self.employer_row(sid, fields)
        elif entity == "Persoon":
            self.employee_row(sid, fields, xml.text(record, "ParentDataIdentity") or page.source_id)
        elif entity == "Dienstverband":
            self.employment_rows(sid, fields, _entities(record))

    def employer_row(self, sid: str, f: dict[str, str | None]) -> None:
        p, e = self.p, "employer"
        self.out.add(e, EMPLOYER.row(
            source_id=sid, valid_from=self.period.start, valid_to=None,
            name=p.string(f.get("Naam"), e, sid, "name"),
            loonheffingennummer=p.string(f.get("Loonheffingennummer"), e, sid, "loonheffingennummer"),
            payroll_frequency=self.frequency(f.get("Verloningsperiode"), e, sid, "payroll_frequency"),
        ))

    def _gender(self, f: dict[str, str | None], sid: str) -> str | None:
        description = self.decode("Geslacht", f.get("Geslacht"), "employee", sid, "gender")
        found = gender(description) if description is not None else None
        if description is not None and found is None:
            self.p.issue("employee", sid, "gender", "code_table", "unknown gender description")
        return found

    def _postcode(self, f: dict[str, str | None], sid: str, country: str | None) -> str | None:
        postcode = self.p.string(f.get("Postcode"), "employee", sid, "postcode")
        if postcode and country in (None, "NL"):
            dutch = dutch_postcode(postcode)
            if dutch is None:
                self.p.issue("employee", sid, "postcode", "format", "not a Dutch postcode (NNNN AA)")
            return dutch or postcode
        return postcode

    def employee_row(self, sid: str, f: dict[str, str | None], werkgever: str) -> None:
        p, e = self.p, "employee"
        civil = self.decode("BurgerlijkeStaat", f.get("BurgerlijkeStaat"), e, sid, "civil_status")
        country = p.string(f.get("Land"), e, sid, "country")
        self.out.add(e, EMPLOYEE.row(
            source_id=sid, valid_from=self.period.start, valid_to=None, employer_source_id=werkgever,
            employee_number=p.string(f.get("Personeelsnummer"), e, sid, "employee_number"),
            bsn=p.string(f.get("Burgerservicenummer"), e, sid, "bsn"),
            initials=p.string(f.get("Voorletters"), e, sid, "initials"),
            first_name=p.string(f.get("Voornaam"), e, sid, "first_name"),
            prefix=p.string(f.get("Voorvoegsel"), e, sid, "prefix"),
            last_name=p.string(f.get("Achternaam"), e, sid, "last_name"),
            birth_date=p.date(f.get("Geboortedatum"), e, sid, "birth_date"),
            gender=self._gender(f, sid),
            street=p.string(f.get("Straat"), e, sid, "street"),
            house_number=p.string(f.get("Huisnummer"), e, sid, "house_number"),
            postcode=self._postcode(f, sid, country),
            city=p.string(f.get("Woonplaats"), e, sid, "city"),
            country=country,
            civil_status=civil.lower() if civil else None,
            date_of_death=p.date(f.get("DatumOverlijden"), e, sid, "date_of_death"),
            iban=(p.string(f.get("Iban"), e, sid, "iban") or "").replace(" ", "").upper() or None,
        ))

    def employment_rows(self, sid: str, f: dict[str, str | None], children: list[Element]) -> None:
        p, e = self.p, "employment"
        fulltime = p.decimal(f.get("VoltijdUrenPerWeek"), e, sid, "fulltime_hours_per_week")
        reason = self.decode("RedenUitDienst", f.get("RedenUitDienst"), e, sid, "end_reason")
        base = {
            "employee_source_id": p.string(f.get("PersoonDataIdentity"), e, sid, "employee_source_id"),
            "employment_number": p.string(f.get("Ikvnummer"), e, sid, "employment_number"),
            "start_date": p.date(f.get("DatumInDienst"), e, sid, "start_date"),
            "end_date": p.date(f.get("DatumUitDienst"), e, sid, "end_date"),
            "end_reason": reason.lower() if reason else None,
            "fulltime_hours_per_week": fulltime,
            "payroll_frequency": self.frequency(f.get("Verloningsperiode"), e, sid, "payroll_frequency"),
            "payroll_administration_id": p.string(f.get("Administratienummer"), e, sid, "payroll_administration_id"),
        }
        hours_versions = [c for c in children if xml.text(c, "EntityName") == "Werktijden"]
        if not hours_versions:
            self.out.add(e, EMPLOYMENT.row(source_id=sid, valid_from=base["start_date"], valid_to=base["end_date"],
                                           **base, hours_per_week=None, part_time_factor=None))
        for child in hours_versions:
            cf = _fields(child)
            hours = p.decimal(cf.get("UrenPerWeek"), e, sid, "hours_per_week")
            try:
                factor = part_time_factor(hours, fulltime)
            except InvalidOperation:
                factor = None
                p.issue(e, sid, "part_time_factor", "parse_decimal", "hours / fulltime hours out of range")
            self.out.add(e, EMPLOYMENT.row(source_id=sid, valid_from=p.date(cf.get("Startdatum"), e, sid, "valid_from"),
                                           valid_to=p.date(cf.get("Einddatum"), e, sid, "valid_to"), **base,
                                           hours_per_week=hours, part_time_factor=factor))
        holiday = p.decimal(f.get("PercentageVakantiegeld"), "salary", sid, "holiday_allowance_pct")
        for child in children:
            if xml.text(child, "EntityName") == "Salaris":
                self.salary_row(sid, child, holiday)

    def salary_row(self, employment: str, child: Element, holiday: Decimal | None) -> None:
        p, wid, cf = self.p, xml.text(child, "DataIdentity") or "", _fields(child)
        self.out.add("salary", SALARY.row(
            source_id=wid, employment_source_id=employment,
            valid_from=p.date(cf.get("Startdatum"), "salary", wid, "valid_from"),
            valid_to=p.date(cf.get("Einddatum"), "salary", wid, "valid_to"),
            gross_amount=p.decimal(cf.get("Bedrag"), "salary", wid, "gross_amount"),
            frequency=self.frequency(cf.get("Verloningsperiode"), "salary", wid, "frequency"),
            # The webservice's Salaris states no basis (no full-time flag, no wage type): its Bedrag is
            # read as the full-time contract wage, as Loket's own default (isGrossWageFullTime = true).
            basis="fulltime",
            holiday_allowance_pct=holiday,
            component=p.string(cf.get("Looncomponent"), "salary", wid, "component"),
            is_correction=False,
        ))

    def period_row(self, run: Element, periods: dict[str, dict[str, Any]]) -> str | None:
        p, e = self.p, "payroll_period"
        year = p.integer(xml.text(run, "Jaar"), e, "?", "year")
        number = p.integer(xml.text(run, "Periode"), e, "?", "period_number")
        if year is None or number is None:
            return None
        pid = period_id(year, number)
        start = p.date(xml.text(run, "BeginPeriode"), e, pid, "start_date")
        end = p.date(xml.text(run, "EindePeriode"), e, pid, "end_date")
        if pid not in periods:
            periods[pid] = PAYROLL_PERIOD.row(source_id=pid, valid_from=start, valid_to=end, year=year,
                                              period_number=number, frequency=self.employer.payroll_frequency,
                                              start_date=start, end_date=end)
        return pid

    def results(self, body: Element, periods: dict[str, dict[str, Any]]) -> None:
        export = xml.first(body, "ExportLoonresultatenPerRunResult")
        run = xml.child(export, "VerloningsRun") if not xml.is_nil(export) else None
        if run is None:
            return
        run_id = xml.text(run, "VerloningsRunDataIdentity") or ""
        run_period = self.period_row(run, periods)
        p, e = self.p, "payroll_result"
        sequence = p.integer(xml.text(run, "VolgnummerGoedgekeurd"), e, run_id, "run_sequence")
        for line in xml.descendants(export, "Loonresultaat"):
            dv = xml.text(line, "DienstverbandDataIdentity") or ""
            year, number = xml.text(line, "Jaar"), xml.text(line, "Periode")
            pid = period_id(int(year), int(number)) if year and year.isdigit() and number and number.isdigit() else None
            component = xml.text(line, "Looncomponent") or ""
            sid = f"{dv}:{pid}:{run_id}:{component}"
            if pid is None:
                p.issue(e, sid, "period_id", "parse_int", "result line without a valid Jaar/Periode")
            elif pid not in periods:  # a retroactive line of another period: that period as the line states it
                self.period_row(line, periods)
            self.out.add(e, PAYROLL_RESULT.row(
                source_id=sid, employment_source_id=dv, period_id=pid, run_id=run_id,
                run_sequence=sequence, run_period_id=run_period, component=component or None,
                valid_from=p.date(xml.text(line, "BeginPeriode"), e, sid, "valid_from"),
                valid_to=p.date(xml.text(line, "EindePeriode"), e, sid, "valid_to"),
                amount=p.decimal(xml.text(line, "Bedrag"), e, sid, "amount"),
            ))
