"""edXML parse + validate + serialise, against plain ``lxml.etree.fromstring`` of the same bytes.

Goal (issue 2): our whole pipeline within 3x the bare lxml parse, for a 5 KB and a 5 MB
package. Each figure is the best of several timed rounds (the least disturbed by the rest of
the machine), for ours and for the baseline alike, taken in the same run.

Run: ``make bench`` (or ``.venv/bin/python bench/bench_edxml.py``).
"""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, date, datetime

from lxml import etree

from lienthong.domain.edxml import parse_package, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.domain.edxml.model import Organization
from lienthong.domain.edxml.validation import validate_package

GOAL_RATIO = 3.0


def make_package(payload_bytes: int) -> bytes:
    """A realistic document package whose attachment makes it about the wanted size."""
    payload = os.urandom(payload_bytes)  # incompressible, like a scanned or signed PDF
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ"),
        recipients=[
            Organization(organ_id=f"000.00.00.H{n:02d}", organ_name=f"UBND tỉnh {n}")
            for n in range(11, 15)
        ],
        code_number="7816",
        code_notation="VPCP-TTĐT",
        promulgation_date=date(2026, 11, 26),
        place="Hà Nội",
        subject="V/v kết nối, liên thông phần mềm quản lý văn bản",
        files=[FileToAttach("7816-VPCP-TTDT.pdf", b"%PDF-1.7\n" + payload)],
    )
    return serialize_package(build_document(draft, now=datetime(2026, 11, 26, 7, 30, tzinfo=UTC)))


def best_of(func: Callable[[], object], *, number: int, rounds: int = 7) -> float:
    """Seconds per call: the best of ``rounds`` rounds of ``number`` calls, after a warm-up."""
    func()
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(number):
            func()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def pipeline(data: bytes) -> bytes:
    """What a receiver does with a package: read it, check it, write it back."""
    package = parse_package(data)
    report = validate_package(package)
    assert report.valid, report.codes
    return serialize_package(package)


def main() -> None:
    """Print one row per package size, and where the time goes."""
    print(f"## edXML pipeline — Python {platform.python_version()}, lxml {etree.__version__}")
    print()
    print("| package | bytes | lxml ms | ours ms | parse | validate | serialise | MB/s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, payload, number in (("5 KB", 1_500, 500), ("5 MB", 3_700_000, 5)):
        data = make_package(payload)
        package = parse_package(data)
        baseline = best_of(lambda data=data: etree.fromstring(data), number=number)
        ours = best_of(lambda data=data: pipeline(data), number=number)
        parse = best_of(lambda data=data: parse_package(data), number=number)
        # Validation of a freshly read package (its payload checks are not cached yet).
        check = best_of(lambda d=data: validate_package(parse_package(d)), number=number) - parse
        write = best_of(lambda p=package: serialize_package(p), number=number)
        ratio = ours / baseline
        verdict = "met" if ratio <= GOAL_RATIO else "missed"
        print(
            f"| {label} | {len(data):,} | {baseline * 1e3:.3f} | {ours * 1e3:.3f} | "
            f"{parse * 1e3:.3f} | {max(check, 0) * 1e3:.3f} | {write * 1e3:.3f} | "
            f"{len(data) / ours / 1e6:.1f} | {ratio:.1f}x ({verdict}, goal ≤ {GOAL_RATIO:.0f}x) |"
        )


if __name__ == "__main__":
    main()
