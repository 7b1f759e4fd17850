"""Keys inside a PKCS#11 token (khóa trong thiết bị): USB tokens, HSMs, SoftHSM2 in tests.

A :class:`Pkcs11Key` is a :class:`~lienthong.pki.keys.SigningKey` whose private half never
leaves the token. It keeps one session open for its whole life and logs in once, never per
signature.

How we sign: the data is hashed here, in Python, and the token receives only the digest —
for RSA as a PKCS#1 v1.5 ``DigestInfo`` (RFC 8017 §9.2) signed with ``CKM_RSA_PKCS``, for EC
signed with ``CKM_ECDSA``, whose raw ``r || s`` output is DER-encoded for X.509. One raw
mechanism per key type works with every token we met (SoftHSM2 2.6 offers no
``CKM_ECDSA_SHA256`` at all), and a large attachment is not streamed over a slow USB link.

Two PKCS#11 rules shape the code:

* Login state belongs to the application, not to a session (PKCS#11 v2.40 §5.6,
  ``C_Login``/``C_Logout``): a second ``C_Login`` fails with ``CKR_USER_ALREADY_LOGGED_IN``
  (without checking the PIN) and ``C_Logout`` on any session logs out all of them. So each
  token has one shared *login session*, counted by the keys that use it; each key has its
  own unauthenticated session that inherits the login. A later key on the same token must
  give the same PIN (compared with an HMAC, the PIN is not kept).
* python-pkcs11 calls ``C_Initialize(NULL)``, which promises the module it will not be
  called from two threads at once (§5.4); every call into one module takes that module's
  lock. Tokens are serial devices, so this costs nothing real.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

import pkcs11
from asn1crypto import core as asn1_core  # type: ignore[import-untyped, unused-ignore]
from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped, unused-ignore]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPublicKeyTypes
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
from pkcs11 import exceptions as p11_errors
from pkcs11.util.ec import encode_named_curve_parameters

from lienthong.domain.errors import PkiError

log = logging.getLogger(__name__)

#: RFC 8017 §9.2 note 1: DER of DigestInfo up to the digest, per hash (SHA-1 deliberately absent).
_DIGEST_INFO_PREFIX: dict[str, bytes] = {
    "sha224": bytes.fromhex("302d300d06096086480165030402040500041c"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

_CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
}

#: What ``generate_in_token`` can make, the same kinds as :func:`lienthong.pki.keys.generate_key`.
KINDS = ("rsa2048", "rsa3072", "p256")


# ----------------------------------------------------------------------------- module state


@dataclass(slots=True)
class _Login:
    session: pkcs11.Session
    pin_mac: bytes
    users: int = 0


@dataclass(slots=True)
class _Module:
    """One loaded PKCS#11 library, its lock and the logins held on its tokens."""

    lib: Any  # pkcs11.lib: its stub is not importable as a type
    lock: threading.RLock = field(default_factory=threading.RLock)
    logins: dict[bytes, _Login] = field(default_factory=dict)
    mac_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))


_MODULES: dict[str, _Module] = {}
_MODULES_LOCK = threading.Lock()


def _module(library: str | os.PathLike[str]) -> _Module:
    # One canonical path per library: loading it twice under two names would call
    # C_Initialize twice in one process.
    path = os.path.realpath(library)
    with _MODULES_LOCK:
        module = _MODULES.get(path)
        if module is None:
            try:
                lib = pkcs11.lib(path)
            except p11_errors.PKCS11Error:
                log.exception("cannot load PKCS#11 library %s", path)
                raise PkiError("pki.token_unavailable", f"cannot load {path}") from None
            module = _Module(lib)
            _MODULES[path] = module
        return module


def _token(module: _Module, token_label: str) -> pkcs11.Token:
    try:
        token: pkcs11.Token = module.lib.get_token(token_label=token_label)
    except p11_errors.NoSuchToken:
        raise PkiError("pki.token_unavailable", f"no token labelled {token_label!r}") from None
    except p11_errors.MultipleTokensReturned:
        raise PkiError(
            "pki.token_unavailable", f"several tokens labelled {token_label!r}"
        ) from None
    except p11_errors.PKCS11Error as exc:
        raise _token_error(exc, token_label) from None
    return token


