"""`make connect-loket EMPLOYER=key`: the first login ("Eerste aanmelding") of a Loket.nl REST employer.

Prints the authorization URL, receives Loket's redirect on a local callback, exchanges the code
(authlib) and stores the access and refresh tokens in the employer's Airflow Connection (its
``extra``), encrypted with the Fernet key. From then on the nightly DAG refreshes them itself.
The Connection must already exist with host and client_id/client_secret (see
docs/connectors/loket_rest.md).
"""

from __future__ import annotations

import argparse
import sys

import airflow_setup  # noqa: F401 - sets AIRFLOW_HOME and the Fernet key before airflow is imported


def connect(employer: str, port: int = 8765, on_url=None, open_browser: bool = False, timeout: float = 600) -> str:
    """Run the first login for ``employer``; the tokens end up in its Airflow Connection. Returns the conn id."""
    from airflow.models.connection import Connection  # noqa: AIR311 - a CLI script reads the metadata DB

    from payroll_etl.airflow.hooks import base_url
    from payroll_etl.airflow.tokens import AirflowConnectionTokenStore
    from payroll_etl.config import load_config
    from payroll_etl.connectors.loket_rest.onboarding import onboard

    cfg = load_config().employer(employer, "loket_rest")
    conn = Connection.get_connection_from_secrets(cfg.conn_id)  # noqa: AIR311
    extra = conn.extra_dejson or {}
    api_url = base_url(conn.host, conn.schema, conn.port)
    onboard(api_url=api_url, client_id=extra["client_id"], client_secret=extra.get("client_secret"),
            oauth_url=extra.get("oauth_url"), employer=cfg.employer, port=port, on_url=on_url, timeout=timeout,
            store=AirflowConnectionTokenStore(cfg.conn_id), open_browser=open_browser)
    print(f"Tokens stored in Airflow Connection {cfg.conn_id}. Werkgever IDs configured: "
          f"{', '.join(cfg.source_ids)}. The nightly DAG {cfg.dag_id} can run now.")
    return cfg.conn_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employer", required=True, help="employer key from include/employers.yaml")
    parser.add_argument("--port", type=int, default=8765, help="local callback port (redirect URI)")
    parser.add_argument("--open-browser", action="store_true")
    args = parser.parse_args(argv)
    connect(args.employer, args.port, open_browser=args.open_browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
