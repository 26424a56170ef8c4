"""``python -m payroll_simulators.nmbrs [port]``: serve the Nmbrs simulator on 127.0.0.1 (default 8083)."""

from __future__ import annotations

import sys

from werkzeug.serving import run_simple

from payroll_simulators.nmbrs.app import DEMO_DOMAIN, DEMO_TOKEN, DEMO_USERNAME, create_app
from payroll_simulators.world import build_world


def main() -> None:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8083
    print(f"Nmbrs simulator on http://127.0.0.1:{port}/soap/v3/EmployeeService.asmx?WSDL "
          f"(user {DEMO_USERNAME}, token {DEMO_TOKEN}, domain {DEMO_DOMAIN})")
    run_simple("127.0.0.1", port, create_app(build_world()), threaded=True)


if __name__ == "__main__":
    main()