def _login(module: _Module, token: pkcs11.Token, pin: str) -> bytes:
    """Log in to ``token`` (or join the existing login); return the login's registry key."""
    serial: bytes = token.serial
    mac = hmac.new(module.mac_key, pin.encode("utf-8"), hashlib.sha256).digest()
    login = module.logins.get(serial)
    if login is None:
        try:
            session = token.open(user_pin=pin)
        except p11_errors.PinIncorrect:
            log.warning("wrong PIN for PKCS#11 token %r", token.label)
            raise PkiError("pki.token_wrong_pin", token.label) from None
        except p11_errors.PinLocked:
            log.warning("PIN locked on PKCS#11 token %r", token.label)
            raise PkiError("pki.token_pin_locked", token.label) from None
        except p11_errors.PKCS11Error as exc:
            raise _token_error(exc, token.label) from None
        login = _Login(session, mac)
        module.logins[serial] = login
    elif not hmac.compare_digest(login.pin_mac, mac):
        # The token would not check it (already logged in), so we do: a token has one PIN.
        log.warning("PIN differs from the one token %r was opened with", token.label)
        raise PkiError("pki.token_wrong_pin", token.label)
    login.users += 1
    return serial


def _logout(module: _Module, serial: bytes) -> None:
    login = module.logins.get(serial)
    if login is None:
        return
    login.users -= 1
    if login.users <= 0:
        del module.logins[serial]
        try:
            login.session.close()  # C_Logout, then C_CloseSession
        except p11_errors.PKCS11Error as exc:
            log.info("closing PKCS#11 login session: %r", exc)


def _token_error(exc: p11_errors.PKCS11Error, where: str) -> PkiError:
    log.error("PKCS#11 error on %r: %r", where, exc)
    unavailable = (
        p11_errors.TokenNotPresent,
        p11_errors.TokenNotRecognised,
        p11_errors.DeviceRemoved,
        p11_errors.DeviceError,
        p11_errors.SessionClosed,
        p11_errors.SessionHandleInvalid,
        p11_errors.UserNotLoggedIn,
    )
    if isinstance(exc, unavailable):
        return PkiError("pki.token_unavailable", f"{where}: {type(exc).__name__}")
    return PkiError("pki.token_failed", f"{where}: {type(exc).__name__}")


# ----------------------------------------------------------------------------- the key


class Pkcs11Key:
    """A signing key held in a PKCS#11 token; implements :class:`~lienthong.pki.keys.SigningKey`.

    Open one with :meth:`open` or :func:`generate_in_token`; close it (or use ``with``) when
    done. Thread-safe.
    """

    def __init__(
        self,
        *,
        module: _Module,
        serial: bytes,
        session: pkcs11.Session,
        private: pkcs11.Key,
        public: CertificateIssuerPublicKeyTypes,
        label: str,
    ) -> None:
        self._module = module
        self._serial = serial
        self._session: pkcs11.Session | None = session
        self._private = private
        self._public = public
        self.label = label

    @classmethod
    def open(
        cls,
        library: str | os.PathLike[str],
        token_label: str,
        pin: str,
        *,
        key_label: str | None = None,
        key_id: bytes | None = None,
    ) -> Pkcs11Key:
        """Open the key labelled ``key_label`` (and/or with ``CKA_ID`` ``key_id``) in a token."""
        if key_label is None and key_id is None:
            raise PkiError("pki.key_not_found", "give a key label or a key id")
        module = _module(library)
        with module.lock:
            token = _token(module, token_label)
            serial = _login(module, token, pin)
            session: pkcs11.Session | None = None
            try:
                session = token.open()
                private = _signing_key(session, key_label, key_id)
                public = _public_key(session, private, key_label, key_id)
                _check_mechanism(token, private)
                label = private.label
            except BaseException as exc:
                if session is not None:
                    _close_quietly(session)
                _logout(module, serial)
                if isinstance(exc, p11_errors.PKCS11Error):
                    raise _token_error(exc, token_label) from None
                raise
        return cls(
            module=module,
            serial=serial,
            session=session,
            private=private,
            public=public,
            label=label,
        )

    def public_key(self) -> CertificateIssuerPublicKeyTypes:
        """The public half, built from the token's public key attributes when opened."""
        return self._public

    @property
    def private_key(self) -> None:
        """Always ``None``: the private key cannot leave the token."""
        return None

    def sign(self, data: bytes, algorithm: hashes.HashAlgorithm) -> bytes:
        """Hash ``data`` here, sign the digest in the token; RSA PKCS#1 v1.5 or DER ECDSA."""
        if algorithm.name not in _DIGEST_INFO_PREFIX:
            raise PkiError("pki.key_unsupported", f"hash {algorithm.name}")
        digest = hashes.Hash(algorithm)
        digest.update(data)
        value = digest.finalize()
        rsa_key = isinstance(self._public, rsa.RSAPublicKey)
        with self._module.lock:
            if self._session is None:
                raise PkiError("pki.token_unavailable", f"key {self.label!r} is closed")
            try:
                signer = self._private
                assert isinstance(signer, pkcs11.SignMixin)  # checked when opened
                if rsa_key:
                    payload = _DIGEST_INFO_PREFIX[algorithm.name] + value
                    signature: bytes = signer.sign(payload, mechanism=Mechanism.RSA_PKCS)
                else:
                    raw: bytes = signer.sign(value, mechanism=Mechanism.ECDSA)
                    half = len(raw) // 2
                    signature = encode_dss_signature(
                        int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big")
                    )
            except p11_errors.PKCS11Error as exc:
                raise _token_error(exc, self.label) from None
        _verify(self._public, signature, data, algorithm, self.label)
        return signature

    def close(self) -> None:
        """Close this key's session; the token is logged out when its last key closes."""
        with self._module.lock:
            if self._session is None:
                return
            _close_quietly(self._session)
            self._session = None
            _logout(self._module, self._serial)

    def __enter__(self) -> Pkcs11Key:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._session is None else "open"
        return f"<Pkcs11Key {self.label!r} {type(self._public).__name__} {state}>"


