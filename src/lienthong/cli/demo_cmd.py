"""``lienthong demo …``: a guided tour of what exists, on the embedded default store."""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
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
    # A new document number per run (to the millisecond): each run stores a new package.
    number = f"{local:%H%M%S}{local.microsecond // 1000:03d}"
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


# --------------------------------------------------------------------------- demo documents
@dataclass(frozen=True)
class DocumentsDemo:
    """What ``lienthong demo documents`` wrote."""

    written: list[tuple[str, Path]]
    level: str
    number: str


def _free_port() -> int:
    """A free TCP port on 127.0.0.1, chosen by the kernel."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_documents_demo(
    directory: Path,
    *,
    now: datetime,
    level: str = "B-LT",
    passphrase: str = "demo-lienthong",  # noqa: S107 -- the demo CA's fixed passphrase, printed nowhere secret
) -> DocumentsDemo:
    """Make a demo CA in ``directory/ca``, then a generated document signed by the leader and
    issued by the organisation, a signed attachment and a signed electronic copy."""
    from lienthong.authority.process import running_ca_server
    from lienthong.authority.service import init_directory
    from lienthong.signing.appearance import StampImage
    from lienthong.signing.documents import DocumentSpec, generate_document, sample_spec
    from lienthong.signing.identity import ca_directory_identity, trust_roots_of, tsa_url_for
    from lienthong.signing.images import seal_png, signature_png
    from lienthong.signing.pdf import (
        CopyForm,
        Level,
        Services,
        issue,
        sign_attachment,
        sign_copy,
        sign_signer,
    )

    chosen = Level(level.upper())
    directory.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    ca = directory / "ca"
    init_directory(ca, passphrase=passphrase, now=now, base_url=f"http://127.0.0.1:{port}")
    written: list[tuple[str, Path]] = [("CA (lienthong ca init)", ca)]

    def keep(what: str, name: str, data: bytes) -> None:
        path = directory / name
        path.write_bytes(data)
        written.append((what, path))

    person = ca_directory_identity(ca, "issued/nguyen-van-an", passphrase)
    organisation = ca_directory_identity(ca, "issued/so-tttt-nghe-an", passphrase)
    signature = signature_png(person.common_name)
    seal = seal_png("Sở Thông tin và Truyền thông", bottom_text="Tỉnh Nghệ An")
    keep("ảnh chữ ký / signature image", "chu-ky.png", signature)
    keep("ảnh con dấu / seal image", "con-dau.png", seal)
    draft = generate_document(sample_spec(0, signer=person.common_name))
    keep("dự thảo / draft", "1-du-thao.pdf", draft.pdf)
    annex = generate_document(
        DocumentSpec(
            document_type="Phụ lục",
            subject="Danh sách cơ quan, đơn vị kết nối liên thông văn bản điện tử",
            body=sample_spec(1).body,
        )
    )
    services = Services(
        tsa_url=tsa_url_for(organisation.certificate) if chosen != Level.B_B else None,
        trust_roots=trust_roots_of(organisation),
    )
    number = f"{now.astimezone(VIETNAM_TZ):%H%M}/STTTT-VP"
    # The CA answers timestamps and OCSP from a child process, as it would in service.
    context = (
        running_ca_server(ca, port, passphrase=passphrase) if chosen != Level.B_B else nullcontext()
    )
    with context:
        signed = sign_signer(
            draft.pdf, person, StampImage(signature), now=now, level=chosen, services=services
        )
        keep("người có thẩm quyền đã ký / signed by the leader", "2-lanh-dao-ky.pdf", signed.pdf)
        issued = issue(
            signed.pdf, organisation, StampImage(seal), number=number, now=now, level=chosen,
            services=services,
        )  # fmt: skip
        keep("đã ban hành / issued (number, date, seal)", "3-ban-hanh.pdf", issued.pdf)
        attached = sign_attachment(
            annex.pdf, organisation, main_number=number, now=now, level=chosen, services=services
        )
        keep("phụ lục đã ký / signed attachment", "4-phu-luc.pdf", attached.pdf)
        copied = sign_copy(
            issued.pdf, organisation, form=CopyForm.SAO_Y, copy_number="01/SY-STTTT", now=now,
            level=chosen, services=services,
        )  # fmt: skip
        keep("bản sao y điện tử / electronic copy", "5-sao-y.pdf", copied.pdf)
    return DocumentsDemo(written, chosen.value, number)


@app.command("documents")
def documents(
    directory: Annotated[Path, typer.Argument(help="Where to write (a new or empty directory).")],
    level: Annotated[
        str, typer.Option(help="PAdES level: B-B (offline), B-T, B-LT (default) or B-LTA.")
    ] = "B-LT",
) -> None:
    """Văn bản mẫu đã ký / a demo CA and signed documents (signer, issue, attachment, copy)."""
    from lienthong.cli.output import EXIT_INVALID

    if level.upper() not in ("B-B", "B-T", "B-LT", "B-LTA"):
        fail(LienthongError("usage.bad_argument", f"--level {level}"))
    if directory.exists() and any(directory.iterdir()):
        fail(LienthongError("usage.bad_argument", f"{directory} is not empty"))
    try:
        result = run_documents_demo(directory, now=datetime.now(UTC), level=level)
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    out.print(f"[bold]Văn bản mẫu / demo documents[/] (PAdES {result.level}, số / number "
              f"{result.number})")  # fmt: skip
    for what, path in result.written:
        out.print(f"  {what}: {path}")
    out.print(f"\nKiểm tra / check:  pdfsig {directory / '3-ban-hanh.pdf'}")
