"""The audit log (nhật ký kiểm toán): an append-only, hash-chained record of who did what.

Each entry records an actor (an operator, a system component, ``ca:<name>``), an action
(``ca.issue``, ``ca.revoke``, ``config.change``, …), its subject (a certificate serial, an agency
code, …), details as canonical JSON, and the time, which is an argument like everywhere in the
store. Entries are numbered 1, 2, 3, … by the writer, and each carries the SHA-256 of the
previous entry's hash and its own content::

    hash = sha256(prev_hash + "\\n" + canonical_json({seq, at, actor, action, subject, details}))

with 64 zeros as the ``prev_hash`` of entry 1. Editing an entry in the database breaks its hash;
deleting one leaves a gap in ``seq``; recomputing an edited entry's hash breaks the next entry's
link. What the chain cannot show on its own is the deletion of the newest entries: keep the
head hash somewhere else (a report, a signed export) and pass it to :meth:`AuditLog.verify`.
``docs/audit.md`` spells out the formula for an outside auditor.

:class:`AuditLog` takes the caller's ``Connection`` and never commits, like the repositories.
Appending takes the chain's write lock inside the caller's transaction (see
:func:`lock_chain`), so two processes appending at once never fork the chain: the second waits
for the first to commit and then links to its entry.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping
from sqlalchemy.exc import IntegrityError

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.blobs import is_sha256
from lienthong.store.deferred import deferring, flush_deferred
from lienthong.store.engine import statement_scope
from lienthong.store.schema import audit_log

#: The ``prev_hash`` of the first entry: 64 zeros.
GENESIS_HASH: Final = "0" * 64

#: How many entries one query reads when streaming; memory use does not grow with the log.
DEFAULT_BATCH_SIZE: Final = 1000

#: Longest canonical ``details`` text accepted, in characters: an audit entry says what was
#: done, it does not carry documents (those are in the blob store, named by their hash).
MAX_DETAILS_CHARS: Final = 65_536

#: Column limits of ``audit_log`` (``schema.py``); checked before writing, since SQLite would
#: not enforce them and PostgreSQL would refuse with a driver error.
MAX_ACTOR_CHARS: Final = 255
MAX_ACTION_CHARS: Final = 64
MAX_SUBJECT_CHARS: Final = 255

# The advisory lock that serialises appends on PostgreSQL: any fixed 64-bit key that nothing
# else in the database uses ("lt.audit" in ASCII; the migration lock is another key).
_PG_AUDIT_LOCK_KEY: Final = 0x6C742E6175646974

# How many links verify follows back from an entry whose link is broken to find out whether
# the entry was moved (renumbered) rather than edited; only done once, at the first problem.
_MAX_WALK: Final = 1000

# Statements built once: appends are few, but building a statement costs more than running it.
_HEAD_LINK: Final = (
    sa.select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
)
_INSERT: Final = sa.insert(audit_log)
_PG_TAKE_LOCK: Final = sa.text("SELECT pg_advisory_xact_lock(:key)")
_SQLITE_TAKE_WRITE_LOCK: Final = sa.update(audit_log).where(sa.false()).values(seq=audit_log.c.seq)

#: What :meth:`AuditLog.verify` can find wrong, in the order it checks each entry:
#: ``gap`` (an entry number is missing), ``broken_link`` (``prev_hash`` is not the previous
#: entry's hash), ``reordered`` (an intact entry sits under another number than the one it was
#: written for), ``edited`` (the hash does not match the content), and, after the last entry,
#: ``truncated`` (the expected head hash is not in the chain).
ProblemKind = Literal["gap", "broken_link", "reordered", "edited", "truncated"]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One entry of the audit log, as stored."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    #: The details as parsed back from the stored canonical JSON (read-only at the top level).
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """The first thing found wrong with the chain: where, what, and a sentence for the log."""

    seq: int
    kind: ProblemKind
    detail: str


@dataclass(frozen=True, slots=True)
class AuditVerification:
    """The result of :meth:`AuditLog.verify`.

    ``count`` entries were found intact, from entry 1 up to ``last_hash`` (the hash of the last
    intact entry, ``None`` if there is none); ``problem`` is the first problem found, if any.
    """

    count: int
    last_hash: str | None
    problem: AuditProblem | None = None

    @property
    def ok(self) -> bool:
        """``True`` if the whole chain (and the anchor, if one was given) checked out."""
        return self.problem is None

    def raise_if_broken(self) -> None:
        """Raise ``StoreError("audit.chain_broken")`` naming the first problem, if there is one."""
        if self.problem is not None:
            problem = self.problem
            raise StoreError(
                "audit.chain_broken", f"{problem.kind} at entry {problem.seq}: {problem.detail}"
            )


# --------------------------------------------------------------------------- the formula


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no whitespace and non-ASCII characters unescaped (then UTF-8)."""
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def format_at(at: datetime) -> str:
    """The time as hashed: UTC, microseconds, ``Z`` (``2026-03-02T01:30:15.123456Z``)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise UsageError("audit.bad_entry", f"naive time {at.isoformat()}; give a timezone")
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_payload(
    *, seq: int, at: datetime, actor: str, action: str, subject: str, details_json: str
) -> str:
    """The canonical JSON of an entry's content, with ``details_json`` embedded as stored.

    For details written by :meth:`AuditLog.append` (canonical already) this is exactly
    ``canonical_json({"seq": …, "at": format_at(at), "actor": …, "action": …, "subject": …,
    "details": json.loads(details_json)})``. Building it around the stored text rather than
    re-serialising the parsed details means any change to the stored bytes changes the hash,
    and an auditor in another language needs no canonical JSON serialiser for the details.
    """

    def string(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    # Keys in sorted order: action, actor, at, details, seq, subject.
    return (
        f'{{"action":{string(action)},"actor":{string(actor)},"at":{string(format_at(at))},'
        f'"details":{details_json},"seq":{seq},"subject":{string(subject)}}}'
    )


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details_json: str,
) -> str:
    """``sha256(prev_hash + "\\n" + entry_payload(...))`` over UTF-8, as 64 lowercase hex."""
    payload = entry_payload(
        seq=seq, at=at, actor=actor, action=action, subject=subject, details_json=details_json
    )
    return hashlib.sha256(f"{prev_hash}\n{payload}".encode()).hexdigest()


# --------------------------------------------------------------------------- the log


class AuditLog:
    """The audit log over the caller's connection: append, read, verify. Never commits."""

    def __init__(self, connection: Connection, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        if batch_size < 1:
            raise UsageError("usage.bad_argument", f"batch_size {batch_size}")
        self._conn = connection
        self._batch_size = batch_size

    def append(
        self,
        *,
        actor: str,
        action: str,
        subject: str,
        details: Mapping[str, Any],
        at: datetime,
    ) -> AuditEntry:
        """Add an entry after the current head and return it.

        ``details`` must be JSON: objects with string keys, arrays, strings, integers,
        booleans and null. Floats are refused, since their text form differs between languages
        and the hash must be recomputable anywhere. Raises ``audit.bad_entry`` for anything
        that cannot be recorded as given (naive time, empty actor or action, text too long or
        containing NUL).

        The chain's write lock is held from here until the caller's transaction ends, so
        concurrent appenders queue up instead of forking the chain. On PostgreSQL, append in a
        READ COMMITTED transaction (the default); on SQLite, before anything else in the
        transaction has read, or the write lock may be refused as ``database is locked``.
        """
        details_json = _details_json(details)
        _check_text("actor", actor, MAX_ACTOR_CHARS, required=True)
        _check_text("action", action, MAX_ACTION_CHARS, required=True)
        _check_text("subject", subject, MAX_SUBJECT_CHARS, required=False)
        at_text = format_at(at)  # refuses a naive time
        at_utc = at.astimezone(UTC)

        lock_chain(self._conn)
        transaction = self._conn.get_transaction()
        cached = self._conn.info.get(_HEAD)
        if cached is not None and transaction is not None and cached[0] is transaction:
            seq, prev_hash = cached[1] + 1, cached[2]  # our own last append, under our lock
        else:
            flush_deferred(self._conn)  # the head is read from the table: nothing pending
            head = self._conn.execute(_HEAD_LINK).one_or_none()
            seq = 1 if head is None else int(head.seq) + 1
            prev_hash = GENESIS_HASH if head is None else str(head.hash)
        digest = entry_hash(
            prev_hash=prev_hash,
            seq=seq,
            at=at_utc,
            actor=actor,
            action=action,
            subject=subject,
            details_json=details_json,
        )
        values = {
            "seq": seq,
            "at": at_utc,
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details_json,
            "prev_hash": prev_hash,
            "hash": digest,
        }
        trusted = transaction is not None and self._conn.info.get(_OWN_APPENDS) is transaction
        # Under trust_own_appends the chain's lock is ours: a conflict needs a writer that
        # bypasses AuditLog, and the caller's SAVEPOINT (the group commit's) undoes it. Else a
        # SAVEPOINT of its own keeps a PostgreSQL transaction usable after the error.
        scope = contextlib.nullcontext() if trusted else statement_scope(self._conn)
        pending = deferring(self._conn) if trusted else None
        try:
            if pending is not None:  # written with the group's other entries, before its commit
                pending.insert(audit_log, values)
            else:
                with scope:
                    self._conn.execute(_INSERT, values)
        except IntegrityError as exc:
            # Only possible if the lock did not serialise us (a REPEATABLE READ snapshot taken
            # before the lock, or a writer that bypasses AuditLog).
            raise StoreError(
                "store.conflict", f"audit entry {seq} at {at_text} was written by another writer"
            ) from exc
        if trusted:
            # The next append in this transaction starts from here without reading the head:
            # nobody else can append while we hold the chain's lock, and a SAVEPOINT rolled
            # back forgets it (_forget_head), since the entry may be gone with it.
            self._conn.info[_HEAD] = (transaction, seq, digest)
        return AuditEntry(
            seq=seq,
            at=at_utc,
            actor=actor,
            action=action,
            subject=subject,
            details=MappingProxyType(json.loads(details_json)),
            prev_hash=prev_hash,
            hash=digest,
        )

    def head(self) -> AuditEntry | None:
        """The newest entry, or ``None`` if the log is empty (``store.corrupt`` if unreadable)."""
        query = sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)
        flush_deferred(self._conn)  # entries a group deferred are read like the others
        try:
            found = self._conn.execute(query).mappings().one_or_none()
            stored = None if found is None else _stored(found)
        except (ValueError, TypeError) as exc:
            raise StoreError("store.corrupt", "the newest audit entry cannot be read") from exc
        return None if stored is None else _entry(stored)

    def entries(self, from_seq: int = 1) -> Iterator[AuditEntry]:
        """Entries from ``from_seq`` on, in ``seq`` order, read in batches (constant memory).

        Raises ``store.corrupt`` on an entry that cannot be read back at all (possible only
        on SQLite, which does not enforce column types); :meth:`verify` reports it instead.
        """
        flush_deferred(self._conn)
        for item in self._rows(from_seq):
            if isinstance(item, _Unreadable):
                raise StoreError("store.corrupt", f"audit entry {item.seq} cannot be read")
            yield _entry(item)

    def verify(self, expected_head_hash: str | None = None) -> AuditVerification:
        """Check the whole chain from entry 1 and report the first problem.

        Streams the log in batches: memory does not grow with its length. Each entry, in
        ``seq`` order, must have the next number (else ``gap``), link to the previous entry's
        hash (else ``reordered`` if it is an intact entry written under another number, or
        ``broken_link``), and hash to its stored hash (else ``edited``).

        ``expected_head_hash`` is a head hash kept outside the database (printed in a report,
        sent to another agency): the chain must still contain it, else ``truncated``. Without
        such an anchor, deleting the newest entries cannot be detected: the rest is a valid
        chain.
        """
        anchor = None if expected_head_hash is None else _anchor(expected_head_hash)
        anchor_seen = anchor is None
        count = 0
        previous = GENESIS_HASH
        flush_deferred(self._conn)
        for item in self._rows(1):
            found = self._check(item, seq=count + 1, previous=previous)
            if found is not None:
                kind, detail = found
                return AuditVerification(
                    count=count,
                    last_hash=None if count == 0 else previous,
                    problem=AuditProblem(seq=count + 1, kind=kind, detail=detail),
                )
            assert isinstance(item, _Stored)
            count += 1
            previous = item.hash
            anchor_seen = anchor_seen or item.hash == anchor
        last_hash = None if count == 0 else previous
        if not anchor_seen:
            detail = (
                f"the expected head {anchor} is not in the chain: entries after {count} "
                "may have been deleted"
            )
            problem = AuditProblem(seq=count + 1, kind="truncated", detail=detail)
            return AuditVerification(count=count, last_hash=last_hash, problem=problem)
        return AuditVerification(count=count, last_hash=last_hash)

    def _check(
        self, item: _Stored | _Unreadable, *, seq: int, previous: str
    ) -> tuple[ProblemKind, str] | None:
        """What is wrong with ``item``, expected as entry ``seq`` after a hash ``previous``."""
        if item.seq is not None and item.seq > seq:
            return "gap", f"entry {seq} is missing; the next entry is {item.seq}"
        if isinstance(item, _Unreadable):
            return "edited", "the entry cannot be read back"
        if item.prev_hash != previous:
            moved_from = self._written_for(item, verified_below=seq)
            if moved_from is not None:
                return (
                    "reordered",
                    f"the entry here is intact but was written as entry {moved_from}",
                )
            detail = (
                f"prev_hash {item.prev_hash[:16]}… is not the hash of the entry before "
                f"({previous[:16]}…)"
            )
            return "broken_link", detail
        if _recompute(item, item.seq) != item.hash:
            return "edited", "the hash does not match the content"
        return None

    # ------------------------------------------------------------------ reading

    def _rows(self, from_seq: int) -> Iterator[_Stored | _Unreadable]:
        """Stored rows from ``from_seq`` on, by keyset pagination (one query per batch)."""
        after = from_seq - 1
        while True:
            query = (
                sa.select(audit_log)
                .where(audit_log.c.seq > after)
                .order_by(audit_log.c.seq)
                .limit(self._batch_size)
            )
            try:
                batch: Sequence[_Stored | _Unreadable] = [
                    _stored(row) for row in self._conn.execute(query).mappings()
                ]
            except (ValueError, TypeError):
                batch = self._rows_one_by_one(after)
            yield from batch
            last = batch[-1].seq if batch else None
            if last is None or len(batch) < self._batch_size:
                return
            after = last

    def _rows_one_by_one(self, after: int) -> list[_Stored | _Unreadable]:
        """A batch that failed to read, row by row, to find the row that cannot be read."""
        seqs = self._conn.execute(
            sa.select(audit_log.c.seq)
            .where(audit_log.c.seq > after)
            .order_by(audit_log.c.seq)
            .limit(self._batch_size)
        ).scalars()
        rows: list[_Stored | _Unreadable] = []
        for raw_seq in seqs:
            try:
                row = self._conn.execute(
                    sa.select(audit_log).where(audit_log.c.seq == raw_seq)
                ).mappings()
                rows.append(_stored(row.one()))
            except (ValueError, TypeError):
                seq = raw_seq if isinstance(raw_seq, int) else None
                rows.append(_Unreadable(seq=seq))
                break  # verify stops here, and entries() raises
        return rows

    def _written_for(self, item: _Stored, *, verified_below: int) -> int | None:
        """The ``seq`` an entry with a broken link was written for, if it is intact there.

        Follows ``prev_hash`` back through entries not yet verified until it reaches a verified
        one (or the genesis hash); the number of steps gives the entry's original position.
        ``None`` if the walk fails or the entry does not hash correctly at that position.
        """
        link = item.prev_hash
        for steps in range(_MAX_WALK):
            if link == GENESIS_HASH:
                position = steps + 1
                break
            found = self._conn.execute(
                sa.select(audit_log.c.seq, audit_log.c.prev_hash).where(audit_log.c.hash == link)
            ).one_or_none()
            if found is None or not isinstance(found.seq, int):
                return None
            if found.seq < verified_below:
                position = found.seq + steps + 1
                break
            link = str(found.prev_hash)
        else:
            return None
        if position != item.seq and _recompute(item, position) == item.hash:
            return position
        return None


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class _Stored:
    """A row as stored, ``details`` still as text (hashed as is)."""

    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    details_json: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class _Unreadable:
    """A row whose columns cannot be decoded (only SQLite lets such a value in)."""

    seq: int | None


