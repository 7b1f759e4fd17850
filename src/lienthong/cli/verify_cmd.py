"""``lienthong verify FILE…``: kiểm tra chữ ký số / verify the signatures of PDFs and packages.

Exit code 0 only when every signature of every file passed (TOTAL_PASSED) and the appearance
and envelope rules hold; 1 when anything failed or is indeterminate; 2 on a usage error.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lienthong.cli.output import EXIT_INVALID, EXIT_OK, fail, out, print_json
from lienthong.domain.errors import LienthongError, UsageError
from lienthong.signing.report import FileReport, Indication, SignatureReport

_COLOURS = {
    Indication.TOTAL_PASSED: "green",
    Indication.TOTAL_FAILED: "red",
    Indication.INDETERMINATE: "yellow",
}
_WORDS = {
    Indication.TOTAL_PASSED: "HỢP LỆ / PASSED",
    Indication.TOTAL_FAILED: "KHÔNG HỢP LỆ / FAILED",
    Indication.INDETERMINATE: "CHƯA XÁC ĐỊNH / INDETERMINATE",
}


def verify(
    files: Annotated[
        list[Path],
        typer.Argument(exists=True, dir_okay=False, help="PDF or .edxml files to verify."),
    ],
    trust: Annotated[
        list[Path] | None,
        typer.Option(
            "--trust",
            exists=True,
            dir_okay=False,
            help="Trusted root CA certificate (PEM or DER); repeat for several.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
    offline: Annotated[
        bool,
        typer.Option("--offline", help="Do not fetch OCSP/CRL; use only data embedded in files."),
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="Processes for a batch of files (default: one).")
    ] = 1,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Validation time, ISO 8601 with offset (default: now)."),
    ] = None,
) -> None:
    """Kiểm tra chữ ký số / verify signatures: signer, chain, revocation, time, integrity,
    coverage, appearance (PDF) and the envelope signature (edXML)."""
    from lienthong.signing.verify import Verifier, VerifyOptions, verify_batch

    # pyHanko logs validation problems as warnings with tracebacks; the report says it all.
    logging.getLogger("pyhanko").addHandler(logging.NullHandler())
    logging.getLogger("pyhanko_certvalidator").addHandler(logging.NullHandler())
    try:
        options = VerifyOptions.from_pem_files(trust or [], online=not offline, now=_parse_time(at))
    except LienthongError as exc:
        fail(exc)
    if workers > 1 and len(files) > 1:
        reports = verify_batch(files, options, workers=workers)
    else:
        with Verifier(options) as verifier:
            reports = [verifier.verify_file(path) for path in files]
    if as_json:
        print_json([report.to_dict() for report in reports])
    else:
        for report in reports:
            _print_file(report)
    raise typer.Exit(EXIT_OK if all(r.passed for r in reports) else EXIT_INVALID)


def _parse_time(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(detail=f"--at {text!r} is not ISO 8601") from None
    if value.tzinfo is None:
        raise UsageError(detail="--at needs a UTC offset, e.g. 2026-11-26T14:30:05+07:00")
    return value


def _verdict(indication: Indication, sub: object) -> str:
    colour = _COLOURS[indication]
    suffix = f" ({sub})" if sub else ""
    return f"[{colour}]{_WORDS[indication]}{escape(suffix)}[/]"


def _print_file(report: FileReport, indent: str = "") -> None:
    verdict = _verdict(report.indication, report.sub_indication)
    out.print(f"{indent}[bold]{escape(report.file)}[/] — {verdict}")
    if report.document_id:
        out.print(f"{indent}  Mã văn bản / document id: {escape(report.document_id)}")
    for signature in report.signatures:
        out.print(_signature_table(signature))
    for finding in report.findings:
        _print_finding(finding.code, finding.severity.value, finding.detail, indent + "  ")
    for attachment in report.attachments:
        _print_file(attachment, indent + "  ")


def _signature_table(signature: SignatureReport) -> Table:
    title = f"Chữ ký / signature {signature.name} ({signature.role})"
    table = Table(title=escape(title), show_header=False, title_justify="left")
    table.add_column("", style="bold")
    table.add_column("")
    table.add_row("Kết quả / result", _verdict(signature.indication, signature.sub_indication))
    if signature.signer:
        signer = signature.signer
        who = signer.common_name or signer.subject
        if signer.title:
            who += f", {signer.title}"
        if signer.agency_code:
            who += f" [{signer.agency_code}]"
        table.add_row("Người ký / signer", escape(who))
    if signature.chain:
        chain = " → ".join(c.common_name or c.subject for c in signature.chain)
        table.add_row("Chuỗi chứng thư / chain", escape(chain))
    if signature.revocation:
        revocation = signature.revocation
        text = f"{revocation.status.value} ({revocation.source})"
        if revocation.revoked_at:
            text += f", revoked {revocation.revoked_at.isoformat()} {revocation.reason or ''}"
        table.add_row("Trạng thái thu hồi / revocation", escape(text))
    if signature.signing_time:
        source = f" — {signature.signing_time_source}" if signature.signing_time_source else ""
        table.add_row(
            "Thời gian ký / signing time", escape(signature.signing_time.isoformat() + source)
        )
    if signature.timestamp:
        stamp = signature.timestamp
        ok = "ok" if stamp.valid else "INVALID"
        table.add_row(
            "Dấu thời gian / timestamp",
            escape(f"{stamp.time.isoformat()} ({stamp.authority or '?'}, {ok})"),
        )
    integrity = "ok" if signature.intact and signature.valid else "FAILED"
    table.add_row("Toàn vẹn / integrity", integrity)
    if signature.covers:
        table.add_row("Phạm vi ký / covers", escape(signature.covers))
    if signature.covered_parts and signature.kind == "xmldsig":
        table.add_row("Phần được ký / signed parts", escape(", ".join(signature.covered_parts)))
    for finding in signature.findings:
        table.add_row(
            f"[{'red' if finding.severity.value == 'error' else 'yellow'}]{finding.code}[/]",
            escape(_message(finding.code, finding.detail)),
        )
    return table


def _message(code: str, detail: str) -> str:
    from lienthong.domain.errors import lookup

    entry = lookup(code)
    return f"{entry.vi} / {entry.en}" + (f" — {detail}" if detail else "")


def _print_finding(code: str, severity: str, detail: str, indent: str) -> None:
    colour = "red" if severity == "error" else "yellow"
    out.print(f"{indent}[{colour}]{code}[/] {escape(_message(code, detail))}")
