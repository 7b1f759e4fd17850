"""The Alembic history produces exactly ``lienthong.store.schema``, on both engines.

Tests taking ``empty_engine`` or ``engine`` run on SQLite and PostgreSQL (see ``conftest.py``).
The drift test (procrastinate's migration test, done with Alembic's comparator): migrate an
empty database to head, then ask autogenerate what it would change to reach the metadata; the
answer must be nothing. Autogenerate does not compare CHECK constraints, so they are compared
by name separately.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

import lienthong
from lienthong.store.engine import create_engine
from lienthong.store.migrate import (
    MIGRATIONS_DIR,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)
from lienthong.store.schema import metadata


@pytest.fixture
def empty_engine(empty_db_url: str) -> Iterator[Engine]:
    engine = create_engine(empty_db_url)
    yield engine
    engine.dispose()


def _drift(engine: Engine) -> list[Any]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))


def _check_constraints(engine: Engine) -> dict[str, set[str]]:
    inspector = sa.inspect(engine)
    return {
        table: {str(check["name"]) for check in inspector.get_check_constraints(table)}
        for table in metadata.tables
    }


def _our_tables(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version", "sqlite_sequence"}


def test_upgrade_on_an_empty_database_produces_exactly_the_metadata(empty_engine: Engine) -> None:
    assert current_revision(empty_engine) is None
    assert _our_tables(empty_engine) == set()

    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert _drift(empty_engine) == []
    expected_checks = {
        table.name: {
            str(constraint.name)
            for constraint in table.constraints
            if isinstance(constraint, sa.CheckConstraint)
        }
        for table in metadata.tables.values()
    }
    assert _check_constraints(empty_engine) == expected_checks


def test_downgrade_to_base_then_upgrade_to_head(empty_engine: Engine) -> None:
    upgrade(empty_engine)

    downgrade(empty_engine, "base")

    assert current_revision(empty_engine) is None
    assert _our_tables(empty_engine) == set()

    upgrade(empty_engine, "head")

    assert current_revision(empty_engine) == head_revision()
    assert _drift(empty_engine) == []


def test_upgrading_twice_changes_nothing(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    upgrade(empty_engine)

    assert current_revision(empty_engine) == head_revision()
    assert _drift(empty_engine) == []


def test_the_session_database_is_at_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


@pytest.mark.unit
def test_there_is_one_linear_history_without_an_ini_file() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())

    assert scripts.get_heads() == [head_revision()]
    assert list(scripts.get_bases()) == ["0001"]
    assert not list(MIGRATIONS_DIR.glob("*.ini"))
    assert MIGRATIONS_DIR.is_relative_to(Path(lienthong.__file__).parent)


@pytest.mark.integration
def test_sqlite_enforces_foreign_keys_again_after_migrating(tmp_path: Path) -> None:
    # Migrations switch SQLite's key enforcement off (batch mode rebuilds tables); the pooled
    # connection they used must come back with it on.
    engine = create_engine(f"sqlite:///{tmp_path / 'fk.db'}")
    try:
        upgrade(engine)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
