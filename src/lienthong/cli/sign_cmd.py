"""``lienthong sign …``: sign PDF documents with the appearance Decree 30/2020 prescribes.

``signer`` (the person with authority), ``issue`` (the organisation: number, date, seal),
``attachment`` and ``copy``. Keys and certificates come from a CA directory (``--ca-dir``
with ``--as NAME``) or a PKCS#12 file (``--p12``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lienthong.cli.output import EXIT_INVALID, err, fail, out, print_json
from lienthong.domain.errors import LienthongError, UsageError

if TYPE_CHECKING:
    from lienthong.signing.appearance import StampImage
    from lienthong.signing.pdf import Level, Services, SigningIdentity, SignResult

app = typer.Typer(no_args_is_help=True, help="Ký số văn bản PDF / sign PDF documents.")

Input = Annotated[Path, typer.Argument(help="The PDF to sign.")]
Output = Annotated[Path, typer.Option("-o", "--output", help="Where to write the signed PDF.")]
CaDir = Annotated[
    Path | None, typer.Option("--ca-dir", help="A CA directory made by `lienthong ca init`.")
]
As = Annotated[
    str | None,
    typer.Option("--as", help="Who signs in --ca-dir: issued/nguyen-van-an, so-tttt-nghe-an…"),
]
Passphrase = Annotated[
    str | None,
    typer.Option(
        envvar="LIENTHONG_CA_PASSPHRASE",
        help="Passphrase of the key in --ca-dir (or LIENTHONG_CA_PASSPHRASE).",
    ),
]
P12 = Annotated[Path | None, typer.Option("--p12", help="A PKCS#12 file with key and chain.")]
P12Passphrase = Annotated[
    str | None,
    typer.Option(
        envvar="LIENTHONG_P12_PASSPHRASE",
        help="Passphrase of --p12 (or LIENTHONG_P12_PASSPHRASE).",
    ),
]
LevelOption = Annotated[
    str, typer.Option("--level", help="PAdES level: B-B, B-T (default), B-LT or B-LTA.")
]
TsaUrl = Annotated[
    str | None,
    typer.Option(help="RFC 3161 timestamp service (default: the CA's, from the certificate)."),
]
TrustRoot = Annotated[
    Path | None,
    typer.Option(help="Root certificate (PEM) for B-LT/B-LTA (default: the chain's root)."),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _identity(
    ca_dir: Path | None, name: str | None, passphrase: str | None, p12: Path | None,
    p12_passphrase: str | None,
) -> SigningIdentity:  # fmt: skip
    from lienthong.signing.identity import ca_directory_identity, pkcs12_identity

    if p12 is not None:
        if ca_dir is not None:
            raise UsageError(detail="give --p12 or --ca-dir, not both")
        if not p12_passphrase:
            raise UsageError(detail="--p12 needs --p12-passphrase or LIENTHONG_P12_PASSPHRASE")
        return pkcs12_identity(p12, p12_passphrase)
    if ca_dir is None or not name:
        raise UsageError(detail="give --ca-dir DIR --as NAME, or --p12 FILE")
    if not passphrase:
        raise UsageError(detail="give --passphrase or set LIENTHONG_CA_PASSPHRASE")
    return ca_directory_identity(ca_dir, name, passphrase)


def _services(
    identity: SigningIdentity, level: Level, tsa_url: str | None, trust_root: Path | None
) -> Services:
    from cryptography import x509

    from lienthong.signing.identity import trust_roots_of, tsa_url_for
    from lienthong.signing.pdf import Level, Services

    url = tsa_url
    if url is None and level != Level.B_B:
        url = tsa_url_for(identity.certificate)
    roots = trust_roots_of(identity)
    if trust_root is not None:
        try:
            roots = (x509.load_pem_x509_certificate(trust_root.read_bytes()),)
        except (OSError, ValueError) as exc:
            raise UsageError(detail=f"--trust-root {trust_root}: {exc}") from None
    return Services(tsa_url=url, trust_roots=roots)


def _level(text: str) -> Level:
    from lienthong.signing.pdf import Level

    try:
        return Level(text.upper())
    except ValueError:
        raise UsageError(detail=f"--level {text!r}: B-B, B-T, B-LT or B-LTA") from None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LienthongError("io.not_found", f"{path}: {exc.strerror}") from None


def _image(path: Path | None, what: str, make_demo: object) -> StampImage:
    from lienthong.signing.appearance import StampImage

    if path is not None:
        return StampImage.from_file(path, what=what)
    err.print(
        f"[yellow]Dùng ảnh mẫu / using a demo {escape(what)} image[/] (give one with "
        f"--{'image' if what == 'signature' else 'seal'})"
    )
    assert callable(make_demo)
    data = make_demo()
    assert isinstance(data, bytes)
    return StampImage(data, what=what)


def _report(result: SignResult, output: Path, as_json: bool) -> None:
    rect = result.rect.as_tuple() if result.rect is not None else None
    if as_json:
        print_json(
            {
                "output": str(output),
                "field": result.field_name,
                "page": result.page,
                "rect": list(rect) if rect else None,
                "signing_time": result.signing_time.isoformat(),
                "level": result.level.value,
                "text": result.text,
            }
        )
        return
    out.print(f"Đã ký / signed: {escape(str(output))}")
    out.print(f"  trường / field: {result.field_name}, trang / page {result.page}, "
              f"ô / box {rect}")  # fmt: skip
    out.print(f"  thời điểm ký / signing time: {result.signing_time.isoformat()}")
    out.print(f"  mức / level: PAdES {result.level.value}")
    if result.text:
        out.print("  nội dung / text: " + escape(result.text.replace("\n", " | ")))


def _write(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise LienthongError("io.unreadable", f"{path}: {exc.strerror}") from None


@dataclass(frozen=True)
class _Signing:
    """What every ``sign`` command takes besides its own options: who signs, how, where to."""

    pdf: Path
    output: Path
    ca_dir: Path | None
    name: str | None
    passphrase: str | None
    p12: Path | None
    p12_passphrase: str | None
    level: str
    tsa_url: str | None
    trust_root: Path | None
    as_json: bool

    def run(
        self,
        sign: Callable[[bytes, SigningIdentity, Level, Services], SignResult],
        *,
        check: Callable[[], None] | None = None,
    ) -> None:
        """Load the signer, sign the input with ``sign``, write and report; coded errors exit
        with status 1 and change nothing."""
        try:
            if check is not None:
                check()
            identity = _identity(
                self.ca_dir, self.name, self.passphrase, self.p12, self.p12_passphrase
            )
            chosen = _level(self.level)
            services = _services(identity, chosen, self.tsa_url, self.trust_root)
            result = sign(_read(self.pdf), identity, chosen, services)
            _write(self.output, result.pdf)
        except LienthongError as exc:
            fail(exc, exit_code=EXIT_INVALID)
        _report(result, self.output, self.as_json)


def _parse_rect(text: str) -> tuple[float, float, float, float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4 or values[2] <= values[0] or values[3] <= values[1]:
        raise UsageError(detail=f"--rect {text!r}: x0,y0,x1,y1 in points, x1>x0, y1>y0")
    return (values[0], values[1], values[2], values[3])


@app.command()
def signer(
    pdf: Input,
    output: Output,
    ca_dir: CaDir = None,
    name: As = None,
    passphrase: Passphrase = None,
    p12: P12 = None,
    p12_passphrase: P12Passphrase = None,
    image: Annotated[
        Path | None, typer.Option(help="The signature image: blue, PNG, transparent.")
    ] = None,
    anchor: Annotated[
        str | None,
        typer.Option(help="Text to sign above (default: the full name in the certificate)."),
    ] = None,
    page: Annotated[int | None, typer.Option(help="Page (from 1) of --rect or --anchor.")] = None,
    rect: Annotated[
        str | None, typer.Option(help="Box x0,y0,x1,y1 in points (instead of --anchor).")
    ] = None,
    level: LevelOption = "B-T",
    tsa_url: TsaUrl = None,
    trust_root: TrustRoot = None,
    as_json: AsJson = False,
) -> None:
    """Người có thẩm quyền ký / the person with authority signs (visible, signature image)."""
    from lienthong.signing.appearance import Rect
    from lienthong.signing.images import signature_png
    from lienthong.signing.pdf import Placement, sign_signer

    placement = None

    def check() -> None:
        nonlocal placement
        if rect is not None:
            placement = Placement(page or 1, Rect(*_parse_rect(rect)))

    def sign(
        data: bytes, identity: SigningIdentity, chosen: Level, services: Services
    ) -> SignResult:
        picture = _image(image, "signature", lambda: signature_png(identity.common_name))
        return sign_signer(
            data, identity, picture, now=datetime.now(UTC), placement=placement, anchor=anchor,
            page=page, level=chosen, services=services,
        )  # fmt: skip

    _Signing(
        pdf, output, ca_dir, name, passphrase, p12, p12_passphrase, level, tsa_url, trust_root,
        as_json,
    ).run(sign, check=check)  # fmt: skip


@app.command("issue")
def issue_command(
    pdf: Input,
    output: Output,
    number: Annotated[
        str, typer.Option(help="Number, or number/notation (e.g. 125 or 125/STTTT-VP).")
    ],
    ca_dir: CaDir = None,
    name: As = None,
    passphrase: Passphrase = None,
    p12: P12 = None,
    p12_passphrase: P12Passphrase = None,
    seal: Annotated[
        Path | None, typer.Option(help="The seal image: red, PNG, transparent, real size.")
    ] = None,
    place: Annotated[
        str | None, typer.Option(help="Place name of the date line (default: the draft's).")
    ] = None,
    level: LevelOption = "B-T",
    tsa_url: TsaUrl = None,
    trust_root: TrustRoot = None,
    as_json: AsJson = False,
) -> None:
    """Ban hành / issue: fill in number and date, sign with the organisation's seal."""
    from lienthong.signing.images import seal_png
    from lienthong.signing.pdf import issue

    def sign(
        data: bytes, identity: SigningIdentity, chosen: Level, services: Services
    ) -> SignResult:
        picture = _image(seal, "seal", lambda: seal_png(identity.organisation))
        return issue(
            data, identity, picture, number=number, now=datetime.now(UTC), level=chosen,
            services=services, place=place,
        )  # fmt: skip

    _Signing(
        pdf, output, ca_dir, name, passphrase, p12, p12_passphrase, level, tsa_url, trust_root,
        as_json,
    ).run(sign)  # fmt: skip


