"""Push (đẩy thông báo): wake the agencies' event streams the moment something happens.

The hub's events live in the store (``HubService.events``); this module only tells waiting
Server-Sent-Event streams and long-polls *when* to look again, so that a recipient learns of a
new package within milliseconds instead of a polling interval:

* :class:`Notifier` — in-process: one :class:`asyncio.Event` generation per agency, woken from
  any thread (:meth:`Notifier.wake` is thread-safe).
* The core (``lienthong.hub.service.Hub``) calls its listeners after every commit with the
  agencies that got events; ``create_hub_app`` subscribes the notifier there, so sends through
  any edge (``/v1``, VDXP) wake the streams. :class:`NotifyingHub` does the same for a
  :class:`~lienthong.hub.api.HubService` without ``listen`` (it wraps send and acknowledge).
* :class:`PgNotifyBridge` — across processes on PostgreSQL: ``NOTIFY lienthong_events`` with
  the agency codes after each write, and a listener thread in each process that wakes its own
  notifier. Streams also re-read the store every ``poll_interval`` as a safety net, so a lost
  notification only delays, never loses, an event.
* :class:`LocalWakeBridge` — across processes on one machine (SQLite, ``hub serve --workers
  N``): each process receives on a UDP socket on 127.0.0.1 whose port it announces by a file
  in a shared directory, and sends the same payload as NOTIFY to the others' ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path

from lienthong.hub.api import Caller, Event, HubService, InboxItem, Receipt, SentItem

log = logging.getLogger(__name__)

CHANNEL = "lienthong_events"
#: Postgres NOTIFY payloads are limited to 8000 bytes; above that, wake everyone.
_MAX_PAYLOAD = 7000
WAKE_ALL = "*"


class Notifier:
    """Per-agency wake-ups for coroutines waiting in one event loop."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._lock = threading.Lock()
        self._forward: list[Callable[[Sequence[str]], None]] = []

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach to the server's event loop (done at start-up)."""
        self._loop = loop

    def forward_to(self, sink: Callable[[Sequence[str]], None]) -> None:
        """Also pass every local wake to ``sink`` (e.g. Postgres NOTIFY for other processes)."""
        self._forward.append(sink)

    def wake(self, agencies: Iterable[str], *, local_only: bool = False) -> None:
        """Wake the streams of ``agencies`` (``*`` wakes all); safe from any thread."""
        codes = sorted(set(agencies))
        if not codes:
            return
        if not local_only:
            for sink in self._forward:
                try:
                    sink(codes)
                except Exception:  # a failed NOTIFY must not fail the send; streams re-poll
                    log.warning("push forward failed", exc_info=True)
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._set(codes)
        else:
            with contextlib.suppress(RuntimeError):  # loop closing
                loop.call_soon_threadsafe(self._set, codes)

    def _set(self, codes: Sequence[str]) -> None:
        with self._lock:
            if WAKE_ALL in codes:
                targets = [e for events in self._waiters.values() for e in events]
            else:
                targets = [e for code in codes for e in self._waiters.get(code, ())]
        for event in targets:
            event.set()

    async def wait(self, agency: str, timeout: float) -> bool:
        """Wait until ``agency`` is woken or ``timeout`` passes; ``True`` if woken."""
        if self._loop is None:  # served without a lifespan: bind on first use
            self._loop = asyncio.get_running_loop()
        event = asyncio.Event()
        with self._lock:
            self._waiters.setdefault(agency, set()).add(event)
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            return False
        finally:
            with self._lock:
                waiting = self._waiters.get(agency)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[agency]
        return True

    def listening(self) -> int:
        """How many streams are waiting (for the metrics)."""
        with self._lock:
            return sum(len(v) for v in self._waiters.values())


