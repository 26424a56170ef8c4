"""The Loket.nl REST :class:`~payroll_etl.connectors.base.Connector`: OAuth2 with rotating refresh
tokens (:mod:`.auth`), bulk employer endpoints and paging (:mod:`.client`), the extraction plan
(:mod:`.plan`) and normalisation (:mod:`.normalize`). See docs/connectors/loket_rest.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from payroll_etl.config import EmployerConfig
from payroll_etl.connectors.base import Connector, ExtractResult, LandingSink, Normalized, RawPage, SourceCredentials
from payroll_etl.connectors.base import ExtractRequest as Request
from payroll_etl.connectors.loket_rest import normalize as _normalize
from payroll_etl.connectors.loket_rest.auth import LoketTokens
from payroll_etl.connectors.loket_rest.client import LoketCall, LoketRestClient
from payroll_etl.connectors.loket_rest.plan import Extraction
from payroll_etl.connectors.loket_rest.settings import API, PAGE_SIZE, ExtraTuning, Options
from payroll_etl.connectors.transport.check import check_api_client, check_json, stored_tokens
from payroll_etl.connectors.transport.retry import RetryPolicy
from payroll_etl.connectors.transport.tokens import TOKEN_KEYS, FileTokenStore, MemoryTokenStore, TokenStore
from payroll_etl.errors import AuthenticationError, ConfigurationError
from payroll_etl.parsing import Parser
from payroll_etl.periods import PayPeriod


def _store(extra: dict[str, Any]) -> TokenStore:
    """Tokens from ``extra``: ``token_file`` names a :class:`FileTokenStore` (seeded from ``extra`` when
    empty), else a :class:`MemoryTokenStore` (rotated tokens are lost at the end of the run)."""
    if extra.get("token_file"):
        store = FileTokenStore(extra["token_file"])
        if not store.load() and any(extra.get(k) for k in TOKEN_KEYS):
            store.save({k: extra.get(k) for k in TOKEN_KEYS})
        return store
    return MemoryTokenStore({k: extra.get(k) for k in TOKEN_KEYS})


def _password_grant(tokens: LoketTokens, how: str) -> dict[str, Any]:
    """A password grant (demo clients), ignoring any stored refresh token; ``how`` names it in the error."""
    try:
        return tokens._refresh_locked({})
    except AuthenticationError as exc:
        if "invalid_grant" in str(exc):
            raise AuthenticationError(f"Loket token endpoint {tokens.token_url} refused {how} (invalid_grant): "
                                      "check the connection's login and password") from None
        raise


class LoketRestConnector(Connector):
    """Loket.nl REST connector for one employer (one or more Werkgever IDs)."""

    name: ClassVar[str] = "loket_rest"

    def __init__(self, api_url: str, tokens: LoketTokens, *, timeout_seconds: float = 30.0,
                 policy: RetryPolicy | None = None, page_size: int = PAGE_SIZE,
                 sleep: Callable[[float], None] = time.sleep):
        self.api_url = api_url.rstrip("/")
        self.tokens = tokens
        self.client = LoketRestClient(self.api_url, tokens, timeout_seconds=timeout_seconds, policy=policy,
                                      page_size=page_size, sleep=sleep)

    @classmethod
    def from_credentials(cls, credentials: SourceCredentials, token_store: TokenStore | None = None,
                         employer_key: str | None = None) -> LoketRestConnector:
        """``host`` = API base URL; ``extra``: client_id, client_secret, oauth_url, tokens, tuning.

        Tuning: ``timeout_seconds``, ``page_size``, ``max_attempts``, ``max_throttled``, ``backoff_seconds``,
        ``max_backoff_seconds``, ``refresh_skew`` (``timeout``, ``backoff``, ``max_backoff`` are read as
        deprecated aliases). Without ``token_store`` the Connection's own store is used, else the tokens
        in ``extra`` (see :func:`_store`). ConfigurationError names a missing or malformed setting.
        """
        extra = dict(credentials.extra or {})
        if not credentials.host or not re.match(r"^https?://", credentials.host):
            raise ConfigurationError("Loket REST connection: host must be the API base URL, e.g. https://api.loket.nl")
        # Copied from the Loket developer portal: spaces and line breaks around them are never part of them.
        for key in ("client_id", "client_secret"):
            if isinstance(extra.get(key), str):
                extra[key] = extra[key].strip()
        if not extra.get("client_id"):
            raise ConfigurationError("Loket REST connection: extra.client_id is missing")
        store = token_store or credentials.token_store or _store(extra)
        tuning = ExtraTuning.from_extra(extra, credentials.where("Loket REST"))
        api_url = credentials.host.rstrip("/")
        tokens = LoketTokens(extra.get("oauth_url") or f"{api_url}/oauth", extra["client_id"],
                             extra.get("client_secret"), store, username=credentials.login,
                             password=credentials.password, employer_key=employer_key or extra.get("employer"),
                             timeout_seconds=tuning.timeout_seconds, refresh_skew=tuning.refresh_skew)
        return cls(api_url, tokens, timeout_seconds=tuning.timeout_seconds, policy=RetryPolicy.of(tuning),
                   page_size=tuning.page_size)

    @classmethod
    def connection_check(cls, credentials: SourceCredentials, timeout: float) -> str:
        """The Test button's check (:class:`~payroll_etl.connectors.transport.check.ConnectionCheck`): a token,
        then ``GET /v2/providers/employers/lastmodifiedversionnumbers?pageSize=1`` (the activity every run
        uses first), ``timeout`` seconds per call, no retries.

        The token is the stored access token while it is valid, or a password grant when the Connection
        has a login (demo clients). A stored refresh token is never spent: Loket rotates it on use and the
        rotated token would be lost with the test's transient Connection, logging the employer out.
        Without either, only the API client is checked at the token endpoint
        (:func:`~payroll_etl.connectors.transport.check.check_api_client`)."""
        connector = cls.from_credentials(credentials)
        tokens, client = connector.tokens, connector.client
        tokens.timeout_seconds = client.timeout_seconds = min(client.timeout_seconds, timeout)
        stored = stored_tokens(credentials)
        try:
            if tokens._usable(stored):
                how = "the stored access token"
                tokens._adopt(stored)
            elif credentials.login and credentials.password:
                how = f"a password grant for {credentials.login}"
                tokens._adopt(_password_grant(tokens, how))
            else:
                return (check_api_client("Loket token endpoint", tokens.token_url, tokens.client_id,
                                         tokens.client_secret, tokens.timeout_seconds) + "; " +
                        ("the employer's refresh token is not used by a test (Loket rotates it on use; the next "
                         "run refreshes it)" if stored.get("refresh_token") else "no employer login is stored "
                         "yet: do the first login (make connect-loket EMPLOYER=<employer>)"))
            call = LoketCall(f"{connector.api_url}{API}/lastmodifiedversionnumbers", {"pageSize": 1}, source_id="(any)",
                             what=f"Loket REST {API}/lastmodifiedversionnumbers",
                             activity="GetEmployerLastModifiedVersionNumbersByUser")
            body = check_json(client, call, refused=f"Loket REST API {connector.api_url} refused {how} (401)")
            total = body.get("totalSize") if isinstance(body, dict) else None
            return f"Loket REST API {connector.api_url}: authenticated with {how}; {total} werkgever(s) visible"
        finally:
            connector.close()

    # -- what tests and the connection check look at -------------------------------------------
    @property
    def _access(self) -> str | None:
        return self.tokens._access

    def access_token(self) -> str:
        """A valid access token (:meth:`RotatingAccess.access_token`)."""
        return self.tokens.access_token()

    def _get(self, path: str, params: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return self.client.get(path, params, **kwargs)

    @property
    def _sleep(self) -> Callable[[float], None]:
        return self.client.sleep

    @_sleep.setter
    def _sleep(self, sleep: Callable[[float], None]) -> None:
        self.client.sleep = sleep

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()

    def extract(self, request: Request, sink: LandingSink) -> ExtractResult:
        """Every configured werkgever (:class:`~payroll_etl.connectors.loket_rest.plan.Extraction`), the
        per-employee calls on the employer's ``options.max_concurrent_requests`` threads; state
        ``{"werkgevers": {id: {"employment_version", "results"}}}``; ``period`` the source's own pay period."""
        self.tokens.employer_key = self.tokens.employer_key or request.employer.employer
        state_in = dict((request.state or {}).get("werkgevers") or {})
        result = ExtractResult(state={"werkgevers": {}})
        calls_before = self.client.calls
        options = request.employer.options
        workers = options.max_concurrent_requests if isinstance(options, Options) else Options().max_concurrent_requests
        plan = Extraction(self.client, sink, workers=workers)
        changed = plan.changed_werkgevers(request, state_in)
        for wid in request.employer.source_ids:
            result.state["werkgevers"][wid] = plan.werkgever(wid, request, state_in.get(wid) or {}, changed, result)
        if plan.period is not None:
            result.period = plan.period
        result.calls = self.client.calls - calls_before
        return result

    @classmethod
    def normalize(cls, pages: Iterable[RawPage], employer: EmployerConfig, period: PayPeriod,
                  parser: Parser, *, stream: bool = False) -> Normalized:
        """Canonical rows (:func:`payroll_etl.connectors.loket_rest.normalize.normalize`)."""
        return _normalize.normalize(pages, employer, period, parser, stream=stream)
