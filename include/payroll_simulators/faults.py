"""A fault switch shared by all simulators, as WSGI middleware.

Tests and the demo drive it over HTTP on the simulator's own port:

* ``POST /_sim/faults`` with ``{"match": "<regex on METHOD PATH?QUERY or SOAPAction>",
  "kind": "500|503|502_echo_auth|timeout|reset|429|429_no_retry_after|truncate|malformed|revoke_token|half|
  invalid_period|quota",
  "times": 1}``: the next ``times`` matching requests fail that way (``times: -1`` = until cleared).
* ``POST /_sim/faults`` with ``{"kind": ..., "rate": 0.02, "seed": 7}`` (``match`` optional, default:
  every request): each matching request fails that way with probability ``rate``, drawn from the
  switch's random generator (reseeded by ``seed``), until cleared; ``hits`` counts the failures.
  Used by the soak (scripts/soak.py, docs/operations.md "Soak under faults").
* ``DELETE /_sim/faults``: clear all faults.  ``GET /_sim/faults``: list them, with hit counts.
* ``POST /_sim/latency`` with ``{"seconds": 0.05}``: add latency to every request.
* ``GET /_sim/calls``: request counts per ``METHOD PATH`` (or SOAP operation), for call-count tests.

``502_echo_auth`` is a misconfigured gateway's 502 whose body echoes the request's headers,
``Authorization: Bearer <token>`` included: what lands from an error body must be scrubbed.
``half`` is interpreted by the simulator itself (answer with half the employees), as are
``invalid_period`` (Nmbrs: fault 2006 Invalid Period for the matching call), ``revoke_token`` and
``quota`` (Nmbrs REST: 429 code 42909, the plan's call volume is exhausted); the others are
applied here, around any app.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

FAULT_KINDS = {"500", "503", "502_echo_auth", "timeout", "reset", "429", "429_no_retry_after", "truncate", "malformed",
               "revoke_token", "half", "invalid_period", "quota"}


@dataclass
class Fault:
    match: str
    kind: str
    times: int = 1
    hits: int = 0
    seconds: float = 5.0  # for "timeout"
    rate: float | None = None  # probabilistic mode: fail each matching request with this probability

    def applies(self, signature: str, rng: random.Random | None = None) -> bool:
        if re.search(self.match, signature) is None:
            return False
        if self.rate is not None:
            return (rng or random).random() < self.rate
        return self.times < 0 or self.hits < self.times


@dataclass
class FaultSwitch:
    faults: list[Fault] = field(default_factory=list)
    latency: float = 0.0
    calls: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def take(self, signature: str, kinds: set[str] | None = None) -> Fault | None:
        """Consume the first fault that matches ``signature`` (and one of ``kinds``, if given)."""
        with self.lock:
            for fault in self.faults:
                if (kinds is None or fault.kind in kinds) and fault.applies(signature, self.rng):
                    fault.hits += 1
                    return fault
        return None

    def add(self, match: str, kind: str, times: int = 1, seconds: float = 5.0, rate: float | None = None,
            seed: int | None = None) -> None:
        """Register a fault: the next ``times`` matching requests, or (``rate`` in 0..1) each matching
        request with that probability, drawn from ``rng`` (reseeded with ``seed`` when given)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(FAULT_KINDS)}")
        if rate is not None and not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be between 0 and 1, got {rate}")
        with self.lock:
            if seed is not None:
                self.rng.seed(seed)
            self.faults.append(Fault(match, kind, times, seconds=seconds, rate=rate))

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()


StartResponse = Callable[..., object]
# Faults handled in the middleware; "half", "revoke_token", "invalid_period" and "quota" belong to the simulators.
TRANSPORT_KINDS = {"500", "503", "502_echo_auth", "timeout", "reset", "429", "429_no_retry_after", "truncate",
                   "malformed"}


def _json(start_response: StartResponse, status: str, body: object) -> list[bytes]:
    data = json.dumps(body).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


