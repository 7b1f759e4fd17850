"""``lienthong hub serve --workers 2`` on SQLite, as deployed on one machine: connections are
spread over both workers, a recipient's event stream, held by one worker, learns of
packages accepted by the other at once (``LocalWakeBridge``), not at the 2-second re-read,
and whichever worker answers ``/metrics`` counts what both did."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lienthong.client.api import HubClient
from lienthong.client.vdxp import VdxpClient
from lienthong.domain.edxml import Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.hub.registry import demo_secret
from lienthong.signing.identity import ca_directory_identity
from lienthong.signing.xmldsig import sign_envelope

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


@contextlib.contextmanager
def two_workers(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """``hub serve --workers 2`` on SQLite in ``tmp_path``, once both workers answer: its URL
    and its data directory."""
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
        yield url, data
    finally:
        server.terminate()
        server.wait(timeout=30)


def letter(n: int) -> DocumentDraft:
    return DocumentDraft(
        sender=Organization(organ_id=SENDER, organ_name="Sở TT&TT Nghệ An"),
        recipients=[Organization(organ_id=RECIPIENT, organ_name="Sở Y tế Nghệ An")],
        code_number=str(900 + n),
        code_notation="WORKERS-STTTT",
        promulgation_date=datetime.now(UTC).date(),
        place="Nghệ An",
        subject=f"Thử hai tiến trình, văn bản {n}",
        files=[FileToAttach("van-ban.pdf", PDF)],
    )


def test_streams_learn_of_packages_accepted_by_the_other_worker_at_once(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (url, data):
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
            # A client (a connection) per send: the kernel hashes each to either worker.
            with HubClient(url, key=me.key, certificate=me.certificate, chain=me.chain) as hub:
                receipt = hub.send_document(letter(n))
            receipts[receipt.package_id] = time.monotonic()
            time.sleep(SPACING)
        time.sleep(1.5)
        listener.close()

        assert set(arrivals) >= set(receipts)
        # Without the wake between workers, about half the events (those accepted by the
        # other worker) would wait for the stream's 2-second re-read: 0-2 s.
        late = {pid: arrivals[pid] - at for pid, at in receipts.items() if arrivals[pid] - at > 0.5}
        assert not late, f"events that waited for the 2-second re-read: {late}"


def test_any_worker_answers_metrics_for_both(tmp_path: Path) -> None:
    with two_workers(tmp_path) as (url, data):
        me = ca_directory_identity(data / "ca", "issued/so-tttt-nghe-an", PASSPHRASE)
        system = f"demo-{SENDER}"
        for n in range(4):  # each on a new connection, through both edges
            with HubClient(url, key=me.key, certificate=me.certificate, chain=me.chain) as hub:
                hub.send_document(letter(n))
            edxml = serialize_package(build_document(letter(10 + n), now=datetime.now(UTC)))
            signed = sign_envelope(edxml, me.key, me.certificate, me.chain)
            with VdxpClient(f"{url}/XrdAdapter/adapter", system, demo_secret(system)) as vdxp:
                assert not vdxp.send_edoc(signed, sender=SENDER, to=[RECIPIENT]).duplicate
        time.sleep(1.5)  # each worker writes its figures every second
        scraped = []
        for _ in range(12):  # new connections: both workers answer some of them
            text = httpx.get(f"{url}/metrics", timeout=5).text
            accepted = re.search(r"^lienthong_hub_packages_accepted_total (\S+)$", text, re.M)
            checks = re.search(
                r'^lienthong_hub_send_stage_seconds_count\{stage="check"\} (\S+)$', text, re.M
            )
            scraped.append((accepted and accepted[1], checks and checks[1]))
        # Without the shared snapshots each worker would show only its own share.
        assert set(scraped) == {("8", "8")}, scraped
