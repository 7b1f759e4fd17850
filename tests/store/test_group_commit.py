"""Group commit on SQLite and PostgreSQL: shared commits, isolated failures, nothing early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.deferred import deferring, writing_directly
from lienthong.store.engine import write_transaction
from lienthong.store.group_commit import GroupCommitter

pytestmark = pytest.mark.integration


@pytest.fixture
def table(engine: Engine) -> Iterator[str]:
    name = "group_commit_probe"
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE IF EXISTS {name}"))
        connection.execute(sa.text(f"CREATE TABLE {name} (x INTEGER PRIMARY KEY)"))
    yield name
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP TABLE {name}"))


@pytest.fixture(params=[False, True], ids=["savepoints", "rerun-safe"])
def rerun_safe(request: pytest.FixtureRequest) -> bool:
    """Both ways of running a group: SAVEPOINT per work, or none until a work fails."""
    return bool(request.param)


def _values(engine: Engine, table: str) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(f"SELECT x FROM {table} ORDER BY x")).scalars())


def test_callers_waiting_together_share_one_commit(
    engine: Engine, table: str, rerun_safe: bool
) -> None:
    committer = GroupCommitter(engine, rerun_safe=rerun_safe)
    started, release = threading.Event(), threading.Event()
    results: dict[int, int] = {}

    def insert(value: int) -> None:
        def work(connection: Connection) -> int:
            if value == 0:
                started.set()
                release.wait(10)  # hold the first group open while the others queue up
            connection.execute(sa.text(f"INSERT INTO {table} VALUES (:x)"), {"x": value})
            return value * 10

        results[value] = committer.run(work)

    try:
        first = threading.Thread(target=insert, args=(0,))
        first.start()
        assert started.wait(10)
        others = [threading.Thread(target=insert, args=(v,)) for v in range(1, 31)]
        for thread in others:
            thread.start()
        deadline = time.monotonic() + 10
        while committer.queued() < 30 and time.monotonic() < deadline:
            time.sleep(0.001)
        # Nobody has been answered yet: the first group has not committed.
        assert results == {}
        release.set()
        for thread in [first, *others]:
            thread.join()
    finally:
        committer.close()

    assert results == {value: value * 10 for value in range(31)}
    assert _values(engine, table) == list(range(31))
    assert committer.works == 31
    assert committer.groups == 2


def test_a_failing_caller_is_undone_alone(engine: Engine, table: str, rerun_safe: bool) -> None:
    committer = GroupCommitter(engine, rerun_safe=rerun_safe)

    def good(connection: Connection) -> None:
        connection.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))

    def bad(connection: Connection) -> None:
        connection.execute(sa.text(f"INSERT INTO {table} VALUES (2)"))
        connection.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))  # duplicate key

    try:
        committer.run(good)
        with pytest.raises(sa.exc.IntegrityError):
            committer.run(bad)
        committer.run(lambda c: c.execute(sa.text(f"INSERT INTO {table} VALUES (3)")))
    finally:
        committer.close()

    # The bad caller's first insert (2) was undone with its failure; the others committed.
    assert _values(engine, table) == [1, 3]


def test_close_finishes_the_queue_and_refuses_new_work(engine: Engine, table: str) -> None:
    committer = GroupCommitter(engine)
    committer.run(lambda c: c.execute(sa.text(f"INSERT INTO {table} VALUES (1)")))
    committer.close()
    committer.close()  # idempotent

    with pytest.raises(StoreError) as refused:
        committer.run(lambda c: c.execute(sa.text(f"INSERT INTO {table} VALUES (2)")))

    assert refused.value.code == "store.unavailable"
    assert _values(engine, table) == [1]


def _held_group(
    committer: GroupCommitter, works: list[sa.TextClause | None], table: str, *, first: int
) -> tuple[dict[int, object], list[int]]:
    """Run ``works`` (an INSERT, or ``None``: a work that fails after inserting a row of its
    own) as one group: a first work (inserting ``first``) holds the writer until they are all
    queued behind it. Each caller's outcome (by index, 0 the first), and how many times each
    work ran."""
    started, release = threading.Event(), threading.Event()
    outcomes: dict[int, object] = {}
    runs = [0] * (len(works) + 1)

    def call(index: int, statement: sa.TextClause | None) -> None:
        def work(connection: Connection) -> int:
            runs[index] += 1
            if index == 0:
                started.set()
                release.wait(10)
            if statement is None:
                connection.execute(sa.text(f"INSERT INTO {table} VALUES (:x)"), {"x": 900 + index})
                raise ValueError(f"work {index} fails")
            connection.execute(statement)
            return index

        try:
            outcomes[index] = committer.run(work)
        except ValueError as error:
            outcomes[index] = error

    opener = sa.text(f"INSERT INTO {table} VALUES ({first})")
    holder = threading.Thread(target=call, args=(0, opener))
    holder.start()
    assert started.wait(10)
    others = [threading.Thread(target=call, args=(i, w)) for i, w in enumerate(works, start=1)]
    for thread in others:
        thread.start()
    deadline = time.monotonic() + 10
    while committer.queued() < len(works) and time.monotonic() < deadline:
        time.sleep(0.001)
    release.set()
    for thread in [holder, *others]:
        thread.join()
    return outcomes, runs


def test_rerun_safe_groups_send_no_savepoint_until_a_work_fails(engine: Engine, table: str) -> None:
    savepoints: list[str] = []

    @sa.event.listens_for(engine, "savepoint")
    def count(connection: Connection, name: str) -> None:
        del connection
        savepoints.append(name)

    committer = GroupCommitter(engine, rerun_safe=True)
    try:
        inserts = [sa.text(f"INSERT INTO {table} VALUES ({v})") for v in range(1, 6)]
        outcomes, runs = _held_group(committer, list(inserts), table, first=0)
        assert outcomes == {i: i for i in range(6)}
        assert savepoints == []  # one transaction, no SAVEPOINT, nothing ran twice
        assert runs == [1] * 6

        # One work of the next group fails: the group runs again, each work isolated.
        mixed: list[sa.TextClause | None] = [
            sa.text(f"INSERT INTO {table} VALUES (11)"),
            None,
            sa.text(f"INSERT INTO {table} VALUES (13)"),
        ]
        outcomes, runs = _held_group(committer, mixed, table, first=10)
    finally:
        sa.event.remove(engine, "savepoint", count)
        committer.close()

    assert isinstance(outcomes[2], ValueError)
    assert {i: outcomes[i] for i in (1, 3)} == {1: 1, 3: 3}
    assert runs[2] == 2  # failed alone, then again in its SAVEPOINT
    assert runs[1] == 2  # the others ran again too: hence "rerun safe" works only
    assert len(savepoints) == 3  # the second pass: one per work of the group
    # The failing work's own row is gone; everyone else's committed once.
    assert _values(engine, table) == [0, 1, 2, 3, 4, 5, 10, 11, 13]


def test_the_writer_counts_its_busy_time_and_its_wait_to_begin(engine: Engine, table: str) -> None:
    """Busy: from taking a group to releasing its callers. Wait: of which beginning, with
    ``on_connection`` (the hub takes its cross-process lock there on PostgreSQL); SQLite has
    one writer at a time, across processes too, and waits in ``BEGIN`` itself."""
    postgres = engine.dialect.name == "postgresql"
    lock = sa.text("SELECT pg_advisory_xact_lock(724001)")

    def begin(connection: Connection | None) -> None:
        if connection is not None and postgres:
            connection.execute(lock)

    committer = GroupCommitter(engine, on_connection=begin)

    def slow(connection: Connection) -> None:
        time.sleep(0.2)
        connection.execute(sa.text(f"INSERT INTO {table} VALUES (1)"))

    try:
        committer.run(slow)
        assert committer.busy_seconds >= 0.2
        assert committer.wait_seconds < 0.2  # nobody else was writing
        held, release = threading.Event(), threading.Event()

        def other_writer() -> None:
            with write_transaction(engine) as connection:
                if postgres:
                    connection.execute(lock)
                held.set()
                release.wait(10)

        thread = threading.Thread(target=other_writer)
        thread.start()
        assert held.wait(10)
        threading.Timer(0.3, release.set).start()
        waited, busy = committer.wait_seconds, committer.busy_seconds
        committer.run(lambda c: c.execute(sa.text(f"INSERT INTO {table} VALUES (2)")))
        thread.join(10)
        assert committer.wait_seconds - waited >= 0.25
        assert committer.busy_seconds - busy >= committer.wait_seconds - waited
    finally:
        committer.close()


def _probe(name: str) -> sa.Table:
    return sa.Table(name, sa.MetaData(), sa.Column("x", sa.Integer, primary_key=True))


def _defer_or_write(connection: Connection, table: sa.Table, value: int) -> bool:
    """Defer the row if the group defers, else write it; whether it was deferred."""
    pending = deferring(connection)
    if pending is None:
        connection.execute(sa.insert(table), {"x": value})
        return False
    pending.insert(table, {"x": value})
    return True


def test_deferred_rows_are_written_once_after_the_group_s_last_work(
    engine: Engine, table: str
) -> None:
    probe = _probe(table)
    committer = GroupCommitter(engine, rerun_safe=True, deferred=True)
    started, release = threading.Event(), threading.Event()
    seen: dict[int, object] = {}

    def insert(value: int) -> None:
        def work(connection: Connection) -> bool:
            if value == 0:
                started.set()
                release.wait(10)
                return False
            deferred = _defer_or_write(connection, probe, value)
            # Not in the table yet: only what a work reads directly is flushed first.
            seen[value] = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar()
            return deferred

        seen[-value] = committer.run(work)

    try:
        first = threading.Thread(target=insert, args=(0,))
        first.start()
        assert started.wait(10)
        others = [threading.Thread(target=insert, args=(v,)) for v in (1, 2, 3)]
        for thread in others:
            thread.start()
        while committer.queued() < 3:
            time.sleep(0.005)
        groups = committer.groups
        release.set()
        for thread in [first, *others]:
            thread.join(10)
        assert committer.groups == groups + 2  # the first one's group, then 1, 2 and 3 in one
        assert [seen[-v] for v in (1, 2, 3)] == [True, True, True]
        assert [seen[v] for v in (1, 2, 3)] == [0, 0, 0]
        assert _values(engine, table) == [1, 2, 3]
        assert committer.reruns == 0
    finally:
        committer.close()


def test_deferred_rows_that_fail_make_the_group_run_again_work_by_work(
    engine: Engine, table: str
) -> None:
    probe = _probe(table)
    committer = GroupCommitter(engine, rerun_safe=True, deferred=True)
    started, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def block(connection: Connection) -> None:
        started.set()
        release.wait(10)

    def insert(name: str) -> None:
        try:
            outcome[name] = committer.run(lambda c: _defer_or_write(c, probe, 7))
        except Exception as exc:  # noqa: BLE001 - what the caller gets
            outcome[name] = exc

    try:
        blocker = threading.Thread(target=committer.run, args=(block,))
        blocker.start()
        assert started.wait(10)
        first = threading.Thread(target=insert, args=("first",))
        first.start()
        while committer.queued() < 1:
            time.sleep(0.005)
        second = threading.Thread(target=insert, args=("second",))
        second.start()
        while committer.queued() < 2:
            time.sleep(0.005)
        release.set()
        for thread in (blocker, first, second):
            thread.join(10)
        # The same key twice: the group's flush fails, and run again work by work (writing
        # directly), the first is stored and only the second caller gets the error.
        assert committer.reruns == 1
        assert outcome["first"] is False
        assert isinstance(outcome["second"], sa.exc.IntegrityError)
        assert _values(engine, table) == [7]
    finally:
        committer.close()


def test_writing_directly_writes_what_is_pending_first(engine: Engine, table: str) -> None:
    probe = _probe(table)
    committer = GroupCommitter(engine, rerun_safe=True, deferred=True)

    def work(connection: Connection) -> tuple[int, bool]:
        assert _defer_or_write(connection, probe, 1)
        with writing_directly(connection):
            count = connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one()
            deferred = _defer_or_write(connection, probe, 2)  # written at once in here
        return int(count), deferred

    try:
        assert committer.run(work) == (1, False)
        assert _values(engine, table) == [1, 2]
    finally:
        committer.close()
    with pytest.raises(UsageError):
        GroupCommitter(engine, deferred=True)  # deferred rows need works that may run twice
