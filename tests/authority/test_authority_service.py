"""The CA service on a real CA directory (SQLite file, encrypted keys): each operation and its
audit entry commit together, approvals are decided once, and status reads see what another
process committed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from lienthong.authority.api import RequestStatus
from lienthong.authority.service import AuthorityService, database_url, init_directory
from lienthong.domain.errors import LienthongError
from lienthong.pki.ca import CertStatus
from lienthong.pki.keys import generate_key
from lienthong.pki.profiles import OrganizationSubject
from lienthong.store.audit import AuditLog
from lienthong.store.engine import create_engine
from lienthong.store.schema import certificates

pytestmark = pytest.mark.integration

PASSPHRASE = "mật khẩu thử nghiệm"


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("service") / "ca"
    init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC))
    return directory


@pytest.fixture
def service(ca_dir: Path) -> Iterator[AuthorityService]:
    loaded = AuthorityService(ca_dir, PASSPHRASE)
    yield loaded
    loaded.close()


def _audit_count(service: AuthorityService) -> int:
    with service.engine.connect() as connection:
        return len(list(AuditLog(connection).entries()))


def _issue(service: AuthorityService) -> int:
    record = service.issue_for_key(
        "nghe-an",
        generate_key("p256"),
        OrganizationSubject("000.00.31.H41", "Sở Nội vụ tỉnh Nghệ An", "Nghệ An"),
        operator="admin",
        now=datetime.now(UTC),
    )
    return record.serial


def _csr(common_name: str) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(Encoding.PEM).decode()


def _submit(service: AuthorityService) -> int:
    return service.submit(
        ca="nghe-an", profile="organization", csr_pem=_csr("Sở Y tế"),
        agency_code="000.00.20.H41", agency_name="Sở Y tế tỉnh Nghệ An", full_name=None,
        title=None, citizen_id=None, province="Nghệ An", requested_by="van-thu",
        now=datetime.now(UTC),
    ).id  # fmt: skip


def test_a_revocation_whose_audit_entry_cannot_be_written_is_not_made(
    service: AuthorityService,
) -> None:
    serial = _issue(service)
    before = _audit_count(service)

    # An empty operator is refused by the audit log, after the CA has revoked in the same
    # transaction: both must be undone.
    with pytest.raises(LienthongError) as refused:
        service.revoke(
            "nghe-an", serial, x509.ReasonFlags.key_compromise, operator="", now=datetime.now(UTC)
        )

    assert refused.value.code == "audit.bad_entry"
    assert service.ca("nghe-an").record(serial).status is CertStatus.GOOD
    assert _audit_count(service) == before


def test_an_issuance_whose_audit_entry_fails_leaves_no_certificate(
    service: AuthorityService,
) -> None:
    with service.engine.connect() as connection:
        stored_before = connection.execute(
            sa.select(sa.func.count()).select_from(certificates)
        ).scalar_one()

    with pytest.raises(LienthongError):
        service.issue_for_key(
            "nghe-an",
            generate_key("p256"),
            OrganizationSubject("000.00.31.H41", "Sở Nội vụ tỉnh Nghệ An", "Nghệ An"),
            operator="",
            now=datetime.now(UTC),
        )

    with service.engine.connect() as connection:
        stored_after = connection.execute(
            sa.select(sa.func.count()).select_from(certificates)
        ).scalar_one()
    assert stored_after == stored_before


def test_each_operation_appends_one_audit_entry_and_the_chain_stays_intact(
    service: AuthorityService,
) -> None:
    before = _audit_count(service)
    serial = _issue(service)
    service.suspend("nghe-an", serial, operator="admin", now=datetime.now(UTC))
    service.resume("nghe-an", serial, operator="admin", now=datetime.now(UTC))
    service.revoke(
        "nghe-an", serial, x509.ReasonFlags.superseded, operator="admin", now=datetime.now(UTC)
    )

    with service.engine.connect() as connection:
        log = AuditLog(connection)
        entries = list(log.entries())
        assert log.verify().ok
    assert [entry.action for entry in entries[before:]] == [
        "ca.issue",
        "ca.suspend",
        "ca.resume",
        "ca.revoke",
    ]


def test_concurrent_approvals_of_one_request_issue_one_certificate(
    service: AuthorityService,
) -> None:
    request_id = _submit(service)
    with service.engine.connect() as connection:
        stored_before = connection.execute(
            sa.select(sa.func.count()).select_from(certificates)
        ).scalar_one()
    start = threading.Barrier(6)
    outcomes: list[str] = []

    def approve() -> None:
        start.wait()
        try:
            service.approve(request_id, operator="admin", now=datetime.now(UTC))
            outcomes.append("issued")
        except LienthongError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=approve) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert outcomes.count("issued") == 1
    assert set(outcomes) - {"issued"} <= {"pki.bad_state", "store.conflict"}
    with service.engine.connect() as connection:
        stored_after = connection.execute(
            sa.select(sa.func.count()).select_from(certificates)
        ).scalar_one()
    assert stored_after == stored_before + 1
    (decided,) = [r for r in service.requests() if r.id == request_id]
    assert decided.status is RequestStatus.ISSUED
    assert decided.serial is not None


def test_an_approved_request_is_usable_within_a_second(service: AuthorityService) -> None:
    request_id = _submit(service)

    started = time.perf_counter()
    decided = service.approve(request_id, operator="admin", now=datetime.now(UTC))
    pem = service.certificate_pem("nghe-an", decided.serial or 0)
    elapsed = time.perf_counter() - started

    certificate = x509.load_pem_x509_certificate(pem)
    assert certificate.serial_number == decided.serial
    # The issue asks for under a minute from approval to a usable certificate; one second
    # leaves room for a loaded CI machine (typically 5-20 ms).
    assert elapsed < 1.0


def test_the_responder_sees_a_revocation_committed_by_another_process(
    service: AuthorityService, ca_dir: Path
) -> None:
    serial = _issue(service)
    assert service.registry.states("nghe-an", [serial])[serial].status is CertStatus.GOOD

    # Another process (the CLI) revokes through its own engine and service.
    other = AuthorityService(ca_dir, PASSPHRASE, engine=create_engine(database_url(ca_dir)))
    try:
        other.revoke(
            "nghe-an", serial, x509.ReasonFlags.key_compromise, operator="cli",
            now=datetime.now(UTC),
        )  # fmt: skip
    finally:
        other.close()

    state = service.registry.states("nghe-an", [serial])[serial]
    assert state.status is CertStatus.REVOKED
    assert state.reason is x509.ReasonFlags.key_compromise


def test_a_batch_approval_commits_every_issuance_with_its_audit_entry(
    service: AuthorityService,
) -> None:
    ids = [_submit(service) for _ in range(5)]
    service.approve(ids[2], operator="admin", now=datetime.now(UTC))
    before = _audit_count(service)

    outcomes = service.approve_all([*ids, 10**9], operator="admin", now=datetime.now(UTC))

    assert [o.request_id for o in outcomes] == [*ids, 10**9]
    issued = [o for o in outcomes if o.request is not None]
    assert len(issued) == 4
    assert outcomes[2].error is not None
    assert outcomes[2].error.code == "pki.bad_state"
    assert outcomes[5].error is not None
    assert outcomes[5].error.code == "store.not_found"
    assert _audit_count(service) == before + 4
    for outcome in issued:
        assert outcome.request is not None
        assert outcome.request.serial is not None
        pem = service.certificate_pem("nghe-an", outcome.request.serial)
        assert x509.load_pem_x509_certificate(pem).serial_number == outcome.request.serial


def test_every_certificate_ever_issued_has_an_audit_entry(service: AuthorityService) -> None:
    _issue(service)
    with service.engine.connect() as connection:
        issued = connection.execute(sa.select(certificates.c.issuer, certificates.c.serial)).all()
        entries = list(AuditLog(connection).entries())
    recorded = " ".join(f"{entry.subject} {entry.details}" for entry in entries)

    # Root, sub-CA, OCSP and TSA certificates made by `ca init` included.
    assert len(issued) >= 8
    missing = [f"{issuer}:{serial:x}" for issuer, serial in issued if f"{serial:x}" not in recorded]
    assert missing == []


@pytest.mark.parametrize("serial", [1, 2**159 + 1, 2**170, 2**256 - 1])
def test_ocsp_about_a_serial_never_issued_is_unknown(
    service: AuthorityService, serial: int
) -> None:
    issuer = service.ca("nghe-an").certificate
    known = x509.load_pem_x509_certificate(service.certificate_pem("nghe-an", _issue(service)))
    template = ocsp.OCSPRequestBuilder().add_certificate(known, issuer, hashes.SHA256()).build()
    request = (
        ocsp.OCSPRequestBuilder()
        .add_certificate_by_hash(
            template.issuer_name_hash, template.issuer_key_hash, serial, hashes.SHA256()
        )
        .build()
    )

    der = service.ocsp("nghe-an", request.public_bytes(Encoding.DER), now=datetime.now(UTC))

    answer = ocsp.load_der_ocsp_response(der)
    assert answer.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    assert answer.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    assert answer.serial_number == serial