def generate_in_token(
    library: str | os.PathLike[str],
    token_label: str,
    pin: str,
    *,
    key_label: str,
    kind: str = "rsa2048",
    key_id: bytes | None = None,
) -> Pkcs11Key:
    """Create a key pair inside the token (sensitive, never extractable) and open it.

    ``kind`` is ``rsa2048`` (the government profile), ``rsa3072`` or ``p256``. Without
    ``key_id`` the ``CKA_ID`` is the SHA-1 of the public key (RFC 5280 §4.2.1.2 method 1),
    the subject key identifier the certificate will carry, which is how most signing
    software pairs a certificate in the token with its key.
    """
    if kind not in KINDS:
        raise PkiError("pki.key_unsupported", f"unknown key kind {kind!r}: {', '.join(KINDS)}")
    module = _module(library)
    with module.lock:
        token = _token(module, token_label)
        serial = _login(module, token, pin)
        try:
            with token.open(rw=True) as session:
                if _exists(session, key_label, key_id):
                    raise PkiError("pki.key_exists", f"{key_label!r} in token {token_label!r}")
                key_id = _generate(session, kind, key_label, key_id)
            log.info("generated %s key %r in PKCS#11 token %r", kind, key_label, token_label)
            # Opened while our login is still held: the key joins it, no second C_Login.
            return Pkcs11Key.open(library, token_label, pin, key_label=key_label, key_id=key_id)
        except p11_errors.PKCS11Error as exc:
            raise _token_error(exc, token_label) from None
        finally:
            _logout(module, serial)


# ----------------------------------------------------------------------------- helpers


