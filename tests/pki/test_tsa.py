"""The RFC 3161 timestamp authority, proved against the real ``openssl ts`` client.

Integration tests (``openssl`` in a subprocess): ``openssl ts -query`` makes the request,
:meth:`TimestampAuthority.respond` answers it, ``openssl ts -verify`` must say
``Verification: OK`` — for RSA-2048 and P-256 TSA keys, with and without nonce and certReq —
and must refuse tampered data and tokens from another TSA. Unit tests cover what openssl
cannot ask for (bad versions, extensions, odd parameters), the token's structure, and
:func:`verify_token`; fuzzing checks that no input makes ``respond`` or ``verify_token``
raise anything but their documented errors.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from asn1crypto import cms, core, tsp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tsa_fixtures import (  # fixtures are imported by name: pytest finds them here
    TsaPki,
    TsaSpec,
    build_tsa_pki,
    make_request,
    openssl_bin,
    other_tsa_pki,
    rsa_tsa_pki,
    tsa_pki,
)

from lienthong.domain.errors import PkiError
from lienthong.pki import tsa as tsa_module
from lienthong.pki.oids import POLICY_TIMESTAMPING
from lienthong.pki.tsa import (
    TSA_POLICY_OID,
    TimestampAuthority,
    TimestampRequestInfo,
    parse_request,
    verify_token,
)

__all__ = ["openssl_bin", "other_tsa_pki", "rsa_tsa_pki", "tsa_pki"]  # re-exported fixtures

DATA = "Quyết định số 12/QĐ-UBND — văn bản cần đóng dấu thời gian.\n".encode()
FUZZ = settings(
    max_examples=100,
    deadline=None,
    database=None,  # no .hypothesis/ directory
    suppress_health_check=[HealthCheck.too_slow],
)


def _now() -> datetime:
    # openssl ts -verify checks the chain at the real time, so the tests stamp at it too.
    return datetime.now(UTC)


def _openssl(openssl: str, *args: str | Path, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [openssl, *map(str, args)], cwd=cwd, capture_output=True, check=False, timeout=30
    )


def _out(result: subprocess.CompletedProcess[bytes]) -> str:
    # openssl prints non-ASCII characters of UTF8Strings as single Latin-1 bytes or \U escapes.
    return (result.stdout + result.stderr).decode(errors="backslashreplace")


def _status(response_der: bytes) -> tuple[str, set[str]]:
    status = core.Sequence.load(response_der)[0]
    info = tsp.PKIStatusInfo.load(status.dump())
    fail_info = info["fail_info"].native
    return info["status"].native, set(fail_info or ())


def _signed_data(response_der: bytes) -> cms.SignedData:
    token = core.Sequence.load(response_der)[1]
    return cms.ContentInfo.load(token.dump())["content"]


def _query(
    openssl: str, workdir: Path, *options: str, data: bytes = DATA
) -> tuple[Path, Path, bytes]:
    """``openssl ts -query``: the data file, the request file, the request bytes."""
    data_file = workdir / "data.bin"
    data_file.write_bytes(data)
    query = workdir / "req.tsq"
    result = _openssl(
        openssl, "ts", "-query", "-data", data_file, *options, "-out", query, cwd=workdir
    )
    assert result.returncode == 0, _out(result)
    return data_file, query, query.read_bytes()


# --------------------------------------------------------------------------- openssl interop


@pytest.mark.integration
@pytest.mark.parametrize("nonce", [True, False], ids=["nonce", "no_nonce"])
@pytest.mark.parametrize("cert", [True, False], ids=["cert", "no_cert"])
def test_openssl_verifies_our_token(
    tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path, nonce: bool, cert: bool
) -> None:
    options = ["-sha256"] + ([] if nonce else ["-no_nonce"]) + (["-cert"] if cert else [])
    data_file, query, request = _query(openssl_bin, tmp_path, *options)
    asked = parse_request(request)
    assert asked.cert_req is cert
    assert (asked.nonce is not None) is nonce

    response = tsa_pki.authority().respond(request, now=_now(), serial=0x1F2E3D)
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(response)
    root_pem, tsa_pem = tsa_pki.write_pems(tmp_path)

    verified = _openssl(
        openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply,
        "-CAfile", root_pem, "-untrusted", tsa_pem, cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in _out(verified), _out(verified)
    assert verified.returncode == 0
    # Against the request: imprint, nonce and policy must match it too.
    against_query = _openssl(
        openssl_bin, "ts", "-verify", "-queryfile", query, "-in", reply,
        "-CAfile", root_pem, "-untrusted", tsa_pem, cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in _out(against_query), _out(against_query)
    # With certReq the token carries the TSA certificate: openssl needs nothing else.
    alone = _openssl(
        openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply, "-CAfile", root_pem,
        cwd=tmp_path,
    )  # fmt: skip
    assert ("Verification: OK" in _out(alone)) is cert, _out(alone)

    text = _out(_openssl(openssl_bin, "ts", "-reply", "-in", reply, "-text", cwd=tmp_path))
    assert "Status: Granted." in text
    assert f"Policy OID: {TSA_POLICY_OID}" in text
    assert "Serial number: 0x1F2E3D" in text
    assert "Accuracy: 0x01 seconds" in text
    if nonce:
        assert asked.nonce is not None
        assert f"Nonce: 0x{asked.nonce:X}" in text or f"Nonce: 0x0{asked.nonce:X}" in text
    else:
        assert "Nonce: unspecified" in text

    info = verify_token(response, DATA, tsa_pki.tsa, nonce=asked.nonce)
    assert (info.serial, info.policy, info.nonce) == (0x1F2E3D, TSA_POLICY_OID, asked.nonce)


@pytest.mark.integration
@pytest.mark.parametrize("hash_option", ["-sha384", "-sha512"])
def test_openssl_verifies_longer_hashes(
    rsa_tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path, hash_option: str
) -> None:
    data_file, _, request = _query(openssl_bin, tmp_path, hash_option, "-cert")
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(rsa_tsa_pki.authority().respond(request, now=_now(), serial=7))
    root_pem, _ = rsa_tsa_pki.write_pems(tmp_path)
    verified = _openssl(
        openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply, "-CAfile", root_pem,
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in _out(verified), _out(verified)
    assert verify_token(reply.read_bytes(), DATA, rsa_tsa_pki.tsa).hash_algorithm == hash_option[1:]


@pytest.mark.integration
def test_openssl_requested_policy(rsa_tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path) -> None:
    root_pem, _ = rsa_tsa_pki.write_pems(tmp_path)
    _, query, request = _query(openssl_bin, tmp_path, "-cert", "-tspolicy", TSA_POLICY_OID)
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(rsa_tsa_pki.authority().respond(request, now=_now(), serial=8))
    verified = _openssl(
        openssl_bin, "ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root_pem,
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in _out(verified), _out(verified)

    _, _, request = _query(openssl_bin, tmp_path, "-cert", "-tspolicy", "1.2.3.4.5")
    reply.write_bytes(rsa_tsa_pki.authority().respond(request, now=_now(), serial=9))
    text = _out(_openssl(openssl_bin, "ts", "-reply", "-in", reply, "-text", cwd=tmp_path))
    assert "Status: Rejected." in text
    assert "the requested TSA policy is not supported by the TSA" in text


@pytest.mark.integration
def test_sha1_request_is_rejected_bad_alg(
    rsa_tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path
) -> None:
    data_file, _, request = _query(openssl_bin, tmp_path, "-sha1", "-cert")
    response = rsa_tsa_pki.authority().respond(request, now=_now(), serial=10)
    assert _status(response) == ("rejection", {"bad_alg"})
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(response)
    text = _out(_openssl(openssl_bin, "ts", "-reply", "-in", reply, "-text", cwd=tmp_path))
    assert "Status: Rejected." in text
    assert "Failure info: unrecognized or unsupported algorithm identifier" in text
    assert "tsa.unsupported_hash" in text
    assert "TST info:\nNot included." in text
    root_pem, _ = rsa_tsa_pki.write_pems(tmp_path)
    verified = _openssl(
        openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply, "-CAfile", root_pem,
        cwd=tmp_path,
    )  # fmt: skip
    assert verified.returncode != 0
    assert "Verification: FAILED" in _out(verified)


@pytest.mark.integration
@pytest.mark.parametrize(
    "garbage",
    [b"", b"not DER at all", b"\x30\x03\x02\x01", b"\x30\x80\x00\x00", b"\x04\x02ab"],
    ids=["empty", "text", "truncated", "indefinite-empty", "octet-string"],
)
def test_garbage_is_rejected_bad_data_format(
    rsa_tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path, garbage: bytes
) -> None:
    response = rsa_tsa_pki.authority().respond(garbage, now=_now(), serial=11)
    assert _status(response) == ("rejection", {"bad_data_format"})
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(response)
    text = _out(_openssl(openssl_bin, "ts", "-reply", "-in", reply, "-text", cwd=tmp_path))
    assert "Status: Rejected." in text
    assert "Failure info: the data submitted has the wrong format" in text


@pytest.mark.integration
def test_tampered_data_fails(tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path) -> None:
    data_file, _, request = _query(openssl_bin, tmp_path, "-sha256", "-cert")
    response = tsa_pki.authority().respond(request, now=_now(), serial=12)
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(response)
    tampered = DATA.replace(b"12", b"13")
    data_file.write_bytes(tampered)
    root_pem, _ = tsa_pki.write_pems(tmp_path)
    verified = _openssl(
        openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply, "-CAfile", root_pem,
        cwd=tmp_path,
    )  # fmt: skip
    assert verified.returncode != 0
    assert "Verification: FAILED" in _out(verified)
    assert "message imprint mismatch" in _out(verified)

    assert verify_token(response, DATA, tsa_pki.tsa).serial == 12
    with pytest.raises(PkiError) as caught:
        verify_token(response, tampered, tsa_pki.tsa)
    assert caught.value.code == "tsa.invalid_token"


@pytest.mark.integration
def test_token_from_another_tsa_fails(
    rsa_tsa_pki: TsaPki, other_tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path
) -> None:
    data_file, _, request = _query(openssl_bin, tmp_path, "-sha256", "-cert")
    reply = tmp_path / "resp.tsr"
    reply.write_bytes(other_tsa_pki.authority().respond(request, now=_now(), serial=13))
    root_pem, tsa_pem = rsa_tsa_pki.write_pems(tmp_path)
    verified = _openssl(
        openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply,
        "-CAfile", root_pem, "-untrusted", tsa_pem, cwd=tmp_path,
    )  # fmt: skip
    assert verified.returncode != 0
    assert "Verification: FAILED" in _out(verified)

    with pytest.raises(PkiError) as caught:
        verify_token(reply.read_bytes(), DATA, rsa_tsa_pki.tsa)
    assert caught.value.code == "tsa.invalid_token"
    assert "another certificate" in caught.value.detail


# --------------------------------------------------------------------------- requests


@pytest.mark.unit
def test_parse_request_reads_every_field() -> None:
    request = make_request(DATA, hash_name="sha384", nonce=2**100 + 1, policy=TSA_POLICY_OID)
    info = parse_request(request)
    assert info == TimestampRequestInfo(
        hash_algorithm="sha384",
        imprint=_hash(hashes.SHA384(), DATA),
        nonce=2**100 + 1,
        cert_req=True,
        policy=TSA_POLICY_OID,
    )
    bare = parse_request(make_request(nonce=None, cert_req=False))
    assert (bare.nonce, bare.cert_req, bare.policy) == (None, False, None)


def _request_with_hash_parameters() -> bytes:
    # RFC 5754 §2: SHA-2 parameters are absent or NULL; put an empty OCTET STRING there.
    # (asn1crypto will not build it, so patch the DER: same length, no other change.)
    sha256_null = bytes.fromhex("0609608648016503040201") + b"\x05\x00"
    request = make_request()
    assert request.count(sha256_null) == 1
    return request.replace(sha256_null, sha256_null[:-2] + b"\x04\x00")


REFUSALS = [
    pytest.param(make_request(hash_name="sha1"), "tsa.unsupported_hash", "bad_alg", id="sha1"),
    pytest.param(make_request(hash_name="md5"), "tsa.unsupported_hash", "bad_alg", id="md5"),
    pytest.param(
        _request_with_hash_parameters(), "tsa.unsupported_hash", "bad_alg", id="hash-parameters"
    ),
    pytest.param(
        make_request(imprint=b"\x00" * 20), "tsa.bad_request", "bad_data_format", id="short-imprint"
    ),
    pytest.param(b"\x30\x03garbage", "tsa.bad_request", "bad_data_format", id="garbage"),
    pytest.param(make_request() + b"\x00", "tsa.bad_request", "bad_data_format", id="trailing"),
    pytest.param(make_request(version=2), "tsa.unsupported_version", "bad_request", id="version-2"),
    pytest.param(
        make_request(extensions=[{"extn_id": "1.2.3.4", "critical": False, "extn_value": b"x"}]),
        "tsa.extension_not_accepted",
        "unaccepted_extensions",
        id="extension",
    ),
]


@pytest.mark.unit
@pytest.mark.parametrize(("request_der", "code", "fail_info"), REFUSALS)
def test_refusals_are_coded_and_become_rejections(
    rsa_tsa_pki: TsaPki, request_der: bytes, code: str, fail_info: str
) -> None:
    with pytest.raises(PkiError) as caught:
        parse_request(request_der)
    assert caught.value.code == code
    response = rsa_tsa_pki.authority().respond(request_der, now=_now(), serial=1)
    assert _status(response) == ("rejection", {fail_info})
    text = tsp.PKIStatusInfo.load(core.Sequence.load(response)[0].dump())["status_string"].native
    assert text[0].startswith(f"{code}: ")
    assert len(core.Sequence.load(response)) == 1  # no token in a rejection


@pytest.mark.unit
def test_other_policy_is_refused(rsa_tsa_pki: TsaPki) -> None:
    authority = rsa_tsa_pki.authority()
    other = authority.respond(make_request(policy="1.2.3.4"), now=_now(), serial=1)
    assert _status(other) == ("rejection", {"unaccepted_policy"})
    ours = authority.respond(make_request(policy=TSA_POLICY_OID), now=_now(), serial=1)
    assert _status(ours) == ("granted", set())


@pytest.mark.unit
def test_policy_is_the_projects_timestamping_policy() -> None:
    assert POLICY_TIMESTAMPING.dotted_string == TSA_POLICY_OID
    assert TSA_POLICY_OID.startswith("2.25.")


# --------------------------------------------------------------------------- the token


@pytest.mark.unit
def test_token_structure(rsa_tsa_pki: TsaPki) -> None:
    pki = rsa_tsa_pki
    # An aware time in Hanoi (UTC+7) with microseconds: genTime is its UTC, to the second.
    now = _now().astimezone(timezone(timedelta(hours=7))).replace(microsecond=999_999)
    gen_time = now.astimezone(UTC).replace(microsecond=0)
    response = pki.authority().respond(make_request(DATA, nonce=2**63), now=now, serial=2**159)
    signed_data = _signed_data(response)
    assert signed_data["version"].native == "v3"
    assert signed_data["encap_content_info"]["content_type"].native == "tst_info"
    tst_info = signed_data["encap_content_info"]["content"].parsed
    # genTime: UTC, whole seconds, GeneralizedTime with no fraction (RFC 3161 §2.4.2).
    assert tst_info["gen_time"].native == gen_time
    assert tst_info["gen_time"].contents == gen_time.strftime("%Y%m%d%H%M%SZ").encode()
    assert tst_info["serial_number"].native == 2**159
    assert tst_info["nonce"].native == 2**63
    assert tst_info["accuracy"].native == {"seconds": 1, "millis": None, "micros": None}
    assert tst_info["tsa"].chosen.native == _asn1_certificate(pki).subject.native

    # certificates is a SET OF: DER sorts it, so the order says nothing.
    certificates = {choice.chosen.dump() for choice in signed_data["certificates"]}
    assert certificates == {
        pki.tsa.public_bytes(Encoding.DER),
        pki.root.public_bytes(Encoding.DER),
    }
    (signer,) = signed_data["signer_infos"]
    attributes = {attribute["type"].native: attribute for attribute in signer["signed_attrs"]}
    assert set(attributes) == {"content_type", "message_digest", "signing_certificate_v2"}
    (signing_certificate,) = attributes["signing_certificate_v2"]["values"]
    (cert_id,) = signing_certificate["certs"]
    assert cert_id["cert_hash"].native == _hash(hashes.SHA512(), pki.tsa.public_bytes(Encoding.DER))
    assert cert_id["issuer_serial"]["serial_number"].native == pki.tsa.serial_number
    # hashAlgorithm SHA-512 is written (it is not the default), then the 64-byte certHash.
    assert cert_id.contents[:2] == b"\x30\x0d"  # AlgorithmIdentifier first
    assert (
        verify_token(response, DATA, pki.tsa, nonce=2**63).gen_time == tst_info["gen_time"].native
    )


@pytest.mark.unit
def test_no_certificates_without_cert_req(rsa_tsa_pki: TsaPki) -> None:
    response = rsa_tsa_pki.authority().respond(make_request(cert_req=False), now=_now(), serial=3)
    assert not _signed_data(response)["certificates"]


@pytest.mark.unit
def test_accuracy_is_configurable(rsa_tsa_pki: TsaPki) -> None:
    response = rsa_tsa_pki.authority(accuracy_seconds=5).respond(
        make_request(DATA), now=_now(), serial=3
    )
    assert verify_token(response, DATA, rsa_tsa_pki.tsa).accuracy == timedelta(seconds=5)


@pytest.mark.unit
def test_programming_errors_raise(rsa_tsa_pki: TsaPki) -> None:
    authority = rsa_tsa_pki.authority()
    with pytest.raises(ValueError, match="aware"):
        authority.respond(make_request(), now=datetime(2026, 1, 1), serial=1)
    for serial in (0, -1, 2**160):
        with pytest.raises(ValueError, match="serial"):
            authority.respond(make_request(), now=_now(), serial=serial)
    with pytest.raises(ValueError, match="accuracy"):
        rsa_tsa_pki.authority(accuracy_seconds=0)


@pytest.mark.unit
def test_certificate_outside_its_validity_yields_system_failure(rsa_tsa_pki: TsaPki) -> None:
    later = rsa_tsa_pki.tsa.not_valid_after_utc + timedelta(seconds=1)
    response = rsa_tsa_pki.authority().respond(make_request(), now=later, serial=1)
    assert _status(response) == ("rejection", {"system_failure"})


@pytest.mark.unit
@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (TsaSpec(eku_critical=False), "not critical"),
        (
            TsaSpec(eku=(ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING)),
            "timeStamping alone",
        ),
        (TsaSpec(eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)), "timeStamping alone"),
    ],
    ids=["eku-not-critical", "eku-extra-purpose", "eku-other-purpose"],
)
def test_certificate_must_be_fit_for_timestamping(spec: TsaSpec, problem: str) -> None:
    pki = build_tsa_pki(spec)
    with pytest.raises(PkiError) as caught:
        pki.authority()
    assert caught.value.code == "tsa.bad_certificate"
    assert problem in caught.value.detail


@pytest.mark.unit
def test_certificate_must_be_for_the_key(rsa_tsa_pki: TsaPki, other_tsa_pki: TsaPki) -> None:
    with pytest.raises(PkiError) as caught:
        TimestampAuthority(other_tsa_pki.tsa_key, rsa_tsa_pki.tsa)
    assert caught.value.code == "tsa.bad_certificate"


# --------------------------------------------------------------------------- verify_token


def _invalid(response: bytes, data: bytes, pki: TsaPki, **options: int) -> str:
    with pytest.raises(PkiError) as caught:
        verify_token(response, data, pki.tsa, **options)
    assert caught.value.code == "tsa.invalid_token"
    return caught.value.detail


@pytest.mark.unit
def test_verify_token_checks_nonce_and_status(rsa_tsa_pki: TsaPki) -> None:
    authority = rsa_tsa_pki.authority()
    response = authority.respond(make_request(DATA, nonce=5), now=_now(), serial=1)
    assert verify_token(response, DATA, rsa_tsa_pki.tsa, nonce=5).nonce == 5
    assert "nonce" in _invalid(response, DATA, rsa_tsa_pki, nonce=6)
    rejection = authority.respond(make_request(hash_name="sha1"), now=_now(), serial=1)
    assert "rejection" in _invalid(rejection, DATA, rsa_tsa_pki)
    assert "malformed" in _invalid(b"\x30\x00", DATA, rsa_tsa_pki)


@pytest.mark.unit
def test_verify_token_detects_a_changed_signature(tsa_pki: TsaPki) -> None:
    response = tsa_pki.authority().respond(make_request(DATA), now=_now(), serial=1)
    content_info = cms.ContentInfo.load(core.Sequence.load(response)[1].dump())
    signer = content_info["content"]["signer_infos"][0]
    signature = bytearray(signer["signature"].native)
    signature[-5] ^= 0x01
    signer["signature"] = bytes(signature)
    changed = _replace_token(response, content_info)
    assert "signature" in _invalid(changed, DATA, tsa_pki)


@pytest.mark.unit
def test_verify_token_detects_a_changed_tst_info(rsa_tsa_pki: TsaPki) -> None:
    response = rsa_tsa_pki.authority().respond(make_request(DATA), now=_now(), serial=1)
    content_info = cms.ContentInfo.load(core.Sequence.load(response)[1].dump())
    encapsulated = content_info["content"]["encap_content_info"]
    tst_info = tsp.TSTInfo.load(encapsulated["content"].parsed.dump())
    tst_info["serial_number"] = 2
    encapsulated["content"] = tst_info
    changed = _replace_token(response, content_info)
    assert "messageDigest" in _invalid(changed, DATA, rsa_tsa_pki)


def _without_signing_certificate(response: bytes, pki: TsaPki) -> bytes:
    """The token re-signed without its signingCertificateV2 attribute."""
    content_info = cms.ContentInfo.load(core.Sequence.load(response)[1].dump())
    signer = content_info["content"]["signer_infos"][0]
    kept = [a for a in signer["signed_attrs"] if a["type"].native != "signing_certificate_v2"]
    attributes = cms.CMSAttributes(kept)
    signer["signed_attrs"] = attributes
    signer["signature"] = pki.tsa_key.sign(attributes.dump(), hashes.SHA256())
    return _replace_token(response, content_info)


@pytest.mark.unit
def test_verify_token_needs_the_signing_certificate_attribute(rsa_tsa_pki: TsaPki) -> None:
    response = rsa_tsa_pki.authority().respond(make_request(DATA), now=_now(), serial=1)
    changed = _without_signing_certificate(response, rsa_tsa_pki)
    assert "signingCertificate" in _invalid(changed, DATA, rsa_tsa_pki)


@pytest.mark.integration
def test_openssl_requires_what_we_require(
    rsa_tsa_pki: TsaPki, openssl_bin: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the TSA insists on signingCertificateV2 and a critical, lone timeStamping EKU."""
    data_file, _, request = _query(openssl_bin, tmp_path, "-sha256", "-cert")
    reply = tmp_path / "resp.tsr"

    def openssl_verdict(pki: TsaPki) -> str:
        root_pem, _ = pki.write_pems(tmp_path)
        verified = _openssl(
            openssl_bin, "ts", "-verify", "-data", data_file, "-in", reply, "-CAfile", root_pem,
            cwd=tmp_path,
        )  # fmt: skip
        assert verified.returncode != 0
        return _out(verified)

    response = rsa_tsa_pki.authority().respond(request, now=_now(), serial=14)
    reply.write_bytes(_without_signing_certificate(response, rsa_tsa_pki))
    assert "missing signing certificate attribute" in openssl_verdict(rsa_tsa_pki)

    # Let certificates through that our constructor refuses, and watch openssl refuse them.
    monkeypatch.setattr(tsa_module, "_certificate_problem", lambda _certificate: "")
    for spec in (
        TsaSpec(eku_critical=False),
        TsaSpec(eku=(ExtendedKeyUsageOID.TIME_STAMPING, ExtendedKeyUsageOID.CODE_SIGNING)),
    ):
        pki = build_tsa_pki(spec)
        reply.write_bytes(pki.authority().respond(request, now=_now(), serial=15))
        assert "unsuitable certificate purpose" in openssl_verdict(pki)


