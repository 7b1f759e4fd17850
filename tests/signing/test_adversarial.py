"""Adversarial verification: each attack on a PDF or an envelope gets the right ETSI
indication, never a crash. Real CA directory, real ``lienthong ca serve`` on 127.0.0.1
(OCSP, CRL, TSA), real signatures (pyHanko through lienthong.signing.pdf, signxml)."""

from __future__ import annotations

import io
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from lienthong.authority.process import running_ca_server
from lienthong.authority.service import AuthorityService, init_directory
from lienthong.domain.edxml import Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.keystore import load_pem_key
from lienthong.pki.profiles import OrganizationSubject
from lienthong.signing.appearance import StampImage
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.images import seal_png, signature_png
from lienthong.signing.pdf import Services, SigningIdentity, issue, sign_signer
from lienthong.signing.report import FileReport, Indication, SubIndication
from lienthong.signing.verify import Verifier, VerifyOptions
from lienthong.signing.xmldsig import sign_envelope

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.xdist_group("verify-ca")]

PASSPHRASE = "mật-khẩu-kiểm-thử"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Pki:
    directory: Path
    port: int
    root: x509.Certificate
    sub: x509.Certificate
    identities: dict[str, SigningIdentity]

    @property
    def services(self) -> Services:
        return Services(
            tsa_url=f"http://127.0.0.1:{self.port}/tsa/nghe-an", trust_roots=(self.root,)
        )

    def options(self) -> VerifyOptions:
        return VerifyOptions.from_pem_files([self.directory / "root" / "ca.pem"])


def _org(service: AuthorityService, code: str, *, now: datetime, validity: timedelta | None = None,
         force: bool = False) -> tuple[InMemoryKey, x509.Certificate]:  # fmt: skip
    authority = service.ca("nghe-an")
    key = generate_key()
    if force:
        # A delegated CA that signs outside its scope with its own key.
        authority.scope = None
    try:
        record = authority.issue_organization(
            key.public_key(), OrganizationSubject(code, f"Cơ quan {code}", "Nghệ An"),
            now=now, validity=validity,
        )  # fmt: skip
    finally:
        authority.scope = ("H41",)
    return key, record.certificate


def _foreign_identity() -> SigningIdentity:
    """An organisation certificate from a CA nobody trusts."""
    root_key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Unknown root")])
    now = datetime.now(UTC)
    root = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key.private_key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    key = generate_key()
    subject = OrganizationSubject("000.00.12.H41", "Mạo danh", "Nghệ An").to_name()
    leaf = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                       critical=True)
        .sign(root_key.private_key, hashes.SHA256())  # type: ignore[arg-type]
    )  # fmt: skip
    return SigningIdentity(key, leaf, (root,))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pki]:
    directory = tmp_path_factory.mktemp("verify-ca") / "ca"
    port = _free_port()
    now = datetime.now(UTC)
    init_directory(directory, passphrase=PASSPHRASE, now=now, base_url=f"http://127.0.0.1:{port}")
    root = x509.load_pem_x509_certificate((directory / "root/ca.pem").read_bytes())
    sub = x509.load_pem_x509_certificate((directory / "nghe-an/ca.pem").read_bytes())
    identities = {}
    for name in ("so-tttt-nghe-an", "nguyen-van-an"):
        key = load_pem_key(directory / f"issued/{name}.key.pem", PASSPHRASE)
        cert = x509.load_pem_x509_certificate((directory / f"issued/{name}.pem").read_bytes())
        identities[name] = SigningIdentity(key, cert, (sub,))
    service = AuthorityService(directory, PASSPHRASE)
    try:
        key, cert = _org(service, "000.00.12.H41", now=now)
        identities["revoked"] = SigningIdentity(key, cert, (sub,))
        service.revoke("nghe-an", cert.serial_number, x509.ReasonFlags.key_compromise,
                       operator="test", now=now)  # fmt: skip
        key, cert = _org(service, "000.00.12.H41", now=now - timedelta(days=3),
                         validity=timedelta(days=1))  # fmt: skip
        identities["expired"] = SigningIdentity(key, cert, (sub,))
        key, cert = _org(service, "000.00.11.H53", now=now, force=True)
        identities["out-of-scope"] = SigningIdentity(key, cert, (sub,))
        key, cert = _org(service, "000.00.20.H41", now=now)
        identities["other-agency"] = SigningIdentity(key, cert, (sub,))
    finally:
        service.close()
    identities["foreign"] = _foreign_identity()
    log = directory.parent / "serve.log"
    with running_ca_server(directory, port, passphrase=PASSPHRASE, operator_token="t", log=log):
        yield Pki(directory, port, root, sub, identities)


@pytest.fixture(scope="module")
def verifier(pki: Pki) -> Iterator[Verifier]:
    with Verifier(pki.options()) as verifier:
        yield verifier


