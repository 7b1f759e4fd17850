"""A small test PKI for the timestamp authority, generated per session: no blobs checked in.

Each :class:`TsaPki` is a self-signed root and a TSA certificate it issued, profiled as
RFC 3161 §2.3 wants (extended key usage ``timeStamping`` alone and critical; key usage
digitalSignature + nonRepudiation). The description is :class:`TsaSpec`; tests that need a
certificate that breaks the profile build one with :func:`build_tsa_pki`.

The fixtures are imported by ``test_tsa.py`` (the SoftHSM2 token fixture is in
``tests/conftest.py``). Also here: :func:`make_request`, a ``TimeStampReq`` builder for the
unit tests that do not go through ``openssl ts -query``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.tsa import TSA_POLICY_OID, TimestampAuthority


@dataclass(frozen=True)
class TsaSpec:
    """What to build: key kind, names, and the TSA certificate's profile."""

    kind: str = "rsa2048"  #: ``rsa2048`` or ``p256``, for the root and the TSA
    label: str = "Thử nghiệm"
    eku: tuple[x509.ObjectIdentifier, ...] = (ExtendedKeyUsageOID.TIME_STAMPING,)
    eku_critical: bool = True
    valid_from: timedelta = timedelta(days=-1)  #: relative to now
    valid_for: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class TsaPki:
    """A root, the TSA certificate it issued, their keys."""

    spec: TsaSpec
    root_key: InMemoryKey
    root: x509.Certificate
    tsa_key: InMemoryKey
    tsa: x509.Certificate

    def authority(
        self, *, policy_oid: str = TSA_POLICY_OID, accuracy_seconds: int = 1
    ) -> TimestampAuthority:
        """A TSA on this key and certificate, with the root as its chain."""
        return TimestampAuthority(
            self.tsa_key,
            self.tsa,
            (self.root,),
            policy_oid=policy_oid,
            accuracy_seconds=accuracy_seconds,
        )

    def write_pems(self, directory: Path) -> tuple[Path, Path]:
        """``root.pem`` and ``tsa.pem`` in ``directory``, for ``openssl ts -verify``."""
        root_pem = directory / "root.pem"
        tsa_pem = directory / "tsa.pem"
        root_pem.write_bytes(self.root.public_bytes(Encoding.PEM))
        tsa_pem.write_bytes(self.tsa.public_bytes(Encoding.PEM))
        return root_pem, tsa_pem


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "lienthong test PKI"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def build_tsa_pki(spec: TsaSpec = TsaSpec()) -> TsaPki:
    """Generate the keys and certificates ``spec`` describes, valid around the real now."""
    now = datetime.now(UTC).replace(microsecond=0)
    root_key = generate_key(spec.kind)
    tsa_key = generate_key(spec.kind)
    root_name = _name(f"Root CA {spec.label}")
    root_public = root_key.public_key()
    tsa_public = tsa_key.public_key()
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_public)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + spec.valid_from)
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
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
        .add_extension(root_ski, critical=False)
        .sign(root_key.private_key, hashes.SHA256())
    )
    tsa = (
        x509.CertificateBuilder()
        .subject_name(_name(f"TSA {spec.label}"))
        .issuer_name(root_name)
        .public_key(tsa_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + spec.valid_from)
        .not_valid_after(now + spec.valid_from + spec.valid_for)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        # RFC 3161 §2.3: timeStamping alone, and critical.
        .add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=spec.eku_critical)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(tsa_public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key.private_key, hashes.SHA256())
    )
    return TsaPki(spec=spec, root_key=root_key, root=root, tsa_key=tsa_key, tsa=tsa)


def make_request(
    data: bytes = b"van ban",
    *,
    hash_name: str = "sha256",
    imprint: bytes | None = None,
    nonce: int | None = 0x1234_5678_9ABC_DEF0,
    cert_req: bool = True,
    policy: str | None = None,
    version: int = 1,
    extensions: Iterable[dict[str, object]] = (),
) -> bytes:
    """A DER ``TimeStampReq`` built with asn1crypto, for cases ``openssl ts`` will not make."""
    if imprint is None:
        algorithm = getattr(hashes, hash_name.upper())()
        hasher = hashes.Hash(algorithm)
        hasher.update(data)
        imprint = hasher.finalize()
    fields: dict[str, object] = {
        "version": version,
        "message_imprint": {"hash_algorithm": {"algorithm": hash_name}, "hashed_message": imprint},
        "nonce": nonce,
        "cert_req": cert_req,
    }
    if policy is not None:
        fields["req_policy"] = policy
    extension_list = list(extensions)
    if extension_list:
        fields["extensions"] = extension_list
    return bytes(tsp.TimeStampReq(fields).dump())


# --------------------------------------------------------------------------- fixtures
# Session-scoped: an RSA key costs tens of milliseconds, and a certificate lives 30 days.


@pytest.fixture(scope="session")
def openssl_bin() -> str:
    """The ``openssl`` command (CI installs it; a machine without it fails these tests)."""
    found = shutil.which("openssl")
    if found is None:
        pytest.fail("openssl is not installed: the RFC 3161 interoperability tests need it")
    return found


@pytest.fixture(scope="session", params=["rsa2048", "p256"])
def tsa_pki(request: pytest.FixtureRequest) -> TsaPki:
    """The TSA test PKI, once with RSA-2048 keys and once with P-256 keys."""
    return build_tsa_pki(TsaSpec(kind=request.param, label=request.param))


@pytest.fixture(scope="session")
def rsa_tsa_pki() -> TsaPki:
    """An RSA-2048 TSA test PKI, for tests that need only one."""
    return build_tsa_pki(TsaSpec(kind="rsa2048", label="RSA"))


@pytest.fixture(scope="session")
def other_tsa_pki() -> TsaPki:
    """Another root and TSA: its tokens must not pass for ours."""
    return build_tsa_pki(TsaSpec(kind="p256", label="khác"))
