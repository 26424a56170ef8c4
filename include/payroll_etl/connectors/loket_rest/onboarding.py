"""First login ("Eerste aanmelding") for a Loket.nl REST employer.

Prints Loket's authorization URL, receives the browser's redirect on a one-shot callback server
on 127.0.0.1, exchanges the code for tokens (authlib) and hands them to a :class:`TokenStore`
(the Airflow layer stores them in the employer's Connection; ``--store file:PATH`` for tests)::

    python -m payroll_etl.connectors.loket_rest.onboarding --employer bakkerij_de_vries \
        --api-url http://127.0.0.1:8081 --client-id benefits-etl-demo --client-secret demo-secret \
        --store file:data/tokens/bakkerij_de_vries.json

Tokens are never printed.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from payroll_etl.connectors.transport.callback import CallbackHandler, authorize, start_callback
from payroll_etl.connectors.transport.tokens import TokenStore, store_from_spec
from payroll_etl.errors import AuthenticationError, ConfigurationError

SUCCESS = "Het autoriseren van de loket.nl koppeling is geslaagd. U kunt dit venster sluiten."
PROMPT = "Open this URL, log in with the Loket user for the koppeling and click 'Toestaan':\n\n  {url}\n"
FAILURE = "Het autoriseren van de loket.nl koppeling is niet gelukt: {reason}. Sluit dit venster en probeer opnieuw."


class _Handler(CallbackHandler):
    """The Loket texts on the local redirect page."""

    success = SUCCESS
    failure = FAILURE


def onboard(*, api_url: str, client_id: str, client_secret: str | None, store: TokenStore,
            oauth_url: str | None = None, employer: str | None = None, port: int = 0, timeout: float = 600,
            on_url: Callable[[str], None] | None = None, open_browser: bool = False) -> dict[str, Any]:
    """Run the authorization-code flow once and save the tokens in ``store``; returns them.

    ``on_url`` receives the authorization URL (default: print it); a browser, or a test driving the
    login form with ``requests``, then follows Loket's redirect to the local callback.
    """
    from authlib.integrations.base_client import OAuthError
    from authlib.integrations.requests_client import OAuth2Session

    oauth = (oauth_url or f"{api_url.rstrip('/')}/oauth").rstrip("/")
    server, redirect_uri = start_callback(port, _Handler)
    session = OAuth2Session(client_id, client_secret, scope="all", redirect_uri=redirect_uri,
                            token_endpoint_auth_method="client_secret_post")
    try:
        code = authorize(session, f"{oauth}/authorize", server, prompt=PROMPT, source="Loket",
                         again="run the first login again", timeout=timeout, on_url=on_url, open_browser=open_browser)
        try:
            token = session.fetch_token(f"{oauth}/token", code=code, redirect_uri=redirect_uri)
        except OAuthError as exc:
            raise AuthenticationError(f"Loket refused the authorization code ({exc.error})") from None
        tokens = {"access_token": token["access_token"], "refresh_token": token.get("refresh_token"),
                  "expires_at": time.time() + float(token.get("expires_in") or 3599)}
        if not tokens["refresh_token"]:
            raise AuthenticationError("Loket issued no refresh token; the API client must allow refresh tokens")
        with store.lock():
            store.save(tokens)
        return tokens
    finally:
        session.close()
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    """The command line of the first login (``make connect-loket``); 0 on success, 1 when Loket refused."""
    p = argparse.ArgumentParser(prog="python -m payroll_etl.connectors.loket_rest.onboarding",
                                description="First login ('Eerste aanmelding') of a Loket.nl REST employer")
    p.add_argument("--employer", required=True, help="employer key from include/employers.yaml")
    p.add_argument("--api-url", default=os.environ.get("LOKET_API_URL", "http://127.0.0.1:8081"))
    p.add_argument("--oauth-url", default=os.environ.get("LOKET_OAUTH_URL"),
                   help="default: <api-url>/oauth (production: https://oauth.loket.nl)")
    p.add_argument("--client-id", default=os.environ.get("LOKET_CLIENT_ID", "benefits-etl-demo"))
    p.add_argument("--client-secret", default=os.environ.get("LOKET_CLIENT_SECRET", "demo-secret"))
    p.add_argument("--store", required=True, help="where the tokens go, e.g. file:data/tokens/EMPLOYER.json")
    p.add_argument("--port", type=int, default=int(os.environ.get("LOKET_CALLBACK_PORT", "8765")),
                   help="local callback port; the redirect URI is http://127.0.0.1:PORT/callback")
    p.add_argument("--open-browser", action="store_true")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args(argv)
    try:
        store = store_from_spec(args.store)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    try:
        onboard(api_url=args.api_url, oauth_url=args.oauth_url, client_id=args.client_id,
                client_secret=args.client_secret, store=store, employer=args.employer, port=args.port,
                timeout=args.timeout, open_browser=args.open_browser)
    except (AuthenticationError, ConfigurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"Loket connection for employer {args.employer} authorized; tokens stored ({args.store.split(':')[0]}).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
