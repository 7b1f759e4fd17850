"""The tables (bảng dữ liệu), as SQLAlchemy Core metadata shared by SQLite and PostgreSQL.

This module is the source of truth for the schema; the hand-written Alembic migrations under
``migrations/versions`` must produce exactly these tables, which ``tests/store/test_migrations.py``
checks on both engines. Constraint names come from :data:`NAMING_CONVENTION`, so that a later
migration can address a constraint by a name that is the same on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final

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

#: The hash-chained audit log (nhật ký kiểm toán): who did what to which subject, and when.
#: Each entry's ``hash`` covers its content and the previous entry's hash (``prev_hash``), so an
#: entry edited, moved or deleted in place breaks the chain; ``lienthong.store.audit`` writes and
#: verifies it, and ``docs/audit.md`` gives the formula. ``seq`` is assigned by the writer as the
#: previous ``seq`` + 1 (never by the database), so that a deleted entry leaves a visible gap.
audit_log: Final = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    # An operator, a system component, or a CA as "ca:<name>".
    sa.Column("actor", sa.String(255), nullable=False),
    # What was done, dotted: "ca.issue", "ca.revoke", "config.change", …
    sa.Column("action", sa.String(64), nullable=False),
    # What it was done to: a certificate serial, an agency code, a setting; may be empty.
    sa.Column("subject", sa.String(255), nullable=False),
    # Canonical JSON (sorted keys, no spaces, UTF-8 unescaped), hashed byte for byte.
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sa.CheckConstraint("seq >= 1", name="seq_positive"),
    sa.CheckConstraint("length(hash) = 64 AND length(prev_hash) = 64", name="hash_lengths"),
)

# --------------------------------------------------------------------------- certificates

#: Certificate statuses (trạng thái chứng thư): ``good`` (còn hiệu lực), ``on-hold`` (tạm
#: dừng) or ``revoked`` (thu hồi), as ``lienthong.pki.ca.CertStatus`` spells them.
CERTIFICATE_STATUSES: Final = ("good", "on-hold", "revoked")

#: Request statuses (trạng thái yêu cầu cấp chứng thư): ``pending`` (chờ duyệt), ``issued``
#: (đã cấp) or ``rejected`` (từ chối), as ``lienthong.authority.api.RequestStatus`` spells them.
REQUEST_STATUSES: Final = ("pending", "issued", "rejected")

#: Decimal digits a serial column holds: RFC 5280 §4.1.2.2 allows 20 octets (< 2**160, 49
#: digits), more than BigInteger.
SERIAL_DIGITS: Final = 50


class SerialNumber(TypeDecorator[int]):
    """A certificate serial number (up to 160 bits), read and written as an exact Python ``int``.

    PostgreSQL keeps it as ``NUMERIC(50, 0)``. SQLite cannot: its NUMERIC affinity turns an
    integer beyond 64 bits into a REAL and keeps 15 significant digits. There it is text, the
    decimal digits zero-padded to :data:`SERIAL_DIGITS`, so that equality is exact and text
    order is numeric order.
    """

    impl = sa.Numeric(SERIAL_DIGITS, 0)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        """``VARCHAR(50)`` on SQLite, ``NUMERIC(50, 0)`` elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(SERIAL_DIGITS))
        return dialect.type_descriptor(sa.Numeric(SERIAL_DIGITS, 0))

    def process_bind_param(self, value: int | None, dialect: Dialect) -> Any:
        """An exact ``Decimal`` (PostgreSQL) or zero-padded digits (SQLite)."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"serial must be an int, not {type(value).__name__}"
            raise TypeError(msg)
        if not 0 <= value < 10**SERIAL_DIGITS:
            msg = f"serial {value} out of range"
            raise ValueError(msg)
        if dialect.name == "sqlite":
            return f"{value:0{SERIAL_DIGITS}d}"
        return Decimal(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        """The stored value as an ``int``."""
        if value is None:
            return None
        return int(value)


#: Certificate authorities (tổ chức cung cấp dịch vụ chứng thực) this installation runs: the
#: root and its delegated CAs. ``key_ref`` says where the signing key is (``file:…``,
#: ``pkcs11:…``); key material never enters the database.
certificate_authorities: Final = sa.Table(
    "certificate_authorities",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("certificate_pem", sa.Text, nullable=False),
    # NULL for a root CA.
    sa.Column("parent_name", sa.String(64), sa.ForeignKey("certificate_authorities.name")),
    # Comma-separated level-1 agency codes a delegated CA may issue for (e.g. "H41"); NULL: any.
    sa.Column("scope", sa.String(255)),
    sa.Column("key_ref", sa.String(512), nullable=False),
    # Where its CRL, OCSP and issuer certificate are served (the CA's name is appended); issued
    # certificates carry these URLs, so they must stay the same for the CA's lifetime.
    sa.Column("base_url", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint("parent_name IS NULL OR parent_name <> name", name="not_own_parent"),
)

#: Certificates (chứng thư số) issued by our CAs, with their revocation state (for CRL and
#: OCSP). The key is (issuer, serial): serials are unique per CA (RFC 5280 §4.1.2.2).
certificates: Final = sa.Table(
    "certificates",
    metadata,
    sa.Column(
        "issuer", sa.String(64), sa.ForeignKey("certificate_authorities.name"), primary_key=True
    ),
    sa.Column("serial", SerialNumber(), primary_key=True, autoincrement=False),
    sa.Column("profile", sa.String(32), nullable=False),
    # RFC 4514 string.
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("agency_code", sa.String(32), index=True),
    sa.Column("not_before", UTCDateTime(), nullable=False),
    sa.Column("not_after", UTCDateTime(), nullable=False),
    sa.Column("pem", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("revoked_at", UTCDateTime()),
    # The RFC 5280 §5.3.1 reason as cryptography's ReasonFlags values spell it ("keyCompromise").
    sa.Column("reason", sa.String(32)),
    # The serial (same issuer) of the renewal or transfer that followed this certificate.
    sa.Column("replaced_by", SerialNumber()),
    sa.Column("issued_at", UTCDateTime(), nullable=False),
    sa.CheckConstraint(_in("status", CERTIFICATE_STATUSES), name="status"),
    sa.CheckConstraint(
        "(status = 'good' AND revoked_at IS NULL AND reason IS NULL)"
        " OR (status <> 'good' AND revoked_at IS NOT NULL AND reason IS NOT NULL)",
        name="revocation_iff_not_good",
    ),
)

#: The last CRL number (số CRL) each CA used: RFC 5280 §5.2.3 wants it strictly increasing.
crl_numbers: Final = sa.Table(
    "crl_numbers",
    metadata,
    sa.Column(
        "issuer", sa.String(64), sa.ForeignKey("certificate_authorities.name"), primary_key=True
    ),
    sa.Column("last_number", sa.BigInteger, nullable=False),
    sa.CheckConstraint("last_number >= 1", name="last_number_positive"),
)

#: Online certificate requests (yêu cầu cấp chứng thư): a CSR and who it is for, waiting for an
#: operator to issue or reject it.
certificate_requests: Final = sa.Table(
    "certificate_requests",
    metadata,
    sa.Column(
        "id",
        # SQLite only auto-assigns ids to a column declared exactly INTEGER PRIMARY KEY.
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("ca", sa.String(64), sa.ForeignKey("certificate_authorities.name"), nullable=False),
    sa.Column("profile", sa.String(32), nullable=False),
    sa.Column("csr_pem", sa.Text, nullable=False),
    sa.Column("agency_code", sa.String(32), nullable=False),
    sa.Column("agency_name", sa.String(255), nullable=False),
    # Person certificates only.
    sa.Column("full_name", sa.String(255)),
    sa.Column("title", sa.String(255)),
    sa.Column("citizen_id", sa.String(32)),
    sa.Column("province", sa.String(255)),
    sa.Column("requested_by", sa.String(255), nullable=False),
    sa.Column("requested_at", UTCDateTime(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_by", sa.String(255)),
    sa.Column("decided_at", UTCDateTime()),
    # Why it was rejected.
    sa.Column("reason", sa.Text),
    # The certificate issued for it (issuer: ``ca``).
    sa.Column("serial", SerialNumber()),
    sa.CheckConstraint(_in("status", REQUEST_STATUSES), name="status"),
    sa.CheckConstraint(
        "(status = 'pending' AND decided_by IS NULL AND decided_at IS NULL)"
        " OR (status <> 'pending' AND decided_by IS NOT NULL AND decided_at IS NOT NULL)",
        name="decided_iff_not_pending",
    ),
    sa.CheckConstraint("serial IS NULL OR status = 'issued'", name="serial_if_issued"),
    # Without AUTOINCREMENT SQLite may reuse the id of a deleted last row.
    sqlite_autoincrement=True,
)

# --------------------------------------------------------------------------- the hub (issue 5)
# Migration 0004 adds these, and extends ``agencies`` and ``packages`` with nullable columns
# (rows written before the hub existed, or by ``PackageRepository.record``, leave them NULL).

#: Delivery states (trạng thái chuyển phát) of one package to one recipient, as
#: ``lienthong.hub.api.DeliveryState`` spells them (``held`` and ``refused``: migration 0005).
DELIVERY_STATES: Final = ("held", "queued", "fetched", "done", "failed", "refused")

#: The background PDF check of a package (migration 0005): ``pending`` until verified, then
#: ``checked``; NULL when the hub does not check it in the background (status packages, other
#: modes, rows written before 0005).
PDF_STATES: Final = ("pending", "checked")

agencies.append_column(sa.Column("telephone", sa.String(64)))
agencies.append_column(sa.Column("address", sa.String(255)))

# What the hub knows of a package beyond its bytes. ``idem_key`` is the idempotency key of a
# send (SHA-256 hex of what makes two sends "the same", see lienthong.hub.service): unique per
# sender. ``business`` is BussinessDocType 0..3 (NULL for a status package), ``original_id``
# the package a revoke/update/replace or a status refers to, ``report`` the validation report
# (JSON), ``late`` whether it was sent after the legal limit following ``promulgation_date``.
packages.append_column(sa.Column("idem_key", sa.String(64)))
packages.append_column(sa.Column("business", sa.String(2)))
packages.append_column(
    sa.Column(
        "original_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("packages.id"),
    )
)
packages.append_column(sa.Column("status_code", sa.String(2)))
packages.append_column(sa.Column("promulgation_date", sa.Date))
packages.append_column(sa.Column("priority", sa.SmallInteger))
packages.append_column(sa.Column("late", sa.Boolean))
packages.append_column(sa.Column("report", sa.Text))
packages.append_constraint(sa.UniqueConstraint("sender_code", "idem_key"))
sa.Index("ix_packages_sender_code_id", packages.c.sender_code, packages.c.id)
sa.Index("ix_packages_original_id", packages.c.original_id)
# Migration 0005: the background PDF check (kiểm tra chữ ký PDF). ``pdf_claimed_until`` is the
# lease of the hub process verifying it (another process takes it over once it has passed).
# The partial index holds only the pending packages: the scan stays cheap with millions stored.
packages.append_column(sa.Column("pdf_state", sa.String(16)))
packages.append_column(sa.Column("pdf_claimed_until", UTCDateTime()))
packages.append_constraint(sa.CheckConstraint(_in("pdf_state", PDF_STATES), name="pdf_state"))
sa.Index(
    "ix_packages_pdf_pending",
    packages.c.id,
    sqlite_where=packages.c.pdf_state == "pending",
    postgresql_where=packages.c.pdf_state == "pending",
)

#: Connected systems (hệ thống kết nối): a ministry's or province's software acting for a set
#: of agencies. ``secret`` is the VDXP HMAC key and must be kept in clear (the hub recomputes
#: the HMAC); ``cert_sha256`` the SHA-256 fingerprint (hex) of the organisation certificate
#: that authenticates the system on our ``/v1`` API.
hub_systems: Final = sa.Table(
    "hub_systems",
    metadata,
    sa.Column("system_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("secret", sa.String(255)),
    sa.Column("cert_sha256", sa.String(64), unique=True),
    sa.Column("operator", sa.Boolean, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

#: Which agencies each system acts for.
hub_system_agencies: Final = sa.Table(
    "hub_system_agencies",
    metadata,
    sa.Column("system_id", sa.String(64), sa.ForeignKey("hub_systems.system_id"), primary_key=True),
    sa.Column(
        "agency_code", sa.String(32), sa.ForeignKey("agencies.code"), primary_key=True, index=True
    ),
)

#: One package to one recipient agency (chuyển phát): its state, attempts, when it was fetched
#: and acknowledged. ``routed_from`` is the retired code the sender addressed, when the hub
#: routed to its successor. ``registration_due`` is the legal limit for status 03,
#: ``registered_at`` when 03 arrived, ``current_status`` the derived processing status.
deliveries: Final = sa.Table(
    "deliveries",
    metadata,
    sa.Column(
        "package_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("packages.id"),
        primary_key=True,
    ),
    sa.Column("recipient_code", sa.String(32), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("queued_at", UTCDateTime(), nullable=False),
    sa.Column("fetched_at", UTCDateTime()),
    sa.Column("acknowledged_at", UTCDateTime()),
    sa.Column("reason", sa.Text),
    sa.Column("routed_from", sa.String(32)),
    sa.Column("registration_due", UTCDateTime()),
    sa.Column("registered_at", UTCDateTime()),
    sa.Column("current_status", sa.String(2)),
    # When both sides were told that this delivery is late (once).
    sa.Column("reminded_at", UTCDateTime()),
    sa.CheckConstraint(_in("state", DELIVERY_STATES), name="state"),
    sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    # The inbox query: one recipient's open deliveries in package order (flat up to 1 M rows).
    sa.Index("ix_deliveries_inbox", "recipient_code", "state", "package_id"),
    sa.Index("ix_deliveries_registration_due", "registration_due"),
)

#: Every status (phản hồi trạng thái) reported for a delivery, in arrival order.
status_history: Final = sa.Table(
    "status_history",
    metadata,
    sa.Column(
        "id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column(
        "package_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("packages.id"),
        nullable=False,
    ),
    sa.Column("recipient_code", sa.String(32), nullable=False),
    sa.Column("code", sa.String(2), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reported_by", sa.String(32), nullable=False),
    sa.Column(
        "status_package_id",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        sa.ForeignKey("packages.id"),
        nullable=False,
    ),
    # Comma-separated status.* finding codes (out of order, duplicate, …).
    sa.Column("findings", sa.String(255), nullable=False),
    sa.Index("ix_status_history_package_id_recipient_code", "package_id", "recipient_code"),
    sqlite_autoincrement=True,
)

#: What each agency should learn of at once (SSE / long-poll), numbered for resumption.
hub_events: Final = sa.Table(
    "hub_events",
    metadata,
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("agency_code", sa.String(32), nullable=False),
    # package, status, delivery, notice
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("package_id", sa.BigInteger().with_variant(sa.Integer, "sqlite")),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("detail", sa.Text),
    sa.Index("ix_hub_events_agency_code_seq", "agency_code", "seq"),
    sqlite_autoincrement=True,
)
