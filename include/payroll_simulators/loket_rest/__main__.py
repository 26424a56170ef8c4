"""``python -m payroll_simulators.loket_rest [--port 8081]``: the Loket REST simulator in the foreground."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from payroll_simulators.loket_rest import create_app
from payroll_simulators.world import build_world


def main() -> None:
    parser = argparse.ArgumentParser(description="Loket.nl REST simulator (OAuth2 + /v2 API) on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    app = create_app(build_world(seed=args.seed))
    print(f"Loket REST simulator on http://127.0.0.1:{args.port} (OAuth: /oauth/authorize, /oauth/token; "
          "demo client benefits-etl-demo / demo-secret, user demo@example.nl / demo)", flush=True)
    run_simple("127.0.0.1", args.port, app, threaded=True)


if __name__ == "__main__":
    main()