NOW = datetime.now(UTC)


def _signed_pdf(pki: Pki, signer: str = "nguyen-van-an", org: str = "so-tttt-nghe-an") -> bytes:
    doc = generate_document(sample_spec(signer="Nguyễn Văn An"))
    one = sign_signer(doc.pdf, pki.identities[signer], StampImage(signature_png("Nguyễn Văn An")),
                      now=NOW, services=pki.services,
                      anchor="Nguyễn Văn An")  # fmt: skip
    two = issue(one.pdf, pki.identities[org], StampImage(seal_png("SỞ TTTT NGHỆ AN")),
                number="12", now=NOW, services=pki.services)  # fmt: skip
    return two.pdf


def _package(pki: Pki, identity: str = "so-tttt-nghe-an", files: tuple[bytes, ...] = ()) -> bytes:
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.12.H41", organ_name="Sở TTTT Nghệ An"),
        recipients=[Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ")],
        code_number="12", code_notation="STTTT-VP", promulgation_date=NOW.date(),
        place="Nghệ An", subject="Về việc thử nghiệm chữ ký số",
        files=[FileToAttach(f"vb{i}.pdf", data) for i, data in enumerate(files)],
    )  # fmt: skip
    raw = serialize_package(build_document(draft, now=NOW))
    who = pki.identities[identity]
    return sign_envelope(raw, who.key, who.certificate, who.chain)


def _sig(report: FileReport, index: int = 0) -> tuple[Indication, SubIndication | None]:
    signature = report.signatures[index]
    return signature.indication, signature.sub_indication


# --------------------------------------------------------------------------- baselines
def test_good_pdf_and_package_pass(pki: Pki, verifier: Verifier) -> None:
    pdf = _signed_pdf(pki)
    report = verifier.verify_bytes(pdf, "good.pdf")
    assert report.passed, report.to_dict()
    assert [s.role for s in report.signatures] == ["signer", "organisation"]
    package = verifier.verify_bytes(_package(pki, files=(pdf,)), "good.edxml")
    assert package.passed, package.to_dict()
    assert len(package.attachments) == 1
    assert package.attachments[0].passed


# --------------------------------------------------------------------------- envelope attacks
def test_content_changed_after_signing(pki: Pki, verifier: Verifier) -> None:
    signed = _package(pki)
    tampered = signed.replace("thử nghiệm chữ ký số".encode(), "chuyển tiền gấp".encode())
    report = verifier.verify_bytes(tampered, "x.edxml")
    assert _sig(report) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)
    assert not report.passed


def test_signature_moved_to_another_package(pki: Pki, verifier: Verifier) -> None:
    first, second = _package(pki), _package(pki)
    second = second.replace(b"<edXML:CodeNumber>12<", b"<edXML:CodeNumber>99<")
    start, end = first.index(b"<ds:Signature"), first.index(b"</ds:Signature>") + 15
    other_start, other_end = second.index(b"<ds:Signature"), second.index(b"</ds:Signature>") + 15
    moved = second[:other_start] + first[start:end] + second[other_end:]
    report = verifier.verify_bytes(moved, "moved.edxml")
    assert _sig(report) == (Indication.TOTAL_FAILED, SubIndication.HASH_FAILURE)


def test_signature_moved_to_a_package_without_ids(pki: Pki, verifier: Verifier) -> None:
    signed = _package(pki)
    stripped = signed.replace(b' Id="lt-MessageHeader"', b"")
    report = verifier.verify_bytes(stripped, "no-ids.edxml")
    assert _sig(report) == (Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND)


