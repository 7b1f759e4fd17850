"""A live hub for the edge tests: a test PKI (root + delegated CA, organisation certificates
issued in-process), the real core (``lienthong.hub.service.Hub``) on a fresh database, our
``/v1`` app with signed-request authentication, served by uvicorn on 127.0.0.1.

Imported by name (``from live_hub import …``) from tests in this directory.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
from cryptography import x509
from fastapi import FastAPI

from lienthong.client.api import HubClient
from lienthong.domain.edxml import Organization
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach
from lienthong.hub.api import Caller
from lienthong.hub.auth import (
    CrlRevocation,
    RequestAuthenticator,
    RevocationChecker,
    fingerprint_of,
)
from lienthong.hub.http import create_hub_app
from lienthong.hub.service import Hub
from lienthong.pki.ca import (
    CertificateAuthority,
    MemoryRegistry,
    StatusUrls,
    ca_subject,
    create_root,
)
from lienthong.pki.keys import InMemoryKey, generate_key
from lienthong.pki.profiles import OrganizationSubject, Profile
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine
from lienthong.store.hub_store import SystemRepository
from lienthong.store.migrate import upgrade
from lienthong.store.repositories import AgencyRepository

SENDER = "000.00.12.H41"  #: Sở TT&TT Nghệ An
RECIPIENT = "000.00.11.H53"  #: a department of Tây Ninh
OUTSIDER = "000.00.00.H47"  #: Quảng Nam: registered, but in no system of the tests

PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass
class Org:
    """An agency, its connected system and its organisation certificate."""

    code: str
    name: str
    key: InMemoryKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    serial: int

    @property
    def organization(self) -> Organization:
        return Organization(organ_id=self.code, organ_name=self.name)

    def client(self, url: str, **kwargs: Any) -> HubClient:
        return HubClient(
            url, key=self.key, certificate=self.certificate, chain=self.chain, **kwargs
        )


@dataclass
class TestPki:
    """A root and a delegated CA issuing organisation certificates, all in memory."""

    root: x509.Certificate
    ca: CertificateAuthority
    orgs: dict[str, Org] = field(default_factory=dict)

    def issue(
        self, code: str, name: str, *, now: datetime, validity: timedelta | None = None
    ) -> Org:
        key = generate_key("p256")
        record = self.ca.issue_organization(
            key.public_key(), OrganizationSubject(code, name), now=now, validity=validity
        )
        org = Org(code, name, key, record.certificate, (self.ca.certificate,), record.serial)
        self.orgs[code] = org
        return org


def make_pki(now: datetime, status_base: str = "http://127.0.0.1:9") -> TestPki:
    root_key = generate_key("p256")
    root = create_root("root", root_key, common_name="Root CA thử nghiệm", now=now)
    root_ca = CertificateAuthority(
        "root", root, root_key, MemoryRegistry(), StatusUrls(status_base)
    )
    sub_key = generate_key("p256")
    sub_record = root_ca.issue(
        sub_key.public_key(),
        ca_subject("CA thử nghiệm"),
        Profile.SUB_CA,
        now=now,
        scope=("H41", "H53", "H47"),
    )
    sub = CertificateAuthority(
        "sub", sub_record.certificate, sub_key, MemoryRegistry(), StatusUrls(status_base),
        chain=(root,),
    )  # fmt: skip
    pki = TestPki(root, sub)
    pki.issue(SENDER, "Sở Thông tin và Truyền thông tỉnh Nghệ An", now=now)
    pki.issue(RECIPIENT, "Sở Nội vụ tỉnh Tây Ninh", now=now)
    pki.issue(OUTSIDER, "Sở Tư pháp tỉnh Quảng Nam", now=now)
    return pki


def seed_registry(hub: Hub, pki: TestPki, now: datetime) -> None:
    """Agencies and one system per agency (the outsider's certificate maps to no system)."""
    with hub.engine.begin() as connection:
        agencies = AgencyRepository(connection)
        systems = SystemRepository(connection)
        for org in pki.orgs.values():
            agencies.add(code=org.code, name=org.name, created_at=now, level=2)
        for code in (SENDER, RECIPIENT):
            org = pki.orgs[code]
            systems.add(
                system_id=f"sys-{code}", name=org.name, agencies=[code], created_at=now,
                secret=f"secret-{code}", cert_sha256=fingerprint_of(org.certificate),
            )  # fmt: skip


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app: FastAPI, *, port: int = 0) -> Iterator[str]:
    """uvicorn on 127.0.0.1 (``port``, or any free one) in a thread; yields the base URL."""
    if port:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    else:
        sock = free_socket()
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class LiveHub:
    url: str
    hub: Hub
    pki: TestPki
    revocation: CrlRevocation
    authenticator: RequestAuthenticator
    app: FastAPI
    clients: list[HubClient] = field(default_factory=list)

    def org(self, code: str) -> Org:
        return self.pki.orgs[code]

    def client(self, code: str, **kwargs: Any) -> HubClient:
        """A client for ``code``'s system, closed when the hub stops."""
        made = self.org(code).client(self.url, **kwargs)
        self.clients.append(made)
        return made


def resolver(hub: Hub):  # type: ignore[no-untyped-def]
    def resolve(fingerprint: str) -> Caller | None:
        info = hub.system_by_certificate(fingerprint)
        return None if info is None else info.caller

    return resolve


@contextmanager
def live_hub(
    db_url: str,
    tmp_path: Path,
    *,
    window: timedelta = timedelta(minutes=5),
    pki: TestPki | None = None,
    checker: RevocationChecker | None = None,
    **app_options: Any,
) -> Iterator[LiveHub]:
    """The whole stack on ``db_url`` (a fresh database), served on 127.0.0.1. Revocation is
    checked on the CA's CRL unless ``checker`` is given."""
    now = datetime.now(UTC)
    pki = pki or make_pki(now)
    issuing = pki.ca
    engine = create_engine(db_url)
    upgrade(engine)
    hub = Hub(engine, BlobStore(tmp_path / "blobs"))
    try:
        seed_registry(hub, pki, now)
        revocation = CrlRevocation(lambda issuer: issuing.crl(now=datetime.now(UTC)))
        authenticator = RequestAuthenticator(
            trust_roots=[pki.root], resolve=resolver(hub), revocation=checker or revocation,
            window=window,
        )  # fmt: skip
        options: dict[str, Any] = {"poll_interval": 5.0, **app_options}
        app = create_hub_app(hub, authenticator=authenticator, **options)
        with serve(app) as url:
            served = LiveHub(url, hub, pki, revocation, authenticator, app)
            try:
                yield served
            finally:
                for made in served.clients:
                    made.close()
    finally:
        hub.close()
        engine.dispose()


def draft(
    sender: Org, recipients: list[Org], number: str, *, when: date | None = None
) -> DocumentDraft:
    """A letter from ``sender`` to ``recipients`` with a small PDF attached."""
    return DocumentDraft(
        sender=sender.organization,
        recipients=[r.organization for r in recipients],
        code_number=number,
        code_notation="STTTT-VP",
        promulgation_date=when or datetime.now(UTC).date(),
        place="Nghệ An",
        subject=f"Công văn thử nghiệm số {number}",
        files=[FileToAttach("congvan.pdf", PDF)],
    )
