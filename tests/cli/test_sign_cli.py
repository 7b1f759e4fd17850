"""``lienthong sign …`` and ``lienthong demo documents`` through the installed entry point,
against a live ``lienthong ca serve``; the results checked with poppler's ``pdfsig``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from lienthong.authority.process import running_ca_server
from lienthong.authority.service import init_directory
from lienthong.signing.documents import generate_document, sample_spec

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSPHRASE = "mật-khẩu CLI ký"
BINARY = str(Path(sys.executable).with_name("lienthong"))


def lienthong(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [BINARY, *args], capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "COLUMNS": "200", "LIENTHONG_CA_PASSPHRASE": PASSPHRASE},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


def short_port() -> int:
    """A free port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def cli_ca(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("cli-sign") / "ca"
    port = short_port()
    init_directory(directory, passphrase=PASSPHRASE, now=datetime.now(UTC),
                   base_url=f"http://127.0.0.1:{port}")  # fmt: skip
    log = directory.parent / "serve.log"
    with running_ca_server(directory, port, passphrase=PASSPHRASE, log=log):
        yield directory


def pdfsig_lines(path: Path) -> list[str]:
    done = subprocess.run(["pdfsig", str(path)], capture_output=True, text=True, check=False)
    return [line.strip() for line in done.stdout.splitlines()]


def test_sign_issue_attachment_and_copy_from_a_ca_directory(cli_ca: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.pdf"
    draft.write_bytes(generate_document(sample_spec(0, signer="Nguyễn Văn An")).pdf)
    ca = ["--ca-dir", str(cli_ca)]
    signed = lienthong("sign", "signer", str(draft), "-o", str(tmp_path / "1.pdf"), *ca,
                       "--as", "issued/nguyen-van-an", "--json")  # fmt: skip
    assert signed.returncode == 0, signed.stderr
    report = json.loads(signed.stdout)
    assert report["field"] == "NguoiKy"
    assert report["level"] == "B-T"
    assert "ảnh mẫu / using a demo signature image" in signed.stderr
    issued = lienthong("sign", "issue", str(tmp_path / "1.pdf"), "-o", str(tmp_path / "2.pdf"),
                       *ca, "--as", "so-tttt-nghe-an", "--number", "9",
                       "--level", "B-LT")  # fmt: skip
    assert issued.returncode == 0, issued.stderr
    assert "Số: 09/STTTT-VP" not in issued.stdout  # the number is in the PDF, not the report
    assert "+07:00" in issued.stdout
    assert "B-LT" in issued.stdout
    attached = lienthong("sign", "attachment", str(draft), "-o", str(tmp_path / "3.pdf"), *ca,
                         "--as", "so-tttt-nghe-an", "--main-number", "09/STTTT-VP",
                         "--json")  # fmt: skip
    assert attached.returncode == 0, attached.stderr
    assert json.loads(attached.stdout)["text"].splitlines()[0] == "09/STTTT-VP"
    copied = lienthong("sign", "copy", str(tmp_path / "2.pdf"), "-o", str(tmp_path / "4.pdf"),
                       *ca, "--as", "so-tttt-nghe-an", "--form", "sao-luc", "--json")  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    assert json.loads(copied.stdout)["text"].startswith("SAO LỤC")
    lines = pdfsig_lines(tmp_path / "4.pdf")
    assert lines.count("- Signature Validation: Signature is Valid.") == 3, lines


def test_usage_errors_are_bilingual_and_coded(cli_ca: Path, tmp_path: Path) -> None:
    draft = tmp_path / "draft.pdf"
    draft.write_bytes(generate_document().pdf)
    missing = lienthong("sign", "signer", str(draft), "-o", str(tmp_path / "x.pdf"))
    assert missing.returncode == 1
    assert "usage.bad_argument" in missing.stderr
    assert "Tham số không hợp lệ" in missing.stderr
    no_signer = lienthong("sign", "issue", str(draft), "-o", str(tmp_path / "x.pdf"),
                          "--ca-dir", str(cli_ca), "--as", "so-tttt-nghe-an", "--number", "1",
                          "--level", "B-B")  # fmt: skip
    assert no_signer.returncode == 1
    assert "signing.no_signer_signature" in no_signer.stderr
    bad_level = lienthong("sign", "copy", str(draft), "-o", str(tmp_path / "x.pdf"),
                          "--ca-dir", str(cli_ca), "--as", "so-tttt-nghe-an",
                          "--level", "C")  # fmt: skip
    assert bad_level.returncode == 1
    assert "--level" in bad_level.stderr
    bad_form = lienthong("sign", "copy", str(draft), "-o", str(tmp_path / "x.pdf"),
                         "--ca-dir", str(cli_ca), "--as", "so-tttt-nghe-an",
                         "--form", "photocopy", "--level", "B-B")  # fmt: skip
    assert bad_form.returncode == 1
    assert "--form 'photocopy'" in bad_form.stderr
    bad_rect = lienthong("sign", "signer", str(draft), "-o", str(tmp_path / "x.pdf"),
                         "--ca-dir", str(cli_ca), "--as", "nguyen-van-an",
                         "--rect", "300,100,200,150", "--level", "B-B")  # fmt: skip
    assert bad_rect.returncode == 1
    assert "--rect" in bad_rect.stderr
    assert not (tmp_path / "x.pdf").exists()


def test_demo_documents_writes_a_signed_set(tmp_path: Path) -> None:
    target = tmp_path / "demo"
    result = lienthong("demo", "documents", str(target), "--level", "B-T")
    assert result.returncode == 0, result.stderr
    for name in ("1-du-thao.pdf", "2-lanh-dao-ky.pdf", "3-ban-hanh.pdf", "4-phu-luc.pdf",
                 "5-sao-y.pdf", "chu-ky.png", "con-dau.png"):  # fmt: skip
        assert (target / name).exists(), name
        assert name in result.stdout
    lines = pdfsig_lines(target / "3-ban-hanh.pdf")
    assert lines.count("- Signature Validation: Signature is Valid.") == 2, lines
    again = lienthong("demo", "documents", str(target))
    assert again.returncode == 2
    assert "not empty" in again.stderr
