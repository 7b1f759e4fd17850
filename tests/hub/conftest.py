"""Hub fixtures shared by the hub's tests (core, /v1 API, VDXP adapter).

What they give, from the outside in:

| fixture | scope | gives |
|---|---|---|
| ``hub_pki`` | session | a CA directory and two envelope-signing identities (below) |
| ``hub_blobs`` | session, per back-end | a ``BlobStore`` in a temporary directory |
| ``hub`` | session, per back-end | a real ``Hub`` on ``engine``, demo registry loaded |
| ``hub_world`` | test | a ``HubWorld``: hub, PKI, parties, ``fresh_party()`` |

The database and blob store live for the whole session (the hub commits for real), so tests
must not assume an empty inbox for the shared demo agencies: either filter by the package ids
they sent, or use ``hub_world.fresh_party()``, which registers a new agency and a new system
acting only for it (placeholder signature, accepted under the default policy).

The identities: ``hub_pki.nghe_an`` signs for 000.00.12.H41 (the demo CA's organisation
certificate, system ``nghe-an``); ``hub_pki.vpcp`` for 000.00.00.G22 (issued by the root here,
system ``vpcp``). Both systems are bound to their certificate's SHA-256 fingerprint.

Packages are built with :meth:`HubParty.letter` (a signed envelope when the party has an
identity) and :meth:`HubParty.status`.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import Engine

from lienthong.authority.service import AuthorityService, init_directory
from lienthong.domain.edxml import Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document, build_status
from lienthong.domain.edxml.model import Business, MessageHeader, ResponseFor
from lienthong.domain.priority import Priority
from lienthong.domain.status import StatusCode
from lienthong.hub.api import Caller
from lienthong.hub.registry import bind_certificate, demo_registry, demo_secret, load_registry
from lienthong.hub.service import Hub, HubConfig
from lienthong.pki.keys import generate_key
from lienthong.pki.profiles import OrganizationSubject
from lienthong.signing.identity import ca_directory_identity
from lienthong.signing.pdf import SigningIdentity
from lienthong.signing.xmldsig import sign_envelope
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine, write_transaction
from lienthong.store.hub_store import SystemRepository
from lienthong.store.migrate import upgrade
from lienthong.store.repositories import AgencyRepository

HUB_PASSPHRASE = "mật-khẩu trục thử nghiệm"
NGHE_AN = "000.00.12.H41"  #: Sở TTTT Nghệ An: the demo CA's organisation certificate
VPCP = "000.00.00.G22"  #: Văn phòng Chính phủ: a certificate issued by the root here
#: A tiny PDF-looking attachment (the hub does not verify PDF signatures on entry).
SMALL_PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@dataclass(frozen=True)
class HubPki:
    """The CA directory and the identities that sign envelopes."""

    directory: Path
    passphrase: str
    nghe_an: SigningIdentity
    vpcp: SigningIdentity

    @staticmethod
    def fingerprint(identity: SigningIdentity) -> str:
        """SHA-256 (hex) of the identity's DER certificate, as systems are bound by."""
        der = identity.certificate.public_bytes(serialization.Encoding.DER)
        return hashlib.sha256(der).hexdigest()


_numbers = itertools.count(1)


@dataclass
class HubParty:
    """An agency, the system acting for it, and (optionally) its envelope-signing identity."""

    code: str
    caller: Caller
    identity: SigningIdentity | None = None
    name: str = "Cơ quan thử nghiệm"
    sent: list[bytes] = field(default_factory=list)

    @property
    def organization(self) -> Organization:
        return Organization(
            organ_id=self.code, organization_in_charge=self.name, organ_name=self.name
        )

    def letter(
        self,
        recipients: Sequence[str],
        *,
        number: str | None = None,
        promulgation: date | None = None,
        now: datetime | None = None,
        business: Business | None = None,
        response_for: Sequence[ResponseFor] = (),
        priority: Priority = Priority.NORMAL,
        sign: bool = True,
    ) -> bytes:
        """A letter (công văn) to ``recipients``, with a unique number unless given."""
        now = now or datetime.now(UTC)
        draft = DocumentDraft(
            sender=self.organization,
            recipients=[Organization(organ_id=r, organ_name=f"Nơi nhận {r}") for r in recipients],
            code_number=number or str(next(_numbers) + 100_000),
            code_notation="TEST-VP",
            promulgation_date=promulgation or now.date(),
            place="Hà Nội",
            subject="Về việc thử nghiệm trục liên thông",
            priority=priority,
            response_for=tuple(response_for),
            files=[FileToAttach("van-ban.pdf", SMALL_PDF)],
            business=business,
        )
        data = serialize_package(build_document(draft, now=now))
        return self.sign(data) if sign else data

    def status(
        self,
        original: bytes,
        code: StatusCode,
        *,
        at: datetime | None = None,
        description: str | None = None,
        addressed: str | None = None,
    ) -> bytes:
        """A status package about the document in ``original`` (the edXML bytes), from us,
        addressed to its sender (or to ``addressed``: a 13 goes to one recipient)."""
        from lienthong.domain.edxml import parse_package

        header: MessageHeader = parse_package(original).header
        package = build_status(
            sender=self.organization,
            original=header,
            status=code,
            at=at or datetime.now(UTC),
            description=description,
        )
        if addressed is not None:
            envelope = package.envelope
            assert envelope is not None
            assert envelope.header is not None
            message = envelope.header.message_header
            assert message is not None
            refs = tuple(replace(r, organ_id=addressed) for r in message.response_for)
            header_ = replace(envelope.header, message_header=replace(message, response_for=refs))
            package = replace(package, envelope=replace(envelope, header=header_))
        return serialize_package(package)

    def sign(self, data: bytes) -> bytes:
        """Sign the envelope with our identity (unchanged if we have none)."""
        if self.identity is None:
            return data
        return sign_envelope(
            data, self.identity.key, self.identity.certificate, self.identity.chain
        )


