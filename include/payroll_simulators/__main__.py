"""`make simulators`: every payroll simulator in the foreground on its documented port.

Loket.nl REST on 127.0.0.1:8081, Loket.nl SOAP on 8082, Nmbrs SOAP on 8083, Nmbrs REST on 8084.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading

from payroll_simulators.server import serve_in_thread
from payroll_simulators.world import build_world

SIMULATORS = {  # name -> (module with create_app, default port)
    "loket_rest": ("payroll_simulators.loket_rest.app", 8081),
    "loket_soap": ("payroll_simulators.loket_soap.app", 8082),
    "nmbrs": ("payroll_simulators.nmbrs.app", 8083),
    "nmbrs_rest": ("payroll_simulators.nmbrs_rest.app", 8084),
}


def start_all(world=None, ports: dict[str, int] | None = None):
    world = world or build_world()
    servers = []
    for name, (module, port) in SIMULATORS.items():
        try:
            create_app = importlib.import_module(module).create_app
        except ImportError:
            continue
        servers.append(serve_in_thread(name, create_app(world), (ports or {}).get(name, port)))
    return servers


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    servers = start_all(build_world(seed=args.seed))
    for s in servers:
        print(f"{s.name:<11} {s.url}", flush=True)
    print("ready", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for s in servers:
        s.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
