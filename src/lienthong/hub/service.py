"""The hub's core (lõi trục liên thông): :class:`Hub`, the real :class:`HubService`.

One send is one unit of work: validate (outside any transaction), put the bytes in the blob
store (fsynced, content-addressed), then — on the :class:`GroupCommitter`'s writer thread, in
one transaction shared with concurrent sends — record the package, its deliveries, the status
history, the events and the audit entry, commit, and only then return the :class:`Receipt`.
``docs/hub.md`` describes the model, the states, idempotency and the deadlines.
"""

from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy.engine import Connection, Engine

from lienthong.domain.calendar import WorkingCalendar
from lienthong.domain.deadlines import (
    DEFAULT_DEADLINE_POLICY,
    DeadlinePolicy,
    registration_deadline,
    sending_deadline,
)
from lienthong.domain.edxml import DEFAULT_LIMITS, Limits, Package, SignatureKind, parse_package
from lienthong.domain.edxml.business import (
    business_type,
    recipient_changes,
    replacements,
    target_document_id,
)
from lienthong.domain.edxml.dates import parse_timestamp
from lienthong.domain.edxml.model import BusinessType
from lienthong.domain.edxml.validation import (
    SignaturePolicy,
    ValidationOptions,
    ValidationReport,
    validate_package,
)
from lienthong.domain.errors import EdxmlError, LienthongError, Severity, UsageError
from lienthong.domain.priority import Priority
from lienthong.domain.status import (
    DeliveryStatusState,
    StatusCode,
    StatusRecord,
    apply_status,
)
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.hub.api import (
    Caller,
    DeliveryState,
    Event,
    HubError,
    HubService,
    InboxItem,
    OverdueRegistration,
    PackageKind,
    Receipt,
    RecipientView,
    SentItem,
    StatusEvent,
    SystemInfo,
)
from lienthong.hub.routing import add_trace, idempotency_key
from lienthong.pki.profiles import agency_code_of
from lienthong.signing.report import FileReport
from lienthong.signing.xmldsig import EnvelopeCheck, check_envelope
from lienthong.store.audit import AuditLog, trust_own_appends
from lienthong.store.blobs import BlobStore
from lienthong.store.deferred import writing_directly
from lienthong.store.group_commit import GroupCommitter
from lienthong.store.hub_store import (
    HIDDEN_STATES,
    OPEN_STATES,
    DeliveryRecord,
    HubPackage,
    HubRepository,
    InboxRow,
    PdfClaim,
    StatusRow,
    SystemRecord,
    SystemRepository,
    lock_event_order,
)
from lienthong.store.repositories import AgencyRecord, AgencyRepository

if TYPE_CHECKING:
    from lienthong.signing.verify import Verifier

_log = logging.getLogger(__name__)
T = TypeVar("T")

#: The hub's own ``TraceHeader/OrganId`` by default: the Government Office (Văn phòng Chính
#: phủ), which runs the national axis. Configurable (:attr:`HubConfig.hub_id`).
DEFAULT_HUB_ID = "000.00.00.G22"

#: How many successor links the hub follows for a retired code before giving up (a loop or
#: an absurd chain of mergers is a registry error).
MAX_SUCCESSOR_HOPS = 8


class PdfPolicy(StrEnum):
    """What a recipient wants done with a document whose PDF signatures do not pass."""

    REJECT = "reject"  #: refuse the package (the sender learns at once)
    FLAG = "flag"  #: accept it and flag it in the stored report (the default)


class PdfCheck(StrEnum):
    """When the hub checks the PDF signatures of a document (kiểm tra chữ ký PDF).

    Not passing includes INDETERMINATE (e.g. the OCSP responder did not answer) and a verifier
    that failed: the check fails closed for recipients whose policy is ``reject``.
    """

    OFF = "off"  #: never (the report says ``"pdf": "not_checked"``)
    ENTRY = "entry"  #: on entry, in ``send`` (synchronous: slow sends)
    #: after the receipt, before delivery: deliveries are ``held`` until
    #: :meth:`Hub.verify_pending` has checked the package (the served hub's default)
    BACKGROUND = "background"


#: Verifies a package's bytes (``lienthong.signing.verify.Verifier.verify_bytes``, made
#: thread-safe by :class:`LockedVerifier`).
PackageVerifier = Callable[[bytes], FileReport]


class LockedVerifier:
    """A :class:`~lienthong.signing.verify.Verifier` shared by the hub's request threads."""

    def __init__(self, verifier: Verifier) -> None:
        self._verifier = verifier
        self._lock = threading.Lock()

    def __call__(self, data: bytes) -> FileReport:
        """Verify one package (one at a time: the verifier owns one event loop)."""
        with self._lock:
            return self._verifier.verify_bytes(data, "package.edxml")


@dataclass(frozen=True, slots=True)
class HubConfig:
    """What a deployment may tune.

    ``signature_policy`` decides what happens to a package whose envelope ``Signature`` is
    missing or a placeholder (every real sample carries a placeholder): ``warn`` accepts it
    and flags it in the stored validation report (the default), ``require`` refuses it
    (``hub.unsigned``). A real signature that fails to verify is always refused
    (``hub.bad_signature``), whatever the policy.
    """

    hub_id: str = DEFAULT_HUB_ID
    signature_policy: SignaturePolicy = SignaturePolicy.WARN
    limits: Limits = DEFAULT_LIMITS
    check_payloads: bool = True
    calendar: WorkingCalendar = field(default_factory=WorkingCalendar)
    deadline_policy: DeadlinePolicy = DEFAULT_DEADLINE_POLICY
    #: A delivery open for longer than this is reported as long undelivered.
    undelivered_after: timedelta = timedelta(days=1)
    #: Verifies the PDF signatures of a document on entry (``None``: not verified on entry;
    #: the report says ``"pdf": "not_checked"``).
    pdf_verifier: PackageVerifier | None = None
    #: The policy for recipients not listed in ``pdf_policies``.
    pdf_policy: PdfPolicy = PdfPolicy.FLAG
    #: Per recipient agency code.
    pdf_policies: Mapping[str, PdfPolicy] = field(default_factory=dict)
    #: When PDFs are checked (``None``: on entry if ``pdf_verifier`` is set, else never).
    #: ``background`` needs a verifier only in :meth:`Hub.verify_pending` (given there or here).
    pdf_check: PdfCheck | None = None
    #: How long a process's claim on a pending PDF check lasts before another may take it.
    pdf_lease: timedelta = timedelta(seconds=60)

    def pdf_policy_for(self, agency: str) -> PdfPolicy:
        """The PDF policy of one recipient."""
        return self.pdf_policies.get(agency, self.pdf_policy)

    @property
    def pdf_mode(self) -> PdfCheck:
        """The effective :class:`PdfCheck`."""
        if self.pdf_check is not None:
            return self.pdf_check
        return PdfCheck.OFF if self.pdf_verifier is None else PdfCheck.ENTRY


