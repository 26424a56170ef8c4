"""load_run.view: whether a load was a current or a past view of the source

Revision ID: 0005_load_run_view
Revises: 0004_access_roles
Create Date: 2026-11-30

A backfill of a past pay period (or a replay of an old logical date after newer ones loaded) is a
*past view* of the source: it may add period-scoped facts but never supersede what a later view
recorded (docs/warehouse.md, "Past views"). ``view`` records which kind each load was, so the
mutation feed's baseline and the knowledge horizon only count current views. Existing rows are
current views (that is what every earlier load was treated as).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_load_run_view"
down_revision = "0004_access_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("load_run", sa.Column("view", sa.String(length=8), nullable=False, server_default="current",
                                        comment="current | past: a past view never supersedes newer knowledge"))


def downgrade() -> None:
    op.drop_column("load_run", "view")
