"""Audit log: the hash-chained record of who did what (nhật ký kiểm toán).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 09:00:00+00:00

Written for both SQLite and PostgreSQL. Migrations are frozen in time: spell out types and
constraint names here (op.f("…")) instead of importing lienthong.store.schema.

Downgrading drops the table and with it the audit trail: export it first (see docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``audit_log``."""
    op.create_table(
        "audit_log",
        # Assigned by the writer (previous seq + 1), never by the database: no autoincrement.
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("seq >= 1", name=op.f("ck_audit_log_seq_positive")),
        sa.CheckConstraint(
            "length(hash) = 64 AND length(prev_hash) = 64", name=op.f("ck_audit_log_hash_lengths")
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_audit_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_audit_log_hash")),
    )


def downgrade() -> None:
    """Drop ``audit_log``."""
    op.drop_table("audit_log")
