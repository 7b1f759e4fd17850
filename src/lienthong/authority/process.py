"""``lienthong ca serve`` as a child process: for ``demo documents``, tests and benchmarks that
need the CA's OCSP, CRL and timestamp services on 127.0.0.1 while they run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from lienthong.domain.errors import LienthongError


@contextmanager
def running_ca_server(
    directory: Path,
    port: int,
    *,
    passphrase: str,
    operator_token: str | None = None,
    workers: int = 1,
    log: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``lienthong ca serve DIRECTORY --port PORT`` and yield it once ``/healthz``
    answers; stop it (SIGTERM, then SIGKILL after 10 s) when the block ends.

    Its output goes to ``log`` (discarded without one). ``tsa.unavailable`` if it exits or
    does not answer within ``timeout`` seconds, with the end of the log in the detail.
    """
    command = [
        sys.executable, "-c", "from lienthong.cli.main import main; main()",
        "ca", "serve", str(directory), "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    environment = {**os.environ, **(env or {}), "LIENTHONG_CA_PASSPHRASE": passphrase}
    if operator_token is not None:
        environment["LIENTHONG_OPERATOR_TOKEN"] = operator_token
    sink = log.open("wb") if log is not None else subprocess.DEVNULL
    try:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    finally:
        if log is not None:
            sink.close()  # type: ignore[union-attr]
    try:
        _wait_until_healthy(server, f"http://127.0.0.1:{port}/healthz", timeout, log)
        yield server
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _wait_until_healthy(
    server: subprocess.Popen[bytes], url: str, timeout: float, log: Path | None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            said = log.read_text(errors="replace")[-500:] if log is not None else ""
            raise LienthongError("tsa.unavailable", f"ca serve did not start: {said}".strip())
        time.sleep(0.1)


__all__ = ["running_ca_server"]
