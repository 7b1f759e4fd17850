"""Repositories (kho dữ liệu) over a SQLAlchemy Core ``Connection``: same code on both engines.

A repository never commits: the caller owns the transaction (one unit of work, e.g. "store
the package, record the trace, queue the deliveries"), and commits once everything is written.
Writes that may be refused by a constraint run inside a SAVEPOINT, so that a refusal leaves
the caller's transaction usable (PostgreSQL aborts the whole transaction on an error
otherwise). Results are plain frozen dataclasses; no SQLAlchemy row leaves this module.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, RowMapping
from sqlalchemy.exc import IntegrityError

from lienthong.domain.errors import StoreError, UsageError
from lienthong.store.blobs import is_sha256
from lienthong.store.schema import PACKAGE_KINDS, agencies, packages

AgencyStatus = Literal["active", "retired"]
PackageKind = Literal["document", "status"]


@dataclass(frozen=True, slots=True)
class AgencyRecord:
    """An agency (cơ quan) as stored."""

    code: str
    name: str
    level: int | None
    parent_code: str | None
    status: AgencyStatus
    successor_code: str | None
    email: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PackageRecord:
    """A stored package (gói tin): where its bytes are and when it was stored."""

    id: int
    document_id: str
    sender_code: str
    kind: PackageKind
    sha256: str
    size: int
    stored_at: datetime


#: Built once: constructing a statement costs more than running it (the hub resolves every
#: recipient with it, in the writer's transaction).
_FIND_AGENCY = sa.select(agencies).where(agencies.c.code == sa.bindparam("code"))


class AgencyRepository:
    """Agencies: add, look up, list the children of one, retire one in favour of a successor."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def add(
        self,
        *,
        code: str,
        name: str,
        created_at: datetime,
        level: int | None = None,
        parent_code: str | None = None,
        email: str | None = None,
    ) -> AgencyRecord:
        """Insert an active agency.

        Raises ``store.conflict`` if ``code`` exists, ``store.bad_reference`` if ``parent_code``
        names no agency.
        """
        _require_aware("created_at", created_at)
        if parent_code is not None and parent_code == code:
            raise UsageError("usage.bad_argument", f"agency {code} cannot be its own parent")
        values: dict[str, Any] = {
            "code": code,
            "name": name,
            "level": level,
            "parent_code": parent_code,
            "status": "active",
            "successor_code": None,
            "email": email,
            "created_at": created_at,
        }
        _guarded(self._conn, sa.insert(agencies).values(values), what=f"agency {code}")
        return self.get(code)

    def get(self, code: str) -> AgencyRecord:
        """Return the agency ``code``; ``store.not_found`` if there is none."""
        found = self.find(code)
        if found is None:
            raise StoreError("store.not_found", f"agency {code}")
        return found

    def find(self, code: str) -> AgencyRecord | None:
        """Return the agency ``code``, or ``None``."""
        found = self._conn.execute(_FIND_AGENCY, {"code": code}).mappings().one_or_none()
        return None if found is None else _agency(found)

    def list_children(self, parent_code: str) -> list[AgencyRecord]:
        """Agencies directly under ``parent_code`` (retired ones included), ordered by code."""
        rows = self._conn.execute(
            sa.select(agencies)
            .where(agencies.c.parent_code == parent_code)
            .order_by(agencies.c.code)
        ).mappings()
        return [_agency(row) for row in rows]

    def retire(self, code: str, successor_code: str | None = None) -> AgencyRecord:
        """Mark ``code`` retired; documents for it should go to ``successor_code`` from now on.

        Raises ``store.not_found`` if ``code`` is unknown, ``store.bad_reference`` if the
        successor is unknown.
        """
        if successor_code is not None and successor_code == code:
            raise UsageError("usage.bad_argument", f"agency {code} cannot succeed itself")
        statement = (
            sa.update(agencies)
            .where(agencies.c.code == code)
            .values(status="retired", successor_code=successor_code)
        )
        updated = _guarded(self._conn, statement, what=f"successor {successor_code} of {code}")
        if updated == 0:
            raise StoreError("store.not_found", f"agency {code}")
        return self.get(code)


