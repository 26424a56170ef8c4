"""A faithful local Loket.nl REST simulator: OAuth2 host + ``/v2`` API host on one port.

* OAuth2 (``/oauth/authorize``, ``/oauth/token``): authorization code with a login + consent
  form ("Toestaan"/"Weigeren"), refresh tokens that rotate (the old one is invalid after use),
  the password grant for the demo client only, ``expires_in`` 3599, errors ``{"error": ...}``.
* API: the paths, envelopes, ``Accept: application/json;version=`` negotiation, paging,
  ``filter``/``orderBy``, ETags and 401/403/404 bodies of the official spec; Loket's activity
  model (client activities x user rights x employer access).
* Test control under ``/_sim/loket/...`` (clock, token expiry, record changes) next to the shared
  fault switch (``/_sim/faults``); faults ``revoke_token`` and ``half`` are interpreted here.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

from flask import Flask, Response, request

from payroll_simulators.faults import FaultMiddleware, FaultSwitch
from payroll_simulators.loket_rest import render
from payroll_simulators.loket_rest.query import FilterError, PageWalks, compile_filter, order, paginate
from payroll_simulators.server import SimClock
from payroll_simulators.world import Employment, HoursVersion, Werkgever, World, stable_id

ACCESS_TOKEN_SECONDS = 3599
DEFAULT_PAGE_SIZE = 250
MAX_PAGE_SIZE = 1000

# Loket rights ("rechten") as the customer guide names them, and the activities they grant.
# Assumption: which activity belongs to which right is not published; this grouping follows the names.
RIGHTS: dict[str, set[str]] = {
    "Raadplegen HRM": {"GetEmployersByUserId", "GetEmployerByEmployerId", "GetEmployerLastModifiedVersionNumbersByUser",
                       "GetPayrollAdministrationsByEmployerId", "GetEmployeesByEmployerId", "GetEmployeeByEmployeeId"},
    "Beheren en raadplegen BSN": {"GetCitizenServiceNumberByEmployeeId"},
    "Raadplegen dienstverbanden": {"GetEmploymentsByEmployerId", "GetEmploymentsByEmployeeId",
                                   "GetEmploymentLastModifiedVersionNumbersByEmployerId",
                                   "GetWorkingHoursByEmploymentId", "GetActualWorkingHoursByEmployerId"},
    "Raadplegen beloningen": {"GetWagesByEmploymentId", "GetActualWagesByEmployerId"},
    "Raadplegen variabele gegevens": {"GetPayrollPeriodsByPayrollAdministrationId"},
    "Raadplegen loonoutput beperkt": {"GetPayrollRunsByPayrollAdministrationId",
                                      "GetPayrollPeriodResultsByPayrollAdministrationIdAndPayrollPeriodId",
                                      "GetPayrollResultsByPayrollAdministrationId"},
}
ALL_ACTIVITIES = set().union(*RIGHTS.values())
TENANT_1 = ("bakkerij_de_vries", "techniek_noord", "zorggroep_zuid_1", "zorggroep_zuid_2")
TENANT_2 = ("transport_oost", "schoonmaak_west")
LOCAL_REDIRECTS = ("http://127.0.0.1:", "http://localhost:")


@dataclass
class Client:
    client_id: str
    secret: str
    activities: set[str]
    password_grant: bool = False
    redirect_prefixes: tuple[str, ...] = LOCAL_REDIRECTS


@dataclass
class User:
    username: str
    password: str
    werkgever_keys: tuple[str, ...]  # world keys (bakkerij_de_vries) or werkgever ids
    rights: set[str] = field(default_factory=lambda: set(RIGHTS))
    # Werkgevers (keys or ids) for which this user's own filter settings (Loket: the user's filter
    # settings per werkgever) hide every employment: their employee and employment lists are empty.
    filtered: tuple[str, ...] = ()

    @property
    def werkgever_ids(self) -> set[str]:
        return {_werkgever_id(k) for k in self.werkgever_keys}

    def hides_all(self, wg: Werkgever) -> bool:
        return wg.id in {_werkgever_id(k) for k in self.filtered}


def _werkgever_id(ref: str) -> str:
    """A werkgever id from a world key or an id (ids are GUIDs)."""
    return ref.lower() if re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", ref) else \
        stable_id("werkgever", ref)


def scenario_users(world: World) -> dict[str, User] | None:
    """Users from the scenario's ``simulators.loket_rest.users`` (docs/simulators.md); None when absent."""
    spec = (world.simulators.get("loket_rest") or {}).get("users")
    if spec is None:
        return None
    users = [User(str(u["username"]), str(u["password"]), tuple(str(k) for k in u.get("werkgevers") or ()),
                  set(u["rights"]) if "rights" in u else set(RIGHTS), tuple(str(k) for k in u.get("filtered") or ()))
             for u in spec]
    return {u.username: u for u in users}


