"""A deterministic, synthetic Dutch payroll world shared by all simulators.

Every simulator (Loket REST, Loket SOAP, Nmbrs SOAP) renders the same source-neutral
objects in its own protocol shapes. Everything is generated from one seed, so a test
or the demo sees the same people every time. No real person is in here: BSNs are
generated to pass the 11-proef, names and addresses are drawn from small lists.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

NAMESPACE = uuid.UUID("6f1d3c52-2b7e-4f57-9d0a-8a1b4c9e0f11")

FIRST_NAMES_M = ["Jan", "Pieter", "Kees", "Mohammed", "Daan", "Sem", "Lucas", "Bram", "Thijs", "Ruben", "Finn", "Joris"]
FIRST_NAMES_V = ["Anna", "Sanne", "Fatima", "Emma", "Lotte", "Julia", "Sophie", "Noor", "Eva", "Iris", "Femke", "Lieke"]
PREFIXES = ["", "", "", "van", "de", "van der", "van den", ""]
LAST_NAMES = ["Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "Bos", "Vos", "Peters", "Hendriks",
              "Dekker", "Brouwer", "Dijkstra", "Kok", "Yilmaz", "El Amrani", "Berg", "Wit", "Groot", "Boer"]
STREETS = ["Dorpsstraat", "Kerkstraat", "Molenweg", "Stationsplein", "Schoolstraat", "Julianalaan", "Beatrixstraat"]
CITIES = [("1011", "Amsterdam"), ("2511", "Den Haag"), ("3011", "Rotterdam"), ("3511", "Utrecht"),
          ("5611", "Eindhoven"), ("9711", "Groningen"), ("6511", "Nijmegen"), ("8011", "Zwolle")]
POSTCODE_LETTERS = "ABCEGHJKLMNPRTVWXZ"


def bsn_checksum_ok(bsn: str) -> bool:
    digits = [int(c) for c in bsn]
    total = sum(w * d for w, d in zip(range(9, 1, -1), digits[:8])) - digits[8]
    return total % 11 == 0 and bsn != "000000000"


def make_bsn(rng: random.Random) -> str:
    while True:
        head = f"{rng.randint(10_000_000, 99_999_999):08d}"
        weighted = sum(w * int(d) for w, d in zip(range(9, 1, -1), head))
        last = weighted % 11
        if last < 10:
            bsn = head + str(last)
            if bsn_checksum_ok(bsn):
                return bsn


def make_rsin(rng: random.Random) -> str:
    return make_bsn(rng)


def stable_id(*parts: object) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(str(p) for p in parts)))


@dataclass
class Person:
    id: str
    employee_number: int
    bsn: str
    initials: str
    first_name: str
    prefix: str
    last_name: str
    birth_date: date
    gender: str  # "M" or "V"
    street: str
    house_number: int
    postcode: str
    city: str
    civil_status: str  # ongehuwd / gehuwd / geregistreerd partnerschap / gescheiden
    iban: str
    date_of_death: date | None = None


@dataclass
class HoursVersion:
    id: str
    start: date
    hours_per_week: Decimal


@dataclass
class WageVersion:
    id: str
    start: date
    gross_amount: Decimal  # per pay period of the employer's frequency (per hour when basis is "hourly")
    # Which amount the source states (issue 15): "fulltime" (the full-time wage), "actual" (the part-time
    # amount actually paid), "hourly" (an hourly wage), or "net" (a net salary: a basis the pipeline refuses).
    basis: str = "fulltime"


@dataclass
class Employment:
    id: str
    person_id: str
    werkgever_id: str
    number: int  # IKV-nummer
    start: date
    end: date | None
    end_reason: str | None
    fulltime_hours: Decimal
    holiday_allowance_pct: Decimal
    hours: list[HoursVersion] = field(default_factory=list)
    wages: list[WageVersion] = field(default_factory=list)


@dataclass
class Werkgever:
    """One payroll entity in the source (Loket werkgever, Nmbrs company)."""

    id: str
    number: int  # Nmbrs CompanyId / Loket clientNumber
    name: str
    loonheffingennummer: str
    frequency: str  # "month", "four_weeks" or "week"
    persons: list[Person] = field(default_factory=list)
    employments: list[Employment] = field(default_factory=list)
    # four-weekly calendar: "period13" (from 1 January, period 13 absorbs December) or "iso_weeks"
    # (period 1 starts with ISO week 1; a 53-week year has a one-week period 14). Weekly = ISO weeks.
    calendar: str = "period13"


@dataclass
class PayrollRun:
    id: str
    werkgever_id: str
    year: int
    period: int
    sequence: int
    approved_on: date
    status: int = 9  # 9 = approved (Loket)
    period_end: int | None = None  # a run covering periods ``period``..``period_end`` (Nmbrs PeriodStart/End)


@dataclass
class PayrollResultLine:
    run_id: str
    employment_id: str
    year: int
    period: int  # the period the amount belongs to (may be earlier than the run's own period)
    component: str
    amount: Decimal


@dataclass
class World:
    werkgevers: dict[str, Werkgever]
    runs: list[PayrollRun]
    results: list[PayrollResultLine]
    version: int = 1000  # global lastModifiedVersionNumber counter
    record_versions: dict[str, int] = field(default_factory=dict)
    # The simulators' "today" (current periods, reference dates) and per-simulator settings from a
    # scenario file (users, rights, domains; see payroll_simulators.scenario and docs/simulators.md).
    today: date = field(default_factory=lambda: REFERENCE_TODAY)
    simulators: dict[str, Any] = field(default_factory=dict)

    def bump(self, record_id: str) -> int:
        self.version += 1
        self.record_versions[record_id] = self.version
        return self.version

    def person(self, werkgever_id: str, person_id: str) -> Person:
        return next(p for p in self.werkgevers[werkgever_id].persons if p.id == person_id)


@dataclass(frozen=True)
class WerkgeverSpec:
    key: str
    name: str
    employees: int
    frequency: str = "month"


# The demo population: every connector's simulator serves some of these.
DEMO_WERKGEVERS: tuple[WerkgeverSpec, ...] = (
    WerkgeverSpec("bakkerij_de_vries", "Bakkerij De Vries B.V.", 60, "month"),
    WerkgeverSpec("techniek_noord", "Techniek Noord B.V.", 70, "four_weeks"),
    WerkgeverSpec("zorggroep_zuid_1", "Zorggroep Zuid Thuiszorg B.V.", 40, "month"),
    WerkgeverSpec("zorggroep_zuid_2", "Zorggroep Zuid Verpleging B.V.", 30, "month"),
    WerkgeverSpec("transport_oost", "Transport Oost B.V.", 45, "month"),
    WerkgeverSpec("schoonmaak_west", "Schoonmaak West B.V.", 35, "four_weeks"),
)

REFERENCE_TODAY = date(2026, 11, 23)


def four_weekly_period_start(year: int, period: int) -> date:
    """Start of a four-weekly pay period: period 1 starts on 1 January (see docs/periods)."""
    return date(year, 1, 1) + timedelta(days=28 * (period - 1))


def _iban(rng: random.Random) -> str:
    bank = rng.choice(["ABNA", "INGB", "RABO", "SNSB", "TRIO"])
    account = f"{rng.randint(0, 9_999_999_999):010d}"
    bban = bank + account
    numeric = "".join(str(int(c, 36)) for c in bban + "NL00")
    check = 98 - int(numeric) % 97
    return f"NL{check:02d}{bban}"


def _postcode(rng: random.Random, prefix: str) -> str:
    while True:
        letters = rng.choice(POSTCODE_LETTERS) + rng.choice(POSTCODE_LETTERS)
        if letters not in {"SA", "SD", "SS"}:
            return f"{int(prefix) + rng.randint(0, 80)} {letters}"


def build_werkgever(spec: WerkgeverSpec, seed: int, index: int) -> Werkgever:
    rng = random.Random(f"{seed}:{spec.key}")
    wg = Werkgever(
        id=stable_id("werkgever", spec.key),
        number=100_000 + index * 17 + 3,
        name=spec.name,
        loonheffingennummer=f"{make_rsin(rng)}L01",
        frequency=spec.frequency,
    )
    for n in range(spec.employees):
        gender = rng.choice("MV")
        first = rng.choice(FIRST_NAMES_M if gender == "M" else FIRST_NAMES_V)
        prefix_code, city = rng.choice(CITIES)
        birth = date(rng.randint(1962, 2004), rng.randint(1, 12), rng.randint(1, 28))
        person = Person(
            id=stable_id("person", spec.key, n),
            employee_number=n + 1,
            bsn=make_bsn(rng),
            initials=first[0] + ".",
            first_name=first,
            prefix=rng.choice(PREFIXES),
            last_name=rng.choice(LAST_NAMES),
            birth_date=birth,
            gender=gender,
            street=rng.choice(STREETS),
            house_number=rng.randint(1, 250),
            postcode=_postcode(rng, prefix_code),
            city=city,
            civil_status=rng.choice(["ongehuwd", "gehuwd", "gehuwd", "geregistreerd partnerschap", "gescheiden"]),
            iban=_iban(rng),
        )
        wg.persons.append(person)
        earliest = max(date(birth.year + 18, birth.month, birth.day), date(2008, 1, 1))
        start = earliest + timedelta(days=rng.randint(0, max(1, (date(2026, 6, 1) - earliest).days)))
        start = start.replace(day=1)
        end: date | None = None
        end_reason = None
        if rng.random() < 0.12:  # leavers
            end = date(rng.choice([2025, 2026]), rng.randint(1, 10), 1) - timedelta(days=1)
            if end <= start:
                end = None
            else:
                end_reason = "ontslag werknemer"
        fulltime = Decimal(rng.choice([36, 38, 40]))
        emp = Employment(
            id=stable_id("employment", spec.key, n),
            person_id=person.id,
            werkgever_id=wg.id,
            number=1,
            start=start,
            end=end,
            end_reason=end_reason,
            fulltime_hours=fulltime,
            holiday_allowance_pct=Decimal("8.00"),
        )
        hours = fulltime if rng.random() < 0.55 else Decimal(rng.choice([16, 20, 24, 28, 32]))
        emp.hours.append(HoursVersion(stable_id("hours", emp.id, 0), start, hours))
        if rng.random() < 0.15 and start < date(2025, 3, 1):  # part-time change
            new_hours = Decimal(rng.choice([20, 24, 32])) if hours == fulltime else fulltime
            emp.hours.append(HoursVersion(stable_id("hours", emp.id, 1), date(2025, 3, 1), new_hours))
        monthly = Decimal(rng.randrange(2600, 7200, 25))
        per_period = monthly if spec.frequency == "month" else (monthly * 12 / 13).quantize(Decimal("0.01"))
        emp.wages.append(WageVersion(stable_id("wage", emp.id, 0), start, per_period))
        for year in (2025, 2026):  # mid-year raises
            raise_date = date(year, 7, 1)
            if start < raise_date and (end is None or end >= raise_date) and rng.random() < 0.6:
                per_period = (per_period * Decimal("1.035")).quantize(Decimal("0.01"))
                emp.wages.append(WageVersion(stable_id("wage", emp.id, year), raise_date, per_period))
        wg.employments.append(emp)
    return wg


def periods_in_year(frequency: str, year: int | None = None, calendar: str = "period13") -> int:
    """Periods of the simulated payroll in ``year`` (ISO-week calendars need the year: 52/53 weeks)."""
    if frequency == "month":
        return 12
    weeks = date(year, 12, 28).isocalendar()[1] if year is not None else 52
    if frequency == "week":
        return weeks
    return 14 if calendar == "iso_weeks" and weeks == 53 else 13


def werkgever_bounds(wg: Werkgever, year: int, period: int) -> tuple[date, date]:
    """``period_bounds`` in the werkgever's own frequency and calendar."""
    return period_bounds(wg.frequency, year, period, wg.calendar)


