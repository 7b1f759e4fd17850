"""Keys in a PKCS#11 token (SoftHSM2): generate inside, sign, verify outside, coded errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from pkcs11 import Attribute, ObjectClass

from lienthong.domain.errors import PkiError
from lienthong.pki.keys import SigningKey
from lienthong.pki.pkcs11_key import Pkcs11Key, generate_in_token

if TYPE_CHECKING:  # conftest is not importable at run time (tests/ is no package)
    from tests.conftest import SoftHsmToken

pytestmark = pytest.mark.integration

DATA = "Công văn số 123/UBND-VP".encode()


def _verify(
    key: SigningKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> None:
    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        public.verify(signature, data, padding.PKCS1v15(), algorithm)
    else:
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(signature, data, ec.ECDSA(algorithm))


def _open(token: SoftHsmToken, **kwargs: object) -> Pkcs11Key:
    return Pkcs11Key.open(token.library, token.label, token.pin, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "public_type", "size"),
    [("rsa2048", rsa.RSAPublicKey, 2048), ("p256", ec.EllipticCurvePublicKey, 256)],
)
def test_generate_sign_and_verify_outside(
    softhsm_token: SoftHsmToken, kind: str, public_type: type, size: int
) -> None:
    with generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ca", kind=kind
    ) as key:
        assert isinstance(key, SigningKey)
        assert key.private_key is None
        public = key.public_key()
        assert isinstance(public, public_type)
        assert public.key_size == size
        for algorithm in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
            _verify(key, key.sign(DATA, algorithm), DATA, algorithm)
        if kind == "p256":
            r, s = decode_dss_signature(key.sign(DATA, hashes.SHA256()))  # DER, not raw r||s
            assert r > 0
            assert s > 0
        with pytest.raises(PkiError) as caught:
            key.sign(DATA, hashes.SHA1())
        assert caught.value.code == "pki.key_unsupported"


def test_generated_key_is_sensitive_and_carries_the_ski_as_id(
    softhsm_token: SoftHsmToken,
) -> None:
    with generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ca", kind="p256"
    ) as key:
        ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest
    lib = pkcs11.lib(str(softhsm_token.library))
    with lib.get_token(token_label=softhsm_token.label).open(user_pin=softhsm_token.pin) as s:
        private = s.get_key(ObjectClass.PRIVATE_KEY, label="ca")
        assert private[Attribute.SENSITIVE] is True
        assert private[Attribute.EXTRACTABLE] is False
        assert private[Attribute.NEVER_EXTRACTABLE] is True
        assert private[Attribute.DECRYPT] is False
        assert private.id == ski
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            _ = private[Attribute.VALUE]


def test_reopen_by_label_or_id_and_share_the_login(softhsm_token: SoftHsmToken) -> None:
    first = generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ca"
    )
    with first:
        ski = x509.SubjectKeyIdentifier.from_public_key(first.public_key()).digest
        # Two more objects on the same token, open at the same time: one login for all.
        by_label = _open(softhsm_token, key_label="ca")
        by_id = _open(softhsm_token, key_id=ski)
        assert by_label.public_key() == first.public_key() == by_id.public_key()
        by_label.close()  # must not log the others out
        _verify(by_id, by_id.sign(DATA, hashes.SHA256()), DATA, hashes.SHA256())
        by_id.close()
        _verify(first, first.sign(DATA, hashes.SHA256()), DATA, hashes.SHA256())
    with pytest.raises(PkiError) as caught:
        first.sign(DATA, hashes.SHA256())
    assert caught.value.code == "pki.token_unavailable"
    first.close()  # closing twice is harmless
    # Everything closed and logged out: a fresh open logs in again.
    with _open(softhsm_token, key_label="ca") as again:
        _verify(again, again.sign(DATA, hashes.SHA256()), DATA, hashes.SHA256())


def test_concurrent_signing_on_one_session(softhsm_token: SoftHsmToken) -> None:
    with generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ocsp", kind="p256"
    ) as key:
        messages = [f"phản hồi OCSP {i}".encode() for i in range(40)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            signatures = list(pool.map(lambda m: key.sign(m, hashes.SHA256()), messages))
        for message, signature in zip(messages, signatures, strict=True):
            _verify(key, signature, message, hashes.SHA256())


def test_wrong_pin_is_coded(softhsm_token: SoftHsmToken) -> None:
    generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ca", kind="p256"
    ).close()
    with pytest.raises(PkiError) as caught:
        Pkcs11Key.open(softhsm_token.library, softhsm_token.label, "000000", key_label="ca")
    assert caught.value.code == "pki.token_wrong_pin"
    # While the token is logged in, the token itself would not check a second PIN; we do.
    with _open(softhsm_token, key_label="ca"):
        with pytest.raises(PkiError) as caught:
            Pkcs11Key.open(softhsm_token.library, softhsm_token.label, "000000", key_label="ca")
        assert caught.value.code == "pki.token_wrong_pin"


def test_missing_token_key_or_library_are_coded(
    softhsm_token: SoftHsmToken, tmp_path: Path
) -> None:
    with pytest.raises(PkiError) as caught:
        Pkcs11Key.open(softhsm_token.library, "no-such-token", softhsm_token.pin, key_label="ca")
    assert caught.value.code == "pki.token_unavailable"
    with pytest.raises(PkiError) as caught:
        _open(softhsm_token, key_label="no-such-key")
    assert caught.value.code == "pki.key_not_found"
    with pytest.raises(PkiError) as caught:
        Pkcs11Key.open(tmp_path / "libnothing.so", "x", "1", key_label="ca")
    assert caught.value.code == "pki.token_unavailable"


def test_generating_over_an_existing_label_is_refused(softhsm_token: SoftHsmToken) -> None:
    generate_in_token(
        softhsm_token.library, softhsm_token.label, softhsm_token.pin, key_label="ca", kind="p256"
    ).close()
    with pytest.raises(PkiError) as caught:
        generate_in_token(
            softhsm_token.library,
            softhsm_token.label,
            softhsm_token.pin,
            key_label="ca",
            kind="p256",
        )
    assert caught.value.code == "pki.key_exists"
    with pytest.raises(PkiError) as caught:
        generate_in_token(
            softhsm_token.library,
            softhsm_token.label,
            softhsm_token.pin,
            key_label="x",
            kind="dsa1024",
        )
    assert caught.value.code == "pki.key_unsupported"