def _stored(row: RowMapping) -> _Stored:
    seq, at = row["seq"], row["at"]
    if not isinstance(seq, int) or not isinstance(at, datetime):
        msg = f"audit row {seq!r}: unexpected column types"
        raise TypeError(msg)
    return _Stored(
        seq=seq,
        at=at,
        actor=str(row["actor"]),
        action=str(row["action"]),
        subject=str(row["subject"]),
        details_json=str(row["details"]),
        prev_hash=str(row["prev_hash"]),
        hash=str(row["hash"]),
    )


def _entry(item: _Stored) -> AuditEntry:
    try:
        details = json.loads(item.details_json)
    except ValueError as exc:
        raise StoreError("store.corrupt", f"audit entry {item.seq}: details are not JSON") from exc
    if not isinstance(details, dict):
        raise StoreError("store.corrupt", f"audit entry {item.seq}: details are not an object")
    return AuditEntry(
        seq=item.seq,
        at=item.at,
        actor=item.actor,
        action=item.action,
        subject=item.subject,
        details=MappingProxyType(details),
        prev_hash=item.prev_hash,
        hash=item.hash,
    )


def _recompute(item: _Stored, seq: int) -> str:
    return entry_hash(
        prev_hash=item.prev_hash,
        seq=seq,
        at=item.at,
        actor=item.actor,
        action=item.action,
        subject=item.subject,
        details_json=item.details_json,
    )


