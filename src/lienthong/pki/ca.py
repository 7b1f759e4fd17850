"""A certificate authority (tổ chức cung cấp dịch vụ chứng thực): issue, renew, transfer,
suspend, resume, revoke, and publish status as CRLs and OCSP responses.

A :class:`CertificateAuthority` holds its certificate and signing key (loaded once) and a
:class:`CertificateRegistry` that remembers what it issued. A delegated CA carries a scope
(level-1 agency codes) and refuses to issue outside it; verifiers check the same rule with
:func:`check_scope`. Every operation takes ``now``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from lienthong.domain.errors import PkiError
from lienthong.pki.keys import SigningKey
from lienthong.pki.profiles import (
    DEFAULT_VALIDITY,
    EXTENDED_KEY_USAGE,
    OrganizationSubject,
    PersonSubject,
    Profile,
    agency_code_of,
    is_within,
    key_usage,
    read_scope,
    scope_extension,
)
from lienthong.pki.resign import sign_certificate, sign_crl

_SHA256 = hashes.SHA256()
#: Backdating of notBefore, so that a certificate is valid on a verifier whose clock lags.
_BACKDATE = timedelta(minutes=5)


class CertStatus(StrEnum):
    """Where a certificate stands."""

    GOOD = "good"  #: còn hiệu lực
    ON_HOLD = "on-hold"  #: tạm dừng (certificateHold, may be resumed)
    REVOKED = "revoked"  #: thu hồi (final)


@dataclass(frozen=True, slots=True)
class CertificateRecord:
    """What the CA remembers about one certificate it issued."""

    serial: int
    issuer: str  #: the issuing CA's name
    profile: Profile
    subject: str  #: RFC 4514 string
    agency_code: str | None
    not_before: datetime
    not_after: datetime
    pem: bytes
    status: CertStatus = CertStatus.GOOD
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None
    replaced_by: int | None = None  #: the renewal or transfer that followed it

    @property
    def certificate(self) -> x509.Certificate:
        """The certificate itself."""
        return x509.load_pem_x509_certificate(self.pem)


@dataclass(frozen=True, slots=True)
class CertState:
    """Only the status of a certificate: what an OCSP answer needs, cheap to read."""

    status: CertStatus
    revoked_at: datetime | None = None
    reason: x509.ReasonFlags | None = None


class CertificateRegistry(Protocol):
    """Where a CA keeps its records (in memory for tests and demos, the store in service)."""

    def add(self, record: CertificateRecord) -> None:
        """Remember a newly issued certificate."""
        ...

    def get(self, issuer: str, serial: int) -> CertificateRecord | None:
        """The record of ``serial`` issued by ``issuer``, if any."""
        ...

    def states(self, issuer: str, serials: Iterable[int]) -> Mapping[int, CertState]:
        """The status of each of ``serials`` issued by ``issuer`` that exists (one lookup)."""
        ...

    def update(self, record: CertificateRecord) -> None:
        """Replace the record with the same issuer and serial."""
        ...

    def not_good(self, issuer: str) -> Iterable[CertificateRecord]:
        """Records of ``issuer`` that are revoked or on hold (for the CRL)."""
        ...

    def next_crl_number(self, issuer: str) -> int:
        """A CRL number greater than any given before for ``issuer``."""
        ...


@dataclass
class MemoryRegistry:
    """A registry in memory, thread-safe."""

    records: dict[tuple[str, int], CertificateRecord] = field(default_factory=dict)
    crl_numbers: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, record: CertificateRecord) -> None:
        """Remember a newly issued certificate."""
        with self._lock:
            self.records[(record.issuer, record.serial)] = record

    def get(self, issuer: str, serial: int) -> CertificateRecord | None:
        """The record, if any."""
        return self.records.get((issuer, serial))

    def states(self, issuer: str, serials: Iterable[int]) -> Mapping[int, CertState]:
        """The status of each of ``serials`` that exists."""
        found = {}
        for serial in serials:
            record = self.records.get((issuer, serial))
            if record is not None:
                found[serial] = CertState(record.status, record.revoked_at, record.reason)
        return found

    def update(self, record: CertificateRecord) -> None:
        """Replace the record."""
        self.add(record)

    def not_good(self, issuer: str) -> Iterable[CertificateRecord]:
        """Revoked and held records of ``issuer``."""
        return [
            r
            for (i, _), r in list(self.records.items())
            if i == issuer and r.status is not CertStatus.GOOD
        ]

    def next_crl_number(self, issuer: str) -> int:
        """The next CRL number."""
        with self._lock:
            self.crl_numbers[issuer] = self.crl_numbers.get(issuer, 0) + 1
            return self.crl_numbers[issuer]


@dataclass(frozen=True, slots=True)
class StatusUrls:
    """Where relying parties find status: written into every certificate the CA issues."""

    base: str  #: e.g. ``http://127.0.0.1:8088``; the CA's name is appended

    def crl(self, ca_name: str) -> str:
        """The CRL distribution point of ``ca_name``."""
        return f"{self.base}/crl/{ca_name}.crl"

    def ocsp(self, ca_name: str) -> str:
        """The OCSP responder of ``ca_name``."""
        return f"{self.base}/ocsp/{ca_name}"

    def issuer_cert(self, ca_name: str) -> str:
        """Where the CA's own certificate can be fetched (AIA caIssuers)."""
        return f"{self.base}/ca/{ca_name}.crt"