def werkgever_periods(wg: Werkgever, year: int) -> int:
    """``periods_in_year`` in the werkgever's own frequency and calendar."""
    return periods_in_year(wg.frequency, year, wg.calendar)


# ---- Nmbrs ids: SOAP integers and their REST GUIDs (the crosswalk both Nmbrs simulators share) ----
NMBRS_RUN_ID_BASE = 700_000


def nmbrs_employee_id(wg: Werkgever, person: Person) -> int:
    """Nmbrs SOAP EmployeeId of ``person`` in company ``wg`` (CompanyId = ``wg.number``)."""
    return 500_000 + (wg.number - 100_000) * 1_000 + person.employee_number


def nmbrs_employment_id(world: World, wg: Werkgever, emp: Employment) -> int:
    """Nmbrs SOAP EmploymentId: the employee id followed by the employment's sequence number."""
    return nmbrs_employee_id(wg, world.person(wg.id, emp.person_id)) * 10 + emp.number


def nmbrs_salary_id(world: World, wg: Werkgever, emp: Employment, index: int) -> int:
    """Nmbrs SOAP salary ID of the ``index``-th wage version (by start date) of ``emp``."""
    return nmbrs_employment_id(world, wg, emp) * 100 + index


def nmbrs_run_id(world: World, run_uuid: str) -> int:
    """Nmbrs SOAP RunId of the world's payroll run ``run_uuid``."""
    return NMBRS_RUN_ID_BASE + next(i for i, r in enumerate(world.runs) if r.id == run_uuid)


