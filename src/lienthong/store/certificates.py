"""What the certificate authorities remember (lưu trữ của CA): CAs, issued certificates and their
revocation state, CRL numbers, and online certificate requests.

Repositories over a SQLAlchemy Core ``Connection``, like :mod:`lienthong.store.repositories`:
they never commit, run writes a constraint may refuse in a statement scope (a SAVEPOINT on
PostgreSQL), and return plain frozen dataclasses. The PKI's own types (``CertificateRecord``,
``ReasonFlags``) stay in ``lienthong.pki``; an adapter there converts. Serial numbers are
Python ``int`` of up to 160 bits, stored exactly
(see :class:`~lienthong.store.schema.SerialNumber`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.engine import statement_scope
from lienthong.store.repositories import _integrity_code, _require_aware
from lienthong.store.schema import (
    CERTIFICATE_STATUSES,
    REQUEST_STATUSES,
    SERIAL_DIGITS,
    certificate_authorities,
    certificate_requests,
    certificates,
    crl_numbers,
)

#: How a ``key_ref`` may start: a path relative to the CA directory, or an RFC 7512 URI.
KEY_REF_SCHEMES = ("file:", "pkcs11:")


@dataclass(frozen=True, slots=True)
class StoredCa:
    """A certificate authority as stored: its certificate and where its key is (never the key)."""

    name: str
    certificate_pem: str
    parent_name: str | None  #: ``None`` for a root CA
    scope: str | None  #: comma-separated level-1 agency codes, e.g. ``"H41,H42"``; ``None``: any
    key_ref: str  #: ``file:root/ca.key.pem`` or ``pkcs11:token=…;object=…``
    base_url: str  #: where its CRL/OCSP/issuer URLs point (the CA's name is appended)
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredCertificate:
    """A certificate a CA issued, with its status (``good``, ``on-hold``, ``revoked``)."""

    issuer: str
    serial: int
    profile: str
    subject: str  #: RFC 4514 string
    agency_code: str | None
    not_before: datetime
    not_after: datetime
    pem: str
    status: str
    revoked_at: datetime | None
    reason: str | None  #: RFC 5280 reason as ``cryptography.x509.ReasonFlags`` values spell it
    replaced_by: int | None  #: serial (same issuer) of the renewal or transfer that followed
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class StoredState:
    """Only the status columns of a certificate."""

    status: str
    revoked_at: datetime | None
    reason: str | None


#: One compiled statement, reused: the responder's per-request read.
_STATES = sa.select(
    certificates.c.serial, certificates.c.status, certificates.c.revoked_at, certificates.c.reason
).where(
    certificates.c.issuer == sa.bindparam("issuer"),
    certificates.c.serial.in_(sa.bindparam("serials", expanding=True)),
)


@dataclass(frozen=True, slots=True)
class StoredRequest:
    """An online certificate request (yêu cầu cấp chứng thư) and its decision."""

    id: int
    ca: str
    profile: str
    csr_pem: str
    agency_code: str
    agency_name: str
    full_name: str | None
    title: str | None
    citizen_id: str | None
    province: str | None
    requested_by: str
    requested_at: datetime
    status: str  #: ``pending``, ``issued`` or ``rejected``
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None  #: why it was rejected
    serial: int | None  #: the certificate issued for it (issuer: ``ca``)


class CaRepository:
    """The certificate authorities: add, look up, list."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(
        self,
        *,
        name: str,
        certificate_pem: str,
        key_ref: str,
        base_url: str,
        created_at: datetime,
        parent_name: str | None = None,
        scope: str | None = None,
    ) -> StoredCa:
        """Insert a CA.

        Raises ``store.conflict`` if ``name`` exists, ``store.bad_reference`` if ``parent_name``
        names no CA, ``usage.bad_argument`` for a ``key_ref`` that is not a reference.
        """
        _require_aware("created_at", created_at)
        if not key_ref.startswith(KEY_REF_SCHEMES):
            # A key reference, never key material: refuse anything else before it is stored.
            raise UsageError(
                "usage.bad_argument", f"key_ref must start with one of {', '.join(KEY_REF_SCHEMES)}"
            )
        if parent_name is not None and parent_name == name:
            raise UsageError("usage.bad_argument", f"CA {name} cannot be its own parent")
        values: dict[str, Any] = {
            "name": name,
            "certificate_pem": certificate_pem,
            "parent_name": parent_name,
            "scope": scope,
            "key_ref": key_ref,
            "base_url": base_url,
            "created_at": created_at,
        }
        with _refusals(self._conn, f"CA {name} (parent {parent_name})"):
            self._conn.execute(sa.insert(certificate_authorities).values(values))
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> StoredCa | None:
        """The CA ``name``, or ``None``."""
        row = (
            self._conn.execute(
                sa.select(certificate_authorities).where(certificate_authorities.c.name == name)
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else _ca(row)

    def list(self) -> list[StoredCa]:
        """Every CA, oldest first (a parent is created before its children)."""
        rows = self._conn.execute(
            sa.select(certificate_authorities).order_by(
                certificate_authorities.c.created_at, certificate_authorities.c.name
            )
        ).mappings()
        return [_ca(row) for row in rows]


class CertificateRepository:
    """Issued certificates, their status, and each CA's CRL number."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(self, row: StoredCertificate) -> None:
        """Insert a newly issued certificate.

        Raises ``store.conflict`` if the issuer already used the serial, ``store.bad_reference``
        if the issuer is no CA.
        """
        _check_certificate(row)
        with _refusals(self._conn, f"certificate {row.serial:x} of {row.issuer}"):
            self._conn.execute(sa.insert(certificates).values(asdict(row)))

    def get(self, issuer: str, serial: int) -> StoredCertificate | None:
        """The certificate ``serial`` of ``issuer``, or ``None``."""
        _check_serial("serial", serial)
        row = (
            self._conn.execute(
                sa.select(certificates).where(
                    certificates.c.issuer == issuer, certificates.c.serial == serial
                )
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else _certificate(row)

    def states(self, issuer: str, serials: Sequence[int]) -> dict[int, StoredState]:
        """Status, revocation time and reason of each of ``serials`` that ``issuer`` issued.

        One small SELECT of three columns (no PEM): what the OCSP responder reads per request.
        A serial that no certificate can have (zero, negative, longer than 20 octets: anyone
        may ask about one) is simply not found.
        """
        storable = [serial for serial in serials if 0 < serial < 10**SERIAL_DIGITS]
        if not storable:
            return {}
        rows = self._conn.execute(_STATES, {"issuer": issuer, "serials": storable}).all()
        return {
            int(row.serial): StoredState(row.status, row.revoked_at, row.reason) for row in rows
        }

    def update_status(
        self,
        issuer: str,
        serial: int,
        *,
        status: str,
        revoked_at: datetime | None,
        reason: str | None,
        replaced_by: int | None,
    ) -> StoredCertificate:
        """Set the status of a certificate (revoke, hold, resume, mark replaced).

        ``revoked_at`` and ``reason`` are given exactly when ``status`` is not ``good``.
        Raises ``store.not_found`` if there is no such certificate.
        """
        _check_status(status, revoked_at, reason)
        _check_serial("serial", serial)
        if replaced_by is not None:
            _check_serial("replaced_by", replaced_by)
        statement = (
            sa.update(certificates)
            .where(certificates.c.issuer == issuer, certificates.c.serial == serial)
            .values(status=status, revoked_at=revoked_at, reason=reason, replaced_by=replaced_by)
        )
        with _refusals(self._conn, f"certificate {serial:x} of {issuer}"):
            updated = self._conn.execute(statement).rowcount
        if updated == 0:
            raise StoreError("store.not_found", f"certificate {serial:x} of {issuer}")
        found = self.get(issuer, serial)
        assert found is not None
        return found

    def not_good(self, issuer: str) -> list[StoredCertificate]:
        """Certificates of ``issuer`` revoked or on hold (what its CRL lists), by serial."""
        rows = self._conn.execute(
            sa.select(certificates)
            .where(certificates.c.issuer == issuer, certificates.c.status != "good")
            .order_by(certificates.c.serial)
        ).mappings()
        return [_certificate(row) for row in rows]

    def by_agency(self, agency_code: str) -> list[StoredCertificate]:
        """Certificates issued for ``agency_code`` (any CA, any status), oldest first."""
        rows = self._conn.execute(
            sa.select(certificates)
            .where(certificates.c.agency_code == agency_code)
            .order_by(certificates.c.issued_at, certificates.c.issuer, certificates.c.serial)
        ).mappings()
        return [_certificate(row) for row in rows]

    def count(self, issuer: str | None = None) -> int:
        """How many certificates are stored (of ``issuer``, if given)."""
        statement = sa.select(sa.func.count()).select_from(certificates)
        if issuer is not None:
            statement = statement.where(certificates.c.issuer == issuer)
        return int(self._conn.execute(statement).scalar_one())

    def next_crl_number(self, issuer: str) -> int:
        """A CRL number greater than any given before for ``issuer`` (RFC 5280 §5.2.3): 1, 2, …

        One atomic statement, so that two processes signing CRLs for the same CA never get the
        same number; durable once the caller commits. ``store.bad_reference`` for an unknown CA.
        """
        with _refusals(self._conn, f"CRL number of {issuer}"):
            return _increment_crl_number(self._conn, issuer)


class RequestRepository:
    """Online certificate requests: add, look up, list, decide once."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(
        self,
        *,
        ca: str,
        profile: str,
        csr_pem: str,
        agency_code: str,
        agency_name: str,
        requested_by: str,
        requested_at: datetime,
        full_name: str | None = None,
        title: str | None = None,
        citizen_id: str | None = None,
        province: str | None = None,
    ) -> StoredRequest:
        """Insert a pending request and return it with its id.

        Raises ``store.bad_reference`` if ``ca`` names no CA.
        """
        _require_aware("requested_at", requested_at)
        values: dict[str, Any] = {
            "ca": ca,
            "profile": profile,
            "csr_pem": csr_pem,
            "agency_code": agency_code,
            "agency_name": agency_name,
            "full_name": full_name,
            "title": title,
            "citizen_id": citizen_id,
            "province": province,
            "requested_by": requested_by,
            "requested_at": requested_at,
            "status": "pending",
        }
        statement = sa.insert(certificate_requests).values(values).returning(certificate_requests)
        with _refusals(self._conn, f"request to CA {ca}"):
            row = self._conn.execute(statement).mappings().one()
        return _request(row)

    def get(self, request_id: int) -> StoredRequest | None:
        """The request ``request_id``, or ``None``."""
        row = (
            self._conn.execute(
                sa.select(certificate_requests).where(certificate_requests.c.id == request_id)
            )
            .mappings()
            .one_or_none()
        )
        return None if row is None else _request(row)

    def list(self, ca: str | None = None, status: str | None = None) -> list[StoredRequest]:
        """Requests (to ``ca``, in ``status``, if given), newest first."""
        statement = sa.select(certificate_requests).order_by(
            certificate_requests.c.requested_at.desc(), certificate_requests.c.id.desc()
        )
        if ca is not None:
            statement = statement.where(certificate_requests.c.ca == ca)
        if status is not None:
            statement = statement.where(certificate_requests.c.status == status)
        return [_request(row) for row in self._conn.execute(statement).mappings()]

    def decide(
        self,
        request_id: int,
        *,
        status: str,
        decided_by: str,
        decided_at: datetime,
        reason: str | None = None,
        serial: int | None = None,
    ) -> StoredRequest:
        """Mark a pending request ``issued`` (with the certificate's ``serial``) or ``rejected``.

        A request is decided once: the UPDATE only matches a pending row, so of two operators
        deciding at the same time exactly one wins (PostgreSQL makes the second wait for the
        first's commit and then re-checks the condition; SQLite serialises writers). The other
        gets ``store.conflict``; ``store.not_found`` if there is no such request.
        """
        if status not in REQUEST_STATUSES or status == "pending":
            raise UsageError("usage.bad_argument", f"decision {status!r}")
        if serial is not None and status != "issued":
            raise UsageError("usage.bad_argument", "only an issued request has a serial")
        if serial is not None:
            _check_serial("serial", serial)
        _require_aware("decided_at", decided_at)
        statement = (
            sa.update(certificate_requests)
            .where(
                certificate_requests.c.id == request_id,
                certificate_requests.c.status == "pending",
            )
            .values(
                status=status,
                decided_by=decided_by,
                decided_at=decided_at,
                reason=reason,
                serial=serial,
            )
        )
        with _refusals(self._conn, f"request {request_id}"):
            row = self._conn.execute(statement.returning(certificate_requests)).mappings().first()
        if row is not None:
            return _request(row)
        found = self.get(request_id)
        if found is None:
            raise StoreError("store.not_found", f"request {request_id}")
        raise StoreError("store.conflict", f"request {request_id} is already {found.status}")


# --------------------------------------------------------------------------- helpers


@contextlib.contextmanager
def _refusals(connection: Connection, what: str) -> Iterator[None]:
    """Run the block in a statement scope; a key refusal becomes ``store.conflict`` or
    ``store.bad_reference``.

    The scope (a SAVEPOINT on PostgreSQL, which would abort the transaction otherwise) keeps
    the caller's transaction usable after a refusal. Other integrity errors (a CHECK
    constraint) are bugs and go up untranslated.
    """
    try:
        with statement_scope(connection):
            yield
    except IntegrityError as exc:
        code = _integrity_code(exc)
        if code is None:
            raise
        raise StoreError(code, what) from exc


def _increment_crl_number(connection: Connection, issuer: str) -> int:
    """``INSERT … ON CONFLICT (issuer) DO UPDATE SET last_number = last_number + 1 RETURNING``.

    The one dialect-specific statement of this module: both engines accept the clause (SQLite
    since 3.35), but SQLAlchemy builds it from each dialect's own ``insert``. PostgreSQL locks
    the row, so concurrent callers are serialised and each sees the other's increment.
    """
    dialect = connection.dialect.name
    insert: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        insert = postgresql.insert(crl_numbers)
    elif dialect == "sqlite":
        insert = sqlite.insert(crl_numbers)
    else:  # pragma: no cover - create_engine accepts only these two
        msg = f"unsupported dialect {dialect}"
        raise NotImplementedError(msg)
    statement = (
        insert.values(issuer=issuer, last_number=1)
        .on_conflict_do_update(
            index_elements=[crl_numbers.c.issuer],
            set_={"last_number": crl_numbers.c.last_number + 1},
        )
        .returning(crl_numbers.c.last_number)
    )
    return int(connection.execute(statement).scalar_one())


def _check_serial(name: str, serial: int) -> None:
    # RFC 5280 §4.1.2.2: positive, at most 20 octets; the column holds 50 digits.
    if isinstance(serial, bool) or not isinstance(serial, int):
        raise UsageError("usage.bad_argument", f"{name} must be an int")
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise UsageError("usage.bad_argument", f"{name} {serial} out of range")


def _check_status(status: str, revoked_at: datetime | None, reason: str | None) -> None:
    if status not in CERTIFICATE_STATUSES:
        raise UsageError("usage.bad_argument", f"certificate status {status!r}")
    if status == "good":
        if revoked_at is not None or reason is not None:
            raise UsageError("usage.bad_argument", "a good certificate has no revocation")
        return
    if revoked_at is None or not reason:
        raise UsageError("usage.bad_argument", f"status {status} needs revoked_at and reason")
    _require_aware("revoked_at", revoked_at)


def _check_certificate(row: StoredCertificate) -> None:
    _check_serial("serial", row.serial)
    if row.replaced_by is not None:
        _check_serial("replaced_by", row.replaced_by)
    _check_status(row.status, row.revoked_at, row.reason)
    for name in ("not_before", "not_after", "issued_at"):
        _require_aware(name, getattr(row, name))


def _ca(row: RowMapping) -> StoredCa:
    return StoredCa(
        name=row["name"],
        certificate_pem=row["certificate_pem"],
        parent_name=row["parent_name"],
        scope=row["scope"],
        key_ref=row["key_ref"],
        base_url=row["base_url"],
        created_at=row["created_at"],
    )


def _certificate(row: RowMapping) -> StoredCertificate:
    return StoredCertificate(
        issuer=row["issuer"],
        serial=int(row["serial"]),
        profile=row["profile"],
        subject=row["subject"],
        agency_code=row["agency_code"],
        not_before=row["not_before"],
        not_after=row["not_after"],
        pem=row["pem"],
        status=row["status"],
        revoked_at=row["revoked_at"],
        reason=row["reason"],
        replaced_by=None if row["replaced_by"] is None else int(row["replaced_by"]),
        issued_at=row["issued_at"],
    )


def _request(row: RowMapping) -> StoredRequest:
    return StoredRequest(
        id=int(row["id"]),
        ca=row["ca"],
        profile=row["profile"],
        csr_pem=row["csr_pem"],
        agency_code=row["agency_code"],
        agency_name=row["agency_name"],
        full_name=row["full_name"],
        title=row["title"],
        citizen_id=row["citizen_id"],
        province=row["province"],
        requested_by=row["requested_by"],
        requested_at=row["requested_at"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        reason=row["reason"],
        serial=None if row["serial"] is None else int(row["serial"]),
    )
