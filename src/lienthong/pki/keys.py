"""Signing keys of the PKI, wherever they are held (khóa ký).

A :class:`SigningKey` signs bytes and shows its public key; the private material never
leaves its store. Keys held in files are ``cryptography`` key objects, loaded once and kept
(reloading an RSA-2048 key costs ~45 ms here, see docs/keys.md); keys held in a
PKCS#11 token sign inside the token.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)


@runtime_checkable
class SigningKey(Protocol):
    """A key that signs: RSA (PKCS#1 v1.5) or EC P-256 (DER-encoded ECDSA)."""

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        """The public half."""
        ...

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        """Sign ``data`` (hashing it with ``algorithm``) and return the signature value."""
        ...

    @property
    def private_key(self) -> CertificateIssuerPrivateKeyTypes | None:
        """The ``cryptography`` key object if the key lives in memory, ``None`` in a token."""
        ...


class InMemoryKey:
    """A key held as a ``cryptography`` object (loaded from a file, or just generated)."""

    def __init__(self, key: CertificateIssuerPrivateKeyTypes) -> None:
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise TypeError("only RSA and EC keys are supported")
        self._key = key

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        """The public half."""
        return self._key.public_key()

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        """PKCS#1 v1.5 for RSA, ECDSA for EC."""
        if isinstance(self._key, rsa.RSAPrivateKey):
            return self._key.sign(data, padding.PKCS1v15(), algorithm)
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        return self._key.sign(data, ec.ECDSA(algorithm))

    @property
    def private_key(self) -> CertificateIssuerPrivateKeyTypes:
        """The key object itself."""
        return self._key


def generate_key(kind: str = "rsa2048") -> InMemoryKey:
    """A new key: ``rsa2048`` (the government profile's default), ``rsa3072`` or ``p256``."""
    match kind:
        case "rsa2048":
            return InMemoryKey(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        case "rsa3072":
            return InMemoryKey(rsa.generate_private_key(public_exponent=65537, key_size=3072))
        case "p256":
            return InMemoryKey(ec.generate_private_key(ec.SECP256R1()))
        case _:
            raise ValueError(f"unknown key kind {kind!r}: rsa2048, rsa3072 or p256")
