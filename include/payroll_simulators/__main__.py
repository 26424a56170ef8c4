"""`make simulators`: every payroll simulator in the foreground on its documented port.

Loket.nl REST on 127.0.0.1:8081, Loket.nl SOAP on 8082, Nmbrs SOAP on 8083, Nmbrs REST on 8084, serving the world of
a scenario file (``--world PATH``, YAML or JSON, docs/simulators.md; default: the demo world
``include/payroll_simulators/scenarios/demo.yaml``). ``--port nmbrs=9083`` moves one simulator
(``0`` = any free port); the URLs are printed, then ``ready``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time

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


def _port(text: str) -> tuple[str, int]:
    name, _, port = text.partition("=")
    if name not in SIMULATORS or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected NAME=PORT with NAME one of {', '.join(SIMULATORS)}")
    return name, int(port)


def main(argv: list[str] | None = None) -> int:
    from payroll_simulators.scenario import DEMO_SCENARIO, ScenarioError, load_world

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", metavar="PATH", help="scenario file (YAML or JSON); default: the demo world")
    parser.add_argument("--seed", type=int, help="serve the generated world of this seed instead of a file")
    parser.add_argument("--port", type=_port, action="append", default=[], metavar="NAME=PORT")
    args = parser.parse_args(argv)
    if args.seed is not None:
        world = build_world(seed=args.seed)
    else:
        try:
            world = load_world(args.world or DEMO_SCENARIO)
        except ScenarioError as exc:
            print(f"error: {exc}", file=sys.stderr, flush=True)
            return 2
    print(f"world      {args.world or ('seed ' + str(args.seed) if args.seed is not None else DEMO_SCENARIO)}",
          flush=True)
    servers = start_all(world, dict(args.port))
    for s in servers:
        print(f"{s.name:<11} {s.url}", flush=True)
    # SIGTERM raises in the main thread, like Ctrl-C. Setting a threading.Event from the handler could deadlock:
    # the handler would take the Event's lock while the interrupted main thread holds it inside Event.wait().
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        print("ready", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    for s in servers:
        s.stop()
    return 0


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
