"""The certificate store (CAs, certificates, CRL numbers, requests) on SQLite and PostgreSQL.

Each test gets ``connection`` (see ``conftest.py``): its writes are rolled back at the end. The
concurrency tests commit for real, on a database of their own (``empty_db_url``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.certificates import (
    CaRepository,
    CertificateRepository,
    RequestRepository,
    StoredCa,
    StoredCertificate,
    StoredRequest,
)
from lienthong.store.engine import create_engine
from lienthong.store.migrate import upgrade
from lienthong.store.schema import certificates

pytestmark = pytest.mark.integration

HANOI = timezone(timedelta(hours=7), "ICT")
NOW = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=HANOI)
BIG_SERIAL = 2**159 + 12345  # beyond BigInteger and beyond a double's 53 bits
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
CSR = "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"


def _add_ca(
    connection: Connection, name: str = "root", parent: str | None = None, **extra: str
) -> StoredCa:
    return CaRepository(connection).add(
        name=name,
        certificate_pem=PEM,
        parent_name=parent,
        key_ref=f"file:{name}/ca.key.pem",
        base_url="http://127.0.0.1:8088",
        created_at=NOW,
        **extra,
    )


def _certificate(serial: int = BIG_SERIAL, **overrides: object) -> StoredCertificate:
    row = StoredCertificate(
        issuer="root",
        serial=serial,
        profile="organization",
        subject="CN=Sở Nội vụ,O=UBND tỉnh Nghệ An,C=VN",
        agency_code="000.00.00.H41",
        not_before=NOW,
        not_after=NOW + timedelta(days=365 * 3),
        pem=PEM,
        status="good",
        revoked_at=None,
        reason=None,
        replaced_by=None,
        issued_at=NOW,
    )
    return replace(row, **overrides)  # type: ignore[arg-type]


def _add_request(connection: Connection, **overrides: object) -> StoredRequest:
    values: dict[str, object] = {
        "ca": "root",
        "profile": "person",
        "csr_pem": CSR,
        "agency_code": "000.00.00.H41",
        "agency_name": "Sở Nội vụ tỉnh Nghệ An",
        "full_name": "Nguyễn Văn A",
        "title": "Giám đốc",
        "citizen_id": "040080000001",
        "province": "Nghệ An",
        "requested_by": "vanthu",
        "requested_at": NOW,
    }
    values.update(overrides)
    return RequestRepository(connection).add(**values)  # type: ignore[arg-type]


@pytest.fixture
def certs(connection: Connection) -> CertificateRepository:
    _add_ca(connection)
    return CertificateRepository(connection)


# --------------------------------------------------------------------------- CAs


def test_a_ca_round_trips_with_its_parent_and_scope(connection: Connection) -> None:
    root = _add_ca(connection)
    sub = _add_ca(connection, "nghean", parent="root", scope="H41,H42")

    assert root.parent_name is None
    assert root.scope is None
    assert sub == StoredCa(
        name="nghean",
        certificate_pem=PEM,
        parent_name="root",
        scope="H41,H42",
        key_ref="file:nghean/ca.key.pem",
        base_url="http://127.0.0.1:8088",
        created_at=NOW.astimezone(UTC),
    )
    assert CaRepository(connection).get("nghean") == sub
    assert CaRepository(connection).get("nowhere") is None
    assert [ca.name for ca in CaRepository(connection).list()] == ["nghean", "root"]


def test_a_ca_name_is_unique_and_its_parent_must_exist(connection: Connection) -> None:
    _add_ca(connection)

    with pytest.raises(StoreError) as duplicate:
        _add_ca(connection)
    with pytest.raises(StoreError) as orphan:
        _add_ca(connection, "nghean", parent="nowhere")

    assert duplicate.value.code == "store.conflict"
    assert orphan.value.code == "store.bad_reference"
    # The SAVEPOINT kept the transaction usable.
    assert len(CaRepository(connection).list()) == 1


def test_a_key_ref_must_be_a_reference_not_key_material(connection: Connection) -> None:
    with pytest.raises(UsageError):
        CaRepository(connection).add(
            name="root",
            certificate_pem=PEM,
            key_ref="-----BEGIN PRIVATE KEY-----\n…",
            base_url="http://127.0.0.1:8088",
            created_at=NOW,
        )
    assert CaRepository(connection).list() == []


# --------------------------------------------------------------------------- certificates


def test_a_160_bit_serial_round_trips_exactly(certs: CertificateRepository) -> None:
    certs.add(_certificate(BIG_SERIAL, replaced_by=BIG_SERIAL + 1))
    certs.add(_certificate(BIG_SERIAL + 1))

    found = certs.get("root", BIG_SERIAL)

    assert found is not None
    assert found.serial == BIG_SERIAL
    assert found.replaced_by == BIG_SERIAL + 1
    assert found == _certificate(BIG_SERIAL, replaced_by=BIG_SERIAL + 1, not_before=NOW)
    assert certs.get("root", BIG_SERIAL + 2) is None
    assert certs.get("other", BIG_SERIAL) is None


def test_timestamps_come_back_aware_in_utc(certs: CertificateRepository) -> None:
    certs.add(_certificate())

    found = certs.get("root", BIG_SERIAL)

    assert found is not None
    assert found.issued_at == NOW
    assert found.issued_at.tzinfo == UTC


def test_update_status_revokes_holds_and_resumes(certs: CertificateRepository) -> None:
    certs.add(_certificate())
    later = NOW + timedelta(days=1)

    held = certs.update_status(
        "root", BIG_SERIAL, status="on-hold", revoked_at=later, reason="certificateHold",
        replaced_by=None,
    )  # fmt: skip
    resumed = certs.update_status(
        "root", BIG_SERIAL, status="good", revoked_at=None, reason=None, replaced_by=None
    )
    revoked = certs.update_status(
        "root", BIG_SERIAL, status="revoked", revoked_at=later, reason="keyCompromise",
        replaced_by=7,
    )  # fmt: skip

    assert (held.status, held.reason, held.revoked_at) == ("on-hold", "certificateHold", later)
    assert (resumed.status, resumed.reason, resumed.revoked_at) == ("good", None, None)
    assert (revoked.status, revoked.reason, revoked.replaced_by) == ("revoked", "keyCompromise", 7)
    assert certs.get("root", BIG_SERIAL) == revoked


def test_update_status_of_an_unknown_certificate_is_not_found(
    certs: CertificateRepository,
) -> None:
    with pytest.raises(StoreError) as caught:
        certs.update_status(
            "root", 42, status="revoked", revoked_at=NOW, reason="superseded", replaced_by=None
        )
    assert caught.value.code == "store.not_found"


@pytest.mark.parametrize(
    ("status", "revoked_at", "reason"),
    [
        ("revoked", None, None),
        ("revoked", NOW, None),
        ("on-hold", None, "certificateHold"),
        ("good", NOW, "keyCompromise"),
        ("expired", None, None),
    ],
)
def test_update_status_refuses_an_inconsistent_revocation(
    certs: CertificateRepository, status: str, revoked_at: datetime | None, reason: str | None
) -> None:
    certs.add(_certificate())
    with pytest.raises(UsageError):
        certs.update_status(
            "root", BIG_SERIAL, status=status, revoked_at=revoked_at, reason=reason,
            replaced_by=None,
        )  # fmt: skip
    found = certs.get("root", BIG_SERIAL)
    assert found is not None
    assert found.status == "good"


def test_the_database_refuses_revoked_without_reason(
    connection: Connection, certs: CertificateRepository
) -> None:
    # Behind the repository's own check, the CHECK constraint holds for any writer.
    certs.add(_certificate())
    bad = (
        sa.update(certificates)
        .where(certificates.c.serial == BIG_SERIAL)
        .values(status="revoked", revoked_at=NOW)
    )
    with pytest.raises(IntegrityError), connection.begin_nested():
        connection.execute(bad)
    with pytest.raises(IntegrityError), connection.begin_nested():
        connection.execute(sa.update(certificates).values(status="lost"))


def test_a_serial_is_unique_per_issuer_only(
    connection: Connection, certs: CertificateRepository
) -> None:
    _add_ca(connection, "nghean", parent="root")
    certs.add(_certificate())
    certs.add(_certificate(issuer="nghean"))

    with pytest.raises(StoreError) as caught:
        certs.add(_certificate(subject="CN=someone else"))

    assert caught.value.code == "store.conflict"
    assert certs.count() == 2
    assert certs.count("root") == 1
    assert certs.count("nowhere") == 0


def test_a_certificate_of_an_unknown_ca_is_a_bad_reference(certs: CertificateRepository) -> None:
    with pytest.raises(StoreError) as caught:
        certs.add(_certificate(issuer="nowhere"))
    assert caught.value.code == "store.bad_reference"
    assert certs.count() == 0


def test_not_good_lists_the_revoked_and_held_of_one_issuer_by_serial(
    connection: Connection, certs: CertificateRepository
) -> None:
    _add_ca(connection, "nghean", parent="root")
    for serial in (BIG_SERIAL, 2, 10**20, 3):
        certs.add(_certificate(serial))
    certs.add(_certificate(2, issuer="nghean"))
    for serial, status, reason in (
        (BIG_SERIAL, "revoked", "keyCompromise"),
        (10**20, "on-hold", "certificateHold"),
        (2, "revoked", "superseded"),
    ):
        certs.update_status(
            "root", serial, status=status, revoked_at=NOW, reason=reason, replaced_by=None
        )
    certs.update_status(
        "nghean", 2, status="revoked", revoked_at=NOW, reason="cessationOfOperation",
        replaced_by=None,
    )  # fmt: skip

    listed = certs.not_good("root")

    # Numeric order, also on SQLite where serials are zero-padded text.
    assert [(c.serial, c.status) for c in listed] == [
        (2, "revoked"),
        (10**20, "on-hold"),
        (BIG_SERIAL, "revoked"),
    ]
    assert [c.issuer for c in certs.not_good("nghean")] == ["nghean"]


def test_by_agency_finds_every_certificate_of_an_agency(
    connection: Connection, certs: CertificateRepository
) -> None:
    _add_ca(connection, "nghean", parent="root")
    certs.add(_certificate(5, issued_at=NOW + timedelta(hours=1)))
    certs.add(_certificate(6, issuer="nghean"))
    certs.add(_certificate(7, agency_code="000.00.00.G22"))
    certs.add(_certificate(8, agency_code=None, profile="tls-server"))

    found = certs.by_agency("000.00.00.H41")

    assert [(c.issuer, c.serial) for c in found] == [("nghean", 6), ("root", 5)]
    assert certs.by_agency("000.00.00.A01") == []


def test_bad_serials_are_refused(certs: CertificateRepository) -> None:
    for serial in (0, -1, 10**50):
        with pytest.raises(UsageError):
            certs.add(_certificate(serial))
    with pytest.raises(UsageError):
        certs.add(_certificate(1, not_before=NOW.replace(tzinfo=None)))


def test_crl_numbers_start_at_one_and_strictly_increase(
    connection: Connection, certs: CertificateRepository
) -> None:
    _add_ca(connection, "nghean", parent="root")

    root_numbers = [certs.next_crl_number("root") for _ in range(5)]

    assert root_numbers == [1, 2, 3, 4, 5]
    assert certs.next_crl_number("nghean") == 1
    assert certs.next_crl_number("root") == 6


def test_a_crl_number_for_an_unknown_ca_is_a_bad_reference(certs: CertificateRepository) -> None:
    with pytest.raises(StoreError) as caught:
        certs.next_crl_number("nowhere")
    assert caught.value.code == "store.bad_reference"
    assert certs.next_crl_number("root") == 1


# --------------------------------------------------------------------------- requests


def test_a_request_gets_an_id_and_starts_pending(connection: Connection) -> None:
    _add_ca(connection)

    stored = _add_request(connection)

    assert stored.id >= 1
    assert stored.status == "pending"
    assert (stored.decided_by, stored.decided_at, stored.reason, stored.serial) == (
        None,
        None,
        None,
        None,
    )
    assert stored.full_name == "Nguyễn Văn A"
    assert RequestRepository(connection).get(stored.id) == stored
    assert RequestRepository(connection).get(stored.id + 1000) is None


def test_an_organization_request_has_no_person_fields(connection: Connection) -> None:
    _add_ca(connection)

    stored = _add_request(
        connection, profile="organization", full_name=None, title=None, citizen_id=None,
        province=None,
    )  # fmt: skip

    assert (stored.full_name, stored.title, stored.citizen_id, stored.province) == (None,) * 4


def test_a_request_to_an_unknown_ca_is_a_bad_reference(connection: Connection) -> None:
    with pytest.raises(StoreError) as caught:
        _add_request(connection, ca="nowhere")
    assert caught.value.code == "store.bad_reference"


def test_requests_are_listed_newest_first_and_filtered(connection: Connection) -> None:
    _add_ca(connection)
    _add_ca(connection, "nghean", parent="root")
    first = _add_request(connection)
    second = _add_request(connection, ca="nghean", requested_at=NOW + timedelta(minutes=1))
    third = _add_request(connection, requested_at=NOW + timedelta(minutes=2))
    same_time = _add_request(connection, requested_at=NOW + timedelta(minutes=2))
    repo = RequestRepository(connection)
    repo.decide(first.id, status="rejected", decided_by="operator", decided_at=NOW, reason="x")

    assert [r.id for r in repo.list()] == [same_time.id, third.id, second.id, first.id]
    assert [r.id for r in repo.list(ca="root")] == [same_time.id, third.id, first.id]
    assert [r.id for r in repo.list(status="pending")] == [same_time.id, third.id, second.id]
    assert [r.id for r in repo.list(ca="root", status="rejected")] == [first.id]


def test_deciding_issues_or_rejects_once(connection: Connection) -> None:
    _add_ca(connection)
    to_issue = _add_request(connection)
    to_reject = _add_request(connection)
    repo = RequestRepository(connection)
    later = NOW + timedelta(hours=2)

    issued = repo.decide(
        to_issue.id, status="issued", decided_by="operator", decided_at=later, serial=BIG_SERIAL
    )
    rejected = repo.decide(
        to_reject.id, status="rejected", decided_by="operator", decided_at=later,
        reason="CSR không khớp hồ sơ",
    )  # fmt: skip

    assert (issued.status, issued.serial, issued.decided_by) == ("issued", BIG_SERIAL, "operator")
    assert issued.decided_at == later
    assert (rejected.status, rejected.reason, rejected.serial) == (
        "rejected",
        "CSR không khớp hồ sơ",
        None,
    )
    with pytest.raises(StoreError) as again:
        repo.decide(to_reject.id, status="issued", decided_by="other", decided_at=later, serial=1)
    assert again.value.code == "store.conflict"
    assert repo.get(to_reject.id) == rejected
    with pytest.raises(StoreError) as missing:
        repo.decide(to_issue.id + 1000, status="rejected", decided_by="x", decided_at=later)
    assert missing.value.code == "store.not_found"


def test_a_decision_must_be_issued_or_rejected(connection: Connection) -> None:
    _add_ca(connection)
    request = _add_request(connection)
    repo = RequestRepository(connection)

    for status, serial in (("pending", None), ("approved", None), ("rejected", 5)):
        with pytest.raises(UsageError):
            repo.decide(request.id, status=status, decided_by="x", decided_at=NOW, serial=serial)
    assert repo.get(request.id) == request


# --------------------------------------------------------------------------- concurrency


@pytest.fixture
def own_engine(empty_db_url: str) -> Iterator[Engine]:
    """A migrated database of this test's own, for transactions that really commit."""
    engine = create_engine(empty_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _race(engine: Engine, work: Callable[[Connection], object], n: int = 2) -> list[object]:
    """Run ``work`` on ``n`` connections at once, each in a transaction it commits."""
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(index: int) -> None:
        try:
            with engine.connect() as connection:
                barrier.wait(timeout=10)
                with connection.begin():
                    results[index] = work(connection)
        except Exception as exc:  # noqa: BLE001 - handed back to the test thread
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_operators_deciding_at_once_cannot_both_win(own_engine: Engine) -> None:
    with own_engine.begin() as connection:
        _add_ca(connection)
        request = _add_request(connection)

    def approve(connection: Connection) -> object:
        return RequestRepository(connection).decide(
            request.id, status="issued", decided_by=threading.current_thread().name,
            decided_at=NOW, serial=BIG_SERIAL,
        )  # fmt: skip

    results = _race(own_engine, approve)

    winners = [r for r in results if isinstance(r, StoredRequest)]
    losers = [r for r in results if isinstance(r, StoreError)]
    assert len(winners) == 1, results
    assert len(losers) == 1, results
    assert losers[0].code == "store.conflict"
    with own_engine.connect() as connection:
        assert RequestRepository(connection).get(request.id) == winners[0]


def test_crl_numbers_stay_unique_under_concurrent_callers(own_engine: Engine) -> None:
    with own_engine.begin() as connection:
        _add_ca(connection)

    results = _race(own_engine, lambda c: CertificateRepository(c).next_crl_number("root"), n=4)

    assert sorted(results) == [1, 2, 3, 4]  # type: ignore[type-var]


# --------------------------------------------------------------------------- status reads


def test_states_reads_only_the_status_of_the_serials_asked(certs: CertificateRepository) -> None:
    certs.add(_certificate(BIG_SERIAL))
    certs.add(_certificate(7))
    certs.update_status(
        "root", 7, status="revoked", revoked_at=NOW, reason="keyCompromise", replaced_by=None
    )

    states = certs.states("root", [BIG_SERIAL, 7, 8])

    assert set(states) == {BIG_SERIAL, 7}
    assert states[BIG_SERIAL].status == "good"
    assert states[BIG_SERIAL].revoked_at is None
    assert states[7].status == "revoked"
    assert states[7].revoked_at == NOW
    assert states[7].reason == "keyCompromise"
    assert certs.states("another-ca", [7]) == {}


def test_states_of_serials_no_certificate_can_have_are_not_found(
    certs: CertificateRepository,
) -> None:
    certs.add(_certificate(7))

    # Anyone may ask an OCSP responder about any number; these cannot be stored at all.
    assert certs.states("root", [0, -7, 2**170]) == {}
    assert set(certs.states("root", [2**170, 7])) == {7}