#: ``Connection.info`` key: the transaction that holds the chain's lock (PostgreSQL).
_CHAIN_LOCKED = "lienthong.audit.chain_locked"
#: ``connection.info`` key: (transaction, seq, hash) of this transaction's last append.
_HEAD = "lienthong.audit.head"


#: ``connection.info`` key: the transaction whose appends may skip reading the head.
_OWN_APPENDS = "lienthong.audit.own_appends"


def trust_own_appends(connection: Connection) -> None:
    """Let :meth:`AuditLog.append` continue, for the rest of the current transaction, from
    its own last append instead of reading the head each time (one statement less per entry).

    For a transaction that changes the log only through :class:`AuditLog` (the hub's group
    commit) and holds the chain's lock for its whole length (:func:`lock_chain` outside any
    SAVEPOINT): a row deleted or written behind its back in the same transaction would not be
    seen, and other transactions cannot interfere, since they wait for the lock. The insert
    then goes without a SAVEPOINT of its own (two round trips less on PostgreSQL): a failed
    append must be undone by the caller, as the group commit does (by its SAVEPOINT, or by
    rolling the whole group back and running it again).
    """
    transaction = connection.get_transaction()
    if transaction is not None:
        connection.info[_OWN_APPENDS] = transaction


@sa.event.listens_for(Engine, "rollback_savepoint")
def _forget_head(connection: Connection, name: str, context: object) -> None:
    """A rolled-back SAVEPOINT may have taken our last appended entry with it."""
    del name, context
    connection.info.pop(_HEAD, None)


