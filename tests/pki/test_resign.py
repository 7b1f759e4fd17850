"""Certificates and CRLs signed through resign.py: in memory, swapped, and by a token key."""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from lienthong.domain.errors import PkiError
from lienthong.pki.keys import SigningKey, generate_key
from lienthong.pki.pkcs11_key import generate_in_token
from lienthong.pki.resign import sign_certificate, sign_crl

if TYPE_CHECKING:  # conftest is not importable at run time (tests/ is no package)
    from tests.conftest import SoftHsmToken

NOW = dt.datetime.now(tz=dt.UTC).replace(microsecond=0)

EXPECTED_OID = {
    "rsa2048": SignatureAlgorithmOID.RSA_WITH_SHA256,
    "p256": SignatureAlgorithmOID.ECDSA_WITH_SHA256,
}


class TokenLike:
    """An in-memory key that hides its private half, as a token key does."""

    def __init__(self, inner: SigningKey) -> None:
        self.inner = inner
        self.signed: list[bytes] = []

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self.inner.public_key()

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        self.signed.append(data)
        return self.inner.sign(data, algorithm)

    @property
    def private_key(self) -> None:
        return None


class LyingKey(TokenLike):
    """Claims one public key, signs with another."""

    def __init__(self, inner: SigningKey, other: SigningKey) -> None:
        super().__init__(inner)
        self.other = other

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        return self.other.sign(data, algorithm)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Ban Cơ yếu Chính phủ"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _root_builder(key: SigningKey) -> x509.CertificateBuilder:
    name = _name("RootCA chuyên dùng thử nghiệm")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(hours=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )


def _leaf_builder(issuer: x509.Certificate, issuer_key: SigningKey) -> x509.CertificateBuilder:
    subject_key = generate_key("p256")
    return (
        x509.CertificateBuilder()
        .subject_name(_name("Nguyễn Văn A - Văn thư"))
        .issuer_name(issuer.subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(minutes=30))
        .not_valid_after(NOW + dt.timedelta(days=7))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )


def _crl_builder(
    issuer: x509.Certificate, issuer_key: SigningKey
) -> x509.CertificateRevocationListBuilder:
    revoked = (
        x509.RevokedCertificateBuilder()
        .serial_number(4242)
        .revocation_date(NOW - dt.timedelta(minutes=10))
        .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
        .build()
    )
    return (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - dt.timedelta(minutes=5))
        .next_update(NOW + dt.timedelta(days=1))
        .add_extension(x509.CRLNumber(7), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
        .add_revoked_certificate(revoked)
    )


def _issue_all(
    key: SigningKey,
) -> tuple[x509.Certificate, x509.Certificate, x509.CertificateRevocationList]:
    root = sign_certificate(_root_builder(key), key)
    leaf = sign_certificate(_leaf_builder(root, key), key, hashes.SHA256())
    crl = sign_crl(_crl_builder(root, key), key)
    return root, leaf, crl


def _check_with_cryptography(
    key: SigningKey,
    kind: str,
    root: x509.Certificate,
    leaf: x509.Certificate,
    crl: x509.CertificateRevocationList,
) -> None:
    root.verify_directly_issued_by(root)
    leaf.verify_directly_issued_by(root)
    assert crl.is_signature_valid(key.public_key())  # type: ignore[arg-type]
    for signed in (root, leaf, crl):
        assert signed.signature_algorithm_oid == EXPECTED_OID[kind]
    assert root.public_key() == key.public_key()
    assert crl.get_revoked_certificate_by_serial_number(4242) is not None


