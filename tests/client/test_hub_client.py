"""The agency SDK (``lienthong.client.api.HubClient``) against a real hub process
(``lienthong hub serve``) on 127.0.0.1: the receive loop gets every event in order over SSE,
survives the hub being killed (SIGKILL) and restarted, resumes from the last event, and sends
retried across the outage are neither lost nor duplicated."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lienthong.client.api import HubClient, HubEvent, ReceiveState
from lienthong.domain.edxml import Organization, parse_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach
from lienthong.domain.status import StatusCode
from lienthong.signing.identity import ca_directory_identity

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PASSPHRASE = "mật khẩu thử SDK"
SENDER = "000.00.12.H41"
RECIPIENT = "000.00.13.H41"


def _binary() -> str:
    found = Path(sys.executable).with_name("lienthong")
    assert found.exists()
    return str(found)


def _env() -> dict[str, str]:
    return {**os.environ, "LIENTHONG_CA_PASSPHRASE": PASSPHRASE}


@dataclass
class HubProcess:
    """``lienthong hub serve`` that a test may kill and start again on the same port."""

    base: Path
    ca_dir: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = (self.base / "hub.log").open("ab")
        self.process = subprocess.Popen(
            [_binary(), "hub", "serve", "--data", str(self.base / "data"),
             "--ca-dir", str(self.ca_dir), "--port", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env=_env(),
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                pytest.fail((self.base / "hub.log").read_text(errors="replace"))
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    base = tmp_path_factory.mktemp("sdk")
    ca_dir = base / "ca"
    for args in (
        ["ca", "init", str(ca_dir)],
        ["ca", "issue", str(ca_dir), "--ca", "nghe-an", "--agency-code", RECIPIENT,
         "--agency-name", "Sở Nội vụ tỉnh Nghệ An", "-o", str(ca_dir / "issued" / "so-noi-vu"),
         "--key-type", "p256"],
    ):  # fmt: skip
        done = subprocess.run(
            [_binary(), *args], env=_env(), capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    served = HubProcess(base, ca_dir, port)
    served.start()
    try:
        yield served
    finally:
        served.stop()


def _client(hub: HubProcess, name: str, **kwargs: float) -> HubClient:
    identity = ca_directory_identity(hub.ca_dir, name, PASSPHRASE)
    return HubClient(
        hub.url, key=identity.key, certificate=identity.certificate, chain=identity.chain,
        **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip


def _draft(number: str) -> DocumentDraft:
    return DocumentDraft(
        sender=Organization(organ_id=SENDER, organ_name="Sở TT&TT Nghệ An"),
        recipients=[Organization(organ_id=RECIPIENT, organ_name="Sở Nội vụ Nghệ An")],
        code_number=number,
        code_notation="STTTT-VP",
        promulgation_date=datetime.now(UTC).date(),
        place="Nghệ An",
        subject=f"Thử nghiệm SDK {number}",
        files=[FileToAttach("phu-luc.txt", b"noi dung", "text/plain")],
    )


class Collector:
    """Runs ``receive`` in a thread and keeps what it got."""

    def __init__(self, client: HubClient, agency: str, state: ReceiveState | None = None):
        self.events: list[HubEvent] = []
        self.stop = threading.Event()
        self.state = state or ReceiveState()
        self.changed = threading.Condition()
        self.thread = threading.Thread(
            target=client.receive,
            args=(agency, self.handle),
            kwargs={"state": self.state, "stop": self.stop, "poll_wait": 2.0},
            daemon=True,
        )

    def handle(self, event: HubEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def wait_for(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: len(self.events) >= count, timeout)


def test_receive_loop_gets_every_event_in_order_over_sse(hub: HubProcess) -> None:
    with _client(hub, "so-tttt-nghe-an") as sender, _client(hub, "so-noi-vu") as recipient:
        start = recipient.poll(RECIPIENT, wait=0)
        collector = Collector(recipient, RECIPIENT, ReceiveState(start[-1].seq if start else 0))
        collector.thread.start()
        receipts = [sender.send_document(_draft(f"50{i}")) for i in range(3)]
        assert collector.wait_for(3, timeout=10)
        collector.stop.set()
        got = [e.package_id for e in collector.events if e.kind == "package"]
        assert got[:3] == [r.package_id for r in receipts]
        assert collector.state.via == "sse"
        seqs = [e.seq for e in collector.events]
        assert seqs == sorted(set(seqs))

        # The recipient fetches, acknowledges and reports 01 and 03; the sender sees them.
        data = recipient.fetch(receipts[0].package_id, RECIPIENT)
        recipient.acknowledge(receipts[0].package_id, RECIPIENT)
        me = Organization(organ_id=RECIPIENT)
        recipient.send_status(data, sender=me, status=StatusCode.ARRIVED)
        recipient.send_status(parse_package(data), sender=me, status=StatusCode("03"))
        sent = {s["package_id"]: s for s in sender.sent(SENDER)}
        view = sent[receipts[0].package_id]["recipients"][0]
        assert view["delivery"] == "done"
        assert view["current_status"] == "03"


def test_a_killed_hub_loses_nothing_and_the_loop_resumes(hub: HubProcess) -> None:
    with (
        _client(hub, "so-tttt-nghe-an", retries=30, backoff=0.1) as sender,
        _client(hub, "so-noi-vu", retries=30, backoff=0.1) as recipient,
    ):
        start = recipient.poll(RECIPIENT, wait=0)
        collector = Collector(recipient, RECIPIENT, ReceiveState(start[-1].seq if start else 0))
        collector.thread.start()
        before = sender.send_document(_draft("601"))
        assert collector.wait_for(1, timeout=10)

        hub.kill()
        receipts: list[object] = []
        sending = threading.Thread(
            target=lambda: receipts.append(sender.send_document(_draft("602"))), daemon=True
        )
        sending.start()  # retries while the hub is down
        time.sleep(0.5)
        hub.start()
        sending.join(timeout=60)
        assert receipts, "the send was not retried to success"
        assert collector.wait_for(2, timeout=20)
        collector.stop.set()
        collector.thread.join(timeout=10)

        packages = [e.package_id for e in collector.events if e.kind == "package"]
        after = receipts[0]
        assert packages == [before.package_id, after.package_id]  # type: ignore[attr-defined]
        assert collector.state.errors  # the outage was seen and survived
        again = sender.send_document(_draft("602"))
        assert again.duplicate
        assert again.package_id == after.package_id  # type: ignore[attr-defined]
        inbox = [i["document_id"] for i in recipient.inbox(RECIPIENT, limit=1000)]
        assert inbox.count(again.document_id) == 1
