"""``lienthong ca …`` and ``lienthong audit …``: the government PKI from the command line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from cryptography import x509
from rich.markup import escape

from lienthong.cli.output import EXIT_INVALID, fail, out, print_json
from lienthong.domain.errors import LienthongError, UsageError

if TYPE_CHECKING:
    from lienthong.authority.service import AuthorityService
    from lienthong.pki.ca import CertificateRecord
    from lienthong.pki.keys import InMemoryKey, SigningKey
    from lienthong.pki.profiles import OrganizationSubject, PersonSubject

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


def _service(directory: Path, passphrase: str | None) -> AuthorityService:
    import os

    from lienthong.authority.service import DATABASE, AuthorityService, token_from_environment

    if not (directory / DATABASE).exists():
        raise LienthongError("pki.unknown_ca", f"{directory} holds no CA (run lienthong ca init)")
    return AuthorityService(
        directory, _passphrase(passphrase), token=token_from_environment(os.environ)
    )


def _pin(value: str | None) -> str:
    if value:
        return value
    if not typer.get_text_stream("stdin").isatty():
        raise UsageError(detail="give --pin or set LIENTHONG_PKCS11_PIN")
    entered: str = typer.prompt("Mã PIN của token / token PIN", hide_input=True)
    return entered


@app.command()
def init(
    directory: Directory,
    passphrase: Passphrase = None,
    base_url: Annotated[
        str, typer.Option(help="Where `ca serve` will answer (written into every certificate).")
    ] = "http://127.0.0.1:8088",
    pkcs11_module: Annotated[
        Path | None,
        typer.Option(
            envvar="LIENTHONG_PKCS11_MODULE",
            help="PKCS#11 library of the token that will hold the CA keys (else: files).",
        ),
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Label of that token (with --pkcs11-module).")
    ] = None,
    pin: Annotated[
        str | None,
        typer.Option(envvar="LIENTHONG_PKCS11_PIN", help="The token's user PIN; asked if missing."),
    ] = None,
) -> None:
    """Tạo CA gốc, CA ủy quyền, chứng thư mẫu / create root and delegated CAs, demo certificates."""
    from lienthong.authority.service import TokenConfig, init_directory

    try:
        token_config = None
        if pkcs11_module is not None or token is not None:
            if pkcs11_module is None or not token:
                raise UsageError(detail="--pkcs11-module and --token go together")
            token_config = TokenConfig(pkcs11_module, _pin(pin), token)
        written = init_directory(
            directory, passphrase=_passphrase(passphrase), now=datetime.now(UTC),
            base_url=base_url, token=token_config,
        )  # fmt: skip
    except LienthongError as exc:
        fail(exc)
    out.print(f"[bold]Đã tạo CA / CA created in {escape(str(directory))}[/]")
    for item in written:
        out.print(f"  {escape(item.what)}: {escape(str(item.path))}")
    out.print(
        "Trạng thái chứng thư / status services: "
        f"lienthong ca serve {escape(str(directory))} (answers at {escape(base_url)})"
    )


KeyType = Annotated[str, typer.Option(help="Key to generate: rsa2048 (default), rsa3072 or p256.")]
Output = Annotated[
    Path,
    typer.Option(
        "-o", "--output", help="Prefix of the files to write: PREFIX.pem, PREFIX.key.pem."
    ),
]


def _subject(
    person: bool,
    agency_code: str,
    agency_name: str,
    full_name: str | None,
    title: str | None,
    citizen_id: str | None,
    province: str | None,
) -> OrganizationSubject | PersonSubject:
    from lienthong.pki.profiles import OrganizationSubject, PersonSubject

    if not person:
        return OrganizationSubject(agency_code, agency_name, province)
    if not (full_name and title):
        raise UsageError(detail="--person needs --full-name and --title")
    return PersonSubject(full_name, title, agency_code, agency_name, citizen_id, province)


def _issued(record: CertificateRecord, output: Path, key: SigningKey, passphrase: str) -> None:
    from lienthong.pki.keystore import save_pem_key

    output.parent.mkdir(parents=True, exist_ok=True)
    cert_path = output.with_name(output.name + ".pem")
    key_path = output.with_name(output.name + ".key.pem")
    cert_path.write_bytes(record.pem)
    save_pem_key(key_path, key, passphrase)
    out.print(f"{record.serial:x}: {escape(record.subject)}")
    out.print(f"  chứng thư / certificate: {escape(str(cert_path))}")
    out.print(
        f"  khóa (mã hóa) / key (encrypted with the same passphrase): {escape(str(key_path))}"
    )


@app.command()
def issue(
    directory: Directory,
    ca: CaName,
    agency_code: Annotated[
        str, typer.Option(help="Agency code (mã định danh), e.g. 000.00.12.H41.")
    ],
    agency_name: Annotated[str, typer.Option(help="Agency name.")],
    output: Output,
    person: Annotated[
        bool, typer.Option("--person/--organization", help="Personal or organisation certificate.")
    ] = False,
    full_name: Annotated[str | None, typer.Option(help="Person: full name.")] = None,
    title: Annotated[str | None, typer.Option(help="Person: title / position (chức vụ).")] = None,
    citizen_id: Annotated[str | None, typer.Option(help="Person: citizen id (CCCD).")] = None,
    province: Annotated[str | None, typer.Option(help="Province.")] = None,
    key_type: KeyType = "rsa2048",
    passphrase: Passphrase = None,
    operator: Operator = "operator",
) -> None:
    """Cấp chứng thư (tạo khóa mới) / issue a certificate for a newly generated key."""

    def action(service: AuthorityService, key: InMemoryKey) -> CertificateRecord:
        subject = _subject(person, agency_code, agency_name, full_name, title, citizen_id, province)
        return service.issue_for_key(ca, key, subject, operator=operator, now=datetime.now(UTC))

    _with_new_key(directory, passphrase, key_type, output, action)


@app.command()
def renew(
    directory: Directory,
    serial: str,
    ca: CaName,
    output: Output,
    key_type: KeyType = "rsa2048",
    passphrase: Passphrase = None,
    operator: Operator = "operator",
) -> None:
    """Cấp lại với khóa mới / re-key: new certificate and key, the old one superseded."""

    def action(service: AuthorityService, key: InMemoryKey) -> CertificateRecord:
        return service.renew(ca, _serial(serial), key, operator=operator, now=datetime.now(UTC))

    _with_new_key(directory, passphrase, key_type, output, action)


@app.command()
def transfer(
    directory: Directory,
    serial: str,
    ca: CaName,
    title: Annotated[str, typer.Option(help="The new title / position.")],
    output: Output,
    agency_code: Annotated[
        str | None, typer.Option(help="New agency code (default: unchanged).")
    ] = None,
    agency_name: Annotated[
        str | None, typer.Option(help="New agency name (default: unchanged).")
    ] = None,
    key_type: KeyType = "rsa2048",
    passphrase: Passphrase = None,
    operator: Operator = "operator",
) -> None:
    """Điều chuyển cán bộ / change of post: revoke (affiliationChanged) and issue the new title."""
    from lienthong.pki.profiles import PersonSubject

    def action(service: AuthorityService, key: InMemoryKey) -> CertificateRecord:
        old = service.ca(ca).record(_serial(serial))
        subject = _person_of(old.certificate)
        new_subject = PersonSubject(
            subject.full_name, title, agency_code or subject.agency_code,
            agency_name or subject.agency_name, subject.citizen_id, subject.province,
        )  # fmt: skip
        return service.transfer(
            ca, old.serial, new_subject, key, operator=operator, now=datetime.now(UTC)
        )

    _with_new_key(directory, passphrase, key_type, output, action)


def _with_new_key(
    directory: Path,
    passphrase: str | None,
    key_type: str,
    output: Path,
    action: Callable[[AuthorityService, InMemoryKey], CertificateRecord],
) -> None:
    """Generate a key, let ``action`` certify it, write both; coded errors, exit 1."""
    from lienthong.pki.keys import generate_key

    try:
        key = generate_key(key_type)
        secret = _passphrase(passphrase)
        service = _service(directory, secret)
        try:
            record = action(service, key)
        finally:
            service.close()
        _issued(record, output, key, secret)
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    except ValueError as exc:  # an unknown key type
        fail(UsageError(detail=str(exc)), exit_code=EXIT_INVALID)


def _person_of(certificate: x509.Certificate) -> PersonSubject:
    from cryptography.x509.oid import NameOID

    from lienthong.pki.oids import CITIZEN_ID_PREFIX
    from lienthong.pki.profiles import PersonSubject, agency_code_of

    def first(oid: x509.ObjectIdentifier) -> str | None:
        found = certificate.subject.get_attributes_for_oid(oid)
        return str(found[0].value) if found else None

    citizen = first(NameOID.USER_ID)
    return PersonSubject(
        first(NameOID.COMMON_NAME) or "",
        first(NameOID.TITLE) or "",
        agency_code_of(certificate.subject) or "",
        first(NameOID.ORGANIZATION_NAME) or "",
        citizen.removeprefix(CITIZEN_ID_PREFIX) if citizen else None,
        first(NameOID.STATE_OR_PROVINCE_NAME),
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


def _change(
    directory: Path,
    passphrase: str | None,
    action: Callable[[AuthorityService], CertificateRecord],
) -> None:
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
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (one per core is best).")
    ] = 1,
    passphrase: Passphrase = None,
    operator_token: Annotated[
        str | None,
        typer.Option(
            envvar="LIENTHONG_OPERATOR_TOKEN", help="Bearer token for approving requests."
        ),
    ] = None,
) -> None:
    """Phục vụ CRL, OCSP, dấu thời gian và đăng ký / serve CRL, OCSP, timestamps, registration."""
    import os

    import uvicorn

    from lienthong.authority import asgi

    try:
        secret = _passphrase(passphrase)
        service = _service(directory, secret)
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    names = ", ".join(service.ca_names())
    out.print(
        f"lienthong CA: http://{host}:{port}/ (CAs: {names}; "
        f"{workers} tiến trình / worker process{'es' if workers > 1 else ''})"
    )
    options: dict[str, object] = {
        "host": host, "port": port, "log_level": "warning", "lifespan": "off", "ws": "none",
    }  # fmt: skip
    if workers == 1:
        uvicorn.run(asgi.build_app(service, operator_token), **options)  # type: ignore[arg-type]
        return
    # Each worker process imports the app and loads the CA itself (the keys were checked
    # above with this passphrase, so a worker cannot fail on them); settings go by environment.
    service.close()
    os.environ[asgi.CA_DIR_ENV] = str(directory.resolve())
    os.environ[asgi.PASSPHRASE_ENV] = secret
    if operator_token:
        os.environ[asgi.OPERATOR_TOKEN_ENV] = operator_token
    # Each worker listens on its own SO_REUSEPORT socket (lienthong.serving): the kernel
    # spreads connections evenly over them.
    from lienthong.serving import serve_workers

    del options["host"], options["port"]
    try:
        code = serve_workers(
            "lienthong.authority.asgi:app_from_environment",
            host=host,
            port=port,
            workers=workers,
            options=options,
        )
    except LienthongError as exc:
        fail(exc, exit_code=EXIT_INVALID)
    if code:
        raise typer.Exit(code)


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
