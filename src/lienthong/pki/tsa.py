"""The timestamp authority (dịch vụ cấp dấu thời gian), RFC 3161, without the transport.

:class:`TimestampAuthority` turns a DER ``TimeStampReq`` into a DER ``TimeStampResp``;
serving it over HTTP (``application/timestamp-query`` → ``application/timestamp-reply``)
is the hub's business. :func:`verify_token` checks a response against the data it stamps
and a trusted TSA certificate. The profile is described in ``docs/timestamps.md``.

The token is a CMS ``SignedData`` (RFC 5652) whose content is the ``TSTInfo``; its signed
attributes are contentType, messageDigest and signingCertificateV2 (RFC 5816, which
OpenSSL requires). The TSA signs the DER of the signed attributes through
:meth:`SigningKey.sign <lienthong.pki.keys.SigningKey.sign>`, so a key in a PKCS#11 token
works the same as one in memory.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

# asn1crypto ships no type information; its objects are Any to mypy.
from asn1crypto import algos, cms, core, tsp  # type: ignore[import-untyped, unused-ignore]
from asn1crypto import x509 as asn1_x509  # type: ignore[import-untyped, unused-ignore]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import ExtendedKeyUsageOID

from lienthong.domain.errors import PkiError, lookup
from lienthong.pki.keys import SigningKey
from lienthong.pki.oids import POLICY_TIMESTAMPING

__all__ = [
    "ACCEPTED_HASHES",
    "TSA_POLICY_OID",
    "TimestampAuthority",
    "TimestampInfo",
    "TimestampRequestInfo",
    "parse_request",
    "verify_token",
]

log = logging.getLogger(__name__)

#: Policy of our TSA (``<project arc>.1.2``, see :mod:`lienthong.pki.oids`); written into
#: every ``TSTInfo`` and the only ``reqPolicy`` a request may name.
TSA_POLICY_OID = POLICY_TIMESTAMPING.dotted_string

#: Hash algorithms accepted for the message imprint, by OID. SHA-1 is refused (badAlg):
#: its collisions let one token cover two documents.
ACCEPTED_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": hashes.SHA256,
    "2.16.840.1.101.3.4.2.2": hashes.SHA384,
    "2.16.840.1.101.3.4.2.3": hashes.SHA512,
}
_HASH_NAMES = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_SHA1 = "1.3.14.3.2.26"

_ID_CT_TST_INFO = "1.2.840.113549.1.9.16.1.4"  # RFC 3161 §2.4.2
_ID_SIGNED_DATA = "1.2.840.113549.1.7.2"
_ATTR_CONTENT_TYPE = "1.2.840.113549.1.9.3"
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"  # RFC 2634 (ESSCertID, SHA-1)
_ATTR_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"  # RFC 5035 (ESSCertIDv2)

# RFC 3161 §2.4.1: the serial number is an integer of at most 160 bits.
_MAX_SERIAL = 2**160

# What a refusal looks like on the wire: our code → PKIFailureInfo bit (RFC 3161 §2.4.2).
_FAIL_INFO = {
    "tsa.bad_request": "bad_data_format",
    "tsa.unsupported_version": "bad_request",
    "tsa.unsupported_hash": "bad_alg",
    "tsa.policy_not_accepted": "unaccepted_policy",
    "tsa.extension_not_accepted": "unaccepted_extensions",
    "tsa.unavailable": "system_failure",
}

# asn1crypto raises these on malformed input (it parses lazily: errors surface on access).
# asn1crypto meets hostile input with many exception types; AttributeError too (a tag read as
# another type: flip bit 6 of byte 66 of a valid request, found by the fuzz test).
_PARSE_ERRORS = (ValueError, TypeError, KeyError, OverflowError, AttributeError)


class _TimeStampResp(core.Sequence):  # type: ignore[misc, unused-ignore]
    """``TimeStampResp`` as RFC 3161 §2.4.2 has it: the token is OPTIONAL.

    asn1crypto 1.5's ``tsp.TimeStampResp`` makes it required, so it can neither write nor
    read a rejection.
    """

    _fields = [  # noqa: RUF012 -- asn1crypto's declaration style
        ("status", tsp.PKIStatusInfo),
        ("time_stamp_token", cms.ContentInfo, {"optional": True}),
    ]


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc, unused-ignore]
    """Any algorithm with any parameters: asn1crypto's own forces NULL on SHA-2 while
    parsing, which would turn a wrong-parameter request into badDataFormat, not badAlg."""

    _fields = [  # noqa: RUF012 -- asn1crypto's declaration style
        ("algorithm", core.ObjectIdentifier),
        ("parameters", core.Any, {"optional": True}),
    ]


class _MessageImprint(core.Sequence):  # type: ignore[misc, unused-ignore]
    _fields = [  # noqa: RUF012
        ("hash_algorithm", _AlgorithmIdentifier),
        ("hashed_message", core.OctetString),
    ]


class _TimeStampReq(core.Sequence):  # type: ignore[misc, unused-ignore]
    """``TimeStampReq`` (RFC 3161 §2.4.1), read leniently so each fault gets its failInfo."""

    _fields = [  # noqa: RUF012
        ("version", core.Integer),
        ("message_imprint", _MessageImprint),
        ("req_policy", core.ObjectIdentifier, {"optional": True}),
        ("nonce", core.Integer, {"optional": True}),
        ("cert_req", core.Boolean, {"default": False}),
        ("extensions", tsp.Extensions, {"implicit": 0, "optional": True}),
    ]


@dataclass(frozen=True, slots=True)
class TimestampRequestInfo:
    """What a ``TimeStampReq`` asks for (yêu cầu cấp dấu thời gian)."""

    hash_algorithm: str  #: ``sha256``, ``sha384`` or ``sha512``
    imprint: bytes  #: the hash of the data to stamp
    nonce: int | None
    cert_req: bool  #: include the TSA certificate (and chain) in the token
    policy: str | None  #: the requested TSA policy OID, dotted


@dataclass(frozen=True, slots=True)
class TimestampInfo:
    """A verified timestamp token (dấu thời gian đã kiểm tra): when, which, under what policy."""

    gen_time: datetime  #: aware, UTC
    serial: int
    policy: str  #: dotted OID
    nonce: int | None
    accuracy: timedelta | None
    hash_algorithm: str  #: of the message imprint


def parse_request(der: bytes) -> TimestampRequestInfo:
    """Read a DER ``TimeStampReq`` and check it against our profile.

    Raises :class:`PkiError` with ``tsa.bad_request`` (not a TimeStampReq, or an imprint of
    the wrong length), ``tsa.unsupported_version``, ``tsa.unsupported_hash`` or
    ``tsa.extension_not_accepted``. The policy is returned, not judged: which policies are
    acceptable is the authority's choice.
    """
    return _parse_request(der)[1]


def _parse_request(der: bytes) -> tuple[_TimeStampReq, TimestampRequestInfo]:
    try:
        request = _TimeStampReq.load(der, strict=True)
        request.native  # noqa: B018 -- asn1crypto parses lazily; force it to see every field
        version = request["version"].native
        imprint = request["message_imprint"]
        algorithm = imprint["hash_algorithm"]
        oid = algorithm["algorithm"].dotted
        parameters = algorithm["parameters"].dump()
        digest = bytes(imprint["hashed_message"].native)
        nonce = request["nonce"].native
        cert_req = bool(request["cert_req"].native)
        policy = request["req_policy"].dotted if request["req_policy"].native else None
        extensions = request["extensions"].native or []
    except _PARSE_ERRORS as exc:
        raise PkiError("tsa.bad_request", "not a DER TimeStampReq") from exc
    # RFC 3161 §2.4.1: version 1 is the only one.
    if version != 1:
        raise PkiError("tsa.unsupported_version", f"version {version}")
    if oid not in ACCEPTED_HASHES:
        name = "sha1" if oid == _SHA1 else oid
        raise PkiError("tsa.unsupported_hash", f"hash algorithm {name}")
    # RFC 5754 §2: SHA-2 parameters are absent or NULL; anything else is another algorithm.
    if parameters not in (b"", b"\x05\x00"):
        raise PkiError("tsa.unsupported_hash", "hash algorithm with parameters")
    if len(digest) != ACCEPTED_HASHES[oid]().digest_size:
        raise PkiError("tsa.bad_request", f"imprint of {len(digest)} bytes for {_HASH_NAMES[oid]}")
    # RFC 3161 §2.4.1: an extension the TSA does not know, critical or not, is refused.
    if extensions:
        names = ", ".join(str(extension["extn_id"]) for extension in extensions)
        raise PkiError("tsa.extension_not_accepted", names)
    return request, TimestampRequestInfo(
        hash_algorithm=_HASH_NAMES[oid],
        imprint=digest,
        nonce=nonce,
        cert_req=cert_req,
        policy=policy,
    )


class TimestampAuthority:
    """An RFC 3161 TSA: a signing key, its certificate, the chain above it, one policy.

    The certificate must be fit for timestamping (RFC 3161 §2.3): extended key usage
    ``timeStamping`` only, marked critical; key usage, if present, allowing
    digitalSignature or nonRepudiation. A certificate that is not raises
    ``PkiError("tsa.bad_certificate")``.
    """

    def __init__(
        self,
        key: SigningKey,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        policy_oid: str = TSA_POLICY_OID,
        accuracy_seconds: int = 1,
    ) -> None:
        if accuracy_seconds < 1:
            # genTime is truncated to the second, so the accuracy cannot be finer.
            raise ValueError("accuracy_seconds must be at least 1")
        problem = _certificate_problem(certificate)
        if problem:
            raise PkiError("tsa.bad_certificate", problem)
        if _spki(key.public_key()) != _spki(certificate.public_key()):
            raise PkiError("tsa.bad_certificate", "the certificate is not for this key")
        self._key = key
        self._certificate = certificate
        self._signature_hash, self._signature_algorithm = _signature_profile(key)
        # Kept as DER and loaded afresh for each token: asn1crypto re-encodes a structure
        # once it has been looked into, and that costs ~10 ms per token for two certificates.
        self._certificate_ders = tuple(
            extra.public_bytes(Encoding.DER) for extra in (certificate, *chain)
        )
        parsed = asn1_x509.Certificate.load(self._certificate_ders[0])
        self._subject_der = parsed.subject.dump()
        self._issuer_der = parsed.issuer.dump()
        self._signing_certificate_der = _signing_certificate_v2(self._certificate_ders[0]).dump()
        self._policy = str(core.ObjectIdentifier(policy_oid).dotted)
        self._accuracy = accuracy_seconds

    @property
    def policy_oid(self) -> str:
        """The policy written into every token."""
        return self._policy

    def respond(self, request_der: bytes, *, now: datetime, serial: int) -> bytes:
        """Answer a DER ``TimeStampReq`` with a DER ``TimeStampResp``.

        ``now`` (aware) becomes genTime, in UTC and truncated to the second; ``serial`` is the
        token's serial number, unique for this TSA (the caller keeps the counter). A request
        we cannot or will not serve gets a response with status *rejection* and the matching
        failInfo (RFC 3161 §2.4.2), never an exception; :class:`ValueError` means the caller
        passed a naive ``now`` or a serial outside 1 … 2¹⁶⁰−1.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be an aware datetime")
        if not 0 < serial < _MAX_SERIAL:
            raise ValueError("serial must be a positive integer of at most 160 bits")
        try:
            request, info = self._admit(request_der, now)
        except PkiError as refusal:
            log.info("timestamp request refused: %s", refusal.describe())
            return bytes(_rejection(refusal.code).dump())
        token = self._token(request, info, now=now, serial=serial)
        granted = _TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
        return bytes(granted.dump())

    def _admit(
        self, request_der: bytes, now: datetime
    ) -> tuple[_TimeStampReq, TimestampRequestInfo]:
        """The parsed request if we serve it; a coded :class:`PkiError` says why not."""
        request, info = _parse_request(request_der)
        if info.policy is not None and info.policy != self._policy:
            raise PkiError("tsa.policy_not_accepted", info.policy)
        certificate = self._certificate
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise PkiError("tsa.unavailable", "the TSA certificate is not valid now")
        return request, info

    def _token(
        self,
        request: _TimeStampReq,
        info: TimestampRequestInfo,
        *,
        now: datetime,
        serial: int,
    ) -> cms.ContentInfo:
        tst_info = tsp.TSTInfo(
            {
                "version": "v1",
                "policy": self._policy,
                # RFC 3161 §2.4.2: the same value as in the request, parameters included.
                "message_imprint": tsp.MessageImprint.load(request["message_imprint"].dump()),
                "serial_number": serial,
                "gen_time": now.astimezone(UTC).replace(microsecond=0),
                "accuracy": {"seconds": self._accuracy},
                "nonce": info.nonce,
                "tsa": asn1_x509.GeneralName(
                    name="directory_name", value=asn1_x509.Name.load(self._subject_der)
                ),
            }
        )
        content = tst_info.dump()
        digest_name = self._signature_hash.name
        attributes = cms.CMSAttributes(
            [
                {"type": "content_type", "values": ["tst_info"]},
                {"type": "message_digest", "values": [_digest(self._signature_hash, content)]},
                {
                    "type": "signing_certificate_v2",
                    "values": [tsp.SigningCertificateV2.load(self._signing_certificate_der)],
                },
            ]
        )
        # RFC 5652 §5.4: the signature covers the DER of the attributes as a SET OF (tag 0x31),
        # not the [0] IMPLICIT form they take inside SignerInfo; CMSAttributes sorts them (DER).
        signature = self._key.sign(attributes.dump(), self._signature_hash)
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value={
                        "issuer": asn1_x509.Name.load(self._issuer_der),
                        "serial_number": self._certificate.serial_number,
                    },
                ),
                "digest_algorithm": {"algorithm": digest_name},
                "signed_attrs": attributes,
                "signature_algorithm": self._signature_algorithm,
                "signature": signature,
            }
        )
        signed_data: dict[str, object] = {
            "version": "v3",  # RFC 5652 §5.1: eContentType is not id-data
            "digest_algorithms": [{"algorithm": digest_name}],
            "encap_content_info": {
                "content_type": "tst_info",
                "content": tsp.TSTInfo.load(content),  # keeps these exact bytes
            },
            "signer_infos": [signer],
        }
        if info.cert_req:
            # RFC 3161 §2.4.1: certReq asks for the TSA certificate; we add the chain above
            # it (RFC 5652 CertificateSet is a SET OF, so DER sorts them: no order to rely on).
            signed_data["certificates"] = [
                cms.CertificateChoices(
                    name="certificate", value=asn1_x509.Certificate.load(certificate)
                )
                for certificate in self._certificate_ders
            ]
        return cms.ContentInfo(
            {"content_type": "signed_data", "content": cms.SignedData(signed_data)}
        )


