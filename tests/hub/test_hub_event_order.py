"""Event numbers become visible in order (thứ tự sự kiện), across processes.

A client resumes its event stream "after N". If a transaction that took seq 11 could commit
after one that took seq 12, a reader could see 12, resume after 12 and never see 11. The store
numbers events under a lock held until commit (``lock_event_order``, docs/hub.md), so the second
writer cannot even get its number before the first commits. Each writer here has its own
connection, as two hub processes would; on SQLite the writers are serialised by the file's
write lock, and the same tests hold.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from live_hub import PDF
from sqlalchemy import Engine

from lienthong.domain.edxml import Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.hub.api import Caller
from lienthong.hub.service import Hub
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine, write_transaction
from lienthong.store.hub_store import HubRepository, SystemRepository
from lienthong.store.migrate import upgrade
from lienthong.store.repositories import AgencyRepository

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def _agency() -> str:
    return f"EVT.{uuid.uuid4().hex[:12]}"


def _seqs(engine: Engine, agency: str, after: int) -> list[int]:
    with engine.connect() as connection:
        rows = HubRepository(connection).events(agency, after_seq=after, limit=1000)
    return [r.seq for r in rows]


def test_a_later_writer_cannot_commit_a_higher_seq_before_the_earlier_one(
    engine: Engine,
) -> None:
    agency = _agency()
    second: dict[str, object] = {}
    started = threading.Event()

    def later_writer() -> None:
        started.set()
        try:
            with write_transaction(engine) as connection:
                second["seq"] = HubRepository(connection).add_event(agency, "package", None, NOW)
            second["committed_at"] = time.monotonic()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            second["error"] = exc

    seen: list[int] = []
    with write_transaction(engine) as connection:
        first = HubRepository(connection).add_event(agency, "package", None, NOW)
        thread = threading.Thread(target=later_writer, daemon=True)
        thread.start()
        started.wait(5)
        # Give the later writer every chance to number and commit its event first.
        thread.join(timeout=1.0)
        assert thread.is_alive(), f"the later writer committed while seq {first} was in flight"
        assert "seq" not in second, "the later writer got a number before the first committed"
        # A reader now sees neither event, and resumes from where it stands.
        seen.extend(_seqs(engine, agency, 0))
        first_committed = time.monotonic()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert "error" not in second, second.get("error")
    later = second["seq"]
    assert isinstance(later, int)
    assert later > first
    committed_at = second["committed_at"]
    assert isinstance(committed_at, float)
    assert committed_at >= first_committed
    after = seen[-1] if seen else 0
    seen.extend(_seqs(engine, agency, after))
    assert seen == [first, later]


def test_a_reader_resuming_after_the_last_seq_misses_nothing_under_concurrent_writers(
    engine: Engine,
) -> None:
    """Four writers (own connections) number events while a reader keeps resuming after
    the last seq it saw; at the end it has seen every event, each once, in order."""
    agency = _agency()
    writers, per_writer = 4, 40
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for _ in range(per_writer):
                with write_transaction(engine) as connection:
                    repo = HubRepository(connection)
                    repo.add_event(agency, "package", None, NOW)
                    time.sleep(0.001)  # hold the transaction open a little after numbering
                    repo.add_event(agency, "notice", None, NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    seen: list[int] = []

    def read() -> None:
        while not stop.is_set():
            seen.extend(_seqs(engine, agency, seen[-1] if seen else 0))
            time.sleep(0.0005)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    threads = [threading.Thread(target=write, daemon=True) for _ in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    stop.set()
    reader.join(timeout=10)
    assert not errors, errors
    seen.extend(_seqs(engine, agency, seen[-1] if seen else 0))
    stored = _seqs(engine, agency, 0)
    assert len(stored) == writers * per_writer * 2
    assert seen == stored


def test_two_hub_cores_on_one_database_hand_out_events_in_commit_order(
    empty_db_url: str, tmp_path: Path
) -> None:
    """Two ``Hub`` cores, each with its own engine and group committer (as two hub processes
    would have), on one fresh database: both accept letters for one recipient while the second
    also runs ``remind`` (whose notices are not audited, so only the event-order lock orders
    them against the sends). The recipient follows its events with ``Hub.events(after_seq=
    last)`` meanwhile and ends up with every one, once, in order."""
    first_engine = create_engine(empty_db_url)
    upgrade(first_engine)
    recipient, senders = _register(first_engine, senders=4)
    second_engine = create_engine(empty_db_url)
    blobs = BlobStore(tmp_path / "blobs")
    first, second = Hub(first_engine, blobs), Hub(second_engine, blobs)
    per_sender = 20
    errors: list[BaseException] = []
    stop = threading.Event()

    def send(core: Hub, caller: Caller, number: int) -> None:
        try:
            for n in range(per_sender):
                core.send(caller, _letter(caller, recipient, f"{number}{n:03d}"), now=NOW)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def remind() -> None:
        try:
            while not stop.is_set():
                second.remind(LATER, limit=3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    seen: list[int] = []

    def follow() -> None:
        while not stop.is_set():
            after = seen[-1] if seen else 0
            seen.extend(
                e.seq for e in first.events(recipient, recipient_code(recipient), after_seq=after)
            )
            time.sleep(0.0005)

    try:
        helpers = [threading.Thread(target=t, daemon=True) for t in (follow, remind)]
        for thread in helpers:
            thread.start()
        threads = [
            threading.Thread(target=send, args=(core, caller, i + 1), daemon=True)
            for i, (core, caller) in enumerate(
                zip((first, second, first, second), senders, strict=True)
            )
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=180)
        time.sleep(0.2)
        stop.set()
        for thread in helpers:
            thread.join(timeout=30)
        assert not errors, errors[:3]
        code = recipient_code(recipient)
        seen.extend(e.seq for e in first.events(recipient, code, after_seq=seen[-1] if seen else 0))
        stored: list[int] = []
        while batch := second.events(recipient, code, after_seq=stored[-1] if stored else 0):
            stored.extend(e.seq for e in batch)
        assert len(stored) > len(senders) * per_sender  # letters, and some reminders
        assert seen == stored
    finally:
        first.close()
        second.close()
        first_engine.dispose()
        second_engine.dispose()


LATER = NOW + timedelta(days=30)


def recipient_code(caller: Caller) -> str:
    return next(iter(caller.agencies))


def _register(engine: Engine, *, senders: int) -> tuple[Caller, list[Caller]]:
    """A recipient and ``senders`` senders, each an agency with its own system."""
    callers: list[Caller] = []
    with write_transaction(engine) as connection:
        agencies, systems = AgencyRepository(connection), SystemRepository(connection)
        for number in range(senders + 1):
            code = f"{number + 1:03d}.01.01.T98"
            agencies.add(code=code, name=f"Cơ quan {code}", created_at=NOW, level=4)
            systems.add(system_id=f"sys-{code}", name=code, agencies=[code], created_at=NOW)
            callers.append(Caller(f"sys-{code}", frozenset({code})))
    return callers[0], callers[1:]


def _letter(sender: Caller, recipient: Caller, number: str) -> bytes:
    """An unsigned letter (placeholder signature: accepted under the default policy)."""
    draft = DocumentDraft(
        sender=Organization(organ_id=recipient_code(sender), organ_name="Nơi gửi"),
        recipients=[Organization(organ_id=recipient_code(recipient), organ_name="Nơi nhận")],
        code_number=number,
        code_notation="TEST-VP",
        promulgation_date=NOW.date(),
        place="Hà Nội",
        subject="Về việc thử nghiệm thứ tự sự kiện",
        files=[FileToAttach("van-ban.pdf", PDF)],
    )
    return serialize_package(build_document(draft, now=NOW))
