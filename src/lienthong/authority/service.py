"""The CA service on a CA directory: ``lienthong ca init DIR`` makes one, every other
``lienthong ca …`` command and ``lienthong ca serve`` load it.

A CA directory holds the database (``ca.db``: CAs, certificates, requests, audit log), one
folder per CA (its certificate, its encrypted key, its OCSP responder and TSA certificates
and keys), the published CRLs (``crl/<ca>.crl``) and the certificates issued by the demo.
Keys are encrypted with the operator's passphrase and decrypted once per process.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote, unquote

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, Engine

from lienthong.authority.api import (
    MAX_BATCH_APPROVALS,
    Approval,
    CertificateRequest,
    RequestStatus,
)
from lienthong.authority.registry import StoreRegistry
from lienthong.domain.errors import LienthongError, PkiError, StoreError
from lienthong.pki.ca import (
    CertificateAuthority,
    CertificateRecord,
    StatusUrls,
    ca_subject,
    create_root,
)
from lienthong.pki.keys import InMemoryKey, SigningKey, generate_key
from lienthong.pki.keystore import KeyCache, save_pem_key
from lienthong.pki.ocsp_responder import OcspResponder
from lienthong.pki.pkcs11_key import Pkcs11Key, generate_in_token
from lienthong.pki.profiles import (
    OrganizationSubject,
    PersonSubject,
    Profile,
)
from lienthong.pki.requests import check_request, load_csr
from lienthong.pki.tsa import TimestampAuthority
from lienthong.store.audit import AuditLog
from lienthong.store.certificates import CaRepository, RequestRepository, StoredRequest
from lienthong.store.engine import create_engine
from lienthong.store.group_commit import GroupCommitter
from lienthong.store.migrate import upgrade

#: Name of the database file inside a CA directory.
DATABASE = "ca.db"
DEFAULT_BASE_URL = "http://127.0.0.1:8088"


#: A served CRL is signed again after this long even if nothing changed.
CRL_RESIGN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class _SignedCrl:
    at: datetime
    listed: tuple[object, ...]  #: what it lists: (serial, status, revoked_at, reason) each
    der: bytes


@dataclass(frozen=True, slots=True)
class Written:
    """One thing ``ca init`` wrote, for the report it prints."""

    what: str
    path: Path


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True, slots=True)
class TokenConfig:
    """A PKCS#11 token that holds the CA keys (khóa CA trong thiết bị HSM/token).

    ``module`` is the vendor's PKCS#11 library (SoftHSM2: ``libsofthsm2.so``); the token is
    named by its label. The PIN is asked for once per process, never written anywhere.
    """

    module: Path
    pin: str
    token_label: str | None = None  #: needed to create keys (``ca init``), not to load them


#: Environment variables naming the token module and its PIN (``ca serve`` workers, CLI).
PKCS11_MODULE_ENV = "LIENTHONG_PKCS11_MODULE"
PKCS11_PIN_ENV = "LIENTHONG_PKCS11_PIN"


def token_from_environment(environ: Mapping[str, str]) -> TokenConfig | None:
    """The token configured by ``LIENTHONG_PKCS11_MODULE`` and ``LIENTHONG_PKCS11_PIN``."""
    module = environ.get(PKCS11_MODULE_ENV)
    pin = environ.get(PKCS11_PIN_ENV)
    if not module or not pin:
        return None
    return TokenConfig(Path(module), pin)


def pkcs11_key_ref(token_label: str, key_label: str) -> str:
    """An RFC 7512 URI naming a key in a token: ``pkcs11:token=…;object=…``."""
    return f"pkcs11:token={quote(token_label, safe='')};object={quote(key_label, safe='')}"


def parse_pkcs11_key_ref(key_ref: str) -> tuple[str, str]:
    """Token label and key label of a ``pkcs11:`` key reference."""
    attributes: dict[str, str] = {}
    for part in key_ref.removeprefix("pkcs11:").split(";"):
        name, _, value = part.partition("=")
        attributes[name] = unquote(value)
    if not attributes.get("token") or not attributes.get("object"):
        raise PkiError("pki.key_not_found", f"{key_ref}: needs token= and object=")
    return attributes["token"], attributes["object"]


def database_url(directory: Path) -> str:
    """The SQLite URL of a CA directory's database."""
    return f"sqlite:///{(directory / DATABASE).resolve()}"


