"""OAuth2 for the Nmbrs REST API: first consent (authorization code + PKCE) and rotating refresh tokens.

* **First consent** (:func:`consent`, run by ``make connect-nmbrs EMPLOYER=…``): a person logs in to
  Nmbrs once and approves the scopes; the code is exchanged with the PKCE verifier (S256) and the
  tokens go to a :class:`~payroll_etl.connectors.transport.tokens.TokenStore` (the Airflow layer: the
  employer's Connection). ``offline_access`` must be granted, or there is no refresh token.
* **Nights** (:class:`Tokens`): an access token lives about an hour; the refresh token about 30
  days and is **single-use**: every refresh returns a new one. So a refresh happens only under the
  store's lock, re-reads the stored tokens first (another task may have rotated them), and saves
  the new pair before the new access token is used. A refused refresh token (``invalid_grant``:
  lapsed after 30 days, revoked, or already spent) raises :class:`ReconsentNeeded`, whose message
  says how to redo the consent.

Tokens never appear in logs or exception messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from payroll_etl.connectors.network import check_refused, where
from payroll_etl.connectors.transport.callback import CallbackHandler, authorize, start_callback
from payroll_etl.connectors.transport.tokens import RotatingAccess, TokenStore
from payroll_etl.errors import AuthenticationError, ConfigurationError, MalformedPayloadError, TransientSourceError


class ReconsentNeeded(AuthenticationError):
    """The stored refresh token is refused (lapsed after 30 days, revoked, or spent): a person must consent again."""


def reconsent_message(employer: str | None, reason: str) -> str:
    """The operator-facing text for a lapsed or revoked consent (names no token)."""
    key = employer or "<employer>"
    return (f"Nmbrs re-consent needed for employer {key}: redo the first consent with make connect-nmbrs "
            f"EMPLOYER={key}. Cause: {reason}; refresh tokens are single-use and lapse 30 days after they were "
            "issued (a DAG paused that long, the app revoked in Nmbrs, or a token spent elsewhere)")


class _NmbrsHandler(CallbackHandler):
    success = "Het koppelen van Visma Nmbrs is geslaagd. U kunt dit venster sluiten."
    failure = "Het koppelen van Visma Nmbrs is niet gelukt: {reason}. Sluit dit venster en probeer opnieuw."


class Tokens(RotatingAccess):
    """Access tokens for one employer, refreshed ahead of expiry with rotation-safe persistence.

    ``identity_url``: the identity server base (``https://identityservice.nmbrs.com``);
    ``refresh_skew``: seconds before expiry at which a token counts as expired.
    """

    def __init__(self, identity_url: str, client_id: str, client_secret: str | None, store: TokenStore, *,
                 employer: str | None = None, timeout: float = 30.0, refresh_skew: float = 120.0):
        self.token_url = f"{identity_url.rstrip('/')}/connect/token"
        self.client_id, self.client_secret = client_id, client_secret
        self.store, self.employer = store, employer
        self.timeout, self.refresh_skew = timeout, refresh_skew
        self.refreshes = 0

    def _refresh_locked(self, tokens: dict[str, Any]) -> dict[str, Any]:
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session

        if not tokens.get("refresh_token"):
            raise ReconsentNeeded(reconsent_message(self.employer, "no refresh token is stored (first consent not "
                                                                   "done yet)"))
        oauth = OAuth2Session(self.client_id, self.client_secret, token_endpoint_auth_method="client_secret_post")
        try:
            issued = dict(oauth.refresh_token(self.token_url, refresh_token=tokens["refresh_token"],
                                              timeout=self.timeout))
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise ReconsentNeeded(reconsent_message(
                    self.employer, "Nmbrs refused the stored refresh token (invalid_grant)")) from None
            if exc.error in ("invalid_client", "unauthorized_client"):
                raise AuthenticationError(f"Nmbrs identity server refused the API client ({exc.error}) for employer "
                                          f"{self.employer}: check client_id and client_secret in the connection"
                                          ) from None
            raise AuthenticationError(f"Nmbrs identity server refused the refresh ({exc.error})") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            check_refused(exc, self.token_url, "Nmbrs REST identity server")
            raise TransientSourceError(f"Nmbrs identity server at {where(self.token_url)} unavailable "
                                       f"({type(exc).__name__})") from None
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else 0
            raise TransientSourceError(f"Nmbrs identity server answered HTTP {status}") from None
        except ValueError:
            raise MalformedPayloadError(f"Nmbrs identity server {self.token_url} answered with a body that is not "
                                        "a token response") from None
        finally:
            oauth.close()
        if not issued.get("access_token") or not issued.get("refresh_token"):
            raise MalformedPayloadError(f"Nmbrs identity server {self.token_url} answered a refresh without an "
                                        "access and a new refresh token")
        fresh = {"access_token": issued["access_token"], "refresh_token": issued["refresh_token"],
                 "expires_at": time.time() + float(issued.get("expires_in") or 3600)}
        self.store.save(fresh)  # the old refresh token is dead now: persist the new pair before using it
        self.refreshes += 1
        return fresh


def consent(*, identity_url: str, client_id: str, client_secret: str | None, store: TokenStore,
            scopes: tuple[str, ...], employer: str | None = None, port: int = 0, timeout: float = 600,
            on_url: Callable[[str], None] | None = None, open_browser: bool = False,
            revoke_previous: bool = True) -> dict[str, Any]:
    """Authorization code + PKCE once; the tokens are saved in ``store`` and returned.

    ``on_url`` receives the authorization URL (default: print it); the person (or a test posting the
    consent form) is redirected to a one-shot callback on 127.0.0.1:``port``. With
    ``revoke_previous`` the refresh token stored before is revoked at the identity server afterwards
    (RFC 7009), so an old copy of the Connection cannot be used any more.
    """
    from authlib.common.security import generate_token
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    if "offline_access" not in scopes:
        raise ConfigurationError("Nmbrs consent must request the scope offline_access, or no refresh token is issued")
    base = identity_url.rstrip("/")
    server, redirect_uri = start_callback(port, _NmbrsHandler)
    session = OAuth2Session(client_id, client_secret, scope=" ".join(scopes), redirect_uri=redirect_uri,
                            code_challenge_method="S256", token_endpoint_auth_method="client_secret_post")
    verifier = generate_token(64)
    try:
        prompt = (f"Open this URL, log in to Visma Nmbrs with the login that may consent for employer {employer} "
                  "and click 'Toestaan':\n\n  {url}\n")
        code = authorize(session, f"{base}/connect/authorize", server, prompt=prompt, source="Nmbrs",
                         again="run the consent again", timeout=timeout, on_url=on_url, open_browser=open_browser,
                         code_verifier=verifier)
        try:
            token = session.fetch_token(f"{base}/connect/token", code=code, code_verifier=verifier,
                                        redirect_uri=redirect_uri)
        except OAuthError as exc:
            raise AuthenticationError(f"Nmbrs refused the authorization code ({exc.error})") from None
        if not token.get("refresh_token"):
            raise AuthenticationError("Nmbrs issued no refresh token: the consent must include offline_access")
        tokens = {"access_token": token["access_token"], "refresh_token": token["refresh_token"],
                  "expires_at": time.time() + float(token.get("expires_in") or 3600)}
        with store.lock():
            previous = store.load().get("refresh_token")
            store.save(tokens)
        if revoke_previous and previous and previous != tokens["refresh_token"]:
            try:
                session.revoke_token(f"{base}/connect/revocation", previous, token_type_hint="refresh_token")
            except (OAuthError, requests.RequestException):
                pass  # best effort: the old token lapses within 30 days anyway
        return tokens
    finally:
        session.close()
        server.shutdown()
        server.server_close()