@app.command()
def attachment(
    pdf: Input,
    output: Output,
    main_number: Annotated[
        str, typer.Option(help="Number and notation of the main document (125/STTTT-VP).")
    ],
    ca_dir: CaDir = None,
    name: As = None,
    passphrase: Passphrase = None,
    p12: P12 = None,
    p12_passphrase: P12Passphrase = None,
    level: LevelOption = "B-T",
    tsa_url: TsaUrl = None,
    trust_root: TrustRoot = None,
    as_json: AsJson = False,
) -> None:
    """Ký phụ lục kèm theo / sign an attachment in a separate file (top right, text only)."""
    from lienthong.signing.pdf import sign_attachment

    def sign(
        data: bytes, identity: SigningIdentity, chosen: Level, services: Services
    ) -> SignResult:
        return sign_attachment(
            data, identity, main_number=main_number, now=datetime.now(UTC), level=chosen,
            services=services,
        )  # fmt: skip

    _Signing(
        pdf, output, ca_dir, name, passphrase, p12, p12_passphrase, level, tsa_url, trust_root,
        as_json,
    ).run(sign)  # fmt: skip


_FORMS = {
    "sao-y": "sao y", "sao y": "sao y", "sao-luc": "sao lục", "sao lục": "sao lục",
    "trich-sao": "trích sao", "trích sao": "trích sao",
}  # fmt: skip


