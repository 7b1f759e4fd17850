"""Certificates: the CAs, what they issued and its revocation state, CRL numbers, requests.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:00:00+00:00

Written for both SQLite and PostgreSQL. Migrations are frozen in time: spell out types and
constraint names here (op.f("…")) instead of importing lienthong.store.schema.

Serial numbers (up to 160 bits, RFC 5280 §4.1.2.2) are NUMERIC(50, 0) on PostgreSQL and
VARCHAR(50) of zero-padded digits on SQLite, whose NUMERIC affinity would round them to a REAL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _serial() -> sa.types.TypeEngine[Any]:
    return sa.Numeric(precision=50, scale=0).with_variant(sa.String(length=50), "sqlite")


def upgrade() -> None:
    """Create ``certificate_authorities``, ``certificates``, ``crl_numbers``, requests."""
    op.create_table(
        "certificate_authorities",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("parent_name", sa.String(length=64), nullable=True),
        sa.Column("scope", sa.String(length=255), nullable=True),
        sa.Column("key_ref", sa.String(length=512), nullable=False),
        sa.Column("base_url", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "parent_name IS NULL OR parent_name <> name",
            name=op.f("ck_certificate_authorities_not_own_parent"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_name"],
            ["certificate_authorities.name"],
            name=op.f("fk_certificate_authorities_parent_name_certificate_authorities"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_certificate_authorities")),
    )

    op.create_table(
        "certificates",
        sa.Column("issuer", sa.String(length=64), nullable=False),
        sa.Column("serial", _serial(), autoincrement=False, nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=True),
        sa.Column("not_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pem", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("replaced_by", _serial(), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('good', 'on-hold', 'revoked')", name=op.f("ck_certificates_status")
        ),
        sa.CheckConstraint(
            "(status = 'good' AND revoked_at IS NULL AND reason IS NULL)"
            " OR (status <> 'good' AND revoked_at IS NOT NULL AND reason IS NOT NULL)",
            name=op.f("ck_certificates_revocation_iff_not_good"),
        ),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["certificate_authorities.name"],
            name=op.f("fk_certificates_issuer_certificate_authorities"),
        ),
        sa.PrimaryKeyConstraint("issuer", "serial", name=op.f("pk_certificates")),
    )
    op.create_index(
        op.f("ix_certificates_agency_code"), "certificates", ["agency_code"], unique=False
    )

    op.create_table(
        "crl_numbers",
        sa.Column("issuer", sa.String(length=64), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("last_number >= 1", name=op.f("ck_crl_numbers_last_number_positive")),
        sa.ForeignKeyConstraint(
            ["issuer"],
            ["certificate_authorities.name"],
            name=op.f("fk_crl_numbers_issuer_certificate_authorities"),
        ),
        sa.PrimaryKeyConstraint("issuer", name=op.f("pk_crl_numbers")),
    )

    op.create_table(
        "certificate_requests",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("ca", sa.String(length=64), nullable=False),
        sa.Column("profile", sa.String(length=32), nullable=False),
        sa.Column("csr_pem", sa.Text(), nullable=False),
        sa.Column("agency_code", sa.String(length=32), nullable=False),
        sa.Column("agency_name", sa.String(length=255), nullable=False),
        sa.Column("full_name", sa.String(length=255), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("citizen_id", sa.String(length=32), nullable=True),
        sa.Column("province", sa.String(length=255), nullable=True),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("serial", _serial(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'issued', 'rejected')",
            name=op.f("ck_certificate_requests_status"),
        ),
        sa.CheckConstraint(
            "(status = 'pending' AND decided_by IS NULL AND decided_at IS NULL)"
            " OR (status <> 'pending' AND decided_by IS NOT NULL AND decided_at IS NOT NULL)",
            name=op.f("ck_certificate_requests_decided_iff_not_pending"),
        ),
        sa.CheckConstraint(
            "serial IS NULL OR status = 'issued'",
            name=op.f("ck_certificate_requests_serial_if_issued"),
        ),
        sa.ForeignKeyConstraint(
            ["ca"],
            ["certificate_authorities.name"],
            name=op.f("fk_certificate_requests_ca_certificate_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_requests")),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    """Drop the request, CRL number, certificate and CA tables."""
    op.drop_table("certificate_requests")
    op.drop_table("crl_numbers")
    op.drop_index(op.f("ix_certificates_agency_code"), table_name="certificates")
    op.drop_table("certificates")
    op.drop_table("certificate_authorities")
