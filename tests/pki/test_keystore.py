"""Key files: encrypted PKCS#8 PEM and PKCS#12 round trips, refusals, permissions, the cache."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
import unicodedata
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from lienthong.domain.errors import LienthongError, PkiError
from lienthong.pki.keys import InMemoryKey, SigningKey, generate_key
from lienthong.pki.keystore import (
    KeyCache,
    load_pem_key,
    load_pkcs12,
    save_pem_key,
    save_pkcs12,
    write_private_file,
)

PASSPHRASE = "Mật khẩu bảo vệ khóa CA"


@pytest.fixture(scope="module")
def rsa_key() -> InMemoryKey:
    return generate_key("rsa2048")


@pytest.fixture(scope="module")
def ec_key() -> InMemoryKey:
    return generate_key("p256")


def _same_key(a: SigningKey, b: SigningKey) -> bool:
    return a.public_key() == b.public_key()


def _self_signed(
    key: InMemoryKey, name: str, issuer: InMemoryKey | None = None
) -> x509.Certificate:
    now = dt.datetime.now(tz=dt.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    signer = issuer or key
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(signer.private_key, hashes.SHA256())
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ----------------------------------------------------------------------------- PKCS#8 PEM


@pytest.mark.unit
@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_pem_round_trip(
    tmp_path: Path, rsa_key: InMemoryKey, ec_key: InMemoryKey, which: str
) -> None:
    key = rsa_key if which == "rsa" else ec_key
    path = save_pem_key(tmp_path / "ca.key.pem", key, PASSPHRASE)
    text = path.read_bytes()
    assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = load_pem_key(path, PASSPHRASE)
    assert isinstance(loaded, InMemoryKey)
    assert _same_key(loaded, key)
    signature = loaded.sign(b"van ban", hashes.SHA256())
    _verify(key.public_key(), signature, b"van ban")


def _verify(public: CertificateIssuerPublicKeyTypes, signature: bytes, data: bytes) -> None:
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))
    else:
        public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr]


@pytest.mark.unit
def test_passphrase_is_normalised_to_nfc(tmp_path: Path, ec_key: InMemoryKey) -> None:
    # The same Vietnamese passphrase typed with precomposed or combining characters.
    composed = unicodedata.normalize("NFC", PASSPHRASE)
    decomposed = unicodedata.normalize("NFD", PASSPHRASE)
    assert composed != decomposed
    path = save_pem_key(tmp_path / "k.pem", ec_key, decomposed)
    assert _same_key(load_pem_key(path, composed), ec_key)
    assert _same_key(load_pem_key(path, composed.encode("utf-8")), ec_key)


@pytest.mark.unit
def test_pem_wrong_passphrase_is_coded(tmp_path: Path, rsa_key: InMemoryKey) -> None:
    path = save_pem_key(tmp_path / "k.pem", rsa_key, PASSPHRASE)
    with pytest.raises(PkiError) as caught:
        load_pem_key(path, "sai mật khẩu")
    assert caught.value.code == "pki.key_wrong_passphrase"
    assert not isinstance(caught.value, ValueError)
    with pytest.raises(PkiError) as caught:
        load_pem_key(path, None)
    assert caught.value.code == "pki.key_wrong_passphrase"


@pytest.mark.unit
def test_unencrypted_save_is_refused_unless_asked(tmp_path: Path, ec_key: InMemoryKey) -> None:
    target = tmp_path / "plain.pem"
    with pytest.raises(PkiError) as caught:
        save_pem_key(target, ec_key, None)
    assert caught.value.code == "pki.key_unprotected"
    assert not target.exists()
    with pytest.raises(PkiError) as caught:
        save_pem_key(target, ec_key, "")
    assert caught.value.code == "pki.key_unprotected"

    save_pem_key(target, ec_key, None, allow_plaintext=True)
    assert target.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    # Reading it back also needs the explicit switch: an unprotected key is noticed.
    with pytest.raises(PkiError) as caught:
        load_pem_key(target, None)
    assert caught.value.code == "pki.key_unprotected"
    assert _same_key(load_pem_key(target, None, allow_plaintext=True), ec_key)


@pytest.mark.unit
def test_files_are_0600_whatever_the_umask(tmp_path: Path, ec_key: InMemoryKey) -> None:
    old = os.umask(0)
    try:
        pem = save_pem_key(tmp_path / "k.pem", ec_key, PASSPHRASE)
        p12 = save_pkcs12(tmp_path / "k.p12", ec_key, None, PASSPHRASE)
    finally:
        os.umask(old)
    assert _mode(pem) == 0o600
    assert _mode(p12) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.p12", "k.pem"]  # no temp files


@pytest.mark.unit
def test_existing_file_is_kept_unless_overwrite(
    tmp_path: Path, rsa_key: InMemoryKey, ec_key: InMemoryKey
) -> None:
    path = save_pem_key(tmp_path / "k.pem", ec_key, PASSPHRASE)
    with pytest.raises(PkiError) as caught:
        save_pem_key(path, rsa_key, PASSPHRASE)
    assert caught.value.code == "pki.key_exists"
    assert _same_key(load_pem_key(path, PASSPHRASE), ec_key)

    save_pem_key(path, rsa_key, PASSPHRASE, overwrite=True)
    assert _same_key(load_pem_key(path, PASSPHRASE), rsa_key)
    assert _mode(path) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]


@pytest.mark.unit
def test_write_private_file_replaces_atomically(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_bytes(b"old")
    target.chmod(0o644)
    write_private_file(target, b"new", overwrite=True)
    assert target.read_bytes() == b"new"
    assert _mode(target) == 0o600


@pytest.mark.unit
def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(PkiError) as caught:
        load_pem_key(tmp_path / "absent.pem", PASSPHRASE)
    assert caught.value.code == "pki.key_not_found"
    with pytest.raises(PkiError) as caught:
        load_pkcs12(tmp_path / "absent.p12", PASSPHRASE)
    assert caught.value.code == "pki.key_not_found"

    junk = tmp_path / "junk.pem"
    junk.write_bytes(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    with pytest.raises(PkiError) as caught:
        load_pem_key(junk, PASSPHRASE)
    assert caught.value.code == "pki.key_corrupt"
    junk.write_bytes(b"not a key at all")
    with pytest.raises(PkiError) as caught:
        load_pem_key(junk, None, allow_plaintext=True)
    assert caught.value.code == "pki.key_corrupt"
    with pytest.raises(PkiError) as caught:
        load_pkcs12(junk, PASSPHRASE)
    assert caught.value.code == "pki.key_corrupt"


@pytest.mark.unit
def test_non_rsa_ec_keys_are_unsupported(tmp_path: Path) -> None:
    other = ed25519.Ed25519PrivateKey.generate()
    pem = tmp_path / "ed.pem"
    pem.write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    with pytest.raises(PkiError) as caught:
        load_pem_key(pem, PASSPHRASE)
    assert caught.value.code == "pki.key_unsupported"

    p12 = tmp_path / "ed.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None, other, None, None, serialization.BestAvailableEncryption(PASSPHRASE.encode())
        )
    )
    with pytest.raises(PkiError) as caught:
        load_pkcs12(p12, PASSPHRASE)
    assert caught.value.code == "pki.key_unsupported"


class _TokenLike:
    """A SigningKey whose private half is not in memory."""

    def __init__(self, inner: InMemoryKey) -> None:
        self._inner = inner

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        return self._inner.public_key()

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        return self._inner.sign(data, algorithm)

    @property
    def private_key(self) -> None:
        return None


@pytest.mark.unit
def test_token_keys_cannot_be_saved(tmp_path: Path, ec_key: InMemoryKey) -> None:
    with pytest.raises(PkiError) as caught:
        save_pem_key(tmp_path / "k.pem", _TokenLike(ec_key), PASSPHRASE)
    assert caught.value.code == "pki.key_unsupported"


# ----------------------------------------------------------------------------- PKCS#12


@pytest.mark.unit
@pytest.mark.parametrize("which", ["rsa", "ec"])
def test_pkcs12_round_trip_with_chain(
    tmp_path: Path, rsa_key: InMemoryKey, ec_key: InMemoryKey, which: str
) -> None:
    key = rsa_key if which == "rsa" else ec_key
    root_key = ec_key if which == "rsa" else rsa_key
    root = _self_signed(root_key, "RootCA thử nghiệm")
    leaf = _self_signed(key, "Văn thư Sở Nội vụ")
    path = save_pkcs12(
        tmp_path / "user.p12", key, leaf, PASSPHRASE, chain=[root], friendly_name="văn thư"
    )
    bundle = load_pkcs12(path, PASSPHRASE)
    assert _same_key(bundle.key, key)
    assert bundle.certificate == leaf
    assert bundle.chain == (root,)
    raw = pkcs12.load_pkcs12(path.read_bytes(), PASSPHRASE.encode())
    assert raw.cert is not None
    assert raw.cert.friendly_name == "văn thư".encode()


@pytest.mark.unit
def test_pkcs12_wrong_passphrase_and_no_key(tmp_path: Path, ec_key: InMemoryKey) -> None:
    path = save_pkcs12(tmp_path / "k.p12", ec_key, None, PASSPHRASE)
    with pytest.raises(PkiError) as caught:
        load_pkcs12(path, "sai")
    assert caught.value.code == "pki.key_wrong_passphrase"

    certs_only = tmp_path / "certs.p12"
    certs_only.write_bytes(
        pkcs12.serialize_key_and_certificates(
            None,
            None,
            None,
            [_self_signed(ec_key, "CA")],
            serialization.BestAvailableEncryption(PASSPHRASE.encode()),
        )
    )
    with pytest.raises(PkiError) as caught:
        load_pkcs12(certs_only, PASSPHRASE)
    assert caught.value.code == "pki.key_not_found"


@pytest.mark.unit
def test_pkcs12_refuses_a_certificate_of_another_key(
    tmp_path: Path, rsa_key: InMemoryKey, ec_key: InMemoryKey
) -> None:
    with pytest.raises(LienthongError) as caught:
        save_pkcs12(tmp_path / "k.p12", ec_key, _self_signed(rsa_key, "x"), PASSPHRASE)
    assert caught.value.code == "usage.bad_argument"
    assert not (tmp_path / "k.p12").exists()


# ----------------------------------------------------------------------------- the cache


@pytest.mark.unit
def test_cache_reads_each_file_once(tmp_path: Path, rsa_key: InMemoryKey) -> None:
    pem = save_pem_key(tmp_path / "ca.pem", rsa_key, PASSPHRASE)
    p12 = save_pkcs12(tmp_path / "ca.p12", rsa_key, None, PASSPHRASE)
    cache = KeyCache()
    first = cache.pem_key(pem, PASSPHRASE)
    assert cache.pem_key(pem, PASSPHRASE) is first
    assert cache.pem_key(tmp_path / "." / "ca.pem", PASSPHRASE) is first  # same file
    bundle = cache.pkcs12(p12, PASSPHRASE)
    assert cache.pkcs12(p12, PASSPHRASE) is bundle
    assert cache.loads == 2

    cache.clear()
    assert cache.pem_key(pem, PASSPHRASE) is not first
    assert cache.loads == 3


@pytest.mark.unit
def test_cache_does_not_excuse_a_wrong_passphrase(tmp_path: Path, ec_key: InMemoryKey) -> None:
    pem = save_pem_key(tmp_path / "k.pem", ec_key, PASSPHRASE)
    cache = KeyCache()
    cache.pem_key(pem, PASSPHRASE)
    with pytest.raises(PkiError) as caught:
        cache.pem_key(pem, "sai")
    assert caught.value.code == "pki.key_wrong_passphrase"


@pytest.mark.unit
def test_cache_reloads_a_replaced_file(
    tmp_path: Path, rsa_key: InMemoryKey, ec_key: InMemoryKey
) -> None:
    pem = save_pem_key(tmp_path / "k.pem", ec_key, PASSPHRASE)
    cache = KeyCache()
    assert _same_key(cache.pem_key(pem, PASSPHRASE), ec_key)
    save_pem_key(pem, rsa_key, PASSPHRASE, overwrite=True)  # a new inode
    assert _same_key(cache.pem_key(pem, PASSPHRASE), rsa_key)
    assert cache.loads == 2


# ----------------------------------------------------------------------------- OpenSSL


@pytest.mark.integration
def test_openssl_reads_our_files_and_we_read_its(tmp_path: Path, rsa_key: InMemoryKey) -> None:
    pem = save_pem_key(tmp_path / "k.pem", rsa_key, PASSPHRASE)
    p12 = save_pkcs12(tmp_path / "k.p12", rsa_key, _self_signed(rsa_key, "CA"), PASSPHRASE)
    env = {**os.environ, "PW": PASSPHRASE}
    subprocess.run(
        ["openssl", "pkey", "-in", pem, "-passin", "env:PW", "-noout"],
        check=True,
        capture_output=True,
        env=env,
    )
    subprocess.run(
        ["openssl", "pkcs12", "-in", p12, "-passin", "env:PW", "-noenc", "-out", os.devnull],
        check=True,
        capture_output=True,
        env=env,
    )

    theirs = tmp_path / "openssl.pem"
    subprocess.run(
        [
            "openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-aes-256-cbc", "-pass", "env:PW", "-out", theirs,
        ],
        check=True,
        capture_output=True,
        env=env,
    )  # fmt: skip
    loaded = load_pem_key(theirs, PASSPHRASE)
    assert isinstance(loaded.public_key(), ec.EllipticCurvePublicKey)