# --------------------------------------------------------------------------- fuzzing


@pytest.mark.unit
@FUZZ
@given(request_der=st.binary(max_size=200))
def test_fuzz_any_bytes_get_a_response(rsa_tsa_pki: TsaPki, request_der: bytes) -> None:
    status, _ = _status(rsa_tsa_pki.authority().respond(request_der, now=_now(), serial=1))
    assert status in {"granted", "rejection"}


def _mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    def flip(position: int, mask: int) -> bytes:
        mutated = bytearray(valid)
        mutated[position % len(valid)] ^= mask
        return bytes(mutated)

    def cut(position: int) -> bytes:
        return valid[: position % len(valid)]

    positions = st.integers(min_value=0, max_value=10_000)
    return st.one_of(
        st.builds(flip, positions, st.integers(min_value=1, max_value=255)),
        st.builds(cut, positions),
    )


_VALID_REQUEST = make_request(DATA)


@pytest.mark.unit
def test_a_request_whose_tag_reads_as_another_type_is_a_rejection(rsa_tsa_pki: TsaPki) -> None:
    # Found by test_fuzz_mutated_requests: asn1crypto raised AttributeError from inside
    # the parser ("'ObjectDescriptor' object has no attribute 'native'").
    mutated = bytearray(_VALID_REQUEST)
    mutated[66 % len(mutated)] ^= 6
    response = rsa_tsa_pki.authority().respond(bytes(mutated), now=_now(), serial=1)
    status, _ = _status(response)
    assert status == "rejection"


