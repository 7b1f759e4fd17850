"""Contract suite for the repositories: every test runs on SQLite and on PostgreSQL.

Each test gets ``connection`` (see ``conftest.py``): its writes are rolled back at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.repositories import (
    AgencyRecord,
    AgencyRepository,
    PackageRecord,
    PackageRepository,
)
from lienthong.store.schema import agencies

pytestmark = pytest.mark.integration

HANOI = timezone(timedelta(hours=7), "ICT")
CREATED = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=HANOI)

MINISTRY = "000.00.00.G22"  # Bộ Nội vụ (level 1)
DEPARTMENT = "000.00.01.G22"  # a unit under it (level 2)
OTHER_DEPARTMENT = "000.00.02.G22"
SUB_UNIT = "000.01.01.G22"  # one level further down
SHA_A = "a" * 64
SHA_B = "b" * 64


@pytest.fixture
def agency_repo(connection: Connection) -> AgencyRepository:
    return AgencyRepository(connection)


@pytest.fixture
def package_repo(connection: Connection) -> PackageRepository:
    return PackageRepository(connection)


def _add(repo: AgencyRepository, code: str, parent: str | None = None) -> AgencyRecord:
    return repo.add(
        code=code,
        name=f"Cơ quan {code}",
        created_at=CREATED,
        level=1 if parent is None else 2,
        parent_code=parent,
        email=f"vanthu@{code.replace('.', '-')}.gov.vn",
    )


def _record(repo: PackageRepository, **overrides: object) -> int:
    values: dict[str, object] = {
        "document_id": "000.00.00.G22,2026/03/02,15/BNV-VP",
        "sender_code": MINISTRY,
        "kind": "document",
        "sha256": SHA_A,
        "size": 1234,
        "stored_at": CREATED,
    }
    values.update(overrides)
    return repo.record(**values)  # type: ignore[arg-type]


def _is_usable(connection: Connection) -> bool:
    # After a refused write PostgreSQL would abort the whole transaction unless the write ran
    # in a savepoint; a later read proves the caller can carry on.
    return connection.execute(sa.select(sa.func.count()).select_from(agencies)).scalar_one() >= 0


# --------------------------------------------------------------------------- agencies


def test_an_added_agency_reads_back_equal(agency_repo: AgencyRepository) -> None:
    added = _add(agency_repo, MINISTRY)

    assert added == AgencyRecord(
        code=MINISTRY,
        name=f"Cơ quan {MINISTRY}",
        level=1,
        parent_code=None,
        status="active",
        successor_code=None,
        email="vanthu@000-00-00-G22.gov.vn",
        created_at=CREATED,
    )
    assert agency_repo.get(MINISTRY) == added
    assert agency_repo.find(MINISTRY) == added


def test_a_legacy_opaque_id_has_no_level(agency_repo: AgencyRepository) -> None:
    agency = agency_repo.add(code="H26.21-legacy", name="Sở Nội vụ (mã cũ)", created_at=CREATED)

    assert agency.level is None
    assert agency.email is None


def test_timestamps_come_back_aware_in_utc_at_the_same_instant(
    agency_repo: AgencyRepository,
) -> None:
    created_at = agency_repo.get(_add(agency_repo, MINISTRY).code).created_at

    assert created_at.tzinfo is not None
    assert created_at.utcoffset() == timedelta(0)
    assert created_at == CREATED
    assert created_at == datetime(2026, 3, 2, 1, 30, 15, 123456, tzinfo=UTC)


def test_a_naive_timestamp_is_refused(agency_repo: AgencyRepository) -> None:
    with pytest.raises(UsageError):
        agency_repo.add(code=MINISTRY, name="x", created_at=datetime(2026, 3, 2, 8, 30))


def test_an_unknown_agency_is_not_found(agency_repo: AgencyRepository) -> None:
    with pytest.raises(StoreError) as caught:
        agency_repo.get("999.99.99.H99")

    assert caught.value.code == "store.not_found"
    assert agency_repo.find("999.99.99.H99") is None


def test_adding_an_existing_code_is_a_conflict(
    agency_repo: AgencyRepository, connection: Connection
) -> None:
    original = _add(agency_repo, MINISTRY)

    with pytest.raises(StoreError) as caught:
        agency_repo.add(code=MINISTRY, name="Another name", created_at=CREATED)

    assert caught.value.code == "store.conflict"
    assert _is_usable(connection)
    assert agency_repo.get(MINISTRY) == original


def test_a_parent_that_does_not_exist_is_refused(
    agency_repo: AgencyRepository, connection: Connection
) -> None:
    with pytest.raises(StoreError) as caught:
        _add(agency_repo, DEPARTMENT, parent=MINISTRY)

    assert caught.value.code == "store.bad_reference"
    assert _is_usable(connection)
    assert agency_repo.find(DEPARTMENT) is None


def test_an_agency_cannot_be_its_own_parent(agency_repo: AgencyRepository) -> None:
    with pytest.raises(UsageError):
        _add(agency_repo, MINISTRY, parent=MINISTRY)


def test_children_are_the_direct_subordinates_in_code_order(
    agency_repo: AgencyRepository,
) -> None:
    _add(agency_repo, MINISTRY)
    _add(agency_repo, OTHER_DEPARTMENT, parent=MINISTRY)
    _add(agency_repo, DEPARTMENT, parent=MINISTRY)
    _add(agency_repo, SUB_UNIT, parent=DEPARTMENT)

    children = agency_repo.list_children(MINISTRY)

    assert [child.code for child in children] == [DEPARTMENT, OTHER_DEPARTMENT]
    assert all(child.parent_code == MINISTRY for child in children)
    assert [child.code for child in agency_repo.list_children(DEPARTMENT)] == [SUB_UNIT]
    assert agency_repo.list_children(SUB_UNIT) == []


def test_retiring_an_agency_names_its_successor(agency_repo: AgencyRepository) -> None:
    _add(agency_repo, MINISTRY)
    _add(agency_repo, DEPARTMENT, parent=MINISTRY)
    _add(agency_repo, OTHER_DEPARTMENT, parent=MINISTRY)

    retired = agency_repo.retire(DEPARTMENT, OTHER_DEPARTMENT)

    assert retired.status == "retired"
    assert retired.successor_code == OTHER_DEPARTMENT
    assert agency_repo.get(DEPARTMENT) == retired
    # Still listed: its documents and history remain attached to it.
    assert DEPARTMENT in [child.code for child in agency_repo.list_children(MINISTRY)]


def test_retiring_without_a_successor(agency_repo: AgencyRepository) -> None:
    _add(agency_repo, MINISTRY)

    retired = agency_repo.retire(MINISTRY)

    assert (retired.status, retired.successor_code) == ("retired", None)


def test_retiring_an_unknown_agency_is_not_found(agency_repo: AgencyRepository) -> None:
    with pytest.raises(StoreError) as caught:
        agency_repo.retire("999.99.99.H99")

    assert caught.value.code == "store.not_found"


def test_a_successor_that_does_not_exist_is_refused(
    agency_repo: AgencyRepository, connection: Connection
) -> None:
    _add(agency_repo, MINISTRY)

    with pytest.raises(StoreError) as caught:
        agency_repo.retire(MINISTRY, "999.99.99.H99")

    assert caught.value.code == "store.bad_reference"
    assert _is_usable(connection)
    assert agency_repo.get(MINISTRY).status == "active"


def test_an_agency_cannot_succeed_itself(agency_repo: AgencyRepository) -> None:
    _add(agency_repo, MINISTRY)

    with pytest.raises(UsageError):
        agency_repo.retire(MINISTRY, MINISTRY)


def test_the_database_itself_refuses_a_dangling_parent(connection: Connection) -> None:
    # Not only the repository: the foreign key is enforced by both engines (SQLite only
    # when PRAGMA foreign_keys is on, which the engine sets on every connection).
    with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
        connection.execute(
            sa.insert(agencies).values(
                code=DEPARTMENT,
                name="x",
                status="active",
                parent_code="999.99.99.H99",
                created_at=CREATED,
            )
        )


# --------------------------------------------------------------------------- packages


def test_recording_a_package_returns_its_id(package_repo: PackageRepository) -> None:
    package_id = _record(package_repo)

    assert package_repo.get(package_id) == PackageRecord(
        id=package_id,
        document_id="000.00.00.G22,2026/03/02,15/BNV-VP",
        sender_code=MINISTRY,
        kind="document",
        sha256=SHA_A,
        size=1234,
        stored_at=CREATED,
    )
    assert package_repo.count() == 1


def test_a_resend_returns_the_original_id_and_stores_nothing(
    package_repo: PackageRepository, connection: Connection
) -> None:
    first = _record(package_repo)

    again = _record(package_repo, stored_at=CREATED + timedelta(minutes=5))

    assert again == first
    assert package_repo.count() == 1
    assert package_repo.get(first).stored_at == CREATED
    assert _is_usable(connection)


def test_new_content_or_another_sender_is_another_package(
    package_repo: PackageRepository,
) -> None:
    first = _record(package_repo)
    corrected = _record(package_repo, sha256=SHA_B)
    status = _record(package_repo, sender_code=DEPARTMENT, kind="status", sha256=SHA_B)

    assert len({first, corrected, status}) == 3
    assert package_repo.count() == 3


def test_packages_by_document_id_oldest_first(package_repo: PackageRepository) -> None:
    first = _record(package_repo)
    second = _record(package_repo, sender_code=DEPARTMENT, kind="status", sha256=SHA_B)
    _record(package_repo, document_id="another")

    found = package_repo.get_by_document_id("000.00.00.G22,2026/03/02,15/BNV-VP")

    assert [package.id for package in found] == [first, second]
    assert [package.kind for package in found] == ["document", "status"]
    assert all(package.stored_at.utcoffset() == timedelta(0) for package in found)
    assert package_repo.get_by_document_id("nothing") == []


def test_an_unknown_package_is_not_found(package_repo: PackageRepository) -> None:
    with pytest.raises(StoreError) as caught:
        package_repo.get(10**12)

    assert caught.value.code == "store.not_found"


def test_a_large_size_round_trips(package_repo: PackageRepository) -> None:
    # BIGINT: packages over 2 GiB must not overflow a 32-bit column on PostgreSQL.
    size = 5 * 2**30
    assert package_repo.get(_record(package_repo, size=size)).size == size


@pytest.mark.parametrize(
    "overrides",
    [
        {"kind": "invoice"},
        {"size": -1},
        {"stored_at": datetime(2026, 3, 2, 8, 30)},
        {"sha256": "A" * 64},
        {"sha256": "../../etc/passwd"},
    ],
    ids=["kind", "size", "naive-time", "sha-uppercase", "sha-path"],
)
def test_invalid_package_values_are_refused(
    package_repo: PackageRepository, overrides: dict[str, object]
) -> None:
    with pytest.raises(UsageError):
        _record(package_repo, **overrides)
    assert package_repo.count() == 0


# --------------------------------------------------------------------------- isolation


def test_code_under_test_may_not_commit_the_test_transaction(connection: Connection) -> None:
    with pytest.raises(pytest.fail.Exception, match="committed the test transaction"):
        connection.commit()


@pytest.mark.xdist_group("rollback-isolation")
@pytest.mark.parametrize("turn", ["first", "second"])
def test_rows_from_one_test_are_gone_in_the_next(
    agency_repo: AgencyRepository, package_repo: PackageRepository, turn: str
) -> None:
    # Both turns run on one worker (one database) in some order; whichever runs second
    # would find the other's rows if the per-test rollback leaked.
    assert agency_repo.find("probe.isolation") is None
    assert package_repo.count() == 0

    agency_repo.add(code="probe.isolation", name=turn, created_at=CREATED)
    _record(package_repo)

    assert agency_repo.get("probe.isolation").name == turn
    assert package_repo.count() == 1
