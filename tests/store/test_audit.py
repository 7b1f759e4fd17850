"""The hash-chained audit log, on SQLite and PostgreSQL.

Most tests take ``connection`` (rolled back at the end, see ``conftest.py``) and tamper with
the table directly, as someone with write access to the database would, then check that
``verify`` names the first damaged entry and what was done to it. Tests that need real commits
(concurrent appenders, migrations) build their own engine on ``empty_db_url``. Tests on either
fixture run on both engines and are marked ``integration`` by it (``conftest.py``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store import audit as audit_module
from lienthong.store.audit import (
    GENESIS_HASH,
    AuditEntry,
    AuditLog,
    canonical_json,
    entry_hash,
    entry_payload,
    format_at,
    trust_own_appends,
)
from lienthong.store.deferred import begin_deferring, end_deferring
from lienthong.store.engine import create_engine
from lienthong.store.migrate import current_revision, downgrade, upgrade
from lienthong.store.schema import audit_log

HANOI = timezone(timedelta(hours=7), "ICT")
T0 = datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=HANOI)


@pytest.fixture
def log(connection: Connection) -> AuditLog:
    # Small batches, so that a chain of ten entries spans several reads.
    return AuditLog(connection, batch_size=3)


def _append(log: AuditLog, index: int, **overrides: Any) -> AuditEntry:
    values: dict[str, Any] = {
        "actor": "ca:bo-noi-vu",
        "action": "ca.issue",
        "subject": f"serial-{index:04d}",
        "details": {
            "agency": "000.00.00.G22",
            "holder": "Nguyễn Văn Ánh — Văn thư",
            "key": {"algorithm": "EC", "bits": 256},
            "index": index,
            "usages": ["digitalSignature", "nonRepudiation"],
        },
        "at": T0 + timedelta(minutes=index),
    }
    values.update(overrides)
    return log.append(**values)


def _fill(log: AuditLog, count: int) -> list[AuditEntry]:
    return [_append(log, index) for index in range(1, count + 1)]


def _update(connection: Connection, seq: int, /, **values: Any) -> None:
    """Change a row behind the log's back, as an attacker with database access would."""
    statement = sa.update(audit_log).where(audit_log.c.seq == seq).values(**values)
    assert connection.execute(statement).rowcount == 1


def _delete(connection: Connection, *seqs: int) -> None:
    connection.execute(sa.delete(audit_log).where(audit_log.c.seq.in_(seqs)))


def _auditor_hash(prev_hash: str, entry: AuditEntry) -> str:
    """docs/audit.md's formula, written the way an outside auditor would, from the spec."""
    content = {
        "seq": entry.seq,
        "at": entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "actor": entry.actor,
        "action": entry.action,
        "subject": entry.subject,
        "details": dict(entry.details),
    }
    text = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + "\n" + text).encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- appending


def test_an_empty_log_verifies_and_has_no_head(log: AuditLog) -> None:
    result = log.verify()

    assert result.ok
    assert (result.count, result.last_hash, result.problem) == (0, None, None)
    assert log.head() is None
    assert list(log.entries()) == []


