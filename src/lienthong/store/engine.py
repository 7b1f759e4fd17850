"""Build the database engine (cơ sở dữ liệu) from one URL setting.

``LIENTHONG_DB_URL`` picks the back-end: ``sqlite:///path/to/file.db`` (the default, embedded, in
WAL mode) or ``postgresql://user@host/db`` (production). Everything else about the connection is
decided here, once, so that business code never asks which database it is talking to.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Final

import psycopg
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, ExceptionContext, make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import ArgumentError, OperationalError, SAWarning
from sqlalchemy.pool import ConnectionPoolEntry

from lienthong.domain.errors import StoreError

#: The embedded default: a SQLite file under ``./var`` (relative to the working directory).
DEFAULT_DB_URL: Final = "sqlite:///var/lienthong.db"

#: The one setting that chooses the database.
DB_URL_ENV: Final = "LIENTHONG_DB_URL"

#: How long a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_MS: Final = 5000

#: How long we wait for a PostgreSQL server to answer before calling it unavailable.
PG_CONNECT_TIMEOUT_S: Final = 10

_SQLITE_DRIVERS: Final = frozenset({"sqlite", "sqlite+pysqlite"})
_PG_DRIVERS: Final = frozenset(
    {"postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg"},
)
_PG_DRIVER: Final = "postgresql+psycopg"
_MEMORY_DATABASES: Final = frozenset({"", ":memory:"})


def database_url(env: Mapping[str, str] = os.environ) -> str:
    """Return the configured database URL: ``LIENTHONG_DB_URL`` or :data:`DEFAULT_DB_URL`."""
    return env.get(DB_URL_ENV, "").strip() or DEFAULT_DB_URL


def redact(url: str | URL) -> str:
    """Render ``url`` for messages and logs with the password replaced by ``***``."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        # An unparseable URL may still hold a secret: show only its scheme.
        return url.split(":", 1)[0] + ":…" if ":" in url else "<unparseable>"


def create_engine(url: str) -> Engine:
    """Create the engine for ``url``; SQLite and PostgreSQL are supported.

    SQLite gets WAL, ``synchronous=FULL``, foreign keys and a busy timeout on every connection,
    and the directory of the database file is created if missing. ``postgres://`` and
    ``postgresql://`` are rewritten to the psycopg 3 driver, with pre-ping on checkout.

    Raises ``StoreError("store.bad_url")`` at once for a URL we cannot use. The engine connects
    lazily; a server that cannot be reached raises ``StoreError("store.unavailable")`` on first
    use (the password never appears in the message).
    """
    parsed = _parse(url)
    if parsed.drivername in _SQLITE_DRIVERS:
        engine = _create_sqlite_engine(parsed)
    elif parsed.drivername in _PG_DRIVERS:
        engine = _create_pg_engine(parsed)
    else:
        raise StoreError(
            "store.bad_url",
            f"{redact(parsed)}: only sqlite:/// and postgresql:// URLs are supported",
        )
    event.listen(engine, "handle_error", _unavailable_handler(parsed))
    return engine


def _parse(url: str) -> URL:
    if not url.strip():
        raise StoreError("store.bad_url", "the database URL is empty")
    try:
        return make_url(url.strip())
    except (ArgumentError, ValueError) as exc:
        raise StoreError("store.bad_url", f"cannot parse {redact(url)}") from exc


