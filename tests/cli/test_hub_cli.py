"""``lienthong hub serve``, ``send``, ``inbox``, ``status`` through the real entry point: a hub
process on 127.0.0.1 with a CA directory, two agencies exchanging a document and a status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from lienthong.domain.edxml import Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, build_document

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSPHRASE = "mật khẩu thử hub"
SENDER = "000.00.12.H41"  # the demo organisation of `ca init`
RECIPIENT = "000.00.13.H41"


def lienthong_binary() -> str:
    found = Path(sys.executable).with_name("lienthong")
    assert found.exists()
    return str(found)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIENTHONG_CA_PASSPHRASE": PASSPHRASE, "COLUMNS": "200"}
    return subprocess.run(
        [lienthong_binary(), *args], capture_output=True, text=True, env=env, check=False,
        timeout=120,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A CA directory with two organisations, and ``lienthong hub serve`` over it."""
    base = tmp_path_factory.mktemp("hub-cli")
    ca_dir = base / "ca"
    done = run("ca", "init", str(ca_dir))
    assert done.returncode == 0, done.stderr
    done = run(
        "ca", "issue", str(ca_dir), "--ca", "nghe-an", "--agency-code", RECIPIENT,
        "--agency-name", "Sở Nội vụ tỉnh Nghệ An", "-o", str(ca_dir / "issued" / "so-noi-vu"),
        "--key-type", "p256",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    port = free_port()
    log = base / "hub.log"
    env = {**os.environ, "LIENTHONG_CA_PASSPHRASE": PASSPHRASE}
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [lienthong_binary(), "hub", "serve", "--data", str(base / "data"),
             "--ca-dir", str(ca_dir), "--port", str(port)],
            stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"hub serve did not start: {log.read_text(errors='replace')}")
        time.sleep(0.2)
    try:
        yield url, ca_dir
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "demo-" + SENDER in log.read_text(errors="replace")


def _letter(path: Path, number: str) -> Path:
    package = build_document(
        DocumentDraft(
            sender=Organization(organ_id=SENDER, organ_name="Sở TT&TT Nghệ An"),
            recipients=[Organization(organ_id=RECIPIENT, organ_name="Sở Nội vụ Nghệ An")],
            code_number=number,
            code_notation="STTTT-VP",
            promulgation_date=datetime.now(UTC).date(),
            place="Nghệ An",
            subject="Thử nghiệm dòng lệnh",
        ),
        now=datetime.now(UTC),
    )
    path.write_bytes(serialize_package(package))
    return path


def test_send_inbox_status_through_the_cli(hub: tuple[str, Path], tmp_path: Path) -> None:
    url, ca_dir = hub
    common = ["--hub", url, "--ca-dir", str(ca_dir)]
    letter = _letter(tmp_path / "letter.edxml", "301")

    sent = run("send", str(letter), "--as", "so-tttt-nghe-an", *common, "--json")
    assert sent.returncode == 0, sent.stderr
    receipt = json.loads(sent.stdout)
    assert receipt["recipients"] == [RECIPIENT]
    again = run("send", str(letter), "--as", "so-tttt-nghe-an", *common)
    assert again.returncode == 0, again.stderr
    assert "resent" in again.stdout

    # The readable listing shows each package's delivery state in brackets (once the
    # background PDF check has released it: a moment after the receipt).
    for _ in range(20):
        listing = run("inbox", "--as", "so-noi-vu", *common)
        assert listing.returncode == 0, listing.stderr
        if str(receipt["package_id"]) in listing.stdout:
            break
        time.sleep(0.5)
    assert "[queued]" in listing.stdout, listing.stdout

    fetched = tmp_path / "in"
    inbox = run("inbox", "--as", "so-noi-vu", *common, "--fetch", str(fetched), "--json")
    assert inbox.returncode == 0, inbox.stderr
    listed = json.loads(inbox.stdout)
    assert [i["package_id"] for i in listed["items"]] == [receipt["package_id"]]
    saved = Path(listed["saved"][0])
    assert saved.read_bytes().startswith(b"<?xml")

    status = run("status", str(saved), "--code", "03", "--as", "so-noi-vu", *common)
    assert status.returncode == 0, status.stderr
    assert "03" in status.stdout

    back = run("inbox", "--as", "so-tttt-nghe-an", *common, "--json")
    assert back.returncode == 0, back.stderr
    kinds = [i["kind"] for i in json.loads(back.stdout)["items"]]
    assert "status" in kinds


def test_refusals_are_bilingual_and_coded(hub: tuple[str, Path], tmp_path: Path) -> None:
    url, ca_dir = hub
    common = ["--hub", url, "--ca-dir", str(ca_dir)]
    # The recipient tries to read the sender's inbox.
    refused = run("inbox", "--as", "so-noi-vu", "--agency", SENDER, *common)
    assert refused.returncode == 1
    assert "hub.forbidden_agency" in refused.stderr
    assert "Not your agency" in refused.stderr
    assert "Traceback" not in refused.stderr
    # The recipient sends a letter whose From is the sender agency.
    forged = run("send", str(_letter(tmp_path / "f.edxml", "302")), "--as", "so-noi-vu", *common)
    assert forged.returncode == 1
    assert "hub.forged_sender" in forged.stderr
    bad_code = run(
        "status", str(tmp_path / "f.edxml"), "--code", "99", "--as", "so-noi-vu", *common
    )
    assert bad_code.returncode == 2
    assert "usage.bad_argument" in bad_code.stderr
