"""Signing certificates and CRLs with any :class:`~lienthong.pki.keys.SigningKey` (ký lại).

``cryptography``'s builders sign only with in-memory key objects. For a key in a PKCS#11
token we let the builder sign with a throwaway key of the same type, then swap the signature:
with ``asn1crypto`` we take the DER of ``tbsCertificate`` / ``tbsCertList`` exactly as the
builder encoded it, have the real key sign those bytes, put the value in the outer
``signatureValue`` and load the result back. The throwaway key's signature never leaves this
module. The signature algorithm (RFC 5280 §4.1.1.2: the outer ``signatureAlgorithm`` must
equal the ``signature`` field inside the TBS) depends only on the key type and the hash, so
the throwaway key of the same type yields the right identifier in both places.

Every swapped signature is verified with the real public key before it is returned, so a
token holding a different key than its public object claims is caught here, not by a
relying party.
"""

from __future__ import annotations

import functools
from typing import Any

from asn1crypto import core as asn1_core  # type: ignore[import-untyped, unused-ignore]
from asn1crypto import crl as asn1_crl  # type: ignore[import-untyped, unused-ignore]
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped, unused-ignore]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificateIssuerPublicKeyTypes,
)

from lienthong.domain.errors import PkiError
from lienthong.pki.keys import SigningKey

#: The hashes a certificate or CRL may be signed with here (SHA-2; SHA-1 is not offered).
SignatureHash = hashes.SHA224 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512

_SHA256 = hashes.SHA256()


def sign_certificate(
    builder: x509.CertificateBuilder,
    key: SigningKey,
    algorithm: SignatureHash = _SHA256,
) -> x509.Certificate:
    """Sign ``builder`` with ``key`` (sha256WithRSAEncryption or ecdsa-with-SHA256 by default)."""
    private = key.private_key
    if private is not None:
        return builder.sign(private, algorithm)
    draft = builder.sign(_stand_in(key.public_key()), algorithm)
    der = _resign(
        asn1_x509.Certificate.load(draft.public_bytes(serialization.Encoding.DER)),
        tbs_field="tbs_certificate",
        value_field="signature_value",
        key=key,
        algorithm=algorithm,
    )
    return x509.load_der_x509_certificate(der)


def sign_crl(
    builder: x509.CertificateRevocationListBuilder,
    key: SigningKey,
    algorithm: SignatureHash = _SHA256,
) -> x509.CertificateRevocationList:
    """Sign a CRL builder with ``key``, the same way as :func:`sign_certificate`."""
    private = key.private_key
    if private is not None:
        return builder.sign(private, algorithm)
    draft = builder.sign(_stand_in(key.public_key()), algorithm)
    der = _resign(
        asn1_crl.CertificateList.load(draft.public_bytes(serialization.Encoding.DER)),
        tbs_field="tbs_cert_list",
        value_field="signature",
        key=key,
        algorithm=algorithm,
    )
    return x509.load_der_x509_crl(der)


def _resign(
    signed: Any,
    *,
    tbs_field: str,
    value_field: str,
    key: SigningKey,
    algorithm: hashes.HashAlgorithm,
) -> bytes:
    """Replace the signature value of a parsed certificate or CRL; return the new DER."""
    public = key.public_key()
    tbs = signed[tbs_field]
    _check_algorithm(signed["signature_algorithm"], tbs["signature"], public, algorithm)
    # dump() gives back the bytes as parsed (no re-encoding): exactly what the builder made.
    tbs_der: bytes = tbs.dump()
    signature = key.sign(tbs_der, algorithm)
    _verify(public, signature, tbs_der, algorithm)
    signed[value_field] = asn1_core.OctetBitString(signature)
    der: bytes = signed.dump()
    return der


def _check_algorithm(
    outer: Any,
    inner: Any,
    public: CertificateIssuerPublicKeyTypes,
    algorithm: hashes.HashAlgorithm,
) -> None:
    # RFC 5280 §4.1.1.2 / §5.1.1.2: outer signatureAlgorithm == TBS signature, and both must
    # name the real key's algorithm (the stand-in key is of the same type, so they do).
    expected = "rsassa_pkcs1v15" if isinstance(public, rsa.RSAPublicKey) else "ecdsa"
    if (
        outer.dump() != inner.dump()
        or outer.signature_algo != expected
        or outer.hash_algo != algorithm.name
    ):
        raise PkiError(
            "pki.key_unsupported",
            f"signature algorithm {outer['algorithm'].native} does not fit the "
            f"{type(public).__name__} key with {algorithm.name}",
        )


def _verify(
    public: CertificateIssuerPublicKeyTypes,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm,
) -> None:
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, data, ec.ECDSA(algorithm))
        else:
            raise PkiError("pki.key_unsupported", type(public).__name__)
    except InvalidSignature:
        raise PkiError(
            "pki.key_signature_invalid", "the key's signature does not match its public key"
        ) from None


def _stand_in(public: CertificateIssuerPublicKeyTypes) -> CertificateIssuerPrivateKeyTypes:
    if isinstance(public, rsa.RSAPublicKey):
        return _stand_in_rsa(public.key_size)
    if isinstance(public, ec.EllipticCurvePublicKey):
        return _stand_in_ec(public.curve.name)
    raise PkiError("pki.key_unsupported", type(public).__name__)


@functools.cache
def _stand_in_rsa(key_size: int) -> rsa.RSAPrivateKey:
    # Generated once per size and process: an RSA key costs ~100 ms to generate.
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


@functools.cache
def _stand_in_ec(curve_name: str) -> ec.EllipticCurvePrivateKey:
    curve = _CURVES.get(curve_name)
    if curve is None:
        raise PkiError("pki.key_unsupported", f"curve {curve_name}")
    return ec.generate_private_key(curve())


_CURVES: dict[str, type[ec.EllipticCurve]] = {
    curve.name: curve for curve in (ec.SECP256R1, ec.SECP384R1, ec.SECP521R1)
}
