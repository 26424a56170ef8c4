"""Connection failures that name where they went: host, port and, for the demo hosts, what to start.

Every connector calls :func:`check_refused` where it catches ``requests.ConnectionError`` before
deciding to retry. A refused connection to a local host (``127.0.0.1``, ``localhost``, ``::1``)
means nothing listens there — in this project, a payroll simulator that is not running — so it
fails at once with :class:`~payroll_etl.errors.SourceUnreachableError` instead of being retried
with backoff. Everything else stays the connector's transient error, with host and port in the
message (:func:`where`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from payroll_etl.connectors.registry import CONNECTORS
from payroll_etl.errors import SourceUnreachableError

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The demo simulators' default ports (`make simulators`), from the connector registry.
SIMULATOR_PORTS = {spec.simulator_port: spec.label for spec in CONNECTORS.values()}


def where(url: str) -> str:
    """``host:port`` of ``url`` (the scheme's default port when none is given), for error messages.

    Never includes the path or query (they may carry ids) nor credentials."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname or '?'}:{port}"


def _refused(exc: BaseException) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError) or "Connection refused" in str(current) \
                or "Errno 111" in str(current):
            return True
        current = current.__cause__ or current.__context__ or (current.args[0] if current.args and isinstance(
            current.args[0], BaseException) else None)
    return False


def check_refused(exc: BaseException, url: str, source: str) -> None:
    """Raise :class:`SourceUnreachableError` when ``exc`` is a refused connection to a local host.

    ``url``: what was called; ``source``: the source's name for the message ("Loket.nl REST").
    Returns normally for any other failure (the caller then treats it as transient).
    """
    parts = urlsplit(url)
    if (parts.hostname or "") not in LOCAL_HOSTS or not _refused(exc):
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    simulator = SIMULATOR_PORTS.get(port)
    hint = (f"the {simulator} simulator is not running: start the simulators with `make simulators` "
            "(`make airflow` and `make demo` start them too)") if simulator else \
        "is the service running, and is the Connection's host/port right?"
    raise SourceUnreachableError(f"{source}: connection to {parts.hostname}:{port} refused; {hint}")