def _create_sqlite_engine(url: URL) -> Engine:
    # Validate the URL before touching the file system.
    engine = _sa_create_engine(url.set(drivername="sqlite+pysqlite"))
    database = url.database or ""
    in_memory = database in _MEMORY_DATABASES or url.query.get("mode") == "memory"
    if not in_memory and not url.query.get("uri"):
        try:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            engine.dispose()
            raise StoreError(
                "store.unavailable", f"cannot create the directory of {database}: {exc.strerror}"
            ) from exc
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _create_pg_engine(url: URL) -> Engine:
    try:
        # libpq would refuse an unknown option only at the first connect, as if the server
        # were down; check the query options now, so a typo is reported as a bad URL.
        make_conninfo("", **{key: str(value) for key, value in url.query.items()})
    except psycopg.ProgrammingError as exc:
        raise StoreError("store.bad_url", f"{redact(url)}: {exc}") from exc
    connect_args: dict[str, object] = {"application_name": "lienthong"}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    return _sa_create_engine(
        url.set(drivername=_PG_DRIVER),
        # A hub process lives for weeks; the server restarts under it. Pre-ping turns a dead
        # pooled connection into a transparent reconnect instead of a failed request.
        pool_pre_ping=True,
        connect_args=connect_args,
    )


def _sa_create_engine(url: URL, **kwargs: object) -> Engine:
    try:
        # A query option the driver ignores (SQLAlchemy only warns) is a typo in the setting.
        with warnings.catch_warnings():
            warnings.simplefilter("error", SAWarning)
            return sa.create_engine(url, **kwargs)
    except (ArgumentError, ValueError, TypeError, SAWarning) as exc:
        # e.g. sqlite://user@host/x, or query options the driver does not know.
        reason = str(exc).strip().splitlines()[0]
        raise StoreError("store.bad_url", f"{redact(url)}: {reason}") from exc


def _sqlite_on_connect(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    # The sqlite3 module (before Python 3.16) starts transactions only before DML, so SAVEPOINT
    # and DDL would run outside our transaction. Switch its transaction control off here and
    # emit BEGIN ourselves in _sqlite_on_begin (the recipe in SQLAlchemy's SQLite docs).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first, so that switching to WAL waits for a concurrent opener.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL: readers never block the writer and the writer never blocks readers.
        cursor.execute("PRAGMA journal_mode = WAL")
        # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on power loss, and we
        # acknowledge a package to its sender only once it is durable (DESIGN: nothing lost).
        cursor.execute("PRAGMA synchronous = FULL")
        # SQLite ignores foreign keys unless asked, per connection.
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(_SQLITE_IMMEDIATE) else "BEGIN")


@contextlib.contextmanager
def statement_scope(connection: Connection) -> Iterator[None]:
    """Make a statement's failure leave the surrounding transaction usable.

    PostgreSQL aborts the whole transaction on any error, so the statement runs inside a
    SAVEPOINT. SQLite undoes only the failed statement and keeps the transaction (its
    default ``ON CONFLICT ABORT``), so the SAVEPOINT and its two round trips are skipped.
    """
    if connection.dialect.name == "sqlite":
        yield
        return
    with connection.begin_nested():
        yield


#: Execution option: open the SQLite transaction with ``BEGIN IMMEDIATE``.
_SQLITE_IMMEDIATE: Final = "lienthong_sqlite_immediate"


