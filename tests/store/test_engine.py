"""One URL setting → a correctly configured engine, or a precise refusal."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from lienthong.domain.errors import StoreError
from lienthong.store.engine import (
    DEFAULT_DB_URL,
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    database_url,
    redact,
    write_transaction,
)
from lienthong.store.schema import agencies

SQLITE_SYNCHRONOUS_FULL = 2  # PRAGMA synchronous reads back as a number: 0 OFF, 1 NORMAL, 2 FULL


# --------------------------------------------------------------------------- the setting


@pytest.mark.unit
def test_the_default_is_a_sqlite_file_under_var() -> None:
    assert database_url({}) == DEFAULT_DB_URL == "sqlite:///var/lienthong.db"
    assert database_url({"LIENTHONG_DB_URL": "  "}) == DEFAULT_DB_URL


@pytest.mark.unit
def test_the_setting_comes_from_lienthong_db_url() -> None:
    url = "postgresql://hub@db.example.vn/lienthong"
    assert database_url({"LIENTHONG_DB_URL": url}) == url


@pytest.mark.unit
@pytest.mark.parametrize(
    "url",
    [
        "postgresql://hub:pw@db.example.vn:5433/lienthong",
        "postgres://hub:pw@db.example.vn:5433/lienthong",
        "postgresql+psycopg://hub:pw@db.example.vn:5433/lienthong",
    ],
)
def test_postgresql_urls_use_the_psycopg3_driver(url: str) -> None:
    engine = create_engine(url)
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.dialect.name == "postgresql"
        assert engine.dialect.driver == "psycopg"
        assert (engine.url.host, engine.url.port, engine.url.database) == (
            "db.example.vn",
            5433,
            "lienthong",
        )
        assert engine.url.password == "pw"
    finally:
        engine.dispose()


@pytest.mark.unit
@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "not a url",
        "mysql://root@localhost/lienthong",
        "postgresql+psycopg2://hub@localhost/lienthong",
        "sqlite+aiosqlite:///var/lienthong.db",
        "sqlite://user@host/lienthong.db",
        "sqlite:///var/lienthong.db?journal=off",
        "postgresql://hub@localhost:notaport/lienthong",
        "postgresql://hub@localhost/lienthong?sslmod=require",
    ],
)
def test_a_url_we_cannot_use_is_a_bad_url(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        create_engine(url)

    assert caught.value.code == "store.bad_url"


@pytest.mark.unit
def test_a_bad_url_message_hides_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        create_engine("mysql://root:hunter2-secret@localhost/lienthong")

    assert "hunter2-secret" not in str(caught.value)
    assert "***" in str(caught.value)


@pytest.mark.unit
def test_redact_hides_the_password() -> None:
    assert redact("postgresql://hub:pw@h/db") == "postgresql://hub:***@h/db"
    assert "pw" not in redact("postgresql://hub:pw@h:bad/db")


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.integration
def test_an_unreachable_server_is_unavailable_and_the_password_is_not_leaked() -> None:
    secret = "s3cr3t-pa55word"
    engine = create_engine(f"postgresql://lienthong:{secret}@127.0.0.1:1/lienthong")
    try:
        with pytest.raises(StoreError) as caught, engine.connect():
            pass
    finally:
        engine.dispose()

    error = caught.value
    assert error.code == "store.unavailable"
    assert "127.0.0.1:1" in str(error)
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for exc in chain:
        assert secret not in str(exc)
        assert secret not in repr(exc)


@pytest.mark.integration
def test_pre_ping_replaces_a_connection_the_server_killed(pg_databases: Any) -> None:
    engine = create_engine(pg_databases.base_url)
    admin = create_engine(pg_databases.base_url)
    try:
        with engine.connect() as connection:
            pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        # The one pooled connection is now dead, as after a server restart or a failover.
        with admin.connect() as killer:
            killer.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        with engine.connect() as connection:
            new_pid = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        assert new_pid != pid
    finally:
        engine.dispose()
        admin.dispose()


# --------------------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_engine(f"sqlite:///{tmp_path / 'nested' / 'dirs' / 'lienthong.db'}")
    yield engine
    engine.dispose()


@pytest.mark.integration
def test_sqlite_creates_the_directory_of_the_database(
    tmp_path: Path, sqlite_engine: Engine
) -> None:
    with sqlite_engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))

    assert (tmp_path / "nested" / "dirs" / "lienthong.db").is_file()


@pytest.mark.integration
def test_sqlite_runs_in_wal_with_full_sync_foreign_keys_and_a_busy_timeout(
    sqlite_engine: Engine,
) -> None:
    with sqlite_engine.connect() as connection:

        def pragma(name: str) -> object:
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == SQLITE_SYNCHRONOUS_FULL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == SQLITE_BUSY_TIMEOUT_MS


@pytest.mark.integration
def test_every_pooled_sqlite_connection_is_configured(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as first, sqlite_engine.connect() as second:
        for connection in (first, second):
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2


@pytest.mark.integration
def test_sqlite_in_memory_works_for_throwaway_use() -> None:
    engine = create_engine("sqlite://")
    try:
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


@pytest.mark.integration
def test_sqlite_cannot_open_a_directory_is_unavailable(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}")
    try:
        with pytest.raises(StoreError) as caught, engine.connect():
            pass
    finally:
        engine.dispose()

    assert caught.value.code == "store.unavailable"


@pytest.mark.integration
def test_a_statement_error_on_a_live_connection_is_not_called_unavailable(
    sqlite_engine: Engine,
) -> None:
    with sqlite_engine.connect() as connection, pytest.raises(sa.exc.OperationalError):
        connection.exec_driver_sql("SELECT * FROM no_such_table")


# --------------------------------------------------------------------------- transactions


def _codes(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(agencies.c.code)).scalars())


def _agency(code: str) -> dict[str, object]:
    return {
        "code": code,
        "name": code,
        "status": "active",
        "created_at": sa.func.current_timestamp(),
    }


def test_a_released_savepoint_is_undone_by_the_outer_rollback(engine: Engine) -> None:
    # sqlite3's legacy transaction control would have run the SAVEPOINT outside any
    # transaction, so its rows would survive the rollback; our BEGIN hook prevents that.
    with engine.connect() as connection:
        outer = connection.begin()
        with connection.begin_nested():
            connection.execute(sa.insert(agencies).values(_agency("probe.savepoint")))
        outer.rollback()

    assert "probe.savepoint" not in _codes(engine)


def test_a_rolled_back_savepoint_keeps_the_outer_transaction(engine: Engine) -> None:
    with engine.connect() as connection:
        outer = connection.begin()
        connection.execute(sa.insert(agencies).values(_agency("probe.kept")))
        nested = connection.begin_nested()
        connection.execute(sa.insert(agencies).values(_agency("probe.undone")))
        nested.rollback()
        codes = list(connection.execute(sa.select(agencies.c.code)).scalars())
        outer.rollback()

    assert "probe.kept" in codes
    assert "probe.undone" not in codes


@pytest.mark.integration
def test_a_sqlite_write_transaction_holds_the_write_lock_from_its_start(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lock.db"
    engine = create_engine(f"sqlite:///{path}")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        with write_transaction(engine) as connection:
            connection.execute(sa.text("SELECT count(*) FROM t")).scalar_one()
            # Only read so far, yet no one else may start writing: the transaction may now
            # write without meeting "database is locked" after another writer's commit.
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            connection.execute(sa.text("INSERT INTO t VALUES (1)"))
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO t VALUES (2)")
        other.execute("COMMIT")
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 2
    finally:
        other.close()
        engine.dispose()


@pytest.mark.integration
def test_a_write_transaction_rolls_back_on_an_exception(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS wt (x INTEGER)"))
        connection.execute(sa.text("DELETE FROM wt"))

    def fail_after_writing() -> None:
        with write_transaction(engine) as connection:
            connection.execute(sa.text("INSERT INTO wt VALUES (1)"))
            raise RuntimeError

    with pytest.raises(RuntimeError):
        fail_after_writing()
    with write_transaction(engine) as connection:
        connection.execute(sa.text("INSERT INTO wt VALUES (2)"))
    with engine.begin() as connection:
        assert connection.execute(sa.text("SELECT x FROM wt")).scalars().all() == [2]
        connection.execute(sa.text("DROP TABLE wt"))


@pytest.mark.integration
def test_sqlite_writers_of_separate_engines_queue_on_the_lock_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'queue.db'}"
    first, second = create_engine(url), create_engine(url)  # as two processes would have
    events: list[str] = []
    try:
        with first.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))

        def later_writer() -> None:
            with write_transaction(second) as connection:
                events.append("second writes")
                connection.execute(sa.text("INSERT INTO t VALUES (2)"))

        with write_transaction(first) as connection:
            thread = threading.Thread(target=later_writer)
            thread.start()
            thread.join(timeout=0.3)  # it must be waiting, not failing or writing
            assert thread.is_alive()
            events.append("first commits")
            connection.execute(sa.text("INSERT INTO t VALUES (1)"))
        thread.join(timeout=10)

        assert events == ["first commits", "second writes"]
        assert (tmp_path / "queue.db-writer.lock").exists()
        with first.connect() as connection:
            rows = connection.execute(sa.text("SELECT x FROM t ORDER BY x")).scalars().all()
        assert rows == [1, 2]
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.integration
def test_a_writer_waiting_for_another_process_gives_up_after_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The wait is a blocking flock on a helper thread: bounded by the busy timeout, and the
    lock it takes after giving up is released again, so later writers are not shut out."""
    import fcntl
    import os

    from lienthong.store import engine as engine_module

    monkeypatch.setattr(engine_module, "SQLITE_BUSY_TIMEOUT_MS", 300)
    url = f"sqlite:///{tmp_path / 'held.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        # Another process's writer: an open file of its own holding the flock.
        other = os.open(tmp_path / "held.db-writer.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(other, fcntl.LOCK_EX)
        with pytest.raises(StoreError) as raised, write_transaction(engine):
            pass
        assert raised.value.code == "store.unavailable"
        assert "keeps writing" in str(raised.value)

        fcntl.flock(other, fcntl.LOCK_UN)  # the abandoned wait takes it, then lets it go
        os.close(other)
        with write_transaction(engine) as connection:
            connection.execute(sa.text("INSERT INTO t VALUES (1)"))
        # Nobody keeps it: the abandoned wait may take it only after the writer above (the
        # two raced for it), but lets it go at once; poll briefly rather than race it.
        probe = os.open(tmp_path / "held.db-writer.lock", os.O_RDWR)
        try:
            deadline = time.monotonic() + 5
            while True:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    assert time.monotonic() < deadline, "the writer lock stays held"
                    time.sleep(0.01)
        finally:
            os.close(probe)
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT x FROM t")).scalars().all() == [1]
    finally:
        engine.dispose()


@pytest.mark.integration
def test_a_waiting_writer_gets_the_lock_as_soon_as_the_other_process_lets_it_go(
    tmp_path: Path,
) -> None:
    import fcntl
    import os
    import time

    url = f"sqlite:///{tmp_path / 'prompt.db'}"
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        other = os.open(tmp_path / "prompt.db-writer.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(other, fcntl.LOCK_EX)
        took: list[float] = []

        def writer() -> None:
            with write_transaction(engine) as connection:
                took.append(time.monotonic())
                connection.execute(sa.text("INSERT INTO t VALUES (1)"))

        thread = threading.Thread(target=writer)
        thread.start()
        time.sleep(0.3)
        assert not took  # still waiting
        released = time.monotonic()
        fcntl.flock(other, fcntl.LOCK_UN)
        thread.join(timeout=10)
        os.close(other)
        assert took
        assert took[0] - released < 0.1  # promptly: SQLite's busy handler sleeps up to 100 ms
    finally:
        engine.dispose()
