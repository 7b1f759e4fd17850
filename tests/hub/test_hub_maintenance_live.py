"""``lienthong hub serve`` as a real process: the background PDF check and the reminders of its
maintenance loop, seen by a recipient subscribed to its SSE stream (real HTTP on 127.0.0.1,
signed requests, real PDF signatures; SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
import sqlalchemy as sa

from lienthong.cli.hub_cmd import DEMO_RECIPIENT, add_demo_recipient
from lienthong.client.api import HubClient, HubEvent
from lienthong.domain.edxml import Organization
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.identity import ca_directory_identity
from lienthong.signing.pdf import Level, sign_attachment
from lienthong.store.engine import create_engine
from lienthong.store.schema import hub_events

if TYPE_CHECKING:
    from conftest import HubPki

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SENDER = "000.00.12.H41"  #: Sở TT&TT Nghệ An (the CA directory's organisation certificate)
RECIPIENT = DEMO_RECIPIENT[0]  #: Sở Y tế Nghệ An, whose PDF policy is reject here


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _served(args: list[str], log: Path, env: dict[str, str]) -> Iterator[str]:
    port = _free_port()
    binary = str(Path(sys.executable).with_name("lienthong"))
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [binary, "hub", "serve", "--port", str(port), *args],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        try:
            # the maintenance loop stops promptly with the app's lifespan
            assert server.wait(timeout=15) is not None
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail(f"hub serve did not stop: {log.read_text(errors='replace')}")


def _next(
    stream: Iterator[HubEvent], wanted: Callable[[HubEvent], bool], seen: list[HubEvent]
) -> HubEvent:
    """The first event of the stream that is ``wanted`` (a read times out after 20 s)."""
    for event in stream:
        seen.append(event)
        if wanted(event):
            return event
    pytest.fail(f"the stream ended; saw {seen}")


def test_a_live_hub_checks_pdfs_before_delivery_and_reminds(
    empty_db_url: str, hub_pki: HubPki, tmp_path: Path
) -> None:
    ca_dir = tmp_path / "ca"
    shutil.copytree(hub_pki.directory, ca_dir)
    add_demo_recipient(ca_dir, hub_pki.passphrase, now=datetime.now(UTC))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIENTHONG_")}
    env["LIENTHONG_CA_PASSPHRASE"] = hub_pki.passphrase
    args = [
        "--db", empty_db_url, "--data", str(tmp_path / "data"), "--ca-dir", str(ca_dir),
        "--pdf-reject", RECIPIENT, "--remind-every", "1", "--undelivered-after", "2",
    ]  # fmt: skip
    identities = {
        code: ca_directory_identity(ca_dir, name, hub_pki.passphrase)
        for code, name in ((SENDER, "so-tttt-nghe-an"), (RECIPIENT, DEMO_RECIPIENT[2]))
    }
    pdf = sign_attachment(
        generate_document(sample_spec(0)).pdf, identities[SENDER], main_number="9/STTTT-VP",
        now=datetime.now(UTC), level=Level.B_B,
    ).pdf  # fmt: skip
    start = pdf.index(b"\n") + 2
    tampered = pdf[:start] + bytes(b ^ 1 for b in pdf[start : start + 4]) + pdf[start + 4 :]

    def letter(number: str, attachment: bytes) -> DocumentDraft:
        return DocumentDraft(
            sender=Organization(organ_id=SENDER, organ_name="Sở TT&TT Nghệ An"),
            recipients=[Organization(organ_id=RECIPIENT, organ_name=DEMO_RECIPIENT[1])],
            code_number=number, code_notation="STTTT-VP",
            promulgation_date=datetime.now(UTC).date(), place="Nghệ An",
            subject="Kiểm tra chữ ký PDF", files=[FileToAttach("cong-van.pdf", attachment)],
        )  # fmt: skip

    with _served(args, tmp_path / "hub.log", env) as url:
        sender, recipient = (
            HubClient(url, key=i.key, certificate=i.certificate, chain=i.chain)
            for i in (identities[SENDER], identities[RECIPIENT])
        )
        # read in this thread, closed by us: an open stream would hold the hub's shutdown
        stream = recipient.stream(RECIPIENT, read_timeout=20)
        try:
            bad = sender.send_document(letter("901", tampered))
            good = sender.send_document(letter("902", pdf))
            seen: list[HubEvent] = []

            arrived = _next(
                stream, lambda e: e.kind == "package" and e.package_id == good.package_id, seen
            )
            # the event comes with the check done: the report already holds its result
            report = sender.report(good.package_id, SENDER)
            assert report["pdf"]["passed"] is True, report
            assert arrived.seq > 0

            # the tampered one: refused for the reject recipient, the sender told
            deadline = time.monotonic() + 20
            while not any(
                e.kind == "notice" and e.package_id == bad.package_id
                for e in sender.poll(SENDER, wait=1)
            ):
                assert time.monotonic() < deadline
            bad_report = sender.report(bad.package_id, SENDER)
            assert bad_report["pdf"]["passed"] is False
            views = {item["package_id"]: item for item in sender.sent(SENDER)}
            assert views[bad.package_id]["recipients"][0]["delivery"] == "refused"
            assert views[good.package_id]["recipients"][0]["delivery"] == "queued"
            inbox = [item["package_id"] for item in recipient.inbox(RECIPIENT)]
            assert inbox == [good.package_id]
            with pytest.raises(Exception, match=r"hub\.not_found"):
                recipient.fetch(bad.package_id, RECIPIENT)

            # the long-undelivered reminder (2 s, checked every second) reaches the stream
            _next(stream, lambda e: e.kind == "notice" and e.package_id == good.package_id, seen)
            assert not [e for e in seen if e.package_id == bad.package_id]
            engine = create_engine(empty_db_url)
            try:
                with engine.connect() as connection:
                    details = set(
                        connection.execute(
                            sa.select(hub_events.c.agency_code, hub_events.c.detail).where(
                                hub_events.c.kind == "notice"
                            )
                        ).all()
                    )
            finally:
                engine.dispose()
            assert (SENDER, f"pdf_refused:{RECIPIENT}") in details
            assert (RECIPIENT, f"undelivered:{RECIPIENT}") in details
            assert (SENDER, f"undelivered:{RECIPIENT}") in details

            deadline = time.monotonic() + 5
            while "lienthong_hub_reminders_total" not in (
                metrics := httpx.get(f"{url}/metrics", timeout=5).text
            ):  # counted just after the reminders' commit
                assert time.monotonic() < deadline, metrics
                time.sleep(0.05)
            assert "lienthong_hub_pdf_refused_total 1" in metrics
            assert 'lienthong_hub_pdf_checked_total{outcome="passed"}' in metrics
            assert "lienthong_hub_pdf_pending 0" in metrics
        finally:
            stream.close()
            sender.close()
            recipient.close()