def test_appended_entries_form_a_chain_that_verifies(log: AuditLog) -> None:
    appended = _fill(log, 10)

    assert [entry.seq for entry in appended] == list(range(1, 11))
    assert appended[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(appended):
        assert after.prev_hash == before.hash
    assert len({entry.hash for entry in appended}) == 10
    assert list(log.entries()) == appended
    assert log.head() == appended[-1]
    result = log.verify()
    assert result.ok
    assert (result.count, result.last_hash) == (10, appended[-1].hash)
    result.raise_if_broken()


def test_an_entry_reads_back_as_appended(log: AuditLog) -> None:
    entry = _append(log, 1, subject="")

    assert entry.at == T0 + timedelta(minutes=1)
    assert entry.at.tzinfo == UTC
    assert entry.subject == ""
    assert entry.details["holder"] == "Nguyễn Văn Ánh — Văn thư"
    assert entry.details["key"] == {"algorithm": "EC", "bits": 256}
    with pytest.raises(TypeError):
        entry.details["index"] = 2  # type: ignore[index]
    assert log.head() == entry


def test_the_hash_is_the_documented_formula(log: AuditLog) -> None:
    appended = _fill(log, 3)

    previous = GENESIS_HASH
    for entry in appended:
        assert entry.hash == _auditor_hash(previous, entry)
        previous = entry.hash


@pytest.mark.unit
def test_the_payload_is_the_canonical_json_of_the_entry() -> None:
    at = datetime(2026, 3, 2, 8, 0, tzinfo=HANOI)
    details = {"z": [1, "hai", None, True], "ä": {"b": 1, "a": "Đ"}}
    details_json = canonical_json(details)

    payload = entry_payload(
        seq=7,
        at=at,
        actor="Trần Thị B",
        action="config.change",
        subject='ngưỡng "x"',
        details_json=details_json,
    )

    assert details_json == '{"z":[1,"hai",null,true],"ä":{"a":"Đ","b":1}}'
    assert format_at(at) == "2026-03-02T01:00:00.000000Z"
    assert payload == canonical_json(
        {
            "seq": 7,
            "at": "2026-03-02T01:00:00.000000Z",
            "actor": "Trần Thị B",
            "action": "config.change",
            "subject": 'ngưỡng "x"',
            "details": details,
        }
    )
    expected = hashlib.sha256(f"{GENESIS_HASH}\n{payload}".encode()).hexdigest()
    assert (
        entry_hash(
            prev_hash=GENESIS_HASH,
            seq=7,
            at=at,
            actor="Trần Thị B",
            action="config.change",
            subject='ngưỡng "x"',
            details_json=details_json,
        )
        == expected
    )


DOCS = Path(__file__).resolve().parents[2] / "docs" / "audit.md"


@pytest.mark.unit
def test_the_worked_examples_in_the_docs_match_the_code() -> None:
    page = DOCS.read_text(encoding="utf-8")
    first = {
        "seq": 1,
        "at": datetime(2026, 3, 2, 8, 30, 15, 123456, tzinfo=HANOI),
        "actor": "ca:bo-noi-vu",
        "action": "ca.revoke",
        "subject": "0x4F2A9C",
        "details_json": canonical_json(
            {
                "reason": "keyCompromise",
                "agency": "000.00.00.G22",
                "note": "Thu hồi theo đề nghị của Văn phòng",
            }
        ),
    }
    second = {
        "seq": 2,
        "at": datetime(2026, 3, 2, 1, 45, tzinfo=UTC),
        "actor": "Trần Thị B",
        "action": "config.change",
        "subject": "hub",
        "details_json": canonical_json({"setting": "max_package_mb", "old": 20, "new": 50}),
    }
    first_hash = entry_hash(prev_hash=GENESIS_HASH, **first)
    second_hash = entry_hash(prev_hash=first_hash, **second)

    for content, digest in ((first, first_hash), (second, second_hash)):
        assert f"payload = {entry_payload(**content)}\n" in page
        assert f"hash    = {digest}\n" in page


@pytest.mark.integration
def test_the_auditors_script_in_the_docs_verifies_a_real_log(tmp_path: Path) -> None:
    # The twenty lines an outside auditor would run, taken from the page as printed.
    page = DOCS.read_text(encoding="utf-8")
    section = page.split("### Checking it yourself", 1)[1]
    script = section.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "verify_audit.py").write_text(script, encoding="utf-8")
    database = tmp_path / "hub.db"
    engine = create_engine(f"sqlite:///{database}")
    try:
        upgrade(engine)
        with engine.begin() as connection:
            log = AuditLog(connection)
            for index in range(1, 6):
                _append(
                    log,
                    index,
                    actor='Trần Thị B\t"quoted" \\ </script>',
                    subject="line\u2028separator\x01",
                    at=T0 + timedelta(microseconds=index),
                )
            head = log.head()
        assert head is not None

        ran = subprocess.run(
            [sys.executable, str(tmp_path / "verify_audit.py"), str(database)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == f"5 entries intact, head {head.hash}"

        with engine.begin() as connection:
            _update(connection, 3, subject="line\u2028separator\x02")
        ran = subprocess.run(
            [sys.executable, str(tmp_path / "verify_audit.py"), str(database)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert ran.returncode == 1
        assert "entry 3: the chain is broken here" in ran.stderr
    finally:
        engine.dispose()


def test_entries_stream_from_a_given_seq(log: AuditLog) -> None:
    appended = _fill(log, 10)

    assert [entry.seq for entry in log.entries(from_seq=5)] == list(range(5, 11))
    assert list(log.entries(from_seq=5)) == appended[4:]
    assert list(log.entries(from_seq=11)) == []


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"details": {"ratio": 0.5}}, "float"),
        ({"details": {"n": float("nan")}}, "float"),
        ({"details": {1: "x"}}, "non-text key"),
        ({"details": {"tags": {"a", "b"}}}, "set"),
        ({"details": ["not", "an", "object"]}, "mapping"),
        ({"details": {"x": "\ud800"}}, "Unicode"),
        ({"details": {"blob": "x" * 70_000}}, "over"),
        ({"at": datetime(2026, 3, 2, 8, 0)}, "naive"),
        ({"actor": " "}, "actor is empty"),
        ({"action": ""}, "action is empty"),
        ({"action": "a" * 65}, "longer than 64"),
        ({"subject": "serial\x00"}, "NUL"),
        ({"actor": "ca:\udc80"}, "Unicode"),
    ],
)
def test_append_refuses_what_cannot_be_recorded_as_given(
    log: AuditLog, overrides: dict[str, Any], fragment: str
) -> None:
    _fill(log, 2)

    with pytest.raises(UsageError) as caught:
        _append(log, 3, **overrides)

    assert caught.value.code == "audit.bad_entry"
    assert fragment in caught.value.detail
    assert log.verify().count == 2