class NotifyingHub:
    """A :class:`HubService` that wakes the notifier after every write."""

    def __init__(self, hub: HubService, notifier: Notifier) -> None:
        self.inner = hub
        self.notifier = notifier

    def __getattr__(self, name: str) -> object:  # the core's extra methods (registry, …)
        return getattr(self.inner, name)

    def send(self, caller: Caller, edxml: bytes, *, now: datetime) -> Receipt:
        receipt = self.inner.send(caller, edxml, now=now)
        if not receipt.duplicate:
            self.notifier.wake([*receipt.recipients, *caller.agencies])
        return receipt

    def inbox(
        self,
        caller: Caller,
        agency: str,
        *,
        include_fetched: bool = True,
        limit: int = 100,
        after_id: int = 0,
    ) -> Sequence[InboxItem]:
        return self.inner.inbox(
            caller, agency, include_fetched=include_fetched, limit=limit, after_id=after_id
        )

    def fetch(self, caller: Caller, package_id: int, agency: str, *, now: datetime) -> bytes:
        return self.inner.fetch(caller, package_id, agency, now=now)

    def acknowledge(
        self,
        caller: Caller,
        package_id: int,
        agency: str,
        *,
        ok: bool,
        reason: str | None = None,
        now: datetime,
    ) -> InboxItem:
        item = self.inner.acknowledge(caller, package_id, agency, ok=ok, reason=reason, now=now)
        self.notifier.wake([item.sender, agency])
        return item

    def sent(
        self, caller: Caller, agency: str, *, limit: int = 100, after_id: int = 0
    ) -> Sequence[SentItem]:
        return self.inner.sent(caller, agency, limit=limit, after_id=after_id)

    def events(
        self, caller: Caller, agency: str, *, after_seq: int = 0, limit: int = 100
    ) -> Sequence[Event]:
        return self.inner.events(caller, agency, after_seq=after_seq, limit=limit)