@contextlib.contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write, committed at the end (rolled back on an exception).

    On SQLite it starts with ``BEGIN IMMEDIATE``: the write lock is taken first, so the
    transaction may read and then write. With a plain (deferred) ``BEGIN`` a transaction that
    reads first and writes later fails at once with ``database is locked`` when another
    process committed in between (WAL snapshots cannot be upgraded). Writers of one process
    also queue on a lock of the engine first: SQLite's own busy handler waits by sleeping in
    growing steps (up to 100 ms), which turned a few ms of work into p99 latencies of over a
    second when a dozen threads competed (bench/RESULTS.md). Other processes are still
    waited for by the busy handler. On PostgreSQL it is an ordinary ``engine.begin()``.
    """
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with (
        _writer_lock(engine),
        engine.connect().execution_options(**{_SQLITE_IMMEDIATE: True}) as connection,
        connection.begin(),
    ):
        yield connection


class _WriterLock:
    """Queues the writers of one SQLite file: threads of this process on an ``RLock``, other
    processes on an advisory ``flock`` of ``<database>-writer.lock``.

    The kernel wakes a process waiting for a ``flock`` as soon as it is released, where
    SQLite's busy handler would sleep for up to 100 ms before trying again. Waiting is
    bounded by the busy timeout, as with SQLite's own lock (``store.unavailable`` after it).
    """

    def __init__(self, lock_file: Path | None) -> None:
        self._threads = threading.RLock()
        self._lock_file = lock_file
        self._fd: int | None = None
        self._depth = 0

    def __enter__(self) -> None:
        self._threads.acquire()
        self._depth += 1
        if self._depth > 1 or self._lock_file is None:
            return
        try:
            if self._fd is None:
                self._fd = _open_lock(self._lock_file)
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                self._fd = _wait_for_flock(self._fd, self._lock_file)
        except BaseException:
            self._depth -= 1
            self._threads.release()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


def _open_lock(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _wait_for_flock(fd: int, path: Path) -> int:
    """Wait for another process's write lock; the descriptor that now holds it.

    The wait is a blocking ``flock`` (the kernel wakes it the moment the holder unlocks), on a
    helper thread so that it can be given up after the busy timeout. Polling with sleeps lost
    the race to a holder that locked again at once: under load one hub worker kept the lock
    while the other's writes waited for seconds. The helper locks its own open file (a lock
    belongs to the open file, not to the thread); if the wait was given up meanwhile, it
    closes that file, which releases the lock.
    """
    fresh = _open_lock(path)
    done = threading.Event()
    guard = threading.Lock()
    state = {"taken": False, "abandoned": False}

    def wait() -> None:
        try:
            fcntl.flock(fresh, fcntl.LOCK_EX)
        except OSError:  # not expected on a local file; the caller reports it as unavailable
            done.set()
            return
        with guard:
            if state["abandoned"]:
                os.close(fresh)  # releases the lock nobody waits for any more
                return
            state["taken"] = True
        done.set()

    threading.Thread(target=wait, name="sqlite-writer-lock", daemon=True).start()
    done.wait(SQLITE_BUSY_TIMEOUT_MS / 1000)
    with guard:
        if not state["taken"]:
            state["abandoned"] = True
            if done.is_set():  # flock itself failed
                os.close(fresh)
            raise StoreError("store.unavailable", f"{path}: another process keeps writing")
    os.close(fd)  # held no lock: the fresh one holds it from now on
    return fresh


_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, _WriterLock] = weakref.WeakKeyDictionary()
_WRITER_LOCKS_GUARD = threading.Lock()


def _writer_lock(engine: Engine) -> _WriterLock:
    with _WRITER_LOCKS_GUARD:
        lock = _WRITER_LOCKS.get(engine)
        if lock is None:
            database = engine.url.database or ""
            in_memory = database in _MEMORY_DATABASES or engine.url.query.get("mode") == "memory"
            lock_file = None if in_memory else Path(f"{database}-writer.lock")
            lock = _WRITER_LOCKS[engine] = _WriterLock(lock_file)
        return lock


def _unavailable_handler(url: URL) -> Callable[[ExceptionContext], BaseException | None]:
    shown = redact(url)
    password = url.password

    def handle_error(context: ExceptionContext) -> BaseException | None:
        # Pre-ping must see the driver's own error to reconnect; leave it alone.
        if context.is_pre_ping:
            return None
        if not isinstance(context.sqlalchemy_exception, OperationalError):
            return None
        # Only failures to reach the database are "unavailable"; an OperationalError raised by
        # a statement on a live connection (SQLite's "no such table") is a bug to see as is.
        if context.connection is not None and not context.is_disconnect:
            return None
        reason = str(context.original_exception).strip().splitlines()
        text = reason[0] if reason else type(context.original_exception).__name__
        if password:
            text = text.replace(str(password), "***")
        return StoreError("store.unavailable", f"{shown}: {text}")

    return handle_error
