"""``lienthong hub serve --workers 2`` on SQLite, as deployed on one machine: connections are
spread over both workers, and a recipient's event stream, held by one worker, learns of
packages accepted by the other at once (``LocalWakeBridge``), not at the 2-second re-read."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lienthong.client.api import HubClient
from lienthong.domain.edxml import Organization
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach
from lienthong.signing.identity import ca_directory_identity

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSPHRASE = "lienthong-demo"
SENDER, RECIPIENT = "000.00.12.H41", "000.00.20.H41"  # the demo CA's two agencies
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
SENDS = 10
#: Seconds between sends: each event must be woken by its own send, not by the next one.
SPACING = 1.0


def test_streams_learn_of_packages_accepted_by_the_other_worker_at_once(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    url = f"http://127.0.0.1:{port}"
    data = tmp_path / "hub"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    log = tmp_path / "hub.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("lienthong")), "hub", "serve", "--data", str(data),
             "--port", str(port), "--workers", "2", "--pdf-check", "off"],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        pids: set[int] = set()
        deadline = time.monotonic() + 90
        while len(pids) < 2:  # both workers up (new connections land on either)
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            try:
                pids.add(int(httpx.get(f"{url}/healthz", timeout=2).json()["pid"]))
            except httpx.TransportError:
                time.sleep(0.3)
        ca_dir = data / "ca"
        me = ca_directory_identity(ca_dir, "issued/so-tttt-nghe-an", PASSPHRASE)
        them = ca_directory_identity(ca_dir, "issued/so-y-te-nghe-an", PASSPHRASE)

        arrivals: dict[int, float] = {}
        listener = HubClient(url, key=them.key, certificate=them.certificate, chain=them.chain)

        def listen() -> None:
            try:
                for event in listener.stream(RECIPIENT, read_timeout=60):
                    if event.kind == "package" and event.package_id is not None:
                        arrivals[event.package_id] = time.monotonic()
            except httpx.HTTPError:
                pass  # the client closed at the end

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        time.sleep(1.5)  # the stream is open and waiting

        receipts: dict[int, float] = {}
        for n in range(SENDS):
            draft = DocumentDraft(
                sender=Organization(organ_id=SENDER, organ_name="Sở TT&TT Nghệ An"),
                recipients=[Organization(organ_id=RECIPIENT, organ_name="Sở Y tế Nghệ An")],
                code_number=str(900 + n),
                code_notation="WORKERS-STTTT",
                promulgation_date=datetime.now(UTC).date(),
                place="Nghệ An",
                subject=f"Thử hai tiến trình, văn bản {n}",
                files=[FileToAttach("van-ban.pdf", PDF)],
            )
            # A client (a connection) per send: the kernel hashes each to either worker.
            with HubClient(url, key=me.key, certificate=me.certificate, chain=me.chain) as hub:
                receipt = hub.send_document(draft)
            receipts[receipt.package_id] = time.monotonic()
            time.sleep(SPACING)
        time.sleep(1.5)
        listener.close()

        assert set(arrivals) >= set(receipts)
        # Without the wake between workers, about half the events (those accepted by the
        # other worker) would wait for the stream's 2-second re-read: 0-2 s.
        late = {pid: arrivals[pid] - at for pid, at in receipts.items() if arrivals[pid] - at > 0.5}
        assert not late, f"events that waited for the 2-second re-read: {late}"
    finally:
        server.terminate()
        server.wait(timeout=30)
