"""The hub's repositories on both engines, each test in a rolled-back transaction."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lienthong.domain.errors import StoreError
from lienthong.store.hub_store import HubRepository, SystemRepository
from lienthong.store.repositories import AgencyRepository, PackageRepository

NOW = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)
_numbers = itertools.count(1)


def _agency(connection: Connection) -> str:
    code = f"{next(_numbers):03d}.00.01.T97"
    AgencyRepository(connection).add(code=code, name="Cơ quan", created_at=NOW, level=4)
    return code


def _package(sender: str, document_id: str, **extra: Any) -> dict[str, Any]:
    body = f"{sender}|{document_id}|{extra}".encode()
    values: dict[str, Any] = {
        "document_id": document_id,
        "sender_code": sender,
        "kind": "document",
        "sha256": hashlib.sha256(body).hexdigest(),
        "size": len(body),
        "stored_at": NOW,
        "idem_key": hashlib.sha256(document_id.encode()).hexdigest(),
        "business": "0",
    }
    values.update(extra)
    return values


def test_systems_by_id_and_certificate(connection: Connection) -> None:
    code = _agency(connection)
    systems = SystemRepository(connection)
    fingerprint = "AB" * 32
    added = systems.add(
        system_id="s1", name="Hệ thống 1", agencies=[code], created_at=NOW, secret="k",
        cert_sha256=fingerprint,
    )  # fmt: skip
    assert added.agencies == frozenset({code})
    assert added.cert_sha256 == fingerprint.lower()
    found = systems.by_certificate(fingerprint)
    assert found is not None
    assert found.system_id == "s1"
    assert systems.get("nope") is None
    with pytest.raises(StoreError) as duplicate:
        systems.add(system_id="s1", name="again", agencies=[], created_at=NOW)
    assert duplicate.value.code == "store.conflict"
    with pytest.raises(StoreError) as unknown:
        systems.add(system_id="s2", name="x", agencies=["999.99.99.T96"], created_at=NOW)
    assert unknown.value.code == "store.bad_reference"
    systems.set_certificate("s1", None)
    assert systems.by_certificate(fingerprint) is None


def test_insert_package_is_idempotent_per_sender(connection: Connection) -> None:
    sender, other = _agency(connection), _agency(connection)
    repo = HubRepository(connection)
    first, created = repo.insert_package(_package(sender, "D,2026/11/26,1/X"))
    assert created
    again, created_again = repo.insert_package(_package(sender, "D,2026/11/26,1/X", size=5))
    assert (again, created_again) == (first, False)
    theirs, created_theirs = repo.insert_package(_package(other, "D,2026/11/26,1/X"))
    assert created_theirs
    assert theirs != first
    # the pre-hub repository's rows (no idem_key) coexist
    PackageRepository(connection).record(
        document_id="D,2026/11/26,1/X", sender_code=sender, kind="status",
        sha256="c" * 64, size=1, stored_at=NOW,
    )  # fmt: skip
    stored = repo.package(first)
    assert stored is not None
    assert stored.business == "0"
    assert stored.sender_code == sender


def test_deliveries_inbox_fetch_and_acknowledge(connection: Connection) -> None:
    sender, recipient = _agency(connection), _agency(connection)
    repo = HubRepository(connection)
    ids = [repo.insert_package(_package(sender, f"D,2026/11/26,{n}/X"))[0] for n in range(5)]
    for package_id in ids:
        repo.add_delivery(package_id=package_id, recipient_code=recipient, queued_at=NOW)
        repo.add_delivery(package_id=package_id, recipient_code=recipient, queued_at=NOW)
    repo.mark_fetched(ids[1], recipient, NOW)
    repo.mark_fetched(ids[1], recipient, NOW + timedelta(minutes=1))
    assert repo.close_delivery(ids[2], recipient, state="done", reason=None, now=NOW)
    assert not repo.close_delivery(ids[2], recipient, state="failed", reason="x", now=NOW)
    open_items = repo.inbox(recipient, states=("queued", "fetched"), after_id=0, limit=10)
    assert [r.package_id for r in open_items] == [ids[0], ids[1], ids[3], ids[4]]
    assert [r.state for r in open_items] == ["queued", "fetched", "queued", "queued"]
    fetched = repo.delivery(ids[1], recipient)
    assert fetched is not None
    assert fetched.attempts == 2
    assert fetched.fetched_at == NOW  # the first fetch
    page = repo.inbox(recipient, states=("queued", "fetched"), after_id=ids[1], limit=1)
    assert [r.package_id for r in page] == [ids[3]]
    only_new = repo.inbox(recipient, states=("queued",), after_id=0, limit=10)
    assert [r.package_id for r in only_new] == [ids[0], ids[3], ids[4]]
    done = repo.delivery(ids[2], recipient)
    assert done is not None
    assert done.state == "done"
    assert done.acknowledged_at == NOW
    stale = [d.package_id for d in repo.stale_deliveries(NOW + timedelta(days=2))]
    assert ids[2] not in stale
    assert ids[0] in stale


def test_statuses_events_and_overdue(connection: Connection) -> None:
    sender, recipient = _agency(connection), _agency(connection)
    repo = HubRepository(connection)
    original, _ = repo.insert_package(_package(sender, "D,2026/11/26,9/X"))
    status, _ = repo.insert_package(
        _package(recipient, "D,2026/11/26,9/X", kind="status", business=None, status_code="01",
                 idem_key="e" * 64)
    )  # fmt: skip
    due = NOW + timedelta(days=1)
    repo.add_delivery(
        package_id=original, recipient_code=recipient, queued_at=NOW, registration_due=due
    )
    repo.add_status(
        package_id=original, recipient_code=recipient, code="01", at=NOW, reported_by=recipient,
        status_package_id=status, findings=("status.out_of_order",),
    )  # fmt: skip
    (row,) = repo.statuses([original])
    assert row.code == "01"
    assert row.findings == ("status.out_of_order",)

    def overdue(now: datetime) -> list[int]:
        # other tests' committed rows may be visible: look at ours only
        return [
            d.package_id for d in repo.overdue_registrations(now) if d.recipient_code == recipient
        ]

    assert overdue(due + timedelta(seconds=1)) == [original]
    assert overdue(due - timedelta(seconds=1)) == []
    repo.set_status(original, recipient, current_status="03", registered_at=NOW)
    assert overdue(due + timedelta(days=5)) == []

    first = repo.add_event(recipient, "package", original, NOW)
    second = repo.add_event(recipient, "status", status, NOW, "x")
    repo.add_event(sender, "delivery", original, NOW)
    assert second > first
    assert [e.seq for e in repo.events(recipient, after_seq=0, limit=10)] == [first, second]
    assert [e.kind for e in repo.events(recipient, after_seq=first, limit=10)] == ["status"]
    assert repo.last_event_seq() >= second


def test_inbox_query_uses_its_index(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        pytest.skip("the plan is checked on SQLite; PostgreSQL's depends on table statistics")
    plan = connection.exec_driver_sql(
        "EXPLAIN QUERY PLAN SELECT package_id FROM deliveries "
        "WHERE recipient_code = 'x' AND state = 'queued' AND package_id > 0 "
        "ORDER BY package_id LIMIT 100"
    ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_deliveries_inbox" in details
    assert "TEMP B-TREE" not in details  # no sort: the index gives the order


def test_delivery_state_is_constrained(connection: Connection) -> None:
    sender, recipient = _agency(connection), _agency(connection)
    repo = HubRepository(connection)
    package_id, _ = repo.insert_package(_package(sender, "D,2026/11/26,10/X"))
    repo.add_delivery(package_id=package_id, recipient_code=recipient, queued_at=NOW)
    with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
        connection.exec_driver_sql(
            f"UPDATE deliveries SET state = 'lost' WHERE package_id = {package_id}"
        )


def test_pending_pdf_scan_uses_its_partial_index(connection: Connection) -> None:
    """The pipeline's claim reads only the partial index of pending packages (SQLite's plan;
    on PostgreSQL the index exists with the same predicate)."""
    indexes = {ix["name"]: ix for ix in sa.inspect(connection).get_indexes("packages")}
    assert indexes["ix_packages_pdf_pending"]["column_names"] == ["id"]
    if connection.dialect.name != "sqlite":
        definition = connection.exec_driver_sql(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_packages_pdf_pending'"
        ).scalar_one()
        assert "WHERE ((pdf_state)::text = 'pending'::text)" in definition
        return
    plan = connection.exec_driver_sql(
        "EXPLAIN QUERY PLAN SELECT id, sha256 FROM packages WHERE pdf_state = 'pending' "
        "AND (pdf_claimed_until IS NULL OR pdf_claimed_until <= '2026-11-27') "
        "ORDER BY id LIMIT 20"
    ).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_packages_pdf_pending" in details
    assert "TEMP B-TREE" not in details


def test_pdf_claims_are_leases(connection: Connection) -> None:
    sender, recipient = _agency(connection), _agency(connection)
    repo = HubRepository(connection)
    values = {**_package(sender, "D,2026/11/27,11/X"), "pdf_state": "pending"}
    package_id, _ = repo.insert_package(values)
    repo.add_delivery(package_id=package_id, recipient_code=recipient, queued_at=NOW, state="held")
    lease = NOW + timedelta(seconds=60)

    def mine(now: datetime) -> list[int]:  # other tests' committed rows may be visible
        claims = repo.claim_pdf_checks(now, until=now + timedelta(seconds=60), limit=10_000)
        return [c.package_id for c in claims if c.package_id == package_id]

    assert mine(NOW) == [package_id]
    assert mine(NOW + timedelta(seconds=59)) == []  # claimed
    assert mine(lease) == [package_id]  # expired: taken over
    assert repo.release_delivery(package_id, recipient, state="queued", now=NOW)
    assert not repo.release_delivery(package_id, recipient, state="refused", now=NOW)
    assert repo.finish_pdf_check(package_id, "{}")
    assert not repo.finish_pdf_check(package_id, "{}")  # once
    assert mine(NOW + timedelta(days=1)) == []
