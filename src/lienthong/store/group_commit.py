"""Group commit (ghi gộp): many callers' writes made durable by one commit.

A durable commit costs an fsync (SQLite with ``synchronous=FULL``, PostgreSQL with
``synchronous_commit=on``): 0.4-3 ms on the disks we run on, more than the work of a typical
write. When many callers write at once, :class:`GroupCommitter` runs their work one after the
other in one transaction on a single writer thread, commits once, and only then returns to
each caller. Nothing is acknowledged before it is durable, exactly as with one transaction
per caller; only the fsyncs are shared.

Each caller's work runs in its own SAVEPOINT: if it raises, its writes are undone and the
caller gets the exception, while the others' work goes on and commits. If the commit itself
fails, every caller of that group gets the error and none of their writes exist. If the
connection is lost (a database restart), every caller of the group gets
``StoreError("store.unavailable")`` — never SQLAlchemy's ``PendingRollbackError`` — and the
next group runs on a new connection; whether a commit that was under way took effect is
unknown, so callers retry idempotently.

With ``rerun_safe=True`` (for works that are pure functions of the database: no effect
outside the transaction, such as the hub's) a group first runs without SAVEPOINTs, two
statements less per work. If a work raises, that transaction is rolled back and the group
runs again, each work in its own SAVEPOINT as above (a group of one just gives its caller
the error). The outcome for every caller is the same either way.

With ``deferred=True`` as well, the works of a group run without SAVEPOINTs may leave rows
nobody reads back in the group (``lienthong.store.deferred``); they are written with one
multi-row insert per table after the group's last work, before the commit. If that write
fails, the group runs again work by work as above, writing directly.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.deferred import begin_deferring, end_deferring
from lienthong.store.engine import write_transaction

T = TypeVar("T")

#: Most callers' work in one transaction (bounds the time the write lock is held).
DEFAULT_MAX_GROUP = 256


@dataclass(eq=False)
class _Work(Generic[T]):
    run: Callable[[Connection], T]
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class GroupCommitter:
    """Runs writes on one thread, committing the writes of concurrent callers together."""

    def __init__(
        self,
        engine: Engine,
        *,
        max_group: int = DEFAULT_MAX_GROUP,
        on_connection: Callable[[Connection | None], None] | None = None,
        rerun_safe: bool = False,
        deferred: bool = False,
    ) -> None:
        """``on_connection`` is told the writer's connection before each group's work runs
        and ``None`` after it (e.g. so that a registry's writes join the transaction).
        ``rerun_safe``: the works may run twice (module docstring). ``deferred`` (with
        ``rerun_safe``): the works of a group may defer rows to one multi-row insert per table
        after the last of them (``lienthong.store.deferred``)."""
        if deferred and not rerun_safe:
            raise UsageError("usage.bad_argument", "deferred rows need rerun_safe works")
        self.engine = engine
        self.max_group = max_group
        self._on_connection = on_connection
        self.rerun_safe = rerun_safe
        self.deferred = deferred
        self._queue: queue.SimpleQueue[_Work[object] | None] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="group-commit", daemon=True)
        self._thread.start()
        self.groups = 0  #: transactions committed (or attempted), for tests and metrics
        self.works = 0  #: units of work run
        #: Groups run again work by work after one of their works (or deferred rows) failed.
        self.reruns = 0
        #: Seconds the writer spent on groups (from taking a group to its callers' release):
        #: its rate over time is how busy the writer is; near 1 it is the bottleneck.
        self.busy_seconds = 0.0
        #: Of which beginning the transaction, ``on_connection`` included: the time waited for
        #: another process's writer (SQLite's writer lock, the hub's lock on PostgreSQL).
        self.wait_seconds = 0.0

    def run(self, work: Callable[[Connection], T]) -> T:
        """Run ``work(connection)`` in a transaction; return its result once committed."""
        item: _Work[T] = _Work(work)
        with self._lock:
            if self._closed:
                raise StoreError("store.unavailable", "the writer is closed")
            self._queue.put(item)  # type: ignore[arg-type]
        item.done.wait()
        if item.error is not None:
            raise item.error
        return item.result  # type: ignore[return-value]

    def queued(self) -> int:
        """How much work waits for the writer (approximate while callers come and go)."""
        return self._queue.qsize()

    def close(self) -> None:
        """Finish the queued work, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(None)
        self._thread.join()

    # -- the writer thread ------------------------------------------------------------------
    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            while len(group) < self.max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stopping = True
                    break
                group.append(item)
            self._commit(group)

    def _commit(self, group: list[_Work[object]]) -> None:
        started = time.perf_counter()
        try:
            if not self.rerun_safe:
                self._commit_isolated(group)
            elif not self._commit_plain(group):
                self.reruns += 1
                self._commit_isolated(group)
        finally:
            self.groups += 1
            self.works += len(group)
            self.busy_seconds += time.perf_counter() - started
            for item in group:
                item.done.set()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """The group's write transaction, with ``on_connection`` told of it meanwhile."""
        asked = time.perf_counter()
        with write_transaction(self.engine) as connection:
            if self._on_connection is not None:
                self._on_connection(connection)  # the hub's: PostgreSQL's event-order lock
            self.wait_seconds += time.perf_counter() - asked
            try:
                yield connection
            finally:
                if self._on_connection is not None:
                    self._on_connection(None)

    def _commit_plain(self, group: list[_Work[object]]) -> bool:
        """Run the group without SAVEPOINTs; ``False`` if a work of a larger group raised (the
        transaction was rolled back and nothing is recorded: run it again, isolated)."""
        lost = False
        try:
            with self._transaction() as connection:
                pending = begin_deferring(connection) if self.deferred else None
                try:
                    for item in group:
                        try:
                            item.result = item.run(connection)
                        except Exception as exc:
                            lost = connection.invalidated
                            if lost or len(group) == 1:
                                raise
                            raise _RunAgainError from exc
                    if pending is not None:
                        try:
                            pending.flush(connection)
                        except Exception as exc:
                            lost = connection.invalidated
                            if lost or len(group) == 1:
                                raise
                            raise _RunAgainError from exc  # found out work by work
                finally:
                    if pending is not None:
                        end_deferring(connection)
        except _RunAgainError:
            for item in group:
                item.result = None
            return False
        except Exception as exc:  # noqa: BLE001 - a lone work's error, or the commit's
            error = _lost(exc) if lost or _is_lost(exc) else exc
            for item in group:
                item.error = error
                item.result = None
        return True

    def _commit_isolated(self, group: list[_Work[object]]) -> None:
        try:
            with self._transaction() as connection:
                for item in group:
                    if connection.invalidated:  # lost mid-group: the rest cannot run
                        item.error = _lost(None)
                        continue
                    try:
                        with connection.begin_nested():
                            item.result = item.run(connection)
                    except Exception as exc:  # noqa: BLE001 - handed to its caller
                        item.error = _lost(exc) if connection.invalidated else exc
        except Exception as exc:  # noqa: BLE001 - the commit failed: nobody's work exists
            error = _lost(exc) if _is_lost(exc) else exc
            for item in group:
                if item.error is None:
                    item.error = error
                    item.result = None


class _RunAgainError(Exception):
    """A work of a group run without SAVEPOINTs raised: roll back, run it isolated."""


def _is_lost(exc: BaseException) -> bool:
    """Whether ``exc`` means the database connection was lost (server restart, network)."""
    if isinstance(exc, StoreError):
        return exc.code == "store.unavailable"
    if isinstance(exc, sa_exc.PendingRollbackError):  # the connection was invalidated earlier
        return True
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


def _lost(exc: BaseException | None) -> BaseException:
    """The error a caller gets when the connection died under its group: ``store.unavailable``
    (HTTP 503: retry). Whether a commit that was under way took effect is unknown, so callers
    must retry idempotently (the hub's sends are)."""
    if isinstance(exc, StoreError) and exc.code == "store.unavailable":
        return exc
    error = StoreError("store.unavailable", "the database connection was lost during the write")
    if exc is not None:
        error.__cause__ = exc
    return error


__all__ = ["DEFAULT_MAX_GROUP", "GroupCommitter"]
