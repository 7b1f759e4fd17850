"""The validation report (báo cáo kiểm tra chữ ký): what ``lienthong verify`` found.

Plain frozen dataclasses, with no library type inside (pyHanko's, signxml's and lxml's objects
stay in the modules that use them), so a report can cross process boundaries (the batch
verifier pickles them), be stored, and be written as JSON (:meth:`FileReport.to_dict`).

Each signature gets an indication in the style of ETSI EN 319 102-1 — ``TOTAL_PASSED``,
``TOTAL_FAILED`` or ``INDETERMINATE`` with a sub-indication such as ``HASH_FAILURE`` or
``REVOKED_NO_POE`` — and findings with a catalogue code, so every message exists in Vietnamese
and English. A file's indication is the worst of its signatures' and of its own findings'.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from lienthong.domain.errors import Severity, lookup
from lienthong.pki.profiles import agency_code_of, is_within, read_scope


class Indication(StrEnum):
    """The main indication of ETSI EN 319 102-1 §5.1.3."""

    TOTAL_PASSED = "TOTAL_PASSED"  #: hợp lệ
    TOTAL_FAILED = "TOTAL_FAILED"  #: không hợp lệ
    INDETERMINATE = "INDETERMINATE"  #: chưa xác định được


#: Worst first: how indications combine.
_RANK = {Indication.TOTAL_FAILED: 2, Indication.INDETERMINATE: 1, Indication.TOTAL_PASSED: 0}


class SubIndication(StrEnum):
    """Sub-indications of ETSI EN 319 102-1 Table 5 that this verifier gives."""

    # with TOTAL_FAILED
    FORMAT_FAILURE = "FORMAT_FAILURE"
    HASH_FAILURE = "HASH_FAILURE"
    SIG_CRYPTO_FAILURE = "SIG_CRYPTO_FAILURE"
    REVOKED = "REVOKED"
    # with INDETERMINATE
    SIG_CONSTRAINTS_FAILURE = "SIG_CONSTRAINTS_FAILURE"
    CHAIN_CONSTRAINTS_FAILURE = "CHAIN_CONSTRAINTS_FAILURE"
    CERTIFICATE_CHAIN_GENERAL_FAILURE = "CERTIFICATE_CHAIN_GENERAL_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE = "CRYPTO_CONSTRAINTS_FAILURE"
    CRYPTO_CONSTRAINTS_FAILURE_NO_POE = "CRYPTO_CONSTRAINTS_FAILURE_NO_POE"
    EXPIRED = "EXPIRED"
    NOT_YET_VALID = "NOT_YET_VALID"
    NO_SIGNING_CERTIFICATE_FOUND = "NO_SIGNING_CERTIFICATE_FOUND"
    NO_CERTIFICATE_CHAIN_FOUND = "NO_CERTIFICATE_CHAIN_FOUND"
    REVOKED_NO_POE = "REVOKED_NO_POE"
    REVOKED_CA_NO_POE = "REVOKED_CA_NO_POE"
    OUT_OF_BOUNDS_NO_POE = "OUT_OF_BOUNDS_NO_POE"
    OUT_OF_BOUNDS_NOT_REVOKED = "OUT_OF_BOUNDS_NOT_REVOKED"
    REVOCATION_OUT_OF_BOUNDS_NO_POE = "REVOCATION_OUT_OF_BOUNDS_NO_POE"
    TIMESTAMP_ORDER_FAILURE = "TIMESTAMP_ORDER_FAILURE"
    NO_POE = "NO_POE"
    TRY_LATER = "TRY_LATER"
    SIGNED_DATA_NOT_FOUND = "SIGNED_DATA_NOT_FOUND"
    POLICY_PROCESSING_ERROR = "POLICY_PROCESSING_ERROR"
    SIGNATURE_POLICY_NOT_AVAILABLE = "SIGNATURE_POLICY_NOT_AVAILABLE"
    GENERIC = "GENERIC"


#: The sub-indications that make a TOTAL_FAILED (the others go with INDETERMINATE).
FAILED_SUB_INDICATIONS = frozenset(
    {
        SubIndication.FORMAT_FAILURE,
        SubIndication.HASH_FAILURE,
        SubIndication.SIG_CRYPTO_FAILURE,
        SubIndication.REVOKED,
    }
)


def indication_for(sub: SubIndication | None) -> Indication:
    """The main indication that goes with a sub-indication (``None``: passed)."""
    if sub is None:
        return Indication.TOTAL_PASSED
    return Indication.TOTAL_FAILED if sub in FAILED_SUB_INDICATIONS else Indication.INDETERMINATE


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found, with a catalogue code (``verify.*``): its message is bilingual."""

    code: str
    severity: Severity
    detail: str = ""
    #: The sub-indication this finding implies for its signature or file, if any.
    sub_indication: SubIndication | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON form, with the messages in both languages."""
        entry = lookup(self.code)
        return {
            "code": self.code,
            "severity": self.severity.value,
            "vi": entry.vi,
            "en": entry.en,
            "detail": self.detail,
            "sub_indication": self.sub_indication.value if self.sub_indication else None,
        }


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a report says about a certificate."""

    subject: str
    common_name: str | None
    agency_code: str | None
    title: str | None
    issuer: str
    serial: str  #: hexadecimal
    not_before: datetime
    not_after: datetime
    sha256: str
    scope: tuple[str, ...] | None  #: for a delegated CA: the level-1 codes it may issue for

    @classmethod
    def of(cls, certificate: x509.Certificate) -> CertificateInfo:
        """Describe a certificate."""
        return cls(
            subject=certificate.subject.rfc4514_string(),
            common_name=_first(certificate.subject, NameOID.COMMON_NAME),
            agency_code=agency_code_of(certificate.subject),
            title=_first(certificate.subject, NameOID.TITLE),
            issuer=certificate.issuer.rfc4514_string(),
            serial=f"{certificate.serial_number:x}",
            not_before=certificate.not_valid_before_utc,
            not_after=certificate.not_valid_after_utc,
            sha256=hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest(),
            scope=read_scope(certificate),
        )

    @property
    def is_person(self) -> bool:
        """A personal certificate (it names a post): the signer, not the organisation."""
        return self.title is not None


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    attributes = name.get_attributes_for_oid(oid)
    return str(attributes[0].value) if attributes else None