@pytest.mark.unit
@FUZZ
@given(request_der=_mutations(_VALID_REQUEST))
def test_fuzz_mutated_requests(rsa_tsa_pki: TsaPki, request_der: bytes) -> None:
    response = rsa_tsa_pki.authority().respond(request_der, now=_now(), serial=1)
    status, _ = _status(response)
    assert status in {"granted", "rejection"}


@pytest.mark.unit
@FUZZ
@given(data=st.data())
def test_fuzz_mutated_tokens_verify_or_raise_invalid(
    rsa_tsa_pki: TsaPki, data: st.DataObject
) -> None:
    valid = _valid_response(rsa_tsa_pki)
    mutated = data.draw(_mutations(valid))
    try:
        verify_token(mutated, DATA, rsa_tsa_pki.tsa)
    except PkiError as error:
        code = error.code
    else:
        code = "tsa.invalid_token"  # a mutation in an unsigned part (certificates, lengths …)
    assert code == "tsa.invalid_token"


# --------------------------------------------------------------------------- helpers

_RESPONSES: dict[int, bytes] = {}


def _valid_response(pki: TsaPki) -> bytes:
    key = id(pki)
    if key not in _RESPONSES:
        _RESPONSES[key] = pki.authority().respond(make_request(DATA), now=_now(), serial=99)
    return _RESPONSES[key]


