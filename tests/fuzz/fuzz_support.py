"""Templates and oracles for the bad-input corpus.

Templates are real landed pages: each connector extracts its demo employer from the simulator
once into memory. The corpus then damages one value (or one whole page) at a time, and the
oracle says what a correct pipeline must do with it: load exactly the value a strict reading
gives, or keep the record out of the warehouse (quarantine), or stop with a clear error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

INVALID = object()  # the oracle's "no correct reading exists"
EMPLOYERS = {"loket_rest": "bakkerij_de_vries", "loket_soap": "schoonmaak_west", "nmbrs": "transport_oost",
             "nmbrs_rest": "transport_oost_rest"}
# Registered connectors (payroll_etl.connectors.registry.CONNECTORS) left out of the corpus, with the reason;
# tests/test_source_tables.py fails when a connector is neither in EMPLOYERS/TARGETS/MUTATE nor here.
EXCLUDED: dict[str, str] = {}
LOGICAL = date(2026, 11, 23)
SKIP_ENTITIES = {"payroll_result", "loonresultaat", "verloningsrun"}  # not needed here: keeps examples fast


@dataclass
class ListSink:
    pages: list[Any] = field(default_factory=list)

    def write(self, entity: str, payload: str, *, url: str, source_id: str, status: int = 200,
              content_type: str = "application/json", meta: dict[str, Any] | None = None) -> None:
        from payroll_etl.connectors.base import RawPage

        if isinstance(payload, bytes):
            payload = payload.decode("utf-8", errors="replace")
        if entity not in SKIP_ENTITIES and status < 300:
            self.pages.append(RawPage(entity, payload, url, source_id, content_type))


def capture(servers: dict[str, Any]) -> dict[str, list[Any]]:
    """Landed pages of each connector's demo employer, straight from the simulators."""
    import yaml

    from payroll_etl.config import PROJECT_ROOT, load_config
    from payroll_etl.connectors import connector_class
    from payroll_etl.connectors.base import ExtractRequest, SourceCredentials
    from payroll_etl.connectors.registry import CONNECTORS
    from payroll_etl.connectors.transport.tokens import MemoryTokenStore
    from payroll_etl.periods import period_for_logical_date

    specs = yaml.safe_load((PROJECT_ROOT / "include" / "demo_connections.yaml").read_text())
    out = {}
    for connector, key in EMPLOYERS.items():
        cfg = load_config().employer(key, connector)
        spec, url = specs[cfg.conn_id], servers[connector].url
        creds = SourceCredentials(host=url, login=spec.get("login"), password=spec.get("password"), extra=spec["extra"])
        consenter = CONNECTORS[connector].demo_consenter()
        if consenter is not None:  # no password grant (Nmbrs REST): the tokens of a first consent, done now
            tokens = consenter(creds, MemoryTokenStore())
            creds = SourceCredentials(host=url, login=spec.get("login"), password=spec.get("password"),
                                      extra={**spec["extra"], **tokens})
        period = period_for_logical_date(LOGICAL, cfg.payroll_frequency, cfg.four_week_tail)
        sink = ListSink()
        conn = connector_class(connector).from_credentials(creds)
        try:
            conn.extract(ExtractRequest(cfg, LOGICAL, period, True, {}, False), sink)
        finally:
            conn.close()
        out[connector] = sink.pages
    return out


# ------------------------------------------------------------------------------- oracles

