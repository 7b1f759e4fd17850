"""Group commit on SQLite and PostgreSQL: shared commits, isolated failures, nothing early."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Connection, Engine

from lienthong.domain.errors import StoreError
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


def _values(engine: Engine, table: str) -> list[int]:
    with engine.connect() as connection:
        return list(connection.execute(sa.text(f"SELECT x FROM {table} ORDER BY x")).scalars())


def test_callers_waiting_together_share_one_commit(engine: Engine, table: str) -> None:
    committer = GroupCommitter(engine)
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


def test_a_failing_caller_is_undone_alone(engine: Engine, table: str) -> None:
    committer = GroupCommitter(engine)

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
