"""Who signs: a key, its certificate and the chain, from files (chứng thư và khóa ký).

Two sources: a CA directory made by ``lienthong ca init`` (``issued/NAME.pem`` with its
encrypted ``issued/NAME.key.pem``, the CA certificates in ``*/ca.pem``), and a PKCS#12 file
(the form agencies receive from a CA). A key held in a PKCS#11 token is wrapped in a
:class:`~lienthong.signing.pdf.SigningIdentity` directly, with its certificate.

Keys are read through a :class:`~lienthong.pki.keystore.KeyCache`: each file is decrypted
once per process (decryption is slow on purpose, see ``docs/keys.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import AuthorityInformationAccessOID

from lienthong.domain.errors import PkiError, SigningError
from lienthong.pki.keystore import KeyCache, Passphrase
from lienthong.signing.pdf import SigningIdentity

__all__ = [
    "build_chain",
    "ca_directory_identity",
    "ca_directory_roots",
    "ocsp_url",
    "pkcs12_identity",
    "trust_roots_of",
    "tsa_url_for",
]

_KEYS = KeyCache()


def _load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError:
        raise PkiError("pki.key_not_found", f"no certificate {path}") from None
    except ValueError as exc:
        raise PkiError("pki.key_corrupt", f"{path}: {exc}") from None


def _is_self_signed(certificate: x509.Certificate) -> bool:
    return certificate.issuer == certificate.subject


def build_chain(
    certificate: x509.Certificate, candidates: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """The issuers of ``certificate`` up to a self-signed root, taken from ``candidates``
    (matched by name and checked by signature); stops where no issuer is found."""
    chain: list[x509.Certificate] = []
    current = certificate
    while not _is_self_signed(current) and len(chain) < 8:
        issuer = next(
            (c for c in candidates if c.subject == current.issuer and _signed_by(current, c)),
            None,
        )
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return tuple(chain)


def _signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def ca_directory_roots(directory: Path) -> list[x509.Certificate]:
    """Every CA certificate of a CA directory (``*/ca.pem``)."""
    return [_load_certificate(p) for p in sorted(directory.glob("*/ca.pem"))]


def ca_directory_identity(directory: Path, name: str, passphrase: Passphrase) -> SigningIdentity:
    """The certificate ``NAME.pem`` and key ``NAME.key.pem`` of a CA directory; ``name`` is
    relative to the directory (``issued/nguyen-van-an``) or a bare name looked up in
    ``issued/``."""
    base = directory / name
    if not base.with_name(base.name + ".pem").exists() and "/" not in name:
        base = directory / "issued" / name
    cert_path = base.with_name(base.name + ".pem")
    key_path = base.with_name(base.name + ".key.pem")
    certificate = _load_certificate(cert_path)
    key = _KEYS.pem_key(key_path, passphrase)
    chain = build_chain(certificate, ca_directory_roots(directory))
    return SigningIdentity(key, certificate, chain)


def pkcs12_identity(path: Path, passphrase: Passphrase) -> SigningIdentity:
    """The key, certificate and chain of a PKCS#12 file."""
    bundle = _KEYS.pkcs12(path, passphrase)
    if bundle.certificate is None:
        raise PkiError("pki.key_not_found", f"{path} holds no certificate")
    chain = build_chain(bundle.certificate, bundle.chain) or bundle.chain
    return SigningIdentity(bundle.key, bundle.certificate, tuple(chain))


def trust_roots_of(identity: SigningIdentity) -> tuple[x509.Certificate, ...]:
    """The self-signed certificates at the top of the identity's chain."""
    return tuple(c for c in identity.chain if _is_self_signed(c))


def ocsp_url(certificate: x509.Certificate) -> str | None:
    """The OCSP responder named in the certificate's AIA, if any."""
    try:
        aia = certificate.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return None
    for description in aia:
        if description.access_method == AuthorityInformationAccessOID.OCSP:
            value = description.access_location.value
            return value if isinstance(value, str) else None
    return None


def tsa_url_for(certificate: x509.Certificate) -> str:
    """The TSA of the CA that issued ``certificate``, by the layout of ``lienthong ca
    serve`` (``…/ocsp/{ca}`` → ``…/tsa/{ca}``) [ours: certificates carry no TSA address]."""
    url = ocsp_url(certificate)
    if url is None or "/ocsp/" not in url:
        raise SigningError(
            "signing.timestamp_failed", "no TSA address: give --tsa-url (or sign at B-B)"
        )
    head, _, ca = url.rpartition("/ocsp/")
    return f"{head}/tsa/{ca}"