def verify_token(
    response_der: bytes,
    data: bytes,
    trusted_tsa_cert: x509.Certificate,
    *,
    nonce: int | None = None,
) -> TimestampInfo:
    """Check a DER ``TimeStampResp`` for ``data``, signed by ``trusted_tsa_cert``.

    Checks: the status is granted; the token is a SignedData over a TSTInfo with one signer,
    identified as ``trusted_tsa_cert``; the imprint is the hash of ``data`` (SHA-2 only);
    the messageDigest and contentType attributes; the signing-certificate attribute (v2, or
    v1) names ``trusted_tsa_cert``; the signature verifies with its key; the certificate is
    fit for timestamping and valid at genTime; and the nonce, when one is given.
    Any failure raises ``PkiError("tsa.invalid_token", reason)``. Whether to trust the
    certificate itself (its chain, its revocation) is the caller's decision.
    """
    try:
        return _verify(response_der, data, trusted_tsa_cert, nonce)
    except _PARSE_ERRORS as exc:
        raise _invalid("malformed response or token") from exc


def _verify(
    response_der: bytes, data: bytes, certificate: x509.Certificate, nonce: int | None
) -> TimestampInfo:
    response = _TimeStampResp.load(response_der, strict=True)
    status = response["status"]["status"].native
    if status not in ("granted", "granted_with_mods"):
        raise _invalid(f"status {status}")
    token = response["time_stamp_token"]
    if token["content_type"].dotted != _ID_SIGNED_DATA:
        raise _invalid("the token is not a SignedData")
    signed_data = token["content"]
    encapsulated = signed_data["encap_content_info"]
    if encapsulated["content_type"].dotted != _ID_CT_TST_INFO:
        raise _invalid("the token does not hold a TSTInfo")
    content = bytes(encapsulated["content"])
    tst_info = tsp.TSTInfo.load(content, strict=True)
    tst_info.native  # noqa: B018 -- force the lazy parse inside the caller's try

    imprint = tst_info["message_imprint"]
    imprint_oid = imprint["hash_algorithm"]["algorithm"].dotted
    if imprint_oid not in ACCEPTED_HASHES:
        raise _invalid(f"imprint hash {imprint_oid} is not accepted")
    if bytes(imprint["hashed_message"].native) != _digest(ACCEPTED_HASHES[imprint_oid](), data):
        raise _invalid("the imprint does not match the data")
    if nonce is not None and tst_info["nonce"].native != nonce:
        raise _invalid("the nonce does not match")

    signers = signed_data["signer_infos"]
    if len(signers) != 1:
        raise _invalid(f"{len(signers)} signers")
    signer = signers[0]
    # The attributes exactly as received, taken before anything looks inside them: asn1crypto
    # re-encodes a structure once it has parsed its children, and the signature is over these.
    received_attributes = bytes(signer["signed_attrs"].dump())
    certificate_der = certificate.public_bytes(Encoding.DER)
    asn1_certificate = asn1_x509.Certificate.load(certificate_der)
    if not _identifies(signer["sid"], asn1_certificate):
        raise _invalid("signed by another certificate")
    digest_oid = signer["digest_algorithm"]["algorithm"].dotted
    if digest_oid not in ACCEPTED_HASHES:
        raise _invalid(f"signature hash {digest_oid} is not accepted")
    signature_hash = ACCEPTED_HASHES[digest_oid]()
    _check_attributes(signer, content, signature_hash, asn1_certificate, certificate_der)
    _check_signature(signer, received_attributes, signature_hash, certificate)

    gen_time: datetime = tst_info["gen_time"].native
    problem = _certificate_problem(certificate)
    if problem:
        raise _invalid(problem)
    if not certificate.not_valid_before_utc <= gen_time <= certificate.not_valid_after_utc:
        raise _invalid("genTime is outside the TSA certificate's validity")
    return TimestampInfo(
        gen_time=gen_time,
        serial=tst_info["serial_number"].native,
        policy=tst_info["policy"].dotted,
        nonce=tst_info["nonce"].native,
        accuracy=_accuracy(tst_info["accuracy"]),
        hash_algorithm=_HASH_NAMES[imprint_oid],
    )


