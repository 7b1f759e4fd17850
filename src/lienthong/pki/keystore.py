"""Key files (tệp khóa): encrypted PKCS#8 PEM and PKCS#12 bundles, read once per process.

A private key on disk is always encrypted with a passphrase unless the caller says
``allow_plaintext=True`` out loud. Files are written atomically (temporary file, ``fsync``,
rename) with mode 0600, so a crash never leaves half a CA key behind and no other user can
read it. Loading gives an :class:`~lienthong.pki.keys.InMemoryKey`; every failure is a coded
:class:`~lienthong.domain.errors.PkiError`, never a bare ``ValueError``.

Decrypting a key file is slow on purpose (PBKDF2) and loading an RSA key also checks the
key's arithmetic: together ~45 ms for RSA-2048 (see ``docs/keys.md``). A :class:`KeyCache`
reads and decrypts each file once per process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped, unused-ignore]
from asn1crypto import pem as asn1_pem  # type: ignore[import-untyped, unused-ignore]
from asn1crypto import pkcs12 as asn1_pkcs12  # type: ignore[import-untyped, unused-ignore]
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from lienthong.domain.errors import PkiError, UsageError
from lienthong.pki.keys import InMemoryKey, SigningKey

log = logging.getLogger(__name__)

#: A passphrase as typed (``str``, normalised to NFC, then UTF-8) or as raw bytes.
Passphrase = str | bytes

_FILE_MODE = 0o600


@dataclass(frozen=True, slots=True)
class Pkcs12Bundle:
    """What a PKCS#12 file holds: the key, its certificate and the chain above it."""

    key: InMemoryKey
    certificate: x509.Certificate | None
    chain: tuple[x509.Certificate, ...]


# ----------------------------------------------------------------------------- PKCS#8 PEM


