"""Rows written at the end of a group commit instead of one statement each (ghi dồn).

The hub's writes are one at a time across processes (the audit chain's and the event order's
lock), so what a group does while it holds the lock bounds the hub's rate. Each statement
costs a round trip (PostgreSQL) and a return for the GIL (both engines) — under load, more
than the row itself. A :class:`GroupCommitter` made with ``deferred=True`` therefore lets the
works of a group *defer* the rows nobody reads back in the same group — the audit entries,
the deliveries and the events of an accepted send — and writes them with one multi-row insert
per table after the group's last work, before the commit. Nothing changes for the callers: a
receipt still comes after the commit, and a row that cannot be written fails the group (which
then runs again, each work on its own and writing directly).

Rules that keep it exact:

* Only a transaction the committer opened for a group defers (:func:`deferring` is ``None``
  anywhere else, including inside a group run again work by work).
* A work that reads what others may have deferred, or writes rows of its own, runs inside
  :func:`writing_directly`, which first writes what is pending.
* A reader that may run in such a transaction (the audit log's head and entries) calls
  :func:`flush_deferred` first.
* Deferred rows are written in the order they were deferred; the events get their numbers
  then (still under the event-order lock taken at the start of the group), and each
  deferring caller learns its number through a callback, before the commit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

_KEY = "lienthong.store.deferred"
#: A row whose generated value is wanted: (table, the column returned, values, its callback).
_Returning = tuple[sa.Table, "sa.Column[Any]", dict[str, Any], Callable[[Any], None]]


class DeferredRows:
    """The rows a group's works deferred, per table, in order."""

    def __init__(self, transaction: object) -> None:
        self.transaction = transaction
        self.paused = 0  #: > 0 while a work writes directly (:func:`writing_directly`)
        self._plain: dict[str, tuple[sa.Table, bool, list[dict[str, Any]]]] = {}
        self._returning: list[
            tuple[sa.Table, sa.Column[Any], dict[str, Any], Callable[[Any], None]]
        ] = []

    def insert(self, table: sa.Table, values: Mapping[str, Any], *, ignore: bool = False) -> None:
        """Insert ``values`` into ``table`` at the flush (``ignore``: ON CONFLICT DO NOTHING)."""
        key = f"{table.name}/{ignore}"
        entry = self._plain.get(key)
        if entry is None:
            entry = self._plain[key] = (table, ignore, [])
        entry[2].append(dict(values))

    def insert_returning(
        self,
        table: sa.Table,
        values: Mapping[str, Any],
        returning: sa.Column[Any],
        then: Callable[[Any], None],
    ) -> None:
        """Insert ``values`` at the flush and call ``then(value of returning)`` once written."""
        self._returning.append((table, returning, dict(values), then))

    def __len__(self) -> int:
        return sum(len(rows) for _, _, rows in self._plain.values()) + len(self._returning)

    def flush(self, connection: Connection) -> None:
        """Write every deferred row: one statement per table (and kind of insert)."""
        plain, self._plain = self._plain, {}
        returning, self._returning = self._returning, []
        for table, ignore, rows in plain.values():
            connection.execute(_insert(connection, table, ignore=ignore), rows)
        by_table: dict[
            tuple[str, str],
            list[tuple[sa.Table, sa.Column[Any], dict[str, Any], Callable[[Any], None]]],
        ] = {}
        for item in returning:
            by_table.setdefault((item[0].name, item[1].name), []).append(item)
        for items in by_table.values():
            table, column = items[0][0], items[0][1]
            statement = sa.insert(table).returning(column, sort_by_parameter_order=True)
            values = connection.execute(statement, [item[2] for item in items]).scalars().all()
            if len(values) != len(items):  # pragma: no cover - the database broke its word
                msg = f"{len(values)} rows returned for {len(items)} inserted into {table.name}"
                raise RuntimeError(msg)
            for item, value in zip(items, values, strict=True):
                item[3](value)


_STATEMENTS: dict[tuple[str, str, bool], Any] = {}


def _insert(connection: Connection, table: sa.Table, *, ignore: bool) -> Any:
    dialect = connection.dialect.name
    key = (dialect, table.name, ignore)
    statement = _STATEMENTS.get(key)
    if statement is None:
        if not ignore:
            statement = sa.insert(table)
        elif dialect == "postgresql":
            statement = postgresql.insert(table).on_conflict_do_nothing()
        else:
            statement = sqlite.insert(table).on_conflict_do_nothing()
        _STATEMENTS[key] = statement
    return statement


def begin_deferring(connection: Connection) -> DeferredRows:
    """Let the works of the current transaction defer rows (the group committer does)."""
    rows = DeferredRows(connection.get_transaction())
    connection.info[_KEY] = rows
    return rows


def end_deferring(connection: Connection) -> None:
    """Stop deferring on ``connection`` (pending rows are dropped: flush them first)."""
    connection.info.pop(_KEY, None)


def _current(connection: Connection) -> DeferredRows | None:
    """The rows deferred in ``connection``'s current transaction (paused or not)."""
    rows = connection.info.get(_KEY)
    if isinstance(rows, DeferredRows) and rows.transaction is connection.get_transaction():
        return rows
    return None  # none, or left by an earlier transaction on the same connection


def deferring(connection: Connection) -> DeferredRows | None:
    """Where to defer rows in ``connection``'s current transaction, or ``None``: write now."""
    rows = _current(connection)
    return None if rows is None or rows.paused else rows


def flush_deferred(connection: Connection) -> None:
    """Write what the current transaction deferred so far (nothing if none)."""
    rows = _current(connection)
    if rows is not None:
        rows.flush(connection)


@contextlib.contextmanager
def writing_directly(connection: Connection) -> Iterator[None]:
    """Write what is pending, then run the block with every write made at once (a work that
    reads what others deferred, or that is not written for deferring)."""
    rows = _current(connection)
    if rows is None:
        yield
        return
    rows.flush(connection)
    rows.paused += 1
    try:
        yield
    finally:
        rows.paused -= 1


__all__ = [
    "DeferredRows",
    "begin_deferring",
    "deferring",
    "end_deferring",
    "flush_deferred",
    "writing_directly",
]
