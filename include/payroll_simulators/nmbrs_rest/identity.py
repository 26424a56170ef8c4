"""The Nmbrs identity server as the REST API's clients meet it (``identityservice.nmbrs.com``).

* ``GET /.well-known/openid-configuration``: discovery (endpoints, scopes, PKCE method S256).
* ``GET /connect/authorize``: login + consent page listing the requested scopes; ``POST`` with
  ``decision=allow`` redirects to the client's ``redirect_uri`` with ``code`` and ``state``
  (``decision=deny``: ``error=access_denied``). PKCE is mandatory: ``code_challenge`` with
  ``code_challenge_method=S256``.
* ``POST /connect/token``: ``authorization_code`` (checks ``code_verifier`` against the challenge,
  the redirect URI and the client secret) and ``refresh_token``. A refresh token is issued only when
  ``offline_access`` was granted; it is **single-use and rotates** (every refresh returns a new one,
  the presented one is dead), and lapses 30 days after it was issued. Access tokens live 3600 s.
  Errors are RFC 6749 bodies: ``{"error": "invalid_grant", "error_description": ...}``.
* ``POST /connect/revocation``: RFC 7009; revoking a refresh token ends the whole grant.

Assumption (not in the OpenAPI document): lifetimes and rotation follow what Nmbrs' integrators
report ([R3] in ../shared/research/nmbrs-rest.md): access ~1 h, refresh 30 days, single-use.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 30 * 24 * 3600
CODE_SECONDS = 300
LOCAL_REDIRECTS = ("http://127.0.0.1:", "http://localhost:")
# The scopes of the OpenAPI document's security scheme (components.securitySchemes.Bearer).
ALL_SCOPES = frozenset({
    "employee.employment", "employee.employment.read", "employee.info", "employee.info.read", "employee.payment",
    "employee.payment.read", "employee.leave", "employee.leave.read", "company.info", "company.info.read",
    "company.payrollsettings.read", "company.leave.read", "employee.orgstructure", "employee.orgstructure.read",
    "employee.bankaccount.read", "employee.bankaccount", "user.info.read", "debtor.info.read", "offline_access",
    "employee.document.read", "company.document.read", "document.read", "employee.document",
    "employee.payrollsettings", "employee.payrollsettings.read"})


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str
    redirect_prefixes: tuple[str, ...] = LOCAL_REDIRECTS


@dataclass
class Grant:
    client_id: str
    username: str
    scopes: frozenset[str]
    revoked: bool = False


@dataclass
class IdentityState:
    """Codes, grants and tokens of the simulated identity server; all mutations under ``lock``."""

    clock: Callable[[], float]
    clients: dict[str, Client]
    users: dict[str, str]  # username -> password
    grants: dict[str, Grant] = field(default_factory=dict)
    access: dict[str, tuple[str, float]] = field(default_factory=dict)  # token -> (grant id, expires at)
    refresh: dict[str, tuple[str, float]] = field(default_factory=dict)  # live token -> (grant id, expires at)
    spent: set[str] = field(default_factory=set)  # refresh tokens already used once
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    refreshes: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def issue(self, grant_id: str) -> dict[str, Any]:
        grant = self.grants[grant_id]
        access = secrets.token_urlsafe(40)
        now = self.clock()
        self.access[access] = (grant_id, now + ACCESS_TOKEN_SECONDS)
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                                "scope": " ".join(sorted(grant.scopes))}
        if "offline_access" in grant.scopes:
            refresh = secrets.token_urlsafe(32)
            self.refresh[refresh] = (grant_id, now + REFRESH_TOKEN_SECONDS)
            body["refresh_token"] = refresh
        return body

    def grant_of_access(self, token: str) -> Grant | None:
        """The live grant behind an unexpired access token, else None."""
        with self.lock:
            found = self.access.get(token)
            if found is None or found[1] < self.clock():
                return None
            grant = self.grants.get(found[0])
            return None if grant is None or grant.revoked else grant

    def expire_access_tokens(self) -> None:
        with self.lock:
            past = self.clock() - 1
            self.access = {t: (g, past) for t, (g, _) in self.access.items()}

    def invalidate_access(self, token: str) -> None:
        with self.lock:
            self.access.pop(token, None)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def register(app: Any, state: IdentityState, switch: Any) -> None:
    """Add the identity-server routes to the Flask ``app``."""
    from flask import Response, jsonify, request

    def oauth_error(error: str, status: int = 400, description: str | None = None) -> Response:
        body = {"error": error, **({"error_description": description} if description else {})}
        response = jsonify(body)
        response.status_code = status
        response.headers["Cache-Control"] = "no-store"
        return response

    def redirect(uri: str, params: dict[str, Any]) -> Response:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return Response("", 302, headers={"Location": uri + ("&" if "?" in uri else "?") + query})

    def consent_page(error: str = "") -> str:
        fields = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                         for k, v in request.values.items() if k not in ("username", "password", "decision"))
        scopes = "".join(f"<li>{html.escape(s)}</li>" for s in request.values.get("scope", "").split())
        return ("<!doctype html><html lang='nl'><head><title>Visma Nmbrs - Inloggen</title></head><body>"
                "<h1>Visma Nmbrs (simulator)</h1>"
                f"<p style='color:red'>{html.escape(error)}</p>"
                f"<form method='post' action='/connect/authorize'>{fields}"
                "<label>E-mail <input name='username'></label><br>"
                "<label>Wachtwoord <input name='password' type='password'></label><br>"
                f"<p>De applicatie vraagt toegang tot:</p><ul>{scopes}</ul>"
                "<button name='decision' value='allow'>Toestaan</button>"
                "<button name='decision' value='deny'>Weigeren</button></form></body></html>")

    @app.route("/.well-known/openid-configuration")
    def discovery():  # noqa: ANN202
        base = request.host_url.rstrip("/")
        return jsonify({
            "issuer": base, "authorization_endpoint": f"{base}/connect/authorize",
            "token_endpoint": f"{base}/connect/token", "revocation_endpoint": f"{base}/connect/revocation",
            "scopes_supported": sorted(ALL_SCOPES), "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"]})

    @app.route("/connect/authorize", methods=["GET", "POST"])
    def authorize():  # noqa: ANN202
        values = request.values
        client = state.clients.get(values.get("client_id", ""))
        redirect_uri = values.get("redirect_uri", "")
        if client is None or not redirect_uri.startswith(client.redirect_prefixes):
            return Response("invalid_client or unregistered redirect_uri", 400, content_type="text/plain")
        st = values.get("state")
        if values.get("response_type") != "code":
            return redirect(redirect_uri, {"error": "unsupported_response_type", "state": st})
        if not values.get("code_challenge") or values.get("code_challenge_method") != "S256":
            return redirect(redirect_uri, {"error": "invalid_request", "state": st,
                                           "error_description": "code challenge required (S256)"})
        scopes = frozenset(values.get("scope", "").split())
        if not scopes or not scopes <= ALL_SCOPES:
            return redirect(redirect_uri, {"error": "invalid_scope", "state": st})
        if request.method == "GET":
            return Response(consent_page(), 200, content_type="text/html; charset=utf-8")
        if request.form.get("decision") != "allow":
            return redirect(redirect_uri, {"error": "access_denied", "state": st})
        username = request.form.get("username", "")
        if state.users.get(username) != request.form.get("password") or username not in state.users:
            return Response(consent_page("E-mail of wachtwoord onjuist"), 200, content_type="text/html; charset=utf-8")
        code = secrets.token_urlsafe(24)
        with state.lock:
            state.codes[code] = {"client_id": client.client_id, "redirect_uri": redirect_uri, "username": username,
                                 "scopes": scopes, "challenge": values["code_challenge"],
                                 "expires_at": state.clock() + CODE_SECONDS}
        return redirect(redirect_uri, {"code": code, "state": st, "scope": " ".join(sorted(scopes))})

    def authenticate_client() -> Client | None:
        form = request.form
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        client = state.clients.get(client_id or "")
        return client if client is not None and client.secret == secret else None

    @app.route("/connect/token", methods=["POST"])
    def token():  # noqa: ANN202
        client = authenticate_client()
        if client is None:
            return oauth_error("invalid_client", 401)
        form = request.form
        grant_type = form.get("grant_type")
        revoke = switch.take(request.environ.get("sim.signature", "POST /connect/token"), {"revoke_token"})
        with state.lock:
            now = state.clock()
            if grant_type == "authorization_code":
                code = state.codes.pop(form.get("code", ""), None)
                if (code is None or code["client_id"] != client.client_id or code["expires_at"] < now
                        or code["redirect_uri"] != form.get("redirect_uri")):
                    return oauth_error("invalid_grant")
                if _s256(form.get("code_verifier", "")) != code["challenge"]:
                    return oauth_error("invalid_grant", description="PKCE verification failed")
                grant_id = secrets.token_hex(8)
                state.grants[grant_id] = Grant(client.client_id, code["username"], code["scopes"])
                return _no_store(jsonify(state.issue(grant_id)))
            if grant_type == "refresh_token":
                presented = form.get("refresh_token", "")
                grant_id, expires_at = state.refresh.pop(presented, (None, 0.0))
                grant = state.grants.get(grant_id or "")
                if revoke is not None and grant is not None:
                    grant.revoked = True
                if presented in state.spent or grant is None or grant.revoked or grant.client_id != client.client_id:
                    return oauth_error("invalid_grant")
                if expires_at < now:
                    return oauth_error("invalid_grant", description="refresh token expired")
                state.spent.add(presented)  # single use: the rotated token replaces it
                state.refreshes += 1
                return _no_store(jsonify(state.issue(grant_id)))
        return oauth_error("unsupported_grant_type")

    @app.route("/connect/revocation", methods=["POST"])
    def revocation():  # noqa: ANN202
        if authenticate_client() is None:
            return oauth_error("invalid_client", 401)
        presented = request.form.get("token", "")
        with state.lock:
            refresh = state.refresh.pop(presented, None)
            if refresh is not None and refresh[0] in state.grants:
                state.grants[refresh[0]].revoked = True
            state.access.pop(presented, None)
        return Response("", 200)


def _no_store(response: Any) -> Any:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response
