"""A PostgreSQL restart during load is survived by client retries (khởi động lại CSDL).

The hub runs on a **private PostgreSQL instance** made for this test (``initdb`` into a
temporary directory with the Debian binaries, on a free port of 127.0.0.1, as the
``postgres`` user when we are root), so that stopping it disturbs no other test running in
parallel on the shared server. Three signed clients send 300 documents through a live hub
(real HTTP, real signatures); in the middle the server is stopped — ``fast`` (connections
told to terminate) or ``immediate`` (killed: crash recovery at the next start) — and started
again a moment later. While it is down the hub answers 503 ``store.unavailable`` (a coded
problem) and the clients retry. Then every send has a receipt, the database holds each
document exactly once, the recipient's inbox and events have each once, the audit chain
verifies, the writer thread still commits, and the cross-process push bridge (LISTEN/NOTIFY)
delivers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from live_hub import RECIPIENT, SENDER, LiveHub, draft, live_hub

from lienthong.client.api import HubClient, HubError, HubEvent, ReceiveState, SendReceipt
from lienthong.domain.errors import StoreError
from lienthong.hub.push import Notifier, PgNotifyBridge
from lienthong.store.audit import AuditLog
from lienthong.store.engine import create_engine
from lienthong.store.group_commit import GroupCommitter
from lienthong.store.schema import deliveries, hub_events, packages

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SENDERS = 3
PER_SENDER = 100
DOWN_FOR = 2.0  #: seconds the server stays down


def _bin(name: str) -> str:
    found = sorted(str(p) for p in Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if not found:
        pytest.skip(f"no PostgreSQL server binaries ({name}) under /usr/lib/postgresql")
    return found[-1]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PrivatePg:
    """A PostgreSQL server of our own: ``stop``/``start`` it at will."""

    data: Path
    port: int
    as_root: bool

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = list(args)
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            msg = f"{' '.join(args)}: {result.stdout}{result.stderr}"
            raise RuntimeError(msg)

    def ctl(self, action: str, *options: str) -> None:
        log = str(self.data / "server.log")
        self._run(_bin("pg_ctl"), action, "-D", str(self.data), "-l", log, "-w", *options)

    def stop(self, mode: str) -> None:
        self.ctl("stop", "-m", mode)

    def start(self) -> None:
        self.ctl("start")

    def accepts(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True


@pytest.fixture
def private_pg() -> Iterator[PrivatePg]:
    initdb = _bin("initdb")
    as_root = os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="lienthong-pg-"))
    data = base / "data"
    data.mkdir()
    if as_root:
        shutil.chown(base, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
    server = PrivatePg(data, _free_port(), as_root)
    try:
        server._run(
            initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                f"\nport = {server.port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{data}'\nmax_connections = 40\n"
                "shared_buffers = 32MB\nfsync = on\nsynchronous_commit = on\n"
            )
        server.start()
        yield server
    finally:
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                server.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)


class _Watcher:
    """A notifier in its own event loop, fed by a LISTEN bridge: tells whether a wake came."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.notifier = Notifier()
        self.notifier.bind(self.loop)
        self.bridge = PgNotifyBridge(url, self.notifier)
        self.bridge.start()

    def expect(self, agency: str, timeout: float) -> Future[bool]:
        return asyncio.run_coroutine_threadsafe(self.notifier.wait(agency, timeout), self.loop)

    def close(self) -> None:
        self.bridge.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def _wakes_across(publisher: PgNotifyBridge, watcher: _Watcher, agency: str) -> bool:
    """Publish for ``agency`` until the watcher wakes (the listener may be reconnecting)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        woken = watcher.expect(agency, 1.0)
        time.sleep(0.05)  # the waiter registers on the loop
        # If the server is not back yet, the bridge reconnects at the next publish.
        with contextlib.suppress(psycopg.Error):
            publisher.publish([agency])
        if woken.result(timeout=5):
            return True
    return False


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_postgres_restart_during_load_loses_nothing_and_duplicates_nothing(
    private_pg: PrivatePg, tmp_path: Path, mode: str
) -> None:
    watcher = _Watcher(private_pg.url)
    publisher = PgNotifyBridge(private_pg.url, Notifier())
    try:
        with live_hub(private_pg.url, tmp_path) as live:
            assert _wakes_across(publisher, watcher, RECIPIENT)
            # The recipient's receive loop (SSE, long-poll fallback) runs through it all.
            announced: list[int] = []
            stop = threading.Event()
            state = ReceiveState()

            def handle(event: HubEvent) -> None:
                if event.kind == "package" and event.package_id is not None:
                    announced.append(event.package_id)

            receiving = live.client(RECIPIENT, retries=14, backoff=0.1)
            failed: list[BaseException] = []

            def receive() -> None:
                try:
                    receiving.receive(RECIPIENT, handle, state=state, stop=stop, poll_wait=2.0)
                except BaseException as exc:  # noqa: BLE001 - reported below (or torn down)
                    failed.append(exc)

            receiver = threading.Thread(target=receive, daemon=True)
            receiver.start()
            receipts, errors, during = _send_through_a_restart(live, private_pg, mode)
            assert not errors, errors[:3]
            _check_nothing_lost_nothing_twice(live, receipts)
            # A 503 with a coded problem while the server was down (what the clients retried).
            assert during, "the hub was never seen answering while the database was down"
            assert {(e.status, e.code) for e in during} == {(503, "store.unavailable")}
            # The writer thread survived: a send after the restart commits.
            assert live.hub.committer._thread.is_alive()
            extra = live.client(SENDER).send_document(
                draft(live.org(SENDER), [live.org(RECIPIENT)], "after-restart")
            )
            assert not extra.duplicate
            # The receive loop saw every package once, in order, and ends at the next event.
            expected = sorted([r.package_id for r in receipts] + [extra.package_id])
            deadline = time.monotonic() + 30
            while len(announced) < len(expected) and time.monotonic() < deadline:
                time.sleep(0.05)
            stop.set()
            live.client(SENDER).send_document(
                draft(live.org(SENDER), [live.org(RECIPIENT)], "last")
            )
            receiver.join(timeout=30)
            assert not receiver.is_alive()
            assert not failed, failed
            assert announced[: len(expected)] == expected
            # NOTIFY after the restart: the publisher's connection died with the server, and
            # the first publish retries on a fresh one instead of failing.
            publisher.publish([RECIPIENT])
            # The push bridge's listener reconnected: NOTIFY reaches the other "process".
            assert _wakes_across(publisher, watcher, RECIPIENT)
    finally:
        watcher.close()
        publisher.stop()


def _send_through_a_restart(
    live: LiveHub, server: PrivatePg, mode: str
) -> tuple[list[SendReceipt], list[BaseException], list[HubError]]:
    receipts: list[SendReceipt] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def send(index: int) -> None:
        client = live.client(SENDER, retries=14, backoff=0.1)
        for n in range(PER_SENDER):
            letter = draft(live.org(SENDER), [live.org(RECIPIENT)], f"{index}-{n}")
            try:
                receipt = client.send_document(letter)
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                with lock:
                    errors.append(exc)
                return
            with lock:
                receipts.append(receipt)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(SENDERS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(receipts) < SENDERS * PER_SENDER // 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not errors, errors[:3]
    assert len(receipts) < SENDERS * PER_SENDER, "the load ended before the restart"

    server.stop(mode)
    down_at = time.monotonic()
    probe = live.client(RECIPIENT, retries=0)
    during: list[HubError] = []
    try:  # a send while the server is down: refused with a 503, nothing stored
        live.client(SENDER, retries=0).send_document(
            draft(live.org(SENDER), [live.org(RECIPIENT)], "while-down")
        )
    except HubError as exc:
        during.append(exc)
    else:
        pytest.fail("a send was accepted while the database was down")
    while time.monotonic() - down_at < DOWN_FOR:
        try:
            probe.inbox(RECIPIENT, limit=1)
        except HubError as exc:
            during.append(exc)
        time.sleep(0.2)
    server.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(t.is_alive() for t in threads), "a sender never finished"
    return receipts, errors, during


def _check_nothing_lost_nothing_twice(live: LiveHub, receipts: list[SendReceipt]) -> None:
    total = SENDERS * PER_SENDER
    assert len(receipts) == total
    assert len({r.document_id for r in receipts}) == total
    assert len({r.package_id for r in receipts}) == total
    with live.hub.engine.connect() as connection:
        stored = connection.execute(
            sa.select(packages.c.id, packages.c.document_id).where(packages.c.sender_code == SENDER)
        ).all()
        assert len(stored) == total
        assert {row.document_id for row in stored} == {r.document_id for r in receipts}
        assert {row.id for row in stored} == {r.package_id for r in receipts}
        queued = connection.execute(
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where(deliveries.c.recipient_code == RECIPIENT)
        ).scalar_one()
        assert queued == total
        announced = connection.execute(
            sa.select(hub_events.c.package_id).where(
                hub_events.c.agency_code == RECIPIENT, hub_events.c.kind == "package"
            )
        ).all()
        assert sorted(row.package_id for row in announced) == sorted(r.package_id for r in receipts)
        verification = AuditLog(connection).verify()
        assert verification.ok, verification
    client: HubClient = live.client(RECIPIENT)
    seen: list[int] = []
    after = 0
    while True:
        page = client.inbox(RECIPIENT, limit=100, after_id=after)
        if not page:
            break
        seen.extend(int(item["package_id"]) for item in page)
        after = seen[-1]
    assert sorted(seen) == sorted(r.package_id for r in receipts)


def test_a_connection_lost_mid_group_gives_every_caller_store_unavailable(
    private_pg: PrivatePg,
) -> None:
    """The group committer when the server drops its connection in the middle of a group (as
    a restart does): the work that was running and every later work of the group get
    ``store.unavailable`` (a 503 at the edges, so clients retry) — not SQLAlchemy's
    ``PendingRollbackError`` (a 500) — nothing of the group is stored, and the next group
    commits on a new connection."""
    engine = create_engine(private_pg.url)
    committer = GroupCommitter(engine)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE marks (n integer)"))
        release = threading.Event()
        results: dict[str, BaseException | None] = {}

        def submit(name: str, work: Callable[[sa.Connection], object]) -> threading.Thread:
            def call() -> None:
                try:
                    committer.run(work)
                    results[name] = None
                except BaseException as exc:  # noqa: BLE001 - examined below
                    results[name] = exc

            thread = threading.Thread(target=call, daemon=True)
            thread.start()
            return thread

        def mark(n: int) -> Callable[[sa.Connection], object]:
            return lambda c: c.execute(sa.text("INSERT INTO marks VALUES (:n)"), {"n": n})

        def die(connection: sa.Connection) -> object:
            mark(2)(connection)
            return connection.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))

        started = threading.Event()

        def block(_connection: sa.Connection) -> object:
            started.set()
            return release.wait(10)

        blocker = submit("blocker", block)
        # The writer must be inside the blocker's group before the others are queued, or it
        # could take "before" into that group (it groups whatever is waiting when it starts).
        assert started.wait(10)
        threads = [blocker]
        for name, work in (("before", mark(1)), ("dies", die), ("after", mark(3))):
            queued = committer.queued()
            threads.append(submit(name, work))
            deadline = time.monotonic() + 5
            while committer.queued() <= queued and time.monotonic() < deadline:
                time.sleep(0.005)  # queued in this order, behind the blocker: one group
        release.set()
        for thread in threads:
            thread.join(timeout=30)
        assert results["blocker"] is None
        for name in ("before", "dies", "after"):
            error = results[name]
            assert isinstance(error, StoreError), (name, error)
            assert error.code == "store.unavailable"
        committer.run(mark(4))
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT n FROM marks ORDER BY n")).scalars().all()
        assert stored == [4]
    finally:
        committer.close()
        engine.dispose()
