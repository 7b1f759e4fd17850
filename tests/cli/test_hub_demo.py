"""What ``make run`` starts (``lienthong hub serve`` with the demo CA and registry) and the
walkthrough it prints, followed to the letter as a clerk would."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("workers", [1, 2])
def test_the_printed_walkthrough_works(tmp_path: Path, workers: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    binary = str(Path(sys.executable).with_name("lienthong"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env["COLUMNS"] = "200"
    log = tmp_path / "hub.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [binary, "hub", "serve", "--data", str(tmp_path / "var" / "hub"), "--port", str(port),
             "--workers", str(workers)],
            stdout=sink, stderr=subprocess.STDOUT, env=env, cwd=tmp_path,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while "lienthong status" not in log.read_text(errors="replace"):
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        printed = log.read_text()
        exports = dict(re.findall(r"(LIENTHONG_\w+)=(\S+)", printed))
        commands = [line.strip() for line in printed.splitlines() if "lienthong " in line]
        steps = [c for c in commands if c.startswith("lienthong ") and " serve" not in c]
        assert [s.split()[1] for s in steps] == ["send", "inbox", "status"]
        walk_env = {**env, **exports}

        def run(command: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [binary, *command.split()[1:]], capture_output=True, text=True, env=walk_env,
                cwd=tmp_path, timeout=120, check=False,
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            return done

        sent = run(steps[0])
        assert "Đã nhận / accepted" in sent.stdout
        run(steps[1])
        fetched = sorted((tmp_path / "in").glob("*.edxml"))
        assert len(fetched) == 1
        status = run(steps[2].replace("in/<số gói / package id>.edxml", str(fetched[0])))
        assert "03" in status.stdout
        sender_inbox = run("lienthong inbox --as so-tttt-nghe-an")
        assert "status" in sender_inbox.stdout
    finally:
        server.terminate()
        server.wait(timeout=20)
