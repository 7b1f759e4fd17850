"""``LocalWakeBridge``: the hub processes of one machine (SQLite, ``hub serve --workers N``)
wake each other's event streams with datagrams on 127.0.0.1, found through a shared
directory. Real sockets, real notifiers on their own event loops."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest

from lienthong.hub.push import LocalWakeBridge, Notifier

pytestmark = pytest.mark.integration


class _Process:
    """What one hub process has: an event loop, its notifier, its bridge."""

    def __init__(self, directory: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.notifier = Notifier()
        self.notifier.bind(self.loop)
        self.bridge = LocalWakeBridge(directory, self.notifier, refresh=0.1)
        self.bridge.start()

    def expect(self, agency: str, timeout: float) -> Future[bool]:
        woken = asyncio.run_coroutine_threadsafe(self.notifier.wait(agency, timeout), self.loop)
        time.sleep(0.05)  # the waiter is registered on the loop
        return woken

    def close(self) -> None:
        self.bridge.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


def test_a_wake_in_one_process_wakes_the_streams_of_the_others(tmp_path: Path) -> None:
    first, second, third = (_Process(tmp_path / "wake") for _ in range(3))
    try:
        time.sleep(0.15)  # each has re-read the directory since the others announced
        at_second, at_third = second.expect("000.00.20.H41", 2), third.expect("000.00.20.H41", 2)
        started = time.monotonic()
        first.notifier.wake(["000.00.20.H41"])
        assert at_second.result(timeout=5)
        assert at_third.result(timeout=5)
        assert time.monotonic() - started < 0.5
        # Only the agencies named: another agency's stream is not woken.
        other = second.expect("000.00.12.H41", 0.5)
        first.notifier.wake(["000.00.20.H41"])
        assert other.result(timeout=5) is False
        # A local-only wake (what a bridge delivers) is not sent on: no echo between them.
        echo = first.expect("000.00.30.H41", 0.5)
        second.notifier.wake(["000.00.30.H41"], local_only=True)
        assert echo.result(timeout=5) is False
    finally:
        for process in (first, second, third):
            process.close()


def test_a_stopped_process_withdraws_and_a_dead_ones_file_is_removed(tmp_path: Path) -> None:
    directory = tmp_path / "wake"
    first, second = _Process(directory), _Process(directory)
    try:
        assert len(list(directory.glob("*.wake"))) == 2
        second.close()
        assert len(list(directory.glob("*.wake"))) == 1
        # A process killed without stopping leaves its file; its pid no longer exists.
        stale = directory / "999999999-40000.wake"
        stale.touch()
        time.sleep(0.15)
        assert first.bridge.peers() == []
        assert not stale.exists()
        first.notifier.wake(["000.00.20.H41"])  # nobody to tell: nothing fails
    finally:
        first.close()