def _check_attributes(
    signer: cms.SignerInfo,
    content: bytes,
    signature_hash: hashes.HashAlgorithm,
    certificate: asn1_x509.Certificate,
    certificate_der: bytes,
) -> None:
    if not signer["signed_attrs"]:
        raise _invalid("no signed attributes")
    found: dict[str, list[Any]] = {}
    for attribute in signer["signed_attrs"]:
        oid = attribute["type"].dotted
        if oid in found:
            raise _invalid(f"attribute {oid} appears twice")  # RFC 5652 §5.3
        found[oid] = list(attribute["values"])
    content_types = found.get(_ATTR_CONTENT_TYPE, [])
    if len(content_types) != 1 or content_types[0].dotted != _ID_CT_TST_INFO:
        raise _invalid("contentType attribute missing or not id-ct-TSTInfo")
    digests = found.get(_ATTR_MESSAGE_DIGEST, [])
    if len(digests) != 1 or digests[0].native != _digest(signature_hash, content):
        raise _invalid("messageDigest does not match the TSTInfo")
    cert_id, cert_hash = _signing_cert_id(found)
    # Hash the DER as given: asn1crypto re-encodes a certificate it has looked into.
    if bytes(cert_id["cert_hash"].native) != _digest(cert_hash, certificate_der):
        raise _invalid("the signing-certificate attribute names another certificate")
    issuer_serial = cert_id["issuer_serial"]
    if issuer_serial.native is not None and (
        issuer_serial["serial_number"].native != certificate.serial_number
        or not any(
            name.name == "directory_name" and name.chosen == certificate.issuer
            for name in issuer_serial["issuer"]
        )
    ):
        raise _invalid("the signing-certificate attribute names another issuer and serial")