class RevocationStatus(StrEnum):
    """The signer certificate's status as the verifier learned it."""

    GOOD = "good"  #: còn hiệu lực
    REVOKED = "revoked"  #: đã bị thu hồi
    UNKNOWN = "unknown"  #: not established (no chain, no answer)


@dataclass(frozen=True, slots=True)
class Revocation:
    """Revocation check of the signer's chain."""

    status: RevocationStatus
    source: str  #: ``ocsp``, ``crl``, ``ocsp+crl``, ``embedded`` or ``none``
    revoked_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Timestamp:
    """An RFC 3161 timestamp on a signature (proof of existence at ``time``)."""

    time: datetime
    authority: str | None
    valid: bool


@dataclass(frozen=True, slots=True)
class SignatureReport:
    """One signature: who, with what chain, when, over what, and the indication."""

    kind: str  #: ``pdf`` or ``xmldsig``
    name: str  #: the PDF field name, or ``edXMLHeader/Signature``
    role: str  #: ``signer`` (person), ``organisation``, or ``envelope``
    indication: Indication
    sub_indication: SubIndication | None
    signer: CertificateInfo | None = None
    chain: tuple[CertificateInfo, ...] = ()  #: from the signer up to the trust anchor
    revocation: Revocation | None = None
    signing_time: datetime | None = None  #: claimed by the signer
    signing_time_source: str | None = None
    timestamp: Timestamp | None = None
    intact: bool = False  #: the signed data's digest matches
    valid: bool = False  #: the signature value verifies with the certificate's key
    covers: str = ""  #: what the signature covers, in words (and the changes after it)
    covered_parts: tuple[str, ...] = ()
    changes_after: str | None = None  #: ``none``, ``form filling``, ``annotations``, ``other``
    findings: tuple[Finding, ...] = ()

    @property
    def passed(self) -> bool:
        """True when the indication is TOTAL_PASSED."""
        return self.indication is Indication.TOTAL_PASSED

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        plain: dict[str, Any] = _plain(self)
        return plain


