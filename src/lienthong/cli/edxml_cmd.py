"""``lienthong edxml …``: validate, show and build edXML packages."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from lienthong.cli.build_spec import load_draft
from lienthong.cli.output import EXIT_INVALID, EXIT_OK, err, fail, out, print_json
from lienthong.domain.edxml import parse_package, serialize_package
from lienthong.domain.edxml.builder import build_document
from lienthong.domain.edxml.summary import describe_package, to_plain
from lienthong.domain.edxml.validation import (
    Finding,
    SignaturePolicy,
    ValidationOptions,
    validate_package,
)
from lienthong.domain.errors import LienthongError, Severity, UsageError

app = typer.Typer(
    no_args_is_help=True, help="edXML packages (QCVN 102:2016): validate, show, build."
)

ExistingFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="An .edxml file.")
]
#: Show a progress bar when validating at least this many files on a terminal.
_PROGRESS_FROM = 20


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LienthongError("io.unreadable", f"{path}: {exc.strerror}") from None


def _check_file(path: Path, options: ValidationOptions) -> dict[str, object]:
    """Validate one file; every problem becomes a finding, nothing raises."""
    findings: list[Finding]
    kind = document_id = None
    try:
        package = parse_package(_read(path), limits=options.limits)
    except LienthongError as exc:
        findings = [Finding(exc.code, Severity.ERROR, exc.path, exc.detail)]
    else:
        report = validate_package(package, options)
        findings = list(report.findings)
        kind, document_id = package.kind, package.header.document_id
    valid = not any(f.severity is Severity.ERROR for f in findings)
    return {
        "file": str(path),
        "valid": valid,
        "kind": kind,
        "document_id": document_id,
        "findings": [f.as_dict() for f in findings],
    }


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Files to check.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    signature: Annotated[
        SignaturePolicy,
        typer.Option(help="Missing or placeholder envelope signature: require, warn or ignore."),
    ] = SignaturePolicy.WARN,
    legacy_ids: Annotated[
        bool,
        typer.Option(
            "--legacy-ids/--no-legacy-ids", help="Accept legacy agency ids (with a warning)."
        ),
    ] = True,
) -> None:
    """Kiểm tra gói tin / check packages: one line per file with its error codes.

    Exit code 0 if every file is valid, 1 if any is invalid, 2 on a usage error.
    """
    options = ValidationOptions(allow_legacy_ids=legacy_ids, signature_policy=signature)
    results = []
    show_progress = len(files) >= _PROGRESS_FROM and err.is_terminal and not as_json
    with Progress(console=err, transient=True, disable=not show_progress) as progress:
        task = progress.add_task("Đang kiểm tra / checking", total=len(files))
        for path in files:
            results.append(_check_file(path, options))
            progress.advance(task)
    if as_json:
        print_json(results)
    else:
        for result in results:
            _print_line(result)
    all_valid = all(r["valid"] for r in results)
    raise typer.Exit(EXIT_OK if all_valid else EXIT_INVALID)


def _print_line(result: dict[str, object]) -> None:
    findings = result["findings"]
    assert isinstance(findings, list)
    errors = [
        f"{f['code']}@{f['path']}" if f["path"] else f["code"]
        for f in findings
        if f["severity"] == "error"
    ]
    warnings = sorted({f["code"] for f in findings if f["severity"] == "warning"})
    status = "[green]HỢP LỆ / VALID  [/]" if result["valid"] else "[red]LỖI / INVALID  [/]"
    line = f"{status} {escape(str(result['file']))}"
    if errors:
        line += "  " + escape(" ".join(errors))
    if warnings:
        listed = escape(", ".join(warnings))
        line += f"  [yellow](cảnh báo / warnings: {listed})[/]"
    out.print(line)


@app.command()
def show(
    file: ExistingFile,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the parsed model as JSON.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="With --json: every field of the model.")
    ] = False,
) -> None:
    """Xem gói tin / show what a package holds."""
    try:
        package = parse_package(_read(file))
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    summary = describe_package(package)
    if as_json:
        if full:
            summary["model"] = to_plain(package)
        print_json(summary)
        return
    table = Table(show_header=False, box=None)
    labels = {
        "kind": "Loại gói / kind",
        "document_id": "Mã văn bản / document id",
        "code": "Số, ký hiệu / number",
        "subject": "Trích yếu / subject",
        "promulgation_date": "Ngày ban hành / date",
        "status_code": "Trạng thái / status",
    }
    for key, label in labels.items():
        if summary.get(key):
            table.add_row(label, escape(str(summary[key])))
    sender = summary["from"]
    assert isinstance(sender, dict)
    table.add_row("Nơi gửi / from", escape(f"{sender['organ_id']} {sender['organ_name'] or ''}"))
    for recipient in summary["to"]:
        table.add_row(
            "Nơi nhận / to", escape(f"{recipient['organ_id']} {recipient['organ_name'] or ''}")
        )
    for item in summary["attachments"]:
        table.add_row(
            "Tệp / file",
            escape(f"{item['name']} ({item['content_type']}, {item['size']} B, {item['sha256']})"),
        )
    out.print(table)


@app.command()
def build(
    spec: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, help="YAML or JSON description.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the .edxml.")],
    now: Annotated[
        str | None, typer.Option(help="Send time, ISO 8601 with offset (default: now).")
    ] = None,
) -> None:
    """Đóng gói văn bản / build a package from a description and PDF files.

    File paths in the description are relative to the description's folder.
    """
    try:
        at = _parse_now(now)
        draft = load_draft(spec)
        package = build_document(draft, now=at)
        data = serialize_package(package)
        report = validate_package(parse_package(data))
    except LienthongError as exc:
        fail(exc)
    if not report.valid:
        for finding in report.errors:
            where = f"{finding.path} {finding.detail}".strip()
            text = f"{where} — {finding.message_vi} / {finding.message_en}"
            err.print(f"[red]{finding.code}[/] {escape(text)}")
        raise typer.Exit(EXIT_INVALID)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(data)
    out.print(f"Đã ghi / wrote {output} ({len(data)} B) — {package.header.document_id}")


def _parse_now(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(detail=f"--now {text!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise UsageError(detail="--now needs a UTC offset, e.g. 2026-11-26T14:30:05+07:00")
    return value
