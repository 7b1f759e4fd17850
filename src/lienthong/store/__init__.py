"""Persistence (lưu trữ): SQLAlchemy Core tables, repositories, Alembic migrations, blob store.

One URL setting picks the database: SQLite (WAL) by default, PostgreSQL in production, with the
same tables, migrations and repositories on both. SQLAlchemy types stay inside this package;
callers get our own dataclasses and :class:`~lienthong.domain.errors.StoreError`.

Migrations live in :mod:`lienthong.store.migrate` (not re-exported here, so that importing the
store does not import Alembic).
"""

from __future__ import annotations

from lienthong.store.blobs import BlobStore
from lienthong.store.engine import DB_URL_ENV, DEFAULT_DB_URL, create_engine, database_url
from lienthong.store.repositories import (
    AgencyRecord,
    AgencyRepository,
    PackageRecord,
    PackageRepository,
)

__all__ = [
    "DB_URL_ENV",
    "DEFAULT_DB_URL",
    "AgencyRecord",
    "AgencyRepository",
    "BlobStore",
    "PackageRecord",
    "PackageRepository",
    "create_engine",
    "database_url",
]