def _signing_cert_id(found: dict[str, list[Any]]) -> tuple[Any, hashes.HashAlgorithm]:
    """The first ESSCertID(v2): the TSA's own certificate (RFC 3161 §2.4.1, RFC 5816 §2.2.1)."""
    if _ATTR_SIGNING_CERTIFICATE_V2 in found:
        values = found[_ATTR_SIGNING_CERTIFICATE_V2]
        cert_ids = values[0]["certs"] if len(values) == 1 else []
        if not cert_ids:
            raise _invalid("empty signingCertificateV2")
        hash_oid = cert_ids[0]["hash_algorithm"]["algorithm"].dotted
        if hash_oid not in ACCEPTED_HASHES:
            raise _invalid(f"signingCertificateV2 hash {hash_oid} is not accepted")
        return cert_ids[0], ACCEPTED_HASHES[hash_oid]()
    if _ATTR_SIGNING_CERTIFICATE in found:
        values = found[_ATTR_SIGNING_CERTIFICATE]
        cert_ids = values[0]["certs"] if len(values) == 1 else []
        if not cert_ids:
            raise _invalid("empty signingCertificate")
        # The v1 attribute identifies the certificate by SHA-1 by definition (RFC 2634 §5.4);
        # it only binds the signer to a certificate whose key already verified the signature.
        return cert_ids[0], hashes.SHA1()  # noqa: S303
    raise _invalid("no signingCertificate(V2) attribute")


