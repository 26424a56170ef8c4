"""A zeep-compatible simulator of Loket.nl's legacy SOAP "Loket webservice".

Serves the WSDL fixture next to this module at ``/Loket.asmx?WSDL`` (any path with ``?WSDL``
works) with ``soap:address`` pointing at the host:port the request came in on, and answers the
document/literal operations of that WSDL from the shared synthetic world:

* entity tree Werkgever -> Persoon, Dienstverband (with child records Werktijden and Salaris),
  Verloning; List / Select / GetChildNodes / GetNodeFunction / GetMetaData (code tables);
* ListVersion / SelectVersion: a record's version is ``world.record_versions`` (1 when never
  changed); an entity's version under a werkgever is the highest version of its records;
* ListGoedgekeurdeLoonrunsPeriode / ExportLoonresultatenPerRun / ExportWerknemer;
* webservice users with username + password + omgevingscode, linked to werkgevers, with
  functions or function:entity pairs that are not authorized.

Test control (besides the shared ``/_sim/faults``, ``/_sim/calls``, ``/_sim/latency``):
``POST /_sim/loket/mutate {"id": record_id, "changes": {...}}`` changes a record and bumps its
version; ``POST /_sim/loket/runs {"werkgever_id", "year", "period"}`` approves an extra
(correction) run. The same as methods: ``app.mutate(...)``, ``app.add_run(...)``.
Fault kinds ``revoke_token`` (the token of the matching call is invalidated) and ``half``
(List returns half the records) are interpreted here.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from payroll_simulators.faults import FaultMiddleware, FaultSwitch
from payroll_simulators.world import (
    Employment,
    PayrollRun,
    Person,
    Werkgever,
    World,
    add_period_results,
    period_bounds,
    stable_id,
)

TNS = "http://www.loket.nl/webservices/"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
PATH = "/Loket.asmx"
WSDL_FILE = Path(__file__).with_name("loket.wsdl")

# Code tables (GetMetaData). Values are what records carry; descriptions what Loket shows.
GESLACHT = {"1": "Man", "2": "Vrouw", "3": "Onbekend"}
BURGERLIJKE_STAAT = {"1": "Ongehuwd", "2": "Gehuwd", "3": "Geregistreerd partnerschap", "4": "Gescheiden",
                     "5": "Weduwe/weduwnaar"}
REDEN_UIT_DIENST = {"1": "Ontslag werknemer", "2": "Ontslag werkgever", "3": "Einde contract bepaalde tijd"}
VERLONINGSPERIODE = {"1": "Maand", "2": "4 weken", "3": "Week"}
VERLONINGSPERIODE_CODE = {"month": "1", "four_weeks": "2", "week": "3"}
METADATA: dict[str, dict[str, dict[str, str]]] = {
    "Werkgever": {"Verloningsperiode": VERLONINGSPERIODE},
    "Persoon": {"Geslacht": GESLACHT, "BurgerlijkeStaat": BURGERLIJKE_STAAT},
    "Dienstverband": {"RedenUitDienst": REDEN_UIT_DIENST, "Verloningsperiode": VERLONINGSPERIODE},
    "Verloning": {},
}
CHILD_NODES = {"Werkgever": ["Persoon", "Dienstverband", "Verloning"], "Dienstverband": ["Werktijden", "Salaris"]}
NODE_FUNCTIONS = ("List", "Select")


def _code(table: dict[str, str], description: str | None) -> str | None:
    if description is None:
        return None
    return next((k for k, v in table.items() if v.lower() == description.lower()), None)


@dataclass(frozen=True)
class SimUser:
    """A Loket webservice user. ``werkgevers`` are world keys (``schoonmaak_west``) or ids.

    ``denied`` holds functions (``"ExportLoonresultatenPerRun"``) or function:entity pairs
    (``"Select:Persoon"``) the webservicepartij is not authorized for.
    """

    username: str
    password: str
    omgevingscode: str
    werkgevers: tuple[str, ...] = ()
    denied: frozenset[str] = frozenset()


DEFAULT_USERS: tuple[SimUser, ...] = (
    SimUser("Webservice#01", "demo", "DEMO", ("schoonmaak_west",)),
    SimUser("Webservice#02", "demo2", "DEMO", ("schoonmaak_west", "techniek_noord")),
    SimUser("Webservice#03", "demo3", "DEMO", ("schoonmaak_west",), frozenset({"ExportLoonresultatenPerRun"})),
    SimUser("Webservice#04", "demo4", "DEMO", ()),
)


class SimFault(Exception):
    def __init__(self, foutcode: str, message: str, functie: str | None = None, entity: str | None = None,
                 server: bool = False):
        super().__init__(message)
        self.foutcode, self.message, self.functie, self.entity, self.server = foutcode, message, functie, entity, server


def fault_body(foutcode: str, message: str, functie: str | None = None, entity: str | None = None,
               server: bool = False) -> bytes:
    env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "ws": TNS})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_ENV}}}Body"), f"{{{SOAP_ENV}}}Fault")
    etree.SubElement(fault, "faultcode").text = "soap:Server" if server else "soap:Client"
    etree.SubElement(fault, "faultstring").text = message
    detail = etree.SubElement(etree.SubElement(fault, "detail"), f"{{{TNS}}}LoketFout")
    etree.SubElement(detail, f"{{{TNS}}}Foutcode").text = foutcode
    if functie:
        etree.SubElement(detail, f"{{{TNS}}}Functie").text = functie
    if entity:
        etree.SubElement(detail, f"{{{TNS}}}EntityName").text = entity
    return etree.tostring(env, xml_declaration=True, encoding="utf-8")


def _sub(parent: etree._Element, name: str, text: object = None) -> etree._Element:
    el = etree.SubElement(parent, f"{{{TNS}}}{name}")
    if text is not None:
        el.text = text.isoformat() if isinstance(text, date) else str(text)
    return el


def _nil(parent: etree._Element, name: str) -> None:
    _sub(parent, name).set(f"{{{XSI}}}nil", "true")


def _record(parent: etree._Element, tag: str, entity: str, identity: str, fields: dict[str, object],
            parent_identity: str | None = None, children: list[tuple[str, str, dict[str, object]]] | None = None
            ) -> etree._Element:
    rec = _sub(parent, tag)
    _sub(rec, "EntityName", entity)
    _sub(rec, "DataIdentity", identity)
    if parent_identity:
        _sub(rec, "ParentDataIdentity", parent_identity)
    fields_el = _sub(rec, "Fields")
    for name, value in fields.items():
        field = _sub(fields_el, "Field")
        _sub(field, "Name", name)
        if value is None:
            _nil(field, "Value")
        else:
            _sub(field, "Value", value)
    if children is not None:
        kids = _sub(rec, "Children")
        for child_entity, child_id, child_fields in children:
            _record(kids, "Entity", child_entity, child_id, child_fields, identity)
    return rec


def _versions_end(starts: list[date], index: int) -> date | None:
    """The day before the next version starts (Loket states an end date on every version)."""
    if index + 1 < len(starts):
        return date.fromordinal(starts[index + 1].toordinal() - 1)
    return None


class LoketSoapService:
    """The SOAP application proper (no fault middleware)."""

    def __init__(self, world: World, users: Iterable[SimUser], switch: FaultSwitch):
        self.world = world
        self.switch = switch
        self.users = {u.username: u for u in users}
        self.tokens: dict[str, str] = {}
        self.lock = threading.RLock()
        self.wsdl_template = WSDL_FILE.read_text(encoding="utf-8")
        self.handlers: dict[str, Callable[[SimUser, dict[str, str], etree._Element, str], None]] = {
            "GetNodeFunction": self._get_node_function,
            "GetChildNodes": self._get_child_nodes,
            "List": self._list,
            "Select": self._select,
            "GetMetaData": self._get_metadata,
            "ListVersion": self._list_version,
            "SelectVersion": self._select_version,
            "ListGoedgekeurdeLoonrunsPeriode": self._list_runs,
            "ExportLoonresultatenPerRun": self._export_results,
            "ExportWerknemer": self._export_werknemer,
        }

    # -- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> list[bytes]:
        method = environ["REQUEST_METHOD"]
        if method == "GET" and "wsdl" in environ.get("QUERY_STRING", "").lower():
            address = f"{environ.get('wsgi.url_scheme', 'http')}://{environ['HTTP_HOST']}{PATH}"
            body = self.wsdl_template.replace("{{ADDRESS}}", address).encode()
            return self._respond(start_response, "200 OK", body)
        if method != "POST":
            return self._respond(start_response, "405 Method Not Allowed", b"POST SOAP requests or GET ?WSDL",
                                 "text/plain")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length)
        try:
            status, body = "200 OK", self.dispatch(raw, environ.get("sim.signature", ""))
        except SimFault as f:
            status, body = "500 Internal Server Error", fault_body(f.foutcode, f.message, f.functie, f.entity,
                                                                  f.server)
        return self._respond(start_response, status, body)

    @staticmethod
    def _respond(start_response: Callable[..., Any], status: str, body: bytes,
                 ctype: str = "text/xml; charset=utf-8") -> list[bytes]:
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
        return [body]

    def dispatch(self, raw: bytes, signature: str) -> bytes:
        try:
            doc = etree.fromstring(raw, parser=etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError as exc:
            raise SimFault("OngeldigBericht", "Request is not valid XML") from exc
        body = doc.find(f"{{{SOAP_ENV}}}Body")
        if body is None or len(body) == 0:
            raise SimFault("OngeldigBericht", "SOAP Body is missing")
        request = body[0]
        op = etree.QName(request).localname
        params = {etree.QName(c).localname: (c.text or "").strip() for c in request}
        env = etree.Element(f"{{{SOAP_ENV}}}Envelope", nsmap={"soap": SOAP_ENV, "xsi": XSI, None: TNS})
        resp_body = etree.SubElement(env, f"{{{SOAP_ENV}}}Body")
        response = _sub(resp_body, f"{op}Response")
        with self.lock:
            if op == "GetUserToken":
                _sub(response, "GetUserTokenResult", self._login(params))
            elif op in self.handlers:
                user = self._user_for(params, signature)
                entity = params.get("EntityName")
                if op in user.denied or (entity and f"{op}:{entity}" in user.denied):
                    what = f"functie {op}" + (f" op entiteit {entity}" if entity else "")
                    raise SimFault("NietGeautoriseerd", f"Gebruiker is niet geautoriseerd voor {what}", op, entity)
                self.handlers[op](user, params, response, signature)
            else:
                raise SimFault("OnbekendeFunctie", f"Onbekende functie {op}")
        return etree.tostring(env, xml_declaration=True, encoding="utf-8")

    # -- users, tokens ----------------------------------------------------------------------
    def _login(self, params: dict[str, str]) -> str:
        user = self.users.get(params.get("Username", ""))
        if (user is None or not secrets.compare_digest(user.password, params.get("Password", ""))
                or user.omgevingscode != params.get("Omgevingscode", "")):
            raise SimFault("InloggegevensOngeldig", "Gebruikersnaam, wachtwoord of omgevingscode is onjuist")
        token = secrets.token_hex(16)
        self.tokens[token] = user.username
        return token

    def _user_for(self, params: dict[str, str], signature: str) -> SimUser:
        token = params.get("UserToken", "")
        username = self.tokens.get(token)
        if username is None:
            raise SimFault("TokenOngeldig", "UserToken is ongeldig of verlopen")
        if self.switch.take(signature, {"revoke_token"}):
            del self.tokens[token]
            raise SimFault("TokenOngeldig", "UserToken is ongeldig of verlopen")
        return self.users[username]

    def _linked(self, user: SimUser) -> list[Werkgever]:
        ids = {w if w in self.world.werkgevers else stable_id("werkgever", w) for w in user.werkgevers}
        return [wg for wg_id, wg in self.world.werkgevers.items() if wg_id in ids]

    def _werkgever(self, user: SimUser, werkgever_id: str | None) -> Werkgever | None:
        return next((wg for wg in self._linked(user) if wg.id == werkgever_id), None)

    def _find(self, user: SimUser, entity: str, identity: str) -> tuple[Werkgever, Any] | None:
        for wg in self._linked(user):
            if entity == "Werkgever" and wg.id == identity:
                return wg, wg
            if entity == "Persoon":
                hit: Any = next((p for p in wg.persons if p.id == identity), None)
            elif entity == "Dienstverband":
                hit = next((e for e in wg.employments if e.id == identity), None)
            elif entity == "Verloning":
                hit = next((r for r in self.world.runs if r.id == identity and r.werkgever_id == wg.id), None)
            else:
                hit = None
            if hit is not None:
                return wg, hit
        return None

    def _version(self, record_id: str) -> int:
        return self.world.record_versions.get(record_id, 1)

    def _children_of(self, wg: Werkgever, entity: str) -> list[Any]:
        if entity == "Persoon":
            return list(wg.persons)
        if entity == "Dienstverband":
            return list(wg.employments)
        if entity == "Verloning":
            return [r for r in self.world.runs if r.werkgever_id == wg.id]
        raise SimFault("OnbekendeEntiteit", f"Onbekende entiteit {entity} onder Werkgever", entity=entity)

    @staticmethod
    def _check_entity(entity: str | None) -> str:
        if entity not in METADATA:
            raise SimFault("OnbekendeEntiteit", f"Onbekende entiteit {entity}", entity=entity)
        return entity

    # -- record rendering -------------------------------------------------------------------
    def _werkgever_fields(self, wg: Werkgever) -> dict[str, object]:
        return {"Naam": wg.name, "Loonheffingennummer": wg.loonheffingennummer, "Administratienummer": wg.number,
                "Verloningsperiode": VERLONINGSPERIODE_CODE[wg.frequency]}

    @staticmethod
    def _persoon_fields(p: Person) -> dict[str, object]:
        return {
            "Personeelsnummer": p.employee_number, "Burgerservicenummer": p.bsn, "Voorletters": p.initials,
            "Voornaam": p.first_name, "Voorvoegsel": p.prefix or None, "Achternaam": p.last_name,
            "Geboortedatum": p.birth_date, "Geslacht": "1" if p.gender == "M" else "2",
            "Straat": p.street, "Huisnummer": p.house_number, "Postcode": p.postcode, "Woonplaats": p.city,
            "Land": "NL", "BurgerlijkeStaat": _code(BURGERLIJKE_STAAT, p.civil_status),
            "DatumOverlijden": p.date_of_death, "Iban": p.iban,
        }

    @staticmethod
    def _dienstverband(wg: Werkgever, e: Employment) -> tuple[dict[str, object], list[tuple[str, str, dict]]]:
        fields: dict[str, object] = {
            "PersoonDataIdentity": e.person_id, "Ikvnummer": e.number, "DatumInDienst": e.start,
            "DatumUitDienst": e.end, "RedenUitDienst": _code(REDEN_UIT_DIENST, e.end_reason),
            "VoltijdUrenPerWeek": e.fulltime_hours, "PercentageVakantiegeld": e.holiday_allowance_pct,
            "Verloningsperiode": VERLONINGSPERIODE_CODE[wg.frequency], "Administratienummer": wg.number,
        }
        children: list[tuple[str, str, dict]] = []
        hours = sorted(e.hours, key=lambda h: h.start)
        for i, h in enumerate(hours):
            children.append(("Werktijden", h.id, {"Startdatum": h.start,
                                                  "Einddatum": _versions_end([x.start for x in hours], i),
                                                  "UrenPerWeek": h.hours_per_week}))
        wages = sorted(e.wages, key=lambda w: w.start)
        for i, w in enumerate(wages):
            children.append(("Salaris", w.id, {"Startdatum": w.start,
                                               "Einddatum": _versions_end([x.start for x in wages], i),
                                               "Looncomponent": "BASIS", "Bedrag": w.gross_amount,
                                               "Verloningsperiode": VERLONINGSPERIODE_CODE[wg.frequency]}))
        return fields, children

    def _run(self, parent: etree._Element, tag: str, run: PayrollRun) -> None:
        wg = self.world.werkgevers[run.werkgever_id]
        start, end = period_bounds(wg.frequency, run.year, run.period)
        el = _sub(parent, tag)
        for name, value in (("VerloningsRunDataIdentity", run.id), ("WerkgeverDataIdentity", run.werkgever_id),
                            ("Jaar", run.year), ("Periode", run.period), ("VolgnummerGoedgekeurd", run.sequence),
                            ("BeginPeriode", start), ("EindePeriode", end), ("DatumGoedgekeurd", run.approved_on),
                            ("Status", run.status)):
            _sub(el, name, value)

    # -- operations -------------------------------------------------------------------------
    def _get_node_function(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        self._check_entity(params.get("EntityName"))
        result = _sub(out, "GetNodeFunctionResult")
        for name in NODE_FUNCTIONS:
            _sub(result, "string", name)

    def _get_child_nodes(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        entity = params.get("EntityName", "")
        if entity not in CHILD_NODES and entity not in METADATA:
            raise SimFault("OnbekendeEntiteit", f"Onbekende entiteit {entity}", entity=entity)
        result = _sub(out, "GetChildNodesResult")
        for name in CHILD_NODES.get(entity, []):
            _sub(result, "string", name)

    def _list(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        entity = self._check_entity(params.get("EntityName"))
        result = _sub(out, "ListResult")
        if entity == "Werkgever":
            for wg in self._linked(user):
                _record(result, "Entity", "Werkgever", wg.id, {"Naam": wg.name, "Administratienummer": wg.number})
            return
        wg = self._werkgever(user, params.get("ParentDataIdentity"))
        if wg is None:  # not linked (or unknown): Loket answers with no results
            return
        records = self._children_of(wg, entity)
        if self.switch.take(sig, {"half"}):
            records = records[: len(records) // 2]
        for r in records:
            if entity == "Persoon":
                summary: dict[str, object] = {"Personeelsnummer": r.employee_number,
                                              "Naam": " ".join(x for x in (r.initials, r.prefix, r.last_name) if x)}
            elif entity == "Dienstverband":
                summary = {"PersoonDataIdentity": r.person_id, "Ikvnummer": r.number, "DatumInDienst": r.start}
            else:
                summary = {"Jaar": r.year, "Periode": r.period, "Volgnummer": r.sequence, "Status": r.status}
            _record(result, "Entity", entity, r.id, summary, wg.id)

    def _select(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        entity = self._check_entity(params.get("EntityName"))
        found = self._find(user, entity, params.get("DataIdentity", ""))
        if found is None:
            _nil(out, "SelectResult")
            return
        wg, rec = found
        if entity == "Werkgever":
            _record(out, "SelectResult", entity, wg.id, self._werkgever_fields(wg))
        elif entity == "Persoon":
            _record(out, "SelectResult", entity, rec.id, self._persoon_fields(rec), wg.id)
        elif entity == "Dienstverband":
            fields, children = self._dienstverband(wg, rec)
            _record(out, "SelectResult", entity, rec.id, fields, wg.id, children)
        else:
            _record(out, "SelectResult", entity, rec.id, {"Jaar": rec.year, "Periode": rec.period,
                                                          "Volgnummer": rec.sequence, "Status": rec.status,
                                                          "DatumGoedgekeurd": rec.approved_on}, wg.id)

    def _get_metadata(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        entity = self._check_entity(params.get("EntityName"))
        result = _sub(out, "GetMetaDataResult")
        for field, table in METADATA[entity].items():
            meta = _sub(result, "FieldMetaData")
            _sub(meta, "Name", field)
            _sub(meta, "DataType", "Code")
            codes = _sub(meta, "CodeTable")
            for value, description in table.items():
                code = _sub(codes, "Code")
                _sub(code, "Value", value)
                _sub(code, "Description", description)

    def _list_version(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        entity = self._check_entity(params.get("EntityName"))
        if entity == "Werkgever":
            linked = self._linked(user)
            if not linked:
                _nil(out, "ListVersionResult")
            else:
                _sub(out, "ListVersionResult", max(self._version(wg.id) for wg in linked))
            return
        wg = self._werkgever(user, params.get("ParentDataIdentity"))
        if wg is None:
            _nil(out, "ListVersionResult")
            return
        _sub(out, "ListVersionResult", max((self._version(r.id) for r in self._children_of(wg, entity)), default=0))

    def _select_version(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        entity = self._check_entity(params.get("EntityName"))
        identity = params.get("DataIdentity", "")
        if self._find(user, entity, identity) is None:
            _nil(out, "SelectVersionResult")
        else:
            _sub(out, "SelectVersionResult", self._version(identity))

    def _list_runs(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        result = _sub(out, "ListGoedgekeurdeLoonrunsPeriodeResult")
        wg = self._werkgever(user, params.get("WerkgeverDataIdentity"))
        if wg is None:
            return
        try:
            year, period = int(params.get("Jaar", "")), int(params.get("Periode", ""))
        except ValueError as exc:
            raise SimFault("OngeldigBericht", "Jaar en Periode moeten getallen zijn") from exc
        for run in self.world.runs:
            if run.werkgever_id == wg.id and run.year == year and run.period == period and run.status == 9:
                self._run(result, "VerloningsRun", run)

    def _export_results(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        found = self._find(user, "Verloning", params.get("VerloningsRunDataIdentity", ""))
        if found is None:
            _nil(out, "ExportLoonresultatenPerRunResult")
            return
        wg, run = found
        only = params.get("DienstverbandDataIdentity") or None
        result = _sub(out, "ExportLoonresultatenPerRunResult")
        self._run(result, "VerloningsRun", run)
        lines = _sub(result, "Loonresultaten")
        for line in self.world.results:
            if line.run_id != run.id or (only and line.employment_id != only):
                continue
            start, end = period_bounds(wg.frequency, line.year, line.period)
            el = _sub(lines, "Loonresultaat")
            for name, value in (("DienstverbandDataIdentity", line.employment_id), ("Jaar", line.year),
                                ("Periode", line.period), ("BeginPeriode", start), ("EindePeriode", end),
                                ("Looncomponent", line.component),
                                ("Omschrijving", line.component.replace("_", " ").capitalize()),
                                ("Bedrag", line.amount)):
                _sub(el, name, value)

    def _export_werknemer(self, user: SimUser, params: dict[str, str], out: etree._Element, sig: str) -> None:
        result = _sub(out, "ExportWerknemerResult")
        wg = next((w for w in self._linked(user) if str(w.number) == params.get("Administratienummer")), None)
        if wg is None:
            return
        for p in wg.persons:
            children = []
            for e in wg.employments:
                if e.person_id == p.id:
                    fields, _ = self._dienstverband(wg, e)
                    children.append(("Dienstverband", e.id, fields))
            _record(result, "Entity", "Persoon", p.id, self._persoon_fields(p), wg.id, children)

    # -- test control -----------------------------------------------------------------------
    def mutate(self, record_id: str, changes: dict[str, Any]) -> int:
        """Change a werkgever, person, employment or run and bump its version; returns the new version."""
        with self.lock:
            target: Any = self.world.werkgevers.get(record_id)
            for wg in self.world.werkgevers.values():
                target = target or next((p for p in wg.persons if p.id == record_id), None)
                target = target or next((e for e in wg.employments if e.id == record_id), None)
            target = target or next((r for r in self.world.runs if r.id == record_id), None)
            if target is None:
                raise KeyError(record_id)
            for name, value in changes.items():
                current = getattr(target, name)
                if isinstance(current, date) and isinstance(value, str):
                    value = date.fromisoformat(value)
                elif isinstance(current, Decimal):
                    value = Decimal(str(value))
                setattr(target, name, value)
            return self.world.bump(record_id)

    def add_run(self, werkgever_id: str, year: int, period: int, approved_on: date | None = None) -> str:
        """Approve another (correction) run for a period; returns its id."""
        with self.lock:
            wg = self.world.werkgevers[werkgever_id]
            sequence = 1 + max((r.sequence for r in self.world.runs
                                if r.werkgever_id == werkgever_id and r.year == year and r.period == period),
                               default=0)
            _, end = period_bounds(wg.frequency, year, period)
            run = PayrollRun(stable_id("run", werkgever_id, year, period, sequence), werkgever_id, year, period,
                             sequence, approved_on=approved_on or end)
            self.world.runs.append(run)
            add_period_results(self.world, wg, run, year, period)
            self.world.bump(run.id)
            return run.id


def _signature(environ: dict) -> str:
    """The SOAP operation name (from SOAPAction), or ``METHOD PATH`` for anything else."""
    action = environ.get("HTTP_SOAPACTION", "").strip().strip('"')
    if environ["REQUEST_METHOD"] == "POST" and action:
        return action.rstrip("/").rsplit("/", 1)[-1]
    query = environ.get("QUERY_STRING", "")
    return f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO', '')}" + (f"?{query}" if query else "")


def _error_body(message: str) -> tuple[str, bytes]:
    return "text/xml; charset=utf-8", fault_body("ServerFout", message, server=True)


class LoketSoapApp:
    """WSGI entry point: ``/_sim/loket/*`` test control, everything else through the fault switch."""

    def __init__(self, world: World, users: Iterable[SimUser]):
        self.switch = FaultSwitch()
        self.service = LoketSoapService(world, users, self.switch)
        self.world = world
        self.wsgi = FaultMiddleware(self.service, self.switch, signature=_signature, error_body=_error_body)

    @property
    def users(self) -> dict[str, SimUser]:
        return self.service.users

    def mutate(self, record_id: str, **changes: Any) -> int:
        return self.service.mutate(record_id, changes)

    def add_run(self, werkgever_id: str, year: int, period: int) -> str:
        return self.service.add_run(werkgever_id, year, period)

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sim/loket/") and environ["REQUEST_METHOD"] == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
            try:
                if path == "/_sim/loket/mutate":
                    answer: dict[str, Any] = {"version": self.mutate(payload["id"], **payload.get("changes", {}))}
                elif path == "/_sim/loket/runs":
                    answer = {"run_id": self.add_run(payload["werkgever_id"], int(payload["year"]),
                                                     int(payload["period"]))}
                else:
                    return self._json(start_response, "404 Not Found", {"error": "unknown control endpoint"})
            except (KeyError, AttributeError, ValueError) as exc:
                return self._json(start_response, "400 Bad Request", {"error": repr(exc)})
            return self._json(start_response, "200 OK", answer)
        return self.wsgi(environ, start_response)

    @staticmethod
    def _json(start_response: Callable[..., Any], status: str, body: object) -> list[bytes]:
        data = json.dumps(body).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]


def create_app(world: World, users: Iterable[SimUser] | None = None) -> LoketSoapApp:
    """The simulator as a WSGI app; ``app.switch`` is its fault switch."""
    if users is None:
        users = scenario_users(world) or DEFAULT_USERS
    return LoketSoapApp(world, users)


def scenario_users(world: World) -> list[SimUser] | None:
    """Webservice users from the scenario's ``simulators.loket_soap.users`` (docs/simulators.md); None when absent."""
    spec = (world.simulators.get("loket_soap") or {}).get("users")
    if spec is None:
        return None
    return [SimUser(str(u["username"]), str(u["password"]), str(u["omgevingscode"]),
                    tuple(str(k) for k in u.get("werkgevers") or ()), frozenset(u.get("denied") or ()))
            for u in spec]

