"""Nmbrs SOAP v3 simulator: CompanyService and EmployeeService as ASP.NET ASMX serves them.

* ``GET /soap/v3/{EmployeeService,CompanyService}.asmx?WSDL`` serves the fixture WSDLs with the
  ``soap:address`` rewritten to this server's host:port.
* ``POST`` the same path with a SOAP 1.1 envelope, routed by the (quoted) ``SOAPAction``.
* ``AuthHeaderWithDomain`` in the called service's namespace is checked: unknown user, wrong
  token or wrong domain -> ``1001``; a call not enabled on the user's API template -> ``1002``;
  a company or employee outside the user's companies -> ``2004`` / ``2003``; bad period -> ``2006``.
* Faults are HTTP 500 ``soap:Server`` faults with ``Server was unable to process request. ---> NNNN: Title``.
* Responses are serialised from the WSDL's own schema (:mod:`.schema`), so element order,
  omitted null strings, ``xsi:nil`` and empty lists (``<XResult />``) match the real service.
* Wrapped in :class:`~payroll_simulators.faults.FaultMiddleware`: ``app.switch`` is the fault
  switch; the ``half`` kind makes the company-wide employee lists return half the employees and
  ``revoke_token`` answers ``1001`` once.

Run standalone: ``python -m payroll_simulators.nmbrs`` (127.0.0.1:8083).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from lxml import etree

from payroll_simulators.faults import FaultMiddleware, FaultSwitch
from payroll_simulators.nmbrs.schema import WSDL_DIR, Schema
from payroll_simulators.world import (
    NMBRS_RUN_ID_BASE,
    REFERENCE_TODAY,
    Employment,
    Person,
    Werkgever,
    World,
    nmbrs_employee_id,
    nmbrs_employment_id,
    nmbrs_run_id,
    nmbrs_salary_id,
    stable_id,
    werkgever_bounds,
    werkgever_periods,
)

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICES = ("CompanyService", "EmployeeService")
# Company_GetCurrentPeriod's type suffix ("yyyy-p-type"): M and 4W per the WSDL documentation; weekly
# companies exist (REST periodType "1-week"), their SOAP suffix is not documented: "W" is assumed here.
PERIOD_TYPE_CODES = {"month": "M", "four_weeks": "4W", "week": "W"}
# Salary_V2.Type: the position in the WSDL's SalaryType enum (None=0, Bruto_Salaris_Fulltime=1,
# Bruto_Salaris_Partime=2, Bruto_Uurloon=3, Netto_Salaris_Partime_incl_looncomp=4, ...).
SALARY_TYPES = {"fulltime": 1, "actual": 2, "hourly": 3, "net": 4}
COMPANY_CALLS = frozenset({"Company_GetCurrentPeriod", "List_GetAll",
                           "Reports_GetWageCodesByRunCompany_FilterByWageCode",
                           "Reports_GetWageCodesByRunCompany_v2", "Run_GetList"})
EMPLOYEE_CALLS = frozenset({"Address_GetListCurrent", "BankAccount_GetListCurrent", "Children_Get",
                            "Contract_GetCurrentPeriod", "List_GetByCompany", "Partner_Get", "PersonalInfo_GetCurrent",
                            "Salary_GetAll_AllEmployeesByCompany", "Schedule_GetCurrent", "Schedule_GetList",
                            "SVW_GetCurrent", "WageComponentFixed_GetCurrent", "WageComponentVar_GetCurrent",
                            "Employment_GetAll_AllEmployeesByCompany"})
SEED_CALLS = COMPANY_CALLS | EMPLOYEE_CALLS  # what the seed guide (§1.2.2) tells the customer to enable

DEMO_USERNAME = "demo@example.nl"
DEMO_TOKEN = "0123456789abcdef0123456789abcdef"
DEMO_DOMAIN = "demo"
# Wage codes the simulator's reports use for the world's result components.
WAGE_CODES = {"BRUTO_LOON": (1000, "Salaris"), "RESERVERING_VAKANTIEGELD": (2400, "Reservering vakantiegeld")}
PLACEHOLDER_CODE = (3100, "Inhouding pensioenpremie")  # reported as "-" (no amount), like the real reports
RUN_ID_BASE = NMBRS_RUN_ID_BASE
TITLES = {1001: "Invalid Authentication", 1002: "Unauthorized Access", 2003: "Unauthorized Access",
          2004: "Unauthorized Access", 2006: "Invalid Period", 9999: "Unkown"}
GENDER = {"M": "male", "V": "female"}
# SVW_GetCurrent groups: scenario key -> (group element, {child element: scenario field}).
SVW_GROUPS = {
    "cao": ("CAO", {"CAOId": "id", "CAOCode": "code", "CAODescription": "description"}),
    "risk_group": ("RiskGroup", {"RiskGroupId": "id", "RiskGroupCode": "code", "RiskGroupDescription": "description"}),
    "sector": ("Sector", {"SectorId": "id", "SectorCode": "code", "SectorDescription": "description"}),
    "wage_cost_benefit": ("WageCostBenefit", {"WageCostBenefitCode": "code", "EndPeriod": "end_period",
                                              "EndYear": "end_year"}),
}
HALF_CALLS = {"List_GetByCompany", "Employment_GetAll_AllEmployeesByCompany", "Salary_GetAll_AllEmployeesByCompany"}


@dataclass(frozen=True)
class SimUser:
    """An API user: the token's owner, its domain, the companies it sees, the calls its template enables."""

    username: str
    token: str
    domain: str
    companies: tuple[str, ...]  # werkgever keys (build_world spec keys) or werkgever ids
    enabled_calls: frozenset[str] = SEED_CALLS
    denied_employees: frozenset[int] = frozenset()  # employee-level restrictions (tags/filters) -> 2003