@dataclass(frozen=True, slots=True)
class _Checked:
    """What the hub learnt of a package before writing anything."""

    package: Package
    kind: str
    sender: str
    document_id: str
    report: ValidationReport
    signature: str  #: ``valid``, ``missing``, ``placeholder``
    pdf: dict[str, object] | None = None  #: the PDF verification summary, if verified


@dataclass(frozen=True, slots=True)
class _Accepted:
    receipt: Receipt
    #: (agency, seq); filled before the commit when the group writes deferred events
    events: Sequence[tuple[str, int]]
    held: bool = False  #: deliveries wait for the background PDF check


@dataclass(frozen=True, slots=True)
class SendTiming:
    """Where the time of one accepted send went, in seconds (for the hub's metrics)."""

    check: float  #: parse, envelope signature, validation (and the PDFs, ``--pdf-check entry``)
    store: float  #: the blob written and fsynced
    write: float  #: queued for the writer and committed with its group (routing, audit …)
    duplicate: bool  #: a resend answered with the original receipt


@dataclass(frozen=True, slots=True)
class PdfCheckRun:
    """What one :meth:`Hub.check_pending_pdfs` call did."""

    verified: int = 0  #: packages checked and recorded by this call
    passed: int = 0  #: of which the PDFs passed
    delivered: int = 0  #: deliveries released to their recipient (``queued``)
    refused: int = 0  #: deliveries refused by the recipient's PDF policy
    errors: int = 0  #: packages whose verifier raised (recorded as not passed)


