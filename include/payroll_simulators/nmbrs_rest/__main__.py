"""``python -m payroll_simulators.nmbrs_rest [port]``: serve the Nmbrs REST simulator on 127.0.0.1 (default 8084)."""

from __future__ import annotations

import sys

from werkzeug.serving import run_simple

from payroll_simulators.nmbrs_rest.app import (
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PASSWORD,
    DEMO_SUBSCRIPTION_KEY,
    DEMO_USERNAME,
    create_app,
)
from payroll_simulators.world import build_world


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8084
    print(f"Nmbrs REST simulator on http://127.0.0.1:{port}/api (client {DEMO_CLIENT_ID}/{DEMO_CLIENT_SECRET}, "
          f"subscription key {DEMO_SUBSCRIPTION_KEY}, consent login {DEMO_USERNAME}/{DEMO_PASSWORD})")
    run_simple("127.0.0.1", port, create_app(build_world()), threaded=True)


if __name__ == "__main__":
    main()
