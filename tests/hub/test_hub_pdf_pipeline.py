"""The background PDF check (kiểm tra chữ ký PDF trước khi chuyển), on SQLite and PostgreSQL.

Real signatures: the PDFs are signed (B-B) with the organisation certificate of the test CA
directory (``hub_pki``) and verified by the verifier ``hub serve`` builds
(``pdf_verifier_factory(…, "ca-dir", …)``: the directory's roots and its own CRLs). A document
sent in ``background`` mode is held — invisible to its recipients — until
``Hub.verify_pending`` has checked it; then each recipient gets it (``queued`` + a ``package``
event) or, if the PDFs did not pass and its policy is ``reject``, ``refused`` (audited, the
sender told).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from lienthong.cli.hub_cmd import pdf_verifier_factory
from lienthong.domain.edxml import Organization, serialize_package
from lienthong.domain.edxml.builder import DocumentDraft, FileToAttach, build_document
from lienthong.domain.status import StatusCode
from lienthong.hub.api import DeliveryState, HubError
from lienthong.hub.maintenance import ClosableVerifier, Maintenance
from lienthong.hub.service import Hub, HubConfig, PackageVerifier, PdfCheck, PdfPolicy
from lienthong.signing.documents import generate_document, sample_spec
from lienthong.signing.pdf import Level, sign_attachment
from lienthong.signing.report import FileReport
from lienthong.signing.verify import Verifier, VerifyOptions
from lienthong.store.audit import AuditLog
from lienthong.store.engine import create_engine
from lienthong.store.hub_store import HubRepository
from lienthong.store.schema import audit_log, deliveries, hub_events, packages

if TYPE_CHECKING:
    from conftest import HubParty, HubPki, HubWorld

pytestmark = [pytest.mark.integration]

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


# --------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def signed_pdf(hub_pki: HubPki) -> bytes:
    """A generated letter signed by Sở TTTT Nghệ An's organisation certificate (B-B)."""
    pdf = generate_document(sample_spec(0)).pdf
    return sign_attachment(
        pdf, hub_pki.nghe_an, main_number="7/STTTT-VP", now=datetime.now(UTC), level=Level.B_B
    ).pdf


@pytest.fixture(scope="module")
def tampered_pdf(signed_pdf: bytes) -> bytes:
    """The signed PDF with four bytes changed inside what the signature covers (the binary
    comment after the header): still a readable PDF, no longer the signed bytes."""
    start = signed_pdf.index(b"\n") + 2
    changed = bytes(b ^ 0x01 for b in signed_pdf[start : start + 4])
    return signed_pdf[:start] + changed + signed_pdf[start + 4 :]


@pytest.fixture(scope="module")
def make_verifier(hub_pki: HubPki) -> Iterator[Callable[[], ClosableVerifier]]:
    """What ``hub serve`` uses: the CA directory's roots and its own CRLs."""
    factory, close = pdf_verifier_factory(hub_pki.directory, "ca-dir", hub_pki.passphrase)
    yield factory
    close()


@pytest.fixture
def verifier(make_verifier: Callable[[], ClosableVerifier]) -> Iterator[PackageVerifier]:
    made = make_verifier()
    yield lambda data: made.verify_bytes(data, "package.edxml")
    made.close()


def _hub(world: HubWorld, *, reject: Sequence[str] = (), lease: float = 60.0) -> Hub:
    config = HubConfig(
        pdf_check=PdfCheck.BACKGROUND,
        pdf_policies=dict.fromkeys(reject, PdfPolicy.REJECT),
        pdf_lease=timedelta(seconds=lease),
    )
    return Hub(world.engine, world.hub.blobs, config)


@pytest.fixture
def background(hub_world: HubWorld) -> Iterator[Callable[..., Hub]]:
    made: list[Hub] = []

    def make(**kwargs: object) -> Hub:
        hub = _hub(hub_world, **kwargs)  # type: ignore[arg-type]
        made.append(hub)
        return hub

    yield make
    for hub in made:
        hub.close()


_numbers = iter(range(500_000, 10**9))


