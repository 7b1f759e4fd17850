"""Alembic environment for lienthong: one migration history for SQLite and PostgreSQL.

There is no ``alembic.ini``: :mod:`lienthong.store.migrate` builds the configuration in code and
hands over an open connection in ``config.attributes["connection"]``, already inside the
transaction (and, on PostgreSQL, holding the migration lock) that the whole upgrade runs in.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from lienthong.store.schema import metadata


def run_migrations_online() -> None:
    """Run the migrations on the connection given by :mod:`lienthong.store.migrate`."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        msg = "run migrations through lienthong.store.migrate, which supplies the connection"
        raise TypeError(msg)
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode copies the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        # Our SQLite engine emits BEGIN itself, so DDL is transactional there too: a failed
        # migration leaves the schema and alembic_version as they were, on both engines.
        transactional_ddl=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    msg = "offline (--sql) migrations are not supported; run them against a database"
    raise NotImplementedError(msg)
run_migrations_online()
