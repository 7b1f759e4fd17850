"""The registration API over real HTTP: submit a CSR, approve with the operator's token, download
the certificate, see it revoked through OCSP; and every refusal as problem+json."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from memory_service import Served, serve_test_pki

from lienthong.authority.problems import STATUS_BY_CODE, status_for, unmapped_pki_codes
from lienthong.domain.errors import CATALOGUE

pytestmark = pytest.mark.integration

TOKEN = "s3cret-operator-token"
OPERATOR = {"Authorization": f"Bearer {TOKEN}", "X-Operator": "nguyen.van.b"}
OPENSSL = shutil.which("openssl")


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with serve_test_pki(operator_token=TOKEN) as running:
        yield running


@pytest.fixture
def client(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as http:
        yield http


def make_csr(common_name: str = "Sở Thông tin và Truyền thông") -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def tampered_csr() -> str:
    """A well-formed CSR whose signature no longer matches: one letter of the subject changed."""
    good = x509.load_pem_x509_csr(make_csr("AAAAAAAA").encode())
    der = good.public_bytes(serialization.Encoding.DER).replace(b"AAAAAAAA", b"AAAAAAAB")
    bad = x509.load_der_x509_csr(der)
    assert not bad.is_signature_valid
    return bad.public_bytes(serialization.Encoding.PEM).decode()


def submission(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ca": "nghe-an",
        "profile": "organization",
        "csr_pem": make_csr(),
        "agency_code": "000.00.12.H41",
        "agency_name": "Sở Thông tin và Truyền thông tỉnh Nghệ An",
        "province": "Nghệ An",
    }
    body.update(overrides)
    return body


def submit(client: httpx.Client, **overrides: Any) -> dict[str, Any]:
    answer = client.post(
        "/v1/requests", json=submission(**overrides), headers={"X-Requested-By": "van.thu"}
    )
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def assert_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"].endswith(code)
    assert body["message_en"]
    assert body["message_vi"]
    assert "title" in body
    assert "detail" in body
    return body


def openssl(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    if OPENSSL is None:
        pytest.fail("openssl is not installed")
    return subprocess.run(
        [OPENSSL, *map(str, args)], check=False, cwd=cwd, capture_output=True, text=True, timeout=30
    )


# --------------------------------------------------------------------------- the happy path
def test_submit_list_approve_download_verify_then_revoke(
    served: Served, client: httpx.Client, tmp_path: Path
) -> None:
    created = submit(client)
    assert created["status"] == "pending"
    assert created["requested_by"] == "van.thu"
    assert created["serial"] is None

    pending = client.get("/v1/requests", params={"status": "pending"}, headers=OPERATOR)
    assert pending.status_code == 200
    assert created["id"] in [r["id"] for r in pending.json()]
    assert all(r["status"] == "pending" for r in pending.json())

    approved = client.post(f"/v1/requests/{created['id']}/approve", headers=OPERATOR)
    assert approved.status_code == 200, approved.text
    decided = approved.json()
    assert decided["status"] == "issued"
    assert decided["decided_by"] == "nguyen.van.b"
    assert int(decided["serial_hex"], 16) == decided["serial"]

    after = client.get("/v1/requests", params={"status": "pending"}, headers=OPERATOR)
    assert created["id"] not in [r["id"] for r in after.json()]

    download = client.get(f"/v1/certificates/nghe-an/{decided['serial_hex']}")
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/x-pem-file"
    leaf = x509.load_pem_x509_certificate(download.content)
    leaf.verify_directly_issued_by(served.pki.sub.certificate)
    assert leaf.serial_number == decided["serial"]

    served.pki.write_pems(tmp_path)
    (tmp_path / "leaf.pem").write_bytes(download.content)
    verified = openssl(
        "verify", "-CAfile", "root.pem", "-untrusted", "sub.pem", "leaf.pem", cwd=tmp_path
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    command = (
        "ocsp", "-url", f"{served.url}/ocsp/nghe-an", "-issuer", "sub.pem", "-sha256",
        "-cert", "leaf.pem", "-CAfile", "root.pem", "-verify_other", "sub.pem",
    )  # fmt: skip
    good = openssl(*command, cwd=tmp_path)
    assert "Response verify OK" in good.stdout + good.stderr, good.stderr
    assert "leaf.pem: good" in good.stdout

    served.pki.sub.revoke(
        leaf.serial_number, x509.ReasonFlags.key_compromise, now=datetime.now(UTC)
    )
    revoked = openssl(*command, cwd=tmp_path)
    assert "Response verify OK" in revoked.stdout + revoked.stderr, revoked.stderr
    assert "leaf.pem: revoked" in revoked.stdout

    # Deciding twice is a conflict.
    again = client.post(f"/v1/requests/{created['id']}/approve", headers=OPERATOR)
    assert_problem(again, 409, "pki.bad_state")


def test_person_certificate_names_the_official(served: Served, client: httpx.Client) -> None:
    created = submit(
        client,
        profile="person",
        full_name="Nguyễn Văn An",
        title="Giám đốc",
        citizen_id="001080012345",
    )
    decided = client.post(f"/v1/requests/{created['id']}/approve", headers=OPERATOR).json()
    pem = client.get(f"/v1/certificates/nghe-an/{decided['serial_hex']}").content
    subject = x509.load_pem_x509_certificate(pem).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Văn An"
    assert subject.get_attributes_for_oid(NameOID.TITLE)[0].value == "Giám đốc"


def test_reject_with_a_reason(client: httpx.Client) -> None:
    created = submit(client)
    no_reason = client.post(f"/v1/requests/{created['id']}/reject", json={}, headers=OPERATOR)
    assert_problem(no_reason, 400, "usage.bad_argument")
    answer = client.post(
        f"/v1/requests/{created['id']}/reject",
        json={"reason": "Sai tên cơ quan"},
        headers=OPERATOR,
    )
    assert answer.status_code == 200
    assert answer.json()["status"] == "rejected"
    assert answer.json()["reason"] == "Sai tên cơ quan"
    rejected = client.get("/v1/requests", params={"status": "rejected"}, headers=OPERATOR)
    assert [r["id"] for r in rejected.json()] == [created["id"]]


def test_requested_by_may_come_from_the_json(client: httpx.Client) -> None:
    answer = client.post("/v1/requests", json=submission(requested_by="le.thi.c"))
    assert answer.status_code == 201
    assert answer.json()["requested_by"] == "le.thi.c"
    missing = client.post("/v1/requests", json=submission())
    assert_problem(missing, 400, "usage.bad_argument")


# --------------------------------------------------------------------------- the operator's token
def test_operator_calls_need_the_token(client: httpx.Client) -> None:
    created = submit(client)
    url = f"/v1/requests/{created['id']}/approve"
    no_token = client.post(url)
    assert_problem(no_token, 401, "http.unauthorized")
    assert no_token.headers["www-authenticate"] == "Bearer"
    assert_problem(
        client.post(url, headers={"Authorization": "Basic eDp5"}), 401, "http.unauthorized"
    )
    wrong = client.post(url, headers={"Authorization": "Bearer not-the-token"})
    body = assert_problem(wrong, 403, "http.forbidden")
    assert body["detail"] == ""  # opaque to the caller
    assert_problem(
        client.post(f"/v1/requests/{created['id']}/reject", json={"reason": "x"}), 401,
        "http.unauthorized",
    )  # fmt: skip
    assert_problem(client.get("/v1/requests"), 401, "http.unauthorized")
    # Nothing was decided.
    listed = client.get("/v1/requests", params={"status": "pending"}, headers=OPERATOR).json()
    assert created["id"] in [r["id"] for r in listed]


def test_without_an_operator_token_configured_no_one_approves() -> None:
    with (
        serve_test_pki(operator_token=None) as other,
        httpx.Client(base_url=other.url, timeout=10) as http,
    ):
        created = submit(http)
        assert_problem(http.post(f"/v1/requests/{created['id']}/approve"), 401, "http.unauthorized")
        answer = http.post(
            f"/v1/requests/{created['id']}/approve", headers={"Authorization": "Bearer x"}
        )
        assert_problem(answer, 403, "http.forbidden")


# --------------------------------------------------------------------------- refusals
def test_an_agency_outside_the_ca_scope_is_403(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/requests",
        json=submission(agency_code="000.00.00.H14", agency_name="Sở Nội vụ tỉnh Lai Châu"),
        headers={"X-Requested-By": "van.thu"},
    )
    body = assert_problem(answer, 403, "pki.out_of_scope")
    assert body["message_vi"] == CATALOGUE["pki.out_of_scope"].vi


@pytest.mark.parametrize(
    "csr_pem",
    [
        "not a CSR",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        "",
    ],
)
def test_a_malformed_csr_is_400(client: httpx.Client, csr_pem: str) -> None:
    answer = client.post(
        "/v1/requests", json=submission(csr_pem=csr_pem), headers={"X-Requested-By": "x"}
    )
    assert_problem(answer, 400, "pki.bad_csr")


def test_a_csr_whose_signature_does_not_match_its_key_is_400(client: httpx.Client) -> None:
    answer = client.post(
        "/v1/requests", json=submission(csr_pem=tampered_csr()), headers={"X-Requested-By": "x"}
    )
    body = assert_problem(answer, 400, "pki.bad_csr")
    assert "signature" in body["detail"]


def test_other_refusals(client: httpx.Client) -> None:
    headers = {"X-Requested-By": "x"}
    unknown_ca = client.post("/v1/requests", json=submission(ca="nowhere"), headers=headers)
    assert_problem(unknown_ca, 404, "pki.unknown_ca")
    bad_profile = client.post("/v1/requests", json=submission(profile="root-ca"), headers=headers)
    assert_problem(bad_profile, 400, "pki.bad_request")
    missing_field = client.post("/v1/requests", json={"ca": "nghe-an"}, headers=headers)
    assert_problem(missing_field, 400, "usage.bad_argument")
    not_json = client.post("/v1/requests", content=b"{", headers=headers)
    assert_problem(not_json, 400, "usage.bad_argument")
    assert_problem(
        client.post("/v1/requests/999999/approve", headers=OPERATOR), 404, "store.not_found"
    )
    assert_problem(client.get("/v1/certificates/nghe-an/abc123"), 404, "pki.unknown_serial")
    assert_problem(client.get("/v1/certificates/nghe-an/xyz"), 400, "usage.bad_argument")
    assert_problem(client.get("/v1/requests/1/approve"), 405, "http.method_not_allowed")


def test_openapi_describes_the_registration_api(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/requests", "/v1/requests/{request_id}/approve"} <= paths.keys()
    assert not any(p.startswith("/ocsp") for p in paths)  # status routes stay out of FastAPI


# --------------------------------------------------------------------------- the mapping itself
@pytest.mark.unit
def test_every_pki_code_has_an_explicit_status() -> None:
    assert unmapped_pki_codes() == []
    assert set(STATUS_BY_CODE) <= set(CATALOGUE)  # no stale entries
    assert status_for("pki.unknown_ca") == 404
    assert status_for("pki.unknown_serial") == 404
    assert status_for("pki.bad_csr") == 400
    assert status_for("pki.out_of_scope") == 403
    assert status_for("pki.already_revoked") == 409
    assert status_for("store.conflict") == 409
    assert status_for("edxml.not_xml") == 400
    assert status_for("lienthong.error") == 500


def test_a_batch_approval_issues_each_request_and_reports_each_refusal(
    client: httpx.Client,
) -> None:
    first, second = submit(client), submit(client)
    client.post(f"/v1/requests/{second['id']}/approve", headers=OPERATOR)

    answer = client.post(
        "/v1/requests/approve", json={"ids": [first["id"], second["id"], 999_999]}, headers=OPERATOR
    )

    assert answer.status_code == 200, answer.text
    issued, already, unknown = answer.json()["results"]
    assert issued["id"] == first["id"]
    assert issued["status"] == "issued"
    assert int(issued["serial_hex"], 16) == issued["serial"]
    assert already == {"id": second["id"], "problem": already["problem"]}
    assert already["problem"]["code"] == "pki.bad_state"
    assert unknown["problem"]["code"] == "store.not_found"
    assert unknown["problem"]["message_vi"]


def test_a_batch_approval_needs_the_operator_and_a_bounded_list(client: httpx.Client) -> None:
    assert_problem(client.post("/v1/requests/approve", json={"ids": [1]}), 401, "http.unauthorized")
    assert_problem(
        client.post("/v1/requests/approve", json={"ids": []}, headers=OPERATOR),
        400,
        "usage.bad_argument",
    )
    assert_problem(
        client.post("/v1/requests/approve", json={"ids": list(range(1, 1002))}, headers=OPERATOR),
        400,
        "usage.bad_argument",
    )
