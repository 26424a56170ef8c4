"""The local OAuth redirect target for a first login or consent (Loket REST, Nmbrs REST).

:func:`start_callback` serves ``http://127.0.0.1:PORT/callback`` once in a daemon thread;
:func:`wait_for_code` waits for the browser's redirect and checks its ``state``. The page the
person sees is in Dutch; a connector subclasses :class:`CallbackHandler` to name its source.
The query holds the authorization code, so nothing is logged.
"""

from __future__ import annotations

import threading
import webbrowser
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from payroll_etl.errors import AuthenticationError


class CallbackServer(HTTPServer):
    """One-shot server: ``params`` holds the redirect's query once ``done`` is set."""

    params: dict[str, str] | None = None
    done: threading.Event


class CallbackHandler(BaseHTTPRequestHandler):
    """Answers ``GET /callback``; ``success``/``failure`` (``{reason}``) are the texts the person sees."""

    server: CallbackServer
    success = "Het koppelen is geslaagd. U kunt dit venster sluiten."
    failure = "Het koppelen is niet gelukt: {reason}. Sluit dit venster en probeer opnieuw."

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        """Store the ``/callback`` query in ``server.params``, answer 200 (code present) or 400, set ``done``;
        any other path gets 404."""
        parts = urlsplit(self.path)
        if parts.path != "/callback":
            self.send_error(404)
            return
        params = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.server.params = params
        ok = "code" in params
        text = self.success if ok else self.failure.format(reason=params.get("error", "geen code ontvangen"))
        body = f"<!doctype html><html lang='nl'><body><p>{text}</p></body></html>".encode()
        self.send_response(200 if ok else 400)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.done.set()

    def log_message(self, format: str, *args: Any) -> None:  # the query holds the code: do not log it
        """Log nothing (overrides http.server's access log)."""
        return


def start_callback(port: int = 0, handler: type[CallbackHandler] = CallbackHandler) -> tuple[CallbackServer, str]:
    """A one-shot callback server on 127.0.0.1:``port`` (0 = any free port) in a daemon thread.

    Returns the server (``server.done`` is set and ``server.params`` filled on the redirect) and
    its redirect URI ``http://127.0.0.1:PORT/callback``. The caller shuts it down.
    """
    server = CallbackServer(("127.0.0.1", port), handler)
    server.done = threading.Event()
    thread = threading.Thread(target=server.serve_forever, name="oauth-onboarding-callback", daemon=True)
    thread.start()
    return server, f"http://127.0.0.1:{server.server_port}/callback"


def wait_for_code(server: CallbackServer, state: str, timeout: float, source: str, again: str) -> str:
    """The authorization code from the redirect to ``server``; AuthenticationError on timeout, a foreign
    ``state`` or a refusal (``source`` names the identity provider, ``again`` what the person does next)."""
    if not server.done.wait(timeout):
        raise AuthenticationError(f"No redirect from {source} within {int(timeout)} s; {again}")
    params = server.params or {}
    if params.get("state") != state:
        raise AuthenticationError(f"The {source} redirect carried a different state; {again}")
    if "code" not in params:
        raise AuthenticationError(f"{source} did not grant access ({params.get('error', 'no code')}): log in again "
                                  "and click 'Toestaan'")
    return params["code"]


def authorize(session: Any, authorize_url: str, server: CallbackServer, *, prompt: str, source: str, again: str,
              timeout: float, on_url: Callable[[str], None] | None = None, open_browser: bool = False,
              **url_params: Any) -> str:
    """Show the authorization URL of the authlib ``OAuth2Session`` ``session`` and wait for the redirect.

    ``prompt`` is printed with ``{url}`` filled in, unless ``on_url`` takes the URL (a test driving the
    login form); ``open_browser`` opens it too; ``url_params`` go to ``create_authorization_url`` (e.g.
    ``code_verifier``). Returns the authorization code (:func:`wait_for_code`, which raises
    AuthenticationError after ``timeout`` seconds, on a foreign state or a refusal)."""
    url, state = session.create_authorization_url(authorize_url, **url_params)
    (on_url or (lambda u: print(prompt.format(url=u), flush=True)))(url)
    if open_browser:
        webbrowser.open(url)
    return wait_for_code(server, state, timeout, source, again)
