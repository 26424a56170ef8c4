"""benefit tables: parameters, schemes and bases (issue 10)

Revision ID: 0002_benefits
Revises: 0001
Create Date: 2026-11-23

Tables of ``payroll_etl.benefits.tables`` (see docs/benefits.md). Seeding is not done here:
``payroll_etl.benefits.tables.seed`` is idempotent and runs from the demo / the load step, so
adding a parameter year never needs a migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_benefits"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tt() -> list[sa.Column]:
    return [
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False, comment="transaction time: learned at"),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True, comment="transaction time: replaced at"),
    ]


def upgrade() -> None:
    money = sa.Numeric(18, 2)
    op.create_table(
        "benefit_parameter",
        sa.Column("parameter", sa.Text(), nullable=False, comment="e.g. aow_franchise_min, max_daily_wage"),
        sa.Column("valid_from", sa.Date(), nullable=False,
                  comment="effective date; the year's first row is its 1 January value"),
        sa.Column("value", sa.Numeric(18, 4), nullable=False),
        sa.Column("unit", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True, comment="source tags of docs/benefits.md / domain.md"),
        sa.Column("note", sa.Text(), nullable=True),
        *_tt(),
        comment="Statutory yearly parameters (fiscal max, AOW-franchise minimum, SV maxima), effective-dated.",
    )
    op.create_index("ux_benefit_parameter_version", "benefit_parameter", ["parameter", "valid_from", "recorded_at"],
                    unique=True)
    op.create_table(
        "benefit_scheme",
        sa.Column("employer", sa.Text(), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("accrual_type", sa.Text(), nullable=False, comment="middelloon | beschikbare_premie | eindloon | none"),
        sa.Column("franchise", money, nullable=True, comment="NULL: the legal minimum of the year"),
        sa.Column("peildatum_rule", sa.Text(), nullable=False, comment="fixed_1_january | follows_changes"),
        sa.Column("pensionable_components", sa.Text(), nullable=False, comment="comma-separated salary components"),
        sa.Column("holiday_allowance_included", sa.Boolean(), nullable=False),
        sa.Column("holiday_allowance_pct", sa.Numeric(9, 4), nullable=True),
        sa.Column("four_weekly_periods", sa.Integer(), nullable=False),
        sa.Column("pension_max_salary", money, nullable=True),
        sa.Column("wia_cover_pct", sa.Numeric(9, 4), nullable=True, comment="70 | 75 | 80; NULL: no WIA-excedent part"),
        sa.Column("wia_threshold_source", sa.Text(), nullable=False, comment="dagloon_x_261 | max_premieloon"),
        sa.Column("policy_max_salary", money, nullable=True),
        sa.Column("definition", sa.Text(), nullable=False, comment="the version as JSON (what the mart reads back)"),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        *_tt(),
        comment="Benefit scheme versions per employer (include/benefit_schemes.yaml).",
    )
    op.create_index("ux_benefit_scheme_version", "benefit_scheme", ["employer", "scheme", "version", "recorded_at"],
                    unique=True)
    op.create_table(
        "benefit_basis",
        sa.Column("connector", sa.Text(), nullable=False),
        sa.Column("employer", sa.Text(), nullable=False),
        sa.Column("employment_source_id", sa.Text(), nullable=False),
        sa.Column("scheme", sa.Text(), nullable=False),
        sa.Column("reference_date", sa.Date(), nullable=False,
                  comment="the basis applies from this date until the next row"),
        sa.Column("status", sa.String(24), nullable=False,
                  comment="in_service | out_of_service | no_salary | no_part_time_factor"),
        sa.Column("scheme_version", sa.Integer(), nullable=False),
        sa.Column("parameter_year", sa.Integer(), nullable=False),
        sa.Column("peildatum", sa.Date(), nullable=True, comment="the date whose salary was used"),
        sa.Column("part_time_factor", sa.Numeric(18, 4), nullable=True),
        sa.Column("ft_pensionable_salary", money, nullable=True, comment="full-time annual, incl. holiday allowance"),
        sa.Column("max_pensionable_salary", money, nullable=True,
                  comment="fiscal max (or lower scheme max) applied"),
        sa.Column("franchise", money, nullable=True),
        sa.Column("pensioengrondslag", money, nullable=True),
        sa.Column("wia_salary", money, nullable=True, comment="actual annual salary (FT × part-time factor)"),
        sa.Column("wia_threshold", money, nullable=True),
        sa.Column("wia_excedent", money, nullable=True),
        sa.Column("wia_cover_pct", sa.Numeric(9, 4), nullable=True),
        sa.Column("wia_insured", money, nullable=True),
        sa.Column("row_hash", sa.String(64), nullable=False),
        *_tt(),
        sa.Column("load_run_id", sa.String(64), nullable=True,
                  comment="the load whose changes triggered this computation"),
        sa.Column("superseded_by_run", sa.String(64), nullable=True),
        comment="Pension and WIA-excedent bases per employment, scheme and reference date (issue 10).",
    )
    op.create_index("ux_benefit_basis_version", "benefit_basis",
                    ["connector", "employer", "employment_source_id", "scheme", "reference_date", "recorded_at"],
                    unique=True)
    op.create_index("ix_benefit_basis_current", "benefit_basis", ["employer", "connector", "superseded_at"])


def downgrade() -> None:
    op.drop_index("ix_benefit_basis_current", table_name="benefit_basis")
    op.drop_index("ux_benefit_basis_version", table_name="benefit_basis")
    op.drop_table("benefit_basis")
    op.drop_index("ux_benefit_scheme_version", table_name="benefit_scheme")
    op.drop_table("benefit_scheme")
    op.drop_index("ux_benefit_parameter_version", table_name="benefit_parameter")
    op.drop_table("benefit_parameter")