def _check_with_openssl(
    tmp_path: Path,
    root: x509.Certificate,
    leaf: x509.Certificate,
    crl: x509.CertificateRevocationList,
) -> None:
    root_pem = tmp_path / "root.pem"
    leaf_pem = tmp_path / "leaf.pem"
    crl_pem = tmp_path / "crl.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    leaf_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    crl_pem.write_bytes(crl.public_bytes(serialization.Encoding.PEM))

    def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["openssl", *map(str, args)], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    assert "OK" in openssl("verify", "-CAfile", root_pem, root_pem).stdout
    assert "OK" in openssl("verify", "-CAfile", root_pem, leaf_pem).stdout
    # With -crl_check OpenSSL also checks the CRL's signature and that the leaf is not on it.
    checked = openssl("verify", "-crl_check", "-CAfile", root_pem, "-CRLfile", crl_pem, leaf_pem)
    assert "OK" in checked.stdout
    crl_check = openssl("crl", "-in", crl_pem, "-CAfile", root_pem, "-noout")
    assert "verify OK" in crl_check.stdout + crl_check.stderr


# ----------------------------------------------------------------------------- without a token


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
def test_in_memory_keys_sign_directly(kind: str) -> None:
    key = generate_key(kind)
    root, leaf, crl = _issue_all(key)
    _check_with_cryptography(key, kind, root, leaf, crl)


@pytest.mark.unit
@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
def test_signature_is_swapped_for_keys_without_private_half(kind: str) -> None:
    key = TokenLike(generate_key(kind))
    root, leaf, crl = _issue_all(key)
    _check_with_cryptography(key, kind, root, leaf, crl)
    # The real key signed exactly the TBS bytes that ended up in each object.
    assert key.signed == [
        root.tbs_certificate_bytes,
        leaf.tbs_certificate_bytes,
        crl.tbs_certlist_bytes,
    ]


@pytest.mark.unit
def test_other_hashes_keep_inner_and_outer_algorithm_equal() -> None:
    key = TokenLike(generate_key("p256"))
    root = sign_certificate(_root_builder(key), key, hashes.SHA384())
    assert root.signature_algorithm_oid == SignatureAlgorithmOID.ECDSA_WITH_SHA384
    root.verify_directly_issued_by(root)


@pytest.mark.unit
def test_a_signature_from_another_key_is_caught() -> None:
    key = LyingKey(generate_key("p256"), generate_key("p256"))
    with pytest.raises(PkiError) as caught:
        sign_certificate(_root_builder(key), key)
    assert caught.value.code == "pki.key_signature_invalid"


# ----------------------------------------------------------------------------- a SoftHSM2 token


@pytest.mark.integration
@pytest.mark.parametrize("kind", ["rsa2048", "p256"])
def test_token_key_signs_certificates_and_crls_openssl_agrees(
    softhsm_token: SoftHsmToken, tmp_path: Path, kind: str
) -> None:
    with generate_in_token(
        softhsm_token.library,
        softhsm_token.label,
        softhsm_token.pin,
        key_label="root-ca",
        kind=kind,
    ) as key:
        assert key.private_key is None
        root, leaf, crl = _issue_all(key)
    assert root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest == (
        x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    )
    _check_with_cryptography(key, kind, root, leaf, crl)
    _check_with_openssl(tmp_path, root, leaf, crl)


@pytest.mark.integration
def test_openssl_notices_a_revoked_leaf(softhsm_token: SoftHsmToken, tmp_path: Path) -> None:
    # Guards the OpenSSL check above: with the leaf on the token-signed CRL it must fail.
    with generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ca", kind="p256"
    ) as key:
        root = sign_certificate(_root_builder(key), key)
        leaf = sign_certificate(_leaf_builder(root, key), key)
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(leaf.serial_number)
            .revocation_date(NOW - dt.timedelta(minutes=1))
            .build()
        )
        crl = sign_crl(_crl_builder(root, key).add_revoked_certificate(entry), key)
    for name, obj in (("root.pem", root), ("leaf.pem", leaf), ("crl.pem", crl)):
        (tmp_path / name).write_bytes(obj.public_bytes(serialization.Encoding.PEM))
    done = subprocess.run(
        [
            "openssl", "verify", "-crl_check", "-CAfile", tmp_path / "root.pem",
            "-CRLfile", tmp_path / "crl.pem", tmp_path / "leaf.pem",
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "certificate revoked" in done.stdout + done.stderr
