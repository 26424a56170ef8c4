"""Where an employer's OAuth tokens live between runs (Loket REST, Nmbrs REST).

Refresh tokens rotate (Loket, Nmbrs REST): a refresh returns a new refresh token and the old one is dead. So
(1) the new pair must be persisted before the new access token is used (a crash after use but
before saving would strand the employer), and (2) two tasks of the same employer must never
spend the same refresh token: refreshes are serialized under :meth:`TokenStore.lock`, and the
tokens are re-read inside the lock (the other task may have refreshed already).

The protocol is deliberately small so the Airflow layer can back it by the employer's Connection
(``extra``: ``access_token``, ``refresh_token``, ``expires_at``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

TOKEN_KEYS = ("access_token", "refresh_token", "expires_at")


@runtime_checkable
class TokenStore(Protocol):
    """Tokens of one employer: ``{"access_token", "refresh_token", "expires_at" (epoch seconds)}``."""

    def load(self) -> dict[str, Any]:
        """The stored tokens (keys from ``TOKEN_KEYS``; ``expires_at`` epoch seconds); ``{}`` when none yet."""
        ...

    def save(self, tokens: dict[str, Any]) -> None:
        """Persist atomically: after return, a crash must leave either the old or the new pair."""

    def lock(self) -> ContextManager[None]:
        """Exclusive across threads and processes for this employer (held during a refresh)."""


class MemoryTokenStore:
    """Tokens held in this process only (seeded from the Connection extra); for one-off scripts."""

    def __init__(self, tokens: dict[str, Any] | None = None):
        self._tokens = {k: v for k, v in (tokens or {}).items() if k in TOKEN_KEYS and v is not None}
        self._lock = threading.RLock()

    def load(self) -> dict[str, Any]:
        """A copy of the tokens held in memory (``TOKEN_KEYS`` only); ``{}`` when none were given."""
        return dict(self._tokens)

    def save(self, tokens: dict[str, Any]) -> None:
        """Replace the held tokens by the non-``None`` ``TOKEN_KEYS`` of ``tokens``; other keys are dropped."""
        self._tokens = {k: tokens[k] for k in TOKEN_KEYS if tokens.get(k) is not None}

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """A re-entrant thread lock of this store (one process only)."""
        with self._lock:
            yield


class FileTokenStore:
    """A JSON file (mode 0600) written by atomic rename, locked with ``fcntl.flock`` on ``<file>.lock``.

    The flock serializes processes (two Airflow tasks); a per-path thread lock serializes threads
    of one process, since flock on separate descriptors of the same process also excludes, but
    re-entrancy in one thread must stay possible.
    """

    _thread_locks: dict[str, threading.RLock] = {}
    _guard = threading.Lock()

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        with self._guard:
            self._tlock = self._thread_locks.setdefault(str(self.path.resolve()), threading.RLock())
        self._depth = threading.local()

    def load(self) -> dict[str, Any]:
        """The tokens in the JSON file; ``{}`` when it does not exist; ``json.JSONDecodeError`` when it is corrupt."""
        try:
            return json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}

    def save(self, tokens: dict[str, Any]) -> None:
        """Write the non-``None`` ``TOKEN_KEYS`` of ``tokens`` to a temp file (fsync, mode 0600) and rename it over
        the file, so a crash leaves the old or the new pair; ``OSError`` from the file system propagates."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: tokens[k] for k in TOKEN_KEYS if tokens.get(k) is not None}
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Exclusive across processes (``flock`` on ``<file>.lock``) and threads; re-entrant in the holding thread."""
        with self._tlock:
            depth = getattr(self._depth, "n", 0)
            if depth:  # re-entrant within the thread that already holds the flock
                self._depth.n = depth + 1
                try:
                    yield
                finally:
                    self._depth.n -= 1
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_CREAT | os.O_RDWR, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._depth.n = 1
                try:
                    yield
                finally:
                    self._depth.n = 0
                    fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)


class RotatingAccess(ABC):
    """Access tokens from a :class:`TokenStore` whose refresh tokens rotate (Loket REST, Nmbrs REST).

    A subclass sets ``store`` and ``refresh_skew`` (seconds before expiry at which a token counts as
    expired) and implements ``_refresh_locked(tokens) -> tokens``, which spends the stored refresh
    token and saves the new pair before returning it; it is only ever called under ``store.lock()``.
    """

    store: TokenStore
    refresh_skew: float = 120.0
    _access: str | None = None
    _expires_at: float = 0.0

    @abstractmethod
    def _refresh_locked(self, tokens: dict[str, Any]) -> dict[str, Any]:
        """Spend the stored refresh token, save and return the new pair (called under ``store.lock()``)."""

    def _usable(self, tokens: dict[str, Any]) -> bool:
        expires_at = float(tokens.get("expires_at") or 0)
        return bool(tokens.get("access_token")) and expires_at - self.refresh_skew > time.time()

    def _adopt(self, tokens: dict[str, Any]) -> str:
        self._access, self._expires_at = tokens["access_token"], float(tokens.get("expires_at") or 0)
        return self._access

    def access_token(self) -> str:
        """A valid access token: the one in memory, the stored one, or a refreshed one (under the lock)."""
        if self._access and self._expires_at - self.refresh_skew > time.time():
            return self._access
        with self.store.lock():
            tokens = self.store.load()  # re-read inside the lock: another task may have rotated
            if self._usable(tokens):
                return self._adopt(tokens)
            return self._adopt(self._refresh_locked(tokens))

    def after_401(self, rejected: str) -> str:
        """The API refused ``rejected``: adopt a token another task stored meanwhile, else refresh."""
        with self.store.lock():
            tokens = self.store.load()
            if tokens.get("access_token") not in (None, rejected) and self._usable(tokens):
                return self._adopt(tokens)
            return self._adopt(self._refresh_locked(tokens))


def store_from_spec(spec: str) -> TokenStore:
    """``file:/path/tokens.json`` -> :class:`FileTokenStore` (CLI and tests)."""
    kind, _, rest = spec.partition(":")
    if kind == "file" and rest:
        return FileTokenStore(rest)
    raise ValueError("token store must look like file:PATH")
