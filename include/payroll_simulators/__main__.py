"""`make simulators`: every payroll simulator in the foreground on its documented port.

Loket.nl REST on 127.0.0.1:8081, Loket.nl SOAP on 8082, Nmbrs SOAP on 8083, Nmbrs REST on 8084; ``--port nmbrs=0``
moves one (0: any free port). Prints ``<name> <url>`` per simulator, then ``ready``.
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


def main(argv: list[str] | None = None) -> int:
    """`make simulators`: serve until SIGTERM or Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--port", action="append", default=[], metavar="NAME=PORT",
                        help=f"listen on another port (0: any free one); names: {', '.join(SIMULATORS)}")
    args = parser.parse_args(argv)
    ports = {name: port for name, (_, port) in SIMULATORS.items()}
    for item in args.port:
        name, _, port = item.partition("=")
        if name not in SIMULATORS or not port.isdigit():
            parser.error(f"--port {item}: expected NAME=PORT with NAME one of {', '.join(SIMULATORS)}")
        ports[name] = int(port)
    servers = start_all(build_world(seed=args.seed), ports)
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
