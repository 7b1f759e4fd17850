"""The status routes over real HTTP on 127.0.0.1: CA certificate, CRL, OCSP (POST and GET),
timestamps — checked with httpx and with the openssl command-line client."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from asn1crypto import core, tsp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from memory_service import Served, serve_test_pki

from lienthong.authority.http import decode_ocsp_get
from lienthong.pki.keys import generate_key
from lienthong.pki.profiles import OrganizationSubject

pytestmark = pytest.mark.integration

OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    # Inline calls (offload=False): the in-memory service never blocks.
    with serve_test_pki(operator_token="t", offload=False) as running:
        yield running


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        yield http


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    if OPENSSL is None:
        pytest.fail("openssl is not installed")
    return subprocess.run(
        [OPENSSL, *map(str, args)], check=False, cwd=cwd, capture_output=True, text=True, timeout=30
    )


def issue_leaf(served: Served) -> x509.Certificate:
    subject = OrganizationSubject("000.00.12.H41", "Sở Thông tin và Truyền thông", "Nghệ An")
    key = generate_key("p256")
    return served.pki.sub.issue_organization(
        key.public_key(), subject, now=datetime.now(UTC)
    ).certificate


def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    built = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA256()).build()
    return built.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail", "message_vi", "message_en"} <= body.keys()


# --------------------------------------------------------------------------- plain downloads
def test_healthz(client: httpx.Client) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.text == "ok"


def test_ca_certificate_is_der_and_unknown_ca_is_404(served: Served, client: httpx.Client) -> None:
    answer = client.get("/ca/nghe-an.crt")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-cert"
    assert x509.load_der_x509_certificate(answer.content) == served.pki.sub.certificate
    assert "max-age=" in answer.headers["cache-control"]
    assert_problem(client.get("/ca/nowhere.crt"), 404, "pki.unknown_ca")
    assert_problem(client.get("/no/such/route"), 404, "http.not_found")


def test_crl_verifies_with_openssl_and_is_cached_until_next_update(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    revoked = issue_leaf(served)
    served.pki.sub.revoke(
        revoked.serial_number, x509.ReasonFlags.key_compromise, now=datetime.now(UTC)
    )
    answer = client.get("/crl/nghe-an.crl")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pkix-crl"
    max_age = int(answer.headers["cache-control"].split("max-age=")[1].split(",")[0])
    crl = x509.load_der_x509_crl(answer.content)
    assert crl.next_update_utc is not None
    assert 0 < max_age <= (crl.next_update_utc - datetime.now(UTC)).total_seconds() + 1
    assert crl.get_revoked_certificate_by_serial_number(revoked.serial_number) is not None
    (tmp_path / "crl.der").write_bytes(answer.content)
    served.pki.write_pems(tmp_path)
    checked = openssl(
        "crl", "-inform", "DER", "-in", "crl.der", "-CAfile", "sub.pem", "-noout", cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stderr
    assert "verify OK" in checked.stdout + checked.stderr
    assert_problem(client.get("/crl/nowhere.crl"), 404, "pki.unknown_ca")


# --------------------------------------------------------------------------- OCSP
def test_openssl_ocsp_over_http_good_then_revoked(served: Served, tmp_path: Path) -> None:
    leaf = issue_leaf(served)
    served.pki.write_pems(tmp_path)
    (tmp_path / "leaf.pem").write_bytes(pem(leaf))
    command = (
        "ocsp", "-url", f"{served.url}/ocsp/nghe-an", "-issuer", "sub.pem", "-sha256",
        "-cert", "leaf.pem", "-CAfile", "root.pem", "-verify_other", "sub.pem",
    )  # fmt: skip
    good = openssl(*command, cwd=tmp_path)
    assert "Response verify OK" in good.stdout + good.stderr, good.stderr
    assert "leaf.pem: good" in good.stdout
    served.pki.sub.revoke(leaf.serial_number, x509.ReasonFlags.superseded, now=datetime.now(UTC))
    revoked = openssl(*command, cwd=tmp_path)
    assert "Response verify OK" in revoked.stdout + revoked.stderr, revoked.stderr
    assert "leaf.pem: revoked" in revoked.stdout


def test_ocsp_post(served: Served, client: httpx.Client) -> None:
    leaf = issue_leaf(served)
    answer = client.post(
        "/ocsp/nghe-an",
        content=ocsp_request(leaf, served.pki.sub.certificate),
        headers={"content-type": "application/ocsp-request"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/ocsp-response"
    parsed = ocsp.load_der_ocsp_response(answer.content)
    assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert parsed.serial_number == leaf.serial_number


def _leaf_whose_request_has_plus_and_slash(served: Served) -> tuple[x509.Certificate, bytes]:
    """A leaf whose OCSP request's base64 contains both '+' and '/' (serials are random)."""
    for _ in range(500):
        leaf = issue_leaf(served)
        der = ocsp_request(leaf, served.pki.sub.certificate)
        text = base64.b64encode(der).decode()
        if "+" in text and "/" in text:
            return leaf, der
    pytest.fail("no request with '+' and '/' in its base64 after 500 tries")