class Hub:
    """The exchange hub's core over one database and one blob store; thread-safe.

    Writes go through one :class:`GroupCommitter` (one writer thread per process, concurrent
    sends committed together); reads use pooled connections. ``close()`` stops the writer.
    """

    def __init__(
        self,
        engine: Engine,
        blobs: BlobStore,
        config: HubConfig | None = None,
        *,
        committer: GroupCommitter | None = None,
    ) -> None:
        self.engine = engine
        self.blobs = blobs
        self.config = config or HubConfig()
        self._own_committer = committer is None
        # Every work of the hub only reads and writes the database: a group may run twice.
        # The audit entries, deliveries and events of a plain send are written with the
        # group's others, at its end (lienthong.store.deferred).
        self.committer = committer or GroupCommitter(
            engine, on_connection=_begin_group, rerun_safe=True, deferred=True
        )
        self._changed = threading.Condition()
        self._listeners: list[Callable[[Sequence[tuple[str, int]]], None]] = []
        self._held_listeners: list[Callable[[], None]] = []
        self._sent_listeners: list[Callable[[SendTiming], None]] = []
        if self.config.pdf_mode is PdfCheck.ENTRY and self.config.pdf_verifier is None:
            raise UsageError("usage.bad_argument", "pdf_check=entry needs a pdf_verifier")

    def close(self) -> None:
        """Stop the writer thread (if the hub made it)."""
        if self._own_committer:
            self.committer.close()

    # -- push: what the edges wait on ------------------------------------------------------
    def listen(self, callback: Callable[[Sequence[tuple[str, int]]], None]) -> None:
        """Call ``callback([(agency, seq), …])`` after every commit that added events.

        Called on the committing thread: keep it short (e.g. ``loop.call_soon_threadsafe``).
        """
        self._listeners.append(callback)

    def on_held(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` after a commit that held deliveries for the background PDF check
        (the maintenance loop wakes at once instead of at its next tick). Keep it short."""
        self._held_listeners.append(callback)

    def on_sent(self, callback: Callable[[SendTiming], None]) -> None:
        """Call ``callback(timing)`` after every accepted send (a resend too, marked
        ``duplicate``), on the sending thread, whichever edge it came through. Keep it short."""
        self._sent_listeners.append(callback)

    def wait_for_events(
        self, caller: Caller, agency: str, *, after_seq: int = 0, timeout: float = 25.0
    ) -> Sequence[Event]:
        """Long-poll: the events after ``after_seq``, waiting up to ``timeout`` s for one."""
        found = self.events(caller, agency, after_seq=after_seq)
        if found:
            return found
        with self._changed:
            self._changed.wait(timeout)
        return self.events(caller, agency, after_seq=after_seq)

    def _notify(self, events: Sequence[tuple[str, int]]) -> None:
        if not events:
            return
        with self._changed:
            self._changed.notify_all()
        for callback in self._listeners:
            try:
                callback(events)
            except Exception:  # noqa: BLE001 - a listener's bug must not fail a committed send
                _log.exception("hub event listener failed")

    # -- systems ---------------------------------------------------------------------------
    def system_by_id(self, system_id: str) -> SystemInfo | None:
        """The connected system ``system_id`` (for the VDXP edge), or ``None``."""
        with self.engine.connect() as connection:
            record = SystemRepository(connection).get(system_id)
        return None if record is None else _system_info(record)

    def system_by_certificate(self, sha256_hex: str) -> SystemInfo | None:
        """The system whose organisation certificate has this SHA-256 (hex), or ``None``."""
        with self.engine.connect() as connection:
            record = SystemRepository(connection).by_certificate(sha256_hex)
        return None if record is None else _system_info(record)

    def agency(self, code: str) -> AgencyRecord | None:
        """A registry entry, or ``None``."""
        with self.engine.connect() as connection:
            return AgencyRepository(connection).find(code)

    # -- send ------------------------------------------------------------------------------
    def send(self, caller: Caller, edxml: bytes, *, now: datetime) -> Receipt:
        """Accept a document or status package; the receipt comes only once it is durable."""
        try:
            started = time.perf_counter()
            checked = self._check(caller, edxml)
            checked = self._check_pdfs(checked, edxml)
            checked_at = time.perf_counter()
            sha = self.blobs.put(edxml)
            stored_at = time.perf_counter()
            accepted = self._write(
                lambda c: self._record(c, caller, checked, edxml, sha, now),
                deferrable=_plain_document(checked),
            )
            timing = SendTiming(
                checked_at - started,
                stored_at - checked_at,
                time.perf_counter() - stored_at,
                accepted.receipt.duplicate,
            )
        except HubError as exc:
            self._refused(caller, edxml, exc, now)
            raise
        self._notify(accepted.events)
        for listener in self._sent_listeners:
            try:
                listener(timing)
            except Exception:  # noqa: BLE001 - must not fail a committed send
                _log.exception("hub send listener failed")
        if accepted.held:
            for callback in self._held_listeners:
                try:
                    callback()
                except Exception:  # noqa: BLE001 - must not fail a committed send
                    _log.exception("hub held-package listener failed")
        return accepted.receipt

    def _check(self, caller: Caller, edxml: bytes) -> _Checked:
        limits = self.config.limits
        if len(edxml) > limits.max_package_bytes:
            raise HubError("hub.too_large", f"{len(edxml)} > {limits.max_package_bytes} bytes")
        # One parse: check_envelope parses the package and returns it with the signature check.
        check = check_envelope(edxml, limits=limits)
        package = check.package
        if package is None:
            try:
                package = parse_package(edxml, limits=limits)
            except EdxmlError as exc:
                raise HubError(
                    "hub.invalid_package",
                    exc.describe(),
                    findings=({"code": exc.code, "severity": "error", "detail": exc.detail},),
                ) from None
        header = package.header
        sender = (header.from_.organ_id if header.from_ else None) or ""
        if sender not in caller.agencies:
            raise HubError("hub.forged_sender", f"From {sender!r} (system {caller.system_id})")
        signature = self._check_signature(package, check, sender)
        options = ValidationOptions(
            limits=limits,
            signature_policy=self.config.signature_policy,
            check_payloads=self.config.check_payloads,
        )
        report = validate_package(package, options)
        if not report.valid:
            errors = report.errors
            raise HubError(
                "hub.invalid_package",
                "; ".join(f"{f.code} {f.path}" for f in errors[:5]),
                findings=tuple(f.as_dict() for f in errors),
            )
        kind = package.kind
        if kind == "status":
            refs = [r for r in header.response_for if r.document_id]
            document_id = refs[0].document_id if refs else None
        else:
            document_id = header.document_id
        if not document_id:
            raise HubError("hub.invalid_package", "no DocumentId")
        return _Checked(package, kind, sender, document_id, report, signature)

    def _check_pdfs(self, checked: _Checked, edxml: bytes) -> _Checked:
        verifier = self.config.pdf_verifier
        if self.config.pdf_mode is not PdfCheck.ENTRY or verifier is None:
            return checked
        if checked.kind != "document":
            return checked
        return replace(checked, pdf=pdf_summary(verifier(edxml)))

    def _check_signature(self, package: Package, check: EnvelopeCheck, sender: str) -> str:
        block = package.signature
        if block is None or block.kind is SignatureKind.PLACEHOLDER:
            what = "missing" if block is None else "placeholder"
            if self.config.signature_policy is SignaturePolicy.REQUIRE:
                raise HubError("hub.unsigned", what)
            return what
        errors = [f.code for f in check.findings if f.severity is Severity.ERROR]
        if errors or not (check.intact and check.valid) or check.signer is None:
            raise HubError("hub.bad_signature", ", ".join(errors) or "signature does not verify")
        signer_code = agency_code_of(check.signer.subject)
        if signer_code != sender:
            raise HubError("hub.bad_signature", f"signed by {signer_code}, From is {sender}")
        return "valid"

    def _record(  # noqa: PLR0912, PLR0915, PLR0917 - one unit of work, written out in order
        self,
        connection: Connection,
        caller: Caller,
        checked: _Checked,
        edxml: bytes,
        sha: str,
        now: datetime,
    ) -> _Accepted:
        repo = HubRepository(connection)
        agencies = AgencyRepository(connection)
        package = checked.package
        header = package.header
        events: list[tuple[str, int]] = []
        notices: list[str] = []
        original: HubPackage | None = None
        status_code: str | None = None
        business: str | None = None
        priority = Priority.NORMAL
        late: bool | None = None
        promulgation = None
        routes: list[tuple[str, str | None]] = []  # (recipient, addressed code if rerouted)

        if checked.kind == "status":
            status_code, original, addressed = self._route_status(repo, checked)
            if not addressed:
                raise HubError("hub.no_recipient", checked.document_id)
            routes.extend((code, None) for code in addressed)
            idem = idempotency_key(
                "status",
                checked.document_id,
                ",".join(addressed),
                status_code,
                header.timestamp or sha,
            )
        else:
            btype = business_type(package) or BusinessType.NEW
            business = str(int(btype))
            other = header.other_info
            priority = (other.urgency if other else None) or Priority.NORMAL
            info = header.promulgation_info
            promulgation = info.date if info else None
            wanted = [to.organ_id for to in header.to if to.organ_id]
            if btype is not BusinessType.NEW:
                original, extra, refused = self._route_change(repo, checked, btype)
                wanted.extend(extra)
                if btype is BusinessType.REVOKE:  # nothing to take back from them
                    wanted = [code for code in wanted if code not in refused]
                    if not wanted:
                        raise HubError(
                            "hub.no_recipient",
                            f"{checked.document_id}: every recipient refused the original "
                            "(PDF policy)",
                        )
            elif promulgation is not None:
                send_by = _send_by(
                    promulgation, priority, self.config.calendar, self.config.deadline_policy
                )
                late = now > send_by
            for code in dict.fromkeys(wanted):
                target, notice = _resolve(agencies, code)
                if notice:
                    notices.append(notice)
                routes.append((target, code if target != code else None))
            if not routes:
                raise HubError("hub.no_recipient", checked.document_id)
            parts = ["document", business, checked.document_id]
            if btype in (BusinessType.UPDATE, BusinessType.REPLACE):
                parts.append(sha)  # several updates of one document are several packages
            idem = idempotency_key(*parts)

        if checked.pdf is not None and not checked.pdf["passed"]:
            refusing = [
                target
                for target, _ in routes
                if self.config.pdf_policy_for(target) is PdfPolicy.REJECT
            ]
            if refusing:
                raise HubError("hub.bad_pdf_signature", f"refused by {', '.join(refusing)}")
        held = checked.kind == "document" and self.config.pdf_mode is PdfCheck.BACKGROUND
        pdf: object = checked.pdf if checked.pdf is not None else "not_checked"
        report = {
            "valid": checked.report.valid,
            "signature": checked.signature,
            "pdf": "pending" if held else pdf,
            "findings": [f.as_dict() for f in checked.report.findings],
            "notices": notices,
        }
        package_id, created = repo.insert_package(
            {
                "document_id": checked.document_id,
                "sender_code": checked.sender,
                "kind": checked.kind,
                "sha256": sha,
                "size": len(edxml),
                "stored_at": now,
                "idem_key": idem,
                "business": business,
                "original_id": original.id if original else None,
                "status_code": status_code,
                "promulgation_date": promulgation,
                "priority": int(priority),
                "late": late,
                "report": json.dumps(report, ensure_ascii=False, sort_keys=True),
                "pdf_state": "pending" if held else None,
            }
        )
        if not created:
            with writing_directly(connection):  # the original may be earlier in this group
                return _Accepted(self._original_receipt(repo, package_id), ())

        audit = AuditLog(connection)
        audit.append(
            actor=caller.system_id,
            action=f"hub.accept.{checked.kind}",
            subject=str(package_id),
            details={
                "document_id": checked.document_id,
                "sender": checked.sender,
                "sha256": sha,
                "recipients": [target for target, _ in routes],
                "business": business,
                "status": status_code,
                "signature": checked.signature,
            },
            at=now,
        )
        due: datetime | None = None
        if checked.kind == "document":
            due = _register_by(
                now.replace(microsecond=0),
                priority,
                self.config.calendar,
                self.config.deadline_policy,
            )
        recipients: list[str] = []
        for target, routed_from in routes:
            if target in recipients:
                continue
            recipients.append(target)
            repo.add_delivery(
                package_id=package_id,
                recipient_code=target,
                queued_at=now,
                routed_from=routed_from,
                registration_due=due,
                state="held" if held else "queued",
            )
            if held:
                continue  # the recipient learns of it once its PDFs are checked
            kind = "status" if checked.kind == "status" else "package"
            repo.defer_event(
                target, kind, package_id, now, then=functools.partial(_numbered, events, target)
            )
        for notice in notices:
            repo.defer_event(
                checked.sender, "notice", package_id, now, notice,
                then=functools.partial(_numbered, events, checked.sender),
            )  # fmt: skip
        if checked.kind == "status" and original is not None and status_code is not None:
            for addressed_code in recipients:
                self._record_status(
                    repo,
                    checked=checked,
                    original=original,
                    status_package_id=package_id,
                    code_text=status_code,
                    addressed=addressed_code,
                    now=now,
                )
        receipt = Receipt(
            package_id=package_id,
            document_id=checked.document_id,
            sha256=sha,
            received_at=now,
            recipients=tuple(recipients),
            notices=tuple(notices),
        )
        return _Accepted(receipt, events, held=held)

    def _route_status(
        self, repo: HubRepository, checked: _Checked
    ) -> tuple[str, HubPackage, list[str]]:
        """Check a status package; return its code, the original and the addressed agencies."""
        header = checked.package.header
        try:
            code = StatusCode.parse(header.status_code or "")
        except ValueError:
            raise HubError("hub.invalid_package", f"StatusCode {header.status_code!r}") from None
        ref = next(r for r in header.response_for if r.document_id)
        original = repo.find_document(checked.document_id, sender_code=ref.organ_id or None)
        if original is None:
            original = repo.find_document(checked.document_id)
        if original is None:
            raise HubError("hub.unknown_original", checked.document_id)
        if code is StatusCode.RECALL_REQUESTED:
            # 13 goes from the original sender to the recipient named in ResponseFor/OrganId,
            # or to every recipient when it names the sender itself (or nobody).
            if checked.sender != original.sender_code:
                raise HubError("hub.forbidden", f"13 for {checked.document_id}")
            if ref.organ_id and ref.organ_id != original.sender_code:
                if not _visible(repo.delivery(original.id, ref.organ_id)):
                    raise HubError("hub.forbidden", f"13 for {checked.document_id}")
                return code.value, original, [ref.organ_id]
            everyone = [
                d.recipient_code
                for d in repo.deliveries_of([original.id])[original.id]
                if _visible(d)
            ]
            return code.value, original, everyone
        if not _visible(repo.delivery(original.id, checked.sender)):
            raise HubError(
                "hub.forbidden", f"{checked.sender} did not receive {checked.document_id}"
            )
        return code.value, original, [original.sender_code]

    def _route_change(
        self, repo: HubRepository, checked: _Checked, btype: BusinessType
    ) -> tuple[HubPackage | None, list[str], set[str]]:
        """Link a revoke/update/replace to its original; return it, the extra recipients
        (the original's, but for those that refused it by PDF policy: they never had it) and
        those that refused it."""
        package = checked.package
        targets = [target_document_id(package)]
        extra: list[str] = []
        if btype is BusinessType.REPLACE:
            for item in replacements(package):
                targets.append(item.document_id)
                extra.extend(item.organ_ids)
        original = None
        for target in targets:
            if target:
                original = repo.find_document(target, sender_code=checked.sender)
                if original is not None:
                    break
        if original is None and btype is not BusinessType.REPLACE:
            raise HubError("hub.unknown_original", str(targets[0]))
        refused: set[str] = set()
        if original is not None:
            for delivery in repo.deliveries_of([original.id])[original.id]:
                if delivery.state == DeliveryState.REFUSED:
                    refused.add(delivery.recipient_code)
                else:
                    extra.append(delivery.recipient_code)
        changes = recipient_changes(package)
        if changes is not None:
            extra.extend(changes.added)
            extra.extend(changes.removed)  # told that they are no longer recipients
        return original, extra, refused

    def _record_status(
        self,
        repo: HubRepository,
        *,
        checked: _Checked,
        original: HubPackage,
        status_package_id: int,
        code_text: str,
        addressed: str,
        now: datetime,
    ) -> None:
        code = StatusCode(code_text)
        recipient = addressed if code is StatusCode.RECALL_REQUESTED else checked.sender
        stamp = checked.package.header.timestamp
        try:
            at = parse_timestamp(stamp) if stamp else now
        except ValueError:
            at = now
        history = [s for s in repo.statuses([original.id]) if s.recipient_code == recipient]
        state = DeliveryStatusState(
            tuple(
                StatusRecord(StatusCode(s.code), s.at, i, s.findings) for i, s in enumerate(history)
            )
        )
        outcome = apply_status(state, code, at)
        repo.add_status(
            package_id=original.id,
            recipient_code=recipient,
            code=code.value,
            at=at,
            reported_by=checked.sender,
            status_package_id=status_package_id,
            findings=sorted(outcome.finding_codes),
        )
        current = outcome.state.current
        repo.set_status(
            original.id,
            recipient,
            current_status=current.value if current else None,
            registered_at=now if code is StatusCode.ACCEPTED else None,
        )

    def _original_receipt(self, repo: HubRepository, package_id: int) -> Receipt:
        stored = repo.package(package_id)
        assert stored is not None
        recipients = tuple(d.recipient_code for d in repo.deliveries_of([package_id])[package_id])
        notices: tuple[str, ...] = ()
        if stored.report:
            notices = tuple(json.loads(stored.report).get("notices", ()))
        return Receipt(
            package_id=stored.id,
            document_id=stored.document_id,
            sha256=stored.sha256,
            received_at=stored.stored_at,
            recipients=recipients,
            duplicate=True,
            notices=notices,
        )

    def _refused(self, caller: Caller, edxml: bytes, error: HubError, now: datetime) -> None:
        """Audit a refusal (best effort: a database outage must not hide the refusal)."""

        def work(connection: Connection) -> None:
            AuditLog(connection).append(
                actor=caller.system_id,
                action="hub.refuse",
                subject=error.code,
                details={"size": len(edxml), "detail": error.detail[:500]},
                at=now,
            )

        try:
            self._write(work)
        except LienthongError:
            _log.exception("could not audit a refusal")

    # -- receive ---------------------------------------------------------------------------
    def inbox(
        self,
        caller: Caller,
        agency: str,
        *,
        include_fetched: bool = True,
        limit: int = 100,
        after_id: int = 0,
    ) -> Sequence[InboxItem]:
        """Open deliveries of ``agency`` (queued, and fetched-but-unacknowledged), oldest first."""
        _require_agency(caller, agency)
        states = OPEN_STATES if include_fetched else ("queued",)
        with self.engine.connect() as connection:
            rows = HubRepository(connection).inbox(
                agency, states=states, after_id=after_id, limit=max(1, min(limit, 1000))
            )
        return [_listed(row) for row in rows]

    def fetch(self, caller: Caller, package_id: int, agency: str, *, now: datetime) -> bytes:
        """The package with the hub's trace hop; marks the delivery fetched.

        The sender may fetch what it sent too (nothing is marked then).
        """
        _require_agency(caller, agency)
        with self.engine.connect() as connection:
            repo = HubRepository(connection)
            stored = repo.package(package_id)
            delivery = repo.delivery(package_id, agency) if stored else None
        if delivery is not None and delivery.state in HIDDEN_STATES:
            delivery = None  # held or refused: not (yet) the recipient's
        if stored is None or (delivery is None and stored.sender_code != agency):
            raise HubError("hub.not_found", f"package {package_id} for {agency}")
        data = self.blobs.get(stored.sha256)
        if delivery is not None:
            self._write(lambda c: HubRepository(c).mark_fetched(package_id, agency, now))
        if stored.kind == "document":
            data = add_trace(data, self.config.hub_id, stored.stored_at)
        return data

    def acknowledge(
        self,
        caller: Caller,
        package_id: int,
        agency: str,
        *,
        ok: bool,
        reason: str | None = None,
        now: datetime,
    ) -> InboxItem:
        """Close the delivery as done or failed; the first answer wins, repeats change nothing."""
        _require_agency(caller, agency)
        state = DeliveryState.DONE if ok else DeliveryState.FAILED

        def work(connection: Connection) -> tuple[InboxItem, list[tuple[str, int]]]:
            repo = HubRepository(connection)
            stored = repo.package(package_id)
            found = repo.delivery(package_id, agency) if stored else None
            if stored is None or found is None or found.state in HIDDEN_STATES:
                raise HubError("hub.not_found", f"package {package_id} for {agency}")
            events: list[tuple[str, int]] = []
            if repo.close_delivery(package_id, agency, state=state.value, reason=reason, now=now):
                AuditLog(connection).append(
                    actor=caller.system_id,
                    action=f"hub.deliver.{state.value}",
                    subject=str(package_id),
                    details={"recipient": agency, "reason": reason},
                    at=now,
                )
                sender = stored.sender_code
                events.append((sender, repo.add_event(sender, "delivery", package_id, now, agency)))
            delivery = repo.delivery(package_id, agency)
            assert delivery is not None
            return _inbox_item(delivery, stored), events

        item, events = self._write(work)
        self._notify(events)
        return item

    def sent(
        self, caller: Caller, agency: str, *, limit: int = 100, after_id: int = 0
    ) -> Sequence[SentItem]:
        """Packages ``agency`` sent, newest first; ``after_id`` continues below that id."""
        _require_agency(caller, agency)
        with self.engine.connect() as connection:
            repo = HubRepository(connection)
            stored = repo.sent(agency, before_id=after_id or None, limit=max(1, min(limit, 1000)))
            ids = [p.id for p in stored]
            deliveries = repo.deliveries_of(ids)
            statuses = repo.statuses(ids)
        return [_sent_item(p, deliveries[p.id], statuses) for p in stored]

    def events(
        self, caller: Caller, agency: str, *, after_seq: int = 0, limit: int = 100
    ) -> Sequence[Event]:
        """Events for ``agency`` after ``after_seq`` (resumable by the last seq seen)."""
        _require_agency(caller, agency)
        with self.engine.connect() as connection:
            rows = HubRepository(connection).events(
                agency, after_seq=after_seq, limit=max(1, min(limit, 1000))
            )
        return [Event(r.seq, r.agency_code, r.kind, r.package_id, r.at, r.detail) for r in rows]

    def package_report(self, caller: Caller, package_id: int, agency: str) -> dict[str, object]:
        """The validation report kept with a package (for its sender or a recipient)."""
        _require_agency(caller, agency)
        with self.engine.connect() as connection:
            repo = HubRepository(connection)
            stored = repo.package(package_id)
            delivery = repo.delivery(package_id, agency) if stored else None
            visible = delivery is not None and delivery.state not in HIDDEN_STATES
            allowed = stored is not None and (stored.sender_code == agency or visible)
        if stored is None or not allowed:
            raise HubError("hub.not_found", f"package {package_id} for {agency}")
        report: dict[str, object] = json.loads(stored.report or "{}")
        return report

    # -- deadlines (hạn xử lý) -------------------------------------------------------------
    def overdue_registrations(
        self, caller: Caller, now: datetime, *, limit: int = 1000
    ) -> Sequence[OverdueRegistration]:
        """Recipients that have not registered (03) a document within the legal limit.

        Operators see all; a system sees those where its agencies are sender or recipient.
        """
        with self.engine.connect() as connection:
            repo = HubRepository(connection)
            scope = None if caller.operator else sorted(caller.agencies)
            rows = repo.overdue_registrations(now, limit=limit, agencies=scope)
            packages = {pid: repo.package(pid) for pid in {r.package_id for r in rows}}
        found = []
        for row in rows:
            stored = packages[row.package_id]
            assert stored is not None
            mine = row.recipient_code in caller.agencies or stored.sender_code in caller.agencies
            if not (caller.operator or mine) or row.registration_due is None:
                continue
            found.append(
                OverdueRegistration(
                    package_id=row.package_id,
                    document_id=stored.document_id,
                    sender=stored.sender_code,
                    recipient=row.recipient_code,
                    arrived_at=row.queued_at,
                    due=row.registration_due,
                    current_status=row.current_status,
                )
            )
        return found

    def undelivered(
        self, caller: Caller, now: datetime, *, limit: int = 1000
    ) -> Sequence[InboxItem]:
        """Deliveries still open after :attr:`HubConfig.undelivered_after` (both sides see them)."""
        with self.engine.connect() as connection:
            repo = HubRepository(connection)
            rows = repo.stale_deliveries(now - self.config.undelivered_after, limit=limit)
            packages = {pid: repo.package(pid) for pid in {r.package_id for r in rows}}
        found = []
        for row in rows:
            stored = packages[row.package_id]
            assert stored is not None
            mine = row.recipient_code in caller.agencies or stored.sender_code in caller.agencies
            if caller.operator or mine:
                found.append(_inbox_item(row, stored))
        return found

    def remind(self, now: datetime, *, limit: int = 500) -> int:
        """Tell both sides of each late delivery, once (a ``notice`` event to the sender and
        to the recipient): registration limit passed without 03, or undelivered for longer
        than :attr:`HubConfig.undelivered_after`. Run it periodically from any number of hub
        processes; returns how many deliveries were reminded of."""

        before = now - self.config.undelivered_after

        def work(connection: Connection) -> tuple[int, list[tuple[str, int]]]:
            repo = HubRepository(connection)
            claimed = repo.claim_reminders(now, undelivered_before=before, limit=limit)
            events: list[tuple[str, int]] = []
            senders = {pid: repo.package(pid) for pid in {d.package_id for d in claimed}}
            for delivery in claimed:
                stored = senders[delivery.package_id]
                assert stored is not None
                late_fetch = delivery.state in OPEN_STATES and delivery.queued_at < before
                detail = f"{'undelivered' if late_fetch else 'not_registered'}:"
                detail += delivery.recipient_code
                for agency in dict.fromkeys((stored.sender_code, delivery.recipient_code)):
                    seq = repo.add_event(agency, "notice", delivery.package_id, now, detail)
                    events.append((agency, seq))
            return len(claimed), events

        count, events = self._write(work)
        self._notify(events)
        return count

    # -- the background PDF check (kiểm tra chữ ký PDF trước khi chuyển) -------------------------
    def verify_pending(
        self, now: datetime, *, limit: int = 20, verifier: PackageVerifier | None = None
    ) -> int:
        """Check the PDF signatures of up to ``limit`` held packages and release or refuse
        their deliveries; returns how many packages this call checked (0: nothing pending).

        See :meth:`check_pending_pdfs`."""
        return self.check_pending_pdfs(now, limit=limit, verifier=verifier).verified

    def check_pending_pdfs(
        self, now: datetime, *, limit: int = 20, verifier: PackageVerifier | None = None
    ) -> PdfCheckRun:
        """The background pipeline's step, safe to run from any number of hub processes.

        1. Claim (one write) up to ``limit`` pending packages for :attr:`HubConfig.pdf_lease`
           — a process that dies holding a claim loses it then, and another takes over.
        2. For each, read the blob and run ``verifier`` (default :attr:`HubConfig.
           pdf_verifier`) outside any transaction. A verifier that raises gives a summary
           that did not pass (fail closed), with the error.
        3. One write per package: store the summary in the report and, for each delivery
           still ``held``, ``refused`` if the PDFs did not pass and the recipient's policy is
           ``reject`` (audited ``hub.refuse.pdf``, a ``notice`` ``pdf_refused:<recipient>`` to
           the sender), else ``queued`` with a ``package`` event to the recipient; a package
           another process finished meanwhile is left alone (nothing twice). Waiters are
           woken after each commit.
        """
        check = verifier or self.config.pdf_verifier
        if check is None:
            raise UsageError("usage.bad_argument", "verify_pending needs a PDF verifier")
        until = now + self.config.pdf_lease
        claims = self._write(
            lambda c: HubRepository(c).claim_pdf_checks(now, until=until, limit=max(1, limit))
        )
        run = PdfCheckRun()
        for claim in claims:
            summary = self._verify_blob(check, claim)
            released = self._write(
                functools.partial(self._release, claim=claim, summary=summary, now=now)
            )
            self._notify(released.events)
            if not released.recorded:
                continue
            run = PdfCheckRun(
                verified=run.verified + 1,
                passed=run.passed + bool(summary["passed"]),
                delivered=run.delivered + released.delivered,
                refused=run.refused + released.refused,
                errors=run.errors + ("error" in summary),
            )
        return run

    def _verify_blob(self, check: PackageVerifier, claim: PdfClaim) -> dict[str, object]:
        try:
            return pdf_summary(check(self.blobs.get(claim.sha256)))
        except Exception as exc:  # noqa: BLE001 - recorded, and the package fails closed
            _log.exception("PDF check of package %s failed", claim.package_id)
            return {
                "passed": False,
                "attachments": [],
                "indication": "INDETERMINATE",
                "error": f"{type(exc).__name__}: {exc}"[:300],
            }

    def _release(
        self, connection: Connection, *, claim: PdfClaim, summary: dict[str, object], now: datetime
    ) -> _Released:
        repo = HubRepository(connection)
        stored = repo.package(claim.package_id)
        if stored is None or stored.pdf_state != "pending":
            return _Released(recorded=False)
        report: dict[str, object] = json.loads(stored.report or "{}")
        report["pdf"] = summary
        if not repo.finish_pdf_check(
            stored.id, json.dumps(report, ensure_ascii=False, sort_keys=True)
        ):
            return _Released(recorded=False)  # another process finished it first
        passed = bool(summary["passed"])
        events: list[tuple[str, int]] = []
        delivered = refused = 0
        due: datetime | None = None
        # A revoke routed while its original was still held: not for those that refused it.
        never_had = _refused_original(repo, stored)
        for delivery in repo.deliveries_of([stored.id])[stored.id]:
            if delivery.state != "held":
                continue
            recipient = delivery.recipient_code
            if recipient in never_had:
                if _refuse(
                    connection, stored, recipient, action="hub.refuse.original",
                    reason=f"hub.original_refused: {stored.original_id}", now=now,
                    original=stored.original_id,
                ):  # fmt: skip
                    refused += 1
                continue
            if not passed and self.config.pdf_policy_for(recipient) is PdfPolicy.REJECT:
                if _refuse(
                    connection, stored, recipient, action="hub.refuse.pdf",
                    reason="hub.bad_pdf_signature: " + _pdf_reason(summary), now=now,
                    pdf=summary,
                ):  # fmt: skip
                    refused += 1
                    detail = f"pdf_refused:{recipient}"
                    seq = repo.add_event(stored.sender_code, "notice", stored.id, now, detail)
                    events.append((stored.sender_code, seq))
                continue
            if due is None:
                priority = Priority(stored.priority or Priority.NORMAL)
                due = _register_by(
                    now.replace(microsecond=0),
                    priority,
                    self.config.calendar,
                    self.config.deadline_policy,
                )
            if repo.release_delivery(
                stored.id, recipient, state="queued", now=now, registration_due=due
            ):
                delivered += 1
                events.append((recipient, repo.add_event(recipient, "package", stored.id, now)))
        return _Released(recorded=True, events=tuple(events), delivered=delivered, refused=refused)

    def pending_pdf_checks(self) -> int:
        """How many packages wait for their PDF check (the backlog gauge)."""
        with self.engine.connect() as connection:
            return HubRepository(connection).count_pending_pdf_checks()

    # -- internals -------------------------------------------------------------------------
    def _write(self, work: Callable[[Connection], T], *, deferrable: bool = False) -> T:
        """Run ``work`` in the writer's next group. Only a ``deferrable`` work may leave rows
        to the group's end (``lienthong.store.deferred``); any other first writes what the
        works before it deferred, and then writes directly."""
        if deferrable:
            return self.committer.run(work)

        def direct(connection: Connection) -> T:
            with writing_directly(connection):
                return work(connection)

        return self.committer.run(direct)


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True, slots=True)
class _Released:
    recorded: bool  #: this call recorded the check (``False``: done elsewhere already)
    events: tuple[tuple[str, int], ...] = ()
    delivered: int = 0
    refused: int = 0


def pdf_summary(report: FileReport) -> dict[str, object]:
    """What the hub keeps of a package's PDF verification in its report: ``passed`` (every
    attachment TOTAL_PASSED and every one readable) and each attachment's ETSI indication."""
    attachments = [
        {
            "file": a.file,
            "indication": a.indication.value,
            "sub_indication": a.sub_indication.value if a.sub_indication else None,
        }
        for a in report.attachments
    ]
    unreadable = [f.code for f in report.findings if f.code == "verify.attachment_unreadable"]
    passed = not unreadable and all(a.passed for a in report.attachments)
    summary: dict[str, object] = {"passed": passed, "attachments": attachments}
    if unreadable:
        summary["findings"] = unreadable
    return summary


def _pdf_reason(summary: Mapping[str, object]) -> str:
    """Why a PDF check did not pass, in a few words (for ``deliveries.reason``)."""
    if "error" in summary:
        return f"verifier error ({summary['error']})"
    parts = []
    attachments = summary.get("attachments")
    for item in attachments if isinstance(attachments, list) else ():
        if isinstance(item, dict) and item.get("indication") != "TOTAL_PASSED":
            sub = item.get("sub_indication")
            parts.append(
                f"{item.get('file')}: {item.get('indication')}" + (f"/{sub}" if sub else "")
            )
    findings = summary.get("findings")
    if isinstance(findings, list):
        parts.extend(str(f) for f in findings)
    return "; ".join(parts) or "PDF signatures did not pass"


def _refuse(
    connection: Connection,
    stored: HubPackage,
    recipient: str,
    *,
    action: str,
    reason: str,
    now: datetime,
    **details: object,
) -> bool:
    """Refuse a held delivery and audit it as ``action``; ``False`` if it was not held any
    more (another process released it first)."""
    repo = HubRepository(connection)
    if not repo.release_delivery(
        stored.id, recipient, state="refused", now=now, reason=reason[:500]
    ):
        return False
    AuditLog(connection).append(
        actor="hub",
        action=action,
        subject=str(stored.id),
        details={"recipient": recipient, "sender": stored.sender_code,
                 "document_id": stored.document_id, **details},
        at=now,
    )  # fmt: skip
    return True


def _refused_original(repo: HubRepository, stored: HubPackage) -> set[str]:
    """For a revoke, the recipients whose delivery of the original was refused by PDF policy
    (they never had it: nothing to take back); empty for anything else."""
    if stored.business != str(int(BusinessType.REVOKE)) or stored.original_id is None:
        return set()
    return {
        d.recipient_code
        for d in repo.deliveries_of([stored.original_id])[stored.original_id]
        if d.state == DeliveryState.REFUSED
    }


def _begin_group(connection: Connection | None) -> None:
    """At the start of each group commit, before any row lock: take the event-order lock
    (``lock_event_order``), so that event numbers become visible in order across processes
    and a group never waits for it while holding rows (docs/hub.md, "event order")."""
    if connection is not None:
        lock_event_order(connection)
        trust_own_appends(connection)  # the group writes the audit log only through AuditLog


def _plain_document(checked: _Checked) -> bool:
    """A new document (not a status, not a change of an earlier one): its write reads
    nothing another send of the same group may have deferred, so its rows may be deferred."""
    if checked.kind != "document":
        return False
    return (business_type(checked.package) or BusinessType.NEW) is BusinessType.NEW


def _numbered(events: list[tuple[str, int]], agency: str, seq: int) -> None:
    events.append((agency, seq))


@functools.lru_cache(maxsize=4096)
def _send_by(
    promulgated: date, priority: Priority, calendar: WorkingCalendar, policy: DeadlinePolicy
) -> datetime:
    """The sending limit of a document promulgated that day (its clock starts at 00:00)."""
    signed = datetime.combine(promulgated, datetime.min.time(), tzinfo=VIETNAM_TZ)
    return sending_deadline(signed, priority, calendar, policy=policy)


@functools.lru_cache(maxsize=4096)
def _register_by(
    arrived: datetime, priority: Priority, calendar: WorkingCalendar, policy: DeadlinePolicy
) -> datetime:
    """The registration limit of a document arriving then (to the second: sends of one second
    share the computation, which walks the calendar)."""
    return registration_deadline(arrived, priority, calendar, policy=policy)


def _visible(delivery: DeliveryRecord | None) -> bool:
    """Whether the recipient has (or had) the package: not held for its PDF check, nor
    refused by its PDF policy."""
    return delivery is not None and delivery.state not in HIDDEN_STATES


def _require_agency(caller: Caller, agency: str) -> None:
    if agency not in caller.agencies:
        raise HubError("hub.forbidden_agency", f"{caller.system_id} does not act for {agency}")


def _resolve(agencies: AgencyRepository, code: str) -> tuple[str, str | None]:
    """The agency that receives for ``code`` (itself, or its successor) and a notice."""
    current = agencies.find(code)
    if current is None:
        raise HubError("hub.unknown_recipient", code)
    seen = [code]
    while current.status == "retired":
        if current.successor_code is None or len(seen) > MAX_SUCCESSOR_HOPS:
            raise HubError("hub.unknown_recipient", f"{code} is retired without a successor")
        nxt = agencies.find(current.successor_code)
        if nxt is None or nxt.code in seen:
            raise HubError("hub.unknown_recipient", f"{code}: broken successor chain")
        seen.append(nxt.code)
        current = nxt
    if current.code == code:
        return code, None
    notice = (
        f"{code} đã giải thể/sáp nhập, chuyển đến {current.code} / "
        f"{code} retired: routed to its successor {current.code}"
    )
    return current.code, notice


def _system_info(record: SystemRecord) -> SystemInfo:
    return SystemInfo(
        system_id=record.system_id,
        name=record.name,
        secret=record.secret,
        cert_sha256=record.cert_sha256,
        caller=Caller(record.system_id, record.agencies, record.operator),
    )


def _inbox_item(delivery: DeliveryRecord, stored: HubPackage) -> InboxItem:
    row = InboxRow(
        stored.id, delivery.recipient_code, delivery.state, stored.kind, stored.document_id,
        stored.sender_code, stored.stored_at, stored.size, stored.business, stored.status_code,
    )  # fmt: skip
    return _listed(row)


def _listed(row: InboxRow) -> InboxItem:
    return InboxItem(
        package_id=row.package_id,
        kind=PackageKind(row.kind),
        document_id=row.document_id,
        sender=row.sender_code,
        recipient=row.recipient_code,
        state=DeliveryState(row.state),
        received_at=row.stored_at,
        size=row.size,
        business=row.business,
        status_code=row.status_code,
    )


def _sent_item(
    stored: HubPackage, deliveries: Iterable[DeliveryRecord], statuses: Sequence[StatusRow]
) -> SentItem:
    views = []
    for delivery in deliveries:
        history = tuple(
            StatusEvent(s.code, s.at, s.reported_by, s.status_package_id)
            for s in statuses
            if s.package_id == stored.id and s.recipient_code == delivery.recipient_code
        )
        views.append(
            RecipientView(
                recipient=delivery.recipient_code,
                delivery=DeliveryState(delivery.state),
                fetched_at=delivery.fetched_at,
                acknowledged_at=delivery.acknowledged_at,
                statuses=history,
                current_status=delivery.current_status,
            )
        )
    return SentItem(
        package_id=stored.id,
        document_id=stored.document_id,
        sender=stored.sender_code,
        received_at=stored.stored_at,
        recipients=tuple(views),
        late=bool(stored.late),
    )


def _conforms(hub: Hub) -> HubService:
    """mypy checks here that :class:`Hub` implements the :class:`HubService` contract."""
    return hub