def _generate(session: pkcs11.Session, kind: str, label: str, key_id: bytes | None) -> bytes:
    capabilities = MechanismFlag.SIGN | MechanismFlag.VERIFY  # a signing key signs, only
    private_template = {
        Attribute.SENSITIVE: True,
        Attribute.EXTRACTABLE: False,
        Attribute.PRIVATE: True,
        Attribute.TOKEN: True,
    }
    temporary_id = key_id or secrets.token_bytes(20)
    common: dict[str, Any] = {
        "label": label,
        "id": temporary_id,
        "store": True,
        "capabilities": capabilities,
        "private_template": private_template,
    }
    if kind == "p256":
        params = session.create_domain_parameters(
            KeyType.EC,
            {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        public, private = params.generate_keypair(**common)
    else:
        bits = 2048 if kind == "rsa2048" else 3072
        public, private = session.generate_keypair(KeyType.RSA, bits, **common)
    if key_id is not None:
        return key_id
    # RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits, as the certificate's SKI.
    ski = x509.SubjectKeyIdentifier.from_public_key(_public_from_object(public, private)).digest
    public[Attribute.ID] = ski
    private[Attribute.ID] = ski
    return ski


def _exists(session: pkcs11.Session, label: str, key_id: bytes | None) -> bool:
    attrs: dict[Attribute, Any] = {Attribute.LABEL: label}
    if any(True for _ in session.get_objects(attrs)):
        return True
    return key_id is not None and any(True for _ in session.get_objects({Attribute.ID: key_id}))


def _find(
    session: pkcs11.Session,
    object_class: ObjectClass,
    label: str | None,
    key_id: bytes | None,
) -> pkcs11.Key:
    try:
        return session.get_key(object_class=object_class, label=label, id=key_id)
    except p11_errors.NoSuchKey:
        raise PkiError(
            "pki.key_not_found", f"no {object_class.name.lower()} {_describe(label, key_id)}"
        ) from None
    except p11_errors.MultipleObjectsReturned:
        raise PkiError(
            "pki.key_not_found",
            f"several objects match {_describe(label, key_id)}: give the key id too",
        ) from None
    except p11_errors.PKCS11Error as exc:
        raise _token_error(exc, _describe(label, key_id)) from None


def _signing_key(session: pkcs11.Session, label: str | None, key_id: bytes | None) -> pkcs11.Key:
    private = _find(session, ObjectClass.PRIVATE_KEY, label, key_id)
    if not isinstance(private, pkcs11.SignMixin):  # CKA_SIGN is false
        raise PkiError("pki.key_unsupported", f"{private.label!r} is not a signing key")
    return private


def _describe(label: str | None, key_id: bytes | None) -> str:
    parts = []
    if label is not None:
        parts.append(f"label {label!r}")
    if key_id is not None:
        parts.append(f"id {key_id.hex()}")
    return " ".join(parts)


def _public_key(
    session: pkcs11.Session,
    private: pkcs11.Key,
    label: str | None,
    key_id: bytes | None,
) -> CertificateIssuerPublicKeyTypes:
    # Prefer the id: the label alone may be shared by a key and a certificate object.
    search_id = key_id if key_id is not None else (private.id or None)
    search_label = label if search_id is None else None
    try:
        public: pkcs11.Key | None = _find(session, ObjectClass.PUBLIC_KEY, search_label, search_id)
    except PkiError:
        public = None
    return _public_from_object(public, private)


def _public_from_object(
    public: pkcs11.Key | None, private: pkcs11.Key
) -> CertificateIssuerPublicKeyTypes:
    key_type = private.key_type
    if key_type == KeyType.RSA:
        # An RSA private key object carries the modulus and exponent too (PKCS#11 §2.1.3).
        holder = public if public is not None else private
        modulus = int.from_bytes(holder[Attribute.MODULUS], "big")
        exponent = int.from_bytes(holder[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    if key_type == KeyType.EC:
        if public is None:
            raise PkiError("pki.key_not_found", f"no public key object for {private.label!r}")
        params = asn1_keys.ECDomainParameters.load(public[Attribute.EC_PARAMS])
        curve = _CURVES.get(params.chosen.native) if params.name == "named" else None
        if curve is None:
            raise PkiError("pki.key_unsupported", f"curve {params.native!r}")
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, _ec_point(public, curve))
    raise PkiError("pki.key_unsupported", f"PKCS#11 key type {key_type!r}")


def _ec_point(public: pkcs11.Key, curve: ec.EllipticCurve) -> bytes:
    # CKA_EC_POINT is the DER of an OCTET STRING holding the point (PKCS#11 v2.40 §2.3.3);
    # some tokens return the bare point, which we accept too.
    value: bytes = public[Attribute.EC_POINT]
    size = (curve.key_size + 7) // 8
    if len(value) == 1 + 2 * size and value[0] == 0x04:
        return value
    point: bytes = asn1_core.OctetString.load(value).native
    return point


def _check_mechanism(token: pkcs11.Token, private: pkcs11.Key) -> None:
    needed = Mechanism.RSA_PKCS if private.key_type == KeyType.RSA else Mechanism.ECDSA
    if needed not in token.slot.get_mechanisms():
        raise PkiError("pki.key_unsupported", f"the token does not offer {needed.name}")


def _verify(
    public: CertificateIssuerPublicKeyTypes,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm,
    label: str,
) -> None:
    # A signature that does not verify means the public object does not belong to the
    # private key, or the token faulted: never hand such a value out.
    if not _signature_ok(public, signature, data, algorithm):
        log.error("signature from PKCS#11 key %r does not verify with its public key", label)
        raise PkiError("pki.key_signature_invalid", label)


def _signature_ok(
    public: CertificateIssuerPublicKeyTypes,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm,
) -> bool:
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), algorithm)
        else:
            assert isinstance(public, ec.EllipticCurvePublicKey)
            public.verify(signature, data, ec.ECDSA(algorithm))
    except InvalidSignature:
        return False
    return True


def _close_quietly(session: pkcs11.Session) -> None:
    try:
        session.close()
    except p11_errors.PKCS11Error as exc:
        log.info("closing PKCS#11 session: %r", exc)