@dataclass(frozen=True, slots=True)
class FileReport:
    """One verified file (a PDF, or an edXML package with its signed PDF attachments)."""

    file: str
    kind: str  #: ``pdf``, ``edxml`` or ``unknown``
    indication: Indication
    sub_indication: SubIndication | None
    signatures: tuple[SignatureReport, ...] = ()
    findings: tuple[Finding, ...] = ()
    attachments: tuple[FileReport, ...] = ()  #: PDFs carried by an edXML package
    document_id: str | None = None

    @property
    def passed(self) -> bool:
        """True when everything in the file (and its attachments) passed."""
        return self.indication is Indication.TOTAL_PASSED

    def to_dict(self) -> dict[str, Any]:
        """JSON form (times in ISO 8601)."""
        plain: dict[str, Any] = _plain(self)
        return plain | {"passed": self.passed}


def worst(
    parts: Iterable[tuple[Indication, SubIndication | None]],
) -> tuple[Indication, SubIndication | None]:
    """The worst of several (indication, sub-indication) pairs; TOTAL_PASSED for none."""
    best: tuple[Indication, SubIndication | None] = (Indication.TOTAL_PASSED, None)
    for pair in parts:
        if _RANK[pair[0]] > _RANK[best[0]]:
            best = pair
    return best


def finding_verdicts(
    findings: Iterable[Finding],
) -> list[tuple[Indication, SubIndication | None]]:
    """The (indication, sub-indication) pairs that error findings imply."""
    return [
        (indication_for(f.sub_indication), f.sub_indication)
        for f in findings
        if f.severity is Severity.ERROR and f.sub_indication is not None
    ]


def make_file_report(
    file: str,
    kind: str,
    *,
    signatures: Sequence[SignatureReport] = (),
    findings: Sequence[Finding] = (),
    attachments: Sequence[FileReport] = (),
    document_id: str | None = None,
) -> FileReport:
    """A file report whose indication is the worst of everything in it.

    A file with no signature at all is INDETERMINATE (``SIGNED_DATA_NOT_FOUND``) unless a
    finding already says worse: nothing was verified, so nothing passed.
    """
    verdicts = [(s.indication, s.sub_indication) for s in signatures]
    verdicts += [(a.indication, a.sub_indication) for a in attachments]
    verdicts += finding_verdicts(findings)
    if not signatures and not attachments:
        verdicts.append((Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND))
    indication, sub = worst(verdicts)
    return FileReport(
        file=file,
        kind=kind,
        indication=indication,
        sub_indication=sub,
        signatures=tuple(signatures),
        findings=tuple(findings),
        attachments=tuple(attachments),
        document_id=document_id,
    )


def scope_findings(path: Sequence[x509.Certificate]) -> list[Finding]:
    """The delegation rule on a chain (leaf first): every certificate issued by a CA with a
    scope extension must name an agency under that scope (``lienthong.pki.profiles``).

    A CA that signs outside its scope with its own key makes the chain fail: INDETERMINATE with
    ``CHAIN_CONSTRAINTS_FAILURE``, as RFC 5280 name-constraint violations are classed.
    """
    findings = []
    for subject, issuer in itertools.pairwise(path):
        scope = read_scope(issuer)
        if scope is None:
            continue
        is_ca = _is_ca(subject)
        agency = agency_code_of(subject.subject)
        if is_ca:
            # A scoped CA may not delegate further (pathLen 0): RFC 5280 path validation
            # already refuses that, nothing to add here.
            continue
        if agency is None or not is_within(agency, scope):
            findings.append(
                Finding(
                    "verify.out_of_scope",
                    Severity.ERROR,
                    f"{agency or 'no agency code'} issued by "
                    f"{_first(issuer.subject, NameOID.COMMON_NAME)} (scope {', '.join(scope)})",
                    SubIndication.CHAIN_CONSTRAINTS_FAILURE,
                )
            )
    return findings


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def _plain(value: Any) -> Any:  # noqa: PLR0911 - one return per kind of value
    if isinstance(value, FileReport | SignatureReport):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, Finding):
        return value.as_dict()
    if isinstance(value, CertificateInfo | Revocation | Timestamp):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    return value


__all__ = [
    "CertificateInfo",
    "FileReport",
    "Finding",
    "Indication",
    "Revocation",
    "RevocationStatus",
    "SignatureReport",
    "SubIndication",
    "Timestamp",
    "indication_for",
    "make_file_report",
    "scope_findings",
    "worst",
]
