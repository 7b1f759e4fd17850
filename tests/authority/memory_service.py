"""A real, in-memory CA service for the HTTP tests: both protocols of ``authority.api``.

Not a mock: it issues real certificates with :class:`CertificateAuthority`, answers OCSP with
:class:`OcspResponder`, stamps with :class:`TimestampAuthority`, all over a
:class:`MemoryRegistry`. :func:`build_test_pki` describes the PKI the tests use (a root, a
delegated CA for Nghệ An with scope ``H41``, their OCSP signers, a TSA), and :func:`serve` runs
an app with uvicorn on 127.0.0.1 in a background thread.
"""

from __future__ import annotations

import itertools
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import uvicorn
from cryptography.hazmat.primitives import serialization
from starlette.types import ASGIApp

from lienthong.authority.api import Approval, CertificateRequest, RequestStatus
from lienthong.domain.errors import LienthongError, PkiError, StoreError
from lienthong.pki.ca import (
    CertificateAuthority,
    MemoryRegistry,
    StatusUrls,
    ca_subject,
    create_root,
)
from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.ocsp_responder import OcspResponder
from lienthong.pki.profiles import OrganizationSubject, PersonSubject, Profile
from lienthong.pki.requests import check_request, load_csr
from lienthong.pki.tsa import TimestampAuthority


@dataclass(frozen=True)
class CaEntry:
    """One CA and the services it runs."""

    ca: CertificateAuthority
    responder: OcspResponder
    tsa: TimestampAuthority | None = None


class MemoryCaService:
    """``StatusService`` and ``RegistrationService`` over in-memory CAs."""

    def __init__(self, cas: Mapping[str, CaEntry]) -> None:
        self._cas = dict(cas)
        self._requests: dict[int, CertificateRequest] = {}
        self._ids = itertools.count(1)
        self._tsa_serials = itertools.count(1)
        self._lock = threading.Lock()

    def _entry(self, ca: str) -> CaEntry:
        entry = self._cas.get(ca)
        if entry is None:
            raise PkiError("pki.unknown_ca", ca)
        return entry

    # -- StatusService ------------------------------------------------------------------------
    def ca_names(self) -> Sequence[str]:
        return list(self._cas)

    def ca_certificate_der(self, ca: str) -> bytes:
        return self._entry(ca).ca.certificate.public_bytes(serialization.Encoding.DER)

    def crl_der(self, ca: str, *, now: datetime) -> bytes:
        return self._entry(ca).ca.crl(now=now).public_bytes(serialization.Encoding.DER)

    def ocsp(self, ca: str, request_der: bytes, *, now: datetime) -> bytes:
        return self._entry(ca).responder.respond(request_der, now=now)

    def timestamp(self, ca: str, request_der: bytes, *, now: datetime) -> bytes:
        tsa = self._entry(ca).tsa
        if tsa is None:
            raise PkiError("pki.unknown_ca", f"{ca} runs no timestamp authority")
        with self._lock:
            serial = next(self._tsa_serials)
        return tsa.respond(request_der, now=now, serial=serial)

    # -- RegistrationService ------------------------------------------------------------------
    def submit(
        self,
        *,
        ca: str,
        profile: str,
        csr_pem: str,
        agency_code: str,
        agency_name: str,
        full_name: str | None,
        title: str | None,
        citizen_id: str | None,
        province: str | None,
        requested_by: str,
        now: datetime,
    ) -> CertificateRequest:
        check_request(
            self._entry(ca).ca, profile=profile, csr_pem=csr_pem, agency_code=agency_code,
            full_name=full_name, title=title,
        )  # fmt: skip
        with self._lock:
            request = CertificateRequest(
                id=next(self._ids),
                ca=ca,
                profile=profile,
                csr_pem=csr_pem,
                agency_code=agency_code,
                agency_name=agency_name,
                full_name=full_name,
                title=title,
                citizen_id=citizen_id,
                province=province,
                requested_by=requested_by,
                requested_at=now,
            )
            self._requests[request.id] = request
        return request

    def requests(
        self, *, ca: str | None = None, status: RequestStatus | None = None
    ) -> Sequence[CertificateRequest]:
        found = [
            r
            for r in self._requests.values()
            if (ca is None or r.ca == ca) and (status is None or r.status is status)
        ]
        return sorted(found, key=lambda r: (r.requested_at, r.id), reverse=True)

    def _pending(self, request_id: int) -> CertificateRequest:
        request = self._requests.get(request_id)
        if request is None:
            raise StoreError("store.not_found", f"request {request_id}")
        if request.status is not RequestStatus.PENDING:
            raise PkiError("pki.bad_state", f"request {request_id} is {request.status}")
        return request

    def approve(self, request_id: int, *, operator: str, now: datetime) -> CertificateRequest:
        with self._lock:
            request = self._pending(request_id)
            authority = self._entry(request.ca).ca
            public_key = load_csr(request.csr_pem).public_key()
            if request.profile == Profile.PERSON:
                assert request.full_name is not None
                assert request.title is not None
                record = authority.issue_person(
                    public_key,  # type: ignore[arg-type]  # checked by the CA's signature
                    PersonSubject(
                        request.full_name,
                        request.title,
                        request.agency_code,
                        request.agency_name,
                        request.citizen_id,
                        request.province,
                    ),
                    now=now,
                )
            else:
                record = authority.issue_organization(
                    public_key,  # type: ignore[arg-type]
                    OrganizationSubject(request.agency_code, request.agency_name, request.province),
                    now=now,
                )
            decided = replace(
                request,
                status=RequestStatus.ISSUED,
                decided_by=operator,
                decided_at=now,
                serial=record.serial,
            )
            self._requests[request_id] = decided
        return decided

    def approve_all(
        self, request_ids: Sequence[int], *, operator: str, now: datetime
    ) -> Sequence[Approval]:
        outcomes = []
        for request_id in request_ids:
            try:
                decided = self.approve(request_id, operator=operator, now=now)
            except LienthongError as error:
                outcomes.append(Approval(request_id, error=error))
            else:
                outcomes.append(Approval(request_id, request=decided))
        return outcomes

    def reject(
        self, request_id: int, *, operator: str, reason: str, now: datetime
    ) -> CertificateRequest:
        with self._lock:
            request = self._pending(request_id)
            decided = replace(
                request,
                status=RequestStatus.REJECTED,
                decided_by=operator,
                decided_at=now,
                reason=reason,
            )
            self._requests[request_id] = decided
        return decided

    def certificate_pem(self, ca: str, serial: int) -> bytes:
        return self._entry(ca).ca.record(serial).pem


