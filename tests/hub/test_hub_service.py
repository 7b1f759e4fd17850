"""The hub's core on both engines: send, inbox, fetch, acknowledge, statuses, recall/replace,
idempotency under concurrency, authorisation, successor routing, deadlines, audit."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization

from lienthong.domain.edxml import Organization, parse_package, serialize_package
from lienthong.domain.edxml.builder import (
    DocumentDraft,
    FileToAttach,
    build_document,
    revoke_document,
)
from lienthong.domain.edxml.model import (
    Business,
    BusinessType,
    ReplacementInfo,
    ResponseFor,
)
from lienthong.domain.status import StatusCode
from lienthong.domain.vntime import VIETNAM_TZ
from lienthong.hub.api import Caller, DeliveryState, HubError, PackageKind, Receipt
from lienthong.hub.registry import demo_registry, load_registry
from lienthong.hub.service import Hub, HubConfig, LockedVerifier, PdfPolicy, SendTiming
from lienthong.signing.verify import Verifier, VerifyOptions
from lienthong.signing.xmldsig import check_envelope
from lienthong.store.audit import AuditLog
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine
from lienthong.store.migrate import upgrade
from lienthong.store.schema import deliveries, packages

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from conftest import HubWorld

pytestmark = pytest.mark.integration

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=VIETNAM_TZ)  # a Thursday


def _ref(data: bytes) -> ResponseFor:
    header = parse_package(data).header
    return ResponseFor(
        organ_id=header.from_.organ_id if header.from_ else None,
        code=str(header.code),
        promulgation_date=header.promulgation_info.promulgation_date
        if header.promulgation_info
        else None,
        document_id=header.document_id,
    )


def test_signed_exchange_end_to_end(hub_world: HubWorld) -> None:
    hub, vpcp, nghe_an = hub_world.hub, hub_world.vpcp, hub_world.nghe_an
    letter = vpcp.letter([nghe_an.code])
    receipt = hub.send(vpcp.caller, letter, now=NOW)
    assert receipt.recipients == (nghe_an.code,)
    assert not receipt.duplicate
    assert hub.blobs.exists(receipt.sha256)

    inbox = hub.inbox(nghe_an.caller, nghe_an.code, limit=1000)
    item = next(i for i in inbox if i.package_id == receipt.package_id)
    assert item.state is DeliveryState.QUEUED
    assert item.kind is PackageKind.DOCUMENT
    assert item.sender == vpcp.code

    fetched = hub.fetch(nghe_an.caller, receipt.package_id, nghe_an.code, now=NOW)
    traces = parse_package(fetched).traces
    assert [t.organ_id for t in traces] == [vpcp.code, hub.config.hub_id]
    check = check_envelope(fetched)
    assert check.intact, check.findings
    assert [f.code for f in check.findings] == [
        "verify.hops_after_signing"
    ]  # the hop is spliced in: the signature still holds
    assert hub.fetch(nghe_an.caller, receipt.package_id, nghe_an.code, now=NOW) == fetched

    again = hub.inbox(nghe_an.caller, nghe_an.code, limit=1000)
    assert next(i for i in again if i.package_id == receipt.package_id).state is (
        DeliveryState.FETCHED
    )  # redelivered until acknowledged
    done = hub.acknowledge(nghe_an.caller, receipt.package_id, nghe_an.code, ok=True, now=NOW)
    assert done.state is DeliveryState.DONE
    assert receipt.package_id not in {
        i.package_id for i in hub.inbox(nghe_an.caller, nghe_an.code, limit=1000)
    }
    # idempotent, first answer wins
    assert (
        hub.acknowledge(nghe_an.caller, receipt.package_id, nghe_an.code, ok=False, now=NOW).state
        is DeliveryState.DONE
    )
    sent = hub.sent(vpcp.caller, vpcp.code, limit=1000)
    view = next(s for s in sent if s.package_id == receipt.package_id).recipients[0]
    assert view.delivery is DeliveryState.DONE
    assert view.fetched_at is not None
    assert view.acknowledged_at is not None
    kinds = [e.kind for e in hub.events(vpcp.caller, vpcp.code, limit=1000)]
    assert "delivery" in kinds


def test_status_round_trip_01_to_06(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code])
    receipt = hub.send(sender.caller, letter, now=NOW)
    for step, code in enumerate(
        (StatusCode.ARRIVED, StatusCode.ACCEPTED, StatusCode.ASSIGNED, StatusCode.PROCESSING,
         StatusCode.DONE)
    ):  # fmt: skip
        status = recipient.status(letter, code, at=NOW + timedelta(minutes=step))
        status_receipt = hub.send(recipient.caller, status, now=NOW + timedelta(minutes=step))
        assert status_receipt.recipients == (sender.code,)
    items = hub.inbox(sender.caller, sender.code)
    assert [i.status_code for i in items] == ["01", "03", "04", "05", "06"]
    assert all(i.kind is PackageKind.STATUS for i in items)
    view = hub.sent(sender.caller, sender.code)[0]
    assert view.package_id == receipt.package_id
    (recipient_view,) = view.recipients
    assert [s.code for s in recipient_view.statuses] == ["01", "03", "04", "05", "06"]
    assert recipient_view.current_status == "06"
    events = hub.events(sender.caller, sender.code)
    assert [e.kind for e in events] == ["status"] * 5
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_out_of_order_statuses_are_kept(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code])
    hub.send(sender.caller, letter, now=NOW)
    late_first = recipient.status(letter, StatusCode.ACCEPTED, at=NOW + timedelta(minutes=5))
    hub.send(recipient.caller, late_first, now=NOW)
    hub.send(recipient.caller, recipient.status(letter, StatusCode.ARRIVED, at=NOW), now=NOW)
    view = hub.sent(sender.caller, sender.code)[0].recipients[0]
    assert [s.code for s in view.statuses] == ["03", "01"]
    assert view.current_status == "03"


def test_status_from_a_non_recipient_is_refused(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient, stranger = (hub_world.fresh_party() for _ in range(3))
    letter = sender.letter([recipient.code])
    hub.send(sender.caller, letter, now=NOW)
    with pytest.raises(HubError) as refused:
        hub.send(stranger.caller, stranger.status(letter, StatusCode.DONE, at=NOW), now=NOW)
    assert refused.value.code == "hub.forbidden"
    assert hub.sent(sender.caller, sender.code)[0].recipients[0].statuses == ()


def test_forged_sender_and_foreign_reads_are_refused(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient, other = (hub_world.fresh_party() for _ in range(3))
    forged = sender.letter([recipient.code])
    with pytest.raises(HubError) as refused:
        hub.send(other.caller, forged, now=NOW)
    assert refused.value.code == "hub.forged_sender"

    receipt = hub.send(sender.caller, forged, now=NOW)
    with pytest.raises(HubError) as foreign:
        hub.fetch(other.caller, receipt.package_id, recipient.code, now=NOW)
    assert foreign.value.code == "hub.forbidden_agency"
    with pytest.raises(HubError) as not_yours:
        hub.fetch(other.caller, receipt.package_id, other.code, now=NOW)
    assert not_yours.value.code == "hub.not_found"
    with pytest.raises(HubError):
        hub.inbox(other.caller, recipient.code)
    with pytest.raises(HubError):
        hub.acknowledge(other.caller, receipt.package_id, other.code, ok=True, now=NOW)
    # the refusals are audited in the hash chain
    with hub_world.engine.connect() as connection:
        entries = list(AuditLog(connection).entries())
        assert any(e.action == "hub.refuse" and e.subject == "hub.forged_sender" for e in entries)
        assert AuditLog(connection).verify().ok


def test_tampered_signature_is_refused_whatever_the_policy(hub_world: HubWorld) -> None:
    vpcp, nghe_an = hub_world.vpcp, hub_world.nghe_an
    letter = vpcp.letter([nghe_an.code])
    tampered = letter.replace("thử nghiệm trục".encode(), b"thu nghiem truc")
    assert tampered != letter
    with pytest.raises(HubError) as refused:
        hub_world.hub.send(vpcp.caller, tampered, now=NOW)
    assert refused.value.code == "hub.bad_signature"


def test_signature_by_another_agency_is_refused(hub_world: HubWorld) -> None:
    # VPCP's system signs with Nghệ An's certificate a letter "From" VPCP.
    vpcp = hub_world.vpcp
    vpcp.identity = hub_world.pki.nghe_an
    letter = vpcp.letter([hub_world.nghe_an.code])
    with pytest.raises(HubError) as refused:
        hub_world.hub.send(vpcp.caller, letter, now=NOW)
    assert refused.value.code == "hub.bad_signature"


def test_invalid_package_carries_findings(hub_world: HubWorld) -> None:
    sender = hub_world.fresh_party()
    with pytest.raises(HubError) as not_xml:
        hub_world.hub.send(sender.caller, b"<not-edxml/>", now=NOW)
    assert not_xml.value.code == "hub.invalid_package"
    assert not_xml.value.findings


def test_unknown_recipient_is_refused(hub_world: HubWorld) -> None:
    sender = hub_world.fresh_party()
    with pytest.raises(HubError) as refused:
        hub_world.hub.send(sender.caller, sender.letter(["999.99.99.T98"]), now=NOW)
    assert refused.value.code == "hub.unknown_recipient"


def test_resend_returns_the_original_receipt(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    timings: list[SendTiming] = []
    hub.on_sent(timings.append)  # what the metrics count: a resend is marked
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    first = sender.letter([recipient.code], number="77", promulgation=NOW.date())
    receipt = hub.send(sender.caller, first, now=NOW)
    # same DocumentId, different bytes (a later timestamp): still the same package
    second = sender.letter(
        [recipient.code], number="77", promulgation=NOW.date(), now=NOW + timedelta(minutes=1)
    )
    assert second != first
    again = hub.send(sender.caller, second, now=NOW + timedelta(minutes=1))
    assert again.duplicate
    assert again.package_id == receipt.package_id
    assert again.received_at == receipt.received_at
    assert again.sha256 == receipt.sha256
    assert len(hub.inbox(recipient.caller, recipient.code)) == 1
    assert [t.duplicate for t in timings[-2:]] == [False, True]
    assert all(t.check > 0 and t.store > 0 and t.write > 0 for t in timings[-2:])


def test_concurrent_resends_store_one_package(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code])
    receipts = []
    barrier = threading.Barrier(2)

    def resend() -> None:
        barrier.wait()
        receipts.append(hub.send(sender.caller, letter, now=NOW))

    threads = [threading.Thread(target=resend) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({r.package_id for r in receipts}) == 1
    assert sorted(r.duplicate for r in receipts) == [False, True]
    with hub_world.engine.connect() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).where(packages.c.sender_code == sender.code)
        ).scalar_one()
    assert count == 1


def test_sixteen_threads_sending_store_each_once(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    recipient = hub_world.fresh_party()
    senders = [hub_world.fresh_party() for _ in range(16)]
    letters = [s.letter([recipient.code]) for s in senders]
    receipts: dict[int, int] = {}
    errors: list[BaseException] = []

    def send(index: int) -> None:
        try:
            for _ in range(2):  # each also resends once
                receipts[index] = hub.send(
                    senders[index].caller, letters[index], now=NOW
                ).package_id
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    inbox = hub.inbox(recipient.caller, recipient.code, limit=100)
    assert sorted(i.package_id for i in inbox) == sorted(receipts.values())
    assert len(inbox) == 16


def test_retired_recipient_routes_to_successor(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender = hub_world.fresh_party()
    successor = hub_world.party("nghe-an", "000.00.12.H41", signed=False)
    receipt = hub.send(sender.caller, sender.letter(["000.00.09.H41"]), now=NOW)
    assert receipt.recipients == ("000.00.12.H41",)
    assert receipt.notices
    assert "000.00.09.H41" in receipt.notices[0]
    assert receipt.package_id in {
        i.package_id for i in hub.inbox(successor.caller, successor.code, limit=1000)
    }
    assert [e.kind for e in hub.events(sender.caller, sender.code)] == ["notice"]


def test_revoke_reaches_the_original_recipients_and_links(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, first, second = (hub_world.fresh_party() for _ in range(3))
    letter = sender.letter([first.code, second.code], number="501")
    original = hub.send(sender.caller, letter, now=NOW)
    document_id = parse_package(letter).header.document_id
    assert document_id is not None
    revoke = sender.letter(
        [first.code], number="501", business=revoke_document(document_id),
        response_for=[_ref(letter)],
    )  # fmt: skip
    receipt = hub.send(sender.caller, revoke, now=NOW + timedelta(hours=1))
    assert not receipt.duplicate
    assert receipt.package_id != original.package_id
    assert set(receipt.recipients) == {first.code, second.code}
    item = next(
        i for i in hub.inbox(second.caller, second.code) if i.package_id == receipt.package_id
    )
    assert item.business == "1"
    stored = hub.package_report(sender.caller, receipt.package_id, sender.code)
    assert stored["valid"] is True
    with hub_world.engine.connect() as connection:
        linked = connection.execute(
            sa.select(packages.c.original_id).where(packages.c.id == receipt.package_id)
        ).scalar_one()
    assert linked == original.package_id
    # recall request 13 from the sender, answered 15 by the recipient
    ask = sender.status(
        letter, StatusCode.RECALL_REQUESTED, at=NOW + timedelta(hours=1), addressed=first.code
    )
    hub.send(sender.caller, ask, now=NOW + timedelta(hours=1))
    agree = first.status(letter, StatusCode.CHANGE_AGREED, at=NOW + timedelta(hours=2))
    hub.send(first.caller, agree, now=NOW + timedelta(hours=2))
    view = next(
        s for s in hub.sent(sender.caller, sender.code) if s.package_id == original.package_id
    )
    first_view = next(r for r in view.recipients if r.recipient == first.code)
    assert [s.code for s in first_view.statuses] == ["13", "15"]


def test_recall_request_to_every_recipient(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, first, second = (hub_world.fresh_party() for _ in range(3))
    letter = sender.letter([first.code, second.code])
    original = hub.send(sender.caller, letter, now=NOW)
    # ResponseFor/OrganId is the sender itself (build_status's default): every recipient
    receipt = hub.send(sender.caller, sender.status(letter, StatusCode.RECALL_REQUESTED), now=NOW)
    assert set(receipt.recipients) == {first.code, second.code}
    for party in (first, second):
        (item,) = hub.inbox(
            party.caller, party.code, include_fetched=False, after_id=original.package_id
        )
        assert item.status_code == "13"
    refused = second.status(letter, StatusCode.CHANGE_REFUSED)
    hub.send(second.caller, refused, now=NOW)
    (view,) = hub.sent(sender.caller, sender.code, after_id=receipt.package_id)
    codes = {r.recipient: [s.code for s in r.statuses] for r in view.recipients}
    assert codes == {first.code: ["13"], second.code: ["13", "16"]}
    # a recipient cannot ask for a recall
    with pytest.raises(HubError) as forbidden:
        hub.send(first.caller, first.status(letter, StatusCode.RECALL_REQUESTED), now=NOW)
    assert forbidden.value.code == "hub.forbidden"


def test_revoke_of_an_unknown_document_is_refused(hub_world: HubWorld) -> None:
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    revoke = sender.letter(
        [recipient.code], business=revoke_document(f"{sender.code},2026/01/01,1/XX")
    )
    with pytest.raises(HubError) as refused:
        hub_world.hub.send(sender.caller, revoke, now=NOW)
    assert refused.value.code == "hub.unknown_original"


def test_replace_links_to_the_replaced_document(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code], number="601")
    original = hub.send(sender.caller, letter, now=NOW)
    document_id = parse_package(letter).header.document_id
    replace = sender.letter(
        [recipient.code],
        number="602",
        business=Business(
            business_doc_type=str(int(BusinessType.REPLACE)),
            business_doc_reason="Thay thế văn bản",
            paper="0",
            replacements=(ReplacementInfo(document_id, (recipient.code,)),),
        ),
    )
    receipt = hub.send(sender.caller, replace, now=NOW)
    assert receipt.recipients == (recipient.code,)
    with hub_world.engine.connect() as connection:
        linked = connection.execute(
            sa.select(packages.c.original_id).where(packages.c.id == receipt.package_id)
        ).scalar_one()
    assert linked == original.package_id


def test_late_sending_is_flagged(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    # promulgated Monday 2026-11-23; limit: end of the next working day (Tuesday)
    promulgated = datetime(2026, 11, 23, tzinfo=VIETNAM_TZ).date()
    on_time = sender.letter([recipient.code], promulgation=promulgated)
    hub.send(sender.caller, on_time, now=datetime(2026, 11, 24, 16, 0, tzinfo=VIETNAM_TZ))
    late = sender.letter([recipient.code], promulgation=promulgated)
    hub.send(sender.caller, late, now=datetime(2026, 11, 26, 9, 0, tzinfo=VIETNAM_TZ))
    newest, oldest = hub.sent(sender.caller, sender.code)
    assert newest.late
    assert not oldest.late


def test_overdue_registrations(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, registers, ignores = (hub_world.fresh_party() for _ in range(3))
    letter = sender.letter([registers.code, ignores.code])
    arrived = datetime(2026, 11, 26, 9, 0, tzinfo=VIETNAM_TZ)  # Thursday
    hub.send(sender.caller, letter, now=arrived)
    accepted = registers.status(letter, StatusCode.ACCEPTED, at=arrived + timedelta(hours=1))
    hub.send(registers.caller, accepted, now=arrived + timedelta(hours=1))
    friday_evening = datetime(2026, 11, 27, 20, 0, tzinfo=VIETNAM_TZ)
    operator = Caller("operator", frozenset(), operator=True)

    def overdue(now: datetime) -> set[str]:
        return {
            o.recipient
            for o in hub.overdue_registrations(operator, now, limit=10**6)
            if o.sender == sender.code
        }

    assert overdue(datetime(2026, 11, 27, 12, 0, tzinfo=VIETNAM_TZ)) == set()  # within limit
    assert overdue(friday_evening + timedelta(hours=5)) == {ignores.code}  # Saturday 01:00
    mine = hub.overdue_registrations(ignores.caller, friday_evening + timedelta(hours=5))
    assert {o.recipient for o in mine} == {ignores.code}


def test_long_poll_wakes_on_a_new_package(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code])
    seen: list[int] = []

    def wait() -> None:
        events = hub.wait_for_events(recipient.caller, recipient.code, timeout=10)
        seen.extend(e.package_id or 0 for e in events)

    waiter = threading.Thread(target=wait)
    waiter.start()
    started = datetime.now(UTC)
    receipt = hub.send(sender.caller, letter, now=NOW)
    waiter.join(timeout=10)
    assert seen == [receipt.package_id]
    assert datetime.now(UTC) - started < timedelta(seconds=5)


def test_every_accepted_package_and_delivery_is_audited(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    receipt = hub.send(sender.caller, sender.letter([recipient.code]), now=NOW)
    hub.acknowledge(recipient.caller, receipt.package_id, recipient.code, ok=False,
                    reason="không đọc được", now=NOW)  # fmt: skip
    with hub_world.engine.connect() as connection:
        log = AuditLog(connection)
        mine = [e for e in log.entries() if e.subject == str(receipt.package_id)]
        assert [e.action for e in mine] == ["hub.accept.document", "hub.deliver.failed"]
        assert log.verify().ok
    sent = hub.sent(sender.caller, sender.code)[0]
    assert sent.recipients[0].delivery is DeliveryState.FAILED


def test_system_lookups(hub_world: HubWorld) -> None:
    hub = hub_world.hub
    info = hub.system_by_id("nghe-an")
    assert info is not None
    assert "000.00.12.H41" in info.caller.agencies
    assert info.secret
    by_cert = hub.system_by_certificate(hub_world.pki.fingerprint(hub_world.pki.nghe_an))
    assert by_cert is not None
    assert by_cert.system_id == "nghe-an"
    assert hub.system_by_id("nobody") is None
    assert hub.system_by_certificate("0" * 64) is None


#: A hub process that sends every package of a directory (8 threads) and prints one line per
#: receipt, flushed, only after ``send`` returned: what a client would have been told.
_SENDER_PROCESS = r"""
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from lienthong.hub.api import Caller
from lienthong.hub.service import Hub
from lienthong.store.blobs import BlobStore
from lienthong.store.engine import create_engine