def test_nested_mappings_and_tuples_are_recorded_as_json(log: AuditLog) -> None:
    entry = _append(log, 1, details=MappingProxyType({"pair": (1, 2), "inner": {"k": False}}))

    assert dict(entry.details) == {"inner": {"k": False}, "pair": [1, 2]}
    assert log.verify().ok


# --------------------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    "change",
    [
        {"details": '{"agency":"000.00.00.G22","holder":"Kẻ gian"}'},
        {"actor": "admin"},
        {"action": "ca.revoke"},
        {"subject": "serial-9999"},
        {"at": T0 + timedelta(days=1)},
        {"at": T0 + timedelta(minutes=3, microseconds=1)},
        {"hash": "f" * 64},
    ],
    ids=["details", "actor", "action", "subject", "at", "at-by-1us", "hash"],
)
def test_an_edited_entry_is_reported_as_edited_at_its_seq(
    log: AuditLog, connection: Connection, change: dict[str, Any]
) -> None:
    appended = _fill(log, 6)

    _update(connection, 3, **change)
    result = log.verify()

    assert not result.ok
    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (3, "edited")
    assert (result.count, result.last_hash) == (2, appended[1].hash)
    with pytest.raises(StoreError) as caught:
        result.raise_if_broken()
    assert caught.value.code == "audit.chain_broken"
    assert "edited at entry 3" in caught.value.detail


def test_details_reformatted_to_equivalent_json_count_as_edited(
    log: AuditLog, connection: Connection
) -> None:
    # Same meaning, other bytes: the hash covers the stored text byte for byte.
    _fill(log, 4)
    connection.execute(
        sa.text("UPDATE audit_log SET details = ' ' || details || ' ' WHERE seq = 2")
    )

    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (2, "edited")


def test_a_deleted_middle_entry_is_a_gap(log: AuditLog, connection: Connection) -> None:
    appended = _fill(log, 8)

    _delete(connection, 5)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (5, "gap")
    assert "next entry is 6" in result.problem.detail
    assert (result.count, result.last_hash) == (4, appended[3].hash)


def test_deleted_oldest_entries_are_a_gap_at_one(log: AuditLog, connection: Connection) -> None:
    _fill(log, 5)

    _delete(connection, 1, 2)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (1, "gap")
    assert (result.count, result.last_hash) == (0, None)


def test_a_changed_prev_hash_is_a_broken_link(log: AuditLog, connection: Connection) -> None:
    _fill(log, 6)

    _update(connection, 4, prev_hash="a" * 64)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (4, "broken_link")
    assert result.count == 3


def test_a_prev_hash_pointing_at_another_entry_is_a_broken_link(
    log: AuditLog, connection: Connection
) -> None:
    appended = _fill(log, 6)

    _update(connection, 5, prev_hash=appended[1].hash)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (5, "broken_link")


def test_a_forged_hash_breaks_the_next_link(log: AuditLog, connection: Connection) -> None:
    # The attacker knows the algorithm: edits entry 3 and recomputes its hash, so entry 3 on
    # its own looks intact. Entry 4 still names the old hash.
    appended = _fill(log, 6)
    forged_details = canonical_json({"holder": "Kẻ gian", "index": 3})
    victim = appended[2]
    forged = entry_hash(
        prev_hash=victim.prev_hash,
        seq=victim.seq,
        at=victim.at,
        actor=victim.actor,
        action=victim.action,
        subject=victim.subject,
        details_json=forged_details,
    )

    _update(connection, 3, details=forged_details, hash=forged)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (4, "broken_link")
    assert (result.count, result.last_hash) == (3, forged)