def _replace_token(response: bytes, content_info: cms.ContentInfo) -> bytes:
    status = core.Sequence.load(response)[0]
    return bytes(core.Sequence(contents=status.dump() + content_info.dump()).dump())


def _asn1_certificate(pki: TsaPki) -> object:
    from asn1crypto import x509 as asn1_x509

    return asn1_x509.Certificate.load(pki.tsa.public_bytes(Encoding.DER))


def _hash(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    hasher = hashes.Hash(algorithm)
    hasher.update(data)
    return hasher.finalize()


def test_the_tsa_names_its_certificate_by_a_hash_that_must_be_encoded(
    rsa_tsa_pki: TsaPki,
) -> None:
    # SHA-256 is ESSCertIDv2's DEFAULT and DER leaves it out; asn1crypto then builds the
    # missing field when the token is read and re-encodes the token on every later access
    # (pyHanko spent 18-55 s embedding one). So the hash is SHA-512, written in the token.
    request = tsp.TimeStampReq(
        {
            "version": 1,
            "message_imprint": {
                "hash_algorithm": {"algorithm": "sha256"},
                "hashed_message": bytes(range(32)),
            },
            "cert_req": True,
        }
    )
    token_der = tsp.TimeStampResp.load(
        rsa_tsa_pki.authority().respond(request.dump(), now=_now(), serial=7)
    )["time_stamp_token"].dump()
    token = cms.ContentInfo.load(token_der)
    attributes = token["content"]["signer_infos"][0]["signed_attrs"]
    (value,) = [a["values"][0] for a in attributes if a["type"].native == "signing_certificate_v2"]
    cert_id = value["certs"][0]

    assert cert_id["hash_algorithm"]["algorithm"].native == "sha512"
    assert cert_id.contents is not None
    assert b"\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x03" in cert_id.contents  # the OID, encoded
    assert token.dump() == token_der  # read everywhere, still the bytes as received