url, blobs, folder, system_id, agency = sys.argv[1:6]
hub = Hub(create_engine(url), BlobStore(Path(blobs)))
caller = Caller(system_id, frozenset({agency}))
files = sorted(Path(folder).iterdir())
lock = threading.Lock()

def send(path):
    receipt = hub.send(caller, path.read_bytes(), now=datetime.now(UTC))
    line = f"{path.stem} {receipt.package_id} {int(receipt.duplicate)}\n"
    with lock:
        sys.stdout.write(line)
        sys.stdout.flush()

with ThreadPoolExecutor(8) as pool:
    list(pool.map(send, files))
hub.close()
"""


@pytest.mark.slow
def test_sigkill_during_2000_sends_loses_and_duplicates_nothing(
    hub_world: HubWorld, tmp_path: Path
) -> None:
    db_url = hub_world.engine.url.render_as_string(hide_password=False)
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    folder = tmp_path / "packages"
    folder.mkdir()
    total = 2000
    for index in range(total):
        (folder / f"{index:05d}.edxml").write_bytes(sender.letter([recipient.code]))
    blobs = hub_world.hub.blobs.root
    command = [
        sys.executable, "-c", _SENDER_PROCESS, db_url, str(blobs), str(folder),
        sender.caller.system_id, sender.code,
    ]  # fmt: skip

    told: dict[str, int] = {}
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as first:
        assert first.stdout is not None
        for line in first.stdout:
            name, package_id, _ = line.split()
            told[name] = int(package_id)
            if len(told) >= 300:
                first.send_signal(signal.SIGKILL)
                break
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert 300 <= len(told) < total

    second = subprocess.run(command, capture_output=True, text=True, timeout=600, check=True)
    after: dict[str, tuple[int, bool]] = {}
    for line in second.stdout.splitlines():
        name, number, duplicate = line.split()
        after[name] = (int(number), duplicate == "1")
    assert len(after) == total
    for name, given in told.items():  # every receipt given stands, as a duplicate
        assert after[name] == (given, True)

    with hub_world.engine.connect() as connection:
        rows = connection.execute(
            sa.select(packages.c.id, packages.c.document_id, packages.c.sha256).where(
                packages.c.sender_code == sender.code
            )
        ).all()
        assert len(rows) == total
        assert len({row.document_id for row in rows}) == total
        assert {row.id for row in rows} == {pid for pid, _ in after.values()}
        assert all(hub_world.hub.blobs.exists(row.sha256) for row in rows)
        assert AuditLog(connection).verify().ok
        queued = connection.execute(
            sa.select(sa.func.count(), sa.func.count(sa.distinct(deliveries.c.package_id))).where(
                deliveries.c.recipient_code == recipient.code
            )
        ).one()
    assert tuple(queued) == (total, total)  # every package queued once for the recipient


def test_pdf_policy_per_recipient(hub_world: HubWorld) -> None:
    root = hub_world.pki.vpcp.chain[-1].public_bytes(serialization.Encoding.DER)
    sender, strict, lenient = (hub_world.fresh_party() for _ in range(3))
    with Verifier(VerifyOptions((root,), online=False)) as verifier:
        config = HubConfig(
            pdf_verifier=LockedVerifier(verifier),
            pdf_policies={strict.code: PdfPolicy.REJECT},
        )
        checking = Hub(hub_world.engine, hub_world.hub.blobs, config)
        try:
            # the attachment is not a signed PDF: the strict recipient refuses it
            with pytest.raises(HubError) as refused:
                checking.send(sender.caller, sender.letter([strict.code, lenient.code]), now=NOW)
            assert refused.value.code == "hub.bad_pdf_signature"
            receipt = checking.send(sender.caller, sender.letter([lenient.code]), now=NOW)
            report = checking.package_report(sender.caller, receipt.package_id, sender.code)
            pdf = report["pdf"]
            assert isinstance(pdf, dict)
            assert pdf["passed"] is False
        finally:
            checking.close()
    unchecked = hub_world.hub.send(sender.caller, sender.letter([strict.code]), now=NOW)
    report = hub_world.hub.package_report(sender.caller, unchecked.package_id, sender.code)
    assert report["pdf"] == "not_checked"


def _letter(number: str, now: datetime) -> bytes:
    """A letter from VPCP to Nghệ An (placeholder signature), built without the fixtures."""
    draft = DocumentDraft(
        sender=Organization(organ_id="000.00.00.G22", organ_name="Văn phòng Chính phủ"),
        recipients=[Organization(organ_id="000.00.00.H41", organ_name="UBND tỉnh Nghệ An")],
        code_number=number,
        code_notation="VPCP-TEST",
        promulgation_date=now.date(),
        place="Hà Nội",
        subject="Nhắc việc",
        files=[FileToAttach("a.pdf", b"%PDF-1.4\n%%EOF\n")],
    )
    return serialize_package(build_document(draft, now=now))


def test_reminders_reach_both_sides_once(empty_db_url: str, tmp_path: Path) -> None:
    engine = create_engine(empty_db_url)
    upgrade(engine)
    load_registry(engine, demo_registry(per_level=(1, 0, 0)), now=NOW)
    hub = Hub(engine, BlobStore(tmp_path / "blobs"))
    try:
        vpcp = Caller("vpcp", frozenset({"000.00.00.G22"}))
        nghe_an = Caller("nghe-an", frozenset({"000.00.00.H41"}))
        arrived = datetime(2026, 11, 26, 9, 0, tzinfo=VIETNAM_TZ)
        first = hub.send(vpcp, _letter("1", arrived), now=arrived)
        second = hub.send(vpcp, _letter("2", arrived), now=arrived)
        hub.acknowledge(nghe_an, second.package_id, "000.00.00.H41", ok=True, now=arrived)
        assert hub.remind(arrived + timedelta(hours=1)) == 0  # nothing is late yet
        later = arrived + timedelta(days=4)
        counts: list[int] = []
        threads = [threading.Thread(target=lambda: counts.append(hub.remind(later)))
                   for _ in range(4)]  # fmt: skip
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(counts) == [0, 0, 0, 2]  # both deliveries, once
        assert hub.remind(later + timedelta(days=1)) == 0
        for caller, agency in ((vpcp, "000.00.00.G22"), (nghe_an, "000.00.00.H41")):
            notices = {
                (e.package_id, e.detail) for e in hub.events(caller, agency) if e.kind == "notice"
            }
            assert notices == {
                (first.package_id, "undelivered:000.00.00.H41"),
                (second.package_id, "not_registered:000.00.00.H41"),
            }
    finally:
        hub.close()
        engine.dispose()


def test_a_group_with_a_document_its_resend_and_a_status_about_it(hub_world: HubWorld) -> None:
    """A plain send leaves its audit entry, deliveries and events to the end of its group
    (``lienthong.store.deferred``); a status about it and a resend queued behind it in the
    same group still see them, and the events are numbered in order."""
    hub = hub_world.hub
    sender, recipient = hub_world.fresh_party(), hub_world.fresh_party()
    letter = sender.letter([recipient.code], number="91", promulgation=NOW.date())
    resend = sender.letter(
        [recipient.code], number="91", promulgation=NOW.date(), now=NOW + timedelta(minutes=1)
    )
    status = recipient.status(letter, StatusCode.ARRIVED, at=NOW + timedelta(minutes=2))
    holding, release = threading.Event(), threading.Event()

    def hold(connection: Connection) -> None:  # the writer busy while the three queue up
        holding.set()
        release.wait(10)

    blocker = threading.Thread(target=hub.committer.run, args=(hold,))
    blocker.start()
    assert holding.wait(10)
    groups, reruns = hub.committer.groups, hub.committer.reruns
    results: dict[str, Receipt] = {}
    threads = []
    for name, caller, data in (
        ("letter", sender.caller, letter),
        ("status", recipient.caller, status),  # reads the letter's delivery: written first
        ("resend", sender.caller, resend),
    ):
        thread = threading.Thread(
            target=lambda n=name, c=caller, d=data: results.__setitem__(
                n, hub.send(c, d, now=NOW + timedelta(minutes=3))
            )
        )
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + 10
        while hub.committer.queued() < len(threads):  # queued in this order
            assert time.monotonic() < deadline
            time.sleep(0.005)
    release.set()
    for thread in [blocker, *threads]:
        thread.join(10)
    assert hub.committer.groups == groups + 2  # the blocker's, then one for the three
    assert hub.committer.reruns == reruns  # nobody refused: no work saw a row still pending
    assert not results["letter"].duplicate
    again = results["resend"]
    assert again.duplicate
    assert again.package_id == results["letter"].package_id
    assert again.recipients == (recipient.code,)  # read from the letter's deferred delivery
    assert results["status"].recipients == (sender.code,)
    (item,) = hub.inbox(recipient.caller, recipient.code)
    assert item.package_id == results["letter"].package_id
    package_events = hub.events(recipient.caller, recipient.code)
    assert [e.kind for e in package_events] == ["package"]
    status_events = hub.events(sender.caller, sender.code)
    assert [e.kind for e in status_events] == ["status"]
    assert package_events[0].seq < status_events[0].seq  # numbered in the order written
    with hub_world.engine.connect() as connection:
        AuditLog(connection).verify().raise_if_broken()
