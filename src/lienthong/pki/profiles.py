"""Certificate profiles of the government PKI (hồ sơ chứng thư số).

One function per kind of certificate says what it contains: subject attributes, key usage,
extended key usage, basic constraints, and validity. ``docs/pki-profile.md`` describes the
same profile for people; a test checks every issued certificate against it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from asn1crypto import core
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lienthong.domain.orgcode import AgencyCode, parse_agency_code
from lienthong.pki.oids import (
    AGENCY_ID_PREFIX,
    AGENCY_SCOPE_EXTENSION,
    CITIZEN_ID_PREFIX,
    DOCUMENT_SIGNING,
    ORGANIZATION_IDENTIFIER,
)


class Profile(StrEnum):
    """The kinds of certificate the PKI issues."""

    ROOT_CA = "root-ca"  #: CA gốc
    SUB_CA = "sub-ca"  #: CA được ủy quyền (one per ministry or province)
    ORGANIZATION = "organization"  #: chứng thư số của cơ quan, tổ chức
    PERSON = "person"  #: chứng thư số của cá nhân (leaders, clerks)
    TLS_SERVER = "tls-server"  #: the hub's or a service's TLS certificate
    OCSP_SIGNING = "ocsp-signing"  #: a CA's delegated OCSP responder
    TIMESTAMPING = "timestamping"  #: a CA's RFC 3161 timestamp authority


#: Default validity per profile [ours; configurable per call].
DEFAULT_VALIDITY = {
    Profile.ROOT_CA: timedelta(days=20 * 365),
    Profile.SUB_CA: timedelta(days=10 * 365),
    Profile.ORGANIZATION: timedelta(days=5 * 365),
    Profile.PERSON: timedelta(days=3 * 365),
    Profile.TLS_SERVER: timedelta(days=397),
    Profile.OCSP_SIGNING: timedelta(days=90),
    Profile.TIMESTAMPING: timedelta(days=5 * 365),
}


class AgencyScope(core.SequenceOf):  # type: ignore[misc]  # asn1crypto has no type hints
    """ASN.1 of our scope extension: SEQUENCE OF UTF8String (level-1 agency codes)."""

    _child_spec = core.UTF8String


def scope_extension(level1_codes: Sequence[str]) -> x509.UnrecognizedExtension:
    """The extension that limits a delegated CA to agencies under ``level1_codes``."""
    value = AgencyScope([core.UTF8String(code) for code in level1_codes]).dump()
    return x509.UnrecognizedExtension(AGENCY_SCOPE_EXTENSION, value)


def read_scope(certificate: x509.Certificate) -> tuple[str, ...] | None:
    """The level-1 codes a CA certificate may issue for; ``None`` if it carries no scope."""
    try:
        extension = certificate.extensions.get_extension_for_oid(AGENCY_SCOPE_EXTENSION)
    except x509.ExtensionNotFound:
        return None
    value = extension.value
    assert isinstance(value, x509.UnrecognizedExtension)
    return tuple(str(item.native) for item in AgencyScope.load(value.value))


@dataclass(frozen=True, slots=True)
class OrganizationSubject:
    """Who an organisation certificate names: the agency, by code and name."""

    agency_code: str
    name: str
    province: str | None = None

    def to_name(self) -> x509.Name:
        """The X.509 subject: C=VN, ST, O, CN and the agency code as organizationIdentifier."""
        return _name(
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.STATE_OR_PROVINCE_NAME, self.province),
            (NameOID.ORGANIZATION_NAME, self.name),
            (ORGANIZATION_IDENTIFIER, AGENCY_ID_PREFIX + self.agency_code),
            (NameOID.COMMON_NAME, self.name),
        )


@dataclass(frozen=True, slots=True)
class PersonSubject:
    """Who a personal certificate names: an official, their post and agency."""

    full_name: str
    title: str
    agency_code: str
    agency_name: str
    citizen_id: str | None = None
    province: str | None = None

    def to_name(self) -> x509.Name:
        """C=VN, ST, O (agency), organizationIdentifier, title, CN, UID=CCCD:…"""
        return _name(
            (NameOID.COUNTRY_NAME, "VN"),
            (NameOID.STATE_OR_PROVINCE_NAME, self.province),
            (NameOID.ORGANIZATION_NAME, self.agency_name),
            (ORGANIZATION_IDENTIFIER, AGENCY_ID_PREFIX + self.agency_code),
            (NameOID.TITLE, self.title),
            (NameOID.COMMON_NAME, self.full_name),
            (NameOID.USER_ID, CITIZEN_ID_PREFIX + self.citizen_id if self.citizen_id else None),
        )


def _name(*pairs: tuple[x509.ObjectIdentifier, str | None]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in pairs if value])


def agency_code_of(name: x509.Name) -> str | None:
    """The agency code a subject carries in organizationIdentifier, if any."""
    for attribute in name.get_attributes_for_oid(ORGANIZATION_IDENTIFIER):
        value = str(attribute.value)
        if value.startswith(AGENCY_ID_PREFIX):
            return value[len(AGENCY_ID_PREFIX) :]
    return None


def is_within(agency_code: str, scope: Sequence[str] | None) -> bool:
    """True if ``agency_code`` lies under one of the level-1 codes in ``scope``.

    ``None`` means no restriction (the root CA). A code that is not a standard agency code
    is never within a scope: delegated CAs issue only for real agencies.
    """
    if scope is None:
        return True
    try:
        code: AgencyCode = parse_agency_code(agency_code)
    except ValueError:
        return False
    return code.level1 in scope


def key_usage(
    *, signing: bool = False, ca: bool = False, encipherment: bool = False
) -> x509.KeyUsage:
    """KeyUsage for the profile: document signing adds nonRepudiation (contentCommitment)."""
    return x509.KeyUsage(
        digital_signature=signing or not ca,
        content_commitment=signing,
        key_encipherment=encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


#: Extended key usages per leaf profile.
EXTENDED_KEY_USAGE = {
    # Organisation certificates sign documents and authenticate agency systems to the hub.
    # emailProtection too: NSS (poppler's pdfsig, Firefox, Thunderbird) accepts a PDF or
    # S/MIME signer only with it or no EKU at all; it knows nothing of documentSigning.
    Profile.ORGANIZATION: [
        DOCUMENT_SIGNING,
        ExtendedKeyUsageOID.EMAIL_PROTECTION,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ],
    # Personal certificates sign documents and mail.
    Profile.PERSON: [DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION],
    Profile.TLS_SERVER: [ExtendedKeyUsageOID.SERVER_AUTH],
    Profile.OCSP_SIGNING: [ExtendedKeyUsageOID.OCSP_SIGNING],
    # RFC 3161 §2.3: the only EKU, and critical.
    Profile.TIMESTAMPING: [ExtendedKeyUsageOID.TIME_STAMPING],
}
