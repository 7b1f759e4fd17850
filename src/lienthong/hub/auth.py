"""Who is calling: signed requests checked against the government PKI (ADR 0009).

A connected system (hệ thống kết nối) signs every request to our ``/v1`` API with its
organisation certificate's key. The signature covers the method, the path with its query, the
date, a nonce, the body digest (RFC 9530 ``Content-Digest``) and the certificate's fingerprint:

.. code-block:: text

    lienthong-request-v1
    POST
    /v1/packages
    2026-11-26T23:10:00Z
    4f1c…(nonce)
    sha-256=:…base64…:
    9a0b…(SHA-256 of the certificate, hex)

:class:`RequestAuthenticator` checks, in this order (cheapest refusal first): headers present,
date within the window, digest of the body, certificate chain to a trust root and valid now,
revocation (:class:`RevocationChecker`, OCSP or CRL, cached), the signature, the nonce not seen
before, and finally the certificate's fingerprint mapped to a system (``Caller``). Every
refusal is a coded :class:`AuthError`; the detail goes to the log, the caller sees the code.

The string to sign is duplicated in ``lienthong.client.signing`` (the client never imports the
hub); the end-to-end tests keep the two equal.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from lienthong.domain.errors import LienthongError
from lienthong.hub.api import Caller

log = logging.getLogger(__name__)

SCHEME = "lienthong-request-v1"
H_CERTIFICATE = "lienthong-certificate"  #: base64 DER, leaf first, chain after, comma-separated
H_DATE = "lienthong-date"  #: ISO 8601 UTC, e.g. 2026-11-26T23:10:00Z
H_NONCE = "lienthong-nonce"  #: 16 to 128 characters, unique per request
H_SIGNATURE = "lienthong-signature"  #: base64 of the signature over :func:`string_to_sign`
H_DIGEST = "content-digest"  #: RFC 9530, ``sha-256=:base64:``

#: How far a request's date may be from the hub's clock (either way), by default.
DEFAULT_WINDOW = timedelta(minutes=5)
MAX_CHAIN = 4
MAX_NONCE = 128


class AuthError(LienthongError):
    """Yêu cầu không được xác thực / the request is not authenticated."""

    default_code = "hub.auth_invalid"


def content_digest(body: bytes) -> str:
    """The RFC 9530 ``Content-Digest`` value of ``body`` (SHA-256)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"


def string_to_sign(  # noqa: PLR0917 - the six lines of the string, in order
    method: str, target: str, date: str, nonce: str, digest: str, fingerprint: str
) -> bytes:
    """What the calling system signs (see the module docstring)."""
    return "\n".join((SCHEME, method.upper(), target, date, nonce, digest, fingerprint)).encode()


