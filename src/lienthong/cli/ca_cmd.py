"""``lienthong ca …`` and ``lienthong audit …``: the government PKI from the command line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from cryptography import x509
from rich.markup import escape

from lienthong.cli.output import EXIT_INVALID, fail, out, print_json
from lienthong.domain.errors import LienthongError, UsageError

app = typer.Typer(no_args_is_help=True, help="Certificate authority: init, issue, revoke, serve.")
audit_app = typer.Typer(no_args_is_help=True, help="The hash-chained audit log.")

Directory = Annotated[Path, typer.Argument(help="The CA directory (made by `lienthong ca init`).")]
Passphrase = Annotated[
    str | None,
    typer.Option(
        envvar="LIENTHONG_CA_PASSPHRASE",
        help="Passphrase of the CA keys (or LIENTHONG_CA_PASSPHRASE); asked for if missing.",
    ),
]
Operator = Annotated[str, typer.Option(help="Who does this, for the audit log.")]
CaName = Annotated[str, typer.Option("--ca", help="The issuing CA (e.g. nghe-an).")]

_REASONS = {
    flag.value: flag
    for flag in x509.ReasonFlags
    if flag.name not in ("certificate_hold", "remove_from_crl", "unspecified")
}
_REASONS["unspecified"] = x509.ReasonFlags.unspecified


def _passphrase(value: str | None) -> str:
    if value:
        return value
    if not typer.get_text_stream("stdin").isatty():
        raise UsageError(detail="give --passphrase or set LIENTHONG_CA_PASSPHRASE")
    entered: str = typer.prompt("Mật khẩu khóa CA / CA key passphrase", hide_input=True)
    return entered


def _serial(text: str) -> int:
    try:
        return int(text.replace(":", ""), 16)
    except ValueError:
        raise UsageError(detail=f"serial {text!r} is not hexadecimal") from None


def _service(directory: Path, passphrase: str | None):  # type: ignore[no-untyped-def]
    from lienthong.authority.service import DATABASE, AuthorityService

    if not (directory / DATABASE).exists():
        raise LienthongError("pki.unknown_ca", f"{directory} holds no CA (run lienthong ca init)")
    return AuthorityService(directory, _passphrase(passphrase))


@app.command()
def init(
    directory: Directory,
    passphrase: Passphrase = None,
    base_url: Annotated[
        str, typer.Option(help="Where `ca serve` will answer (written into every certificate).")
    ] = "http://127.0.0.1:8088",
) -> None:
    """Tạo CA gốc, CA ủy quyền, chứng thư mẫu / create root and delegated CAs, demo certificates."""
    from lienthong.authority.service import init_directory

    try:
        written = init_directory(
            directory, passphrase=_passphrase(passphrase), now=datetime.now(UTC), base_url=base_url
        )
    except LienthongError as exc:
        fail(exc)
    out.print(f"[bold]Đã tạo CA / CA created in {escape(str(directory))}[/]")
    for item in written:
        out.print(f"  {escape(item.what)}: {escape(str(item.path))}")
    out.print(
        "Trạng thái chứng thư / status services: "
        f"lienthong ca serve {escape(str(directory))} (answers at {escape(base_url)})"
    )


@app.command()
def revoke(
    directory: Directory,
    serial: Annotated[str, typer.Argument(help="Serial number, hexadecimal.")],
    ca: CaName,
    reason: Annotated[
        str, typer.Option(help=f"RFC 5280 reason: {', '.join(sorted(_REASONS))}.")
    ] = "unspecified",
    passphrase: Passphrase = None,
    operator: Operator = "operator",
) -> None:
    """Thu hồi chứng thư / revoke a certificate."""
    if reason not in _REASONS:
        fail(UsageError(detail=f"unknown reason {reason!r}"))
    _change(
        directory,
        passphrase,
        lambda s: s.revoke(
            ca, _serial(serial), _REASONS[reason], operator=operator, now=datetime.now(UTC)
        ),
    )


@app.command()
def suspend(
    directory: Directory,
    serial: str,
    ca: CaName,
    passphrase: Passphrase = None,
    operator: Operator = "operator",
) -> None:
    """Tạm dừng chứng thư / put a certificate on hold."""
    _change(
        directory,
        passphrase,
        lambda s: s.suspend(ca, _serial(serial), operator=operator, now=datetime.now(UTC)),
    )


@app.command()
def resume(
    directory: Directory,
    serial: str,
    ca: CaName,
    passphrase: Passphrase = None,
    operator: Operator = "operator",
) -> None:
    """Khôi phục chứng thư tạm dừng / lift a hold."""
    _change(
        directory,
        passphrase,
        lambda s: s.resume(ca, _serial(serial), operator=operator, now=datetime.now(UTC)),
    )


def _change(directory: Path, passphrase: str | None, action) -> None:  # type: ignore[no-untyped-def]
    try:
        service = _service(directory, passphrase)
        try:
            record = action(service)
        finally:
            service.close()
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    out.print(
        f"{record.serial:x}: {record.status.value}"
        + (f" ({record.reason.value})" if record.reason else "")
    )


@app.command()
def crl(
    directory: Directory,
    ca: CaName,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Where to write the DER CRL.")
    ] = None,
    passphrase: Passphrase = None,
) -> None:
    """Ký CRL mới / sign a fresh CRL (default: crl/<ca>.crl in the directory)."""
    try:
        service = _service(directory, passphrase)
        try:
            der = service.crl_der(ca, now=datetime.now(UTC))
        finally:
            service.close()
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    target = output or directory / "crl" / f"{ca}.crl"
    target.write_bytes(der)
    out.print(f"Đã ghi / wrote {escape(str(target))} ({len(der)} B)")


@app.command()
def serve(
    directory: Directory,
    port: Annotated[int, typer.Option(help="TCP port on 127.0.0.1.")] = 8088,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    passphrase: Passphrase = None,
    operator_token: Annotated[
        str | None,
        typer.Option(
            envvar="LIENTHONG_OPERATOR_TOKEN", help="Bearer token for approving requests."
        ),
    ] = None,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Phục vụ CRL, OCSP, dấu thời gian và đăng ký / serve CRL, OCSP, timestamps, registration."""
    import uvicorn

    from lienthong.authority.http import create_app

    try:
        service = _service(directory, passphrase)
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    app_ = create_app(
        service, service, clock=lambda: datetime.now(UTC), operator_token=operator_token
    )
    out.print(f"lienthong CA: http://{host}:{port}/ (CAs: {', '.join(service.ca_names())})")
    uvicorn.run(
        app_,
        host=host,
        port=port,
        log_level="warning",
        workers=1 if workers < 1 else workers,
        lifespan="off",
        ws="none",
    )


@audit_app.command("verify")
def audit_verify(
    directory: Directory,
    head: Annotated[
        str | None, typer.Option(help="The last hash you kept: detects a cut tail too.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Kiểm tra nhật ký kiểm toán / verify the audit chain; exit 1 if it was tampered with."""
    from lienthong.authority.service import database_url
    from lienthong.store.audit import AuditLog
    from lienthong.store.engine import create_engine

    engine = create_engine(database_url(directory))
    try:
        with engine.connect() as connection:
            result = AuditLog(connection).verify(expected_head_hash=head)
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    finally:
        engine.dispose()
    if as_json:
        print_json(
            {
                "ok": result.ok,
                "count": result.count,
                "head": result.last_hash,
                "problem": str(result.problem) if result.problem else None,
            }
        )
    elif result.ok:
        out.print(
            "[green]Nhật ký nguyên vẹn / audit chain intact[/]: "
            f"{result.count} entries, head {result.last_hash}"
        )
    else:
        out.print(f"[red]Nhật ký bị sửa / audit chain broken[/]: {escape(str(result.problem))}")
    raise typer.Exit(0 if result.ok else EXIT_INVALID)