def strict_decimal(value: Any) -> Any:
    """What a value means as an amount, or INVALID. "12,5" and "1.234,56" have no safe reading."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or isinstance(value, (list, dict)):
        return INVALID
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if value == value and abs(value) != float("inf") else INVALID
    text = str(value).strip()
    return Decimal(text) if re.fullmatch(r"-?\d+(\.\d+)?", text) else INVALID


def strict_date(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, (list, dict, bool)):
        return INVALID
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        return INVALID


def strict_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, dict)) or "\ufffd" in str(value):
        return INVALID
    return str(value).strip() or None


# ----------------------------------------------------------------------------- mutations

@dataclass(frozen=True)
class Target:
    """One value to damage: the canonical (entity, column) it ends up in, and its kind."""

    name: str
    entity: str
    column: str
    kind: str  # decimal | date | bsn | text


TARGETS = {
    "loket_rest": [Target("dateOfBirth", "employee", "birth_date", "date"),
                   Target("lastName", "employee", "last_name", "text"),
                   Target("citizenServiceNumber", "employee", "bsn", "bsn"),
                   Target("grossWage", "salary", "gross_amount", "decimal"),
                   Target("deviatingHoursPerWeek", "employment", "hours_per_week", "decimal")],
    "loket_soap": [Target("Geboortedatum", "employee", "birth_date", "date"),
                   Target("Achternaam", "employee", "last_name", "text"),
                   Target("Burgerservicenummer", "employee", "bsn", "bsn"),
                   Target("Bedrag", "salary", "gross_amount", "decimal"),
                   Target("UrenPerWeek", "employment", "hours_per_week", "decimal")],
    "nmbrs": [Target("Birthday", "employee", "birth_date", "date"),
              Target("LastName", "employee", "last_name", "text"),
              Target("BSN", "employee", "bsn", "bsn"),
              Target("Value", "salary", "gross_amount", "decimal")],
    "nmbrs_rest": [Target("birthDate", "employee", "birth_date", "date"),
                   Target("lastName", "employee", "last_name", "text"),
                   Target("BSN", "employee", "bsn", "bsn"),
                   Target("value", "salary", "gross_amount", "decimal")],
}


def _json_mutation(pages: list[Any], target: Target, value: Any) -> tuple[list[Any], str]:
    """Loket REST: set the field on the first record that has it; returns pages and its source id."""
    entity = {"dateOfBirth": "employee", "lastName": "employee", "citizenServiceNumber": "citizen_service_number",
              "grossWage": "wage", "deviatingHoursPerWeek": "working_hours"}[target.name]
    out = list(pages)
    for i, page in enumerate(pages):
        if page.entity != entity:
            continue
        body = json.loads(page.payload)
        if entity == "citizen_service_number":
            body["content"]["citizenServiceNumber"] = value
            sid = re.search(r"/employees/([^/]+)/citizenservicenumber", page.url).group(1)
        else:
            item = body["_embedded"][0]
            if entity == "employee":
                item["personalDetails"][target.name] = value
                sid = str(item["id"])
            elif entity == "wage":
                (item.get("wage") or item)["grossWage"] = value
                sid = f"{item['employmentId']}/BASIS"
            else:
                (item.get("workingHours") or item)["deviatingHoursPerWeek"] = value
                sid = str(item["employmentId"])
        out[i] = replace(page, payload=json.dumps(body))
        return out, sid
    raise LookupError(target)


def _xml_text(value: Any) -> str:
    return "" if value is None else str(value)


def _soap_mutation(pages: list[Any], target: Target, value: Any) -> tuple[list[Any], str]:
    """Loket SOAP: the Value of the first Field named ``target.name``; source id per canonical entity."""
    from lxml import etree

    out = list(pages)
    for i, page in enumerate(pages):
        if page.entity not in ("persoon", "dienstverband"):
            continue
        root = etree.fromstring(page.payload.encode())
        for fld in root.iter("{*}Field"):
            name = fld.find("{*}Name")
            if name is None or name.text != target.name:
                continue
            fld.find("{*}Value").text = _xml_text(value)
            record = fld.getparent().getparent()  # Field -> Fields -> record (Entity or SelectResult)
            sid = record.find("{*}DataIdentity").text
            if target.entity == "employment":  # a Werktijden child: the employment is its parent record
                sid = record.getparent().getparent().find("{*}DataIdentity").text
            out[i] = replace(page, payload=etree.tostring(root, encoding="unicode"))
            return out, sid
    raise LookupError(target)


def _nmbrs_mutation(pages: list[Any], target: Target, value: Any) -> tuple[list[Any], str]:
    from lxml import etree

    operation = {"salary": "Salary_GetAll_AllEmployeesByCompany"}.get(target.entity, "PersonalInfo_GetCurrent")
    out = list(pages)
    for i, page in enumerate(pages):
        if f"op={operation}" not in page.url:
            continue
        root = etree.fromstring(page.payload.encode())
        parent_tag = "Salary_V2" if target.entity == "salary" else "PersonalInfo_GetCurrentResult"
        for parent in root.iter(f"{{*}}{parent_tag}"):
            el = parent.find(f"{{*}}{target.name}")
            if el is None:
                continue
            el.text = _xml_text(value)
            el.attrib.pop("{http://www.w3.org/2001/XMLSchema-instance}nil", None)
            sid = parent.find("{*}ID" if target.entity == "salary" else "{*}Id").text
            out[i] = replace(page, payload=etree.tostring(root, encoding="unicode"))
            return out, sid
    raise LookupError(target)


def _nmbrs_rest_mutation(pages: list[Any], target: Target, value: Any) -> tuple[list[Any], str]:
    """Nmbrs REST: the field in every version of the first employee's list that has it (the normaliser reads
    the version in force, or the latest); source id: the employee, or the salary's ``salaryId``."""
    entity, key, holder = {"birthDate": ("personal_info", "info", "birthInfo"),
                           "lastName": ("personal_info", "info", "basicInfo"),
                           "BSN": ("private_info", "privateInfos", None),
                           "value": ("salary", "salaries", None)}[target.name]
    out = list(pages)
    for i, page in enumerate(pages):
        if page.entity != entity:
            continue
        body = json.loads(page.payload)
        for item in body["data"]:
            versions = item.get(key) or []
            if not versions:
                continue
            for version in versions[:1] if entity == "salary" else versions:
                (version[holder] if holder else version)[target.name] = value
            sid = str(versions[0]["salaryId"] if entity == "salary" else item["employeeId"]).lower()
            out[i] = replace(page, payload=json.dumps(body))
            return out, sid
    raise LookupError(target)


MUTATE = {"loket_rest": _json_mutation, "loket_soap": _soap_mutation, "nmbrs": _nmbrs_mutation,
          "nmbrs_rest": _nmbrs_rest_mutation}