def fingerprint_of(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint (hex, lower case) that names a certificate to the hub."""
    return certificate.fingerprint(hashes.SHA256()).hex()


def format_date(moment: datetime) -> str:
    """``moment`` as the ``Lienthong-Date`` header writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- revocation
class RevocationChecker(Protocol):
    """Answers whether a certificate issued by ``issuer`` is revoked at ``now``.

    Raises :class:`AuthError` ``hub.auth_revocation_unknown`` when it cannot tell: the hub
    fails closed.
    """

    def is_revoked(
        self, certificate: x509.Certificate, issuer: x509.Certificate, *, now: datetime
    ) -> bool:
        """``True`` if revoked or on hold."""
        ...


class CrlRevocation:
    """Revocation from CRLs, each fetched by ``fetch(issuer)`` and kept until its nextUpdate
    (at most ``max_age``). The CRL's signature is checked against the issuer."""

    def __init__(
        self,
        fetch: Callable[[x509.Certificate], x509.CertificateRevocationList],
        *,
        max_age: timedelta = timedelta(minutes=5),
    ) -> None:
        self._fetch = fetch
        self._max_age = max_age
        self._cache: dict[bytes, tuple[datetime, x509.CertificateRevocationList]] = {}
        self._lock = threading.Lock()

    def is_revoked(
        self, certificate: x509.Certificate, issuer: x509.Certificate, *, now: datetime
    ) -> bool:
        key = issuer.fingerprint(hashes.SHA256())
        with self._lock:
            cached = self._cache.get(key)
        if cached is None or cached[0] <= now:
            try:
                crl = self._fetch(issuer)
            except (OSError, httpx.HTTPError, ValueError) as exc:
                raise AuthError("hub.auth_revocation_unknown", f"CRL: {exc}") from exc
            if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                raise AuthError("hub.auth_revocation_unknown", "CRL signature invalid")
            until = now + self._max_age
            if crl.next_update_utc is not None:
                until = min(until, crl.next_update_utc)
            cached = (until, crl)
            with self._lock:
                self._cache[key] = cached
        return (
            cached[1].get_revoked_certificate_by_serial_number(certificate.serial_number)
            is not None
        )

    def forget(self) -> None:
        """Drop every cached CRL (after a revocation the operator wants seen at once)."""
        with self._lock:
            self._cache.clear()


def crl_over_http(
    timeout: float = 5.0,
) -> Callable[[x509.Certificate], x509.CertificateRevocationList]:
    """A CRL fetcher for :class:`CrlRevocation` that cannot know a leaf's distribution point
    from its issuer alone; prefer :class:`OcspRevocation`. Kept for CRL-only deployments where
    the issuer's own CRLDP names its CRL (``fetch`` reads the issuer's CRLDP)."""

    def fetch(issuer: x509.Certificate) -> x509.CertificateRevocationList:
        urls = _crl_urls(issuer)
        if not urls:
            raise ValueError("no CRL distribution point")
        response = httpx.get(urls[0], timeout=timeout)
        response.raise_for_status()
        return x509.load_der_x509_crl(response.content)

    return fetch


def _crl_urls(certificate: x509.Certificate) -> list[str]:
    try:
        points = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return []
    return [
        name.value
        for point in points
        for name in point.full_name or ()
        if isinstance(name, x509.UniformResourceIdentifier)
    ]


class OcspRevocation:
    """Revocation by OCSP (RFC 6960) at the responder named in the certificate's AIA, answers
    cached until their nextUpdate (at most ``max_age``). The response must be signed by the
    issuer or by a responder it delegated (id-kp-OCSPSigning)."""

    def __init__(
        self,
        *,
        max_age: timedelta = timedelta(minutes=5),
        timeout: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self._max_age = max_age
        self._client = client or httpx.Client(timeout=timeout)
        self._cache: dict[tuple[bytes, int], tuple[datetime, bool]] = {}
        self._lock = threading.Lock()

    def is_revoked(
        self, certificate: x509.Certificate, issuer: x509.Certificate, *, now: datetime
    ) -> bool:
        key = (issuer.fingerprint(hashes.SHA256()), certificate.serial_number)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        revoked, until = self._ask(certificate, issuer, now)
        with self._lock:
            self._cache[key] = (until, revoked)
        return revoked

    def close(self) -> None:
        """Close the HTTP client."""
        self._client.close()

    def _ask(
        self, certificate: x509.Certificate, issuer: x509.Certificate, now: datetime
    ) -> tuple[bool, datetime]:
        url = _ocsp_url(certificate)
        if url is None:
            raise AuthError("hub.auth_revocation_unknown", "no OCSP responder in the AIA")
        request = (
            ocsp.OCSPRequestBuilder()
            .add_certificate(certificate, issuer, hashes.SHA1())  # noqa: S303 - RFC 5019 CertID
            .build()
            .public_bytes(serialization.Encoding.DER)
        )
        try:
            answer = self._client.post(
                url, content=request, headers={"Content-Type": "application/ocsp-request"}
            )
            answer.raise_for_status()
            response = ocsp.load_der_ocsp_response(answer.content)
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthError("hub.auth_revocation_unknown", f"OCSP {url}: {exc}") from exc
        if response.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
            raise AuthError("hub.auth_revocation_unknown", f"OCSP {response.response_status}")
        _check_ocsp_signature(response, issuer)
        if response.serial_number != certificate.serial_number:
            raise AuthError("hub.auth_revocation_unknown", "OCSP answered for another serial")
        until = now + self._max_age
        if response.next_update_utc is not None:
            until = min(until, response.next_update_utc)
        status = response.certificate_status
        if status is ocsp.OCSPCertStatus.UNKNOWN:
            raise AuthError("hub.auth_revocation_unknown", "OCSP status unknown")
        return status is ocsp.OCSPCertStatus.REVOKED, until


def _ocsp_url(certificate: x509.Certificate) -> str | None:
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for access in aia:
        if access.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            access.access_location, x509.UniformResourceIdentifier
        ):
            return access.access_location.value
    return None


def _check_ocsp_signature(response: ocsp.OCSPResponse, issuer: x509.Certificate) -> None:
    signer = issuer
    for candidate in response.certificates:
        if candidate.subject == issuer.subject:
            continue
        try:
            candidate.verify_directly_issued_by(issuer)
            usage = candidate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
        except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
            continue
        if x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in usage.value:
            signer = candidate
            break
    algorithm = response.signature_hash_algorithm
    if algorithm is None or not _verify(
        signer.public_key(), response.signature, response.tbs_response_bytes, algorithm
    ):
        raise AuthError("hub.auth_revocation_unknown", "OCSP response signature invalid")


def _verify(
    public_key: object, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, data, ec.ECDSA(algorithm))
        else:
            return False
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- nonces
class NonceCache:
    """Nonces seen within the date window; a second use is a replay (in this process).

    Several hub processes each keep their own: see ADR 0009 for why a replay routed to another
    process gains nothing (sends are idempotent by DocumentId, reads return only what the key
    holder may read anyway).
    """

    def __init__(self, ttl: timedelta, *, max_entries: int = 1_000_000) -> None:
        self._ttl = ttl.total_seconds()
        self._max = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._lock = threading.Lock()

    def first_use(self, key: str) -> bool:
        """Record ``key``; ``False`` if it was already recorded and has not expired."""
        now = time.monotonic()
        with self._lock:
            while self._seen:
                oldest, at = next(iter(self._seen.items()))
                if now - at < self._ttl and len(self._seen) < self._max:
                    break
                del self._seen[oldest]
            if key in self._seen:
                return False
            self._seen[key] = now
            return True


# --------------------------------------------------------------------------- authenticator
@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the authenticator needs of an HTTP request."""

    method: str
    target: str  #: path and query exactly as sent (``/v1/agencies/X/inbox?limit=5``)
    headers: Mapping[str, str]  #: lower-case names
    body: bytes


#: Maps a certificate fingerprint to the system it authenticates (the hub's registry), or
#: ``None`` if no system uses this certificate.
SystemResolver = Callable[[str], Caller | None]


@dataclass
class _Verified:
    until: datetime
    leaf: x509.Certificate


class RequestAuthenticator:
    """Checks signed requests (ADR 0009) and returns the :class:`Caller`.

    ``trust_roots`` are the PKI's root certificates; ``intermediates`` delegated CAs the hub
    knows (the request may also carry its chain). Chain and revocation results are cached for
    ``cache_for`` (default one minute) so that a busy sender costs one signature check per
    request.
    """

    def __init__(
        self,
        *,
        trust_roots: Sequence[x509.Certificate],
        resolve: SystemResolver,
        revocation: RevocationChecker | None,
        intermediates: Iterable[x509.Certificate] = (),
        window: timedelta = DEFAULT_WINDOW,
        cache_for: timedelta = timedelta(minutes=1),
        operators: Iterable[str] = (),
    ) -> None:
        self._roots = {root.subject.public_bytes(): root for root in trust_roots}
        self._known = {c.subject.public_bytes(): c for c in intermediates}
        self._resolve = resolve
        self._revocation = revocation
        self._window = window
        self._cache_for = cache_for
        self._operators = frozenset(op.lower() for op in operators)
        self._nonces = NonceCache(2 * window)
        self._verified: dict[str, _Verified] = {}
        self._lock = threading.Lock()

    def authenticate(self, request: SignedRequest, *, now: datetime) -> Caller:
        """The authenticated caller, or :class:`AuthError`."""
        headers = request.headers
        cert_header = headers.get(H_CERTIFICATE)
        date = headers.get(H_DATE)
        nonce = headers.get(H_NONCE)
        signature = headers.get(H_SIGNATURE)
        if not (cert_header and date and nonce and signature):
            raise AuthError("hub.auth_missing", "Lienthong-* headers missing")
        self._check_date(date, now)
        if not 16 <= len(nonce) <= MAX_NONCE:
            raise AuthError("hub.auth_invalid", "nonce length")
        digest = content_digest(request.body)
        if headers.get(H_DIGEST, digest if not request.body else "") != digest:
            raise AuthError("hub.auth_invalid", "Content-Digest does not match the body")
        leaf = self._certificate(cert_header, now)
        fingerprint = fingerprint_of(leaf)
        message = string_to_sign(request.method, request.target, date, nonce, digest, fingerprint)
        try:
            raw_signature = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise AuthError("hub.auth_invalid", "signature is not base64") from exc
        if not _verify(leaf.public_key(), raw_signature, message, hashes.SHA256()):
            raise AuthError("hub.auth_invalid", f"signature does not verify for {fingerprint}")
        if not self._nonces.first_use(f"{fingerprint}:{nonce}"):
            raise AuthError("hub.auth_replayed", f"nonce {nonce} seen before")
        caller = self._resolve(fingerprint)
        if caller is None:
            raise AuthError("hub.auth_unknown_system", fingerprint)
        if fingerprint in self._operators and not caller.operator:
            caller = Caller(caller.system_id, caller.agencies, operator=True)
        return caller

    def forget(self) -> None:
        """Drop the cached certificate checks (after a revocation that must show at once)."""
        with self._lock:
            self._verified.clear()

    def _check_date(self, date: str, now: datetime) -> None:
        try:
            moment = datetime.strptime(date, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError as exc:
            raise AuthError("hub.auth_invalid", f"bad date {date!r}") from exc
        if abs(moment - now) > self._window:
            raise AuthError("hub.auth_expired", f"{date} is outside ±{self._window}")

    def _certificate(self, header: str, now: datetime) -> x509.Certificate:
        parts = [p.strip() for p in header.split(",") if p.strip()]
        if not parts or len(parts) > MAX_CHAIN:
            raise AuthError("hub.auth_invalid", "certificate header")
        key = parts[0]
        with self._lock:
            cached = self._verified.get(key)
        if cached is not None and cached.until > now:
            return cached.leaf
        try:
            chain = [
                x509.load_der_x509_certificate(base64.b64decode(p, validate=True)) for p in parts
            ]
        except (binascii.Error, ValueError) as exc:
            raise AuthError("hub.auth_invalid", "certificate is not base64 DER") from exc
        leaf = chain[0]
        issuer = self._check_chain(chain, now)
        if self._revocation is not None and self._revocation.is_revoked(leaf, issuer, now=now):
            raise AuthError("hub.auth_revoked", f"serial {leaf.serial_number:x}")
        with self._lock:
            if len(self._verified) > 100_000:
                self._verified.clear()
            self._verified[key] = _Verified(now + self._cache_for, leaf)
        return leaf

    def _check_chain(self, chain: list[x509.Certificate], now: datetime) -> x509.Certificate:
        """Walk from the leaf to a trust root; return the leaf's issuer."""
        offered = {c.subject.public_bytes(): c for c in chain[1:]}
        current = chain[0]
        leaf_issuer: x509.Certificate | None = None
        for _ in range(MAX_CHAIN + 1):
            if not current.not_valid_before_utc <= now <= current.not_valid_after_utc:
                raise AuthError("hub.auth_untrusted", f"{current.subject.rfc4514_string()} expired")
            name = current.issuer.public_bytes()
            issuer = self._roots.get(name) or self._known.get(name) or offered.get(name)
            if issuer is None:
                raise AuthError(
                    "hub.auth_untrusted", f"no issuer {current.issuer.rfc4514_string()}"
                )
            try:
                current.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature) as exc:
                raise AuthError("hub.auth_untrusted", "chain signature") from exc
            if current is not chain[0] and not _is_ca(current):
                raise AuthError("hub.auth_untrusted", "an intermediate is not a CA")
            if leaf_issuer is None:
                leaf_issuer = issuer
            if name in self._roots and issuer is self._roots[name]:
                if not issuer.not_valid_before_utc <= now <= issuer.not_valid_after_utc:
                    raise AuthError("hub.auth_untrusted", "root expired")
                return leaf_issuer
            current = issuer
        raise AuthError("hub.auth_untrusted", "chain too long")


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    return constraints.ca


__all__ = [
    "DEFAULT_WINDOW",
    "H_CERTIFICATE",
    "H_DATE",
    "H_DIGEST",
    "H_NONCE",
    "H_SIGNATURE",
    "AuthError",
    "CrlRevocation",
    "NonceCache",
    "OcspRevocation",
    "RequestAuthenticator",
    "RevocationChecker",
    "SignedRequest",
    "SystemResolver",
    "content_digest",
    "crl_over_http",
    "fingerprint_of",
    "format_date",
    "string_to_sign",
]
