"""The CA registry kept in the store: :class:`~lienthong.pki.ca.CertificateRegistry` over the
``certificates`` table, so every issuance and revocation is durable and shared by every
process that serves the CA (the command line, ``lienthong ca serve``)."""

from __future__ import annotations

from collections.abc import Iterable

from cryptography import x509
from sqlalchemy import Engine

from lienthong.pki.ca import CertificateRecord, CertStatus
from lienthong.pki.profiles import Profile
from lienthong.store.certificates import CertificateRepository, StoredCertificate


class StoreRegistry:
    """Records in the database; each call runs in its own short transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, record: CertificateRecord) -> None:
        """Insert a newly issued certificate."""
        with self.engine.begin() as connection:
            CertificateRepository(connection).add(_to_row(record))

    def get(self, issuer: str, serial: int) -> CertificateRecord | None:
        """The record, if any."""
        with self.engine.connect() as connection:
            row = CertificateRepository(connection).get(issuer, serial)
        return None if row is None else _to_record(row)

    def update(self, record: CertificateRecord) -> None:
        """Store a new status (revocation, hold, resume, replacement)."""
        with self.engine.begin() as connection:
            CertificateRepository(connection).update_status(
                record.issuer,
                record.serial,
                status=record.status.value,
                revoked_at=record.revoked_at,
                reason=record.reason.value if record.reason else None,
                replaced_by=record.replaced_by,
            )

    def not_good(self, issuer: str) -> Iterable[CertificateRecord]:
        """Revoked and held certificates of ``issuer``."""
        with self.engine.connect() as connection:
            rows = CertificateRepository(connection).not_good(issuer)
        return [_to_record(row) for row in rows]

    def next_crl_number(self, issuer: str) -> int:
        """The next CRL number, durably."""
        with self.engine.begin() as connection:
            return CertificateRepository(connection).next_crl_number(issuer)


def _to_row(record: CertificateRecord) -> StoredCertificate:
    return StoredCertificate(
        issuer=record.issuer,
        serial=record.serial,
        profile=record.profile.value,
        subject=record.subject,
        agency_code=record.agency_code,
        not_before=record.not_before,
        not_after=record.not_after,
        pem=record.pem.decode("ascii"),
        status=record.status.value,
        revoked_at=record.revoked_at,
        reason=record.reason.value if record.reason else None,
        replaced_by=record.replaced_by,
        issued_at=record.not_before,
    )


def _to_record(row: StoredCertificate) -> CertificateRecord:
    return CertificateRecord(
        serial=row.serial,
        issuer=row.issuer,
        profile=Profile(row.profile),
        subject=row.subject,
        agency_code=row.agency_code,
        not_before=row.not_before,
        not_after=row.not_after,
        pem=row.pem.encode("ascii"),
        status=CertStatus(row.status),
        revoked_at=row.revoked_at,
        reason=x509.ReasonFlags(row.reason) if row.reason else None,
        replaced_by=row.replaced_by,
    )