def nmbrs_rest_id(kind: str, soap_id: int) -> str:
    """The REST API's GUID for the SOAP id ``soap_id`` of ``kind`` (company, employee, employment,
    salary, run, ...): uuid5 of the SOAP id, so the same record has a stable id in both APIs and a
    test can translate one into the other."""
    return stable_id("nmbrs", kind, soap_id)


def build_world(seed: int = 42, specs: tuple[WerkgeverSpec, ...] = DEMO_WERKGEVERS,
                years: tuple[int, ...] = (2025, 2026), today: date = REFERENCE_TODAY) -> World:
    werkgevers = {}
    for index, spec in enumerate(specs):
        wg = build_werkgever(spec, seed, index)
        werkgevers[wg.id] = wg
    world = World(werkgevers=werkgevers, runs=[], results=[], today=today)
    for wg in werkgevers.values():
        for emp in wg.employments:
            world.record_versions[emp.id] = world.bump(emp.id)
        _build_runs(world, wg, years, today)
    return world


def period_bounds(frequency: str, year: int, period: int, calendar: str = "period13") -> tuple[date, date]:
    """Inclusive dates of a period as the simulated payroll keeps them (see ``Werkgever.calendar``)."""
    if frequency == "week" or (frequency == "four_weeks" and calendar == "iso_weeks"):
        weeks = 1 if frequency == "week" or period == 14 else 4
        start = date.fromisocalendar(year, 1, 1) + timedelta(weeks=(period - 1) * (1 if frequency == "week" else 4))
        return start, start + timedelta(days=7 * weeks - 1)
    if frequency == "month":
        start = date(year, period, 1)
        end = (date(year + (period == 12), period % 12 + 1, 1)) - timedelta(days=1)
        return start, end
    start = four_weekly_period_start(year, period)
    end = start + timedelta(days=27) if period < 13 else date(year, 12, 31)
    return start, end