class FaultMiddleware:
    """Wraps a WSGI app: control endpoints under /_sim, latency, and transport faults."""

    def __init__(self, app, switch: FaultSwitch, signature: Callable[[dict], str] | None = None,
                 error_body: Callable[[str], tuple[str, bytes]] | None = None,
                 status_body: Callable[[str, int], tuple[str, bytes]] | None = None):
        """``error_body(message)`` renders injected 5xx/429 bodies; ``status_body(message, status)``,
        when given, is used instead for sources whose error bodies carry the HTTP status (Nmbrs REST)."""
        self.app = app
        self.status_body = status_body
        self.switch = switch
        self.signature = signature or (lambda env: f"{env['REQUEST_METHOD']} {env.get('PATH_INFO', '')}"
                                       + (f"?{env['QUERY_STRING']}" if env.get("QUERY_STRING") else ""))
        self.error_body = error_body or (lambda msg: ("application/json",
                                                      json.dumps({"messages": [{"description": msg}]}).encode()))

    def __call__(self, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sim/"):
            return self._control(environ, start_response, path)
        signature = self.signature(environ)
        environ["sim.signature"] = signature
        with self.switch.lock:
            self.switch.calls[signature.split("?")[0]] += 1
        if self.switch.latency:
            time.sleep(self.switch.latency)
        fault = self.switch.take(signature, TRANSPORT_KINDS)
        if fault is None:
            return self.app(environ, start_response)
        return self._apply(fault, environ, start_response)

    def _apply(self, fault: Fault, environ: dict, start_response: StartResponse) -> Iterable[bytes]:
        kind = fault.kind
        if kind in {"500", "503"}:
            ctype, body = self._body("Simulated server error", int(kind))
            start_response(f"{kind} Server Error", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
            return [body]
        if kind == "502_echo_auth":
            echoed = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
            body = json.dumps({"error": "Bad Gateway", "request": {"path": environ.get("PATH_INFO", ""),
                                                                  "headers": echoed}}).encode()
            start_response("502 Bad Gateway", [("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body)))])
            return [body]
        if kind == "timeout":
            time.sleep(fault.seconds)
            return self.app(environ, start_response)
        if kind in {"429", "429_no_retry_after"}:
            ctype, body = self._body("Too many requests", 429)
            headers = [("Content-Type", ctype), ("Content-Length", str(len(body)))]
            if kind == "429":
                headers.append(("Retry-After", "1"))
            start_response("429 Too Many Requests", headers)
            return [body]
        if kind == "reset":
            sock = environ.get("werkzeug.socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            start_response("500 Reset", [("Content-Length", "0")])
            return [b""]
        # truncate / malformed: run the app, then damage its body
        captured: dict = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda _: None

        body = b"".join(self.app(environ, capture))
        if kind == "truncate":
            body = body[: max(1, len(body) // 2)]
        else:
            body = b"<<not what you expected>>" + body[:20]
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        headers.append(("Content-Length", str(len(body))))
        start_response(captured["status"], headers)
        return [body]

    def _body(self, message: str, status: int) -> tuple[str, bytes]:
        return self.status_body(message, status) if self.status_body else self.error_body(message)

    def _control(self, environ: dict, start_response: StartResponse, path: str) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        if path == "/_sim/faults":
            if method == "POST":
                try:
                    rate = payload.get("rate")
                    match = payload.get("match", "") if rate is not None else payload["match"]
                    self.switch.add(match, payload["kind"], int(payload.get("times", 1)),
                                    float(payload.get("seconds", 5.0)),
                                    rate=None if rate is None else float(rate),
                                    seed=None if payload.get("seed") is None else int(payload["seed"]))
                except (KeyError, ValueError) as exc:
                    return _json(start_response, "400 Bad Request", {"error": str(exc)})
                return _json(start_response, "201 Created", {"ok": True})
            if method == "DELETE":
                self.switch.clear()
                return _json(start_response, "200 OK", {"ok": True})
            return _json(start_response, "200 OK", [f.__dict__ for f in self.switch.faults])
        if path == "/_sim/latency" and method == "POST":
            self.switch.latency = float(payload.get("seconds", 0.0))
            return _json(start_response, "200 OK", {"latency": self.switch.latency})
        if path == "/_sim/calls":
            if method == "DELETE":
                self.switch.calls.clear()
            return _json(start_response, "200 OK", dict(self.switch.calls))
        return _json(start_response, "404 Not Found", {"error": "unknown control endpoint"})
