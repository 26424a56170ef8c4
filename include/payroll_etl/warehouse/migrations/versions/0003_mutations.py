"""mutation feed; payroll results keyed on (employment, period, run, component)

Revision ID: 0003_mutations
Revises: 0002_benefits
Create Date: 2026-11-23

* ``mutation``: the feed of ``payroll_etl.warehouse.mutations`` (issue 7).
* ``payroll_result``: the version key gains period_id, run_id and component, so a later
  (retroactive) payroll run for a period adds lines next to the earlier run's instead of replacing them.
* Load speed: ``ix_<entity>_current`` (employer, connector, superseded_at) is dropped: the unique
  version index already starts with (connector, employer), and every index costs the full load
  (bench/bench_warehouse.py). ``ix_salary_employment`` serves the mutation feed's wage lookups.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_mutations"
HISTORY = ("employer", "employee", "employment", "salary", "payroll_period", "payroll_result")
down_revision = "0002_benefits"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mutation",
        sa.Column("mutation_id", sa.String(length=32), nullable=False,
                  comment="md5(connector, employer, key, base type, ingangsdatum, new values): re-runs never duplicate"),
        sa.Column("connector", sa.Text(), nullable=False),
        sa.Column("employer", sa.Text(), nullable=False),
        sa.Column("mutation_type", sa.String(length=24), nullable=False,
                  comment="IN_DIENST | UIT_DIENST | SALARIS | PARTTIME | ADRES | BURGERLIJKE_STAAT | OVERLIJDEN | CORRECTIE"),
        sa.Column("corrected_type", sa.String(length=24), nullable=True, comment="for CORRECTIE: the type it corrects"),
        sa.Column("mutation_key", sa.Text(), nullable=False,
                  comment="business key: employee or employment source id; employment|component for SALARIS"),
        sa.Column("person_key", sa.String(length=64), nullable=True, comment="keyed HMAC of the BSN; never the BSN"),
        sa.Column("employee_source_id", sa.Text(), nullable=True),
        sa.Column("employment_source_id", sa.Text(), nullable=True),
        sa.Column("employment_number", sa.Text(), nullable=True, comment="IKV-nummer"),
        sa.Column("ingangsdatum", sa.Date(), nullable=False, comment="effective date of the change"),
        sa.Column("period_id", sa.String(length=6), nullable=False,
                  comment="YYYYPP of the pay period of the load that found it"),
        sa.Column("old_values", sa.Text(), nullable=True, comment="JSON object of the values before (strings or null)"),
        sa.Column("new_values", sa.Text(), nullable=False, comment="JSON object of the values after (strings or null)"),
        sa.Column("load_run_id", sa.String(length=64), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False, comment="transaction time of the load"),
        sa.PrimaryKeyConstraint("mutation_id"),
        comment="Mutation feed for insurers, derived from consecutive snapshots (issue 7).",
    )
    op.create_index("ix_mutation_employer", "mutation", ["employer", "connector", "detected_at"], unique=False)
    op.create_index("ix_mutation_key", "mutation", ["connector", "employer", "mutation_key", "ingangsdatum"],
                    unique=False)
    for table in HISTORY:
        op.drop_index(f"ix_{table}_current", table_name=table)
    op.create_index("ix_salary_employment", "salary", ["connector", "employer", "employment_source_id"])
    op.drop_index("ux_payroll_result_version", table_name="payroll_result")
    op.create_index(
        "ux_payroll_result_version", "payroll_result",
        ["connector", "employer", "source_id", "valid_from", "period_id", "run_id", "component", "recorded_at"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ix_salary_employment", table_name="salary")
    for table in HISTORY:
        op.create_index(f"ix_{table}_current", table, ["employer", "connector", "superseded_at"])
    op.drop_index("ux_payroll_result_version", table_name="payroll_result")
    op.create_index("ux_payroll_result_version", "payroll_result",
                    ["connector", "employer", "source_id", "valid_from", "recorded_at"], unique=True)
    op.drop_index("ix_mutation_key", table_name="mutation")
    op.drop_index("ix_mutation_employer", table_name="mutation")
    op.drop_table("mutation")
