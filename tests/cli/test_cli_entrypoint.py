"""The ``lienthong`` command as a user runs it: the installed entry point, in a subprocess."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT.parent / "shared" / "edxml-samples"
#: The sample the standard's sample set ships broken (malformed XML, invalid base64).
BROKEN = "resources_edoc.edxml"


def lienthong_bin() -> str:
    found = Path(sys.executable).with_name("lienthong")
    assert found.exists(), f"entry point not installed next to {sys.executable}"
    return str(found)


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [lienthong_bin(), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout
    return result


def samples() -> list[Path]:
    found = sorted(SAMPLES.glob("*/*.edxml"))
    assert found, f"no samples under {SAMPLES}"
    return found


def test_validate_reports_each_sample_and_fails_on_the_broken_one() -> None:
    result = run("edxml", "validate", *map(str, samples()))
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(samples())
    broken = [line for line in lines if BROKEN in line]
    assert len(broken) == 1
    assert "INVALID" in broken[0]
    assert "edxml.bad_base64" in broken[0]
    assert all("VALID" in line and "INVALID" not in line for line in lines if BROKEN not in line)


def test_validate_good_samples_exits_zero_and_json_lists_findings() -> None:
    good = [str(p) for p in samples() if p.name != BROKEN]
    assert run("edxml", "validate", *good).returncode == 0
    result = run("edxml", "validate", "--json", *good)
    assert result.returncode == 0
    report = json.loads(result.stdout)
    assert len(report) == len(good)
    assert all(item["valid"] for item in report)
    statuses = [item for item in report if item["kind"] == "status"]
    assert statuses, "the sample set has status packages"
    codes = {f["code"] for item in statuses for f in item["findings"]}
    assert codes == {"edxml.missing_signature"}


def test_validate_signature_policy_require_turns_placeholders_into_errors() -> None:
    sample = SAMPLES / "truclienthong-example" / "resources_edoc_new.edxml"
    result = run("edxml", "validate", "--signature", "require", "--json", str(sample))
    assert result.returncode == 1
    (item,) = json.loads(result.stdout)
    errors = [f["code"] for f in item["findings"] if f["severity"] == "error"]
    assert errors == ["edxml.placeholder_signature"]


def test_validate_usage_errors_exit_two(tmp_path: Path) -> None:
    assert run("edxml", "validate", str(tmp_path / "missing.edxml")).returncode == 2
    assert run("edxml", "validate").returncode == 2


def test_validate_garbage_and_hostile_input_is_coded(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.edxml"
    garbage.write_bytes(b"\x00\x01 not xml at all")
    xxe = tmp_path / "xxe.edxml"
    xxe.write_text(
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        '<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">&e;</edXML>'
    )
    result = run("edxml", "validate", "--json", str(garbage), str(xxe))
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert [item["findings"][0]["code"] for item in report] == ["edxml.not_xml", "edxml.unsafe_xml"]
    assert "root:" not in result.stdout  # nothing of /etc/passwd leaked


def test_show_json_describes_the_update_sample() -> None:
    sample = SAMPLES / "truclienthong-example" / "resources_edoc_update.edxml"
    result = run("edxml", "show", "--json", str(sample))
    assert result.returncode == 0
    shown = json.loads(result.stdout)
    assert shown["kind"] == "document"
    assert shown["document_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert shown["from"]["organ_id"] == "000.00.00.G22"
    assert [t["organ_id"] for t in shown["to"]] == [
        "000.00.00.H41",
        "000.00.00.H14",
        "000.00.00.G17",
    ]
    assert shown["code"] == "7816/VPCP-TTĐT"
    assert shown["promulgation_date"] == "2018/09/28"
    assert shown["business_doc_type"] == 2
    assert shown["status_code"] is None
    (attachment,) = shown["attachments"]
    text = sample.read_text(encoding="utf-8")
    encoded = text.split("ContentTransferEncoded")[1].split(">", 1)[1].split("<", 1)[0]
    raw = base64.b64decode("".join(encoded.split()))
    assert attachment["size"] == len(raw)
    assert attachment["sha256"] == hashlib.sha256(raw).hexdigest()
    assert attachment["content_type"] == "application/zip"
    assert attachment["name"] == "1896_QD-TTg_m_294779.doc"


def test_show_json_of_a_status_package() -> None:
    sample = SAMPLES / "truclienthong-example" / "resources_status_finish_06.edxml"
    shown = json.loads(run("edxml", "show", "--json", str(sample)).stdout)
    assert shown["kind"] == "status"
    assert shown["status_code"] == "06"
    assert shown["response_for"][0]["document_id"] == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert shown["business_doc_type"] is None


def test_build_then_validate_and_show(tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\n% demo\n" + bytes(range(256)) * 10
    (tmp_path / "congvan.pdf").write_bytes(pdf)
    (tmp_path / "goi.yaml").write_text(
        """
