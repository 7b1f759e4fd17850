"""``lienthong hub …``, ``lienthong send``, ``lienthong inbox``, ``lienthong status``: the
exchange hub (trục liên thông) and its agency SDK from the command line.

``hub serve`` runs the hub (``/v1`` and, when present, the VDXP adapter) on a database and a
CA directory; with ``--demo`` (the default) a missing CA directory is created with the demo
PKI and every organisation certificate in its ``issued/`` folder becomes a connected system
for its agency. The client commands sign their requests with an organisation certificate and
key of a CA directory (``--ca-dir`` and ``--as``) as ADR 0009 describes.
"""

from __future__ import annotations

import atexit
import dataclasses
import json
import os
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from lienthong.cli.output import EXIT_INVALID, fail, out, print_json
from lienthong.domain.errors import LienthongError, UsageError

if TYPE_CHECKING:
    from cryptography import x509
    from sqlalchemy.engine import Engine

    from lienthong.client.api import HubClient
    from lienthong.hub.api import Caller
    from lienthong.hub.maintenance import ClosableVerifier
    from lienthong.hub.push import Notifier
    from lienthong.hub.service import Hub, HubConfig

app = typer.Typer(no_args_is_help=True, help="Trục liên thông / the exchange hub: serve, register.")

DEMO_PASSPHRASE = "lienthong-demo"  # noqa: S105 - the demo CA's passphrase (never for production)
DEFAULT_PORT = 8090
DEFAULT_HUB_URL = f"http://127.0.0.1:{DEFAULT_PORT}"