def default_users() -> list[SimUser]:
    return [
        # The demo account: the demo employer (Transport Oost) plus a four-weekly company.
        SimUser(DEMO_USERNAME, DEMO_TOKEN, DEMO_DOMAIN, ("transport_oost", "schoonmaak_west")),
        # Another accountant environment that sees two other companies (tenant isolation).
        SimUser("partner@example.nl", "fedcba9876543210fedcba9876543210", "partner",
                ("bakkerij_de_vries", "techniek_noord")),
        # Same companies as the demo, but the template user lacks Schedule_GetList (1002).
        SimUser("limited@example.nl", "00112233445566778899aabbccddeeff", DEMO_DOMAIN,
                ("transport_oost", "schoonmaak_west"), SEED_CALLS - {"Schedule_GetList"}),
    ]


def scenario_users(world: World) -> list[SimUser] | None:
    """API users from the scenario's ``simulators.nmbrs.users`` (docs/simulators.md); None when absent."""
    spec = (world.simulators.get("nmbrs") or {}).get("users")
    if spec is None:
        return None
    users = []
    for u in spec:
        enabled = frozenset(u["enabled_calls"]) if "enabled_calls" in u else SEED_CALLS
        users.append(SimUser(str(u["username"]), str(u["token"]), str(u["domain"]),
                             tuple(str(c) for c in u.get("companies") or ()),
                             enabled - frozenset(u.get("disabled_calls") or ()),
                             frozenset(int(e) for e in u.get("denied_employees") or ())))
    return users


class SoapFault(Exception):
    def __init__(self, code: int, detail: str = ""):
        self.code = code
        title = TITLES.get(code, "Unkown")
        super().__init__(f"{code}: {title}" + (f" ({detail})" if detail else ""))


def fault_envelope(faultstring: str, faultcode: str = "soap:Server") -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>'
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
            'xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body><soap:Fault>'
            f"<faultcode>{faultcode}</faultcode><faultstring>{escape(faultstring)}</faultstring><detail />"
            "</soap:Fault></soap:Body></soap:Envelope>").encode()


def _dt(day: date | None) -> datetime | None:
    return None if day is None else datetime.combine(day, time())


