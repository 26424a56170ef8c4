"""Loket.nl legacy SOAP webservices ("Loket webservice", webservice user + omgevingscode).

Extraction per configured werkgever (``EmployerConfig.source_ids``)::

    GetUserToken                                    once per run; again when a token is rejected
    List(Werkgever), GetChildNodes, GetNodeFunction first / full-refresh runs: is the user linked,
                                                    does the tree have what we need?
    SelectVersion(Werkgever)  -> Select + GetMetaData         when the werkgever changed
    ListVersion(Persoon|Dienstverband)
        -> List + GetMetaData + (SelectVersion ->) Select     when the entity changed
    ListVersion(Verloning)
        -> ListGoedgekeurdeLoonrunsPeriode -> ExportLoonresultatenPerRun   new approved runs

Versions are assumed to be a monotonic counter (like SQL rowversion): an entity's ListVersion
is the highest version among its records, so a record whose SelectVersion is not above the
entity version stored by the last successful run is unchanged and is not selected again.
The state is therefore tiny: per werkgever the entity versions plus the ids of exported runs.

zeep is imported lazily: this module is imported at DAG-parse time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import (
    Connector,
    ExtractRequest,
    ExtractResult,
    LandingSink,
    Normalized,
    RawPage,
    SourceCredentials,
)
from payroll_etl.connectors.network import check_refused, where
from payroll_etl.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    MalformedPayloadError,
    PayrollError,
    TransientSourceError,
)
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod
from payroll_etl.quality.identifiers import IdentifierError, normalize_omgevingscode

log = logging.getLogger(__name__)

DEFAULT_PATH = "/Loket.asmx"
TREE = ("Persoon", "Dienstverband", "Verloning")  # the children of Werkgever we need
RETRY_STATUS = {429, 502, 503, 504}
ERRORS_ENTITY = "errors"  # non-2xx responses land here; normalize skips them

# landing entity per (operation, EntityName)
_LANDING = {
    ("List", "Werkgever"): "werkgever_list", ("Select", "Werkgever"): "werkgever",
    ("List", "Persoon"): "persoon_list", ("Select", "Persoon"): "persoon",
    ("List", "Dienstverband"): "dienstverband_list", ("Select", "Dienstverband"): "dienstverband",
}
_LANDING_OP = {
    "GetChildNodes": "tree", "GetNodeFunction": "tree", "GetMetaData": "metadata",
    "ListVersion": "version", "SelectVersion": "version",
    "ListGoedgekeurdeLoonrunsPeriode": "verloningsrun", "ExportLoonresultatenPerRun": "loonresultaat",
}
_CANONICAL = {"Werkgever": ("employer",), "Persoon": ("employee",), "Dienstverband": ("employment", "salary")}
_POSTCODE = re.compile(r"^(\d{4})\s*([A-Za-z]{2})$")
_GENDER = {"man": "M", "vrouw": "V", "onbekend": "U", "x": "X"}


class _Transient(Exception):
    """Internal: worth another attempt (5xx, 429, connection reset, timeout)."""


class _TokenRejected(Exception):
    """Internal: the UserToken was refused; get a new one and repeat the call once."""


def _merge_scope(scope: dict[str, str], entity: str, how: str) -> None:
    """Several werkgevers under one employer: "incremental" wins over "full"."""
    if scope.get(entity) != "incremental":
        scope[entity] = how


@dataclass
class _Call:
    operation: str
    entity: str
    source_id: str
    meta: dict[str, Any]


class LoketSoapConnector(Connector):
    """Loket.nl SOAP webservice connector (legacy webservice user; see docs/connectors/loket_soap.md)."""

    name: ClassVar[str] = "loket_soap"

    def __init__(self, base_url: str, username: str, password: str, omgevingscode: str, *,
                 path: str = DEFAULT_PATH, timeout: float = 60.0, max_attempts: int = 4,
                 backoff_seconds: float = 1.0, max_backoff_seconds: float = 30.0):
        self.endpoint = base_url.rstrip("/") + "/" + path.lstrip("/")
        self.username = username
        self._password = password
        self._omgevingscode = omgevingscode
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.calls = 0
        self._token: str | None = None
        self._client: Any = None
        self._service: Any = None
        self._session: Any = None

    def __repr__(self) -> str:
        return f"LoketSoapConnector(endpoint={self.endpoint!r}, username={self.username!r})"

    @classmethod
    def from_credentials(cls, credentials: SourceCredentials) -> LoketSoapConnector:
        extra = credentials.extra or {}
        missing = [name for name, value in (("host", credentials.host), ("login", credentials.login),
                                            ("password", credentials.password),
                                            ("extra.omgevingscode", extra.get("omgevingscode")))
                   if not value]
        if missing:
            raise ConfigurationError(f"Loket SOAP connection is missing {', '.join(missing)}")
        host = credentials.host if "://" in credentials.host else f"https://{credentials.host}"
        try:
            omgevingscode = normalize_omgevingscode(extra["omgevingscode"])
        except IdentifierError as exc:
            raise ConfigurationError(f"Loket SOAP connection: extra.omgevingscode: {exc}") from None
        try:
            return cls(host, str(credentials.login).strip(), str(credentials.password), omgevingscode,
                       path=str(extra.get("path", DEFAULT_PATH)), timeout=float(extra.get("timeout", 60.0)),
                       max_attempts=int(extra.get("max_attempts", 4)),
                       backoff_seconds=float(extra.get("backoff_seconds", 1.0)),
                       max_backoff_seconds=float(extra.get("max_backoff_seconds", 30.0)))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError("Loket SOAP connection extra has a non-numeric timeout/retry setting") from exc

    # -- transport --------------------------------------------------------------------------
    def _retrying(self, what: str):
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        return Retrying(stop=stop_after_attempt(self.max_attempts),
                        wait=wait_exponential(multiplier=self.backoff_seconds, max=self.max_backoff_seconds),
                        retry=retry_if_exception_type(_Transient), reraise=True,
                        before_sleep=lambda rs: log.warning("Loket SOAP %s: attempt %d failed (%s); retrying",
                                                            what, rs.attempt_number, rs.outcome.exception()))

    def _connect(self) -> None:
        """Load the WSDL (with retries) and bind the service to the configured endpoint."""
        if self._service is not None:
            return
        import requests
        from zeep import Client
        from zeep.transports import Transport

        self._session = requests.Session()
        transport = Transport(session=self._session, timeout=self.timeout, operation_timeout=self.timeout)
        wsdl = f"{self.endpoint}?WSDL"
        try:
            for attempt in self._retrying("WSDL"):
                with attempt:
                    try:
                        client = Client(wsdl, transport=transport)
                    except requests.HTTPError as exc:
                        status = exc.response.status_code if exc.response is not None else 0
                        if status in RETRY_STATUS or status >= 500:
                            raise _Transient(f"HTTP {status}") from exc
                        raise ConfigurationError(f"Loket SOAP WSDL not found at {wsdl} (HTTP {status})") from exc
                    except (requests.ConnectionError, requests.Timeout) as exc:
                        check_refused(exc, wsdl, "Loket.nl SOAP")
                        raise _Transient(f"{type(exc).__name__} to {where(wsdl)}") from exc
        except _Transient as exc:
            raise TransientSourceError(f"Loket SOAP WSDL at {wsdl} unreachable after "
                                       f"{self.max_attempts} attempts: {exc}") from exc
        binding = next(iter(client.wsdl.bindings))
        self._client = client
        self._service = client.create_service(binding, self.endpoint)

    def _call(self, call: _Call, sink: LandingSink | None, **params: Any) -> Any:
        """One SOAP call: post, land the raw body, then interpret it. Retries transient failures."""
        import requests
        from zeep.exceptions import Fault, TransportError

        self._connect()
        url = f"{self.endpoint}#{call.operation}"
        binding = self._service._binding
        try:
            for attempt in self._retrying(call.operation):
                with attempt:
                    try:
                        with self._client.settings(raw_response=True):
                            response = getattr(self._service, call.operation)(**params)
                    except (requests.ConnectionError, requests.Timeout) as exc:
                        self.calls += 1
                        check_refused(exc, self.endpoint, "Loket.nl SOAP")
                        raise _Transient(f"{type(exc).__name__} to {where(self.endpoint)}") from exc
                    self.calls += 1
                    status = response.status_code
                    if sink is not None:
                        sink.write(call.entity if status < 300 else ERRORS_ENTITY, response.text, url=url,
                                   source_id=call.source_id, status=status, content_type="text/xml",
                                   meta={**call.meta, "operation": call.operation, "status": status})
                    if status in RETRY_STATUS:
                        raise _Transient(f"HTTP {status}")
                    try:
                        return binding.process_reply(self._client, binding.get(call.operation), response)
                    except Fault as fault:
                        raise self._fault_error(call, fault, status) from None
                    except TransportError as exc:
                        if status >= 500:
                            raise _Transient(f"HTTP {status}") from exc
                        raise MalformedPayloadError(f"Loket SOAP {url} answered HTTP {status} with a body that "
                                                    "is not valid XML (kept in landing)") from None
        except _Transient as exc:
            raise TransientSourceError(f"Loket SOAP {call.operation} failed after {self.max_attempts} "
                                       f"attempts: {exc}") from exc

    def _fault_error(self, call: _Call, fault: Any, status: int) -> Exception:
        detail = fault.detail
        code = functie = entity = None
        if detail is not None:
            found = {el.tag.rsplit("}", 1)[-1]: (el.text or "").strip() for el in detail.iter() if el.text}
            code, functie, entity = found.get("Foutcode"), found.get("Functie"), found.get("EntityName")
        message = (fault.message or "").strip()
        if code == "InloggegevensOngeldig":
            return AuthenticationError(f"Loket webservice refused the login of user {self.username!r}: username, "
                                       "password or omgevingscode is wrong")
        if code == "TokenOngeldig":
            return _TokenRejected()
        if code == "NietGeautoriseerd" or "geautoriseerd" in message.lower():
            functie = functie or call.operation
            entity = entity or call.meta.get("entity_name")
            what = f"function {functie}" + (f" on entity {entity}" if entity else "")
            return AuthorizationError(f"Loket webservice user {self.username!r} is not authorized for {what}; "
                                      "Loket.nl must authorize the webservicepartij for it")
        if code == "OnbekendeEntiteit":
            return ConfigurationError(f"Loket webservice does not know entity {entity or call.meta.get('entity_name')}"
                                      f" ({call.operation})")
        if (fault.code or "").endswith("Server") or code == "ServerFout" or status in RETRY_STATUS:
            return _Transient(f"SOAP server fault on {call.operation} (HTTP {status})")
        return PayrollError(f"Loket SOAP {call.operation} fault {code or fault.code}: {message[:200]}")

    def _token_value(self, sink: LandingSink | None) -> str:
        """GetUserToken; its response carries a credential, so it is never landed."""
        if self._token is None:
            token = self._call(_Call("GetUserToken", "token", "", {}), None, Username=self.username,
                               Password=self._password, Omgevingscode=self._omgevingscode)
            if not token:
                raise AuthenticationError(f"Loket webservice returned no token for user {self.username!r}")
            self._token = str(token)
        return self._token

    def _authed(self, call: _Call, sink: LandingSink, **params: Any) -> Any:
        for attempt in (1, 2):
            try:
                return self._call(call, sink, UserToken=self._token_value(sink), **params)
            except _TokenRejected:
                self._token = None
                if attempt == 2:
                    raise AuthenticationError(f"Loket webservice rejected a fresh token of user {self.username!r} "
                                              f"on {call.operation}") from None
        raise AssertionError("unreachable")

    # -- extraction -------------------------------------------------------------------------
    def extract(self, request: ExtractRequest, sink: LandingSink) -> ExtractResult:
        result = ExtractResult()
        previous = {} if request.full_refresh else dict(request.state.get("werkgevers", {}))
        werkgevers: dict[str, Any] = {}
        for wg_id in request.employer.source_ids:
            werkgevers[wg_id] = self._extract_werkgever(wg_id, previous.get(wg_id) or {}, request, sink, result)
        result.calls = self.calls
        result.state = {"werkgevers": werkgevers}
        return result

    def _extract_werkgever(self, wg: str, prev: dict[str, Any], request: ExtractRequest, sink: LandingSink,
                           result: ExtractResult) -> dict[str, Any]:
        prev_versions: dict[str, int] = dict(prev.get("versions", {}))
        first = not prev_versions  # first run for this werkgever, or a full refresh
        versions: dict[str, int] = {}
        base = {"werkgever": wg}

        if first:
            self._check_linked(wg, sink)
            self._check_tree(wg, sink)

        version = self._authed(_Call("SelectVersion", "version", wg, {**base, "entity_name": "Werkgever"}), sink,
                               EntityName="Werkgever", DataIdentity=wg)
        if version is None:  # visible in List but not selectable, or unlinked since the last run
            raise ConfigurationError(f"Loket werkgever {wg} is not linked to webservice user {self.username!r}")
        versions["Werkgever"] = int(version)
        if first or int(version) != prev_versions.get("Werkgever"):
            self._select(wg, "Werkgever", wg, sink)
            self._metadata(wg, "Werkgever", sink)
            _merge_scope(result.scope, "employer", "full")

        for entity in ("Persoon", "Dienstverband"):
            versions[entity] = self._extract_entity(wg, entity, first, prev_versions.get(entity), sink, result)

        runs_version = self._authed(_Call("ListVersion", "version", wg, {**base, "entity_name": "Verloning"}), sink,
                                    EntityName="Verloning", ParentDataIdentity=wg)
        exported = list(prev.get("exported_runs", []))
        runs_changed = first or runs_version is None or int(runs_version) != prev_versions.get("Verloning")
        if request.backfill:
            # A past period: all of its approved runs. Watermarks of the current periods stay as they were.
            self._export_runs(wg, [request.period], set(), sink)
            _merge_scope(result.scope, "payroll_period", "full")
            _merge_scope(result.scope, "payroll_result", "full")
            if "Verloning" in prev_versions:
                versions["Verloning"] = prev_versions["Verloning"]
        else:
            if runs_changed:
                periods = [request.period.previous(request.employer.four_week_tail), request.period]
                exported = self._export_runs(wg, periods, set() if first else set(exported), sink)
                _merge_scope(result.scope, "payroll_period", "incremental")
                _merge_scope(result.scope, "payroll_result", "incremental")
            if runs_version is not None:
                versions["Verloning"] = int(runs_version)
        return {"versions": versions, "exported_runs": exported}

    def _check_linked(self, wg: str, sink: LandingSink) -> None:
        listed = self._authed(_Call("List", "werkgever_list", wg, {"entity_name": "Werkgever"}), sink,
                              EntityName="Werkgever") or []
        ids = [str(r.DataIdentity) for r in listed]
        if not ids:
            raise ConfigurationError(f"Loket webservice user {self.username!r} is linked to no werkgever: link it "
                                     "to the employer's team in Loket (a linked user never sees 0 employers)")
        if wg not in ids:
            raise ConfigurationError(f"Loket werkgever {wg} is not linked to webservice user {self.username!r} "
                                     f"(it sees {len(ids)} other werkgever(s)); check source_ids or the team")

    def _check_tree(self, wg: str, sink: LandingSink) -> None:
        children = self._authed(_Call("GetChildNodes", "tree", wg, {"entity_name": "Werkgever"}), sink,
                                EntityName="Werkgever") or []
        missing = [e for e in TREE if e not in set(children)]
        if missing:
            raise AuthorizationError(f"Loket webservice user {self.username!r} does not see entities "
                                     f"{', '.join(missing)} under Werkgever")
        for entity in TREE[:2]:
            functions = self._authed(_Call("GetNodeFunction", "tree", wg, {"entity_name": entity}), sink,
                                     EntityName=entity) or []
            lacking = [f for f in ("List", "Select") if f not in set(functions)]
            if lacking:
                raise AuthorizationError(f"Loket webservice does not offer {', '.join(lacking)} on entity {entity} "
                                         f"to user {self.username!r}")

    def _extract_entity(self, wg: str, entity: str, first: bool, prev_version: int | None, sink: LandingSink,
                        result: ExtractResult) -> int:
        version = self._authed(_Call("ListVersion", "version", wg, {"werkgever": wg, "entity_name": entity}), sink,
                               EntityName=entity, ParentDataIdentity=wg)
        if version is None:
            raise ConfigurationError(f"Loket werkgever {wg} is not linked to webservice user {self.username!r}")
        version = int(version)
        if not first and version == prev_version:
            return version  # nothing changed: no List, no Select
        listed = self._authed(_Call("List", _LANDING[("List", entity)], wg, {"werkgever": wg, "entity_name": entity}),
                              sink, EntityName=entity, ParentDataIdentity=wg) or []
        self._metadata(wg, entity, sink)
        for record in listed:
            identity = str(record.DataIdentity)
            if not first:
                record_version = self._authed(
                    _Call("SelectVersion", "version", wg, {"werkgever": wg, "entity_name": entity,
                                                           "data_identity": identity}),
                    sink, EntityName=entity, DataIdentity=identity)
                if record_version is not None and prev_version is not None and int(record_version) <= prev_version:
                    continue
            self._select(wg, entity, identity, sink)
        for canonical in _CANONICAL[entity]:
            _merge_scope(result.scope, canonical, "full" if first else "incremental")
        return version

    def _select(self, wg: str, entity: str, identity: str, sink: LandingSink) -> None:
        self._authed(_Call("Select", _LANDING[("Select", entity)], wg,
                           {"werkgever": wg, "entity_name": entity, "data_identity": identity}),
                     sink, EntityName=entity, DataIdentity=identity)

    def _metadata(self, wg: str, entity: str, sink: LandingSink) -> None:
        self._authed(_Call("GetMetaData", "metadata", wg, {"werkgever": wg, "entity_name": entity}), sink,
                     EntityName=entity)

    def _export_runs(self, wg: str, periods: list[PayPeriod], skip: set[str], sink: LandingSink) -> list[str]:
        """Approved runs of ``periods``; exports those not in ``skip``. Returns the runs seen."""
        seen: list[str] = []
        for period in periods:
            runs = self._authed(_Call("ListGoedgekeurdeLoonrunsPeriode", "verloningsrun", wg,
                                      {"werkgever": wg, "period": period.id}),
                                sink, WerkgeverDataIdentity=wg, Jaar=period.year, Periode=period.number) or []
            for run in runs:
                run_id = str(run.VerloningsRunDataIdentity)
                seen.append(run_id)
                if run_id in skip:
                    continue
                self._authed(_Call("ExportLoonresultatenPerRun", "loonresultaat", wg,
                                   {"werkgever": wg, "period": period.id, "run": run_id}),
                             sink, VerloningsRunDataIdentity=run_id)
        return seen

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
        self._session = self._client = self._service = None
        self._token = None

    # -- normalization ----------------------------------------------------------------------
    @classmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser) -> Normalized:
        out = Normalized()
        bodies: list[tuple[RawPage, Any]] = []
        codes: dict[str, dict[str, str]] = {}
        for page in pages:
            if page.entity == ERRORS_ENTITY:
                continue
            body = _body(page)
            if body is None:
                continue
            bodies.append((page, body))
            if _local(body) == "GetMetaDataResponse":
                for meta in _all(body, "FieldMetaData"):
                    table = codes.setdefault(_text(meta, "Name") or "", {})
                    for code in _all(meta, "Code"):
                        table[_text(code, "Value") or ""] = _text(code, "Description") or ""
        periods: dict[str, dict[str, Any]] = {}
        norm = _Normalizer(out, employer, period, parser, codes)
        for page, body in bodies:
            kind = _local(body)
            if kind == "SelectResponse":
                record = _first(body, "SelectResult")
                if record is not None and record.get("{http://www.w3.org/2001/XMLSchema-instance}nil") != "true":
                    norm.record(record, page)
            elif kind == "ListGoedgekeurdeLoonrunsPeriodeResponse":
                for run in _all(body, "VerloningsRun"):
                    norm.period_row(run, periods)
            elif kind == "ExportLoonresultatenPerRunResponse":
                norm.results(body, periods)
        for row in periods.values():
            out.add("payroll_period", row)
        return out


# -- XML helpers (namespace-agnostic: the namespace is a WSDL design assumption) -----------------
def _local(el: Any) -> str:
    return el.tag.rsplit("}", 1)[-1] if isinstance(el.tag, str) else ""


def _first(el: Any, name: str) -> Any:
    return next((c for c in el.iter() if _local(c) == name and c is not el), None)


def _all(el: Any, name: str) -> Iterator[Any]:
    return (c for c in el.iter() if _local(c) == name and c is not el)


def _text(el: Any, name: str) -> str | None:
    child = next((c for c in el if _local(c) == name), None)
    if child is None or child.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
        return None
    return child.text


def _body(page: RawPage) -> Any:
    """The operation response element of a landed page, or None for faults."""
    from lxml import etree

    try:
        root = etree.fromstring(page.payload.encode("utf-8"),
                                parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True))
    except etree.XMLSyntaxError:
        raise MalformedPayloadError(f"landed Loket SOAP page {page.url} is not valid XML") from None
    body = next((c for c in root if _local(c) == "Body"), None)
    if body is None or len(body) == 0:
        raise MalformedPayloadError(f"landed Loket SOAP page {page.url} has no SOAP Body")
    response = body[0]
    return None if _local(response) == "Fault" else response


def _fields(record: Any) -> dict[str, str | None]:
    fields = next((c for c in record if _local(c) == "Fields"), None)
    if fields is None:
        return {}
    return {(_text(f, "Name") or ""): _text(f, "Value") for f in fields if _local(f) == "Field"}


def _children(record: Any) -> list[Any]:
    kids = next((c for c in record if _local(c) == "Children"), None)
    return [] if kids is None else [c for c in kids if _local(c) == "Entity"]


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

    def record(self, record: Any, page: RawPage) -> None:
        entity = _text(record, "EntityName")
        sid = _text(record, "DataIdentity") or ""
        fields = _fields(record)
        if entity == "Werkgever":
            self.employer_row(sid, fields)
        elif entity == "Persoon":
            self.employee_row(sid, fields, _text(record, "ParentDataIdentity") or page.source_id)
        elif entity == "Dienstverband":
            self.employment_rows(sid, fields, _children(record))

    def employer_row(self, sid: str, f: dict[str, str | None]) -> None:
        p, e = self.p, "employer"
        self.out.add(e, {
            "source_id": sid, "valid_from": self.period.start, "valid_to": None,
            "name": p.string(f.get("Naam"), e, sid, "name"),
            "loonheffingennummer": p.string(f.get("Loonheffingennummer"), e, sid, "loonheffingennummer"),
            "payroll_frequency": self.frequency(f.get("Verloningsperiode"), e, sid, "payroll_frequency"),
        })

    def employee_row(self, sid: str, f: dict[str, str | None], werkgever: str) -> None:
        p, e = self.p, "employee"
        gender_desc = self.decode("Geslacht", f.get("Geslacht"), e, sid, "gender")
        gender = None
        if gender_desc is not None:
            gender = _GENDER.get(gender_desc.strip().lower())
            if gender is None:
                p.issue(e, sid, "gender", "code_table", "unknown gender description")
        civil = self.decode("BurgerlijkeStaat", f.get("BurgerlijkeStaat"), e, sid, "civil_status")
        postcode = p.string(f.get("Postcode"), e, sid, "postcode")
        country = p.string(f.get("Land"), e, sid, "country")
        if postcode and (country in (None, "NL")):
            match = _POSTCODE.match(postcode)
            if match:
                postcode = f"{match.group(1)} {match.group(2).upper()}"
            else:
                p.issue(e, sid, "postcode", "format", "not a Dutch postcode (NNNN AA)")
        self.out.add(e, {
            "source_id": sid, "valid_from": self.period.start, "valid_to": None,
            "employer_source_id": werkgever,
            "employee_number": p.string(f.get("Personeelsnummer"), e, sid, "employee_number"),
            "bsn": p.string(f.get("Burgerservicenummer"), e, sid, "bsn"),
            "initials": p.string(f.get("Voorletters"), e, sid, "initials"),
            "first_name": p.string(f.get("Voornaam"), e, sid, "first_name"),
            "prefix": p.string(f.get("Voorvoegsel"), e, sid, "prefix"),
            "last_name": p.string(f.get("Achternaam"), e, sid, "last_name"),
            "birth_date": p.date(f.get("Geboortedatum"), e, sid, "birth_date"),
            "gender": gender,
            "street": p.string(f.get("Straat"), e, sid, "street"),
            "house_number": p.string(f.get("Huisnummer"), e, sid, "house_number"),
            "postcode": postcode,
            "city": p.string(f.get("Woonplaats"), e, sid, "city"),
            "country": country,
            "civil_status": civil.lower() if civil else None,
            "date_of_death": p.date(f.get("DatumOverlijden"), e, sid, "date_of_death"),
            "iban": (p.string(f.get("Iban"), e, sid, "iban") or "").replace(" ", "").upper() or None,
        })

    def employment_rows(self, sid: str, f: dict[str, str | None], children: list[Any]) -> None:
        p, e = self.p, "employment"
        fulltime = p.decimal(f.get("VoltijdUrenPerWeek"), e, sid, "fulltime_hours_per_week")
        reason = self.decode("RedenUitDienst", f.get("RedenUitDienst"), e, sid, "end_reason")
        frequency = self.frequency(f.get("Verloningsperiode"), e, sid, "payroll_frequency")
        base = {
            "employee_source_id": p.string(f.get("PersoonDataIdentity"), e, sid, "employee_source_id"),
            "employment_number": p.string(f.get("Ikvnummer"), e, sid, "employment_number"),
            "start_date": p.date(f.get("DatumInDienst"), e, sid, "start_date"),
            "end_date": p.date(f.get("DatumUitDienst"), e, sid, "end_date"),
            "end_reason": reason.lower() if reason else None,
            "fulltime_hours_per_week": fulltime,
            "payroll_frequency": frequency,
            "payroll_administration_id": p.string(f.get("Administratienummer"), e, sid, "payroll_administration_id"),
        }
        hours_versions = [c for c in children if _text(c, "EntityName") == "Werktijden"]
        if not hours_versions:
            self.out.add(e, {"source_id": sid, "valid_from": base["start_date"], "valid_to": base["end_date"],
                             **base, "hours_per_week": None, "part_time_factor": None})
        for child in hours_versions:
            cf = _fields(child)
            hours = p.decimal(cf.get("UrenPerWeek"), e, sid, "hours_per_week")
            factor = None
            if hours is not None and fulltime:
                try:
                    factor = (hours / fulltime).quantize(Decimal("0.0001"))
                except InvalidOperation:
                    p.issue(e, sid, "part_time_factor", "parse_decimal", "hours / fulltime hours out of range")
            self.out.add(e, {"source_id": sid, "valid_from": p.date(cf.get("Startdatum"), e, sid, "valid_from"),
                             "valid_to": p.date(cf.get("Einddatum"), e, sid, "valid_to"), **base,
                             "hours_per_week": hours, "part_time_factor": factor})
        holiday = p.decimal(f.get("PercentageVakantiegeld"), "salary", sid, "holiday_allowance_pct")
        for child in children:
            if _text(child, "EntityName") != "Salaris":
                continue
            wid = _text(child, "DataIdentity") or ""
            cf = _fields(child)
            self.out.add("salary", {
                "source_id": wid, "employment_source_id": sid,
                "valid_from": p.date(cf.get("Startdatum"), "salary", wid, "valid_from"),
                "valid_to": p.date(cf.get("Einddatum"), "salary", wid, "valid_to"),
                "gross_amount": p.decimal(cf.get("Bedrag"), "salary", wid, "gross_amount"),
                "frequency": self.frequency(cf.get("Verloningsperiode"), "salary", wid, "frequency"),
                # The webservice's Salaris states no basis (no full-time flag, no wage type): its Bedrag is
                # read as the full-time contract wage, as Loket's own default (isGrossWageFullTime = true).
                "basis": "fulltime",
                "holiday_allowance_pct": holiday,
                "component": p.string(cf.get("Looncomponent"), "salary", wid, "component"),
                "is_correction": False,
            })

    def period_row(self, run: Any, periods: dict[str, dict[str, Any]]) -> str | None:
        p, e = self.p, "payroll_period"
        year = p.integer(_text(run, "Jaar"), e, "?", "year")
        number = p.integer(_text(run, "Periode"), e, "?", "period_number")
        if year is None or number is None:
            return None
        pid = f"{year}{number:02d}"
        start = p.date(_text(run, "BeginPeriode"), e, pid, "start_date")
        end = p.date(_text(run, "EindePeriode"), e, pid, "end_date")
        periods.setdefault(pid, {"source_id": pid, "valid_from": start, "valid_to": end, "year": year,
                                 "period_number": number, "frequency": self.employer.payroll_frequency,
                                 "start_date": start, "end_date": end})
        return pid

    def results(self, body: Any, periods: dict[str, dict[str, Any]]) -> None:
        export = _first(body, "ExportLoonresultatenPerRunResult")
        if export is None or export.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true":
            return
        run = next((c for c in export if _local(c) == "VerloningsRun"), None)
        if run is None:
            return
        run_id = _text(run, "VerloningsRunDataIdentity") or ""
        run_period = self.period_row(run, periods)
        p, e = self.p, "payroll_result"
        sequence = p.integer(_text(run, "VolgnummerGoedgekeurd"), e, run_id, "run_sequence")
        for line in _all(export, "Loonresultaat"):
            dv = _text(line, "DienstverbandDataIdentity") or ""
            year, number = _text(line, "Jaar"), _text(line, "Periode")
            pid = f"{year}{int(number):02d}" if year and number and number.isdigit() else None
            component = _text(line, "Looncomponent") or ""
            sid = f"{dv}:{pid}:{run_id}:{component}"
            if pid is None:
                p.issue(e, sid, "period_id", "parse_int", "result line without a valid Jaar/Periode")
            elif pid not in periods:  # a retroactive line of another period: that period as the line states it
                self.period_row(line, periods)
            self.out.add(e, {
                "source_id": sid, "employment_source_id": dv, "period_id": pid, "run_id": run_id,
                "run_sequence": sequence, "run_period_id": run_period, "component": component or None,
                "valid_from": p.date(_text(line, "BeginPeriode"), e, sid, "valid_from"),
                "valid_to": p.date(_text(line, "EindePeriode"), e, sid, "valid_to"),
                "amount": p.decimal(_text(line, "Bedrag"), e, sid, "amount"),
            })