class PgNotifyBridge:
    """Fan-out across hub processes on one PostgreSQL with ``LISTEN/NOTIFY``.

    ``publish`` (given to :meth:`Notifier.forward_to`) sends ``NOTIFY lienthong_events`` with
    the agency codes joined by commas; a daemon thread ``LISTEN``\\ s and wakes the local
    notifier (``local_only``, so that nothing echoes). ``url`` is a libpq URL
    (``postgresql://…``; a SQLAlchemy ``postgresql+psycopg://`` prefix is accepted).
    """

    def __init__(self, url: str, notifier: Notifier) -> None:
        self._url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._notifier = notifier
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._send_lock = threading.Lock()
        self._sender: object | None = None

    def start(self) -> None:
        """Start listening and forward local wakes as NOTIFY."""
        self._notifier.forward_to(self.publish)
        self._thread = threading.Thread(target=self._listen, name="pg-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the listener (it notices within a second) and close the NOTIFY connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._send_lock:
            connection, self._sender = self._sender, None
        close = getattr(connection, "close", None)
        if close is not None:
            close()

    def publish(self, codes: Sequence[str]) -> None:
        """``NOTIFY`` the other processes (one short autocommit statement)."""
        import psycopg

        payload = ",".join(codes)
        if len(payload) > _MAX_PAYLOAD:
            payload = WAKE_ALL
        with self._send_lock:
            # Twice at most: a connection the server dropped (restart, failover) is only found
            # dead when used; the second try is on a fresh one, so the first NOTIFY after a
            # restart is not lost. If the server is still down, the error goes to the caller.
            for attempt in (1, 2):
                connection = self._sender
                if connection is None or getattr(connection, "closed", True):
                    connection = psycopg.connect(self._url, autocommit=True)
                    self._sender = connection
                assert isinstance(connection, psycopg.Connection)
                try:
                    connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                except psycopg.Error:
                    connection.close()
                    self._sender = None
                    if attempt == 2:
                        raise
                else:
                    return

    def _listen(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True) as connection:
                    connection.execute(f"LISTEN {CHANNEL}")
                    while not self._stop.is_set():
                        for note in connection.notifies(timeout=1.0):
                            self._notifier.wake(note.payload.split(","), local_only=True)
            except psycopg.Error:
                log.warning("LISTEN %s lost; reconnecting", CHANNEL, exc_info=True)
                # After a reconnect some notifications may be lost: wake everyone once.
                self._notifier.wake([WAKE_ALL], local_only=True)
                self._stop.wait(1.0)


#: Datagrams above this many bytes wake everyone instead (loopback takes 64 kB; stay small).
_MAX_DATAGRAM = 1400


class LocalWakeBridge:
    """Fan-out across hub processes on one machine, for SQLite (which has no NOTIFY).

    :meth:`start` binds a UDP socket on 127.0.0.1 (a free port) and announces it by an empty
    file ``<pid>-<port>.wake`` in ``directory`` (the hub's data directory has one); a daemon
    thread wakes the local notifier (``local_only``) with every datagram it receives.
    ``publish`` (given to :meth:`Notifier.forward_to`) sends the agency codes, joined by
    commas as in :class:`PgNotifyBridge`, to every other process announced there, re-reading
    the directory at most every ``refresh`` seconds; files of processes that no longer exist
    are removed. A datagram carries only "look again": a lost or stray one costs at most the
    streams' 2-second re-read, never an event.
    """

    def __init__(self, directory: Path, notifier: Notifier, *, refresh: float = 1.0) -> None:
        self.directory = directory
        self._notifier = notifier
        self._refresh = refresh
        self._stop = threading.Event()
        self._socket: socket.socket | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._announced: Path | None = None
        self._peers: list[int] = []
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    @property
    def port(self) -> int | None:
        """This process's port (``None`` before :meth:`start`)."""
        return self._port

    def start(self) -> None:
        """Bind, announce, listen, and forward local wakes to the other processes."""
        self.directory.mkdir(parents=True, exist_ok=True)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(1.0)
        self._socket, self._port = sock, int(sock.getsockname()[1])
        self._announced = self.directory / f"{os.getpid()}-{self._port}.wake"
        self._announced.touch()
        self._notifier.forward_to(self.publish)
        self._thread = threading.Thread(target=self._listen, name="wake-listen", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening, withdraw the announcement, close the socket."""
        self._stop.set()
        if self._socket is not None:  # an empty datagram to itself ends the wait in recv
            with contextlib.suppress(OSError):
                self._socket.sendto(b"", ("127.0.0.1", self._port))
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._announced is not None:
            self._announced.unlink(missing_ok=True)
        if self._socket is not None:
            self._socket.close()

    def peers(self) -> list[int]:
        """The other live processes' ports (the directory re-read at most every ``refresh`` s)."""
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self._refresh:
                self._peers, self._read_at = self._read_peers(), now
            return self._peers

    def _read_peers(self) -> list[int]:
        ports: list[int] = []
        try:
            entries = list(os.scandir(self.directory))
        except OSError:
            return ports
        for entry in entries:
            pid_text, _, rest = entry.name.partition("-")
            port_text = rest.removesuffix(".wake")
            if not (rest.endswith(".wake") and pid_text.isdigit() and port_text.isdigit()):
                continue
            pid, port = int(pid_text), int(port_text)
            if port == self._port:
                continue
            if not _alive(pid):
                Path(entry.path).unlink(missing_ok=True)
                continue
            ports.append(port)
        return ports

    def publish(self, codes: Sequence[str]) -> None:
        """Tell the other processes (one datagram each; failures only delay them)."""
        sock = self._socket
        if sock is None:
            return
        payload = ",".join(codes).encode()
        if len(payload) > _MAX_DATAGRAM:
            payload = WAKE_ALL.encode()
        for port in self.peers():
            with contextlib.suppress(OSError):
                sock.sendto(payload, ("127.0.0.1", port))

    def _listen(self) -> None:
        sock = self._socket
        assert sock is not None
        while not self._stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    return
                self._stop.wait(0.1)
                continue
            codes = [c for c in data.decode("utf-8", "replace").split(",") if c]
            if codes:
                self._notifier.wake(codes, local_only=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


__all__ = [
    "CHANNEL",
    "WAKE_ALL",
    "LocalWakeBridge",
    "Notifier",
    "NotifyingHub",
    "PgNotifyBridge",
]