def test_swapped_entries_are_reported_as_reordered(log: AuditLog, connection: Connection) -> None:
    _fill(log, 8)

    # Renumber 5 -> 6 and 6 -> 5, through a free number to dodge the primary key.
    _update(connection, 5, seq=1000)
    _update(connection, 6, seq=5)
    _update(connection, 1000, seq=6)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (5, "reordered")
    assert "written as entry 6" in result.problem.detail
    assert result.count == 4


def test_an_entry_moved_to_the_front_is_reported_as_reordered(
    log: AuditLog, connection: Connection
) -> None:
    _fill(log, 4)

    # Rotate 1, 2, 3 into 3, 1, 2: entry 3 now sits first.
    _update(connection, 3, seq=1000)
    _update(connection, 2, seq=3)
    _update(connection, 1, seq=2)
    _update(connection, 1000, seq=1)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (1, "reordered")
    assert "written as entry 3" in result.problem.detail


def test_an_entry_deleted_and_the_rest_renumbered_is_a_broken_link(
    log: AuditLog, connection: Connection
) -> None:
    _fill(log, 5)

    _delete(connection, 3)
    _update(connection, 4, seq=3)
    _update(connection, 5, seq=4)
    result = log.verify()

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (3, "broken_link")


def test_a_truncated_tail_is_found_only_with_an_anchor(
    log: AuditLog, connection: Connection
) -> None:
    appended = _fill(log, 7)
    anchor = appended[-1].hash  # e.g. printed in last month's report

    _delete(connection, 6, 7)

    # Without the anchor, what is left is a valid chain: the limit of any hash chain.
    assert log.verify().ok
    result = log.verify(expected_head_hash=anchor)
    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (6, "truncated")
    assert (result.count, result.last_hash) == (5, appended[4].hash)

    # New entries written over the deleted ones do not bring the anchor back.
    _append(log, 100)
    _append(log, 101)
    assert log.verify().ok
    result = log.verify(expected_head_hash=anchor)
    assert result.problem is not None
    assert result.problem.kind == "truncated"


def test_an_anchor_stays_valid_as_the_log_grows(log: AuditLog) -> None:
    appended = _fill(log, 4)
    anchor = appended[-1].hash

    _append(log, 5)
    _append(log, 6)

    assert log.verify(expected_head_hash=anchor).ok
    assert log.verify(expected_head_hash=f"  {anchor.upper()}\n").ok  # as copied from a report


def test_an_anchor_on_an_empty_log_is_truncation(log: AuditLog) -> None:
    result = log.verify(expected_head_hash="b" * 64)

    assert result.problem is not None
    assert (result.problem.seq, result.problem.kind) == (1, "truncated")


def test_a_malformed_anchor_is_refused(log: AuditLog) -> None:
    with pytest.raises(UsageError) as caught:
        log.verify(expected_head_hash="abc")
    assert caught.value.code == "usage.bad_argument"


@pytest.mark.integration
def test_an_unreadable_row_is_reported_as_edited(tmp_path: Path) -> None:
    # Only SQLite lets a value that is not a timestamp into a timestamp column.
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    try:
        upgrade(engine)
        with engine.connect() as connection, connection.begin():
            log = AuditLog(connection, batch_size=3)
            _fill(log, 7)

            connection.execute(sa.text("UPDATE audit_log SET at = 'yesterday' WHERE seq = 5"))
            result = log.verify()

            assert result.problem is not None
            assert (result.problem.seq, result.problem.kind) == (5, "edited")
            assert result.count == 4
            with pytest.raises(StoreError) as caught:
                list(log.entries())
            assert caught.value.code == "store.corrupt"
            assert [entry.seq for entry in log.entries(from_seq=6)] == [6, 7]
            connection.execute(sa.text("UPDATE audit_log SET at = 'now' WHERE seq = 7"))
            with pytest.raises(StoreError) as caught:
                log.head()
            assert caught.value.code == "store.corrupt"
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- size