def scenario_clients(world: World) -> dict[str, Client] | None:
    """API clients from ``simulators.loket_rest.clients``; None when absent."""
    spec = (world.simulators.get("loket_rest") or {}).get("clients")
    if spec is None:
        return None
    return {str(c["client_id"]): Client(str(c["client_id"]), str(c["secret"]),
                                        set(c["activities"]) if "activities" in c else set(ALL_ACTIVITIES),
                                        bool(c.get("password_grant", False))) for c in spec}


def demo_clients() -> dict[str, Client]:
    return {c.client_id: c for c in (
        Client("benefits-etl-demo", "demo-secret", set(ALL_ACTIVITIES), password_grant=True),
        Client("benefits-etl-nobsn", "nobsn-secret", ALL_ACTIVITIES - {"GetCitizenServiceNumberByEmployeeId"}),
    )}


def demo_users() -> dict[str, User]:
    return {u.username: u for u in (
        User("demo@example.nl", "demo", TENANT_1),
        User("tenant2@example.nl", "tenant2", TENANT_2),
        User("multi@example.nl", "multi", TENANT_1 + TENANT_2),
        User("beperkt@example.nl", "beperkt", TENANT_1, set(RIGHTS) - {"Raadplegen beloningen"}),
    )}


@dataclass
class Grant:
    client_id: str
    username: str
    revoked: bool = False


