"""``python -m payroll_simulators.loket_soap [port]``: the simulator on 127.0.0.1:8082 (demo world)."""

from __future__ import annotations

import sys

from payroll_simulators.loket_soap.app import PATH, create_app
from payroll_simulators.server import serve_in_thread
from payroll_simulators.world import build_world


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8082
    running = serve_in_thread("loket_soap", create_app(build_world()), port)
    print(f"Loket SOAP simulator: {running.url}{PATH}?WSDL  (demo user Webservice#01 / demo / DEMO)", flush=True)
    running.thread.join()


if __name__ == "__main__":
    main()