def _check_signature(
    signer: cms.SignerInfo,
    received_attributes: bytes,
    signature_hash: hashes.HashAlgorithm,
    certificate: x509.Certificate,
) -> None:
    # RFC 5652 §5.4: the signature covers the attributes with the SET OF tag (0x31) in place
    # of their [0] IMPLICIT tag (0xA0); the length and contents are the received ones.
    signed = b"\x31" + received_attributes[1:]
    signature = bytes(signer["signature"].native)
    public_key = certificate.public_key()
    algorithm = signer["signature_algorithm"].signature_algo
    try:
        if isinstance(public_key, rsa.RSAPublicKey) and algorithm == "rsassa_pkcs1v15":
            public_key.verify(signature, signed, padding.PKCS1v15(), signature_hash)
        elif isinstance(public_key, ec.EllipticCurvePublicKey) and algorithm == "ecdsa":
            public_key.verify(signature, signed, ec.ECDSA(signature_hash))
        else:
            raise _invalid(f"signature algorithm {algorithm} does not fit the key")
    except InvalidSignature as exc:
        raise _invalid("the signature does not verify") from exc


def _identifies(sid: cms.SignerIdentifier, certificate: asn1_x509.Certificate) -> bool:
    if sid.name == "issuer_and_serial_number":
        return bool(
            sid.chosen["issuer"] == certificate.issuer
            and sid.chosen["serial_number"].native == certificate.serial_number
        )
    key_identifier = certificate.key_identifier
    return bool(key_identifier is not None and sid.chosen.native == key_identifier)


