"""Shared fixtures: real databases (SQLite and PostgreSQL), a transaction per test, a blob store.

Database fixtures, from the outside in:

``db_url``      session-scoped, parametrised ``sqlite`` / ``postgresql``: the URL of this
                worker's own database (a file in a temporary directory, or a PostgreSQL
                database created for this worker and dropped at the end of the session).
``engine``      session-scoped per back-end: an engine on ``db_url``, migrated to head with
                Alembic (the same path production takes, not ``metadata.create_all``).
``connection``  per test: a connection inside an outer transaction that is rolled back when
                the test ends, so tests never see each other's rows. Code under test may open
                SAVEPOINTs (``connection.begin_nested()``) but must not commit.
``empty_db_url``  per test, parametrised: a brand-new, never-migrated database.

PostgreSQL: ``LIENTHONG_TEST_PG_URL`` (default ``postgresql://postgres@127.0.0.1/test``) names
a server and a database to connect to for ``CREATE DATABASE``. When it cannot be reached, the
PostgreSQL tests fail, unless ``LIENTHONG_TEST_PG=skip`` says this machine has no PostgreSQL.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url

from lienthong.domain.errors import StoreError
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine, redact
from lienthong.store.migrate import upgrade

PG_URL_ENV = "LIENTHONG_TEST_PG_URL"
PG_DEFAULT_URL = "postgresql://postgres@127.0.0.1/test"
PG_SWITCH_ENV = "LIENTHONG_TEST_PG"

# Every database test is an integration test: the marker comes with the back-end parameter.
BACKENDS = [
    pytest.param("sqlite", marks=pytest.mark.integration, id="sqlite"),
    pytest.param("postgresql", marks=pytest.mark.integration, id="postgresql"),
]

_SAFE_NAME = re.compile(r"[a-z0-9_]{1,63}")


class PgDatabases:
    """Creates and drops this worker's PostgreSQL databases on the server under test.

    Names carry the xdist worker id and the test run id: two workers of one run never share a
    database, and neither do two runs started at the same time on one machine (other people's
    ``make test`` included), which would otherwise drop each other's databases.
    """

    def __init__(self, base_url: str, prefix: str) -> None:
        self.base_url = base_url
        self.prefix = prefix
        self._admin = create_engine(base_url)
        self._created: list[str] = []
        self._counter = itertools.count(1)

    def check(self) -> None:
        """Connect once; raises ``StoreError("store.unavailable")`` if the server is down."""
        with self._admin.connect() as connection:
            connection.execute(sa.text("SELECT 1"))

    def create(self, suffix: str = "") -> str:
        """Create a fresh database (dropping a leftover of the same name) and return its URL."""
        name = f"{self.prefix}_{suffix}" if suffix else self.prefix
        assert _SAFE_NAME.fullmatch(name), name
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        # template0 + UTF8: Vietnamese text must round-trip whatever the cluster's default is.
        self._execute(f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' TEMPLATE template0")
        self._created.append(name)
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    def create_unique(self) -> str:
        """Create another fresh database for one test."""
        return self.create(f"t{next(self._counter)}")

    def drop(self, url: str) -> None:
        """Drop the database of ``url`` (FORCE: a leaked connection must not keep it alive)."""
        name = make_url(url).database
        assert name in self._created, name
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.remove(name)

    def close(self) -> None:
        """Drop whatever is left and release the admin connection pool."""
        for name in list(self._created):
            self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._created.clear()
        self._admin.dispose()

    def _execute(self, sql: str) -> None:
        # CREATE/DROP DATABASE cannot run inside a transaction block.
        with self._admin.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.exec_driver_sql(sql)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist registers this marker, but not when it is disabled (-p no:xdist), and
    # --strict-markers would then refuse the collection.
    config.addinivalue_line("markers", "xdist_group(name): run these tests on one xdist worker")


def _worker_and_run(config: pytest.Config) -> tuple[str, str]:
    # What xdist's worker_id and testrun_uid fixtures give, also when xdist is disabled.
    workerinput: dict[str, str] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        return workerinput["workerid"], workerinput["testrunuid"]
    return "master", uuid.uuid4().hex


@pytest.fixture(scope="session")
def pg_databases(request: pytest.FixtureRequest) -> Iterator[PgDatabases]:
    """The PostgreSQL server under test; fails (or skips, if told to) when it is unreachable."""
    base_url = os.environ.get(PG_URL_ENV, "").strip() or PG_DEFAULT_URL
    worker, run = _worker_and_run(request.config)
    prefix = f"lienthong_test_{worker}_{run[:8]}".lower()
    databases = PgDatabases(base_url, prefix)
    try:
        databases.check()
    except StoreError as exc:
        databases.close()
        reason = f"PostgreSQL at {redact(base_url)} is unreachable: {exc}"
        if os.environ.get(PG_SWITCH_ENV, "").strip().lower() == "skip":
            pytest.skip(f"{reason} ({PG_SWITCH_ENV}=skip)")
        pytest.fail(
            f"{reason}. Start it, point {PG_URL_ENV} at one, or set {PG_SWITCH_ENV}=skip.",
            pytrace=False,
        )
    yield databases
    databases.close()


@pytest.fixture(scope="session", params=BACKENDS)
def db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """This worker's database for one back-end (not migrated: see ``engine``)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'lienthong.db'}"
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = databases.create()
    yield url
    databases.drop(url)