# --------------------------------------------------------------------------- the test PKI
@dataclass(frozen=True)
class AuthorityPki:
    """What :func:`build_test_pki` made."""

    service: MemoryCaService
    root: CertificateAuthority
    sub: CertificateAuthority  #: ``nghe-an``, scope ``H41``

    def write_pems(self, directory: Path) -> tuple[Path, Path]:
        """``root.pem`` and ``sub.pem`` in ``directory``."""
        root = directory / "root.pem"
        sub = directory / "sub.pem"
        root.write_bytes(self.root.certificate.public_bytes(serialization.Encoding.PEM))
        sub.write_bytes(self.sub.certificate.public_bytes(serialization.Encoding.PEM))
        return root, sub


def build_test_pki(base_url: str, now: datetime) -> AuthorityPki:
    """Root ``root`` and delegated ``nghe-an`` (H41), each with an OCSP signer; a TSA under
    ``nghe-an``. P-256 keys: generating them is fast."""
    urls = StatusUrls(base_url)
    registry = MemoryRegistry()
    keys: list[InMemoryKey] = [generate_key("p256") for _ in range(5)]
    root_cert = create_root("root", keys[0], common_name="RootCA lienthong thử nghiệm", now=now)
    root = CertificateAuthority("root", root_cert, keys[0], registry, urls)
    sub_record = root.issue(
        keys[1].public_key(),
        ca_subject("CA tỉnh Nghệ An", province="Nghệ An"),
        Profile.SUB_CA,
        now=now,
        scope=["H41"],
    )
    sub = CertificateAuthority(
        "nghe-an", sub_record.certificate, keys[1], registry, urls, chain=[root_cert]
    )
    root_signer = root.issue(
        keys[2].public_key(), ca_subject("OCSP gốc"), Profile.OCSP_SIGNING, now=now
    )
    sub_signer = sub.issue(
        keys[3].public_key(), ca_subject("OCSP Nghệ An"), Profile.OCSP_SIGNING, now=now
    )
    tsa_record = sub.issue(
        keys[4].public_key(), ca_subject("TSA Nghệ An"), Profile.TIMESTAMPING, now=now
    )
    tsa = TimestampAuthority(keys[4], tsa_record.certificate, (sub.certificate, root_cert))
    service = MemoryCaService(
        {
            "root": CaEntry(root, OcspResponder(root, root_signer.certificate, keys[2])),
            "nghe-an": CaEntry(sub, OcspResponder(sub, sub_signer.certificate, keys[3]), tsa),
        }
    )
    return AuthorityPki(service, root, sub)


# --------------------------------------------------------------------------- a real server
def free_socket() -> socket.socket:
    """A listening-ready TCP socket on 127.0.0.1, port chosen by the kernel."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app: ASGIApp, sock: socket.socket) -> Iterator[str]:
    """Run ``app`` with uvicorn on ``sock`` in a thread; yield its base URL.

    The socket is bound before the app exists, so certificates can name the real port.
    WebSockets and lifespan are off: the app needs neither, and uvicorn's websockets
    import would warn (warnings are errors here).
    """
    config = uvicorn.Config(
        app, log_level="warning", ws="none", lifespan="off", access_log=False, http="h11"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass(frozen=True)
class Served:
    """A running server over a fresh test PKI."""

    url: str
    pki: AuthorityPki


@contextmanager
def serve_test_pki(*, operator_token: str | None, offload: bool = True) -> Iterator[Served]:
    """A fresh PKI whose certificates name the server's real address, served by
    :func:`lienthong.authority.http.create_app` with a real clock."""
    from datetime import UTC

    from lienthong.authority.http import create_app

    sock = free_socket()
    port = sock.getsockname()[1]
    pki = build_test_pki(f"http://127.0.0.1:{port}", datetime.now(UTC))
    app = create_app(
        pki.service,
        pki.service,
        clock=lambda: datetime.now(UTC),
        operator_token=operator_token,
        offload=offload,
    )
    with serve(app, sock) as url:
        yield Served(url, pki)
