"""The warehouse access model: who may read the clear BSN.

PostgreSQL (production) gets two NOLOGIN group roles; people and tools log in with their own
roles and are made members of one of them:

* ``benefits_reporting``: SELECT on every warehouse table and view **except** ``person_identity``.
  Analysts, BI tools and the benefits mart read pseudonymized data only (``employee.person_key``,
  the keyed HMAC of the BSN, is the join key).
* ``benefits_restricted``: everything ``benefits_reporting`` may read **plus** ``person_identity``
  (clear BSN and IBAN), for the few flows with a legal ground (UWV/ERD, verzuim notices).

:func:`apply_access_model` is idempotent: migration ``0004_access_roles`` runs it, and every later
migration that adds a table or view must run it again (``tests/privacy`` fails when a table is
not covered). Grants are per database; the roles themselves are cluster-wide.

DuckDB (demo, tests, laptops) has no roles: a DuckDB warehouse file is protected by file-system
permissions only (the data directory is 0700, keep the file 0600), so it must never hold
production data outside a restricted host.
"""

from __future__ import annotations

from typing import Any

REPORTING_ROLE = "benefits_reporting"
RESTRICTED_ROLE = "benefits_restricted"
# encrypted BSN / IBAN and the audit of their reads: benefits_restricted only
RESTRICTED_TABLES = ("person_identity", "person_identity_read")
# Tables, views, materialized views and partitioned tables of a schema (pg_class: unlike
# information_schema it also lists relations the current role may not read).
RELATIONS_SQL = ("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                 "WHERE n.nspname = :s AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY c.relname")


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _create_role_sql(role: str) -> str:
    """CREATE ROLE if missing; tolerant of a concurrent creation by another database's migration."""
    return (
        "DO $$ BEGIN "
        f"IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
        f"CREATE ROLE {_quote(role)} NOLOGIN; END IF; "
        "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; "
        "END $$"
    )


def access_statements(schema: str, relations: list[str]) -> list[str]:
    """The SQL that sets up the access model for ``relations`` (tables and views) of ``schema``."""
    sch = _quote(schema)
    stmts = [_create_role_sql(REPORTING_ROLE), _create_role_sql(RESTRICTED_ROLE),
             f"GRANT USAGE ON SCHEMA {sch} TO {REPORTING_ROLE}, {RESTRICTED_ROLE}"]
    for rel in relations:
        target = f"{sch}.{_quote(rel)}"
        if rel in RESTRICTED_TABLES:
            stmts += [f"REVOKE ALL ON {target} FROM PUBLIC",
                      f"REVOKE ALL ON {target} FROM {REPORTING_ROLE}",
                      f"GRANT SELECT ON {target} TO {RESTRICTED_ROLE}"]
        else:
            stmts.append(f"GRANT SELECT ON {target} TO {REPORTING_ROLE}, {RESTRICTED_ROLE}")
    return stmts


def apply_access_model(connection: Any) -> bool:
    """Create the roles and grants on a SQLAlchemy connection. Returns False (no-op) on DuckDB."""
    from sqlalchemy import text

    if connection.dialect.name != "postgresql":
        return False
    schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    relations = [r[0] for r in connection.execute(text(RELATIONS_SQL), {"s": schema})]
    for stmt in access_statements(schema, relations):
        connection.execute(text(stmt))
    return True
