"""The CA as an operator runs it: ``lienthong ca init``, ``ca serve``, lifecycle commands, the
real ``openssl`` clients against the live server, and ``lienthong audit verify``."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from lienthong.authority.process import running_ca_server

# One live server for the module, on one worker (--dist loadgroup).
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("ca-cli")]

PASSPHRASE = "mật-khẩu thử nghiệm"


def lienthong(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("lienthong")
    result = subprocess.run(
        [str(binary), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", "LIENTHONG_CA_PASSPHRASE": PASSPHRASE, **(env or {})},
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    return result


def openssl(*args: str, cwd: Path) -> str:
    done = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    return done.stdout + done.stderr


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    directory = tmp_path_factory.mktemp("ca") / "ca"
    port = free_port()
    made = lienthong("ca", "init", str(directory), "--base-url", f"http://127.0.0.1:{port}")
    assert made.returncode == 0, made.stderr
    assert "nghe-an CA certificate (scope H41)" in made.stdout
    log = directory.parent / "serve.log"
    # Two worker processes: every status answer below must agree with what the other
    # process (the CLI) wrote, whichever worker gives it.
    with running_ca_server(
        directory, port, passphrase=PASSPHRASE, operator_token="t", workers=2, log=log
    ):
        assert "2 tiến trình / worker processes" in log.read_text()
        yield directory, port


def serial_of(directory: Path, name: str) -> str:
    out = openssl("x509", "-in", f"issued/{name}.pem", "-noout", "-serial", cwd=directory)
    return out.strip().split("=", 1)[1]


def ocsp_status(directory: Path, port: int, name: str) -> str:
    return openssl(
        "ocsp", "-issuer", "nghe-an/ca.pem", "-sha256", "-cert", f"issued/{name}.pem",
        "-url", f"http://127.0.0.1:{port}/ocsp/nghe-an",
        "-CAfile", "root/ca.pem", "-verify_other", "nghe-an/ca.pem",
        cwd=directory,
    )  # fmt: skip


def test_init_writes_a_verifiable_hierarchy(served: tuple[Path, int]) -> None:
    directory, _ = served
    chain = openssl(
        "verify", "-CAfile", "root/ca.pem", "-untrusted", "nghe-an/ca.pem",
        "issued/so-tttt-nghe-an.pem", "issued/nguyen-van-an.pem", cwd=directory,
    )  # fmt: skip
    assert chain.count(": OK") == 2, chain
    crl = openssl(
        "crl",
        "-inform",
        "DER",
        "-in",
        "crl/nghe-an.crl",
        "-CAfile",
        "nghe-an/ca.pem",
        "-noout",
        cwd=directory,
    )
    assert "verify OK" in crl
    key = (directory / "issued" / "nguyen-van-an.key.pem").read_text()
    assert "ENCRYPTED PRIVATE KEY" in key
    assert oct((directory / "root" / "ca.key.pem").stat().st_mode & 0o777) == "0o600"
    again = lienthong("ca", "init", str(directory))
    assert again.returncode == 2
    assert "pki.bad_request" in again.stderr


def test_live_ocsp_crl_and_lifecycle_through_the_cli(served: tuple[Path, int]) -> None:
    directory, port = served
    answer = ocsp_status(directory, port, "so-tttt-nghe-an")
    assert "Response verify OK" in answer, answer
    assert "issued/so-tttt-nghe-an.pem: good" in answer
    serial = serial_of(directory, "so-tttt-nghe-an")
    held = lienthong("ca", "suspend", str(directory), serial, "--ca", "nghe-an")
    assert held.returncode == 0, held.stderr
    assert "on-hold" in held.stdout
    assert "issued/so-tttt-nghe-an.pem: revoked" in ocsp_status(directory, port, "so-tttt-nghe-an")
    assert lienthong("ca", "resume", str(directory), serial, "--ca", "nghe-an").returncode == 0
    assert "issued/so-tttt-nghe-an.pem: good" in ocsp_status(directory, port, "so-tttt-nghe-an")
    revoked = lienthong(
        "ca", "revoke", str(directory), serial, "--ca", "nghe-an", "--reason", "keyCompromise"
    )
    assert revoked.returncode == 0, revoked.stderr
    # Each openssl call is a new connection: over several, both workers answer.
    for _ in range(4):
        answer = ocsp_status(directory, port, "so-tttt-nghe-an")
        assert "issued/so-tttt-nghe-an.pem: revoked" in answer
    for attempt in range(4):
        crl = httpx.get(f"http://127.0.0.1:{port}/crl/nghe-an.crl", timeout=10)
        assert crl.status_code == 200
        (directory / "live.crl").write_bytes(crl.content)
        text = openssl("crl", "-inform", "DER", "-in", "live.crl", "-noout", "-text", cwd=directory)
        assert serial.upper() in text.replace(":", "").upper(), attempt
        assert "Key Compromise" in text


def test_refusals_change_nothing(served: tuple[Path, int]) -> None:
    directory, _ = served
    serial = serial_of(directory, "nguyen-van-an")
    wrong = lienthong(
        "ca",
        "suspend",
        str(directory),
        serial,
        "--ca",
        "nghe-an",
        env={"LIENTHONG_CA_PASSPHRASE": "sai"},
    )
    assert wrong.returncode == 1
    assert "pki.key_wrong_passphrase" in wrong.stderr
    unknown = lienthong("ca", "revoke", str(directory), "abcdef", "--ca", "nghe-an")
    assert unknown.returncode == 1
    assert "pki.unknown_serial" in unknown.stderr
    bad = lienthong("ca", "revoke", str(directory), "not-hex", "--ca", "nghe-an")
    assert bad.returncode == 1
    assert "usage.bad_argument" in bad.stderr
    no_ca = lienthong("ca", "revoke", str(directory), serial, "--ca", "nowhere")
    assert "pki.unknown_ca" in no_ca.stderr
    not_held = lienthong("ca", "resume", str(directory), serial, "--ca", "nghe-an")
    assert not_held.returncode == 1
    assert "pki.bad_state" in not_held.stderr


def test_audit_verify_catches_an_edited_entry(served: tuple[Path, int], tmp_path: Path) -> None:
    directory, _ = served
    intact = lienthong("audit", "verify", str(directory), "--json")
    assert intact.returncode == 0, intact.stdout
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "ca.db").write_bytes((directory / "ca.db").read_bytes())
    with sqlite3.connect(copy / "ca.db") as db:
        db.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 2")
    broken = lienthong("audit", "verify", str(copy))
    assert broken.returncode == 1
    assert "edited" in broken.stdout


def test_issue_transfer_and_renew_through_the_cli(served: tuple[Path, int], tmp_path: Path) -> None:
    directory, port = served
    made = lienthong(
        "ca", "issue", str(directory), "--ca", "nghe-an", "--person",
        "--agency-code", "000.00.12.H41", "--agency-name", "Sở TT&TT Nghệ An",
        "--full-name", "Trần Thị Bình", "--title", "Phó Giám đốc", "--citizen-id", "040190012345",
        "--key-type", "p256", "-o", str(tmp_path / "binh"),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (directory / "issued" / "binh.pem").write_bytes((tmp_path / "binh.pem").read_bytes())
    assert "ENCRYPTED" in (tmp_path / "binh.key.pem").read_text()
    old_serial = serial_of(directory, "binh")
    moved = lienthong(
        "ca", "transfer", str(directory), old_serial, "--ca", "nghe-an",
        "--title", "Giám đốc", "-o", str(tmp_path / "binh-new"),
    )  # fmt: skip
    assert moved.returncode == 0, moved.stderr
    new_cert = x509.load_pem_x509_certificate((tmp_path / "binh-new.pem").read_bytes())
    titles = [a.value for a in new_cert.subject.get_attributes_for_oid(NameOID.TITLE)]
    assert titles == ["Giám đốc"]
    names = [a.value for a in new_cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    assert names == ["Trần Thị Bình"]
    assert "issued/binh.pem: revoked" in ocsp_status(directory, port, "binh")
    outside = lienthong(
        "ca", "issue", str(directory), "--ca", "nghe-an", "--organization",
        "--agency-code", "000.00.00.G22", "--agency-name", "Văn phòng Chính phủ",
        "-o", str(tmp_path / "vpcp"),
    )  # fmt: skip
    assert outside.returncode == 1
    assert "pki.out_of_scope" in outside.stderr
    assert not (tmp_path / "vpcp.pem").exists()
    new_serial = openssl(
        "x509", "-in", str(tmp_path / "binh-new.pem"), "-noout", "-serial", cwd=tmp_path
    )
    renewed = lienthong(
        "ca", "renew", str(directory), new_serial.strip().split("=", 1)[1], "--ca", "nghe-an",
        "-o", str(tmp_path / "binh-renewed"),
    )  # fmt: skip
    assert renewed.returncode == 0, renewed.stderr
    assert (tmp_path / "binh-renewed.pem").exists()
