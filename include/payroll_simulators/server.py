"""Run simulator WSGI apps on 127.0.0.1, in a thread (tests) or in the foreground (make simulators)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server


class QuietHandler(WSGIRequestHandler):
    """No access log per request: tests and benchmarks make thousands."""

    def log_request(self, *args, **kwargs) -> None:  # noqa: D102
        pass


@dataclass
class RunningServer:
    name: str
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_in_thread(name: str, app, port: int = 0) -> RunningServer:
    """Start ``app`` on 127.0.0.1:``port`` (0 = any free port) in a daemon thread."""
    server = make_server("127.0.0.1", port, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name=f"sim-{name}", daemon=True)
    thread.start()
    return RunningServer(name, server, thread)


class SimClock:
    """Wall clock plus an offset that tests move forward (token expiry, refresh-token lapse)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds
