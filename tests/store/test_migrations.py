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


def test_0005_keeps_the_deliveries_and_allows_the_pdf_check_states(empty_engine: Engine) -> None:
    """0004 → 0005 keeps rows; ``held``/``refused`` and ``pdf_state`` are accepted after it and
    refused before; the downgrade delivers held packages (queued) and fails refused ones."""
    upgrade(empty_engine, "0004")
    at = "2026-11-27 00:00:00+00:00"
    insert_package = sa.text(
        "INSERT INTO packages (id, document_id, sender_code, kind, sha256, size, stored_at,"
        " idem_key) VALUES (:id, :doc, 'S', 'document', :sha, 1, :at, :doc)"
    )
    insert_delivery = sa.text(
        "INSERT INTO deliveries (package_id, recipient_code, state, attempts, queued_at)"
        " VALUES (:id, :to, :state, 0, :at)"
    )
    with empty_engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO agencies (code, name, level, status, created_at)"
                                   " VALUES ('S', 'S', 1, 'active', :at)"), {"at": at})  # fmt: skip
        for number in (1, 2, 3):
            connection.execute(
                insert_package, {"id": number, "doc": f"d{number}", "sha": "0" * 64, "at": at}
            )
        connection.execute(insert_delivery, {"id": 1, "to": "R", "state": "queued", "at": at})
    with pytest.raises(sa.exc.IntegrityError), empty_engine.begin() as connection:
        connection.execute(insert_delivery, {"id": 2, "to": "R", "state": "held", "at": at})

    upgrade(empty_engine)

    with empty_engine.begin() as connection:
        connection.execute(insert_delivery, {"id": 2, "to": "R", "state": "held", "at": at})
        connection.execute(insert_delivery, {"id": 3, "to": "R", "state": "refused", "at": at})
        connection.execute(sa.text("UPDATE packages SET pdf_state = 'pending' WHERE id = 2"))
        states = dict(connection.execute(sa.text("SELECT package_id, state FROM deliveries")).all())
    assert states == {1: "queued", 2: "held", 3: "refused"}
    with pytest.raises(sa.exc.IntegrityError), empty_engine.begin() as connection:
        connection.execute(sa.text("UPDATE packages SET pdf_state = 'maybe' WHERE id = 3"))

    downgrade(empty_engine, "0004")

    with empty_engine.connect() as connection:
        states = dict(connection.execute(sa.text("SELECT package_id, state FROM deliveries")).all())
    assert states == {1: "queued", 2: "queued", 3: "failed"}