class CertificateAuthority:
    """One CA: the root, or a delegated CA for a ministry or province."""

    def __init__(
        self,
        name: str,
        certificate: x509.Certificate,
        key: SigningKey,
        registry: CertificateRegistry,
        urls: StatusUrls | None = None,
        *,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        self.name = name
        self.certificate = certificate
        self.key = key
        self.registry = registry
        self.urls = urls
        self.chain = tuple(chain)  #: the CA's issuers, nearest first (empty for a root)
        self.scope = read_scope(certificate)  #: ``None``: may issue for any agency
        self._ski = x509.SubjectKeyIdentifier.from_public_key(certificate.public_key())

    # -- issuing ------------------------------------------------------------------------------
    def issue(
        self,
        public_key: CertificateIssuerPublicKeyTypes,
        subject: x509.Name,
        profile: Profile,
        *,
        now: datetime,
        validity: timedelta | None = None,
        scope: Sequence[str] | None = None,
        dns_names: Sequence[str] = (),
    ) -> CertificateRecord:
        """Issue a certificate of ``profile`` for ``public_key``; refuse outside the scope.

        Raises ``pki.out_of_scope`` if the subject's agency code is not under this CA's
        scope, ``pki.bad_request`` if the profile needs an agency code and none is given.
        """
        agency = agency_code_of(subject)
        if profile in (Profile.ORGANIZATION, Profile.PERSON):
            if agency is None:
                raise PkiError("pki.bad_request", f"{profile} certificate without agency code")
            if not is_within(agency, self.scope):
                raise PkiError(
                    "pki.out_of_scope", f"{agency} is outside {self.name} ({self.scope})"
                )
        if profile is Profile.SUB_CA:
            if self.scope is not None or self.certificate_path_length() == 0:
                raise PkiError("pki.bad_request", f"{self.name} may not delegate further")
            if not scope:
                raise PkiError("pki.bad_request", "a delegated CA needs a scope")
        if profile is Profile.ROOT_CA:
            raise PkiError("pki.bad_request", "a root CA is created, not issued")
        lifetime = validity or DEFAULT_VALIDITY[profile]
        not_before = now - _BACKDATE
        # A certificate never outlives its issuer (RFC 5280 §6 would reject it anyway).
        not_after = min(now + lifetime, self.certificate.not_valid_after_utc)
        serial = x509.random_serial_number()
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.certificate.subject)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski),
                critical=False,
            )
        )
        builder = self._profile_extensions(builder, profile, scope=scope, dns_names=dns_names)
        certificate = sign_certificate(builder, self.key, _SHA256)
        record = CertificateRecord(
            serial=serial,
            issuer=self.name,
            profile=profile,
            subject=subject.rfc4514_string(),
            agency_code=agency,
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            pem=certificate.public_bytes(serialization.Encoding.PEM),
        )
        self.registry.add(record)
        return record

    def certificate_path_length(self) -> int | None:
        """The CA's own pathLenConstraint (``None``: unlimited)."""
        constraints = self.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        return constraints.value.path_length

    def _profile_extensions(
        self,
        builder: x509.CertificateBuilder,
        profile: Profile,
        *,
        scope: Sequence[str] | None,
        dns_names: Sequence[str],
    ) -> x509.CertificateBuilder:
        if profile is Profile.SUB_CA:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=True, path_length=0), critical=True
            ).add_extension(key_usage(ca=True), critical=True)
            builder = builder.add_extension(scope_extension(scope or ()), critical=False)
        else:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=False, path_length=None), critical=True
            )
            signing = profile in (Profile.ORGANIZATION, Profile.PERSON, Profile.TIMESTAMPING)
            builder = builder.add_extension(
                key_usage(signing=signing, encipherment=profile is Profile.TLS_SERVER),
                critical=True,
            )
            builder = builder.add_extension(
                x509.ExtendedKeyUsage(EXTENDED_KEY_USAGE[profile]),
                critical=profile is Profile.TIMESTAMPING,
            )
        if profile is Profile.OCSP_SIGNING:
            # RFC 6960 §4.2.2.2.1: relying parties need not check the responder's status.
            builder = builder.add_extension(x509.OCSPNoCheck(), critical=False)
        if profile is Profile.TLS_SERVER and dns_names:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False
            )
        if self.urls is not None and profile is not Profile.OCSP_SIGNING:
            builder = builder.add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier(self.urls.crl(self.name))],
                            None,
                            None,
                            None,
                        )
                    ]
                ),
                critical=False,
            ).add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier(self.urls.ocsp(self.name)),
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier(self.urls.issuer_cert(self.name)),
                        ),
                    ]
                ),
                critical=False,
            )
        return builder

    def issue_organization(
        self,
        public_key: CertificateIssuerPublicKeyTypes,
        subject: OrganizationSubject,
        *,
        now: datetime,
        validity: timedelta | None = None,
    ) -> CertificateRecord:
        """An organisation certificate (chứng thư số cơ quan)."""
        return self.issue(
            public_key, subject.to_name(), Profile.ORGANIZATION, now=now, validity=validity
        )

    def issue_person(
        self,
        public_key: CertificateIssuerPublicKeyTypes,
        subject: PersonSubject,
        *,
        now: datetime,
        validity: timedelta | None = None,
    ) -> CertificateRecord:
        """A personal certificate (chứng thư số cá nhân)."""
        return self.issue(public_key, subject.to_name(), Profile.PERSON, now=now, validity=validity)

    # -- lifecycle ----------------------------------------------------------------------------
    def record(self, serial: int) -> CertificateRecord:
        """The record of a certificate this CA issued; ``pki.unknown_serial`` otherwise."""
        found = self.registry.get(self.name, serial)
        if found is None:
            raise PkiError("pki.unknown_serial", f"{serial:x} was not issued by {self.name}")
        return found

    def revoke(self, serial: int, reason: x509.ReasonFlags, *, now: datetime) -> CertificateRecord:
        """Revoke for good (thu hồi) with an RFC 5280 reason; use :meth:`suspend` for a hold."""
        if reason in (x509.ReasonFlags.certificate_hold, x509.ReasonFlags.remove_from_crl):
            raise PkiError("pki.bad_request", "use suspend/resume for certificateHold")
        current = self.record(serial)
        if current.status is CertStatus.REVOKED:
            raise PkiError("pki.already_revoked", f"{serial:x}")
        updated = replace(current, status=CertStatus.REVOKED, revoked_at=now, reason=reason)
        self.registry.update(updated)
        return updated

    def suspend(self, serial: int, *, now: datetime) -> CertificateRecord:
        """Put on hold (tạm dừng, certificateHold); :meth:`resume` lifts it."""
        current = self.record(serial)
        if current.status is not CertStatus.GOOD:
            raise PkiError("pki.bad_state", f"{serial:x} is {current.status}")
        updated = replace(
            current,
            status=CertStatus.ON_HOLD,
            revoked_at=now,
            reason=x509.ReasonFlags.certificate_hold,
        )
        self.registry.update(updated)
        return updated

    def resume(self, serial: int) -> CertificateRecord:
        """Lift a hold: the certificate is good again and leaves the next CRL."""
        current = self.record(serial)
        if current.status is not CertStatus.ON_HOLD:
            raise PkiError("pki.bad_state", f"{serial:x} is {current.status}")
        updated = replace(current, status=CertStatus.GOOD, revoked_at=None, reason=None)
        self.registry.update(updated)
        return updated

    def renew(
        self,
        serial: int,
        public_key: CertificateIssuerPublicKeyTypes,
        *,
        now: datetime,
        validity: timedelta | None = None,
    ) -> CertificateRecord:
        """Re-key (cấp lại): a new certificate, same subject, for a new key.

        The old certificate is revoked as ``superseded`` once the new one exists.
        """
        old = self.record(serial)
        if old.status is CertStatus.REVOKED:
            raise PkiError("pki.already_revoked", f"{serial:x}")
        new = self.issue(
            public_key, old.certificate.subject, old.profile, now=now, validity=validity
        )
        self._retire(old, new, x509.ReasonFlags.superseded, now)
        return new

    def transfer(
        self,
        serial: int,
        subject: PersonSubject,
        public_key: CertificateIssuerPublicKeyTypes,
        *,
        now: datetime,
        validity: timedelta | None = None,
    ) -> CertificateRecord:
        """An official changes post (điều chuyển): revoke the old personal certificate as
        ``affiliationChanged`` and issue one with the new title and agency, in one step.

        The new certificate is issued first; if that fails (e.g. the new agency is outside
        this CA's scope), the old one stays valid and nothing changes.
        """
        old = self.record(serial)
        if old.profile is not Profile.PERSON:
            raise PkiError("pki.bad_request", "only personal certificates are transferred")
        if old.status is CertStatus.REVOKED:
            raise PkiError("pki.already_revoked", f"{serial:x}")
        new = self.issue_person(public_key, subject, now=now, validity=validity)
        self._retire(old, new, x509.ReasonFlags.affiliation_changed, now)
        return new

    def _retire(
        self,
        old: CertificateRecord,
        new: CertificateRecord,
        reason: x509.ReasonFlags,
        now: datetime,
    ) -> None:
        self.registry.update(
            replace(
                old,
                status=CertStatus.REVOKED,
                revoked_at=now,
                reason=reason,
                replaced_by=new.serial,
            )
        )

    # -- status -------------------------------------------------------------------------------
    def crl(
        self, *, now: datetime, next_update: timedelta = timedelta(days=1)
    ) -> x509.CertificateRevocationList:
        """A full CRL of everything revoked or on hold, valid until ``now + next_update``."""
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.certificate.subject)
            .last_update(now)
            .next_update(now + next_update)
            .add_extension(x509.CRLNumber(self.registry.next_crl_number(self.name)), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(self._ski),
                critical=False,
            )
        )
        for record in self.registry.not_good(self.name):
            assert record.revoked_at is not None
            assert record.reason is not None
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(record.serial)
                .revocation_date(record.revoked_at)
                .add_extension(x509.CRLReason(record.reason), critical=False)
                .build()
            )
            builder = builder.add_revoked_certificate(entry)
        return sign_crl(builder, self.key, _SHA256)


