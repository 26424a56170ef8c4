"""The ``connector`` column comment names the registry, not a fixed list of sources

Revision ID: 0010_connector_comment
Revises: 0009_identity_encryption
Create Date: 2026-11-30

The comment said ``loket_rest | loket_soap | nmbrs``; a connector added to
``connectors/registry.CONNECTORS`` (``nmbrs_rest`` already) writes the same column, so the comment
now names the registry (``payroll_etl.model.COMMON``). Comments only: no data changes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_connector_comment"
down_revision = "0009_identity_encryption"
branch_labels = None
depends_on = None

TABLES = ("employee", "employer", "employment", "payroll_period", "payroll_result", "salary")
OLD = "loket_rest | loket_soap | nmbrs"
NEW = "the source: a connector of connectors/registry.CONNECTORS"


def _comment(text: str) -> None:
    # COMMENT ON, not op.alter_column(comment=...): alembic cannot compile that for DuckDB.
    for table in TABLES:
        op.execute(sa.text(f"COMMENT ON COLUMN {table}.connector IS '{text}'"))


def upgrade() -> None:
    _comment(NEW)


def downgrade() -> None:
    _comment(OLD)