def _certificate_problem(certificate: x509.Certificate) -> str:
    """Why ``certificate`` may not sign timestamps (RFC 3161 §2.3), or ``""``."""
    try:
        eku = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        return "no extended key usage"
    if not eku.critical:
        return "the extended key usage is not critical"
    if list(eku.value) != [ExtendedKeyUsageOID.TIME_STAMPING]:
        return "the extended key usage is not timeStamping alone"
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return ""
    if not (usage.digital_signature or usage.content_commitment):
        return "the key usage allows neither digitalSignature nor nonRepudiation"
    return ""


def _signature_profile(key: SigningKey) -> tuple[hashes.HashAlgorithm, algos.SignedDigestAlgorithm]:
    """The hash and the SignerInfo signatureAlgorithm for ``key`` (SHA-256 unless EC > 256)."""
    public_key = key.public_key()
    if isinstance(public_key, rsa.RSAPublicKey):
        # RFC 4055 §5: sha256WithRSAEncryption with NULL parameters.
        return hashes.SHA256(), algos.SignedDigestAlgorithm(
            {"algorithm": "sha256_rsa", "parameters": core.Null()}
        )
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        # RFC 5754 §3.3: ecdsa-with-SHA*, parameters absent; the hash follows the curve size.
        size = public_key.curve.key_size
        if size <= 256:
            return hashes.SHA256(), algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"})
        if size <= 384:
            return hashes.SHA384(), algos.SignedDigestAlgorithm({"algorithm": "sha384_ecdsa"})
        return hashes.SHA512(), algos.SignedDigestAlgorithm({"algorithm": "sha512_ecdsa"})
    raise PkiError("tsa.bad_certificate", "only RSA and EC keys can sign timestamps")


