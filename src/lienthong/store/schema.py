"""The tables (bảng dữ liệu), as SQLAlchemy Core metadata shared by SQLite and PostgreSQL.

This module is the source of truth for the schema; the hand-written Alembic migrations under
``migrations/versions`` must produce exactly these tables, which ``tests/store/test_migrations.py``
checks on both engines. Constraint names come from :data:`NAMING_CONVENTION`, so that a later
migration can address a constraint by a name that is the same on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: Deterministic constraint names (PostgreSQL limits names to 63 bytes; ours stay well under).
NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_N_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata: Final = sa.MetaData(naming_convention=NAMING_CONVENTION)

#: Agency statuses: ``active`` (đang hoạt động) or ``retired`` (đã giải thể / sáp nhập).
AGENCY_STATUSES: Final = ("active", "retired")

#: Package kinds: an edXML ``document`` package (gói tin văn bản) or a ``status`` package
#: (gói tin trạng thái).
PACKAGE_KINDS: Final = ("document", "status")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp stored in UTC and always read back tz-aware in UTC.

    PostgreSQL keeps ``timestamptz`` natively; SQLite keeps text without an offset, so we
    convert to UTC before writing and attach UTC after reading. Naive datetimes are refused:
    a time without a zone is ambiguous in a system that spans the country and its servers.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to UTC; refuse a naive one."""
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            msg = f"naive datetime {value.isoformat()} given; timestamps must be timezone-aware"
            raise ValueError(msg)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return the stored value as an aware datetime in UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    listed = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({listed})"


#: Agencies (cơ quan, tổ chức) known to the system, keyed by their identification code
#: (mã định danh, e.g. ``000.00.00.G22``) or by a legacy opaque id from older systems.
agencies: Final = sa.Table(
    "agencies",
    metadata,
    sa.Column("code", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    # 1..4 for a standard code; NULL for a legacy id whose level cannot be read from it.
    sa.Column("level", sa.SmallInteger, nullable=True),
    sa.Column("parent_code", sa.String(32), sa.ForeignKey("agencies.code"), index=True),
    sa.Column("status", sa.String(16), nullable=False),
    # An agency merged or renamed points to the one that now receives its documents.
    sa.Column("successor_code", sa.String(32), sa.ForeignKey("agencies.code")),
    sa.Column("email", sa.String(254)),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("status", AGENCY_STATUSES), name="status"),
    sa.CheckConstraint("successor_code IS NULL OR status = 'retired'", name="successor_if_retired"),
    sa.CheckConstraint("parent_code IS NULL OR parent_code <> code", name="not_own_parent"),
    sa.CheckConstraint(
        "successor_code IS NULL OR successor_code <> code", name="not_own_successor"
    ),
)

#: Packages (gói tin) received and stored durably; the content itself is in the blob store
#: under ``sha256``. The unique key is the idempotency key of a send: a resend of the same
#: bytes for the same document by the same sender is the same package.
packages: Final = sa.Table(
    "packages",
    metadata,
    sa.Column(
        "id",
        # SQLite only auto-assigns ids to a column declared exactly INTEGER PRIMARY KEY.
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("document_id", sa.String(255), nullable=False, index=True),
    sa.Column("sender_code", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("stored_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("sender_code", "document_id", "sha256"),
    sa.CheckConstraint(_in("kind", PACKAGE_KINDS), name="kind"),
    sa.CheckConstraint("size >= 0", name="size_not_negative"),
    # Without AUTOINCREMENT SQLite may hand out the id of a deleted last row again; an id
    # given to a sender as a receipt must never name a different package.
    sqlite_autoincrement=True,
)
