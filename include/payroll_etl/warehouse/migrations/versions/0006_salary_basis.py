"""salary.basis: which amount the source sent (full-time, actual part-time, hourly)

Revision ID: 0006_salary_basis
Revises: 0005_load_run_view
Create Date: 2026-11-30

Issue 15 §1: Loket (``isGrossWageFullTime``, ``grossWageType``) and Nmbrs (``Salary_V2.Type``) state
whether a wage is the full-time amount, the part-time amount actually paid or an hourly wage; the
column keeps that statement next to ``gross_amount`` (docs/benefits.md "Salary basis"). Rows loaded
before this migration have NULL (unknown: they were read as full-time); the next load of each
employer records the source's basis as a new version (no mutation: amounts are unchanged).
``salary_current`` is recreated with the column; the access model is re-applied to the new view.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_salary_basis"
down_revision = "0005_load_run_view"
branch_labels = None
depends_on = None

COMMENT = "fulltime | actual (part-time amount actually paid) | hourly: which amount the source sent"
BASE = ("connector, employer, source_id, valid_from, valid_to, employment_source_id, gross_amount, frequency, "
        "{extra}holiday_allowance_pct, component, is_correction, row_hash, recorded_at, superseded_at, load_run_id, "
        "superseded_by_run")


def _view(columns: str) -> str:
    return f"""
        CREATE VIEW salary_current AS
        SELECT {columns}
        FROM (
            SELECT t.*, ROW_NUMBER() OVER (
                PARTITION BY connector, employer, source_id
                ORDER BY CASE WHEN valid_from <= CURRENT_DATE THEN 0 ELSE 1 END, valid_from DESC
            ) AS version_rank
            FROM salary t
            WHERE superseded_at IS NULL
        ) v
        WHERE version_rank = 1
    """


def upgrade() -> None:
    from payroll_etl.warehouse.access import apply_access_model

    op.execute("DROP VIEW IF EXISTS salary_current")
    op.add_column("salary", sa.Column("basis", sa.Text(), nullable=True, comment=COMMENT))
    op.execute(_view(BASE.format(extra="basis, ")))
    apply_access_model(op.get_bind())


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS salary_current")
    op.drop_column("salary", "basis")
    op.execute(_view(BASE.format(extra="")))
