"""``lienthong verify`` as a user runs it: real entry point, real CA server on 127.0.0.1,
human and JSON output, exit codes 0 / 1 / 2, and the batch mode on two processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "signing"))
from test_adversarial import Pki, _package, _signed_pdf, pki  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.xdist_group("verify-ca")]


def lienthong(*args: str) -> subprocess.CompletedProcess[str]:
    binary = Path(sys.executable).with_name("lienthong")
    result = subprocess.run(
        [str(binary), *args], capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert "Traceback" not in result.stderr, result.stderr
    return result


@pytest.fixture(scope="module")
def files(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811
    folder = tmp_path_factory.mktemp("verify-cli")
    pdf = _signed_pdf(pki)
    made = {
        "good.pdf": pdf,
        "good.edxml": _package(pki, files=(pdf,)),
        "revoked.edxml": _package(pki, identity="revoked"),
    }
    made["tampered.edxml"] = made["good.edxml"].replace(b"<edXML:CodeNumber>12<",
                                                         b"<edXML:CodeNumber>13<")  # fmt: skip
    paths = {}
    for name, data in made.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    return paths


def test_all_passed_exits_0(pki: Pki, files: dict[str, Path]) -> None:  # noqa: F811
    root = str(pki.directory / "root" / "ca.pem")
    result = lienthong("verify", str(files["good.pdf"]), str(files["good.edxml"]), "--trust", root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HỢP LỆ / PASSED" in result.stdout
    assert "Người ký / signer" in result.stdout
    assert "Nguyễn Văn An" in result.stdout
    assert "edXMLHeader/Signature" in result.stdout


def test_failures_exit_1_with_json(pki: Pki, files: dict[str, Path]) -> None:  # noqa: F811
    root = str(pki.directory / "root" / "ca.pem")
    result = lienthong("verify", str(files["revoked.edxml"]), str(files["tampered.edxml"]),
                       "--trust", root, "--json")  # fmt: skip
    assert result.returncode == 1, result.stderr
    reports = json.loads(result.stdout)
    assert [r["signatures"][0]["sub_indication"] for r in reports] == [
        "REVOKED_NO_POE",
        "HASH_FAILURE",
    ]
    assert [r["passed"] for r in reports] == [False, False]


def test_untrusted_without_trust_roots(files: dict[str, Path]) -> None:
    result = lienthong("verify", str(files["good.pdf"]), "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)[0]
    assert report["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"


def test_usage_errors_exit_2(tmp_path: Path, files: dict[str, Path]) -> None:
    missing = lienthong("verify", str(tmp_path / "none.pdf"))
    assert missing.returncode == 2
    not_a_cert = tmp_path / "root.pem"
    not_a_cert.write_text("not a certificate")
    bad_trust = lienthong("verify", str(files["good.pdf"]), "--trust", str(not_a_cert))
    assert bad_trust.returncode == 2
    assert "usage.bad_argument" in bad_trust.stderr


def test_batch_on_two_processes(pki: Pki, files: dict[str, Path]) -> None:  # noqa: F811
    root = str(pki.directory / "root" / "ca.pem")
    many = [str(files["good.pdf"])] * 6 + [str(files["tampered.edxml"])]
    result = lienthong("verify", *many, "--trust", root, "--workers", "2", "--json")
    assert result.returncode == 1
    reports = json.loads(result.stdout)
    assert [r["passed"] for r in reports] == [True] * 6 + [False]