def test_ocsp_get_accepts_every_encoding_of_the_request(
    served: Served, client: httpx.Client
) -> None:
    leaf, der = _leaf_whose_request_has_plus_and_slash(served)
    standard = base64.b64encode(der).decode()
    encodings = {
        "raw standard": standard,
        "percent-encoded": quote(standard, safe=""),
        "url-safe, unpadded": base64.urlsafe_b64encode(der).decode().rstrip("="),
        "doubly encoded": quote(quote(standard, safe=""), safe=""),
    }
    assert "%2F" in encodings["percent-encoded"]
    assert "%2B" in encodings["percent-encoded"]
    for label, encoded in encodings.items():
        assert decode_ocsp_get(encoded) == der, label
        answer = client.get(f"/ocsp/nghe-an/{encoded}")
        assert answer.status_code == 200, (label, answer.text)
        assert answer.headers["content-type"] == "application/ocsp-response"
        parsed = ocsp.load_der_ocsp_response(answer.content)
        assert parsed.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL, label
        assert parsed.certificate_status is ocsp.OCSPCertStatus.GOOD, label
        assert parsed.serial_number == leaf.serial_number
        # RFC 5019 §6.2: a GET response may be cached until its nextUpdate.
        assert "max-age=" in answer.headers["cache-control"], label


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/ocsp/nghe-an", b"garbage"),
        ("POST", "/ocsp/nghe-an", b""),
        ("POST", "/ocsp/nghe-an", b"\x30\x03\x02\x01\x00"),
        ("GET", "/ocsp/nghe-an/!!!not-base64***", b""),
        ("GET", "/ocsp/nghe-an/" + base64.b64encode(b"garbage").decode(), b""),
        ("GET", "/ocsp/nghe-an/%ZZ%2F", b""),
    ],
)
def test_ocsp_garbage_gets_malformed_request_never_500(
    client: httpx.Client, method: str, path: str, body: bytes
) -> None:
    answer = client.request(method, path, content=body or None)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/ocsp-response"
    parsed = ocsp.load_der_ocsp_response(answer.content)
    assert parsed.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_oversized_bodies_are_413(client: httpx.Client) -> None:
    big = b"\x30" * (10 * 1024 + 1)
    assert_problem(client.post("/ocsp/nghe-an", content=big), 413, "http.too_large")
    assert_problem(client.post("/tsa/nghe-an", content=big), 413, "http.too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the stream is counted
        for _ in range(11):
            yield b"\x30" * 1024

    assert_problem(client.post("/ocsp/nghe-an", content=chunks()), 413, "http.too_large")
    huge_get = base64.b64encode(big).decode()
    assert_problem(client.get(f"/ocsp/nghe-an/{huge_get}"), 413, "http.too_large")


def test_ocsp_for_an_unknown_ca_is_404(served: Served, client: httpx.Client) -> None:
    leaf = issue_leaf(served)
    answer = client.post("/ocsp/nowhere", content=ocsp_request(leaf, served.pki.sub.certificate))
    assert_problem(answer, 404, "pki.unknown_ca")


def test_ocsp_about_another_ca_is_unauthorized(served: Served, client: httpx.Client) -> None:
    leaf = issue_leaf(served)
    answer = client.post("/ocsp/root", content=ocsp_request(leaf, served.pki.sub.certificate))
    assert answer.status_code == 200
    parsed = ocsp.load_der_ocsp_response(answer.content)
    assert parsed.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED


# --------------------------------------------------------------------------- timestamps
def test_openssl_timestamp_query_over_http_verifies(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    served.pki.write_pems(tmp_path)
    (tmp_path / "data.txt").write_text("Quyết định số 12/QĐ-UBND\n", encoding="utf-8")
    made = openssl(
        "ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q.tsq", cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    answer = client.post(
        "/tsa/nghe-an",
        content=(tmp_path / "q.tsq").read_bytes(),
        headers={"content-type": "application/timestamp-query"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    (tmp_path / "r.tsr").write_bytes(answer.content)
    verified = openssl(
        "ts", "-verify", "-queryfile", "q.tsq", "-in", "r.tsr",
        "-CAfile", "root.pem", "-untrusted", "sub.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in verified.stdout + verified.stderr, verified.stderr
    against_data = openssl(
        "ts", "-verify", "-data", "data.txt", "-in", "r.tsr", "-CAfile", "root.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert "Verification: OK" in against_data.stdout + against_data.stderr, against_data.stderr


def test_timestamp_garbage_is_a_rejection_and_no_tsa_is_404(client: httpx.Client) -> None:
    answer = client.post("/tsa/nghe-an", content=b"garbage")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    # TimeStampResp ::= SEQUENCE { status PKIStatusInfo, timeStampToken OPTIONAL }
    status_info = tsp.PKIStatusInfo.load(core.Sequence.load(answer.content).contents)
    assert status_info["status"].native == "rejection"
    assert_problem(client.post("/tsa/root", content=b"x"), 404, "pki.unknown_ca")