from: {organ_id: 000.00.00.G22, organ_name: Văn phòng Chính phủ}
to:
  - {organ_id: 000.00.00.H41, organ_name: UBND tỉnh Nghệ An}
  - {organ_id: 001.00.10.H47, organ_name: Một đơn vị cấp 4}
code: {number: "123", notation: VPCP-TTĐT}
promulgation: {place: Hà Nội, date: 2026-11-26}
subject: V/v thử nghiệm đóng gói
priority: 2
files: [congvan.pdf]
""",
        encoding="utf-8",
    )
    out = tmp_path / "out" / "goi.edxml"
    result = run(
        "edxml",
        "build",
        str(tmp_path / "goi.yaml"),
        "-o",
        str(out),
        "--now",
        "2026-11-26T14:30:05+07:00",
    )
    assert result.returncode == 0, result.stderr
    assert run("edxml", "validate", str(out)).returncode == 0
    shown = json.loads(run("edxml", "show", "--json", str(out)).stdout)
    assert shown["document_id"] == "000.00.00.G22,2026/11/26,123/VPCP-TTĐT"
    assert shown["priority"] == "2"
    assert shown["traces"] == [{"organ_id": "000.00.00.G22", "timestamp": "2026/11/26 14:30:05"}]
    assert shown["attachments"][0]["sha256"] == hashlib.sha256(pdf).hexdigest()


@pytest.mark.parametrize(
    ("description", "code"),
    [
        ("from: {organ_id: 000.00.00.G22}\nto: []\n", "usage.bad_argument"),
        ("just a string", "usage.bad_argument"),
        ("{unclosed: [", "usage.bad_argument"),
        (
            (
                "from: {organ_id: 000.00.00.G22}\nto: [{organ_id: 000.00.00.H41}]\n"
                "code: {number: '1', notation: X}\npromulgation: {place: HN, date: 2026-02-30}\n"
                "subject: s\n"
            ),
            "usage.bad_argument",
        ),
        (
            (
                "from: {organ_id: 000.00.00.G22}\nto: [{organ_id: 000.00.00.H41}]\n"
                "code: {number: '1', notation: X}\npromulgation: {place: HN, date: 2026-02-03}\n"
                "subject: s\nfiles: [nothere.pdf]\n"
            ),
            "io.not_found",
        ),
    ],
)
def test_build_refuses_bad_descriptions_with_codes(
    tmp_path: Path, description: str, code: str
) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(description, encoding="utf-8")
    result = run("edxml", "build", str(spec), "-o", str(tmp_path / "x.edxml"))
    assert result.returncode == 2
    assert code in result.stderr
    assert not (tmp_path / "x.edxml").exists()


def test_errors_markdown_matches_the_docs_page() -> None:
    page = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
    assert run("errors", "--markdown").stdout == page


def test_demo_runs_twice_on_sqlite(tmp_path: Path) -> None:
    var = tmp_path / "var"
    first = run("demo", "run", "--var", str(var))
    assert first.returncode == 0, first.stderr
    assert "VALID" in first.stdout
    assert "packages stored so far: 1" in first.stdout
    second = run("demo", "run", "--var", str(var))
    assert second.returncode == 0, second.stderr
    assert "packages stored so far: 2" in second.stdout
    written = sorted((var / "outbox").glob("*.edxml"))
    assert written
    assert run("edxml", "validate", str(written[0])).returncode == 0
    assert (var / "lienthong.db").exists()
    shutil.rmtree(var)
