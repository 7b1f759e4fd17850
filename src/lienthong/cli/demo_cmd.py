"""``lienthong demo …``: a guided tour of what exists, on the embedded default store."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from lienthong.cli.output import err, fail, out
from lienthong.domain.edxml import parse_package, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.domain.edxml.model import DocumentType, Organization, SignerInfo
from lienthong.domain.edxml.summary import describe_package
from lienthong.domain.edxml.validation import ValidationReport, validate_package
from lienthong.domain.errors import LienthongError
from lienthong.domain.orgcode import parse_agency_code
from lienthong.domain.priority import Priority
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.store import AgencyRepository, BlobStore, PackageRepository, create_engine
from lienthong.store.migrate import upgrade

app = typer.Typer(no_args_is_help=True, help="Demonstrations on the embedded SQLite store.")

SENDER = Organization(
    organ_id="000.00.00.G22",
    organization_in_charge="Văn phòng Chính phủ",
    organ_name="Văn phòng Chính phủ",
    organ_add="Số 1 Hoàng Hoa Thám, Ba Đình, Hà Nội",
    email="vpcp@chinhphu.vn",
)
RECIPIENTS = (
    Organization(organ_id="000.00.00.H41", organ_name="Ủy ban nhân dân tỉnh Nghệ An"),
    Organization(organ_id="000.00.00.H14", organ_name="Ủy ban nhân dân tỉnh Cao Bằng"),
    Organization(organ_id="000.00.11.H53", organ_name="Sở Tài chính tỉnh Tây Ninh"),
)


@dataclass(frozen=True)
class DemoResult:
    """What the demonstration did, for printing and for tests."""

    path: Path
    size: int
    document_id: str
    report: ValidationReport
    round_trip_equal: bool
    package_id: int
    stored_packages: int
    blob_sha256: str
    database_url: str


def minimal_pdf(lines: list[str]) -> bytes:
    """A small valid one-page PDF with ASCII text (the signing part will bring real ones)."""
    text = (
        "BT /F1 12 Tf 72 770 Td 16 TL "
        + " ".join(
            "(" + line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") + ") '"
            for line in lines
        )
        + " ET"
    )
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
            b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>"
        ),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(text), text.encode("ascii")),
    ]
    body = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(body)


def run_demo(var: Path, *, now: datetime, database_url: str | None = None) -> DemoResult:
    """Build a document package, write it, read it back, validate it and store it."""
    var.mkdir(parents=True, exist_ok=True)
    url = database_url or f"sqlite:///{(var / 'lienthong.db').resolve()}"
    local = now.astimezone(VIETNAM_TZ)
    number = f"{local:%H%M%S}"
    pdf = minimal_pdf(
        [
            "CONG HOA XA HOI CHU NGHIA VIET NAM",
            "Doc lap - Tu do - Hanh phuc",
            f"So: {number}/VPCP-TTDT    Ha Noi, ngay {local:%d} thang {local:%m} nam {local:%Y}",
            "V/v ket noi, lien thong phan mem quan ly van ban",
        ]
    )
    draft = DocumentDraft(
        sender=SENDER,
        recipients=RECIPIENTS,
        code_number=number,
        code_notation="VPCP-TTĐT",
        promulgation_date=local.date(),
        place="Hà Nội",
        subject="V/v kết nối, liên thông phần mềm quản lý văn bản",
        document_type=DocumentType("1", "0", "Công văn"),
        signer=SignerInfo("KT. BỘ TRƯỞNG, CHỦ NHIỆM", "PHÓ CHỦ NHIỆM", "Nguyễn Văn An"),
        priority=Priority.URGENT,
        to_places=["Như trên", "Lưu: VT, TTĐT"],
        page_amount=1,
        promulgation_amount=3,
        files=[FileToAttach(f"{number}-VPCP-TTDT.pdf", pdf, "application/pdf", "Công văn")],
    )
    data = serialize_package(build_document(draft, now=now))
    outbox = var / "outbox"
    outbox.mkdir(exist_ok=True)
    path = outbox / f"{local:%Y%m%d}-{number}-VPCP-TTDT.edxml"
    path.write_bytes(data)

    again = path.read_bytes()
    package = parse_package(again)
    report = validate_package(package)
    equal = package == parse_package(serialize_package(package))

    engine = create_engine(url)
    try:
        upgrade(engine)
        sha = BlobStore(var / "blobs").put(again)
        with engine.begin() as connection:
            agencies = AgencyRepository(connection)
            for org in (SENDER, *RECIPIENTS):
                code = org.organ_id or ""
                if agencies.find(code) is None:
                    parsed = parse_agency_code(code)
                    parent = str(parsed.parent) if parsed.parent else None
                    if parent and agencies.find(parent) is None:
                        agencies.add(
                            code=parent,
                            name=f"Đơn vị {parent}",
                            level=parsed.parent.level if parsed.parent else None,
                            created_at=now,
                        )
                    agencies.add(
                        code=code,
                        name=org.organ_name or code,
                        level=parsed.level,
                        parent_code=parent,
                        created_at=now,
                    )
            packages = PackageRepository(connection)
            package_id = packages.record(
                document_id=package.header.document_id or "",
                sender_code=SENDER.organ_id or "",
                kind="document",
                sha256=hashlib.sha256(again).hexdigest(),
                size=len(again),
                stored_at=now,
            )
            stored = packages.count()
    finally:
        engine.dispose()
    return DemoResult(
        path,
        len(again),
        package.header.document_id or "",
        report,
        equal,
        package_id,
        stored,
        sha,
        url,
    )


@app.command("run")
def run(
    var: Annotated[Path, typer.Option(help="Working folder (database, blobs, outbox).")] = Path(
        "var"
    ),
) -> None:
    """Dựng, ghi, đọc lại và kiểm tra một gói tin / build, write, re-read and validate a package."""
    try:
        result = run_demo(var, now=datetime.now(UTC))
    except LienthongError as exc:
        fail(exc, exit_code=1)
    package = parse_package(result.path.read_bytes())
    summary = describe_package(package)
    out.print("[bold]lienthong — trình diễn gói tin edXML / edXML package demonstration[/]")
    recipients = ", ".join(str(t["organ_id"]) for t in summary["to"])
    lines = [
        f"1. Dựng gói tin / built a package: {result.document_id}",
        f"   nơi nhận / recipients: {recipients}",
        *(
            f"   tệp / file: {item['name']} — {item['size']} B, sha256 {item['sha256']}"
            for item in summary["attachments"]
        ),
        f"2. Ghi ra đĩa / wrote: {result.path} ({result.size} B)",
        "3. Đọc lại / re-read: "
        + (
            "mô hình bằng nhau sau khứ hồi / model equal after the round trip"
            if result.round_trip_equal
            else "[red]KHÁC SAU KHỨ HỒI / DIFFERENT AFTER THE ROUND TRIP[/]"
        ),
        "4. Kiểm tra / validated: "
        + ("[green]HỢP LỆ / VALID[/]" if result.report.valid else "[red]LỖI / INVALID[/]")
        + f" — mã / codes: {', '.join(result.report.codes) or '—'}",
        f"5. Lưu trữ / stored: package #{result.package_id} in {result.database_url}",
        f"   blob {result.blob_sha256}",
        f"   tổng số gói đã lưu / packages stored so far: {result.stored_packages}",
    ]
    for line in lines:
        out.print(line)
    out.print("\nThử / try:  .venv/bin/lienthong edxml show " + str(result.path) + " --json")
    if not (result.report.valid and result.round_trip_equal):
        err.print("[red]Demo failed / trình diễn thất bại[/]")
        raise typer.Exit(1)