def _letter(sender: HubParty, recipients: Sequence[HubParty], pdf: bytes) -> bytes:
    draft = DocumentDraft(
        sender=sender.organization,
        recipients=[Organization(organ_id=r.code, organ_name=r.name) for r in recipients],
        code_number=str(next(_numbers)),
        code_notation="PDF-TEST",
        promulgation_date=NOW.date(),
        place="Nghệ An",
        subject="Kiểm tra chữ ký PDF trước khi chuyển",
        files=[FileToAttach("van-ban.pdf", pdf)],
    )
    return serialize_package(build_document(draft, now=NOW))


def _events(hub: Hub, party: HubParty, package_id: int) -> list[tuple[str, str | None]]:
    return [
        (e.kind, e.detail)
        for e in hub.events(party.caller, party.code)
        if e.package_id == package_id
    ]


def _state(hub: Hub, sender: HubParty, package_id: int) -> dict[str, DeliveryState]:
    sent = {item.package_id: item for item in hub.sent(sender.caller, sender.code)}
    return {view.recipient: view.delivery for view in sent[package_id].recipients}


def _audited(world: HubWorld, package_id: int) -> list[tuple[str, str]]:
    with world.engine.connect() as connection:
        rows = connection.execute(
            sa.select(audit_log.c.action, audit_log.c.details).where(
                audit_log.c.subject == str(package_id), audit_log.c.action.like("hub.refuse%")
            )
        ).all()
    return [(row.action, row.details) for row in rows]