@dataclass
class OAuthState:
    clock: Callable[[], float]
    rotation: bool = True
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (grant id, expires at)
    refresh: dict[str, str] = field(default_factory=dict)  # token -> grant id
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refreshes: int = 0
    used: set[str] = field(default_factory=set)  # access tokens that made an API call (rotation tests)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, grant_id: str) -> dict[str, Any]:
        access = secrets.token_urlsafe(40)
        refresh = secrets.token_urlsafe(16)
        self.access[access] = (grant_id, self.clock() + ACCESS_TOKEN_SECONDS)
        self.refresh[refresh] = grant_id
        return {"access_token": access, "token_type": "bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                "refresh_token": refresh, "two_factor_state": "None"}

    def expire_access_tokens(self) -> None:
        with self.lock:
            past = self.clock() - 1
            self.access = {t: (g, past) for t, (g, _) in self.access.items()}

    def revoke(self, grant_id: str) -> None:
        with self.lock:
            if grant_id in self.grants:
                self.grants[grant_id].revoked = True


class Problem(Exception):
    def __init__(self, status: int, message: str, kind: str = "BrokenBusinessRule", headers: dict | None = None,
                 spec_message: str | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}
        self.spec_message = spec_message


class LoketSimulator:
    """The WSGI app: test control for this simulator, then the fault switch, then Flask."""

    def __init__(self, world: World, clock: Callable[[], float] | None = None, *, rotation: bool = True,
                 auto_approve: str | None = None, max_page_size: int = MAX_PAGE_SIZE,
                 today: date | None = None):
        self.world = world
        self.clock = clock or SimClock()
        self.oauth = OAuthState(self.clock, rotation)
        self.clients = scenario_clients(world) or demo_clients()
        self.users = scenario_users(world) or demo_users()
        self.auto_approve = auto_approve
        self.max_page_size = max_page_size
        self.today = today or world.today
        self.switch = FaultSwitch()
        self.world_lock = threading.RLock()
        self.walks = PageWalks()  # collections being paged through (rendered once per walk)
        self.flask = _build_flask(self)
        self.wsgi = FaultMiddleware(self.flask.wsgi_app, self.switch)
        self._index()

    def _index(self) -> None:
        self.employee_owner: dict[str, str] = {}
        self.employment_owner: dict[str, tuple[str, Employment]] = {}
        self.admin_owner: dict[str, str] = {}
        for wg in self.world.werkgevers.values():
            self.admin_owner[render.admin_id(wg).lower()] = wg.id
            for p in wg.persons:
                self.employee_owner[p.id] = wg.id
            for e in wg.employments:
                self.employment_owner[e.id] = (wg.id, e)

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_sim/loket/"):
            return self.flask.wsgi_app(environ, start_response)
        return self.wsgi(environ, start_response)

    # ---- test control (also over HTTP under /_sim/loket/) ----
    def expire_tokens(self) -> None:
        self.oauth.expire_access_tokens()

    def change_hours(self, employment_id: str, hours_per_week: Decimal, start: date) -> int:
        """A new working-hours version; bumps the employment's lastModifiedVersionNumber."""
        with self.world_lock:
            _, emp = self.employment_owner[employment_id]
            emp.hours.append(HoursVersion(stable_id("hours", emp.id, "sim", len(emp.hours)), start, hours_per_week))
            return self.world.bump(emp.id)

    def change_employee(self, employee_id: str, **fields: Any) -> int:
        """Change person fields (e.g. last_name); bumps the versions of that person's employments."""
        with self.world_lock:
            wg = self.world.werkgevers[self.employee_owner[employee_id]]
            person = self.world.person(wg.id, employee_id)
            for key, value in fields.items():
                setattr(person, key, value)
            version = 0
            for emp in wg.employments:
                if emp.person_id == employee_id:
                    version = self.world.bump(emp.id)
            return version


def create_app(world: World, clock: Callable[[], float] | None = None, **options: Any) -> LoketSimulator:
    """The simulator as a WSGI app; ``app.switch`` is the fault switch, ``app.clock`` the clock."""
    return LoketSimulator(world, clock, **options)


# ---------------------------------------------------------------- Flask app

def _json(body: Any, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, headers=headers or {},
                    content_type="application/json; charset=utf-8")


def _oauth_error(error: str, status: int = 400, description: str | None = None) -> Response:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return _json(body, status, {"Cache-Control": "no-store"})


def _arg(name: str) -> str | None:
    for key, value in request.args.items():
        if key.lower() == name.lower():
            return value
    return None


def _negotiate(versions: tuple[str, ...]) -> tuple[str, str | None]:
    """Pick the newest resource version on or before the Accept version; (version, obsoleteDate)."""
    accept = request.headers.get("Accept", "")
    if accept and not any(t in accept for t in ("application/json", "*/*")):
        raise Problem(406, "Only application/json is supported for this resource in the simulator")
    m = re.search(r"version\s*=\s*(\d{4}-\d{2}-\d{2})", accept)
    ordered = sorted(versions)
    if m:
        candidates = [v for v in ordered if v <= m.group(1)]
        if not candidates:
            raise Problem(400, f"Version {m.group(1)} is not available for this resource")
        chosen = candidates[-1]
    else:
        chosen = ordered[-1]
    later = [v for v in ordered if v > chosen]
    obsolete = (date.fromisoformat(later[0]) + timedelta(days=183)).isoformat() if later else None
    return chosen, obsolete


def _build_flask(sim: LoketSimulator) -> Flask:
    app = Flask("loket_rest_simulator")

    @app.errorhandler(Problem)
    def _problem(p: Problem):  # noqa: ANN202
        body: dict[str, Any] = {"messages": [{"code": p.status, "id": None, "type": p.kind,
                                              "description": p.message, "properties": []}]}
        if p.spec_message:
            body["message"] = p.spec_message
        if p.status == 400:
            body["version"] = {"obsoleteDate": None, "resourceVersion": "2018-01-01"}
        return _json(body, p.status, p.headers)

    @app.errorhandler(404)
    def _not_found(_e):  # noqa: ANN202
        return _json({"messages": [{"code": 404, "id": None, "type": "NotFound",
                                    "description": "Resource not found", "properties": []}]}, 404)

    # ------------------------------------------------------------ OAuth2
    def login_form(error: str = "") -> str:
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in request.values.items() if k not in ("username", "password", "decision"))
        return (
            "<!doctype html><html lang='nl'><head><title>Loket.nl - Inloggen</title></head><body>"
            "<h1>Loket.nl (simulator)</h1>"
            f"<p style='color:red'>{html.escape(error)}</p>"
            f"<form method='post' action='/oauth/authorize'>{fields}"
            "<label>Gebruikersnaam <input name='username'></label><br>"
            "<label>Wachtwoord <input name='password' type='password'></label><br>"
            "<p>De applicatie vraagt toegang tot uw Loket.nl gegevens.</p>"
            "<button name='decision' value='allow'>Toestaan</button>"
            "<button name='decision' value='deny'>Weigeren</button></form></body></html>")

    @app.route("/oauth/authorize", methods=["GET", "POST"])
    def authorize():  # noqa: ANN202
        client = sim.clients.get(request.values.get("client_id", ""))
        redirect_uri = request.values.get("redirect_uri", "")
        if client is None or not redirect_uri.startswith(client.redirect_prefixes):
            return Response("Unknown client or redirect_uri not registered", 400, content_type="text/plain")
        if request.values.get("response_type") != "code":
            return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": request.values.get("state")})
        username = request.values.get("username") if request.method == "POST" else sim.auto_approve
        if request.method == "GET" and not sim.auto_approve:
            return Response(login_form(), 200, content_type="text/html; charset=utf-8")
        if request.method == "POST" and request.form.get("decision") == "deny":
            return _redirect(redirect_uri, {"error": "access_denied", "state": request.values.get("state")})
        user = sim.users.get(username or "")
        if user is None or (request.method == "POST" and user.password != request.form.get("password")):
            return Response(login_form("Gebruikersnaam of wachtwoord onjuist"), 200,
                            content_type="text/html; charset=utf-8")
        code = secrets.token_urlsafe(24)
        with sim.oauth.lock:
            sim.oauth.codes[code] = {"client_id": client.client_id, "redirect_uri": redirect_uri,
                                     "username": user.username, "expires_at": sim.clock() + 600}
        return _redirect(redirect_uri, {"code": code, "state": request.values.get("state")})

    def _redirect(uri: str, params: dict[str, Any]) -> Response:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return Response("", 302, headers={"Location": uri + ("&" if "?" in uri else "?") + query})

    @app.route("/oauth/token", methods=["POST"])
    def token():  # noqa: ANN202
        form = dict(request.form)
        if not form and request.data:  # Loket also accepts the form body sent as text/plain
            form = dict(parse_qsl(request.get_data(as_text=True)))
        form = {k.lower() if k.lower() in ("client_id", "client_secret") else k: v for k, v in form.items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        client = sim.clients.get(client_id or "")
        if client is None or client.secret != secret:
            return _oauth_error("invalid_client", 401)
        grant_type = form.get("grant_type")
        signature = request.environ.get("sim.signature", "POST /oauth/token")
        revoke = sim.switch.take(signature, {"revoke_token"}) is not None
        with sim.oauth.lock:
            if grant_type == "authorization_code":
                code = sim.oauth.codes.pop(form.get("code", ""), None)
                if (code is None or code["client_id"] != client.client_id or code["expires_at"] < sim.clock()
                        or code["redirect_uri"] != form.get("redirect_uri")):
                    return _oauth_error("invalid_grant")
                grant_id = secrets.token_hex(8)
                sim.oauth.grants[grant_id] = Grant(client.client_id, code["username"])
                return _json(sim.oauth.issue(grant_id), headers={"Cache-Control": "no-store"})
            if grant_type == "refresh_token":
                presented = form.get("refresh_token", "")
                grant_id = sim.oauth.refresh.get(presented)
                grant = sim.oauth.grants.get(grant_id or "")
                if revoke and grant is not None:
                    grant.revoked = True
                if grant is None or grant.revoked or grant.client_id != client.client_id:
                    return _oauth_error("invalid_grant")
                if sim.oauth.rotation:
                    del sim.oauth.refresh[presented]
                sim.oauth.refreshes += 1
                issued = sim.oauth.issue(grant_id)
                if not sim.oauth.rotation:
                    del sim.oauth.refresh[issued["refresh_token"]]
                    issued["refresh_token"] = presented
                return _json(issued, headers={"Cache-Control": "no-store"})
            if grant_type == "password":
                if not client.password_grant:
                    return _oauth_error("unauthorized_client")
                user = sim.users.get(form.get("username", ""))
                if user is None or user.password != form.get("password"):
                    return _oauth_error("invalid_grant")
                grant_id = secrets.token_hex(8)
                sim.oauth.grants[grant_id] = Grant(client.client_id, user.username)
                return _json(sim.oauth.issue(grant_id), headers={"Cache-Control": "no-store"})
        return _oauth_error("unsupported_grant_type")

    # ------------------------------------------------------------ API plumbing
    def caller(activity: str) -> tuple[Client, User]:
        auth = request.headers.get("Authorization", "")
        denied = Problem(401, "Authorization has been denied for this request.", "Exception",
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                         spec_message="Authorization has been denied for this request.")
        m = re.fullmatch(r"Bearer\s([\w-]+)", auth)
        if not m:
            raise denied
        with sim.oauth.lock:
            entry = sim.oauth.access.get(m.group(1))
            grant = sim.oauth.grants.get(entry[0]) if entry else None
            if entry is None or grant is None or grant.revoked or entry[1] < sim.clock():
                raise denied
            sim.oauth.used.add(m.group(1))
        if sim.switch.take(request.environ.get("sim.signature", ""), {"revoke_token"}):
            sim.oauth.revoke(entry[0])
            raise denied
        client, user = sim.clients[grant.client_id], sim.users[grant.username]
        if activity not in client.activities or not any(activity in RIGHTS[r] for r in user.rights):
            raise Problem(403, f"Insufficient rights for activity {activity}", "Exception",
                          spec_message="Insufficient rights for this request, reason \"User doesn't have rechten "
                                       "to perform activity for the given Id.\"")
        return client, user

    def werkgever(user: User, werkgever_id: str) -> Werkgever:
        wg = sim.world.werkgevers.get(werkgever_id.lower())
        if wg is None:
            raise Problem(404, "Employer not found", "NotFound")
        if wg.id not in user.werkgever_ids:
            raise Problem(403, "User has no access to this employer", "Exception",
                          spec_message="Insufficient rights for this request, reason \"User doesn't have rechten "
                                       "to perform activity for the given Id.\"")
        return wg

    def paging() -> tuple[int, int]:
        try:
            number = int(_arg("pageNumber") or 1)
            size = int(_arg("pageSize") or DEFAULT_PAGE_SIZE)
        except ValueError as exc:
            raise Problem(400, "pageNumber and pageSize must be integers") from exc
        if number < 1 or size < 1:
            raise Problem(400, "pageNumber and pageSize must be positive")
        return number, min(size, sim.max_page_size)

    def listing(items: list[dict] | Callable[[], list[dict]], versions: tuple[str, ...] = ("2018-01-01",),
                paged: bool = True) -> Response:
        """A collection page; ``items`` may be a function rendering them (under the world lock), called
        once per walk through the pages (:class:`PageWalks`)."""
        version, obsolete = _negotiate(versions)
        number, size = paging() if paged else (1, 0)
        walk = (request.path, request.headers.get("Authorization", ""),
                *sorted(f"{k.lower()}={v}" for k, v in request.args.items(multi=True) if k.lower() != "pagenumber"))

        def render() -> list[dict]:
            with sim.world_lock:
                rendered = items() if callable(items) else items
            try:
                return order([i for i in rendered if compile_filter(_arg("filter"))(i)], _arg("orderBy"))
            except FilterError as exc:
                raise Problem(400, str(exc)) from exc

        selected = sim.walks.items(walk, number, render) if paged and callable(items) else render()
        if sim.switch.take(request.environ.get("sim.signature", ""), {"half"}):
            selected = selected[: len(selected) // 2]
        page = paginate(selected, number, size if paged else max(len(selected), 1))
        if page["currentPage"] >= page["totalPages"]:
            sim.walks.end(walk)
        body = {k: page[k] for k in ("totalSize", "pageSize", "totalPages", "currentPage")}
        body.update({"version": {"obsoleteDate": obsolete, "resourceVersion": version}, "messages": [],
                     "_embedded": page["_embedded"]})
        return _json(body)

    def detail(content: dict, versions: tuple[str, ...] = ("2018-01-01",)) -> Response:
        version, obsolete = _negotiate(versions)
        body = {"version": {"obsoleteDate": obsolete, "resourceVersion": version}, "messages": [], "content": content}
        etag = 'W/"' + hashlib.sha1(json.dumps(content, sort_keys=True).encode()).hexdigest().upper() + '"'
        if etag in request.headers.get("If-None-Match", ""):
            return Response(status=304, headers={"ETag": etag})
        return _json(body, headers={"ETag": etag})

    def employment_of(user: User, employment_id: str) -> tuple[Werkgever, Employment]:
        owner = sim.employment_owner.get(employment_id.lower())
        if owner is None:
            raise Problem(404, "Employment not found", "NotFound")
        return werkgever(user, owner[0]), owner[1]

    def admin_of(user: User, admin_id: str) -> Werkgever:
        owner = sim.admin_owner.get(admin_id.lower())
        if owner is None:
            raise Problem(404, "Payroll administration not found", "NotFound")
        return werkgever(user, owner)

    def employee_of(user: User, employee_id: str) -> tuple[Werkgever, Any]:
        owner = sim.employee_owner.get(employee_id.lower())
        if owner is None:
            raise Problem(404, "Employee not found", "NotFound")
        wg = werkgever(user, owner)
        return wg, sim.world.person(wg.id, employee_id.lower())

    def reference_date() -> date:
        text = _arg("referenceDate")
        try:
            return date.fromisoformat(text) if text else sim.today
        except ValueError as exc:
            raise Problem(400, "referenceDate is not a valid date") from exc

    def visible(user: User, wg: Werkgever) -> list[Employment]:
        """The werkgever's employments this user's filter settings let through."""
        return [] if user.hides_all(wg) else wg.employments

    def employer_version(wg: Werkgever) -> int:
        return max((sim.world.record_versions.get(e.id, 0) for e in wg.employments), default=0)

    # ------------------------------------------------------------ API routes
    base = "/v2/providers/employers"

    @app.get(base)
    def employers():  # noqa: ANN202
        _, user = caller("GetEmployersByUserId")
        items = [render.employer(wg) for wg in sim.world.werkgevers.values() if wg.id in user.werkgever_ids]
        return listing(items)

    @app.get(f"{base}/lastmodifiedversionnumbers")
    def employer_versions():  # noqa: ANN202
        _, user = caller("GetEmployerLastModifiedVersionNumbersByUser")
        with sim.world_lock:
            items = [{"id": wg.id, "lastModifiedVersionNumber": employer_version(wg)}
                     for wg in sim.world.werkgevers.values() if wg.id in user.werkgever_ids]
        return listing(items)

    @app.get(f"{base}/<employer_id>")
    def employer(employer_id: str):  # noqa: ANN202
        _, user = caller("GetEmployerByEmployerId")
        return detail(render.employer(werkgever(user, employer_id)))

    @app.get(f"{base}/<employer_id>/payrolladministrations")
    def payroll_administrations(employer_id: str):  # noqa: ANN202
        _, user = caller("GetPayrollAdministrationsByEmployerId")
        return listing([render.payroll_administration(werkgever(user, employer_id))])

    @app.get(f"{base}/<employer_id>/employees")
    def employees(employer_id: str):  # noqa: ANN202
        _, user = caller("GetEmployeesByEmployerId")
        wg = werkgever(user, employer_id)
        version, _ = _negotiate(("2018-12-31", "2021-03-29"))
        return listing(lambda: [render.employee(p, version) for p in wg.persons if not user.hides_all(wg)],
                       ("2018-12-31", "2021-03-29"))

    @app.get(f"{base}/employees/<employee_id>")
    def employee(employee_id: str):  # noqa: ANN202
        _, user = caller("GetEmployeeByEmployeeId")
        _, person = employee_of(user, employee_id)
        version, _ = _negotiate(("2018-12-31", "2021-03-29"))
        return detail(render.employee(person, version), ("2018-12-31", "2021-03-29"))

    @app.get(f"{base}/employees/<employee_id>/citizenservicenumber")
    def citizen_service_number(employee_id: str):  # noqa: ANN202
        _, user = caller("GetCitizenServiceNumberByEmployeeId")
        _, person = employee_of(user, employee_id)
        return detail({"citizenServiceNumber": person.bsn})

    @app.get(f"{base}/<employer_id>/employees/employments")
    def employments(employer_id: str):  # noqa: ANN202
        _, user = caller("GetEmploymentsByEmployerId")
        wg = werkgever(user, employer_id)
        return listing(lambda: [render.employment(sim.world, wg, e) for e in visible(user, wg)], ("2019-12-16",))

    @app.get(f"{base}/employees/<employee_id>/employments")
    def employee_employments(employee_id: str):  # noqa: ANN202
        _, user = caller("GetEmploymentsByEmployeeId")
        wg, person = employee_of(user, employee_id)
        with sim.world_lock:
            items = [render.employment(sim.world, wg, e) for e in wg.employments if e.person_id == person.id]
        return listing(items, ("2019-12-16",))

    @app.get(f"{base}/<employer_id>/employees/employments/lastmodifiedversionnumbers")
    def employment_versions(employer_id: str):  # noqa: ANN202
        _, user = caller("GetEmploymentLastModifiedVersionNumbersByEmployerId")
        wg = werkgever(user, employer_id)
        return listing(lambda: [{"id": e.id, "lastModifiedVersionNumber": sim.world.record_versions.get(e.id, 0)}
                                for e in visible(user, wg)])

    @app.get(f"{base}/employees/employments/<employment_id>/wages")
    def wages(employment_id: str):  # noqa: ANN202
        _, user = caller("GetWagesByEmploymentId")
        wg, emp = employment_of(user, employment_id)
        return listing(render.wages(wg, emp))

    @app.get(f"{base}/employees/employments/<employment_id>/workinghours")
    def workinghours(employment_id: str):  # noqa: ANN202
        _, user = caller("GetWorkingHoursByEmploymentId")
        _, emp = employment_of(user, employment_id)
        return listing(render.working_hours(emp))

    @app.get(f"{base}/<employer_id>/actualwages")
    def actual_wages(employer_id: str):  # noqa: ANN202
        _, user = caller("GetActualWagesByEmployerId")
        wg, day = werkgever(user, employer_id), reference_date()
        return listing(lambda: [{"employmentId": e.id, "wage": w} for e in visible(user, wg)
                                if (w := render.actual(render.wages(wg, e), day)) is not None])

    @app.get(f"{base}/<employer_id>/actualworkinghours")
    def actual_working_hours(employer_id: str):  # noqa: ANN202
        _, user = caller("GetActualWorkingHoursByEmployerId")
        wg, day = werkgever(user, employer_id), reference_date()
        return listing(lambda: [{"employmentId": e.id, "workingHours": h} for e in visible(user, wg)
                                if (h := render.actual(render.working_hours(e), day)) is not None])

    admin = f"{base}/payrolladministrations/<admin_id>"

    @app.get(f"{admin}/payrollperiods")
    def payroll_periods(admin_id: str):  # noqa: ANN202
        _, user = caller("GetPayrollPeriodsByPayrollAdministrationId")
        wg = admin_of(user, admin_id)
        with sim.world_lock:
            return listing(render.periods(sim.world, wg), paged=False)

    @app.get(f"{admin}/payrollruns")
    def payroll_runs(admin_id: str):  # noqa: ANN202
        _, user = caller("GetPayrollRunsByPayrollAdministrationId")
        wg = admin_of(user, admin_id)
        with sim.world_lock:
            return listing([render.run(r) for r in sim.world.runs if r.werkgever_id == wg.id])

    @app.get(f"{admin}/payrollperiods/<int:period_id>/payrollresults")
    def period_results(admin_id: str, period_id: int):  # noqa: ANN202
        _, user = caller("GetPayrollPeriodResultsByPayrollAdministrationIdAndPayrollPeriodId")
        wg = admin_of(user, admin_id)
        with sim.world_lock:
            return listing(render.period_results(sim.world, wg, period_id), paged=False)

    @app.get(f"{admin}/payrollresults")
    def multi_period_results(admin_id: str):  # noqa: ANN202
        _, user = caller("GetPayrollResultsByPayrollAdministrationId")
        wg = admin_of(user, admin_id)
        try:
            start, end = int(_arg("payrollPeriodIdStart") or ""), int(_arg("payrollPeriodIdEnd") or "")
        except ValueError as exc:
            raise Problem(400, "payrollPeriodIdStart and payrollPeriodIdEnd are required") from exc
        with sim.world_lock:
            return listing(render.multi_period_results(sim.world, wg, start, end), paged=False)

    # ------------------------------------------------------------ test control
    @app.post("/_sim/loket/clock")
    def control_clock():  # noqa: ANN202
        seconds = float((request.get_json(silent=True) or {}).get("advance", 0))
        if isinstance(sim.clock, SimClock):
            sim.clock.advance(seconds)
        return _json({"now": sim.clock()})

    @app.post("/_sim/loket/expire-tokens")
    def control_expire():  # noqa: ANN202
        sim.expire_tokens()
        return _json({"ok": True})

    @app.post("/_sim/loket/change")
    def control_change():  # noqa: ANN202
        body = request.get_json(silent=True) or {}
        if "employment_id" in body:
            version = sim.change_hours(body["employment_id"], Decimal(str(body.get("hours_per_week", 24))),
                                       date.fromisoformat(body.get("start", sim.today.isoformat())))
        else:
            version = sim.change_employee(body["employee_id"], **body.get("fields", {}))
        return _json({"lastModifiedVersionNumber": version})

    @app.get("/_sim/loket/oauth")
    def control_oauth():  # noqa: ANN202
        return _json({"refreshes": sim.oauth.refreshes, "access_tokens": len(sim.oauth.access),
                      "refresh_tokens": len(sim.oauth.refresh)})

    return app