def lock_chain(connection: Connection) -> None:
    """Take the chain's write lock, held until the caller's transaction ends.

    The one dialect-specific part of the audit log. Without it two appenders could both read
    entry N as the head and both write N + 1: the primary key refuses the second, but as an
    error, not as a wait.
    """
    dialect = connection.dialect.name
    if dialect == "postgresql":
        # Taken once per transaction: a later call in the same transaction does nothing (one
        # round trip less per entry when a hub group commit appends many) — unless the first
        # was inside a SAVEPOINT, whose rollback would release it.
        transaction = connection.get_transaction()
        if transaction is not None and connection.info.get(_CHAIN_LOCKED) is transaction:
            return
        # Released at commit or rollback; a second appender waits here, then reads the new head
        # (READ COMMITTED takes a fresh snapshot per statement).
        connection.execute(_PG_TAKE_LOCK, {"key": _PG_AUDIT_LOCK_KEY})
        if transaction is not None and not connection.in_nested_transaction():
            connection.info[_CHAIN_LOCKED] = transaction
    elif dialect == "sqlite":
        # SQLite has one write lock per database file. Our engine sends a plain (deferred)
        # BEGIN, which takes it only at the first write; an UPDATE that matches nothing is a
        # write, so it takes the lock now, before we read the head, waiting up to the busy
        # timeout for another writer to commit. The lock is the transaction's until it ends
        # (ROLLBACK TO a savepoint keeps it), so once per transaction is enough.
        transaction = connection.get_transaction()
        if transaction is not None and connection.info.get(_CHAIN_LOCKED) is transaction:
            return
        connection.execute(_SQLITE_TAKE_WRITE_LOCK)
        if transaction is not None:
            connection.info[_CHAIN_LOCKED] = transaction
    else:  # pragma: no cover - create_engine accepts only these two
        msg = f"unsupported dialect {dialect}"
        raise NotImplementedError(msg)