class AuthorityService:
    """The CAs of one directory, loaded once, with their responders and TSAs."""

    def __init__(
        self,
        directory: Path,
        passphrase: str,
        *,
        engine: Engine | None = None,
        token: TokenConfig | None = None,
    ) -> None:
        """``token`` is needed when the CA keys are in a PKCS#11 token (``ca init --pkcs11-…``).

        The OCSP responder and TSA keys are always files: they sign for every request.
        """
        self.directory = directory
        self.token = token
        self._token_keys: list[Pkcs11Key] = []
        self.engine = engine or create_engine(database_url(directory))
        self.registry = StoreRegistry(self.engine)
        self._keys = KeyCache()
        self._passphrase = passphrase
        self.cas: dict[str, CertificateAuthority] = {}
        self.responders: dict[str, OcspResponder] = {}
        self.tsas: dict[str, TimestampAuthority] = {}
        self._crl_cache: dict[str, _SignedCrl] = {}
        self._lock = threading.Lock()
        try:
            self._load()
        except BaseException:
            for key in self._token_keys:
                key.close()
            if engine is None:
                self.engine.dispose()
            raise
        #: Registration writes (submit, approve) from concurrent requests share commits.
        self.writer = GroupCommitter(self.engine, on_connection=self.registry.bind)

    # -- loading ----------------------------------------------------------------------------
    def _key(self, relative: str) -> SigningKey:
        return self._keys.pem_key(self.directory / relative, self._passphrase)

    def _load(self) -> None:
        with self.engine.connect() as connection:
            rows = CaRepository(connection).list()
        if not rows:
            raise PkiError("pki.unknown_ca", f"no CA in {self.directory} (run lienthong ca init)")
        by_name = {row.name: row for row in rows}
        for row in rows:
            certificate = x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))
            chain = []
            parent = row.parent_name
            while parent is not None:
                chain.append(
                    x509.load_pem_x509_certificate(by_name[parent].certificate_pem.encode())
                )
                parent = by_name[parent].parent_name
            ca = CertificateAuthority(
                row.name,
                certificate,
                self._ca_key(row.key_ref),
                self.registry,
                StatusUrls(row.base_url),
                chain=chain,
            )
            self.cas[row.name] = ca
            folder = self.directory / row.name
            ocsp_cert = x509.load_pem_x509_certificate((folder / "ocsp.pem").read_bytes())
            self.responders[row.name] = OcspResponder(
                ca, ocsp_cert, self._key(f"{row.name}/ocsp.key.pem")
            )
            tsa_cert = x509.load_pem_x509_certificate((folder / "tsa.pem").read_bytes())
            self.tsas[row.name] = TimestampAuthority(
                self._key(f"{row.name}/tsa.key.pem"), tsa_cert, [certificate, *chain]
            )

    def _ca_key(self, key_ref: str) -> SigningKey:
        if not key_ref.startswith("pkcs11:"):
            return self._key(key_ref.removeprefix("file:"))
        if self.token is None:
            raise PkiError(
                "pki.token_unavailable",
                f"{key_ref}: the CA key is in a PKCS#11 token; set {PKCS11_MODULE_ENV} "
                f"and {PKCS11_PIN_ENV}",
            )
        token_label, key_label = parse_pkcs11_key_ref(key_ref)
        key = Pkcs11Key.open(self.token.module, token_label, self.token.pin, key_label=key_label)
        self._token_keys.append(key)
        return key

    def ca(self, name: str) -> CertificateAuthority:
        """The CA called ``name``; ``pki.unknown_ca`` otherwise."""
        found = self.cas.get(name)
        if found is None:
            raise PkiError("pki.unknown_ca", name)
        return found

    # -- StatusService ----------------------------------------------------------------------
    def ca_names(self) -> Sequence[str]:
        """The CAs of this directory."""
        return list(self.cas)

    def ca_certificate_der(self, ca: str) -> bytes:
        """The CA's certificate, DER."""
        return self.ca(ca).certificate.public_bytes(serialization.Encoding.DER)

    def crl_der(self, ca: str, *, now: datetime) -> bytes:
        """The current CRL: signed again as soon as what it lists changed (in any process),
        else at most once an hour, so revocations show at once and CRL numbers stay few."""
        authority = self.ca(ca)
        listed = tuple(
            (record.serial, record.status, record.revoked_at, record.reason)
            for record in authority.registry.not_good(ca)
        )
        with self._lock:
            cached = self._crl_cache.get(ca)
            if cached is not None and cached.listed == listed and now - cached.at < CRL_RESIGN:
                return cached.der
            der = authority.crl(now=now).public_bytes(serialization.Encoding.DER)
            self._crl_cache[ca] = _SignedCrl(now, listed, der)
            return der

    def ocsp(self, ca: str, request_der: bytes, *, now: datetime) -> bytes:
        """An OCSP response from the CA's responder."""
        responder = self.responders.get(ca)
        if responder is None:
            raise PkiError("pki.unknown_ca", ca)
        return responder.respond(request_der, now=now)

    def timestamp(self, ca: str, request_der: bytes, *, now: datetime) -> bytes:
        """An RFC 3161 response from the CA's TSA (random 63-bit serials, unique in practice)."""
        tsa = self.tsas.get(ca)
        if tsa is None:
            raise PkiError("pki.unknown_ca", ca)
        return tsa.respond(request_der, now=now, serial=secrets.randbits(63) | 1)

    # -- operations (each recorded in the audit log, in the same transaction) -----------------
    def revoke(
        self, ca: str, serial: int, reason: x509.ReasonFlags, *, operator: str, now: datetime
    ) -> CertificateRecord:
        """Revoke with an RFC 5280 reason."""
        authority = self.ca(ca)
        with self.registry.transaction() as connection:
            record = authority.revoke(serial, reason, now=now)
            _audit(
                connection,
                operator,
                "ca.revoke",
                f"{ca}:{serial:x}",
                {"reason": reason.value},
                now=now,
            )
        return record

    def suspend(self, ca: str, serial: int, *, operator: str, now: datetime) -> CertificateRecord:
        """Put a certificate on hold."""
        authority = self.ca(ca)
        with self.registry.transaction() as connection:
            record = authority.suspend(serial, now=now)
            _audit(connection, operator, "ca.suspend", f"{ca}:{serial:x}", {}, now=now)
        return record

    def resume(self, ca: str, serial: int, *, operator: str, now: datetime) -> CertificateRecord:
        """Lift a hold."""
        authority = self.ca(ca)
        with self.registry.transaction() as connection:
            record = authority.resume(serial)
            _audit(connection, operator, "ca.resume", f"{ca}:{serial:x}", {}, now=now)
        return record

    def issue_for_key(
        self,
        ca: str,
        public_key: InMemoryKey,
        subject: OrganizationSubject | PersonSubject,
        *,
        operator: str,
        now: datetime,
    ) -> CertificateRecord:
        """Issue an organisation or personal certificate for a key the caller holds."""
        authority = self.ca(ca)
        with self.registry.transaction() as connection:
            if isinstance(subject, PersonSubject):
                record = authority.issue_person(public_key.public_key(), subject, now=now)
            else:
                record = authority.issue_organization(public_key.public_key(), subject, now=now)
            _audit(
                connection,
                operator,
                "ca.issue",
                f"{ca}:{record.serial:x}",
                {"subject": record.subject, "profile": record.profile.value},
                now=now,
            )
        return record

    def transfer(
        self,
        ca: str,
        serial: int,
        subject: PersonSubject,
        public_key: InMemoryKey,
        *,
        operator: str,
        now: datetime,
    ) -> CertificateRecord:
        """Change of post: revoke (affiliationChanged) and issue the new title, in one step."""
        authority = self.ca(ca)
        with self.registry.transaction() as connection:
            record = authority.transfer(serial, subject, public_key.public_key(), now=now)
            _audit(
                connection,
                operator,
                "ca.transfer",
                f"{ca}:{serial:x}",
                {"new_serial": f"{record.serial:x}", "title": subject.title},
                now=now,
            )
        return record

    def renew(
        self, ca: str, serial: int, public_key: InMemoryKey, *, operator: str, now: datetime
    ) -> CertificateRecord:
        """Re-key: a new certificate for a new key, the old one superseded."""
        authority = self.ca(ca)
        with self.registry.transaction() as connection:
            record = authority.renew(serial, public_key.public_key(), now=now)
            _audit(
                connection,
                operator,
                "ca.renew",
                f"{ca}:{serial:x}",
                {"new_serial": f"{record.serial:x}"},
                now=now,
            )
        return record

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
        """Record an online request after checking its CSR and the CA's scope."""
        check_request(
            self.ca(ca), profile=profile, csr_pem=csr_pem, agency_code=agency_code,
            full_name=full_name, title=title,
        )  # fmt: skip

        def record(connection: Connection) -> StoredRequest:
            stored = RequestRepository(connection).add(
                ca=ca, profile=str(profile), csr_pem=csr_pem, agency_code=agency_code,
                agency_name=agency_name, full_name=full_name, title=title, citizen_id=citizen_id,
                province=province, requested_by=requested_by, requested_at=now,
            )  # fmt: skip
            AuditLog(connection).append(
                actor=requested_by, action="ca.request", subject=f"{ca}:request:{stored.id}",
                details={"agency_code": agency_code, "profile": str(profile)}, at=now,
            )  # fmt: skip
            return stored

        return _request(self.writer.run(record))

    def requests(
        self, *, ca: str | None = None, status: RequestStatus | None = None
    ) -> Sequence[CertificateRequest]:
        """Requests, newest first."""
        with self.engine.connect() as connection:
            rows = RequestRepository(connection).list(
                ca=ca, status=status.value if status else None
            )
        return [_request(row) for row in rows]

    def approve(self, request_id: int, *, operator: str, now: datetime) -> CertificateRequest:
        """Issue the certificate of a pending request (the turnaround the 2019 report asked for).

        One transaction: the request is claimed (pending → issued), the certificate recorded
        and the audit entry appended together, or nothing is. The CSR's signature was checked
        when the request was submitted; here it is only parsed. Concurrent approvals share
        one commit (:class:`~lienthong.store.group_commit.GroupCommitter`).
        """
        decided = self.writer.run(
            lambda connection: self._approve_in(connection, request_id, operator, now)
        )
        return _request(decided)

    def _approve_in(
        self, connection: Connection, request_id: int, operator: str, now: datetime
    ) -> StoredRequest:
        requests = RequestRepository(connection)
        pending = requests.get(request_id)
        if pending is None:
            raise StoreError("store.not_found", f"request {request_id}")
        if pending.status != RequestStatus.PENDING:
            raise PkiError("pki.bad_state", f"request {request_id} is {pending.status}")
        record = self._issue_requested(pending, now)
        decided = requests.decide(
            request_id, status="issued", decided_by=operator, decided_at=now, serial=record.serial
        )
        _audit(
            connection, operator, "ca.issue", f"{pending.ca}:{record.serial:x}",
            {"request": request_id, "subject": record.subject}, now=now,
        )  # fmt: skip
        return decided

    def approve_all(
        self, request_ids: Sequence[int], *, operator: str, now: datetime
    ) -> Sequence[Approval]:
        """Approve many requests in one transaction: one commit and one write lock for all.

        A request that cannot be issued (unknown, already decided, no longer in scope) gets
        its error in the result and changes nothing; the others are issued. Each issuance
        still gets its own audit entry.
        """
        if len(request_ids) > MAX_BATCH_APPROVALS:
            raise PkiError("pki.bad_request", f"at most {MAX_BATCH_APPROVALS} requests per batch")

        def approve_each(connection: Connection) -> list[Approval]:
            outcomes: list[Approval] = []
            for request_id in request_ids:
                try:
                    with connection.begin_nested():
                        decided = self._approve_in(connection, request_id, operator, now)
                except LienthongError as refused:  # its writes are undone, the others go on
                    outcomes.append(Approval(request_id, error=refused))
                else:
                    outcomes.append(Approval(request_id, request=_request(decided)))
            return outcomes

        return self.writer.run(approve_each)

    def _issue_requested(self, pending: StoredRequest, now: datetime) -> CertificateRecord:
        public_key = load_csr(pending.csr_pem, verify=False).public_key()
        authority = self.ca(pending.ca)
        if pending.profile == Profile.PERSON:
            person = PersonSubject(
                pending.full_name or "", pending.title or "", pending.agency_code,
                pending.agency_name, pending.citizen_id, pending.province,
            )  # fmt: skip
            return authority.issue_person(public_key, person, now=now)  # type: ignore[arg-type]
        organization = OrganizationSubject(
            pending.agency_code, pending.agency_name, pending.province
        )
        return authority.issue_organization(public_key, organization, now=now)  # type: ignore[arg-type]

    def reject(
        self, request_id: int, *, operator: str, reason: str, now: datetime
    ) -> CertificateRequest:
        """Refuse a pending request."""
        with self.registry.transaction() as connection:
            decided = RequestRepository(connection).decide(
                request_id, status="rejected", decided_by=operator, decided_at=now, reason=reason
            )
            AuditLog(connection).append(
                actor=operator, action="ca.reject", subject=f"request:{request_id}",
                details={"reason": reason}, at=now,
            )  # fmt: skip
        return _request(decided)

    def certificate_pem(self, ca: str, serial: int) -> bytes:
        """An issued certificate."""
        record = self.registry.get(ca, serial)
        if record is None:
            raise PkiError("pki.unknown_serial", f"{ca}:{serial:x}")
        return record.pem

    def close(self) -> None:
        """Release the database (after the queued writes are done)."""
        self.writer.close()
        self.registry.close()
        for key in self._token_keys:
            key.close()
        self._token_keys.clear()
        self.engine.dispose()


