"""Signing our requests to the hub with the organisation certificate (ADR 0009).

The string to sign mirrors ``lienthong.hub.auth.string_to_sign`` (the client does not import
the hub; the end-to-end tests keep the two equal).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from lienthong.pki.keys import SigningKey

SCHEME = "lienthong-request-v1"


def content_digest(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` (SHA-256)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


class RequestSigner:
    """Adds the ``Lienthong-*`` headers to a request: certificate, date, nonce, digest,
    signature."""

    def __init__(
        self,
        key: SigningKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        self.key = key
        self.certificate = certificate
        self.fingerprint = certificate.fingerprint(hashes.SHA256()).hex()
        self._certificates = ",".join(
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
            for c in (certificate, *chain)
        )

    def headers(
        self, method: str, target: str, body: bytes, *, now: datetime | None = None
    ) -> dict[str, str]:
        """The headers for one request; ``target`` is the path with its query, as sent."""
        date = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        nonce = secrets.token_hex(16)
        digest = content_digest(body)
        message = "\n".join(
            (SCHEME, method.upper(), target, date, nonce, digest, self.fingerprint)
        ).encode()
        signature = self.key.sign(message, hashes.SHA256())
        return {
            "Lienthong-Certificate": self._certificates,
            "Lienthong-Date": date,
            "Lienthong-Nonce": nonce,
            "Content-Digest": digest,
            "Lienthong-Signature": base64.b64encode(signature).decode(),
        }


__all__ = ["RequestSigner", "content_digest"]
