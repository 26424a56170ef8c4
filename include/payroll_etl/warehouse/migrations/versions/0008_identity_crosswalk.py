"""identity_crosswalk: one identity per employer across connectors

Revision ID: 0008_identity_crosswalk
Revises: 0007_source_state_before
Create Date: 2026-11-30

When an employer switches connector (Loket SOAP -> Loket REST, Nmbrs SOAP -> REST, and back), the
cutover load matches the new connector's persons (person_key) and employments (person + IKV number,
else person + start date) to the old connector's and records both sides' own ids here, so lineage
back to each connector's landing stays exact (docs/warehouse.md, "Connector switches").
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_identity_crosswalk"
down_revision = "0007_source_state_before"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_crosswalk",
        sa.Column("employer", sa.Text(), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False, comment="employee | employment"),
        sa.Column("connector", sa.Text(), nullable=False),
        sa.Column("source_id", sa.Text(), nullable=False,
                  comment="the connector's own id: lineage back to its landing"),
        sa.Column("identity_id", sa.Text(), nullable=False,
                  comment="one identity per employer across connectors: person_key for a person; for an employment "
                          "the connector:source_id it was first seen as"),
        sa.Column("match_rule", sa.String(length=16), nullable=False,
                  comment="person_key | ikv | start_date (matched to another connector) | own (not matched)"),
        sa.Column("load_run_id", sa.String(length=64), nullable=False,
                  comment="the cutover load that recorded it"),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("employer", "entity", "connector", "source_id"),
        comment="Connector switches: which source record of which connector is which employer-wide identity "
                "(issue 17).",
    )
    op.create_index("ix_identity_crosswalk_identity", "identity_crosswalk", ["employer", "entity", "identity_id"])
    from payroll_etl.warehouse.access import apply_access_model

    apply_access_model(op.get_bind())  # the reporting roles may read the new table (no BSN in it)


def downgrade() -> None:
    op.drop_index("ix_identity_crosswalk_identity", table_name="identity_crosswalk")
    op.drop_table("identity_crosswalk")