def _audit(
    connection: Connection,
    actor: str,
    action: str,
    subject: str,
    details: Mapping[str, object],
    *,
    now: datetime,
) -> None:
    AuditLog(connection).append(
        actor=actor, action=action, subject=subject, details=details, at=now
    )


def _request(row: StoredRequest) -> CertificateRequest:
    return CertificateRequest(
        id=row.id, ca=row.ca, profile=row.profile, csr_pem=row.csr_pem,
        agency_code=row.agency_code, agency_name=row.agency_name, full_name=row.full_name,
        title=row.title, citizen_id=row.citizen_id, province=row.province,
        requested_by=row.requested_by, requested_at=row.requested_at,
        status=RequestStatus(row.status), decided_by=row.decided_by, decided_at=row.decided_at,
        reason=row.reason, serial=row.serial,
    )  # fmt: skip


# -- ca init -------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CaPlan:
    """A delegated CA to create at init."""

    name: str
    common_name: str
    scope: tuple[str, ...]
    province: str | None = None


DEMO_SUB_CAS = (CaPlan("nghe-an", "CA tỉnh Nghệ An", ("H41",), "Nghệ An"),)


def init_directory(
    directory: Path,
    *,
    passphrase: str,
    now: datetime,
    base_url: str = DEFAULT_BASE_URL,
    sub_cas: Sequence[CaPlan] = DEMO_SUB_CAS,
    demo: bool = True,
    token: TokenConfig | None = None,
) -> list[Written]:
    """Create a root CA, delegated CAs, their OCSP and TSA certificates, demo organisation and
    personal certificates, and the first CRLs, in ``directory`` (which must not hold a CA).

    With ``token`` (its ``token_label`` set) the root and delegated CA keys are generated
    inside that PKCS#11 token and never exist outside it; the directory records where they
    are (``pkcs11:token=…;object=lienthong-<ca>``).
    """
    if token is not None and not token.token_label:
        raise PkiError("pki.token_unavailable", "name the token that will hold the CA keys")
    if (directory / DATABASE).exists():
        raise PkiError("pki.bad_request", f"{directory} already holds a CA")
    directory.mkdir(parents=True, exist_ok=True)
    engine = create_engine(database_url(directory))
    try:
        upgrade(engine)
        written = _create(
            directory,
            engine,
            passphrase=passphrase,
            now=now,
            base_url=base_url,
            sub_cas=sub_cas,
            demo=demo,
            token=token,
        )
    finally:
        engine.dispose()
    return written