@pytest.fixture(scope="session")
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on ``db_url``, migrated once per session with Alembic."""
    engine = create_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test (warehouse's pattern).

    Repositories take this connection as they would take a request's connection in the hub.
    SAVEPOINTs inside it work on both engines; a commit would leak rows into later tests, so
    it fails the test instead.
    """

    commits: list[Connection] = []

    def refuse_commit(connection: Connection) -> None:
        # Raising here stops the commit before it reaches the database.
        commits.append(connection)
        pytest.fail("code under test committed the test transaction; repositories must not")

    with engine.connect() as connection:
        transaction = connection.begin()
        event.listen(connection, "commit", refuse_commit)
        try:
            yield connection
        finally:
            event.remove(connection, "commit", refuse_commit)
            if commits:
                # SQLAlchemy now believes no transaction is open while the driver still has
                # one, so the pool would skip its reset: discard the connection instead.
                connection.invalidate()
            elif transaction.is_active:
                transaction.rollback()


@pytest.fixture(params=BACKENDS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new database that has never been migrated, for migration tests."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    databases: PgDatabases = request.getfixturevalue("pg_databases")
    url = databases.create_unique()
    yield url
    databases.drop(url)


@pytest.fixture
def blob_store(tmp_path: Path) -> BlobStore:
    """An empty blob store in the test's temporary directory."""
    return BlobStore(tmp_path / "blobs")


# --------------------------------------------------------------------------- SoftHSM2
# A fresh SoftHSM2 token per test, for the PKCS#11 tests of the PKI, the CA directory and
# signing. SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised (``C_Initialize``)
# and does not notice tokens created afterwards, so the fixture points the variable at this
# test's own token directory and re-initialises the module. Under xdist every worker is its
# own process with its own module, and every test its own ``tmp_path``: nothing is shared.
# SoftHSM2 missing is a failure, not a skip: the PKCS#11 path is part of the product.

SOFTHSM_LIBRARIES = (
    Path("/usr/lib/softhsm/libsofthsm2.so"),
    Path("/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"),
)


@dataclass(frozen=True)
class SoftHsmToken:
    """An initialised SoftHSM2 token: where the module is and how to log in."""

    library: Path
    label: str
    pin: str
    so_pin: str
    conf: Path


def softhsm_library() -> Path:
    """The SoftHSM2 module, or a test failure saying how to install it."""
    for candidate in SOFTHSM_LIBRARIES:
        if candidate.exists():
            # The real path: pkcs11.lib() keeps one module per path string, and
            # lienthong.pki.pkcs11_key uses the real path too.
            return candidate.resolve()
    pytest.fail(
        "SoftHSM2 is not installed (no libsofthsm2.so in "
        + ", ".join(str(p) for p in SOFTHSM_LIBRARIES)
        + "): apt-get install softhsm2",
        pytrace=False,
    )


@pytest.fixture
def softhsm_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SoftHsmToken:
    """A new, empty SoftHSM2 token in this test's temporary directory."""
    library = softhsm_library()
    util = shutil.which("softhsm2-util")
    if util is None:
        pytest.fail("SoftHSM2 is not installed (no softhsm2-util): apt-get install softhsm2")
    tokens = tmp_path / "softhsm-tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SOFTHSM2_CONF", str(conf))
    token = SoftHsmToken(library, "lienthong-test", "123456", "12345678", conf)
    subprocess.run(
        [
            util,
            "--init-token",
            "--free",
            "--label",
            token.label,
            "--so-pin",
            token.so_pin,
            "--pin",
            token.pin,
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "SOFTHSM2_CONF": str(conf)},
    )
    # C_Finalize + C_Initialize: the module forgets the previous test's token directory.
    # Keys opened by an earlier test in this worker are closed by then (tests use `with`).
    pkcs11.lib(str(library)).reinitialize()
    return token
