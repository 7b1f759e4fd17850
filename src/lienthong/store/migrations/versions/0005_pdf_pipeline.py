"""The background PDF check: ``packages.pdf_state`` and its lease, the delivery states ``held``
(chờ kiểm tra chữ ký) and ``refused`` (từ chối theo chính sách chữ ký PDF).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 02:00:00+00:00

Written for both SQLite and PostgreSQL. Frozen in time like the others: types, constraint and
index names spelled out here. SQLite changes the CHECK constraint of ``deliveries`` and adds
the columns of ``packages`` in batch mode (a table rebuild); PostgreSQL alters in place.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATES = "state IN ('queued', 'fetched', 'done', 'failed')"
_NEW_STATES = "state IN ('held', 'queued', 'fetched', 'done', 'failed', 'refused')"
_PENDING = sa.text("pdf_state = 'pending'")


def upgrade() -> None:
    """Add the PDF check's columns and index; allow the new delivery states."""
    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("pdf_state", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("pdf_claimed_until", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_packages_pdf_state"), "pdf_state IN ('pending', 'checked')"
        )
    # Only the pending packages are in it: the pipeline's scan does not grow with the table.
    op.create_index(
        "ix_packages_pdf_pending",
        "packages",
        ["id"],
        unique=False,
        sqlite_where=_PENDING,
        postgresql_where=_PENDING,
    )
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("ck_deliveries_state"), type_="check")
        batch.create_check_constraint(op.f("ck_deliveries_state"), _NEW_STATES)


def downgrade() -> None:
    """Back to 0004: held deliveries become queued (delivered unchecked), refused ones failed."""
    op.execute("UPDATE deliveries SET state = 'queued' WHERE state = 'held'")
    op.execute("UPDATE deliveries SET state = 'failed' WHERE state = 'refused'")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_constraint(op.f("ck_deliveries_state"), type_="check")
        batch.create_check_constraint(op.f("ck_deliveries_state"), _OLD_STATES)
    op.drop_index("ix_packages_pdf_pending", table_name="packages")
    with op.batch_alter_table("packages") as batch:
        batch.drop_constraint(op.f("ck_packages_pdf_state"), type_="check")
        batch.drop_column("pdf_claimed_until")
        batch.drop_column("pdf_state")