def _create(
    directory: Path, engine: Engine, *, passphrase: str, now: datetime, base_url: str,
    sub_cas: Sequence[CaPlan], demo: bool, token: TokenConfig | None,
) -> list[Written]:  # fmt: skip
    written: list[Written] = []
    opened: list[Pkcs11Key] = []
    try:
        return _create_all(
            directory, engine, passphrase=passphrase, now=now, base_url=base_url,
            sub_cas=sub_cas, demo=demo, token=token, written=written, opened=opened,
        )  # fmt: skip
    finally:
        for key in opened:
            key.close()


def _create_all(  # noqa: PLR0915 - the whole hierarchy, step by step
    directory: Path, engine: Engine, *, passphrase: str, now: datetime, base_url: str,
    sub_cas: Sequence[CaPlan], demo: bool, token: TokenConfig | None, written: list[Written],
    opened: list[Pkcs11Key],
) -> list[Written]:  # fmt: skip
    registry = StoreRegistry(engine)
    urls = StatusUrls(base_url)

    def keep_key(key: SigningKey, relative: str, what: str) -> None:
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        path = save_pem_key(directory / relative, key, passphrase)
        written.append(Written(what, path))

    def keep_cert(certificate: x509.Certificate, relative: str, what: str) -> None:
        written.append(Written(what, _write(directory / relative, _pem(certificate))))

    def ca_key(name: str) -> tuple[SigningKey, str]:
        """A new CA key, in the token or in an encrypted file; and its key_ref."""
        if token is None:
            key = generate_key("rsa2048")
            keep_key(key, f"{name}/ca.key.pem", f"{name} CA key (encrypted)")
            return key, f"file:{name}/ca.key.pem"
        assert token.token_label is not None
        in_token = generate_in_token(
            token.module, token.token_label, token.pin, key_label=f"lienthong-{name}"
        )
        opened.append(in_token)
        ref = pkcs11_key_ref(token.token_label, in_token.label)
        written.append(Written(f"{name} CA key (in PKCS#11 token)", Path(ref)))
        return in_token, ref

    root_key, root_ref = ca_key("root")
    root_cert = create_root("root", root_key, common_name="RootCA lienthong (thử nghiệm)", now=now)
    keep_cert(root_cert, "root/ca.pem", "root CA certificate")
    root = CertificateAuthority("root", root_cert, root_key, registry, urls)
    with engine.begin() as connection:
        CaRepository(connection).add(
            name="root", certificate_pem=_pem(root_cert).decode(), parent_name=None, scope=None,
            key_ref=root_ref, base_url=base_url, created_at=now,
        )  # fmt: skip
        AuditLog(connection).append(
            actor="ca-init", action="ca.create", subject="root", details={"kind": "root"}, at=now
        )
    authorities = [root]
    for plan in sub_cas:
        key, key_ref = ca_key(plan.name)
        record = root.issue(
            key.public_key(), ca_subject(plan.common_name, province=plan.province), Profile.SUB_CA,
            now=now, scope=plan.scope,
        )  # fmt: skip
        keep_cert(
            record.certificate,
            f"{plan.name}/ca.pem",
            f"{plan.name} CA certificate (scope {','.join(plan.scope)})",
        )
        with engine.begin() as connection:
            CaRepository(connection).add(
                name=plan.name, certificate_pem=record.pem.decode(), parent_name="root",
                scope=",".join(plan.scope), key_ref=key_ref,
                base_url=base_url, created_at=now,
            )  # fmt: skip
            AuditLog(connection).append(
                actor="ca-init", action="ca.create", subject=plan.name,
                details={"kind": "sub-ca", "scope": list(plan.scope), "serial": hex(record.serial)},
                at=now,
            )  # fmt: skip
        authorities.append(
            CertificateAuthority(
                plan.name, record.certificate, key, registry, urls, chain=[root_cert]
            )
        )
    for authority in authorities:
        # The responder signs every nonce'd request: P-256 signs ~30x faster than RSA-2048.
        ocsp_key = generate_key("p256")
        ocsp = authority.issue(
            ocsp_key.public_key(),
            ca_subject(f"OCSP {authority.name}"),
            Profile.OCSP_SIGNING,
            now=now,
        )
        keep_key(ocsp_key, f"{authority.name}/ocsp.key.pem", f"{authority.name} OCSP responder key")
        keep_cert(
            ocsp.certificate,
            f"{authority.name}/ocsp.pem",
            f"{authority.name} OCSP responder certificate",
        )
        tsa_key = generate_key("rsa2048")
        tsa = authority.issue(
            tsa_key.public_key(), ca_subject(f"TSA {authority.name}"), Profile.TIMESTAMPING, now=now
        )
        keep_key(tsa_key, f"{authority.name}/tsa.key.pem", f"{authority.name} TSA key")
        keep_cert(tsa.certificate, f"{authority.name}/tsa.pem", f"{authority.name} TSA certificate")
        with engine.begin() as connection:
            audit = AuditLog(connection)
            for record in (ocsp, tsa):
                audit.append(
                    actor="ca-init",
                    action="ca.issue",
                    subject=f"{authority.name}:{record.serial:x}",
                    details={"subject": record.subject, "profile": record.profile.value},
                    at=now,
                )
    if demo and len(authorities) > 1:
        sub = authorities[1]
        org_key = generate_key("rsa2048")
        org = sub.issue_organization(
            org_key.public_key(),
            OrganizationSubject(
                "000.00.12.H41", "Sở Thông tin và Truyền thông tỉnh Nghệ An", "Nghệ An"
            ),
            now=now,
        )
        keep_key(org_key, "issued/so-tttt-nghe-an.key.pem", "demo organisation key")
        keep_cert(org.certificate, "issued/so-tttt-nghe-an.pem", "demo organisation certificate")
        person_key = generate_key("rsa2048")
        person = sub.issue_person(
            person_key.public_key(),
            PersonSubject(
                "Nguyễn Văn An",
                "Giám đốc",
                "000.00.12.H41",
                "Sở Thông tin và Truyền thông tỉnh Nghệ An",
                "040080012345",
                "Nghệ An",
            ),
            now=now,
        )
        keep_key(person_key, "issued/nguyen-van-an.key.pem", "demo personal key (leader)")
        keep_cert(
            person.certificate, "issued/nguyen-van-an.pem", "demo personal certificate (leader)"
        )
        with engine.begin() as connection:
            audit = AuditLog(connection)
            for record in (org, person):
                audit.append(
                    actor="ca-init",
                    action="ca.issue",
                    subject=f"{sub.name}:{record.serial:x}",
                    details={"subject": record.subject},
                    at=now,
                )
    for authority in authorities:
        crl = authority.crl(now=now)
        path = _write(
            directory / "crl" / f"{authority.name}.crl",
            crl.public_bytes(serialization.Encoding.DER),
        )
        written.append(Written(f"{authority.name} CRL (DER)", path))
    return written


__all__ = ["AuthorityService", "CaPlan", "Written", "init_directory"]