@app.command("copy")
def copy_command(
    pdf: Input,
    output: Output,
    form: Annotated[
        str, typer.Option(help="Copy form: sao-y, sao-luc or trich-sao (sao y, sao lục…).")
    ] = "sao-y",
    copy_number: Annotated[
        str | None, typer.Option(help="Number of the copy (e.g. 12/SY-STTTT).")
    ] = None,
    ca_dir: CaDir = None,
    name: As = None,
    passphrase: Passphrase = None,
    p12: P12 = None,
    p12_passphrase: P12Passphrase = None,
    level: LevelOption = "B-T",
    tsa_url: TsaUrl = None,
    trust_root: TrustRoot = None,
    as_json: AsJson = False,
) -> None:
    """Ký bản sao điện tử / sign an electronic copy (top right, copy form, text only)."""
    from lienthong.signing.pdf import CopyForm, sign_copy

    chosen_form = _FORMS.get(form.strip().casefold())

    def check() -> None:
        if chosen_form is None:
            raise UsageError(detail=f"--form {form!r}: sao-y, sao-luc or trich-sao")

    def sign(
        data: bytes, identity: SigningIdentity, chosen: Level, services: Services
    ) -> SignResult:
        assert chosen_form is not None  # checked before
        return sign_copy(
            data, identity, form=CopyForm(chosen_form), copy_number=copy_number,
            now=datetime.now(UTC), level=chosen, services=services,
        )  # fmt: skip

    _Signing(
        pdf, output, ca_dir, name, passphrase, p12, p12_passphrase, level, tsa_url, trust_root,
        as_json,
    ).run(sign, check=check)  # fmt: skip


__all__ = ["app"]