def save_pem_key(
    path: str | os.PathLike[str],
    key: SigningKey,
    passphrase: Passphrase | None,
    *,
    allow_plaintext: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write ``key`` as PKCS#8 PEM encrypted with ``passphrase`` (mode 0600, atomically).

    ``passphrase=None`` is refused (``pki.key_unprotected``) unless ``allow_plaintext=True``.
    An existing file is kept (``pki.key_exists``) unless ``overwrite=True``.
    """
    private = _exportable(key)
    if passphrase is None:
        if not allow_plaintext:
            raise PkiError("pki.key_unprotected", "refusing to write a private key unencrypted")
        encryption: serialization.KeySerializationEncryption = serialization.NoEncryption()
    else:
        encryption = serialization.BestAvailableEncryption(_passphrase_bytes(passphrase))
    data = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return write_private_file(path, data, overwrite=overwrite)


def load_pem_key(
    path: str | os.PathLike[str],
    passphrase: Passphrase | None,
    *,
    allow_plaintext: bool = False,
) -> InMemoryKey:
    """Read a PEM private key (PKCS#8, or OpenSSL's traditional RSA/EC format).

    An unencrypted file is refused (``pki.key_unprotected``) unless ``allow_plaintext=True``,
    so a key that lost its protection is noticed rather than used.
    """
    data = _read(path)
    encrypted = _pem_is_encrypted(data)
    if not encrypted:
        if not allow_plaintext:
            raise PkiError("pki.key_unprotected", f"{path} is not encrypted")
        password = None
    elif passphrase is None:
        raise PkiError("pki.key_wrong_passphrase", f"{path} is encrypted: a passphrase is needed")
    else:
        password = _passphrase_bytes(passphrase)
    try:
        private = serialization.load_pem_private_key(data, password)
    except UnsupportedAlgorithm as exc:
        raise PkiError("pki.key_unsupported", f"{path}: {exc}") from None
    except (ValueError, TypeError):
        # A wrong passphrase and a damaged ciphertext look the same after decryption (bad
        # padding); a file whose outer structure parses is taken to have a wrong passphrase.
        if encrypted and _pkcs8_envelope_parses(data):
            log.warning("wrong passphrase for key file %s", path)
            raise PkiError("pki.key_wrong_passphrase", str(path)) from None
        raise PkiError("pki.key_corrupt", str(path)) from None
    return _in_memory(private, path)


# ----------------------------------------------------------------------------- PKCS#12


def save_pkcs12(
    path: str | os.PathLike[str],
    key: SigningKey,
    certificate: x509.Certificate | None,
    passphrase: Passphrase,
    *,
    chain: Sequence[x509.Certificate] = (),
    friendly_name: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a PKCS#12 bundle (key, its certificate, the chain) encrypted with ``passphrase``.

    The encryption is ``cryptography``'s best available (AES-256-CBC, PBKDF2, HMAC-SHA256),
    which OpenSSL 3 and Windows 10 (1709+) import; PKCS#12 files are never written in clear.
    """
    private = _exportable(key)
    if certificate is not None and certificate.public_key() != private.public_key():
        raise UsageError("usage.bad_argument", "the certificate does not belong to the key")
    name = friendly_name.encode("utf-8") if friendly_name is not None else None
    encryption = serialization.BestAvailableEncryption(_passphrase_bytes(passphrase))
    data = pkcs12.serialize_key_and_certificates(
        name, private, certificate, list(chain) or None, encryption
    )
    return write_private_file(path, data, overwrite=overwrite)


def load_pkcs12(path: str | os.PathLike[str], passphrase: Passphrase) -> Pkcs12Bundle:
    """Read a PKCS#12 bundle; it must hold a private key (``pki.key_not_found`` if not)."""
    data = _read(path)
    try:
        loaded = pkcs12.load_pkcs12(data, _passphrase_bytes(passphrase))
    except UnsupportedAlgorithm as exc:
        raise PkiError("pki.key_unsupported", f"{path}: {exc}") from None
    except (ValueError, TypeError):
        if _pfx_parses(data):
            log.warning("wrong passphrase for PKCS#12 file %s", path)
            raise PkiError("pki.key_wrong_passphrase", str(path)) from None
        raise PkiError("pki.key_corrupt", str(path)) from None
    if loaded.key is None:
        raise PkiError("pki.key_not_found", f"{path} holds no private key")
    key = _in_memory(loaded.key, path)
    certificate = loaded.cert.certificate if loaded.cert is not None else None
    if certificate is not None and certificate.public_key() != key.public_key():
        raise PkiError("pki.key_corrupt", f"{path}: the certificate does not belong to the key")
    chain = tuple(extra.certificate for extra in loaded.additional_certs)
    return Pkcs12Bundle(key=key, certificate=certificate, chain=chain)


# ----------------------------------------------------------------------------- the cache


@dataclass(slots=True)
class _Entry:
    stamp: tuple[int, int, int]
    passphrase_mac: bytes
    value: InMemoryKey | Pkcs12Bundle


class KeyCache:
    """Keys read from files, each file read and decrypted once per process (thread-safe).

    An entry is reused while the file is unchanged (same inode, size and mtime) and the same
    passphrase is given; a replaced file, or another passphrase, is read again, so a wrong
    passphrase is never accepted because the key happens to be cached. The passphrase itself
    is not kept, only an HMAC of it under a key that lives in this object.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._mac_key = secrets.token_bytes(32)
        self._loads = 0

    @property
    def loads(self) -> int:
        """How many times a file was actually read and decrypted."""
        return self._loads

    def pem_key(
        self,
        path: str | os.PathLike[str],
        passphrase: Passphrase | None,
        *,
        allow_plaintext: bool = False,
    ) -> InMemoryKey:
        """:func:`load_pem_key`, once per file."""
        value = self._get(
            "pem",
            path,
            passphrase,
            lambda: load_pem_key(path, passphrase, allow_plaintext=allow_plaintext),
        )
        assert isinstance(value, InMemoryKey)
        return value

    def pkcs12(self, path: str | os.PathLike[str], passphrase: Passphrase) -> Pkcs12Bundle:
        """:func:`load_pkcs12`, once per file."""
        value = self._get("p12", path, passphrase, lambda: load_pkcs12(path, passphrase))
        assert isinstance(value, Pkcs12Bundle)
        return value

    def clear(self) -> None:
        """Forget every key (they are reloaded on next use)."""
        with self._lock:
            self._entries.clear()

    def _get(
        self,
        kind: str,
        path: str | os.PathLike[str],
        passphrase: Passphrase | None,
        load: Callable[[], InMemoryKey | Pkcs12Bundle],
    ) -> InMemoryKey | Pkcs12Bundle:
        resolved = Path(path).resolve()
        mac = hmac.new(
            self._mac_key,
            b"" if passphrase is None else b"\x01" + _passphrase_bytes(passphrase),
            hashlib.sha256,
        ).digest()
        with self._lock:
            stamp = _stamp(resolved)
            entry = self._entries.get((kind, str(resolved)))
            if (
                entry is not None
                and entry.stamp == stamp
                and hmac.compare_digest(entry.passphrase_mac, mac)
            ):
                return entry.value
            value = load()
            self._loads += 1
            self._entries[(kind, str(resolved))] = _Entry(stamp, mac, value)
            return value


# ----------------------------------------------------------------------------- files


def write_private_file(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = False
) -> Path:
    """Write secret ``data`` to ``path`` with mode 0600: temporary file, fsync, rename.

    Without ``overwrite`` an existing file is left alone (``pki.key_exists``); the final step
    is then a hard link, which fails atomically if another process created the file first.
    """
    target = Path(path)
    if not overwrite and target.exists():
        raise PkiError("pki.key_exists", str(target))
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp already uses 0600; say it, whatever the umask
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if overwrite:
            tmp.replace(target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise PkiError("pki.key_exists", str(target)) from None
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_directory(target.parent)
    return target


def _fsync_directory(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise PkiError("pki.key_not_found", str(path)) from None
    except IsADirectoryError:
        raise PkiError("pki.key_not_found", f"{path} is a directory") from None


def _stamp(path: Path) -> tuple[int, int, int]:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PkiError("pki.key_not_found", str(path)) from None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


# ----------------------------------------------------------------------------- helpers


def _passphrase_bytes(passphrase: Passphrase) -> bytes:
    # Vietnamese input methods may send a letter like "ệ" precomposed or as base letter plus
    # combining marks; NFC makes both spellings the same passphrase.
    raw = (
        unicodedata.normalize("NFC", passphrase).encode("utf-8")
        if isinstance(passphrase, str)
        else passphrase
    )
    if not raw:
        raise PkiError("pki.key_unprotected", "the passphrase is empty")
    return raw


def _exportable(key: SigningKey) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    private = key.private_key
    if private is None:
        raise PkiError("pki.key_unsupported", "a token key cannot be written to a file")
    if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("pki.key_unsupported", type(private).__name__)
    return private


def _in_memory(private: object, path: str | os.PathLike[str]) -> InMemoryKey:
    if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("pki.key_unsupported", f"{path}: {type(private).__name__}")
    return InMemoryKey(private)


def _pem_is_encrypted(data: bytes) -> bool:
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data:
        return True
    # OpenSSL's traditional format marks encryption in a header (RFC 1421 §4.6.1.1).
    return b"Proc-Type: 4,ENCRYPTED" in data


def _pkcs8_envelope_parses(data: bytes) -> bool:
    if b"Proc-Type: 4,ENCRYPTED" in data:
        return True  # traditional format: no envelope to parse, the header was readable
    try:
        _, _, der = asn1_pem.unarmor(data)
        info = asn1_keys.EncryptedPrivateKeyInfo.load(der)
        _ = info["encryption_algorithm"].native
        encrypted: bytes = info["encrypted_data"].native
    except (ValueError, TypeError, KeyError):
        return False
    return len(encrypted) > 0


def _pfx_parses(data: bytes) -> bool:
    try:
        pfx = asn1_pkcs12.Pfx.load(data)
        _ = pfx["version"].native
        content_type: str = pfx["auth_safe"]["content_type"].native
    except (ValueError, TypeError, KeyError):
        return False
    return content_type == "data"
