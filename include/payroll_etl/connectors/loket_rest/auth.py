"""OAuth2 for the Loket.nl REST API: access tokens from rotating, single-use refresh tokens.

The first login ("Eerste aanmelding") is :mod:`.onboarding`. Afterwards :class:`LoketTokens`
refreshes under the store's lock, re-reading the stored pair first, and saves the new pair before
the new access token is used (:class:`~payroll_etl.connectors.transport.tokens.RotatingAccess`).
A refused refresh token (``invalid_grant``) is an :class:`AuthenticationError` whose message says
how to redo the first login. Tokens never appear in logs or exception messages.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from payroll_etl.connectors.network import check_refused, where
from payroll_etl.connectors.transport.tokens import RotatingAccess, TokenStore
from payroll_etl.errors import AuthenticationError, MalformedPayloadError, TransientSourceError


def relogin_message(employer: str | None) -> str:
    """The operator-facing text for a refused refresh token (names no token)."""
    key = employer or "<employer>"
    return (f"Loket refused the stored refresh token (invalid_grant) for employer {key}: it was revoked, expired "
            f"or already used. Redo the first login ('Eerste aanmelding'): make connect-loket EMPLOYER={key}")


class LoketTokens(RotatingAccess):
    """Access tokens of one employer at ``oauth_url`` (``https://oauth.loket.nl``).

    Without a stored refresh token, ``username``/``password`` allow a password grant (demo and
    simulator clients only); otherwise the first login must be done. ``timeout_seconds`` applies to
    the token endpoint; ``refresh_skew``: seconds before expiry at which a token counts as expired.
    """

    def __init__(self, oauth_url: str, client_id: str, client_secret: str | None, store: TokenStore, *,
                 username: str | None = None, password: str | None = None, employer_key: str | None = None,
                 timeout_seconds: float = 30.0, refresh_skew: float = 120.0):
        self.oauth_url = oauth_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.store, self.username, self.password = store, username, password
        self.employer_key = employer_key
        self.timeout_seconds, self.refresh_skew = timeout_seconds, refresh_skew

    @property
    def token_url(self) -> str:
        """The token endpoint, ``<oauth_url>/token``."""
        return f"{self.oauth_url}/token"

    def _grant(self, oauth: Any, tokens: dict[str, Any]) -> dict[str, Any]:
        if tokens.get("refresh_token"):
            issued = dict(oauth.refresh_token(self.token_url, refresh_token=tokens["refresh_token"],
                                              timeout=self.timeout_seconds))
            issued.setdefault("refresh_token", tokens["refresh_token"])
            return issued
        if self.username and self.password:  # password grant: demo/simulator clients only
            return dict(oauth.fetch_token(self.token_url, grant_type="password", username=self.username,
                                          password=self.password, timeout=self.timeout_seconds))
        key = self.employer_key or "<employer>"
        raise AuthenticationError(f"No Loket tokens stored for employer {key}. Do the first login "
                                  f"('Eerste aanmelding'): make connect-loket EMPLOYER={key}")

    def _refresh_locked(self, tokens: dict[str, Any]) -> dict[str, Any]:
        """Spend the stored refresh token (or a password grant); save and return the new tokens."""
        from authlib.integrations.base_client import OAuthError
        from authlib.integrations.requests_client import OAuth2Session

        oauth = OAuth2Session(self.client_id, self.client_secret, token_endpoint_auth_method="client_secret_post")
        try:
            issued = self._grant(oauth, tokens)
        except OAuthError as exc:
            if exc.error == "invalid_grant":
                raise AuthenticationError(relogin_message(self.employer_key)) from None
            if exc.error in ("invalid_client", "unauthorized_client"):
                raise AuthenticationError(f"Loket refused the API client ({exc.error}): check client_id and "
                                          "client_secret in the connection") from None
            raise AuthenticationError(f"Loket token endpoint refused the request ({exc.error})") from None
        except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
            check_refused(exc, self.token_url, "Loket.nl REST token endpoint")
            raise TransientSourceError(f"Loket token endpoint at {where(self.token_url)} unavailable "
                                       f"({type(exc).__name__})") from None
        finally:
            oauth.close()
        if not issued.get("access_token"):
            raise MalformedPayloadError(f"Loket token endpoint {self.token_url} answered without an access token")
        fresh = {"access_token": issued["access_token"], "refresh_token": issued.get("refresh_token"),
                 "expires_at": time.time() + float(issued.get("expires_in") or 3599)}
        self.store.save(fresh)  # persisted before the new access token is used
        return fresh