def test_unsigned_content_added(pki: Pki, verifier: Verifier) -> None:
    signed = _package(pki)
    extra = b"<edXML:Extra>kh\xc3\xb4ng \xc4\x91\xc6\xb0\xe1\xbb\xa3c k\xc3\xbd</edXML:Extra>"
    tampered = signed.replace(b"</edXML:edXMLHeader>", extra + b"</edXML:edXMLHeader>")
    report = verifier.verify_bytes(tampered, "extra.edxml")
    assert _sig(report) == (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    assert any(f.code == "verify.uncovered_content" for f in report.signatures[0].findings)


def test_placeholder_signature(verifier: Verifier) -> None:
    sample = Path(__file__).parents[3] / "shared" / "edxml-samples"
    candidates = sorted(sample.rglob("*.edxml")) if sample.exists() else []
    placeholder = next((p.read_bytes() for p in candidates if b"<Signature" in p.read_bytes()
                        or b":Signature" in p.read_bytes()), None)  # fmt: skip
    if placeholder is None:
        placeholder = (
            b'<?xml version="1.0" encoding="UTF-8"?><edXML xmlns="http://www.mic.gov.vn/TBT/'
            b'QCVN_102_2016"><edXMLEnvelope><edXMLHeader><MessageHeader><From><OrganId>'
            b"000.00.12.H41</OrganId></From></MessageHeader><Signature><SignedInfo/>"
            b"</Signature></edXMLHeader></edXMLEnvelope></edXML>"
        )
    report = verifier.verify_bytes(placeholder, "placeholder.edxml")
    assert report.indication is not Indication.TOTAL_PASSED
    assert _sig(report) == (Indication.TOTAL_FAILED, SubIndication.FORMAT_FAILURE)
    codes = {f.code for f in report.signatures[0].findings}
    assert codes & {"verify.placeholder_signature", "verify.missing_signature"}


def test_agency_mismatch(pki: Pki, verifier: Verifier) -> None:
    report = verifier.verify_bytes(_package(pki, identity="other-agency"), "mismatch.edxml")
    assert _sig(report) == (Indication.INDETERMINATE, SubIndication.SIG_CONSTRAINTS_FAILURE)
    assert any(f.code == "verify.agency_mismatch" for f in report.signatures[0].findings)


@pytest.mark.parametrize(
    ("who", "expected", "code"),
    [
        ("revoked", SubIndication.REVOKED_NO_POE, "verify.revoked"),
        ("expired", SubIndication.OUT_OF_BOUNDS_NO_POE, "verify.expired"),
        ("foreign", SubIndication.NO_CERTIFICATE_CHAIN_FOUND, "verify.untrusted"),
        ("out-of-scope", SubIndication.CHAIN_CONSTRAINTS_FAILURE, "verify.out_of_scope"),
    ],
)
def test_envelope_certificate_problems(
    pki: Pki, verifier: Verifier, who: str, expected: SubIndication, code: str
) -> None:
    report = verifier.verify_bytes(_package(pki, identity=who), f"{who}.edxml")
    assert _sig(report) == (Indication.INDETERMINATE, expected), report.to_dict()
    assert code in {f.code for f in report.signatures[0].findings}


# --------------------------------------------------------------------------- PDF attacks
@pytest.mark.parametrize(
    ("who", "expected"),
    [
        # The B-T timestamp proves the signature was made after the revocation: TOTAL_FAILED.
        ("revoked", (Indication.TOTAL_FAILED, SubIndication.REVOKED)),
        ("foreign", (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)),
        ("out-of-scope", (Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE)),
    ],
)
def test_pdf_certificate_problems(
    pki: Pki, verifier: Verifier, who: str, expected: tuple[Indication, SubIndication]
) -> None:
    doc = generate_document(sample_spec(signer="Nguyễn Văn An"))
    signed = sign_signer(doc.pdf, pki.identities[who], StampImage(signature_png("X")),
                         now=NOW, services=pki.services, anchor="Nguyễn Văn An")  # fmt: skip
    report = verifier.verify_bytes(signed.pdf, f"{who}.pdf")
    assert _sig(report) == expected, report.to_dict()


def test_pdf_bytes_changed(pki: Pki, verifier: Verifier) -> None:
    pdf = bytearray(_signed_pdf(pki))
    # Change one byte of page content inside the first signed revision.
    at = pdf.index(b"stream", 200) + 20
    pdf[at] = (pdf[at] + 1) % 256
    report = verifier.verify_bytes(bytes(pdf), "changed.pdf")
    assert report.indication is Indication.TOTAL_FAILED
    assert any(s.sub_indication is SubIndication.HASH_FAILURE for s in report.signatures)


def test_page_changed_after_organisation_signature(pki: Pki, verifier: Verifier) -> None:
    pdf = _signed_pdf(pki)
    writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    from pyhanko.pdf_utils import generic

    stream = generic.StreamObject(stream_data=b"BT /F1 24 Tf 100 700 Td (GIA MAO) Tj ET")
    ref = writer.add_object(stream)
    contents = page.raw_get("/Contents")
    page["/Contents"] = generic.ArrayObject([*(contents if isinstance(contents, list)
                                              else [contents]), ref])  # fmt: skip
    writer.update_container(page)
    out = io.BytesIO()
    writer.write(out)
    report = verifier.verify_bytes(out.getvalue(), "overwritten.pdf")
    assert report.indication is Indication.TOTAL_FAILED
    organisation = report.signatures[1]
    assert organisation.changes_after == "other"
    assert "verify.changed_after_signing" in {f.code for f in organisation.findings}


def test_garbage_never_crashes(verifier: Verifier) -> None:
    for data in (b"", b"%PDF-1.7\n garbage", b"<edXML/>", b"\x00\x01binary", b"<a><b></a>"):
        report = verifier.verify_bytes(data, "junk")
        assert report.indication is not Indication.TOTAL_PASSED
