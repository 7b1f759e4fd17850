"""``lienthong.serving``: several worker processes on one port, each with its own
``SO_REUSEPORT`` socket, supervised (restart, stop, a taken port refused). The workers serve a
tiny ASGI app that answers with its process id, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

APP = """
import os


def make():
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(os.getpid()).encode()})

    return app
"""

SERVE = """
import sys
from lienthong.serving import serve_workers
sys.exit(serve_workers("pid_app:make", host="127.0.0.1", port=int(sys.argv[1]),
                       workers=int(sys.argv[2]), options={"log_level": "warning"}, grace=3))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _pid_of_answer(port: int) -> int | None:
    try:  # a new connection each time: another source port, another hash
        with httpx.Client(timeout=2) as client:
            return int(client.get(f"http://127.0.0.1:{port}/").text)
    except httpx.TransportError:
        return None


def _pids(port: int, connections: int) -> list[int]:
    return [pid for _ in range(connections) if (pid := _pid_of_answer(port)) is not None]


@contextmanager
def _served(tmp_path: Path, workers: int, port: int) -> Iterator[subprocess.Popen[bytes]]:
    (tmp_path / "pid_app.py").write_text(APP)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SERVE, str(port), str(workers)],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(set(_pids(port, 8))) < min(workers, 2):
            assert process.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.2)
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=20)
        log.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_connections_are_spread_over_every_worker(tmp_path: Path) -> None:
    port = _free_port()
    with _served(tmp_path, 2, port):
        answers = _pids(port, 60)
    assert len(answers) == 60
    counts = {pid: answers.count(pid) for pid in set(answers)}
    assert len(counts) == 2
    # Hashing 60 connections over 2 sockets: below 10 for one happens about once in 10^6.
    assert min(counts.values()) >= 10, counts


def test_a_killed_worker_is_replaced_and_the_port_keeps_answering(tmp_path: Path) -> None:
    port = _free_port()
    with _served(tmp_path, 2, port):
        before = set(_pids(port, 30))
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            now = set(_pids(port, 20))
            if victim not in now and len(now) == 2:
                break
            assert time.monotonic() < deadline, f"still {now} (killed {victim})"
            time.sleep(0.3)
        assert len(now - before) == 1  # one new worker, the other one untouched
    assert "restarting" in (tmp_path / "serve.log").read_text()


def test_sigterm_stops_every_worker(tmp_path: Path) -> None:
    port = _free_port()
    with _served(tmp_path, 2, port) as process:
        workers = set(_pids(port, 30))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    assert not [pid for pid in workers if _alive(pid)]
    assert _pid_of_answer(port) is None


def test_a_port_in_use_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        (tmp_path / "pid_app.py").write_text(APP)
        done = subprocess.run(
            [sys.executable, "-c", SERVE, str(port), "2"],
            capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, "PYTHONPATH": str(tmp_path)},
        )  # fmt: skip
    assert done.returncode != 0
    assert "the port is in use" in done.stderr