HubUrl = Annotated[
    str, typer.Option("--hub", envvar="LIENTHONG_HUB_URL", help="The hub's base URL.")
]
CaDir = Annotated[
    Path,
    typer.Option(
        "--ca-dir", envvar="LIENTHONG_CA_DIR", help="CA directory holding the organisation key."
    ),
]
Identity = Annotated[
    str,
    typer.Option(
        "--as",
        envvar="LIENTHONG_AS",
        help="Organisation certificate in the CA directory (e.g. so-tttt-nghe-an).",
    ),
]
Passphrase = Annotated[
    str,
    typer.Option(
        envvar="LIENTHONG_CA_PASSPHRASE", help="Passphrase of the key (LIENTHONG_CA_PASSPHRASE)."
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


# --------------------------------------------------------------------------- serve
def _organisation_certificates(ca_dir: Path) -> list[tuple[str, x509.Certificate]]:
    """``(agency code, certificate)`` of every organisation certificate in ``issued/``."""
    from cryptography import x509

    from lienthong.pki.profiles import agency_code_of

    found: list[tuple[str, x509.Certificate]] = []
    for path in sorted((ca_dir / "issued").glob("*.pem")):
        if path.name.endswith(".key.pem"):
            continue
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
        code = agency_code_of(certificate.subject)
        if code and not _is_person(certificate):
            found.append((code, certificate))
    return found


def _is_person(certificate: x509.Certificate) -> bool:
    from cryptography.x509.oid import NameOID

    return bool(certificate.subject.get_attributes_for_oid(NameOID.TITLE))


def seed_demo_registry(engine: Engine, ca_dir: Path, *, now: datetime) -> list[dict[str, str]]:
    """Register each organisation certificate of ``ca_dir`` as a system ``demo-<code>`` for its
    agency (once), authenticated on ``/v1`` by that certificate.

    Returns what was registered: system id, agency, VDXP secret, certificate fingerprint.
    """
    from cryptography.x509.oid import NameOID

    from lienthong.hub.auth import fingerprint_of
    from lienthong.hub.registry import demo_secret
    from lienthong.store.hub_store import SystemRepository
    from lienthong.store.repositories import AgencyRepository

    registered: list[dict[str, str]] = []
    with engine.begin() as connection:
        agencies = AgencyRepository(connection)
        systems = SystemRepository(connection)
        for code, certificate in _organisation_certificates(ca_dir):
            system_id = f"demo-{code}"
            if systems.get(system_id) is not None:
                continue
            if agencies.find(code) is None:
                names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
                name = str(names[0].value) if names else code
                agencies.add(code=code, name=name, created_at=now)
            secret = demo_secret(system_id)
            fingerprint = fingerprint_of(certificate)
            systems.add(
                system_id=system_id, name=f"Hệ thống demo {code}", agencies=[code],
                created_at=now, secret=secret, cert_sha256=fingerprint,
            )  # fmt: skip
            registered.append(
                {"system_id": system_id, "agency": code, "secret": secret, "sha256": fingerprint}
            )
    return registered


#: The second demo agency (the first, Sở TT&TT 000.00.12.H41, comes with ``ca init``).
DEMO_RECIPIENT = ("000.00.20.H41", "Sở Y tế tỉnh Nghệ An", "so-y-te-nghe-an")


def add_demo_recipient(ca_dir: Path, passphrase: str, *, now: datetime) -> None:
    """Issue an organisation certificate for a second agency of the demo CA (once), so that
    two agencies can exchange documents through the demo hub."""
    from lienthong.authority.service import AuthorityService
    from lienthong.pki.keys import generate_key
    from lienthong.pki.keystore import save_pem_key
    from lienthong.pki.profiles import OrganizationSubject

    code, name, stem = DEMO_RECIPIENT
    if (ca_dir / "issued" / f"{stem}.pem").exists():
        return
    key = generate_key("rsa2048")
    service = AuthorityService(ca_dir, passphrase)
    try:
        record = service.issue_for_key(
            "nghe-an", key, OrganizationSubject(code, name, "Nghệ An"), operator="hub-demo",
            now=now,
        )  # fmt: skip
    finally:
        service.close()
    save_pem_key(ca_dir / "issued" / f"{stem}.key.pem", key, passphrase)
    (ca_dir / "issued" / f"{stem}.pem").write_bytes(record.pem)


def write_demo_letters(
    target: Path, *, now: datetime, ca_dir: Path | None = None, passphrase: str = DEMO_PASSPHRASE
) -> list[Path]:
    """Two letters (công văn) between the demo agencies, each with a generated PDF, ready for
    ``lienthong send`` (which signs the envelope). With ``ca_dir`` the PDF carries the sending
    organisation's signature (B-B, an attachment's corner signature), so that the hub's PDF
    check passes; without it the PDF is unsigned (the check does not pass: flagged)."""
    from lienthong.domain.edxml import Organization, serialize_package
    from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
    from lienthong.domain.vntime import VIETNAM_TZ
    from lienthong.signing.documents import generate_document, sample_spec
    from lienthong.signing.identity import ca_directory_identity
    from lienthong.signing.pdf import Level, sign_attachment

    target.mkdir(parents=True, exist_ok=True)
    sttt = Organization(organ_id="000.00.12.H41", organ_name="Sở Thông tin và Truyền thông")
    syt = Organization(organ_id=DEMO_RECIPIENT[0], organ_name=DEMO_RECIPIENT[1])
    written = []
    for index, (sender, recipient, notation, stem, identity) in enumerate(
        [
            (sttt, syt, "STTTT-VP", "gui-so-y-te", "so-tttt-nghe-an"),
            (syt, sttt, "SYT-VP", "gui-so-tttt", DEMO_RECIPIENT[2]),
        ]
    ):
        local = now.astimezone(VIETNAM_TZ)
        number = f"{local:%H%M%S}{index}"
        pdf = generate_document(sample_spec(index)).pdf
        if ca_dir is not None:
            try:
                signer = ca_directory_identity(ca_dir, identity, passphrase)
                pdf = sign_attachment(
                    pdf, signer, main_number=f"{number}/{notation}", now=now, level=Level.B_B
                ).pdf
            except (OSError, ValueError, LienthongError):
                pass  # not the demo CA (no such organisation, other passphrase): unsigned
        draft = DocumentDraft(
            sender=sender,
            recipients=[recipient],
            code_number=number,
            code_notation=notation,
            promulgation_date=local.date(),
            place="Nghệ An",
            subject="Về việc thử nghiệm trục liên thông văn bản",
            files=[FileToAttach(f"{number}-{notation}.pdf", pdf)],
        )
        path = target / f"{stem}.edxml"
        path.write_bytes(serialize_package(build_document(draft, now=now)))
        written.append(path)
    return written


class _CaDirectoryRevocation:
    """Revocation read straight from the CA directory's own database (the hub runs next to
    its CA): no network, always current."""

    def __init__(self, ca_dir: Path) -> None:
        from cryptography import x509

        from lienthong.authority.registry import StoreRegistry
        from lienthong.authority.service import database_url
        from lienthong.store.engine import create_engine

        self._engine = create_engine(database_url(ca_dir))
        self._registry = StoreRegistry(self._engine)
        self._names = {
            x509.load_pem_x509_certificate(p.read_bytes()).subject.public_bytes(): p.parent.name
            for p in ca_dir.glob("*/ca.pem")
        }

    def is_revoked(
        self, certificate: x509.Certificate, issuer: x509.Certificate, *, now: datetime
    ) -> bool:
        from lienthong.hub.auth import AuthError
        from lienthong.pki.ca import CertStatus

        name = self._names.get(issuer.subject.public_bytes())
        if name is None:
            raise AuthError("hub.auth_revocation_unknown", "issuer is not a CA of the directory")
        state = self._registry.states(name, [certificate.serial_number]).get(
            certificate.serial_number
        )
        if state is None:
            raise AuthError("hub.auth_revocation_unknown", "serial unknown to its CA")
        return state.status is not CertStatus.GOOD


def _resolver(hub: Hub) -> Callable[[str], Caller | None]:
    def resolve(fingerprint: str) -> Caller | None:
        info = hub.system_by_certificate(fingerprint)
        return None if info is None else info.caller

    return resolve


def _seed_demo(engine: Engine, ca_dir: Path, *, now: datetime, announce: bool) -> None:
    from lienthong.hub.registry import demo_registry, describe_systems, load_registry

    registry = demo_registry()
    load_registry(engine, registry, now=now)
    registered = seed_demo_registry(engine, ca_dir, now=now)
    if announce:
        out.print("Danh mục demo / demo registry (VDXP system id, secret):")
        out.print(escape(describe_systems(registry)))
        for entry in registered:
            out.print(
                f"Hệ thống / system [bold]{entry['system_id']}[/] cơ quan / agency "
                f"{entry['agency']} secret {entry['secret']}"
            )


@dataclass(frozen=True)
class PdfSettings:
    """The background pipeline's settings of ``hub serve`` (see docs/hub-api.md)."""

    check: str = "background"  #: off, entry, background
    policy: str = "flag"  #: flag or reject: recipients not in ``reject``
    reject: tuple[str, ...] = ()  #: recipients whose policy is reject
    revocation: str = "ca-dir"  #: ca-dir, online, none
    remind_every: float = 60.0  #: seconds between reminder runs (0: never)
    undelivered_after: float = 86400.0  #: seconds before an open delivery is "undelivered"
    lease: float = 60.0  #: seconds a process's claim on a PDF check lasts

    def to_env(self) -> dict[str, str]:
        """For the worker processes of ``--workers N``."""
        return {_ENV_PDF: json.dumps(dataclasses.asdict(self))}

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> PdfSettings:
        """What :meth:`to_env` wrote (the defaults without it)."""
        raw = environ.get(_ENV_PDF)
        if not raw:
            return cls()
        values = json.loads(raw)
        values["reject"] = tuple(values.get("reject", ()))
        return cls(**values)


def pdf_verifier_factory(
    ca_dir: Path, revocation: str, passphrase: str
) -> tuple[Callable[[], ClosableVerifier], Callable[[], None]]:
    """Makes the PDF verifiers of the hub (one per maintenance thread), trusting the CA
    directory's roots; and what closes what they share.

    ``revocation``: ``ca-dir`` gives the path validation the current CRLs of the directory's
    CAs, signed on demand (the hub runs next to its CA; no network, and the demo's status URLs
    are served by nobody); ``online`` fetches OCSP/CRL from the certificates' URLs; ``none``
    uses only what the PDF embeds — usually nothing, so revocation is INDETERMINATE, which the
    hub counts as not passed.
    """
    from cryptography.hazmat.primitives import serialization

    from lienthong.hub.maintenance import CrlVerifier
    from lienthong.signing.identity import ca_directory_roots
    from lienthong.signing.verify import Verifier, VerifyOptions

    roots = tuple(
        c.public_bytes(serialization.Encoding.DER)
        for c in ca_directory_roots(ca_dir)
        if c.issuer == c.subject
    )
    match revocation:
        case "online":
            options = VerifyOptions(roots, online=True)
            return (lambda: Verifier(options)), (lambda: None)
        case "none":
            offline = VerifyOptions(roots, online=False)
            return (lambda: Verifier(offline)), (lambda: None)
        case "ca-dir":
            from lienthong.authority.service import AuthorityService

            try:
                authority = AuthorityService(ca_dir, passphrase)
            except (LienthongError, OSError, ValueError) as exc:
                raise UsageError(
                    detail=f"--pdf-revocation ca-dir: cannot open the CAs of {ca_dir} ({exc}); "
                    "set LIENTHONG_CA_PASSPHRASE or use --pdf-revocation online"
                ) from None

            def crls() -> list[bytes]:
                now = datetime.now(UTC)
                return [authority.crl_der(name, now=now) for name in authority.ca_names()]

            local = VerifyOptions(roots, online=False)
            return (lambda: CrlVerifier(local, crls)), authority.close
        case _:
            raise UsageError(detail=f"--pdf-revocation {revocation}: ca-dir, online or none")


def hub_config(
    pdf: PdfSettings, ca_dir: Path
) -> tuple[HubConfig, Callable[[], ClosableVerifier] | None, list[Callable[[], None]]]:
    """The core's configuration for ``pdf``, the maker of the maintenance thread's verifier
    (background mode) and what to close when the hub stops."""
    from datetime import timedelta

    from lienthong.hub.service import HubConfig, LockedVerifier, PdfCheck, PdfPolicy

    try:
        mode, policy = PdfCheck(pdf.check), PdfPolicy(pdf.policy)
    except ValueError:
        raise UsageError(
            detail=f"--pdf-check {pdf.check} / --pdf-policy {pdf.policy}: "
            "off|entry|background, flag|reject"
        ) from None
    factory: Callable[[], ClosableVerifier] | None = None
    closers: list[Callable[[], None]] = []
    entry_verifier = None
    if mode is not PdfCheck.OFF:
        passphrase = os.environ.get("LIENTHONG_CA_PASSPHRASE", DEMO_PASSPHRASE)
        factory, close_shared = pdf_verifier_factory(ca_dir, pdf.revocation, passphrase)
        closers.append(close_shared)
        if mode is PdfCheck.ENTRY:  # one verifier shared by the request threads
            made = factory()
            closers.insert(0, made.close)
            entry_verifier = LockedVerifier(made)  # type: ignore[arg-type]
            factory = None
    config = HubConfig(
        undelivered_after=timedelta(seconds=pdf.undelivered_after),
        pdf_check=mode,
        pdf_verifier=entry_verifier,
        pdf_policy=policy,
        pdf_policies=dict.fromkeys(pdf.reject, PdfPolicy.REJECT),
        pdf_lease=timedelta(seconds=pdf.lease),
    )
    return config, factory, closers


def build_app(
    *,
    db: str,
    data_dir: Path,
    ca_dir: Path,
    revocation: str,
    window: float,
    demo: bool,
    announce: bool = True,
    pdf: PdfSettings | None = None,
    metrics_dir: Path | None = None,
) -> object:
    """The hub's ASGI app over ``db`` and ``ca_dir`` (what ``hub serve`` runs), with its
    maintenance loop (background PDF checks, reminders) started by the app's lifespan.
    ``metrics_dir``: where the worker processes of one ``hub serve --workers N`` share their
    metrics, so that any of them answers ``/metrics`` for all (``lienthong.hub.metrics``)."""
    from datetime import timedelta

    from lienthong.hub.auth import OcspRevocation, RequestAuthenticator, RevocationChecker
    from lienthong.hub.http import create_hub_app
    from lienthong.hub.maintenance import Maintenance
    from lienthong.hub.metrics import Metrics
    from lienthong.hub.push import Notifier
    from lienthong.hub.service import Hub
    from lienthong.signing.identity import ca_directory_roots
    from lienthong.store.blobs import BlobStore
    from lienthong.store.engine import create_engine
    from lienthong.store.migrate import upgrade

    now = datetime.now(UTC)
    if not (ca_dir / "root" / "ca.pem").exists():
        if not demo:
            raise UsageError(detail=f"{ca_dir} holds no CA (run lienthong ca init, or --demo)")
        from lienthong.authority.service import init_directory

        passphrase = os.environ.get("LIENTHONG_CA_PASSPHRASE", DEMO_PASSPHRASE)
        init_directory(ca_dir, passphrase=passphrase, now=now)
        add_demo_recipient(ca_dir, passphrase, now=now)
        if announce:
            out.print(f"CA demo đã tạo / demo CA created: {escape(str(ca_dir))}")
    data_dir.mkdir(parents=True, exist_ok=True)
    pdf = pdf or PdfSettings()
    config, factory, closers = hub_config(pdf, ca_dir)
    engine = create_engine(db)
    upgrade(engine)
    hub = Hub(engine, BlobStore(data_dir / "blobs"), config)
    if demo:
        _seed_demo(engine, ca_dir, now=now, announce=announce)
    cas = ca_directory_roots(ca_dir)
    roots = [c for c in cas if c.issuer == c.subject]
    checker: RevocationChecker | None
    match revocation:
        case "ca-dir":
            checker = _CaDirectoryRevocation(ca_dir)
        case "ocsp":
            checker = OcspRevocation()
        case "none":
            checker = None
        case _:
            raise UsageError(detail=f"--revocation {revocation}: ca-dir, ocsp or none")
    authenticator = RequestAuthenticator(
        trust_roots=roots,
        intermediates=[c for c in cas if c.issuer != c.subject],
        resolve=_resolver(hub),
        revocation=checker,
        window=timedelta(seconds=window),
    )
    notifier = Notifier()
    _fan_out(notifier, db, engine.dialect.name, data_dir)
    from lienthong.hub.vdxp import vdxp_router

    extra = [vdxp_router(hub)]  # the national SDK's protocol, /XrdAdapter/adapter/{method}
    maintenance = Maintenance(
        hub, verifier_factory=factory, remind_every=pdf.remind_every, on_stop=closers
    )
    return create_hub_app(
        hub,
        authenticator=authenticator,
        notifier=notifier,
        extra_routers=extra,
        maintenance=maintenance,
        metrics=Metrics(metrics_dir),
    )


def _fan_out(notifier: Notifier, db: str, dialect: str, data_dir: Path) -> None:
    """Wake the streams of the other hub processes on this database too: NOTIFY on
    PostgreSQL, loopback datagrams between the processes of one machine on SQLite."""
    from lienthong.hub.push import LocalWakeBridge, PgNotifyBridge

    if dialect == "postgresql":
        PgNotifyBridge(db, notifier).start()
        return
    bridge = LocalWakeBridge(data_dir / "wake", notifier)
    bridge.start()
    atexit.register(bridge.stop)


@app.command()
def serve(
    db: Annotated[
        str | None,
        typer.Option(envvar="LIENTHONG_HUB_DB", help="Database URL (default: SQLite in --data)."),
    ] = None,
    port: Annotated[int, typer.Option(help="TCP port.")] = DEFAULT_PORT,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    data: Annotated[Path, typer.Option(help="Directory of the blobs (and SQLite file).")] = Path(
        "lienthong-hub"
    ),
    ca_dir: Annotated[
        Path | None, typer.Option("--ca-dir", help="CA directory (trust roots, demo systems).")
    ] = None,
    revocation: Annotated[
        str, typer.Option(help="How certificates are checked: ca-dir, ocsp or none.")
    ] = "ca-dir",
    window: Annotated[
        float, typer.Option(help="Seconds a signed request's date may differ from ours.")
    ] = 300.0,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Create a demo CA and register its systems.")
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            min=1, max=64, help="Worker processes (one per core; PostgreSQL recommended)."
        ),
    ] = 1,
    pdf_check: Annotated[
        str,
        typer.Option(
            help="Kiểm tra chữ ký PDF / when PDF signatures are checked: off, entry (in the "
            "send, slow) or background (before delivery; deliveries are held until then)."
        ),
    ] = "background",
    pdf_policy: Annotated[
        str,
        typer.Option(
            help="Chính sách / what recipients not named by --pdf-reject want when PDF "
            "signatures do not pass (INDETERMINATE included): flag (deliver, flagged) or "
            "reject (refuse the delivery)."
        ),
    ] = "flag",
    pdf_reject: Annotated[
        list[str] | None,
        typer.Option(
            "--pdf-reject",
            help="Mã cơ quan / a recipient whose policy is reject (repeatable).",
        ),
    ] = None,
    pdf_revocation: Annotated[
        str,
        typer.Option(
            help="Thu hồi / revocation of PDF signers: ca-dir (the CA directory's own CRLs), "
            "online (the certificates' OCSP/CRL URLs) or none (INDETERMINATE: not passed)."
        ),
    ] = "ca-dir",
    remind_every: Annotated[
        float,
        typer.Option(
            min=0, help="Nhắc việc / seconds between reminder runs (late deliveries; 0: never)."
        ),
    ] = 60.0,
    undelivered_after: Annotated[
        float,
        typer.Option(
            min=1, help="Seconds after which an open delivery is long undelivered (reminded)."
        ),
    ] = 86400.0,
) -> None:
    """Chạy trục liên thông / run the hub (``/v1``, ``/healthz``, ``/metrics``)."""
    import uvicorn

    from lienthong.serving import serve_workers

    data = data.resolve()
    url = db or f"sqlite:///{data / 'hub.db'}"
    pdf = PdfSettings(
        check=pdf_check, policy=pdf_policy, reject=tuple(pdf_reject or ()),
        revocation=pdf_revocation, remind_every=remind_every,
        undelivered_after=undelivered_after,
    )  # fmt: skip
    try:
        asgi = build_app(
            db=url,
            data_dir=data,
            ca_dir=(ca_dir or data / "ca").resolve(),
            revocation=revocation,
            window=window,
            demo=demo,
            pdf=pdf,
        )
    except LienthongError as error:
        fail(error)
    base = f"http://{host}:{port}"
    out.print(
        f"Trục liên thông / hub: {base}  (OpenAPI: {base}/docs, VDXP: {base}/XrdAdapter/adapter)"
    )
    ca_hint = escape(str((ca_dir or data / "ca").resolve()))
    if demo:
        letters = write_demo_letters(
            data / "demo",
            now=datetime.now(UTC),
            ca_dir=(ca_dir or data / "ca").resolve(),
            passphrase=os.environ.get("LIENTHONG_CA_PASSPHRASE", DEMO_PASSPHRASE),
        )
        send_hint = escape(str(letters[0]))
        out.print(
            "Thử / try (Sở TT&TT gửi Sở Y tế / one agency sends to another):\n"
            f"  export LIENTHONG_HUB_URL={base} LIENTHONG_CA_DIR={ca_hint}\n"
            f"  lienthong send {send_hint} --as so-tttt-nghe-an\n"
            "  lienthong inbox --as so-y-te-nghe-an --fetch in/\n"
            "  lienthong status in/<số gói / package id>.edxml --code 03 --as so-y-te-nghe-an\n"
            "  (docs/hub-api.md; passphrase: LIENTHONG_CA_PASSPHRASE, demo: lienthong-demo)"
        )
    else:
        out.print(f"  export LIENTHONG_HUB_URL={base} LIENTHONG_CA_DIR={ca_hint}")
    if workers == 1:
        uvicorn.run(
            asgi, host=host, port=port, log_level="warning", access_log=False,  # type: ignore[arg-type]
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )  # fmt: skip
        return
    # Everything that is done once (demo CA, migrations, registry) is done above, here; each
    # worker process imports the app and opens the database, configured by the environment.
    os.environ.update({
        _ENV_DB: url, _ENV_DATA: str(data), _ENV_CA: str((ca_dir or data / "ca").resolve()),
        _ENV_REVOCATION: revocation, _ENV_WINDOW: str(window), **pdf.to_env(),
    })  # fmt: skip
    _clear_metrics(data / METRICS_DIR)  # the last run's workers are not ours to add up
    # Each worker listens on its own SO_REUSEPORT socket: the kernel spreads connections
    # evenly (uvicorn's shared socket lets one process take most of a burst).
    try:
        code = serve_workers(
            "lienthong.cli.hub_cmd:app_from_environment", host=host, port=port, workers=workers,
            options={"log_level": "warning", "access_log": False,
                     "timeout_graceful_shutdown": SHUTDOWN_GRACE},
            grace=SHUTDOWN_GRACE + 2,
        )  # fmt: skip
    except LienthongError as error:
        fail(error)
    if code:
        raise typer.Exit(code)


