"""An OCSP responder (RFC 6960) for one CA, answering from the CA's registry.

Responses are signed by a delegated responder certificate (EKU OCSPSigning, ocsp-nocheck).
A response without a nonce is cached and served again until it nears its ``nextUpdate`` or
the certificate's status changes, so most requests cost one status lookup (of the requested
certificate and of the responder's own, together) and no signature;
a request with a nonce gets a freshly signed response echoing it (RFC 8954).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from asn1crypto import keys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from lienthong.pki.ca import CertificateAuthority, CertState, CertStatus
from lienthong.pki.keys import SigningKey

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


@dataclass(frozen=True, slots=True)
class _Cached:
    state: tuple[object, ...]
    expires: datetime
    der: bytes


class OcspResponder:
    """Answers OCSP requests about the certificates of one CA."""

    def __init__(
        self,
        ca: CertificateAuthority,
        signer_certificate: x509.Certificate,
        signer_key: SigningKey,
        *,
        validity: timedelta = timedelta(hours=4),
        refresh_before: timedelta = timedelta(minutes=30),
    ) -> None:
        if signer_key.private_key is None:
            raise ValueError("the OCSP signer key must be held in memory (it signs per request)")
        self.ca = ca
        self.signer_certificate = signer_certificate
        self._signer = signer_key.private_key
        self._signer_serial = signer_certificate.serial_number
        self.validity = validity
        self.refresh_before = refresh_before
        issuer = ca.certificate
        public_der = issuer.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._issuer_hashes = {
            name: _issuer_hashes(issuer, public_der, factory()) for name, factory in _HASHES.items()
        }
        self._cache: dict[tuple[int, str], _Cached] = {}
        self._lock = threading.Lock()

    def respond(self, request_der: bytes, *, now: datetime) -> bytes:
        """The DER response to a DER request; never raises for bad input."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm
            serial = request.serial_number
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
        except (ValueError, TypeError, x509.UnsupportedGeneralNameType):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if self._issuer_hashes.get(algorithm.name) != (name_hash, key_hash):
            # Not about this CA (or a forged issuer): we are not authoritative for it.
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)
        try:
            nonce = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
        except x509.ExtensionNotFound:
            nonce = None
        # One lookup for both: our own responder certificate, and the one asked about.
        states = self.ca.registry.states(self.ca.name, {self._signer_serial, serial})
        signer = states.get(self._signer_serial)
        if signer is not None and signer.status is not CertStatus.GOOD:
            # Our own responder certificate is revoked or held: sign nothing with it.
            return _unsuccessful(ocsp.OCSPResponseStatus.TRY_LATER)
        record = states.get(serial)
        state = _state(record)
        key = (serial, algorithm.name)
        if nonce is None:
            cached = self._cache.get(key)
            if cached is not None and cached.state == state and now < cached.expires:
                return cached.der
        der = self._sign(record, serial, algorithm, name_hash, key_hash, nonce, now)
        if nonce is None:
            with self._lock:
                expires = now + self.validity - self.refresh_before
                self._cache[key] = _Cached(state, expires, der)
        return der

    def _sign(  # noqa: PLR0917 - private, called once, mirrors add_response_by_hash
        self,
        record: CertState | None,
        serial: int,
        algorithm: hashes.HashAlgorithm,
        name_hash: bytes,
        key_hash: bytes,
        nonce: bytes | None,
        now: datetime,
    ) -> bytes:
        if record is None:
            status, revoked_at, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        elif record.status is CertStatus.GOOD:
            status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
        else:
            status, revoked_at, reason = (
                ocsp.OCSPCertStatus.REVOKED,
                record.revoked_at,
                record.reason,
            )
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=algorithm,
                cert_status=status,
                this_update=now,
                next_update=now + self.validity,
                revocation_time=revoked_at,
                revocation_reason=reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self.signer_certificate)
            .certificates([self.signer_certificate])
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self._signer, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)


def _issuer_hashes(
    issuer: x509.Certificate, public_der: bytes, algorithm: hashes.HashAlgorithm
) -> tuple[bytes, bytes]:
    # RFC 6960 §4.1.1: hash of the issuer's DN, and of its public key BIT STRING value.
    key_bits = keys.PublicKeyInfo.load(public_der)["public_key"].contents[1:]
    name_digest = hashes.Hash(algorithm)
    name_digest.update(issuer.subject.public_bytes())
    key_digest = hashes.Hash(algorithm)
    key_digest.update(key_bits)
    return name_digest.finalize(), key_digest.finalize()


def _state(record: CertState | None) -> tuple[object, ...]:
    if record is None:
        return ("unknown",)
    return (record.status, record.revoked_at, record.reason)
