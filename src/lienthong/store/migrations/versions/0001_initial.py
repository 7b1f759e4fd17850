"""Initial tables: agencies and packages.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 19:50:00+00:00

Written for both SQLite and PostgreSQL. Migrations are frozen in time: spell out types and
constraint names here (op.f("…")) instead of importing lienthong.store.schema.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create ``agencies`` and ``packages``."""
    op.create_table(
        "agencies",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("level", sa.SmallInteger(), nullable=True),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("successor_code", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'retired')", name=op.f("ck_agencies_status")),
        sa.CheckConstraint(
            "successor_code IS NULL OR status = 'retired'",
            name=op.f("ck_agencies_successor_if_retired"),
        ),
        sa.CheckConstraint(
            "parent_code IS NULL OR parent_code <> code", name=op.f("ck_agencies_not_own_parent")
        ),
        sa.CheckConstraint(
            "successor_code IS NULL OR successor_code <> code",
            name=op.f("ck_agencies_not_own_successor"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_code"], ["agencies.code"], name=op.f("fk_agencies_parent_code_agencies")
        ),
        sa.ForeignKeyConstraint(
            ["successor_code"], ["agencies.code"], name=op.f("fk_agencies_successor_code_agencies")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_agencies")),
    )
    op.create_index(op.f("ix_agencies_parent_code"), "agencies", ["parent_code"], unique=False)

    op.create_table(
        "packages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("document_id", sa.String(length=255), nullable=False),
        sa.Column("sender_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('document', 'status')", name=op.f("ck_packages_kind")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_packages_size_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_packages")),
        sa.UniqueConstraint(
            "sender_code",
            "document_id",
            "sha256",
            name=op.f("uq_packages_sender_code_document_id_sha256"),
        ),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_packages_document_id"), "packages", ["document_id"], unique=False)


def downgrade() -> None:
    """Drop ``packages`` and ``agencies``."""
    op.drop_index(op.f("ix_packages_document_id"), table_name="packages")
    op.drop_table("packages")
    op.drop_index(op.f("ix_agencies_parent_code"), table_name="agencies")
    op.drop_table("agencies")
