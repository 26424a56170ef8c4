"""`make connect-nmbrs EMPLOYER=key`: the first consent of an Nmbrs REST employer.

Prints the Nmbrs authorization URL (authorization code + PKCE), receives the redirect on a local
callback, exchanges the code (authlib) and stores the access and refresh tokens in the employer's
Airflow Connection (its ``extra``, Fernet-encrypted). The previously stored refresh token, if any,
is revoked. From then on every run rotates the tokens itself; after 30 days without a run (or a
revocation in Nmbrs) the DAG fails with "re-consent needed" and this command is run again.
The Connection must already exist with host, subscription key and client_id/client_secret
(docs/connectors/nmbrs_rest.md).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import airflow_setup  # noqa: F401 - sets AIRFLOW_HOME and the Fernet key before airflow is imported


def connect(employer: str, port: int = 8766, on_url: Callable[[str], None] | None = None,
            open_browser: bool = False, timeout: float = 600) -> str:
    """Run the consent for ``employer``; the tokens end up in its Airflow Connection. Returns the conn id."""
    from airflow.models.connection import Connection  # noqa: AIR311 - a CLI script reads the metadata DB

    from payroll_etl.airflow.hooks import base_url
    from payroll_etl.airflow.tokens import AirflowConnectionTokenStore
    from payroll_etl.config import load_config
    from payroll_etl.connectors.nmbrs_rest.auth import consent
    from payroll_etl.connectors.nmbrs_rest.connector import NmbrsRestConnector
    from payroll_etl.connectors.nmbrs_rest.settings import API_URL, IDENTITY_URL

    cfg = load_config().employer(employer, "nmbrs_rest")
    conn = Connection.get_connection_from_secrets(cfg.conn_id)  # noqa: AIR311
    extra = conn.extra_dejson or {}
    host = base_url(conn.host, conn.schema, conn.port).rstrip("/")
    identity = extra.get("identity_url") or (IDENTITY_URL if host == API_URL else host)
    consent(identity_url=identity, client_id=extra["client_id"], client_secret=extra.get("client_secret"),
            store=AirflowConnectionTokenStore(cfg.conn_id), scopes=NmbrsRestConnector.scopes(extra, cfg),
            employer=cfg.employer, port=port, on_url=on_url, timeout=timeout, open_browser=open_browser)
    print(f"Tokens stored in Airflow Connection {cfg.conn_id}. Companies configured: {', '.join(cfg.source_ids)}. "
          f"The nightly DAG {cfg.dag_id} can run now.")
    return cfg.conn_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employer", required=True, help="employer key from include/employers.yaml")
    parser.add_argument("--port", type=int, default=8766, help="local callback port (redirect URI)")
    parser.add_argument("--open-browser", action="store_true")
    args = parser.parse_args(argv)
    connect(args.employer, args.port, open_browser=args.open_browser)
    return 0


if __name__ == "__main__":
    sys.exit(main())