def wage_on(emp: Employment, day: date) -> Decimal | None:
    current = None
    for w in sorted(emp.wages, key=lambda w: w.start):
        if w.start <= day:
            current = w.gross_amount
    return current


def wage_version_on(emp: Employment, day: date) -> WageVersion | None:
    """The wage version in force on ``day``."""
    current = None
    for w in sorted(emp.wages, key=lambda w: w.start):
        if w.start <= day:
            current = w
    return current


def hours_on(emp: Employment, day: date) -> Decimal | None:
    current = None
    for h in sorted(emp.hours, key=lambda h: h.start):
        if h.start <= day:
            current = h.hours_per_week
    return current


def _build_runs(world: World, wg: Werkgever, years: tuple[int, ...], today: date) -> None:
    for year in years:
        for period in range(1, werkgever_periods(wg, year) + 1):
            start, end = werkgever_bounds(wg, year, period)
            if end >= today:
                return
            run = PayrollRun(stable_id("run", wg.id, year, period, 1), wg.id, year, period, 1,
                             approved_on=end - timedelta(days=3))
            world.runs.append(run)
            add_period_results(world, wg, run, year, period)


def add_period_results(world: World, wg: Werkgever, run: PayrollRun, year: int, period: int) -> None:
    start, end = werkgever_bounds(wg, year, period)
    for emp in wg.employments:
        if emp.start > end or (emp.end is not None and emp.end < start):
            continue
        version = wage_version_on(emp, end)
        hours = hours_on(emp, end)
        if version is None or hours is None or version.basis == "net":
            continue
        wage = version.gross_amount
        if version.basis == "actual":
            gross = wage
        elif version.basis == "hourly":
            gross = (wage * hours * ((end - start).days + 1) / 7).quantize(Decimal("0.01"))
        else:
            gross = (wage * hours / emp.fulltime_hours).quantize(Decimal("0.01"))
        world.results.append(PayrollResultLine(run.id, emp.id, year, period, "BRUTO_LOON", gross))
        world.results.append(PayrollResultLine(
            run.id, emp.id, year, period, "RESERVERING_VAKANTIEGELD",
            (gross * emp.holiday_allowance_pct / 100).quantize(Decimal("0.01"))))