# --------------------------------------------------------------------------- tests
def test_a_valid_pdf_is_held_then_delivered(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    signed_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    hub = background()
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    data = _letter(sender, [recipient], signed_pdf)
    receipt = hub.send(sender.caller, data, now=NOW)

    # held: the sender sees it, the recipient does not (inbox, fetch, ack, report, events)
    assert _state(hub, sender, receipt.package_id) == {recipient.code: DeliveryState.HELD}
    assert hub.package_report(sender.caller, receipt.package_id, sender.code)["pdf"] == "pending"
    assert hub.inbox(recipient.caller, recipient.code) == []
    for refused in (
        lambda: hub.fetch(recipient.caller, receipt.package_id, recipient.code, now=NOW),
        lambda: hub.acknowledge(
            recipient.caller, receipt.package_id, recipient.code, ok=True, now=NOW
        ),
        lambda: hub.package_report(recipient.caller, receipt.package_id, recipient.code),
    ):
        with pytest.raises(HubError) as caught:
            refused()
        assert caught.value.code == "hub.not_found"
    assert _events(hub, recipient, receipt.package_id) == []
    with pytest.raises(HubError) as caught:  # nor report a status on what it has not got
        hub.send(recipient.caller, recipient.status(data, StatusCode.ARRIVED), now=NOW)
    assert caught.value.code == "hub.forbidden"
    assert hub.pending_pdf_checks() >= 1
    again = hub.send(sender.caller, data, now=NOW + timedelta(seconds=1))  # a resend
    assert again.duplicate
    assert again.package_id == receipt.package_id

    later = NOW + timedelta(seconds=5)
    assert hub.verify_pending(later, verifier=verifier) >= 1
    assert hub.verify_pending(later, verifier=verifier) == 0  # nothing left

    report = hub.package_report(sender.caller, receipt.package_id, sender.code)
    pdf = report["pdf"]
    assert isinstance(pdf, dict)
    assert pdf["passed"] is True, pdf
    assert [a["indication"] for a in pdf["attachments"]] == ["TOTAL_PASSED"]
    assert _state(hub, sender, receipt.package_id) == {recipient.code: DeliveryState.QUEUED}
    assert [i.package_id for i in hub.inbox(recipient.caller, recipient.code)] == [
        receipt.package_id
    ]
    assert _events(hub, recipient, receipt.package_id) == [("package", None)]
    fetched = hub.fetch(recipient.caller, receipt.package_id, recipient.code, now=later)
    assert b"PDF-TEST" in fetched
    with hub.engine.connect() as connection:
        delivery = HubRepository(connection).delivery(receipt.package_id, recipient.code)
    assert delivery is not None
    assert delivery.queued_at == later  # it arrived when it was released


def test_a_tampered_pdf_is_refused_by_reject_and_flagged_for_flag(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    tampered_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    sender, strict, lenient = (hub_world.fresh_party() for _ in range(3))
    hub = background(reject=[strict.code])
    receipt = hub.send(sender.caller, _letter(sender, [strict, lenient], tampered_pdf), now=NOW)
    assert _state(hub, sender, receipt.package_id) == {
        strict.code: DeliveryState.HELD,
        lenient.code: DeliveryState.HELD,
    }

    assert hub.verify_pending(NOW, verifier=verifier) >= 1

    assert _state(hub, sender, receipt.package_id) == {
        strict.code: DeliveryState.REFUSED,
        lenient.code: DeliveryState.QUEUED,
    }
    pdf = hub.package_report(sender.caller, receipt.package_id, sender.code)["pdf"]
    assert isinstance(pdf, dict)
    assert pdf["passed"] is False
    assert pdf["attachments"][0]["indication"] == "TOTAL_FAILED", pdf
    # the strict recipient never sees it; the sender is told; the refusal is audited
    assert hub.inbox(strict.caller, strict.code) == []
    assert _events(hub, strict, receipt.package_id) == []
    with pytest.raises(HubError):
        hub.fetch(strict.caller, receipt.package_id, strict.code, now=NOW)
    assert ("notice", f"pdf_refused:{strict.code}") in _events(hub, sender, receipt.package_id)
    audited = _audited(hub_world, receipt.package_id)
    assert [action for action, _ in audited] == ["hub.refuse.pdf"]
    assert strict.code in audited[0][1]
    with hub.engine.connect() as connection:
        refused = HubRepository(connection).delivery(receipt.package_id, strict.code)
        assert AuditLog(connection).verify().ok
    assert refused is not None
    assert refused.reason is not None
    assert "hub.bad_pdf_signature" in refused.reason
    # the lenient one gets it, flagged
    assert [i.package_id for i in hub.inbox(lenient.caller, lenient.code)] == [receipt.package_id]
    assert _events(hub, lenient, receipt.package_id) == [("package", None)]
    flagged = hub.package_report(lenient.caller, receipt.package_id, lenient.code)["pdf"]
    assert isinstance(flagged, dict)
    assert flagged["passed"] is False


def test_indeterminate_and_verifier_errors_fail_closed(
    hub_world: HubWorld, background: Callable[..., Hub], signed_pdf: bytes
) -> None:
    """No revocation data (OCSP/CRL unreachable) → INDETERMINATE → not passed; a verifier that
    raises → recorded, not passed. Reject recipients refuse both; flag ones get them."""
    sender, strict, lenient = (hub_world.fresh_party() for _ in range(3))
    hub = background(reject=[strict.code])
    root = hub_world.pki.vpcp.chain[-1].public_bytes(serialization.Encoding.DER)

    offline = hub.send(sender.caller, _letter(sender, [strict, lenient], signed_pdf), now=NOW)
    with Verifier(VerifyOptions((root,), online=False)) as plain:
        assert (
            hub.verify_pending(NOW, verifier=lambda data: plain.verify_bytes(data, "package.edxml"))
            >= 1
        )
    pdf = hub.package_report(sender.caller, offline.package_id, sender.code)["pdf"]
    assert isinstance(pdf, dict)
    assert pdf["passed"] is False
    assert pdf["attachments"][0]["indication"] == "INDETERMINATE", pdf

    def broken(data: bytes) -> FileReport:
        msg = "OCSP responder down"
        raise ConnectionError(msg)

    failing = hub.send(sender.caller, _letter(sender, [strict, lenient], signed_pdf), now=NOW)
    assert hub.verify_pending(NOW, verifier=broken) >= 1
    pdf = hub.package_report(sender.caller, failing.package_id, sender.code)["pdf"]
    assert isinstance(pdf, dict)
    assert pdf["passed"] is False
    assert "OCSP responder down" in str(pdf["error"])

    for receipt in (offline, failing):
        assert _state(hub, sender, receipt.package_id) == {
            strict.code: DeliveryState.REFUSED,
            lenient.code: DeliveryState.QUEUED,
        }


def test_an_expired_claim_is_taken_over(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    signed_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    hub = background(lease=30)
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    receipt = hub.send(sender.caller, _letter(sender, [recipient], signed_pdf), now=NOW)
    # a process claims the check and dies (its claim is committed, nothing else)
    with hub.engine.begin() as connection:
        claimed = HubRepository(connection).claim_pdf_checks(
            NOW, until=NOW + timedelta(seconds=30), limit=1000
        )
    assert receipt.package_id in {c.package_id for c in claimed}

    assert hub.verify_pending(NOW + timedelta(seconds=29), verifier=verifier) == 0  # still held
    assert _state(hub, sender, receipt.package_id) == {recipient.code: DeliveryState.HELD}

    assert hub.verify_pending(NOW + timedelta(seconds=31), verifier=verifier) >= 1
    assert _state(hub, sender, receipt.package_id) == {recipient.code: DeliveryState.QUEUED}
    assert _events(hub, recipient, receipt.package_id) == [("package", None)]


class _Crash(BaseException):
    """The process dies: not an error the pipeline may catch."""


def test_a_crash_between_verifying_and_writing_loses_and_duplicates_nothing(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    tampered_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    sender, strict, lenient = (hub_world.fresh_party() for _ in range(3))
    hub = background(reject=[strict.code], lease=10)
    receipt = hub.send(sender.caller, _letter(sender, [strict, lenient], tampered_pdf), now=NOW)
    verified: list[str] = []

    def dies_after_verifying(data: bytes) -> FileReport:
        report = verifier(data)
        verified.extend(a.indication.value for a in report.attachments)
        raise _Crash

    with pytest.raises(_Crash):
        hub.verify_pending(NOW, verifier=dies_after_verifying, limit=1000)
    assert "TOTAL_FAILED" in verified  # it did verify; nothing was written
    assert _state(hub, sender, receipt.package_id) == {
        strict.code: DeliveryState.HELD,
        lenient.code: DeliveryState.HELD,
    }
    assert hub.package_report(sender.caller, receipt.package_id, sender.code)["pdf"] == "pending"
    assert _audited(hub_world, receipt.package_id) == []

    # another process, once the lease has passed; then a third run finds nothing to do
    later = NOW + timedelta(seconds=11)
    assert hub.verify_pending(later, verifier=verifier, limit=1000) >= 1
    assert hub.verify_pending(later + timedelta(minutes=5), verifier=verifier) == 0

    assert _state(hub, sender, receipt.package_id) == {
        strict.code: DeliveryState.REFUSED,
        lenient.code: DeliveryState.QUEUED,
    }
    assert _events(hub, lenient, receipt.package_id) == [("package", None)]
    assert _events(hub, strict, receipt.package_id) == []
    sender_events = _events(hub, sender, receipt.package_id)
    assert sender_events.count(("notice", f"pdf_refused:{strict.code}")) == 1
    assert [a for a, _ in _audited(hub_world, receipt.package_id)] == ["hub.refuse.pdf"]


def test_a_late_finish_of_a_package_done_elsewhere_changes_nothing(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    signed_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    """Process A's lease expires while it verifies; B takes over and finishes; A's write then
    finds the package checked and does nothing (no second event)."""
    hub = background(lease=10)
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    receipt = hub.send(sender.caller, _letter(sender, [recipient], signed_pdf), now=NOW)
    done_by_b: list[int] = []

    def slow(data: bytes) -> FileReport:  # A: while it verifies, B does the whole job
        if not done_by_b:
            done_by_b.append(hub.verify_pending(NOW + timedelta(seconds=11), verifier=verifier))
        return verifier(data)

    assert hub.verify_pending(NOW, verifier=slow, limit=1000) == 0  # A recorded nothing
    assert done_by_b[0] >= 1
    assert _events(hub, recipient, receipt.package_id) == [("package", None)]


@pytest.mark.slow
def test_two_processes_never_verify_a_package_twice(
    hub_world: HubWorld, signed_pdf: bytes, make_verifier: Callable[[], ClosableVerifier]
) -> None:
    if hub_world.engine.dialect.name != "postgresql":
        pytest.skip("several hub processes share one PostgreSQL (SQLite: one process)")
    url = hub_world.engine.url.render_as_string(hide_password=False)
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    first = _hub(hub_world)
    sent = [
        first.send(sender.caller, _letter(sender, [recipient], signed_pdf), now=NOW).package_id
        for _ in range(12)
    ]
    engines = [create_engine(url) for _ in range(2)]
    hubs = [
        Hub(engine, hub_world.hub.blobs, first.config) for engine in engines
    ]  # two processes: two engines, two group committers
    calls: Counter[bytes] = Counter()
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(hub: Hub) -> None:
        made = make_verifier()
        try:

            def counting(data: bytes) -> FileReport:
                with lock:
                    calls[data] += 1
                return made.verify_bytes(data, "package.edxml")

            while hub.verify_pending(NOW, verifier=counting, limit=2):
                pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            made.close()

    threads = [threading.Thread(target=worker, args=(hub,)) for hub in hubs]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for hub in (*hubs, first):
            hub.close()
        for engine in engines:
            engine.dispose()
    assert errors == []
    assert len(calls) == len(sent)
    assert set(calls.values()) == {1}  # each package verified once
    with hub_world.engine.connect() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.package_id, deliveries.c.state).where(
                deliveries.c.recipient_code == recipient.code
            )
        ).all()
        events = connection.execute(
            sa.select(hub_events.c.package_id).where(
                hub_events.c.agency_code == recipient.code, hub_events.c.kind == "package"
            )
        ).all()
        pending = connection.execute(
            sa.select(sa.func.count()).where(
                packages.c.id.in_(sent), packages.c.pdf_state != "checked"
            )
        ).scalar_one()
    assert sorted(r.package_id for r in rows) == sorted(sent)
    assert {r.state for r in rows} == {"queued"}
    assert sorted(e.package_id for e in events) == sorted(sent)  # one event each
    assert pending == 0


def test_status_packages_and_other_modes_are_not_held(
    hub_world: HubWorld, background: Callable[..., Hub], verifier: PackageVerifier
) -> None:
    hub = background()
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code])
    receipt = hub.send(sender.caller, letter, now=NOW)
    assert hub.verify_pending(NOW, verifier=verifier) >= 1

    status = hub.send(recipient.caller, recipient.status(letter, StatusCode.ARRIVED), now=NOW)
    # the status goes to the sender at once: no PDF check for status packages
    assert ("status", None) in _events(hub, sender, status.package_id)
    with hub.engine.connect() as connection:
        stored = HubRepository(connection).package(status.package_id)
    assert stored is not None
    assert stored.pdf_state is None
    # the shared hub (no verifier, pdf_check unset) delivers at once and says not_checked
    plain = hub_world.hub.send(sender.caller, sender.letter([recipient.code]), now=NOW)
    assert _events(hub_world.hub, recipient, plain.package_id) == [("package", None)]
    assert receipt.package_id != plain.package_id


def test_the_maintenance_loop_delivers_at_once_and_survives_failures(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    signed_pdf: bytes,
    make_verifier: Callable[[], ClosableVerifier],
) -> None:
    hub = background()
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    closed: list[bool] = []
    failures = iter(range(1))

    def factory() -> ClosableVerifier:
        made = make_verifier()
        close = made.close

        def closing() -> None:
            closed.append(True)
            close()

        made.close = closing  # type: ignore[method-assign]
        return made

    def clock() -> datetime:  # the first step fails: logged, counted, the loop goes on
        if next(failures, None) is not None:
            msg = "clock failure"
            raise RuntimeError(msg)
        return datetime.now(UTC)

    loop = Maintenance(hub, verifier_factory=factory, interval=5.0, remind_every=0, clock=clock)
    loop.start()
    try:
        assert loop.ready.wait(10)
        errors_seen = time.monotonic() + 10
        while "lienthong_hub_maintenance_errors_total" not in loop.metrics.render():
            assert time.monotonic() < errors_seen
            time.sleep(0.01)
        started = time.monotonic()
        receipt = hub.send(sender.caller, _letter(sender, [recipient], signed_pdf), now=NOW)
        while not _events(hub, recipient, receipt.package_id):
            assert time.monotonic() - started < 5, "not delivered"
            time.sleep(0.01)
        # woken by the send, not by its 5 s tick
        assert time.monotonic() - started < 3
        assert loop.running
        counted = 'lienthong_hub_pdf_checked_total{outcome="passed"}'
        while counted not in (rendered := loop.metrics.render()):  # counted after the commit
            assert time.monotonic() - started < 5
            time.sleep(0.01)
        assert 'lienthong_hub_maintenance_errors_total{task="pdf"}' in rendered
        assert "lienthong_hub_pdf_pending 0" in rendered
    finally:
        stopping = time.monotonic()
        loop.stop()
    assert time.monotonic() - stopping < 3  # promptly, though its tick is 5 s
    assert not loop.running
    assert closed == [True]  # the thread's verifier is closed with it


def test_a_revoke_or_update_skips_recipients_that_refused_the_original(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    tampered_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    """A recipient that refused a document by its PDF policy never had it: a recall is not
    sent to it, nor is an update unless the sender names it again."""
    from lienthong.domain.edxml import parse_package
    from lienthong.domain.edxml.builder import revoke_document
    from lienthong.domain.edxml.model import (
        Business,
        BusinessDocumentInfo,
        BusinessType,
        ResponseFor,
    )

    sender, strict, lenient = (hub_world.fresh_party() for _ in range(3))
    hub = background(reject=[strict.code])

    def sent_and_checked(to: Sequence[HubParty]) -> str:
        letter = _letter(sender, to, tampered_pdf)
        receipt = hub.send(sender.caller, letter, now=NOW)
        hub.verify_pending(NOW, verifier=verifier)
        assert _state(hub, sender, receipt.package_id)[strict.code] == DeliveryState.REFUSED
        document_id = parse_package(letter).header.document_id
        assert document_id is not None
        return document_id

    def change(document_id: str, to: Sequence[str], business: Business) -> tuple[str, ...]:
        reference = ResponseFor(organ_id=sender.code, document_id=document_id)
        package = sender.letter(to, business=business, response_for=[reference])
        return hub.send(sender.caller, package, now=NOW).recipients

    both = sent_and_checked([strict, lenient])
    recall = revoke_document(both)
    assert change(both, [strict.code, lenient.code], recall) == (lenient.code,)
    update = Business(
        document_id=both,
        business_doc_type=str(int(BusinessType.UPDATE)),
        business_doc_reason="Cập nhật văn bản",
        paper="0",
        document_info=BusinessDocumentInfo(document_info="1", document_receiver="0"),
    )
    assert change(both, [lenient.code], update) == (lenient.code,)
    assert set(change(both, [strict.code, lenient.code], update)) == {strict.code, lenient.code}

    only_strict = sent_and_checked([strict])
    with pytest.raises(HubError) as refused_everywhere:
        change(only_strict, [strict.code], revoke_document(only_strict))
    assert refused_everywhere.value.code == "hub.no_recipient"
    assert "refused the original" in str(refused_everywhere.value)


def test_a_revoke_sent_while_its_original_is_held_waits_for_it_and_follows_its_refusals(
    hub_world: HubWorld,
    background: Callable[..., Hub],
    tampered_pdf: bytes,
    verifier: PackageVerifier,
) -> None:
    """Routed while the original was still held, a revoke goes to every recipient; it is
    checked only after the original, and the recipients that refused the original get
    nothing (they never had it): no change reaches anyone before the document it changes."""
    from lienthong.domain.edxml import parse_package
    from lienthong.domain.edxml.builder import revoke_document
    from lienthong.domain.edxml.model import ResponseFor

    sender, strict, lenient = (hub_world.fresh_party() for _ in range(3))
    hub = background(reject=[strict.code])
    letter = _letter(sender, [strict, lenient], tampered_pdf)
    original = hub.send(sender.caller, letter, now=NOW)
    document_id = parse_package(letter).header.document_id
    assert document_id is not None
    recall = sender.letter(
        [strict.code, lenient.code],
        business=revoke_document(document_id),
        response_for=[ResponseFor(organ_id=sender.code, document_id=document_id)],
    )
    revoke = hub.send(sender.caller, recall, now=NOW)
    assert set(revoke.recipients) == {strict.code, lenient.code}  # nothing refused yet

    assert hub.verify_pending(NOW, verifier=verifier) == 1  # the original only
    assert _state(hub, sender, original.package_id) == {
        strict.code: DeliveryState.REFUSED,
        lenient.code: DeliveryState.QUEUED,
    }
    assert set(_state(hub, sender, revoke.package_id).values()) == {DeliveryState.HELD}

    assert hub.verify_pending(NOW, verifier=verifier) == 1  # now the revoke
    assert _state(hub, sender, revoke.package_id) == {
        strict.code: DeliveryState.REFUSED,
        lenient.code: DeliveryState.QUEUED,
    }
    assert hub.inbox(strict.caller, strict.code) == []
    assert [i.package_id for i in hub.inbox(lenient.caller, lenient.code)] == [
        original.package_id,
        revoke.package_id,
    ]
    assert [action for action, _ in _audited(hub_world, revoke.package_id)] == [
        "hub.refuse.original"
    ]