@dataclass
class HubWorld:
    """The hub under test, its PKI, and helpers to make parties."""

    hub: Hub
    engine: Engine
    pki: HubPki

    def party(self, system_id: str, code: str, *, signed: bool = True) -> HubParty:
        """A party acting through a demo system (``nghe-an``, ``vpcp`` …) for ``code``."""
        info = self.hub.system_by_id(system_id)
        assert info is not None, system_id
        identity = None
        if signed:
            identity = {NGHE_AN: self.pki.nghe_an, VPCP: self.pki.vpcp}.get(code)
        return HubParty(code, info.caller, identity)

    @property
    def nghe_an(self) -> HubParty:
        """Sở TTTT Nghệ An through the system ``nghe-an``, signing with its certificate."""
        return self.party("nghe-an", NGHE_AN)

    @property
    def vpcp(self) -> HubParty:
        """Văn phòng Chính phủ through the system ``vpcp``, signing with its certificate."""
        return self.party("vpcp", VPCP)

    def fresh_party(self, *, name: str = "Cơ quan thử nghiệm") -> HubParty:
        """A new agency (level-4 code under ``T99``) and a new system acting only for it."""
        number = next(_numbers)
        code = (
            f"{number % 1000:03d}.{number // 1000 % 100:02d}.{number // 100_000 % 100 + 1:02d}.T99"
        )
        system_id = f"test-{code}"
        now = datetime.now(UTC)
        with write_transaction(self.engine) as connection:
            AgencyRepository(connection).add(code=code, name=name, created_at=now, level=4)
            SystemRepository(connection).add(
                system_id=system_id,
                name=f"Hệ thống {code}",
                agencies=[code],
                created_at=now,
                secret=demo_secret(system_id),
            )
        return HubParty(code, Caller(system_id, frozenset({code})), None, name)


@pytest.fixture(scope="session")
def hub_pki(tmp_path_factory: pytest.TempPathFactory) -> HubPki:
    """A demo CA directory and two organisation identities (Nghệ An, VPCP)."""
    directory = tmp_path_factory.mktemp("hub-ca") / "ca"
    now = datetime.now(UTC)
    init_directory(directory, passphrase=HUB_PASSPHRASE, now=now)
    nghe_an = ca_directory_identity(directory, "issued/so-tttt-nghe-an", HUB_PASSPHRASE)
    service = AuthorityService(directory, HUB_PASSPHRASE)
    try:
        key = generate_key("rsa2048")
        root = service.ca("root")
        record = service.issue_for_key(
            "root",
            key,
            OrganizationSubject(VPCP, "Văn phòng Chính phủ", "Hà Nội"),
            operator="test",
            now=now,
        )
        certificate = x509.load_pem_x509_certificate(record.pem)
        vpcp = SigningIdentity(key, certificate, (root.certificate,))
    finally:
        service.close()
    return HubPki(directory, HUB_PASSPHRASE, nghe_an, vpcp)


@pytest.fixture(scope="session")
def engine(
    db_url: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The hub tests' own migrated database, per back-end (overrides the root ``engine``).

    The hub commits (group commit, audit log); its rows must never reach the store tests that
    share the root ``engine`` and count on an empty, rolled-back database.
    """
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('hub-db') / 'hub.db'}"
        databases = None
    else:
        databases = request.getfixturevalue("pg_databases")
        url = databases.create("hub")
    hub_engine = create_engine(url)
    upgrade(hub_engine)
    yield hub_engine
    hub_engine.dispose()
    if databases is not None:
        databases.drop(url)


@pytest.fixture(scope="session")
def hub_blobs(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> BlobStore:
    """The hub's blob store for this back-end's session."""
    del engine  # one per back-end
    return BlobStore(tmp_path_factory.mktemp("hub-blobs"))


@pytest.fixture(scope="session")
def hub(engine: Engine, hub_blobs: BlobStore, hub_pki: HubPki) -> Iterator[Hub]:
    """A hub with the demo registry; ``nghe-an`` and ``vpcp`` bound to their certificates."""
    load_registry(engine, demo_registry(), now=datetime.now(UTC))
    bind_certificate(engine, "nghe-an", HubPki.fingerprint(hub_pki.nghe_an))
    bind_certificate(engine, "vpcp", HubPki.fingerprint(hub_pki.vpcp))
    service = Hub(engine, hub_blobs, HubConfig())
    yield service
    service.close()


@pytest.fixture
def hub_world(hub: Hub, engine: Engine, hub_pki: HubPki) -> HubWorld:
    """The shared hub, its PKI and party helpers."""
    return HubWorld(hub, engine, hub_pki)
