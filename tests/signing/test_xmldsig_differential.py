"""The envelope check computes the reference digests itself (lienthong.signing.xmldsig) instead
of asking signxml, which copies the whole package once per reference. This keeps the two in
step: for the same bytes, signxml's full verifier (the oracle, configured as the check used it
before) and ours reach the same verdict: valid, a digest mismatch, a bad signature value or a
refused form. Real keys (RSA and EC), targeted and random tampering, and packages signed by
``xmlsec1`` from a template with inclusive C14N and references without transforms."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from signxml import (  # type: ignore[attr-defined]
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLVerifier,
)
from signxml.exceptions import InvalidDigest, InvalidSignature, SignXMLException

from lienthong.domain.edxml import EDXML_NS, Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.domain.edxml.limits import Limits
from lienthong.domain.edxml.model import Package
from lienthong.domain.edxml.parser import parse_package_tree
from lienthong.pki.ca import CertificateAuthority, MemoryRegistry, create_root
from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.profiles import OrganizationSubject
from lienthong.signing import xmldsig
from lienthong.signing.report import SubIndication
from lienthong.signing.xmldsig import EnvelopeCheck, check_envelope, sign_envelope

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 26, 7, 30, 5, tzinfo=UTC)
DS = "http://www.w3.org/2000/09/xmldsig#"
PARTS = ("MessageHeader", "Status", "TraceHeader", "Bussiness", "edXMLBody", "Attachment")


@dataclass
class Signer:
    key: InMemoryKey
    certificate: x509.Certificate


def _signer(kind: str) -> Signer:
    root_key = generate_key()
    root = create_root("root", root_key, common_name="Root diff", now=NOW)
    authority = CertificateAuthority("root", root, root_key, MemoryRegistry())
    key = generate_key(kind)
    record = authority.issue_organization(
        key.public_key(), OrganizationSubject("000.00.12.H41", "Sở TTTT Nghệ An"), now=NOW
    )
    return Signer(key, record.certificate)


@pytest.fixture(scope="module", params=["rsa2048", "p256"])
def signer(request: pytest.FixtureRequest) -> Signer:
    return _signer(request.param)


def _package() -> bytes:
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.12.H41", organ_name="Sở TTTT Nghệ An"),
        recipients=[Organization(organ_id="000.00.00.G22", organ_name="VPCP")],
        code_number="9", code_notation="STTTT-VP", promulgation_date=NOW.date(),
        place="Nghệ An", subject="Đối chiếu với signxml",
        files=[FileToAttach("a.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 16)],
    )  # fmt: skip
    return serialize_package(build_document(draft, now=NOW))


def oracle(data: bytes) -> str:
    """signxml's verdict on the crypto, as the envelope check asked for it before."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True)
    root = etree.fromstring(data, parser)
    sig = next(root.iter(f"{{{DS}}}Signature"))
    text = "".join(
        sig.findtext(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data/{{{DS}}}X509Certificate").split()
    )
    import base64

    certificate = x509.load_der_x509_certificate(base64.b64decode(text))
    config = SignatureConfiguration(
        require_x509=True,
        location="./*/*/",
        expect_references=len(list(root.iter(f"{{{DS}}}Reference"))),
        signature_methods=frozenset(
            m for m in SignatureMethod if m.name.split("_")[0] in ("RSA", "ECDSA")
            and m.name.endswith(("SHA256", "SHA384", "SHA512")) and "SHA3" not in m.name
        ),
        digest_algorithms=frozenset(
            {DigestAlgorithm.SHA256, DigestAlgorithm.SHA384, DigestAlgorithm.SHA512}
        ),
        verification_time=certificate.not_valid_before_utc,
    )  # fmt: skip
    try:
        XMLVerifier().verify(
            root, x509_cert=certificate, id_attribute="Id", expect_config=config,
            validate_schema=True,
        )  # fmt: skip
    except InvalidDigest:
        return "digest"
    except InvalidSignature:
        return "signature"
    except (SignXMLException, ValueError, etree.LxmlError):
        return "format"
    return "valid"


def ours(data: bytes) -> str:
    check = check_envelope(data)
    match check.sub_indication:
        case None:
            return "valid"
        case SubIndication.HASH_FAILURE:
            return "digest"
        case SubIndication.SIG_CRYPTO_FAILURE:
            return "signature"
        case _:
            return "format"


def _replace(data: bytes, pattern: str, new: str) -> bytes:
    text = data.decode()
    changed, count = re.subn(pattern, new, text, count=1)
    assert count == 1, pattern
    return changed.encode()


#: (what, pattern, replacement, verdict both must reach)
TAMPERING = [
    ("untouched", r"(?=<edXML:Subject>)", "", "valid"),
    ("subject", r"<edXML:Subject>Đối", "<edXML:Subject>Sửa", "digest"),
    ("attachment byte", r"(<ContentTransferEncoded>JVBER)i", r"\1" + "j", "digest"),
    ("comment in a part", r"<edXML:Subject>", "<!-- ghi chú --><edXML:Subject>", "valid"),
    ("whitespace in a part", r"<edXML:Subject>", " <edXML:Subject>", "digest"),
    ("quote style", r'Id="lt-MessageHeader"', "Id='lt-MessageHeader'", "valid"),
    ("unused namespace on the root", r"<edXML ", '<edXML xmlns:x="urn:x" ', "valid"),
    ("signature value", r"<ds:SignatureValue>(.)", "<ds:SignatureValue>A", "signature"),
    ("digest value", r"<ds:DigestValue>(.)", "<ds:DigestValue>A", "signature"),
    ("comment in a digest value", r"(<ds:DigestValue>[^<]{4})", r"\1<!--x-->", "valid"),
    (
        "SHA-1 signature",
        r"xmldsig-more#(rsa|ecdsa)-sha256",
        "xmldsig#rsa-sha1",
        "format",
    ),
    (
        "inclusive C14N of SignedInfo",
        r"(<ds:CanonicalizationMethod Algorithm=\")[^\"]+",
        r"\1" + CanonicalizationMethod.CANONICAL_XML_1_0.value,
        "signature",
    ),
    (
        "a KeyValue of another key",
        r"<ds:X509Data>",
        (
            "<ds:KeyValue><ds:RSAKeyValue><ds:Modulus>AQAB</ds:Modulus>"
            "<ds:Exponent>AQAB</ds:Exponent></ds:RSAKeyValue></ds:KeyValue><ds:X509Data>"
        ),
        "format",
    ),
]


@pytest.mark.parametrize(
    ("what", "pattern", "new", "verdict"), TAMPERING, ids=[t[0] for t in TAMPERING]
)
def test_same_verdict_as_signxml(
    signer: Signer, what: str, pattern: str, new: str, verdict: str
) -> None:
    signed = sign_envelope(_package(), signer.key, signer.certificate)
    data = _replace(signed, pattern, new)
    assert (ours(data), oracle(data)) == (verdict, verdict), what


def test_random_letters_changed_in_text(signer: Signer) -> None:
    signed = sign_envelope(_package(), signer.key, signer.certificate)
    # Letters in text nodes only (after a '>' and before the next '<'): the XML stays
    # well-formed, the change lands in a part, a digest, the signature value or a certificate.
    spans = [m.span(1) for m in re.finditer(rb">([^<]+)<", signed)]
    positions = [i for a, b in spans for i in range(a, b) if chr(signed[i]).isalpha()]
    rng = random.Random(5)
    verdicts = set()
    for position in rng.sample(positions, 60):
        old = signed[position]
        new = ord("B") if old != ord("B") else ord("C")
        data = signed[:position] + bytes([new]) + signed[position + 1 :]
        if check_envelope(data).signer is None:
            continue  # the certificate no longer reads: no crypto verdict to compare
        verdict = ours(data)
        assert verdict == oracle(data), (position, signed[position - 40 : position + 10])
        verdicts.add(verdict)
    assert "digest" in verdicts
    assert "signature" in verdicts


@pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is not installed")
def test_xmlsec1_inclusive_c14n_without_transforms(tmp_path: Path) -> None:
    """References with no transform are digested in inclusive C14N 1.0 (XML-DSig's default),
    which carries the namespaces the part inherits: xmlsec1 signs, both verifiers agree."""
    signer = _signer("rsa2048")
    root = etree.fromstring(sign_envelope(_package(), signer.key, signer.certificate))
    sig = next(root.iter(f"{{{DS}}}Signature"))
    signed_info = sig.find(f"{{{DS}}}SignedInfo")
    signed_info.find(f"{{{DS}}}CanonicalizationMethod").set(
        "Algorithm", CanonicalizationMethod.CANONICAL_XML_1_0.value
    )
    for reference in signed_info.iter(f"{{{DS}}}Reference"):
        reference.remove(reference.find(f"{{{DS}}}Transforms"))
        reference.find(f"{{{DS}}}DigestValue").text = ""
    sig.find(f"{{{DS}}}SignatureValue").text = ""
    template = tmp_path / "template.xml"
    template.write_bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    key = tmp_path / "key.pem"
    key.write_bytes(
        signer.key.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ids = [arg for part in PARTS for arg in ("--id-attr:Id", f"{EDXML_NS}:{part}")]
    out = tmp_path / "signed.xml"
    subprocess.run(
        ["xmlsec1", "--sign", "--privkey-pem", str(key), *ids, "--output", str(out),
         str(template)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    data = out.read_bytes()
    assert b"xml-exc-c14n" not in data.split(b"SignedInfo")[1]
    assert (ours(data), oracle(data)) == ("valid", "valid")
    tampered = data.replace("Đối chiếu".encode(), "Sửa chiếu".encode(), 1)
    assert (ours(tampered), oracle(tampered)) == ("digest", "digest")


def _everything(check: EnvelopeCheck) -> tuple[object, ...]:
    return (
        check.valid, check.intact, check.sub_indication, check.covered, check.claimed_time,
        [(f.code, f.severity, f.detail) for f in check.findings],
        check.signer.serial_number if check.signer else None,
    )  # fmt: skip


def test_reading_the_domain_parser_s_tree_changes_nothing(
    signer: Signer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check reads the tree the domain parser built when it holds exactly the bytes,
    instead of parsing them again: every case of the table, checked both ways, agrees."""
    signed = sign_envelope(_package(), signer.key, signer.certificate)
    cases = [_replace(signed, pattern, new) for _, pattern, new, _ in TAMPERING]
    assert parse_package_tree(signed)[1] is not None  # the untouched package takes the path
    once = [_everything(check_envelope(data)) for data in cases]

    def parse_twice(data: bytes, *, limits: Limits) -> tuple[Package, None]:
        return parse_package_tree(data, limits=limits)[0], None

    monkeypatch.setattr(xmldsig, "parse_package_tree", parse_twice)
    assert [_everything(check_envelope(data)) for data in cases] == once
