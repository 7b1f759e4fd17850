"""The CA core: issuance within scope, lifecycle, CRLs and OCSP — checked by openssl too."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lienthong.domain.errors import PkiError
from lienthong.pki.ca import (
    CertificateAuthority,
    CertStatus,
    MemoryRegistry,
    StatusUrls,
    ca_subject,
    check_scope,
    create_root,
)
from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.ocsp_responder import OcspResponder
from lienthong.pki.profiles import OrganizationSubject, PersonSubject, Profile, read_scope

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
URLS = StatusUrls("http://127.0.0.1:8088")

# Key generation dominates; one set of keys serves the module (RSA-2048 as in the profile).
_KEYS = [generate_key("rsa2048") for _ in range(4)] + [generate_key("p256") for _ in range(4)]


def key(n: int) -> InMemoryKey:
    return _KEYS[n]


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture
def pki() -> tuple[CertificateAuthority, CertificateAuthority]:
    registry = MemoryRegistry()
    root_cert = create_root("root", key(0), common_name="RootCA lienthong thử nghiệm", now=NOW)
    root = CertificateAuthority("root", root_cert, key(0), registry, URLS)
    sub_record = root.issue(
        key(1).public_key(),
        ca_subject("CA tỉnh Nghệ An", province="Nghệ An"),
        Profile.SUB_CA,
        now=NOW,
        scope=["H41"],
    )
    sub = CertificateAuthority(
        "nghe-an", sub_record.certificate, key(1), registry, URLS, chain=[root_cert]
    )
    return root, sub


def organization(code: str = "000.00.12.H41") -> OrganizationSubject:
    return OrganizationSubject(code, "Sở Thông tin và Truyền thông tỉnh Nghệ An", "Nghệ An")


def person(title: str = "Giám đốc", code: str = "000.00.12.H41") -> PersonSubject:
    return PersonSubject(
        "Nguyễn Văn An", title, code, "Sở TT&TT Nghệ An", "001080012345", "Nghệ An"
    )


def test_delegated_ca_carries_its_scope_and_path_length(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    root, sub = pki
    assert read_scope(sub.certificate) == ("H41",)
    assert sub.certificate_path_length() == 0
    assert root.scope is None
    sub.certificate.verify_directly_issued_by(root.certificate)


def test_issues_within_scope_and_refuses_outside(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    _, sub = pki
    record = sub.issue_organization(key(4).public_key(), organization(), now=NOW)
    assert record.agency_code == "000.00.12.H41"
    check_scope(record.certificate, sub.certificate)
    with pytest.raises(PkiError) as refused:
        sub.issue_organization(key(4).public_key(), organization("000.00.00.H14"), now=NOW)
    assert refused.value.code == "pki.out_of_scope"
    with pytest.raises(PkiError) as legacy:
        sub.issue_organization(key(4).public_key(), organization("28.22.H17"), now=NOW)
    assert legacy.value.code == "pki.out_of_scope"


def test_verifier_catches_a_sub_ca_that_issued_outside_its_scope(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    """A rogue delegated CA signs directly with its key, bypassing our issuance code."""
    _, sub = pki
    rogue = (
        x509.CertificateBuilder()
        .subject_name(organization("000.00.00.G22").to_name())
        .issuer_name(sub.certificate.subject)
        .public_key(key(5).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key(1).private_key, hashes.SHA256())
    )
    rogue.verify_directly_issued_by(sub.certificate)  # the signature itself is fine
    with pytest.raises(PkiError) as caught:
        check_scope(rogue, sub.certificate)
    assert caught.value.code == "pki.out_of_scope"


def test_a_delegated_ca_cannot_delegate(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    _, sub = pki
    with pytest.raises(PkiError):
        sub.issue(key(5).public_key(), ca_subject("x"), Profile.SUB_CA, now=NOW, scope=["H41"])


def test_profiles_carry_the_right_usages(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    _, sub = pki
    cert = sub.issue_person(key(4).public_key(), person(), now=NOW).certificate
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = {a.oid._name: a.value for a in cert.subject}
    assert names["commonName"] == "Nguyễn Văn An"
    assert names["title"] == "Giám đốc"
    assert names["userID"] == "CCCD:001080012345"
    aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert {d.access_location.value for d in aia} == {
        "http://127.0.0.1:8088/ocsp/nghe-an",
        "http://127.0.0.1:8088/ca/nghe-an.crt",
    }
    assert cert.not_valid_after_utc - cert.not_valid_before_utc > timedelta(days=3 * 365 - 1)


def test_transfer_revokes_the_old_post_and_issues_the_new_one(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    _, sub = pki
    old = sub.issue_person(key(4).public_key(), person("Phó Giám đốc"), now=NOW)
    new = sub.transfer(
        old.serial, person("Giám đốc"), key(5).public_key(), now=NOW + timedelta(hours=1)
    )
    assert "Giám đốc" in new.subject
    retired = sub.record(old.serial)
    assert retired.status is CertStatus.REVOKED
    assert retired.reason is x509.ReasonFlags.affiliation_changed
    assert retired.replaced_by == new.serial
    assert sub.record(new.serial).status is CertStatus.GOOD


def test_transfer_outside_scope_changes_nothing(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    _, sub = pki
    old = sub.issue_person(key(4).public_key(), person(), now=NOW)
    with pytest.raises(PkiError):
        sub.transfer(old.serial, person(code="000.00.00.G22"), key(5).public_key(), now=NOW)
    assert sub.record(old.serial).status is CertStatus.GOOD


def test_suspend_resume_revoke_and_unknown_serials(
    pki: tuple[CertificateAuthority, CertificateAuthority],
) -> None:
    _, sub = pki
    record = sub.issue_organization(key(4).public_key(), organization(), now=NOW)
    assert sub.suspend(record.serial, now=NOW).status is CertStatus.ON_HOLD
    assert sub.resume(record.serial).status is CertStatus.GOOD
    assert (
        sub.revoke(record.serial, x509.ReasonFlags.key_compromise, now=NOW).status
        is CertStatus.REVOKED
    )
    with pytest.raises(PkiError) as again:
        sub.revoke(record.serial, x509.ReasonFlags.key_compromise, now=NOW)
    assert again.value.code == "pki.already_revoked"
    with pytest.raises(PkiError) as unknown:
        sub.revoke(12345, x509.ReasonFlags.unspecified, now=NOW)
    assert unknown.value.code == "pki.unknown_serial"


def test_renew_supersedes(pki: tuple[CertificateAuthority, CertificateAuthority]) -> None:
    _, sub = pki
    old = sub.issue_organization(key(4).public_key(), organization(), now=NOW)
    new = sub.renew(old.serial, key(6).public_key(), now=NOW)
    assert new.subject == old.subject
    assert sub.record(old.serial).reason is x509.ReasonFlags.superseded


def run_openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)


def test_openssl_verifies_the_chain_and_the_crl(
    pki: tuple[CertificateAuthority, CertificateAuthority], tmp_path: Path
) -> None:
    root, sub = pki
    good = sub.issue_organization(key(4).public_key(), organization(), now=NOW)
    bad = sub.issue_organization(key(5).public_key(), organization(), now=NOW)
    held = sub.issue_person(key(6).public_key(), person(), now=NOW)
    sub.revoke(bad.serial, x509.ReasonFlags.key_compromise, now=NOW)
    sub.suspend(held.serial, now=NOW)
    now = datetime.now(UTC)
    (tmp_path / "root.pem").write_bytes(pem(root.certificate))
    (tmp_path / "sub.pem").write_bytes(pem(sub.certificate))
    (tmp_path / "good.pem").write_bytes(good.pem)
    (tmp_path / "bad.pem").write_bytes(bad.pem)
    crl = sub.crl(now=now)
    (tmp_path / "sub.crl").write_bytes(crl.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.crl").write_bytes(root.crl(now=now).public_bytes(serialization.Encoding.PEM))
    verified = run_openssl("crl", "-in", "sub.crl", "-CAfile", "sub.pem", "-noout", cwd=tmp_path)
    assert "verify OK" in verified.stderr + verified.stdout
    text = run_openssl("crl", "-in", "sub.crl", "-noout", "-text", cwd=tmp_path).stdout
    assert "Key Compromise" in text
    assert "Certificate Hold" in text
    assert f"{bad.serial:X}" in text.replace(":", "").upper()
    chain = run_openssl(
        "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "-crl_check_all",
        "-CRLfile", "sub.crl", "-CRLfile", "root.crl", "good.pem", cwd=tmp_path,
    )  # fmt: skip
    assert chain.returncode == 0, chain.stderr
    revoked = run_openssl(
        "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "-crl_check_all",
        "-CRLfile", "sub.crl", "-CRLfile", "root.crl", "bad.pem", cwd=tmp_path,
    )  # fmt: skip
    assert revoked.returncode != 0
    assert "revoked" in revoked.stdout + revoked.stderr


@pytest.fixture
def responder(pki: tuple[CertificateAuthority, CertificateAuthority]) -> OcspResponder:
    _, sub = pki
    signer = sub.issue(
        key(7).public_key(), ca_subject("OCSP Nghệ An"), Profile.OCSP_SIGNING, now=NOW
    )
    return OcspResponder(sub, signer.certificate, key(7))


def ask(
    responder: OcspResponder, cert: x509.Certificate, *, nonce: bytes | None = None
) -> ocsp.OCSPResponse:
    builder = ocsp.OCSPRequestBuilder().add_certificate(
        cert, responder.ca.certificate, hashes.SHA256()
    )
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    der = builder.build().public_bytes(serialization.Encoding.DER)
    return ocsp.load_der_ocsp_response(responder.respond(der, now=datetime.now(UTC)))


def test_ocsp_good_revoked_unknown_and_nonce(responder: OcspResponder) -> None:
    sub = responder.ca
    good = sub.issue_organization(key(4).public_key(), organization(), now=NOW).certificate
    answer = ask(responder, good, nonce=b"0123456789abcdef")
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert (
        answer.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce == b"0123456789abcdef"
    )
    first = ask(responder, good)
    assert ask(responder, good).signature == first.signature  # served from the cache
    sub.revoke(good.serial_number, x509.ReasonFlags.key_compromise, now=NOW)
    revoked = ask(responder, good)
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED  # the cache saw the change
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    stranger = create_root("x", key(5), common_name="Other", now=NOW)
    foreign = ocsp.OCSPRequestBuilder().add_certificate(stranger, stranger, hashes.SHA256()).build()
    forged = responder.respond(foreign.public_bytes(serialization.Encoding.DER), now=NOW)
    assert (
        ocsp.load_der_ocsp_response(forged).response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    )
    garbage = responder.respond(b"\x30\x03\x02\x01\x00", now=NOW)
    assert (
        ocsp.load_der_ocsp_response(garbage).response_status
        is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    )


def test_a_revoked_responder_certificate_signs_nothing(responder: OcspResponder) -> None:
    sub = responder.ca
    good = sub.issue_organization(key(4).public_key(), organization(), now=NOW).certificate
    sub.revoke(responder.signer_certificate.serial_number, x509.ReasonFlags.key_compromise, now=NOW)
    assert ask(responder, good).response_status is ocsp.OCSPResponseStatus.TRY_LATER


def test_openssl_ocsp_client_accepts_our_responses(
    pki: tuple[CertificateAuthority, CertificateAuthority], responder: OcspResponder, tmp_path: Path
) -> None:
    root, sub = pki
    good = sub.issue_organization(key(4).public_key(), organization(), now=NOW)
    bad = sub.issue_organization(key(5).public_key(), organization(), now=NOW)
    sub.revoke(bad.serial, x509.ReasonFlags.cessation_of_operation, now=NOW)
    (tmp_path / "root.pem").write_bytes(pem(root.certificate))
    (tmp_path / "sub.pem").write_bytes(pem(sub.certificate))
    for name, record, expected in (("good", good, "good"), ("bad", bad, "revoked")):
        (tmp_path / f"{name}.pem").write_bytes(record.pem)
        made = run_openssl(
            "ocsp", "-issuer", "sub.pem", "-sha256", "-cert", f"{name}.pem",
            "-reqout", f"{name}.req",
            cwd=tmp_path,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
        answer = responder.respond((tmp_path / f"{name}.req").read_bytes(), now=datetime.now(UTC))
        (tmp_path / f"{name}.resp").write_bytes(answer)
        # -reqin makes openssl check the nonce it put in the request against the answer.
        checked = run_openssl(
            "ocsp", "-reqin", f"{name}.req", "-respin", f"{name}.resp", "-resp_text",
            "-CAfile", "root.pem", "-verify_other", "sub.pem",
            cwd=tmp_path,
        )  # fmt: skip
        output = checked.stdout + checked.stderr
        assert "Response verify OK" in output, output
        assert f"Cert Status: {expected}" in output
        assert "OCSP Nonce" in output
