"""The envelope signature (lienthong.signing.xmldsig): what is signed, that it survives hub
hops through the domain serialiser, and that every tampering is seen. Real RSA and EC keys
and an in-memory CA; certificate chains are checked elsewhere (test_adversarial.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography import x509

from lienthong.domain.edxml import Organization, parse_package, serialize_package
from lienthong.domain.edxml.builder import (
    DocumentDraft,
    FileToAttach,
    build_document,
    build_status,
    with_trace,
)
from lienthong.domain.errors import EdxmlError, SigningError
from lienthong.domain.status import StatusCode
from lienthong.pki.ca import CertificateAuthority, MemoryRegistry, ca_subject, create_root
from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.profiles import OrganizationSubject, Profile
from lienthong.signing.report import SubIndication
from lienthong.signing.xmldsig import check_envelope, sign_envelope

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 7, 30, 5, tzinfo=UTC)


@dataclass
class Signer:
    key: InMemoryKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]


def _signer(kind: str = "rsa2048") -> Signer:
    root_key = generate_key()
    root = create_root("root", root_key, common_name="Root test", now=NOW)
    authority = CertificateAuthority("root", root, root_key, MemoryRegistry())
    sub_key = generate_key()
    sub = authority.issue(sub_key.public_key(), ca_subject("CA test"), Profile.SUB_CA, now=NOW,
                          scope=("H41",))  # fmt: skip
    delegated = CertificateAuthority(
        "sub", sub.certificate, sub_key, MemoryRegistry(), chain=[root]
    )
    key = generate_key(kind)
    record = delegated.issue_organization(
        key.public_key(), OrganizationSubject("000.00.12.H41", "Sở TTTT Nghệ An"), now=NOW
    )
    return Signer(key, record.certificate, (sub.certificate,))


@pytest.fixture(scope="module")
def signer() -> Signer:
    return _signer()


def _package(files: int = 1) -> bytes:
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.12.H41", organ_name="Sở TTTT Nghệ An"),
        recipients=[Organization(organ_id="000.00.00.G22", organ_name="VPCP")],
        code_number="7", code_notation="STTTT-VP", promulgation_date=NOW.date(),
        place="Nghệ An", subject="Thử nghiệm <ký> & gửi",
        files=[FileToAttach(f"f{i}.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 4)
               for i in range(files)],
    )  # fmt: skip
    return serialize_package(build_document(draft, now=NOW))


def test_sign_and_check(signer: Signer) -> None:
    signed = sign_envelope(_package(2), signer.key, signer.certificate, signer.chain)
    check = check_envelope(signed)
    assert check.sub_indication is None, check.findings
    assert check.intact
    assert check.valid
    assert sorted(check.covered) == sorted(
        ["MessageHeader", "TraceHeader", "Bussiness", "edXMLBody", "Attachment", "Attachment"]
    )
    assert check.signer == signer.certificate
    assert check.chain == list(signer.chain)
    assert check.claimed_time == datetime(2026, 11, 26, 7, 30, 5, tzinfo=UTC)
    assert not check.findings
    # The package still reads as before, with the signature recognised as XML-DSig.
    package = parse_package(signed)
    assert package.signature is not None
    assert package.signature.kind == "xmldsig"


def test_ec_key_signs() -> None:
    signer = _signer("p256")
    signed = sign_envelope(_package(), signer.key, signer.certificate, signer.chain)
    assert b"ecdsa-sha256" in signed
    assert check_envelope(signed).sub_indication is None


def test_survives_hub_hops_through_the_serialiser(signer: Signer) -> None:
    signed = sign_envelope(_package(), signer.key, signer.certificate, signer.chain)
    package = parse_package(signed)
    for hop, organ in enumerate(("000.00.00.G22", "000.00.00.H41")):
        package = with_trace(package, organ, NOW.replace(minute=31 + hop))
    forwarded = serialize_package(package)
    check = check_envelope(forwarded)
    assert check.sub_indication is None, check.findings
    assert [f.detail for f in check.findings if f.code == "verify.hops_after_signing"] == [
        "000.00.00.G22, 000.00.00.H41"
    ]


def test_status_package_without_trace_list(signer: Signer) -> None:
    original = parse_package(_package()).header
    status = build_status(
        sender=Organization(organ_id="000.00.12.H41"), original=original,
        status=StatusCode("01"), at=NOW,
    )  # fmt: skip
    signed = sign_envelope(serialize_package(status), signer.key, signer.certificate, signer.chain)
    check = check_envelope(signed)
    assert check.sub_indication is None, check.findings
    assert check.claimed_time is None  # no hop is signed: no claimed time


def test_resigning_replaces_the_signature(signer: Signer) -> None:
    once = sign_envelope(_package(), signer.key, signer.certificate, signer.chain)
    twice = sign_envelope(once, signer.key, signer.certificate, signer.chain)
    assert twice.count(b"<ds:Signature xmlns") == 1
    assert check_envelope(twice).sub_indication is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("<edXML:Subject>Thử", "<edXML:Subject>Sửa", SubIndication.HASH_FAILURE),
        ("<edXML:Priority>0<", "<edXML:Priority>3<", SubIndication.HASH_FAILURE),
        ("<BussinessDocType>0<", "<BussinessDocType>1<", SubIndication.HASH_FAILURE),
        ("<ContentId>cid:1<", "<ContentId>cid:9<", SubIndication.HASH_FAILURE),
        ("<ds:SignatureValue>", "<ds:SignatureValue>AAAA", SubIndication.SIG_CRYPTO_FAILURE),
        ('URI="#lt-MessageHeader"', 'URI=""', SubIndication.FORMAT_FAILURE),
        ('Id="lt-edXMLBody"', 'Id="lt-other"', SubIndication.SIGNED_DATA_NOT_FOUND),
    ],
)
def test_tampering(signer: Signer, old: str, new: str, expected: SubIndication) -> None:
    signed = sign_envelope(_package(), signer.key, signer.certificate, signer.chain).decode()
    if old not in signed:
        old = old.replace("<", "<edXML:", 1)
        new = new.replace("<", "<edXML:", 1)
    assert old in signed, old
    check = check_envelope(signed.replace(old, new, 1).encode())
    assert check.sub_indication is expected, check.findings


def test_a_wrapped_copy_of_a_part_is_refused(signer: Signer) -> None:
    signed = sign_envelope(_package(), signer.key, signer.certificate, signer.chain).decode()
    start = signed.index("<edXML:MessageHeader")
    end = signed.index("</edXML:MessageHeader>") + len("</edXML:MessageHeader>")
    original = signed[start:end]
    forged = original.replace('Id="lt-MessageHeader"', "").replace("Thử", "Giả")
    # The signed header is hidden in an unknown element; a forged one takes its place.
    wrapped = (
        signed[:start] + forged + "<edXML:Hidden>" + original + "</edXML:Hidden>" + signed[end:]
    )
    check = check_envelope(wrapped.encode())
    assert check.sub_indication is not None or any(
        f.code == "verify.uncovered_content" for f in check.findings
    )


def test_refuses_a_doctype(signer: Signer) -> None:
    signed = sign_envelope(_package(), signer.key, signer.certificate, signer.chain)
    hostile = signed.replace(b"?>", b'?><!DOCTYPE edXML [<!ENTITY x "y">]>', 1)
    check = check_envelope(hostile)
    assert check.sub_indication is SubIndication.FORMAT_FAILURE
    with pytest.raises(EdxmlError):
        sign_envelope(hostile, signer.key, signer.certificate, signer.chain)


def test_wrong_certificate_for_key(signer: Signer) -> None:
    other = _signer()
    with pytest.raises(SigningError) as caught:
        sign_envelope(_package(), signer.key, other.certificate)
    assert caught.value.code == "signing.certificate_mismatch"