def _write_chain(connection: Connection, count: int) -> None:
    """Write a valid chain of ``count`` entries in bulk, by the formula ``append`` uses.

    ``append`` costs a few round trips per entry (1-2 ms); building 10,000 entries through it
    would make this test about appending, not verifying.
    """
    details_json = canonical_json({"holder": "Nguyễn Văn Ánh", "key": {"bits": 256}})
    rows: list[dict[str, Any]] = []
    previous = GENESIS_HASH
    for seq in range(1, count + 1):
        row = {
            "seq": seq,
            "at": T0 + timedelta(seconds=seq),
            "actor": "ca:bo-noi-vu",
            "action": "ca.issue",
            "subject": f"serial-{seq:05d}",
            "details_json": details_json,
        }
        digest = entry_hash(prev_hash=previous, **row)
        rows.append(
            {**row, "details": row.pop("details_json"), "prev_hash": previous, "hash": digest}
        )
        previous = digest
    connection.execute(sa.insert(audit_log), rows)


@pytest.mark.slow
def test_ten_thousand_entries_verify_in_bounded_memory(connection: Connection) -> None:
    _write_chain(connection, 10_000)
    log = AuditLog(connection)

    tracemalloc.start()
    try:
        result = log.verify()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert result.ok
    assert result.count == 10_000
    # One batch of 1,000 rows is about 2 MB of Python objects; all 10,000 would be ten times
    # that. The bound fails if verify reads the whole log at once.
    assert peak < 6_000_000, peak
    assert sum(1 for _ in log.entries()) == 10_000


def test_entries_are_read_lazily_one_batch_at_a_time(log: AuditLog, connection: Connection) -> None:
    _fill(log, 10)
    selects: list[str] = []

    def count(*args: Any) -> None:
        statement = args[2]
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    sa.event.listen(connection, "before_cursor_execute", count)
    try:
        entries = log.entries()
        assert next(entries).seq == 1
        assert len(selects) == 1  # only the first batch of 3 has been read
        assert [entry.seq for entry in entries] == list(range(2, 11))
        assert len(selects) == 4  # 3 + 3 + 3 + 1: a short batch is the last
    finally:
        sa.event.remove(connection, "before_cursor_execute", count)


# --------------------------------------------------------------------------- concurrency


