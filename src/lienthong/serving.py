"""Several server processes on one port (nhiều tiến trình phục vụ trên một cổng).

uvicorn's own ``--workers`` binds one listening socket in the parent and lets every child
accept on it. Whichever process is awake when connections arrive takes them, so a client
that opens its connections in a burst and keeps them (a load balancer, the national SDK's
connection pool, ``wrk``) can end up served by one process while the others idle (measured:
one hub worker at 110 % CPU, the other at 18 %).

:func:`serve_workers` gives each worker its own listening socket with ``SO_REUSEPORT``
instead: the kernel spreads new connections over the sockets by a hash of their addresses,
evenly. The parent only supervises:

* before starting anything it checks that the port is free (a plain bind, without
  ``SO_REUSEPORT``), so that a second server started on the same port fails loudly instead
  of silently sharing the port with the first;
* a worker that dies is started again; a worker that keeps dying within seconds of its
  start (a broken configuration) stops the server with an error;
* SIGINT or SIGTERM stops every worker gracefully (SIGTERM to each, then SIGKILL after
  ``grace`` seconds more).

Workers are started with the ``spawn`` method: each imports the app afresh through its
factory (``module:function``), configured by the environment the parent set, so nothing
(threads, database connections) is inherited from the parent.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from types import FrameType

from lienthong.domain.errors import UsageError

log = logging.getLogger(__name__)

#: A worker that exits within this many seconds of its start counts as a failed start.
QUICK_EXIT = 10.0
#: Failed starts in a row after which the server gives up.
MAX_QUICK_EXITS = 5
#: Listen backlog of each worker's socket.
BACKLOG = 2048


def reuse_port_supported() -> bool:
    """Whether this system has ``SO_REUSEPORT`` (Linux, the BSDs, macOS)."""
    return hasattr(socket, "SO_REUSEPORT")


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`UsageError` if ``host:port`` is taken (by any process, including another
    ``serve_workers`` server, whose sockets a plain bind cannot share)."""
    probe = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        probe.bind((host, port))
    except OSError as exc:
        raise UsageError(
            detail=f"{host}:{port}: cổng đang được dùng / the port is in use ({exc.strerror})"
        ) from None
    finally:
        probe.close()


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` with ``SO_REUSEPORT`` (one per worker)."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def _run_worker(app: str, host: str, port: int, options: Mapping[str, object]) -> None:
    """One worker process: its own socket, the app from its factory, uvicorn's loop."""
    import uvicorn

    sock = listening_socket(host, port)
    config = uvicorn.Config(app, factory=True, **options)  # type: ignore[arg-type]
    uvicorn.Server(config).run(sockets=[sock])


@dataclass
class _Slot:
    """One worker's place: its current process and how its recent starts went."""

    number: int
    process: BaseProcess | None = None
    started: float = 0.0
    quick_exits: int = 0


class WorkerPool:
    """``workers`` processes serving ``app`` on one port; see the module docstring."""

    def __init__(
        self,
        app: str,
        *,
        host: str,
        port: int,
        workers: int,
        options: Mapping[str, object] | None = None,
        grace: float = 5.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.options = dict(options or {})
        self.grace = grace
        self._slots = [_Slot(n) for n in range(1, workers + 1)]
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self.failed = False  #: gave up: a worker kept dying at start

    def pids(self) -> list[int]:
        """The current workers' process ids."""
        return [s.process.pid for s in self._slots if s.process and s.process.pid]

    def _start(self, slot: _Slot) -> None:
        process = self._context.Process(
            target=_run_worker,
            args=(self.app, self.host, self.port, self.options),
            name=f"lienthong-worker-{slot.number}",
            daemon=False,
        )
        process.start()
        slot.process, slot.started = process, time.monotonic()

    def stop(self) -> None:
        """Ask the supervision loop to stop every worker (safe from a signal handler)."""
        self._stopping.set()

    def run(self) -> int:
        """Start the workers and supervise them until :meth:`stop`; the exit code."""
        for slot in self._slots:
            self._start(slot)
        try:
            while not self._stopping.wait(0.25):
                self._restart_dead()
        finally:
            self._stop_all()
        return 1 if self.failed else 0

    def _restart_dead(self) -> None:
        for slot in self._slots:
            process = slot.process
            if process is None or process.is_alive() or self._stopping.is_set():
                continue
            quick = time.monotonic() - slot.started < QUICK_EXIT
            slot.quick_exits = slot.quick_exits + 1 if quick else 0
            if slot.quick_exits >= MAX_QUICK_EXITS:
                log.error(
                    "tiến trình %d không khởi động được / worker %d exited %d times within "
                    "%.0f s of its start; stopping",
                    slot.number,
                    slot.number, slot.quick_exits, QUICK_EXIT,
                )  # fmt: skip
                self.failed = True
                self._stopping.set()
                return
            log.warning(
                "tiến trình %d (pid %s) đã dừng, khởi động lại / worker %d exited (%s), "
                "restarting",
                slot.number, process.pid, slot.number, process.exitcode,
            )  # fmt: skip
            self._start(slot)

    def _stop_all(self) -> None:
        alive = [s.process for s in self._slots if s.process is not None and s.process.is_alive()]
        for process in alive:  # SIGTERM, not SIGINT: a second SIGINT makes uvicorn skip grace
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
        deadline = time.monotonic() + self.grace
        for process in alive:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in alive:
            if process.is_alive():
                process.kill()
                process.join(5)


def serve_workers(
    app: str,
    *,
    host: str,
    port: int,
    workers: int,
    options: Mapping[str, object] | None = None,
    grace: float = 5.0,
) -> int:
    """Serve the ASGI app made by the factory ``app`` (``"module:function"``) with
    ``workers`` processes on ``host:port`` until SIGINT/SIGTERM; the exit code.

    ``options`` are passed to :class:`uvicorn.Config` in each worker (``log_level``,
    ``access_log``, ``timeout_graceful_shutdown`` …). Without ``SO_REUSEPORT`` this falls
    back to uvicorn's own workers.
    """
    if not reuse_port_supported():  # pragma: no cover - every platform we run on has it
        import uvicorn

        uvicorn.run(app, factory=True, workers=workers, host=host, port=port, **options or {})  # type: ignore[arg-type]
        return 0
    check_port_free(host, port)
    pool = WorkerPool(app, host=host, port=port, workers=workers, options=options, grace=grace)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        pool.stop()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return pool.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


__all__ = [
    "WorkerPool",
    "check_port_free",
    "listening_socket",
    "reuse_port_supported",
    "serve_workers",
]
