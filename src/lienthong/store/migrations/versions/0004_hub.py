"""The hub: connected systems, deliveries, status history, events; agency contacts and
package routing columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 00:00:00+00:00

Written for both SQLite and PostgreSQL. Migrations are frozen in time: spell out types and
constraint names here (op.f("…")) instead of importing lienthong.store.schema. SQLite alters
``packages`` and ``agencies`` in batch mode (a table rebuild).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[Any]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Add the hub's tables and columns."""
    with op.batch_alter_table("agencies") as batch:
        batch.add_column(sa.Column("telephone", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("address", sa.String(length=255), nullable=True))

    with op.batch_alter_table("packages") as batch:
        batch.add_column(sa.Column("idem_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("business", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("original_id", _id(), nullable=True))
        batch.add_column(sa.Column("status_code", sa.String(length=2), nullable=True))
        batch.add_column(sa.Column("promulgation_date", sa.Date(), nullable=True))
        batch.add_column(sa.Column("priority", sa.SmallInteger(), nullable=True))
        batch.add_column(sa.Column("late", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("report", sa.Text(), nullable=True))
        batch.create_unique_constraint(
            op.f("uq_packages_sender_code_idem_key"), ["sender_code", "idem_key"]
        )
        batch.create_foreign_key(
            op.f("fk_packages_original_id_packages"), "packages", ["original_id"], ["id"]
        )
        batch.create_index("ix_packages_sender_code_id", ["sender_code", "id"], unique=False)
        batch.create_index("ix_packages_original_id", ["original_id"], unique=False)

    op.create_table(
        "hub_systems",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=True),
        sa.Column("cert_sha256", sa.String(length=64), nullable=True),
        sa.Column("operator", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system_id", name=op.f("pk_hub_systems")),
        sa.UniqueConstraint("cert_sha256", name=op.f("uq_hub_systems_cert_sha256")),
    )
    op.create_table(
        "hub_system_agencies",
        sa.Column("system_id", sa.String(length=64), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["system_id"],
            ["hub_systems.system_id"],
            name=op.f("fk_hub_system_agencies_system_id_hub_systems"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_code"],
            ["agencies.code"],
            name=op.f("fk_hub_system_agencies_agency_code_agencies"),
        ),
        sa.PrimaryKeyConstraint("system_id", "agency_code", name=op.f("pk_hub_system_agencies")),
    )
    op.create_index(
        op.f("ix_hub_system_agencies_agency_code"),
        "hub_system_agencies",
        ["agency_code"],
        unique=False,
    )
    op.create_table(
        "deliveries",
        sa.Column("package_id", _id(), nullable=False),
        sa.Column("recipient_code", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("routed_from", sa.String(length=32), nullable=True),
        sa.Column("registration_due", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("current_status", sa.String(length=2), nullable=True),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'fetched', 'done', 'failed')", name=op.f("ck_deliveries_state")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_deliveries_attempts_not_negative")),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_deliveries_package_id_packages")
        ),
        sa.PrimaryKeyConstraint("package_id", "recipient_code", name=op.f("pk_deliveries")),
    )
    op.create_index("ix_deliveries_inbox", "deliveries", ["recipient_code", "state", "package_id"])
    op.create_index("ix_deliveries_registration_due", "deliveries", ["registration_due"])
    op.create_table(
        "status_history",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("package_id", _id(), nullable=False),
        sa.Column("recipient_code", sa.String(length=32), nullable=False),
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=32), nullable=False),
        sa.Column("status_package_id", _id(), nullable=False),
        sa.Column("findings", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"], ["packages.id"], name=op.f("fk_status_history_package_id_packages")
        ),
        sa.ForeignKeyConstraint(
            ["status_package_id"],
            ["packages.id"],
            name=op.f("fk_status_history_status_package_id_packages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_history")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_status_history_package_id_recipient_code",
        "status_history",
        ["package_id", "recipient_code"],
    )
    op.create_table(
        "hub_events",
        sa.Column("seq", _id(), autoincrement=True, nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("package_id", _id(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_hub_events")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_hub_events_agency_code_seq", "hub_events", ["agency_code", "seq"])


def downgrade() -> None:
    """Drop the hub's tables and columns."""
    op.drop_index("ix_hub_events_agency_code_seq", table_name="hub_events")
    op.drop_table("hub_events")
    op.drop_index("ix_status_history_package_id_recipient_code", table_name="status_history")
    op.drop_table("status_history")
    op.drop_index("ix_deliveries_registration_due", table_name="deliveries")
    op.drop_index("ix_deliveries_inbox", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_hub_system_agencies_agency_code"), table_name="hub_system_agencies")
    op.drop_table("hub_system_agencies")
    op.drop_table("hub_systems")
    with op.batch_alter_table("packages") as batch:
        batch.drop_index("ix_packages_original_id")
        batch.drop_index("ix_packages_sender_code_id")
        batch.drop_constraint(op.f("fk_packages_original_id_packages"), type_="foreignkey")
        batch.drop_constraint(op.f("uq_packages_sender_code_idem_key"), type_="unique")
        for column in (
            "report", "late", "priority", "promulgation_date", "status_code", "original_id",
            "business", "idem_key",
        ):  # fmt: skip
            batch.drop_column(column)
    with op.batch_alter_table("agencies") as batch:
        batch.drop_column("address")
        batch.drop_column("telephone")