@pytest.fixture
def committing_engine(empty_db_url: str) -> Iterator[Engine]:
    """A migrated engine on a database of the test's own, where commits are allowed."""
    engine = create_engine(empty_db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def test_a_second_appender_waits_for_the_first_to_commit(committing_engine: Engine) -> None:
    results: list[AuditEntry] = []
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with committing_engine.begin() as connection:
                results.append(_append(AuditLog(connection), 2, actor="second"))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    with committing_engine.connect() as connection, connection.begin():
        first = _append(AuditLog(connection), 1, actor="first")
        thread = threading.Thread(target=second)
        thread.start()
        thread.join(timeout=0.5)
        # Still waiting for the chain's lock, which the first transaction holds.
        assert thread.is_alive()
    thread.join(timeout=10)

    assert not thread.is_alive()
    assert errors == []
    assert [(entry.seq, entry.prev_hash) for entry in results] == [(2, first.hash)]
    with committing_engine.connect() as connection:
        assert AuditLog(connection).verify().count == 2


def test_without_the_lock_the_second_appender_fails_instead_of_waiting(
    committing_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control for the test above: it is the lock that turns a collision into a wait.
    # Without it, both read an empty log; the database still refuses a fork, as an error.
    monkeypatch.setattr(audit_module, "lock_chain", lambda connection: None)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with committing_engine.begin() as connection:
                log = AuditLog(connection)
                assert log.head() is None  # read before the first commits
                read.set()
                _append(log, 2, actor="second")
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    read = threading.Event()
    with committing_engine.connect() as connection, connection.begin():
        _append(AuditLog(connection), 1, actor="first")
        thread = threading.Thread(target=second)
        thread.start()
        assert read.wait(timeout=10)
        thread.join(timeout=0.3)
    thread.join(timeout=10)

    assert len(errors) == 1
    error = errors[0]
    if committing_engine.dialect.name == "postgresql":
        # Waits for the first transaction's row, then violates the primary key.
        assert isinstance(error, StoreError)
        assert error.code == "store.conflict"
    else:
        # SQLite: the second's read snapshot is stale once the first commits, so it may not
        # write at all (SQLITE_BUSY_SNAPSHOT).
        assert isinstance(error, OperationalError)
        assert "locked" in str(error)
    with committing_engine.connect() as connection:
        assert AuditLog(connection).verify().count == 1


def test_concurrent_appenders_never_fork_the_chain(committing_engine: Engine) -> None:
    per_worker = 50
    workers = 4
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait(timeout=10)
            for index in range(per_worker):
                with committing_engine.begin() as connection:
                    AuditLog(connection).append(
                        actor=f"worker-{worker}",
                        action="config.change",
                        subject="test",
                        details={"index": index},
                        at=datetime.now(UTC),
                    )
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    with committing_engine.connect() as connection:
        log = AuditLog(connection)
        result = log.verify()
        entries = list(log.entries())
    assert result.ok, result.problem
    assert result.count == workers * per_worker
    assert [entry.seq for entry in entries] == list(range(1, workers * per_worker + 1))
    written = {(entry.actor, entry.details["index"]) for entry in entries}
    assert written == {
        (f"worker-{worker}", index) for worker in range(workers) for index in range(per_worker)
    }
    # The appenders really interleaved; otherwise this test proves little. Checked on
    # PostgreSQL only: on SQLite the waiters sleep in the busy handler (steps up to 100 ms)
    # while the thread that just committed takes the lock again at once, so one worker may
    # run all its appends in a row (seen on a loaded machine); the chain checks above hold.
    if committing_engine.dialect.name == "postgresql":
        actors = [entry.actor for entry in entries]
        switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
        assert switches > workers


# --------------------------------------------------------------------------- migration


def test_migration_0002_goes_down_and_up(committing_engine: Engine) -> None:
    with committing_engine.begin() as connection:
        _fill(AuditLog(connection), 3)

    downgrade(committing_engine, "0001")

    assert current_revision(committing_engine) == "0001"
    tables = set(sa.inspect(committing_engine).get_table_names())
    assert "audit_log" not in tables
    assert {"agencies", "packages"} <= tables

    upgrade(committing_engine)

    with committing_engine.connect() as connection:
        log = AuditLog(connection)
        assert log.head() is None
        assert log.verify().ok


def _statements(connection: Connection) -> list[str]:
    """The statements sent from now on (SAVEPOINTs included)."""
    seen: list[str] = []

    @sa.event.listens_for(connection, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        del conn, cursor, args
        seen.append(statement.strip().upper())

    @sa.event.listens_for(connection, "savepoint")
    def savepoint(conn: Any, name: str) -> None:
        del conn
        seen.append(f"SAVEPOINT {name}".upper())

    return seen


def _head_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and "AUDIT_LOG" in s]


def test_a_transaction_that_trusts_its_own_appends_reads_the_head_once(
    log: AuditLog, connection: Connection
) -> None:
    _append(log, 1)  # the head comes from another transaction's point of view: read it
    trust_own_appends(connection)
    sent = _statements(connection)
    appended = [_append(log, index) for index in range(2, 6)]

    assert len(_head_reads(sent)) == 1  # the first append of the trusting transaction only
    assert not [s for s in sent if "SAVEPOINT" in s]  # the caller's SAVEPOINT is enough
    assert [e.seq for e in appended] == [2, 3, 4, 5]
    assert log.verify().ok


def test_a_rolled_back_savepoint_takes_the_remembered_head_with_it(
    log: AuditLog, connection: Connection
) -> None:
    trust_own_appends(connection)
    _append(log, 1)

    def failing_work() -> None:  # a group commit's work that fails after appending
        with connection.begin_nested():
            _append(log, 2)
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_work()
    kept = _append(log, 3)

    assert kept.seq == 2  # linked to entry 1, not to the entry rolled back
    assert log.verify().ok
    assert log.verify().count == 2


def test_without_trust_a_row_changed_behind_the_logs_back_is_seen(
    log: AuditLog, connection: Connection
) -> None:
    _fill(log, 3)
    sent = _statements(connection)
    _delete(connection, 3, 3)
    after = _append(log, 4)

    assert after.seq == 3  # the head was read again
    assert len(_head_reads(sent)) == 1
    assert log.verify().ok


def test_deferred_entries_are_written_at_the_flush_and_before_any_read(
    log: AuditLog, connection: Connection
) -> None:
    """In a group that defers rows (``lienthong.store.deferred``), a trusted append is
    written with the group's other entries; reading the log first writes what is pending."""
    _append(log, 1)
    trust_own_appends(connection)
    pending = begin_deferring(connection)
    try:
        sent = _statements(connection)
        appended = [_append(log, index) for index in range(2, 5)]
        assert not [s for s in sent if s.startswith("INSERT")]  # all three still pending
        assert len(pending) == 3
        head = log.head()  # a read: the pending entries are written first
        assert head is not None
        assert head.seq == 4
        assert len([s for s in sent if s.startswith("INSERT")]) == 1  # one multi-row insert
        assert [e.hash for e in appended] == [e.hash for e in log.entries(2)]
        assert log.verify().ok
    finally:
        end_deferring(connection)
