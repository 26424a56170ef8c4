"""source_state.state_before: the watermarks a run started from, so a re-run of its date replays it

Revision ID: 0007_source_state_before
Revises: 0006_salary_basis
Create Date: 2026-11-30

A re-run of the same logical date (a second ``make demo`` on one day, a cleared task) used to
extract incrementally from the state its own first run had written: it received (almost) nothing
and replaced that run's ``dq_result`` and ``load_run.rows`` with the near-empty re-extract.
``state_before`` keeps the state in effect before ``load_run_id``'s run; a re-run of that run
starts from it (``warehouse.load.previous_state``). Null on rows written before this migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_source_state_before"
down_revision = "0006_salary_basis"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("source_state", sa.Column(
        "state_before", sa.Text(), nullable=True,
        comment="JSON watermarks in effect before load_run_id's run: a re-run of that run starts from them"))


def downgrade() -> None:
    op.drop_column("source_state", "state_before")