@dataclass
class NmbrsSimulator:
    world: World
    users: dict[str, SimUser]
    switch: FaultSwitch
    today: date = REFERENCE_TODAY
    schemas: dict[str, Schema] = field(default_factory=lambda: {s: Schema(s) for s in SERVICES})

    # ---- identifiers -------------------------------------------------------------------------
    def _werkgever(self, ref: str) -> Werkgever | None:
        return self.world.werkgevers.get(ref) or self.world.werkgevers.get(stable_id("werkgever", ref))

    def companies_of(self, user: SimUser) -> list[Werkgever]:
        return [wg for ref in user.companies if (wg := self._werkgever(ref)) is not None]

    @staticmethod
    def employee_id(wg: Werkgever, person: Person) -> int:
        return nmbrs_employee_id(wg, person)

    def employment_id(self, wg: Werkgever, emp: Employment) -> int:
        return nmbrs_employment_id(self.world, wg, emp)

    def run_id(self, run_uuid: str) -> int:
        return nmbrs_run_id(self.world, run_uuid)

    def current_period(self, wg: Werkgever) -> tuple[int, int]:
        """The company's current period: the one containing ``today`` (the first not yet run)."""
        for year in (self.today.year - 1, self.today.year, self.today.year + 1):  # ISO years straddle 1 January
            for number in range(1, werkgever_periods(wg, year) + 1):
                start, end = werkgever_bounds(wg, year, number)
                if start <= self.today <= end:
                    return year, number
        year = self.today.year
        return year, werkgever_periods(wg, year)

    def as_of(self, wg: Werkgever) -> date:
        return werkgever_bounds(wg, *self.current_period(wg))[1]

    # ---- access ------------------------------------------------------------------------------
    def company(self, user: SimUser, company_id: int) -> Werkgever:
        for wg in self.companies_of(user):
            if wg.number == company_id:
                return wg
        raise SoapFault(2004)

    def employee(self, user: SimUser, employee_id: int) -> tuple[Werkgever, Person, list[Employment]]:
        for wg in self.companies_of(user):
            for person in wg.persons:
                if self.employee_id(wg, person) == employee_id and employee_id not in user.denied_employees:
                    return wg, person, [e for e in wg.employments if e.person_id == person.id]
        raise SoapFault(2003)

    def employees(self, wg: Werkgever, operation: str) -> list[tuple[Person, list[Employment]]]:
        out = [(p, [e for e in wg.employments if e.person_id == p.id]) for p in wg.persons]
        if operation in HALF_CALLS and self.switch.take(operation, {"half"}) is not None:
            out = out[: len(out) // 2]
        return out

    def authenticate(self, header: etree._Element | None) -> SimUser:
        if header is None:
            raise SoapFault(1001)
        ns = header.nsmap.get(None) or etree.QName(header).namespace

        def text(name: str) -> str | None:
            node = header.find(f"{{{ns}}}{name}")
            return None if node is None else (node.text or "")

        user = self.users.get(text("Username") or "")
        domain = text("Domain")
        if user is None or text("Token") != user.token or (domain is not None and domain != user.domain):
            raise SoapFault(1001)
        return user

    # ---- WSGI --------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        service = next((s for s in SERVICES if path == f"/soap/v3/{s}.asmx"), None)
        if service is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"Not Found"]
        if environ["REQUEST_METHOD"] == "GET":
            query = {k.lower(): v for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
            if "wsdl" not in query:
                start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
                return [f"<html><body>{service} (Nmbrs simulator)</body></html>".encode()]
            return self._wsdl(service, environ, start_response)
        if environ["REQUEST_METHOD"] != "POST":
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"Method Not Allowed"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        status, payload = self.handle(service, environ.get("HTTP_SOAPACTION", ""), body)
        start_response(status, [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(payload)))])
        return [payload]

    def _wsdl(self, service: str, environ: dict, start_response: Callable) -> Iterable[bytes]:
        host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
        text = (WSDL_DIR / f"{service}.wsdl").read_text(encoding="utf-8")
        data = text.replace(f'"https://api.nmbrs.nl/soap/v3/{service}.asmx"',
                            f'"http://{host}/soap/v3/{service}.asmx"').encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]

    def handle(self, service: str, soap_action: str, body: bytes) -> tuple[str, bytes]:
        schema = self.schemas[service]
        try:
            envelope = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            return "400 Bad Request", fault_envelope("Server was unable to read request.", "soap:Client")
        request = envelope.find(f"{{{SOAP_ENV}}}Body/*")
        action = soap_action.strip().strip('"')
        operation = etree.QName(request).localname if request is not None else ""
        if (request is None or etree.QName(request).namespace != schema.namespace
                or operation not in schema.operations or action != f"{schema.namespace}/{operation}"):
            return "500 Internal Server Error", fault_envelope(
                "Unable to handle request without a valid action parameter. Please supply a valid soap action.",
                "soap:Client")
        header = envelope.find(f"{{{SOAP_ENV}}}Header/{{{schema.namespace}}}AuthHeaderWithDomain")
        try:
            user = self.authenticate(header)
            if self.switch.take(operation, {"revoke_token"}) is not None:
                raise SoapFault(1001)
            if self.switch.take(operation, {"invalid_period"}) is not None:
                raise SoapFault(2006)
            if operation not in user.enabled_calls:
                raise SoapFault(1002, operation)
            params = {etree.QName(c).localname: (c.text or "") for c in request}
            values = getattr(self, f"op_{operation}")(user, params)
        except SoapFault as fault:
            return "500 Internal Server Error", fault_envelope(f"Server was unable to process request. ---> {fault}")
        envelope_out = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={
            "soap": SOAP_ENV, "xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsd": "http://www.w3.org/2001/XMLSchema"})
        etree.SubElement(envelope_out, f"{{{SOAP_ENV}}}Body").append(schema.response(operation, values))
        return "200 OK", etree.tostring(envelope_out, xml_declaration=True, encoding="utf-8")

    # ---- CompanyService ----------------------------------------------------------------------
    @staticmethod
    def _int(params: dict[str, str], name: str) -> int:
        try:
            return int(params.get(name) or 0)  # ASMX leaves a missing value type at 0
        except ValueError:
            return 0

    def op_List_GetAll(self, user: SimUser, params: dict) -> dict:
        return {"List_GetAllResult": {"Company": [
            {"ID": wg.number, "Number": wg.number - 100_000, "Name": wg.name,
             "LoonaangifteTijdvak": "Month" if wg.frequency == "month" else "Week4"}
            for wg in self.companies_of(user)]}}

    def op_Company_GetCurrentPeriod(self, user: SimUser, params: dict) -> dict:
        wg = self.company(user, self._int(params, "CompanyId"))
        year, number = self.current_period(wg)
        return {"Company_GetCurrentPeriodResult": f"{year}-{number}-{PERIOD_TYPE_CODES[wg.frequency]}"}

    def op_Run_GetList(self, user: SimUser, params: dict) -> dict:
        wg = self.company(user, self._int(params, "CompanyId"))
        year = self._int(params, "Year")
        runs = [r for r in self.world.runs if r.werkgever_id == wg.id and r.year == year]
        return {"Run_GetListResult": {"RunInfo": [
            {"ID": self.run_id(r.id), "Number": r.sequence, "Year": r.year, "PeriodStart": r.period,
             "PeriodEnd": r.period_end or r.period, "Description": f"Verloning {r.year} periode {r.period}",
             "RunAt": _dt(r.approved_on), "IsLocked": True} for r in runs]}}

    def _report(self, user: SimUser, params: dict, wage_code: int | None = None) -> str:
        wg = self.company(user, self._int(params, "CompanyId"))
        index = self._int(params, "RunId") - RUN_ID_BASE
        runs = self.world.runs
        if not 0 <= index < len(runs) or runs[index].werkgever_id != wg.id:
            raise SoapFault(2004)
        run = runs[index]
        if self._int(params, "intYear") != run.year:
            return '<?xml version="1.0" encoding="utf-16"?>\r\n<reports />'
        return wage_code_report(self.world, wg, run, lambda person: str(self.employee_id(wg, person)),
                                None if wage_code is None else {wage_code})

    def op_Reports_GetWageCodesByRunCompany_v2(self, user: SimUser, params: dict) -> dict:
        return {"Reports_GetWageCodesByRunCompany_v2Result": self._report(user, params)}

    def op_Reports_GetWageCodesByRunCompany_FilterByWageCode(self, user: SimUser, params: dict) -> dict:
        return {"Reports_GetWageCodesByRunCompany_FilterByWageCodeResult":
                self._report(user, params, self._int(params, "WageCode"))}

    # ---- EmployeeService: company-wide -------------------------------------------------------
    def op_List_GetByCompany(self, user: SimUser, params: dict) -> dict:
        wg = self.company(user, self._int(params, "CompanyId"))
        as_of = self.as_of(wg)
        items = []
        for person, emps in self.employees(wg, "List_GetByCompany"):
            active = any(e.start <= as_of and (e.end is None or e.end >= as_of) for e in emps)
            # EmployeeType is an environment-specific id (EmployeeType_GetList); 0 = any type here.
            if self._int(params, "EmployeeType") in (0, 1 if active else 2):
                items.append({"Id": self.employee_id(wg, person), "Number": person.employee_number,
                              "DisplayName": _display_name(person)})
        return {"List_GetByCompanyResult": {"Employee": items}}

    def op_Employment_GetAll_AllEmployeesByCompany(self, user: SimUser, params: dict) -> dict:
        wg = self.company(user, self._int(params, "CompanyID"))
        items = []
        for person, emps in self.employees(wg, "Employment_GetAll_AllEmployeesByCompany"):
            items.append({"EmployeeId": self.employee_id(wg, person), "EmployeeEmployments": {"Employment": [
                {"EmploymentId": self.employment_id(wg, e), "CreationDate": _dt(e.start - timedelta(days=14)),
                 "StartDate": _dt(e.start), "EndDate": _dt(e.end), "InitialStartDate": _dt(e.start)}
                for e in emps]}})
        return {"Employment_GetAll_AllEmployeesByCompanyResult": {"EmployeeEmploymentItem": items}}

    def op_Salary_GetAll_AllEmployeesByCompany(self, user: SimUser, params: dict) -> dict:
        wg = self.company(user, self._int(params, "CompanyID"))
        as_of = self.as_of(wg)
        items = []
        for person, emps in self.employees(wg, "Salary_GetAll_AllEmployeesByCompany"):
            salaries = []
            for emp in emps:
                for k, wage in enumerate(sorted(emp.wages, key=lambda w: w.start)):
                    if wage.start <= as_of:  # "all salary, until the current period"
                        salaries.append({"ID": nmbrs_salary_id(self.world, wg, emp, k), "Value": wage.gross_amount,
                                         "Type": SALARY_TYPES[wage.basis],
                                         "StartDate": _dt(wage.start),
                                         "CreationDate": _dt(wage.start - timedelta(days=10))})
            items.append({"EmployeeId": self.employee_id(wg, person), "EmployeeSalaries": {"Salary_V2": salaries}})
        return {"Salary_GetAll_AllEmployeesByCompanyResult": {"EmployeeSalaryItem": items}}

    # ---- EmployeeService: per employee -------------------------------------------------------
    def _employee(self, user: SimUser, params: dict) -> tuple[Werkgever, Person, list[Employment]]:
        return self.employee(user, self._int(params, "EmployeeId"))

    def op_PersonalInfo_GetCurrent(self, user: SimUser, params: dict) -> dict:
        wg, p, _ = self._employee(user, params)
        return {"PersonalInfo_GetCurrentResult": {
            "Id": self.employee_id(wg, p), "Number": p.employee_number, "DisplayName": _display_name(p),
            "EmployeeNumber": p.employee_number, "BSN": p.bsn, "FirstName": p.first_name, "Initials": p.initials,
            "Prefix": p.prefix or None, "LastName": p.last_name, "Nickname": p.first_name,
            "Gender": GENDER.get(p.gender, "undefined"), "NationalityCode": 1, "IdentificationType": 0,
            "EmailWork": f"{p.first_name.lower()}.{p.employee_number}@{wg.name.split()[0].lower()}.example",
            "BurgerlijkeStaat": p.civil_status, "Naamstelling": "Eigen naam", "Birthday": _dt(p.birth_date),
            "DeceasedDate": _dt(p.date_of_death)}}

    def op_Address_GetListCurrent(self, user: SimUser, params: dict) -> dict:
        wg, p, _ = self._employee(user, params)
        return {"Address_GetListCurrentResult": {"EmployeeAddress": [{
            "Id": self.employee_id(wg, p) * 10 + 1, "Default": True, "Street": p.street,
            "HouseNumber": str(p.house_number), "PostalCode": p.postcode.replace(" ", ""), "City": p.city,
            "CountryISOCode": "NL", "Type": "HomeAddress"}]}}

    def op_BankAccount_GetListCurrent(self, user: SimUser, params: dict) -> dict:
        wg, p, _ = self._employee(user, params)
        return {"BankAccount_GetListCurrentResult": {"BankAccount": [{
            "Id": self.employee_id(wg, p) * 10 + 2, "Number": p.iban[-10:].lstrip("0"), "Description": "Salaris",
            "IBAN": p.iban, "BIC": p.iban[4:8] + "NL2A", "City": p.city, "Name": _display_name(p),
            "Type": "Bankrekening1"}]}}

    def op_Children_Get(self, user: SimUser, params: dict) -> dict:
        wg, p, _ = self._employee(user, params)
        # No children registered: an empty <EmployeeChildren /> (the #147-style trap for clients).
        return {"Children_GetResult": {"EmployeeId": self.employee_id(wg, p), "EmployeeChildren": {"Child": []}}}

    def op_Partner_Get(self, user: SimUser, params: dict) -> dict:
        self._employee(user, params)
        return {}  # no partner registered: an empty <Partner_GetResponse />

    def _schedule(self, emp: Employment, hours: Decimal, start: date) -> dict:
        per_day = (hours / 5).quantize(Decimal("0.01"))
        days = {f"Hours{d}": per_day for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday")}
        days.update({f"Hours{d}": Decimal("0") for d in ("Saturday", "Sunday")})
        week2 = {f"{k}2": v for k, v in days.items()}
        pct = (hours * 100 / emp.fulltime_hours).quantize(Decimal("0.01"))
        return {**days, **week2, "ParttimePercentage": pct, "StartDate": _dt(start)}

    def _schedules(self, emps: list[Employment], until: date) -> list[dict]:
        out = []
        for emp in sorted(emps, key=lambda e: e.start):
            for version in sorted(emp.hours, key=lambda h: h.start):
                if version.start <= until:
                    out.append(self._schedule(emp, version.hours_per_week, version.start))
        return out

    def op_Schedule_GetList(self, user: SimUser, params: dict) -> dict:
        wg, _, emps = self._employee(user, params)
        year, number = self._int(params, "Year"), self._int(params, "Period")
        if not 1900 < year < 2100 or not 1 <= number <= werkgever_periods(wg, year):
            raise SoapFault(2006)
        until = werkgever_bounds(wg, year, number)[1]
        return {"Schedule_GetListResult": {"Schedule": self._schedules(emps, until)}}

    def op_Schedule_GetCurrent(self, user: SimUser, params: dict) -> dict:
        wg, _, emps = self._employee(user, params)
        current = self._schedules(emps, self.as_of(wg))
        return {"Schedule_GetCurrentResult": current[-1] if current else None}

    def op_Contract_GetCurrentPeriod(self, user: SimUser, params: dict) -> dict:
        wg, p, emps = self._employee(user, params)
        as_of = self.as_of(wg)
        contracts = [{"ContractID": self.employment_id(wg, e), "CreationDate": _dt(e.start - timedelta(days=14)),
                      "StartDate": _dt(e.start), "TrialPeriod": None, "EndDate": _dt(e.end), "EmployementType": 1,
                      "EmploymentSequenceTaxId": e.number, "Indefinite": e.end is None}
                     for e in emps if e.start <= as_of and (e.end is None or e.end >= as_of)]
        return {"EmployeeContractItem": {"EmployeeId": self.employee_id(wg, p),
                                         "EmployeeContracts": {"EmployeeContract": contracts}}}

    def svw_groups(self, wg: Werkgever) -> dict[str, dict[str, Any]]:
        """The SVW groups of a company from ``simulators.nmbrs.svw`` (by werkgever key or id).

        Every group is always there; a child without a value is None (written as ``xsi:nil``).
        """
        settings = (self.world.simulators.get("nmbrs") or {}).get("svw") or {}
        given = next((v for k, v in settings.items() if k == wg.id or stable_id("werkgever", k) == wg.id), {}) or {}
        out = {}
        for key, (element, children) in SVW_GROUPS.items():
            values = given.get(key) or {}
            out[element] = {child: values.get(field_name) for child, field_name in children.items()}
        return out

    def op_SVW_GetCurrent(self, user: SimUser, params: dict) -> dict:
        wg, p, emps = self._employee(user, params)
        start = min((e.start for e in emps), default=self.today)  # the settings apply since the first employment
        year = start.year
        number = next((n for n in range(1, werkgever_periods(wg, year) + 1)
                       if werkgever_bounds(wg, year, n)[1] >= start), 1)
        return {"SVW_GetCurrentResult": {
            "Id": self.employee_id(wg, p), "CreateDate": _dt(start - timedelta(days=14)), "StartYear": year,
            "StartPeriod": number, "InfluenceObligedInsuranced": "Geen invloed", "Wao_Wia": True, "Ww": True,
            "Zw": True, "IncomeRelatedContributionZvw": None, "CodeZvw": "K", "EmploymentType": None,
            "PhaseClassification": None, "EmploymentSequenceTaxId": emps[0].number if emps else None,
            **self.svw_groups(wg)}}

    def op_WageComponentFixed_GetCurrent(self, user: SimUser, params: dict) -> dict:
        wg, p, _ = self._employee(user, params)
        components = [{"Id": self.employee_id(wg, p) * 10 + 5, "Code": 1010, "Value": Decimal("45.00")}]
        return {"WageComponentFixed_GetCurrentResult": {"WageComponent": components if p.employee_number % 3 else []}}

    def op_WageComponentVar_GetCurrent(self, user: SimUser, params: dict) -> dict:
        self._employee(user, params)
        return {"WageComponentVar_GetCurrentResult": {"WageComponent": []}}


def wage_code_report(world: World, wg: Werkgever, run: Any, employee_ref: Callable[[Person], str],
                     wage_codes: set[int] | None = None) -> str:
    """The run output ("wage codes by run") as Nmbrs renders it: ``<reports><report>`` per employee and
    period with ``<lines><line><code/><description/><value/></line>``, decimal commas, ``-`` for no amount.

    ``employee_ref`` renders the employee id (SOAP: the integer EmployeeId; REST: the employee GUID);
    ``wage_codes`` filters the lines (None = every code, plus the "-" placeholder line).
    """
    by_employee: dict[tuple[str, int, int], list[str]] = {}
    for line in world.results:
        if line.run_id != run.id:
            continue
        code, description = WAGE_CODES.get(line.component, (9000, line.component))
        if wage_codes is not None and code not in wage_codes:
            continue
        value = format(line.amount, "f").replace(".", ",")  # the reports use decimal commas
        by_employee.setdefault((line.employment_id, line.year, line.period), []).append(
            f"<line><code>{code}</code><description>{escape(description)}</description><value>{value}</value></line>")
    reports = []
    employments = {e.id: e for e in wg.employments}
    for (employment_id, year, period), lines in by_employee.items():
        if wage_codes is None:
            lines.append(f"<line><code>{PLACEHOLDER_CODE[0]}</code><description>{PLACEHOLDER_CODE[1]}"
                         "</description><value>-</value></line>")
        person = world.person(wg.id, employments[employment_id].person_id)
        reports.append(f"<report><employeeid>{employee_ref(person)}</employeeid><period>{period}</period>"
                       f"<year>{year}</year><runnumber>{run.sequence}</runnumber>"
                       f"<lines>{''.join(lines)}</lines></report>")
    return '<?xml version="1.0" encoding="utf-16"?>\r\n<reports>' + "".join(reports) + "</reports>"


def _display_name(p: Person) -> str:
    return " ".join(part for part in (p.first_name, p.prefix, p.last_name) if part)


def _signature(environ: dict) -> str:
    """The SOAP operation name for SOAP calls (fault matching and /_sim/calls), else METHOD PATH?QUERY."""
    action = environ.get("HTTP_SOAPACTION", "").strip().strip('"')
    if environ.get("REQUEST_METHOD") == "POST" and action:
        return action.rsplit("/", 1)[-1]
    query = environ.get("QUERY_STRING")
    return f"{environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO', '')}" + (f"?{query}" if query else "")


def _error_body(message: str) -> tuple[str, bytes]:
    # An unhandled server exception in ASMX: a SOAP fault without an Nmbrs code.
    return "text/xml; charset=utf-8", fault_envelope(f"Server was unable to process request. ---> {message}")


def create_app(world: World, users: list[SimUser] | dict[str, SimUser] | None = None) -> Any:
    """The simulator as a WSGI app wrapped in FaultMiddleware (``app.switch``, ``app.simulator``)."""
    if users is None:
        users = scenario_users(world) or default_users()
    if isinstance(users, list):
        users = {u.username: u for u in users}
    switch = FaultSwitch()
    simulator = NmbrsSimulator(world, dict(users), switch, today=world.today)
    app = FaultMiddleware(simulator, switch, signature=_signature, error_body=_error_body)
    app.simulator = simulator
    return app