#: Seconds open requests get to finish at shutdown: SSE streams never finish by themselves,
#: and without a limit they would keep the process (and its maintenance loop) alive.
SHUTDOWN_GRACE = 3

_ENV_DB = "LIENTHONG_HUB_DB"
_ENV_DATA = "LIENTHONG_HUB_DATA"
_ENV_CA = "LIENTHONG_HUB_CA_DIR"
_ENV_REVOCATION = "LIENTHONG_HUB_REVOCATION"
_ENV_WINDOW = "LIENTHONG_HUB_WINDOW"
_ENV_PDF = "LIENTHONG_HUB_PDF"


#: Where the workers of ``hub serve --workers N`` share their metrics, under ``--data``.
METRICS_DIR = "metrics"


def _clear_metrics(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for stale in [*directory.glob("*.json"), *directory.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)


def app_from_environment() -> object:
    """The app of one ``hub serve --workers N`` worker process (the settings ``serve`` put in
    the environment; the demo CA and registry already exist)."""
    return build_app(
        db=os.environ[_ENV_DB],
        data_dir=Path(os.environ[_ENV_DATA]),
        ca_dir=Path(os.environ[_ENV_CA]),
        revocation=os.environ.get(_ENV_REVOCATION, "ca-dir"),
        window=float(os.environ.get(_ENV_WINDOW, "300")),
        demo=False,
        announce=False,
        pdf=PdfSettings.from_env(os.environ),
        metrics_dir=Path(os.environ[_ENV_DATA]) / METRICS_DIR,
    )


@app.command("register-system")
def register_system(
    system_id: Annotated[str, typer.Argument(help="The system's id.")],
    certificate: Annotated[
        Path, typer.Option("--cert", help="Its organisation certificate (PEM).")
    ],
    agencies: Annotated[list[str], typer.Option("--agency", help="An agency it acts for.")],
    db: Annotated[str, typer.Option(envvar="LIENTHONG_HUB_DB", help="Database URL.")],
    operator: Annotated[bool, typer.Option(help="Give it the operator role.")] = False,
) -> None:
    """Đăng ký hệ thống kết nối / register a connected system and its certificate."""
    from cryptography import x509

    from lienthong.hub.auth import fingerprint_of
    from lienthong.store.engine import create_engine
    from lienthong.store.hub_store import SystemRepository

    try:
        cert = x509.load_pem_x509_certificate(certificate.read_bytes())
    except (OSError, ValueError) as exc:
        fail(UsageError(detail=f"{certificate}: {exc}"))
    secret = secrets.token_hex(16)
    engine = create_engine(db)
    try:
        with engine.begin() as connection:
            SystemRepository(connection).add(
                system_id=system_id, name=system_id, agencies=agencies,
                created_at=datetime.now(UTC), secret=secret,
                cert_sha256=fingerprint_of(cert), operator=operator,
            )  # fmt: skip
    except LienthongError as error:
        fail(error)
    finally:
        engine.dispose()
    out.print(f"Đã đăng ký / registered {escape(system_id)} — VDXP secret {secret}")


# --------------------------------------------------------------------------- client side
def _client(hub: str, ca_dir: Path, identity: str, passphrase: str) -> HubClient:
    from lienthong.client.api import HubClient
    from lienthong.signing.identity import ca_directory_identity

    try:
        signer = ca_directory_identity(ca_dir, identity, passphrase)
    except (OSError, ValueError) as exc:
        fail(UsageError(detail=f"{ca_dir}/{identity}: {exc}"))
    return HubClient(hub, key=signer.key, certificate=signer.certificate, chain=signer.chain)


def _agency_of(client: HubClient) -> str:
    from lienthong.pki.profiles import agency_code_of

    code = agency_code_of(client.certificate.subject)
    if code is None:
        fail(UsageError(detail="the certificate names no agency: give --agency"))
    return code


def send(
    file: Annotated[Path, typer.Argument(help="The .edxml package to send.")],
    identity: Identity,
    hub: HubUrl = DEFAULT_HUB_URL,
    ca_dir: CaDir = Path("lienthong-hub/ca"),
    passphrase: Passphrase = DEMO_PASSPHRASE,
    sign: Annotated[
        bool, typer.Option("--sign/--no-sign", help="Sign the envelope before sending.")
    ] = True,
    as_json: AsJson = False,
) -> None:
    """Gửi gói tin / send a package to the hub (the receipt comes once it is stored)."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(LienthongError("io.not_found", f"{file}: {exc.strerror}"))
    with _client(hub, ca_dir, identity, passphrase) as client:
        try:
            if sign:
                from lienthong.signing.xmldsig import sign_envelope

                data = sign_envelope(data, client.key, client.certificate, client.chain)
            receipt = client.send(data)
        except LienthongError as error:
            fail(error, exit_code=EXIT_INVALID)
    if as_json:
        from dataclasses import asdict

        print_json(asdict(receipt))
        return
    what = "Gửi lại / resent (original receipt)" if receipt.duplicate else "Đã nhận / accepted"
    out.print(f"{what}: gói tin / package {receipt.package_id} — {escape(receipt.document_id)}")
    out.print(f"  nơi nhận / recipients: {', '.join(receipt.recipients)}")
    for notice in receipt.notices:
        out.print(f"  [yellow]lưu ý / notice[/]: {escape(notice)}")


def inbox(
    identity: Identity,
    agency: Annotated[str | None, typer.Option(help="Agency (default: the certificate's).")] = None,
    hub: HubUrl = DEFAULT_HUB_URL,
    ca_dir: CaDir = Path("lienthong-hub/ca"),
    passphrase: Passphrase = DEMO_PASSPHRASE,
    fetch: Annotated[
        Path | None, typer.Option(help="Download each package into this directory and ack it.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Hộp thư đến / list (and fetch) the packages waiting for an agency."""
    with _client(hub, ca_dir, identity, passphrase) as client:
        code = agency or _agency_of(client)
        try:
            items = client.inbox(code)
            saved: list[str] = []
            if fetch is not None:
                fetch.mkdir(parents=True, exist_ok=True)
                for item in items:
                    target = fetch / f"{item['package_id']}.edxml"
                    target.write_bytes(client.fetch(int(item["package_id"]), code))
                    client.acknowledge(int(item["package_id"]), code)
                    saved.append(str(target))
        except LienthongError as error:
            fail(error, exit_code=EXIT_INVALID)
    if as_json:
        print_json({"items": items, "saved": saved})
        return
    if not items:
        out.print(f"Không có gói tin / no packages for {code}")
    for item in items:
        out.print(
            f"{item['package_id']:>6}  {item['kind']:<8} {escape(item['document_id'])}  "
            f"từ / from {item['sender']}  {escape('[' + str(item['state']) + ']')}"
        )
    for path in saved:
        out.print(f"  đã lưu / saved {escape(path)}")


def status(
    file: Annotated[Path, typer.Argument(help="The package (as fetched) the status is about.")],
    code: Annotated[str, typer.Option("--code", help="Status code 01…16.")],
    identity: Identity,
    description: Annotated[str | None, typer.Option(help="Free text (reason).")] = None,
    hub: HubUrl = DEFAULT_HUB_URL,
    ca_dir: CaDir = Path("lienthong-hub/ca"),
    passphrase: Passphrase = DEMO_PASSPHRASE,
    as_json: AsJson = False,
) -> None:
    """Gửi trạng thái / report a processing status (01…16) back to the sender."""
    from lienthong.domain.edxml import Organization
    from lienthong.domain.status import StatusCode

    try:
        status_code = StatusCode(code)
    except ValueError:
        fail(UsageError(detail=f"--code {code}: one of {', '.join(s.value for s in StatusCode)}"))
    try:
        data = file.read_bytes()
    except OSError as exc:
        fail(LienthongError("io.not_found", f"{file}: {exc.strerror}"))
    with _client(hub, ca_dir, identity, passphrase) as client:
        agency = _agency_of(client)
        try:
            receipt = client.send_status(
                data,
                sender=Organization(organ_id=agency),
                status=status_code,
                description=description,
            )
        except LienthongError as error:
            fail(error, exit_code=EXIT_INVALID)
    if as_json:
        from dataclasses import asdict

        print_json(asdict(receipt))
        return
    out.print(
        f"Đã gửi trạng thái / status sent: {status_code.value} "
        f"({status_code.vietnamese_label}) — gói tin / package {receipt.package_id}"
    )


def register(main: typer.Typer, *, names: Sequence[str] = ("send", "inbox", "status")) -> None:
    """Add ``hub`` and the client commands to the ``lienthong`` command."""
    main.add_typer(app, name="hub")
    if "send" in names:
        main.command(name="send")(send)
    if "inbox" in names:
        main.command(name="inbox")(inbox)
    if "status" in names:
        main.command(name="status")(status)
