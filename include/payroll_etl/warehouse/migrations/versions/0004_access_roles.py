"""access model: benefits_reporting (no clear BSN) and benefits_restricted roles

Revision ID: 0004_access_roles
Revises: 0003_mutations
Create Date: 2026-11-23

PostgreSQL only (``payroll_etl.warehouse.access``): NOLOGIN group roles ``benefits_reporting``
(SELECT on every table and view except ``person_identity``) and ``benefits_restricted`` (also
``person_identity``). A no-op on DuckDB, whose files are protected by file permissions.
Later migrations that add tables or views call ``apply_access_model(op.get_bind())`` again.
"""

from __future__ import annotations

from alembic import op

revision = "0004_access_roles"
down_revision = "0003_mutations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from payroll_etl.warehouse.access import apply_access_model

    apply_access_model(op.get_bind())


def downgrade() -> None:
    from payroll_etl.warehouse.access import REPORTING_ROLE, RESTRICTED_ROLE

    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    # Roles are cluster-wide and may serve other databases: only this database's grants go.
    for role in (REPORTING_ROLE, RESTRICTED_ROLE):
        op.execute(f"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{role}') THEN "
                   f"EXECUTE 'REVOKE ALL ON ALL TABLES IN SCHEMA ' || quote_ident(current_schema()) || ' FROM {role}'; "
                   f"EXECUTE 'REVOKE USAGE ON SCHEMA ' || quote_ident(current_schema()) || ' FROM {role}'; "
                   "END IF; END $$")