def check_scope(leaf: x509.Certificate, issuer: x509.Certificate) -> None:
    """Verifier's side of the delegation rule: a leaf issued by a scoped CA must name an
    agency under that scope. Raises ``pki.out_of_scope``."""
    scope = read_scope(issuer)
    if scope is None:
        return
    agency = agency_code_of(leaf.subject)
    if agency is None or not is_within(agency, scope):
        raise PkiError("pki.out_of_scope", f"{agency} is outside {scope}")


def create_root(
    name: str,
    key: SigningKey,
    *,
    common_name: str,
    now: datetime,
    validity: timedelta | None = None,
    path_length: int = 1,
) -> x509.Certificate:
    """A self-signed root CA certificate (CA gốc)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lienthong"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public_key = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + (validity or DEFAULT_VALIDITY[Profile.ROOT_CA]))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    del name  # the name is the registry's handle; the subject carries the common name
    return sign_certificate(builder, key, _SHA256)


def ca_subject(common_name: str, *, province: str | None = None) -> x509.Name:
    """Subject of a delegated CA."""
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, "VN")]
    if province:
        attributes.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, province))
    attributes += [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lienthong"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    return x509.Name(attributes)


__all__ = [
    "CertState",
    "CertStatus",
    "CertificateAuthority",
    "CertificateRecord",
    "CertificateRegistry",
    "MemoryRegistry",
    "StatusUrls",
    "ca_subject",
    "check_scope",
    "create_root",
]
