"""person_identity encrypted at rest; person_identity_read audit table

Revision ID: 0009_identity_encryption
Revises: 0008_identity_crosswalk
Create Date: 2026-11-30

The clear ``bsn``/``iban`` columns are replaced by ``bsn_enc``/``iban_enc`` (AES-SIV, sealed in the
pipeline process with the key of ``PAYROLL_IDENTITY_KEYS``; see ``warehouse/identity.py``) and
``key_id``. Existing rows are encrypted by this migration with the current key, then the clear
columns are dropped. ``person_identity_read`` records every read of the clear values (who, which
person_key, when, why); on PostgreSQL only ``benefits_restricted`` may read person_identity and
append to the audit table (no UPDATE/DELETE for anyone but the owner).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_identity_encryption"
down_revision = "0008_identity_crosswalk"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from payroll_etl.warehouse.access import RESTRICTED_ROLE, apply_access_model
    from payroll_etl.warehouse.identity import Keyring

    bind = op.get_bind()
    op.add_column("person_identity", sa.Column(
        "bsn_enc", sa.Text(), nullable=True, comment="AES-SIV of the BSN (warehouse/identity.py); key outside the DB"))
    op.add_column("person_identity", sa.Column("iban_enc", sa.Text(), nullable=True, comment="AES-SIV of the IBAN"))
    op.add_column("person_identity", sa.Column(
        "key_id", sa.String(length=32), nullable=True,
        comment="id of the key in PAYROLL_IDENTITY_KEYS that sealed the row"))
    op.create_table_comment(
        "person_identity",
        "RESTRICTED: the only place the BSN and IBAN are stored, encrypted (read via identity.read_identities).")
    rows = bind.execute(sa.text("SELECT person_key, bsn, iban FROM person_identity")).fetchall()
    if rows:
        keyring = Keyring.load()
        update = sa.text("UPDATE person_identity SET bsn_enc = :b, iban_enc = :i, key_id = :k WHERE person_key = :p")
        bind.execute(update, [{"p": pk, "b": keyring.seal(pk, "bsn", bsn), "i": keyring.seal(pk, "iban", iban),
                               "k": keyring.current} for pk, bsn, iban in rows])
    op.drop_column("person_identity", "bsn")
    op.drop_column("person_identity", "iban")
    if bind.dialect.name == "postgresql":  # DuckDB cannot alter a column's nullability on an indexed table
        op.alter_column("person_identity", "bsn_enc", nullable=False)
        op.alter_column("person_identity", "key_id", nullable=False)
    op.create_table(
        "person_identity_read",
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("reader", sa.Text(), nullable=False, comment="who read: a person or a process"),
        sa.Column("db_user", sa.Text(), nullable=True, comment="the database role of the session (PostgreSQL)"),
        sa.Column("purpose", sa.Text(), nullable=False, comment="why: the legal ground of the read"),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        comment="Audit of every read of clear BSN/IBAN through warehouse.identity.read_identities.",
    )
    op.create_index("ix_person_identity_read_key", "person_identity_read", ["person_key", "read_at"])
    if apply_access_model(bind):
        op.execute(f"GRANT INSERT ON person_identity_read TO {RESTRICTED_ROLE}")


def downgrade() -> None:
    from payroll_etl.warehouse.identity import Keyring

    bind = op.get_bind()
    op.drop_index("ix_person_identity_read_key", table_name="person_identity_read")
    op.drop_table("person_identity_read")
    op.add_column("person_identity", sa.Column("bsn", sa.String(length=9), nullable=True))
    op.add_column("person_identity", sa.Column("iban", sa.String(length=34), nullable=True))
    rows = bind.execute(sa.text("SELECT person_key, bsn_enc, iban_enc FROM person_identity")).fetchall()
    if rows:
        keyring = Keyring.load()
        bind.execute(sa.text("UPDATE person_identity SET bsn = :b, iban = :i WHERE person_key = :p"),
                     [{"p": pk, "b": keyring.open(pk, "bsn", b), "i": keyring.open(pk, "iban", i)} for pk, b, i in rows])
    for column in ("bsn_enc", "iban_enc", "key_id"):
        op.drop_column("person_identity", column)