def _signing_certificate_v2(certificate_der: bytes) -> tsp.SigningCertificateV2:
    # ESSCertIDv2 by SHA-512, with issuerSerial so a verifier can match the certificate
    # without hashing. The hash is over the DER as issued, never over a re-encoding.
    #
    # Not SHA-256: that is the field's DEFAULT, which DER omits (RFC 5035 §5.4.1), and
    # asn1crypto (under pyHanko and our own code) then builds the missing field as soon as
    # anything reads the ESSCertIDv2, marks the whole token as changed and re-encodes it on
    # every access from then on: embedding such a token in a PDF signature took 18-55 s
    # instead of 0.1 s. With a hash that must be written, there is no default to build.
    certificate = asn1_x509.Certificate.load(certificate_der)
    return tsp.SigningCertificateV2(
        {
            "certs": [
                {
                    "hash_algorithm": {"algorithm": "sha512"},
                    "cert_hash": _digest(hashes.SHA512(), certificate_der),
                    "issuer_serial": {
                        "issuer": [
                            asn1_x509.GeneralName(name="directory_name", value=certificate.issuer)
                        ],
                        "serial_number": certificate.serial_number,
                    },
                }
            ]
        }
    )


def _rejection(code: str) -> _TimeStampResp:
    entry = lookup(code)
    return _TimeStampResp(
        {
            "status": {
                "status": "rejection",
                "status_string": [f"{code}: {entry.en}", entry.vi],
                "fail_info": tsp.PKIFailureInfo({_FAIL_INFO[code]}),
            }
        }
    )


def _accuracy(accuracy: tsp.Accuracy) -> timedelta | None:
    if accuracy.native is None:
        return None
    return timedelta(
        seconds=accuracy["seconds"].native or 0,
        milliseconds=accuracy["millis"].native or 0,
        microseconds=accuracy["micros"].native or 0,
    )


def _digest(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()


def _spki(public_key: object) -> bytes:
    assert isinstance(public_key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
    return public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _invalid(reason: str) -> PkiError:
    log.warning("timestamp token rejected: %s", reason)
    return PkiError("tsa.invalid_token", reason)
