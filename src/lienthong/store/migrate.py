"""Schema migrations (nâng cấp cấu trúc dữ liệu) with Alembic, without an ``alembic.ini`` on disk.

The migration scripts ship inside the package (``lienthong/store/migrations``); the Alembic
configuration is built here in code, so that an installed wheel can migrate any database it is
pointed at. One history serves SQLite and PostgreSQL.

Each upgrade or downgrade runs in one transaction. On PostgreSQL it first takes an advisory
lock, so that several hub processes starting together migrate once and the others wait, then
find nothing to do. On SQLite foreign-key enforcement is switched off for the duration (batch
mode rebuilds tables, which would otherwise trip over the keys pointing at them) and every key
is checked before the commit, as SQLite's own procedure for schema changes prescribes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from lienthong.domain.errors import StoreError

#: Where the Alembic environment and revisions live (inside the installed package).
MIGRATIONS_DIR: Final = Path(__file__).resolve().with_name("migrations")

# Any fixed 64-bit key works as long as nothing else in the database uses it; this one spells
# "lienthong" in ASCII, truncated.
_PG_MIGRATION_LOCK_KEY: Final = 0x6C69656E74686F6E


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration, built in code; ``connection`` is handed to ``env.py``."""
    config = Config()
    # ConfigParser interpolation treats "%" specially, and an install path may contain one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this version of lienthong."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the migration history is empty"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` for a database never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the database up to ``revision`` (default: the newest)."""
    with _migrating(engine) as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Take the database down to ``revision`` (``"base"`` drops every table we created)."""
    with _migrating(engine) as connection:
        command.downgrade(alembic_config(connection), revision)


@contextlib.contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    with (
        engine.connect() as connection,
        _sqlite_foreign_keys_off(connection),
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            # Released at commit or rollback; waiting here is the point.
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"),
                {"key": _PG_MIGRATION_LOCK_KEY},
            )
        yield connection
        _check_sqlite_foreign_keys(connection)


@contextlib.contextmanager
def _sqlite_foreign_keys_off(connection: Connection) -> Iterator[None]:
    if connection.dialect.name != "sqlite":
        yield
        return
    # PRAGMA foreign_keys is a no-op inside a transaction, so it goes straight to the driver
    # connection, before SQLAlchemy begins one (our engine runs sqlite3 in autocommit mode and
    # emits BEGIN itself).
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute("PRAGMA foreign_keys = OFF")
    try:
        yield
    finally:
        # The connection goes back to the pool: it must enforce keys again for the next user.
        driver.execute("PRAGMA foreign_keys = ON")


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    if connection.dialect.name != "sqlite":
        return
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        tables = sorted({str(row[0]) for row in broken})
        raise StoreError(
            "store.migration_failed",
            f"{len(broken)} rows break a foreign key after migrating (tables: {', '.join(tables)})",
        )