def _anchor(expected_head_hash: str) -> str:
    anchor = expected_head_hash.strip().lower()
    if not is_sha256(anchor):
        raise UsageError("usage.bad_argument", f"expected head hash {expected_head_hash!r:.80}")
    return anchor


def _check_text(name: str, value: str, limit: int, *, required: bool) -> None:
    if not isinstance(value, str):
        raise UsageError("audit.bad_entry", f"{name} must be text, not {type(value).__name__}")
    if required and not value.strip():
        raise UsageError("audit.bad_entry", f"{name} is empty")
    if len(value) > limit:
        raise UsageError("audit.bad_entry", f"{name} is longer than {limit} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL.
        raise UsageError("audit.bad_entry", f"{name} contains a NUL character")
    _check_utf8(name, value)


def _check_utf8(name: str, text: str) -> None:
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        # A lone surrogate: no UTF-8 form, so no hash anyone else could recompute.
        raise UsageError("audit.bad_entry", f"{name} is not valid Unicode text") from exc


def _details_json(details: Mapping[str, Any]) -> str:
    if not isinstance(details, Mapping):
        raise UsageError("audit.bad_entry", "details must be a mapping (a JSON object)")
    text = canonical_json(_plain(details, "details"))
    _check_utf8("details", text)
    if len(text) > MAX_DETAILS_CHARS:
        raise UsageError(
            "audit.bad_entry", f"details are {len(text)} characters, over {MAX_DETAILS_CHARS}"
        )
    return text


def _plain(value: object, path: str) -> object:
    """``value`` as plain JSON data (dict, list, str, int, bool, None), or ``audit.bad_entry``."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        raise UsageError(
            "audit.bad_entry", f"{path} is a float; record it as a string or an integer"
        )
    if isinstance(value, Mapping):
        plain: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise UsageError("audit.bad_entry", f"{path} has a non-text key {key!r:.40}")
            plain[key] = _plain(item, f"{path}.{key}")
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise UsageError("audit.bad_entry", f"{path} is a {type(value).__name__}, not JSON data")