class PackageRepository:
    """Stored packages, idempotent on (sender, document id, content hash)."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection

    def record(
        self,
        *,
        document_id: str,
        sender_code: str,
        kind: PackageKind,
        sha256: str,
        size: int,
        stored_at: datetime,
    ) -> int:
        """Record a stored package and return its id.

        A resend (same sender, document id and content hash) records nothing and returns the
        id of the original, so that the sender gets its original receipt (DESIGN: nothing
        twice).
        """
        _require_aware("stored_at", stored_at)
        if kind not in PACKAGE_KINDS:
            raise UsageError("usage.bad_argument", f"package kind {kind!r}")
        if size < 0:
            raise UsageError("usage.bad_argument", f"package size {size}")
        if not is_sha256(sha256):
            # The row names a blob; a key the blob store would refuse would name nothing.
            raise UsageError("usage.bad_argument", f"package sha256 {sha256!r:.80}")
        values: dict[str, Any] = {
            "document_id": document_id,
            "sender_code": sender_code,
            "kind": kind,
            "sha256": sha256,
            "size": size,
            "stored_at": stored_at,
        }
        key = (packages.c.sender_code, packages.c.document_id, packages.c.sha256)
        inserted = _insert_unless_exists(self._conn, packages, values, key, returning=packages.c.id)
        if inserted is not None:
            return int(inserted)
        existing = self._conn.execute(
            sa.select(packages.c.id).where(*(column == values[column.name] for column in key))
        ).scalar_one()
        return int(existing)

    def get(self, package_id: int) -> PackageRecord:
        """Return the package ``package_id``; ``store.not_found`` if there is none."""
        found = (
            self._conn.execute(sa.select(packages).where(packages.c.id == package_id))
            .mappings()
            .one_or_none()
        )
        if found is None:
            raise StoreError("store.not_found", f"package {package_id}")
        return _package(found)

    def get_by_document_id(self, document_id: str) -> list[PackageRecord]:
        """All packages carrying ``document_id``, oldest first.

        A document id is not unique on its own: the document package and the status packages
        about it share it, and a sender may send corrected content under the same id.
        """
        rows = self._conn.execute(
            sa.select(packages).where(packages.c.document_id == document_id).order_by(packages.c.id)
        ).mappings()
        return [_package(row) for row in rows]

    def count(self) -> int:
        """How many packages are stored."""
        return int(
            self._conn.execute(sa.select(sa.func.count()).select_from(packages)).scalar_one()
        )


# --------------------------------------------------------------------------- helpers


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError("usage.bad_argument", f"{name} must be timezone-aware")


def _guarded(connection: Connection, statement: sa.Executable, *, what: str) -> int:
    """Run a write in a SAVEPOINT and turn constraint refusals into ``StoreError``.

    Returns the number of rows the statement touched.
    """
    try:
        with connection.begin_nested():
            result = connection.execute(statement)
    except IntegrityError as exc:
        code = _integrity_code(exc)
        if code is None:
            raise
        raise StoreError(code, what) from exc
    return result.rowcount


def _integrity_code(exc: IntegrityError) -> str | None:
    """Map a driver's integrity error to our code; ``None`` for a bug we do not translate.

    The only place that knows how each driver reports which constraint failed.
    """
    original = exc.orig
    # psycopg: SQLSTATE class 23 (PostgreSQL manual, Appendix A).
    sqlstate = getattr(original, "sqlstate", None)
    if sqlstate == "23505":
        return "store.conflict"
    if sqlstate == "23503":
        return "store.bad_reference"
    # sqlite3 (Python 3.11+): extended result code names.
    name = getattr(original, "sqlite_errorname", None)
    if name in {"SQLITE_CONSTRAINT_PRIMARYKEY", "SQLITE_CONSTRAINT_UNIQUE"}:
        return "store.conflict"
    if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
        return "store.bad_reference"
    return None


def _insert_unless_exists(
    connection: Connection,
    table: sa.Table,
    values: Mapping[str, Any],
    key: Sequence[sa.Column[Any]],
    *,
    returning: sa.Column[Any],
) -> Any | None:
    """``INSERT … ON CONFLICT (key) DO NOTHING RETURNING …``; ``None`` if the key existed.

    The one dialect-specific statement in the store: both engines support the clause, but
    SQLAlchemy builds it from each dialect's own ``insert``. Unlike "insert, catch, select", it
    cannot fail on a concurrent insert of the same key: PostgreSQL waits for the other
    transaction and then does nothing.
    """
    dialect = connection.dialect.name
    insert: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        insert = postgresql.insert(table).values(dict(values))
    elif dialect == "sqlite":
        insert = sqlite.insert(table).values(dict(values))
    else:  # pragma: no cover - create_engine accepts only these two
        msg = f"unsupported dialect {dialect}"
        raise NotImplementedError(msg)
    statement = insert.on_conflict_do_nothing(index_elements=list(key)).returning(returning)
    try:
        with connection.begin_nested():
            return connection.execute(statement).scalar_one_or_none()
    except IntegrityError as exc:
        code = _integrity_code(exc)
        if code is None:
            raise
        raise StoreError(code, f"{table.name} {dict(values)}") from exc


def _agency(row: RowMapping) -> AgencyRecord:
    return AgencyRecord(
        code=row["code"],
        name=row["name"],
        level=row["level"],
        parent_code=row["parent_code"],
        status=row["status"],
        successor_code=row["successor_code"],
        email=row["email"],
        created_at=row["created_at"],
    )


def _package(row: RowMapping) -> PackageRecord:
    return PackageRecord(
        id=int(row["id"]),
        document_id=row["document_id"],
        sender_code=row["sender_code"],
        kind=row["kind"],
        sha256=row["sha256"],
        size=int(row["size"]),
        stored_at=row["stored_at"],
    )
