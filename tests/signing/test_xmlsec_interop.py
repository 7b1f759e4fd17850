"""Interoperability: the real ``xmlsec1 --verify`` accepts our envelope signatures, also after
hub hops, and refuses a tampered package (so it checks what we think it checks)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from lienthong.domain.edxml import EDXML_NS, Organization, parse_package, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document, with_trace
from lienthong.pki.ca import CertificateAuthority, MemoryRegistry, ca_subject, create_root
from lienthong.pki.keys import generate_key
from lienthong.pki.profiles import OrganizationSubject, Profile
from lienthong.signing.xmldsig import sign_envelope

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("xmlsec1") is None, reason="xmlsec1 is not installed"),
]

NOW = datetime(2026, 11, 26, 7, 30, 5, tzinfo=UTC)
#: Elements that carry the Id of a signed part (xmlsec1 needs to be told, as any verifier).
PARTS = ("MessageHeader", "Status", "TraceHeader", "Bussiness", "edXMLBody", "Attachment")


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    folder = tmp_path_factory.mktemp("xmlsec")
    root_key = generate_key()
    root = create_root("root", root_key, common_name="Root xmlsec", now=NOW)
    authority = CertificateAuthority("root", root, root_key, MemoryRegistry())
    sub_key = generate_key()
    sub = authority.issue(sub_key.public_key(), ca_subject("CA xmlsec"), Profile.SUB_CA, now=NOW,
                          scope=("H41",))  # fmt: skip
    delegated = CertificateAuthority(
        "sub", sub.certificate, sub_key, MemoryRegistry(), chain=[root]
    )
    key = generate_key()
    leaf = delegated.issue_organization(
        key.public_key(), OrganizationSubject("000.00.12.H41", "Sở TTTT Nghệ An"), now=NOW
    ).certificate
    (folder / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.12.H41", organ_name="Sở TTTT Nghệ An"),
        recipients=[Organization(organ_id="000.00.00.G22", organ_name="VPCP")],
        code_number="7", code_notation="STTTT-VP", promulgation_date=NOW.date(),
        place="Nghệ An", subject="Kiểm tra với xmlsec1",
        files=[FileToAttach("a.pdf", b"%PDF-1.4\n" + bytes(range(256)) * 8)],
    )  # fmt: skip
    raw = serialize_package(build_document(draft, now=NOW))
    return folder, sign_envelope(raw, key, leaf, (sub.certificate,))


def xmlsec_verify(folder: Path, data: bytes) -> subprocess.CompletedProcess[str]:
    target = folder / "package.edxml"
    target.write_bytes(data)
    ids = [arg for part in PARTS for arg in ("--id-attr:Id", f"{EDXML_NS}:{part}")]
    return subprocess.run(
        # The chain is in X509Data; xmlsec1 checks it against the root (at the signing date).
        ["xmlsec1", "--verify", "--trusted-pem", str(folder / "root.pem"),
         "--verification-gmt-time", "2026-11-27 00:00:00", *ids, str(target)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_xmlsec1_accepts_our_envelope(signed: tuple[Path, bytes]) -> None:
    folder, data = signed
    result = xmlsec_verify(folder, data)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 5/5" in result.stderr


def test_xmlsec1_accepts_it_after_hub_hops(signed: tuple[Path, bytes]) -> None:
    folder, data = signed
    package = with_trace(parse_package(data), "000.00.00.G22", NOW.replace(minute=45))
    result = xmlsec_verify(folder, serialize_package(package))
    assert result.returncode == 0, result.stderr


def test_xmlsec1_refuses_a_tampered_envelope(signed: tuple[Path, bytes]) -> None:
    folder, data = signed
    tampered = data.replace("Kiểm tra với xmlsec1".encode(), "Đã sửa".encode())
    result = xmlsec_verify(folder, tampered)
    assert result.returncode != 0
    assert "FAIL" in result.stderr or "fail" in result.stderr.lower()
